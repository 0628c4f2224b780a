"""The built-in training loop: one update per step, hooks called by event name.

The loop knows nothing of what hooks do; recording is one of them (:func:`log_full_set`), logging into the
same public :meth:`Recorder.log` that anyone's own loop uses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from .losses import Loss
from .nn import Network

if TYPE_CHECKING:
    from .record import Recorder

# sampler(rng, n) -> (x, y) with n rows each: fresh training samples, drawn in blocks for speed.
Sampler = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]
SAMPLE_BLOCK = 4096
Hook = Callable[["TrainState"], None]
EVENTS = ("start", "step", "end")


@dataclass
class TrainState:
    """What hooks can read: the step just completed (0 before any update) and the objects being trained."""

    step: int
    total_steps: int
    network: Network
    loss: Loss
    x: np.ndarray
    y: np.ndarray
    batch_loss: float = float("nan")


@dataclass
class Trainer:
    """Runs ``steps`` SGD updates of ``network`` on ``(x, y)``, calling hooks after each one.

    ``batch_size=None`` is full-batch; ``1`` is per-sample; anything else is mini-batch, walking the data in
    order (or shuffled every epoch with ``rng`` when ``shuffle``). With a ``sampler``, every step takes a
    fresh batch from it instead (``sampler(rng, n)`` returns n new samples; it is asked for thousands at a
    time) and ``(x, y)`` serve only as the evaluation set hooks see.
    """

    network: Network
    x: np.ndarray
    y: np.ndarray
    loss: Loss
    optimizer: object  # anything with step(params, grads) updating the params in place
    steps: int
    batch_size: int | None = None
    shuffle: bool = False
    sampler: Sampler | None = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    hooks: dict[str, list[Hook]] = field(default_factory=lambda: {e: [] for e in EVENTS})

    def add_hook(self, event: str, hook: Hook) -> None:
        """Call ``hook(state)`` on ``event``: ``start`` (step 0), ``step`` (after each update) or ``end``."""
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; use one of {EVENTS}")
        self.hooks.setdefault(event, []).append(hook)

    def _emit(self, event: str, state: TrainState) -> None:
        for hook in self.hooks.get(event, []):
            hook(state)

    def _batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if self.sampler is not None:
            size = self.batch_size or 1
            block = max(size, SAMPLE_BLOCK // size * size)
            while True:
                xs, ys = self.sampler(self.rng, block)
                if len(xs) != block or len(ys) != block:
                    raise ValueError(f"sampler(rng, {block}) must return {block} inputs and targets, "
                                     f"got {len(xs)} and {len(ys)}")
                for start in range(0, block, size):
                    yield xs[start : start + size], ys[start : start + size]
        n = len(self.x)
        if self.batch_size is None or self.batch_size >= n:
            while True:
                yield self.x, self.y
        while True:
            order = self.rng.permutation(n) if self.shuffle else np.arange(n)
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                yield self.x[idx], self.y[idx]

    def run(self) -> TrainState:
        """Train; returns the final state."""
        state = TrainState(0, self.steps, self.network, self.loss, self.x, self.y)
        self._emit("start", state)
        params = self.network.parameters()
        batches = self._batches()
        for step in range(1, self.steps + 1):
            xb, yb = next(batches)
            pred = self.network.forward(xb)
            state.batch_loss = self.loss.value(pred, yb)
            self.network.backward(self.loss.grad(pred, yb))
            self.optimizer.step(params, self.network.gradients())
            state.step = step
            self._emit("step", state)
        self._emit("end", state)
        return state


def log_full_set(recorder: Recorder, state: TrainState) -> bool:
    """If ``state.step`` is due, log it: the parameters, and the loss and gradient on the whole (evaluation)
    set at those parameters. Returns whether a row was kept."""
    if not recorder.due(state.step):
        return False
    net = state.network
    pred = net.forward(state.x)
    loss = state.loss.value(pred, state.y)
    net.backward(state.loss.grad(pred, state.y))
    return recorder.log(state.step, net.parameters(), net.gradients(), loss)
