"""The built-in training loop: one update per step, hooks called by event name.

The objective is the data loss plus any penalties (L1, L2) on the parameters; the optimizer sees the
gradient of that sum. The loop knows nothing of what hooks do; recording is one of them
(:func:`log_full_set`), logging into the same public :meth:`Recorder.log` that anyone's own loop uses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np

from .losses import Loss
from .layers import Network

if TYPE_CHECKING:
    from .penalties import Penalty
    from ..record.history import Recorder

# sampler(rng, n) -> (x, y) with n rows each: fresh training samples, drawn in blocks for speed.
Sampler = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]
SAMPLE_BLOCK = 4096
Hook = Callable[["TrainState"], None]
EVENTS = ("start", "step", "end")


@dataclass
class TrainState:
    """What hooks can read: the step just completed (0 before any update) and the objects being trained.

    ``batch_loss`` is the data loss of the last batch (without the penalties).
    """

    step: int
    total_steps: int
    network: Network
    loss: Loss
    x: np.ndarray
    y: np.ndarray
    batch_loss: float = float("nan")
    penalties: tuple[Penalty, ...] = ()
    optimizer: object = None


def penalty_value(penalties: Sequence[Penalty], params: dict[str, np.ndarray]) -> float:
    """The sum of the penalties' values at ``params`` (0 for none)."""
    return float(sum(p.value(params) for p in penalties))


def add_penalty_grads(penalties: Sequence[Penalty], params: dict[str, np.ndarray],
                      grads: dict[str, np.ndarray]) -> None:
    """Add each penalty's gradient to ``grads`` in place: the data loss's gradient becomes the objective's."""
    for penalty in penalties:
        for name, g in penalty.grad(params).items():
            grads[name] += g


@dataclass
class Trainer:
    """Runs ``steps`` updates of ``network`` on ``(x, y)`` with ``optimizer``, calling hooks after each one.

    The objective is ``loss`` plus the ``penalties`` (L1/L2 on named parameters, see
    :mod:`visualizer.engine.penalties`); the optimizer gets the gradient of that sum.

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
    # If given, "step" hooks only need every hook_every-th step, the last, and any step whose loss is not
    # finite: per-sample SGD then runs the steps between in one fused (or compiled) call.
    hook_every: int | None = None
    penalties: Sequence[Penalty] = ()

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
        penalties = tuple(self.penalties)
        state = TrainState(0, self.steps, self.network, self.loss, self.x, self.y, penalties=penalties,
                           optimizer=self.optimizer)
        self._emit("start", state)
        kernel = self._kernel()
        if kernel is not None:
            return self._run_fused(state, kernel)
        params = self.network.parameters()
        batches = self._batches()
        for step in range(1, self.steps + 1):
            xb, yb = next(batches)
            pred = self.network.forward(xb)
            state.batch_loss = self.loss.value(pred, yb)
            self.network.backward(self.loss.grad(pred, yb))
            grads = self.network.gradients()
            if penalties:
                add_penalty_grads(penalties, params, grads)
            self.optimizer.step(params, grads)
            state.step = step
            self._emit("step", state)
        self._emit("end", state)
        return state

    def _kernel(self):
        """The fused per-sample kernel, when this run is one it reproduces: one sample per step, plain SGD
        with a fixed rate, built-in activations and squared-error loss, no penalty, and hooks that need few
        steps."""
        from . import kernels
        from .losses import LOSSES
        from .layers import ACTIVATIONS
        from .optim import SGD

        opt = self.optimizer
        if (self.hook_every is None or self.batch_size != 1 or self.penalties or type(opt) is not SGD
                or opt.momentum or opt.weight_decay or callable(opt.lr) or LOSSES.get(self.loss.name) is not self.loss
                or self.loss.name not in kernels.LOSSES):
            return None
        layers = self.network.layers
        if any(ACTIVATIONS.get(lay.activation.name) is not lay.activation for lay in layers):
            return None
        return kernels.PerSampleSGD([lay.weight for lay in layers], [lay.bias for lay in layers],
                                    [lay.activation.name for lay in layers], float(opt.lr), self.loss.name,
                                    jit=kernels.use_jit(self.steps))

    def _samples(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The per-sample stream as blocks of rows, in the order :meth:`_batches` yields them one by one."""
        if self.sampler is not None:
            while True:
                xs, ys = self.sampler(self.rng, SAMPLE_BLOCK)
                if len(xs) != SAMPLE_BLOCK or len(ys) != SAMPLE_BLOCK:
                    raise ValueError(f"sampler(rng, {SAMPLE_BLOCK}) must return {SAMPLE_BLOCK} inputs and "
                                     f"targets, got {len(xs)} and {len(ys)}")
                yield np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        while True:
            order = self.rng.permutation(len(self.x)) if self.shuffle else np.arange(len(self.x))
            yield self.x[order], self.y[order]

    def _run_fused(self, state: TrainState, kernel) -> TrainState:
        losses = np.empty(SAMPLE_BLOCK if self.sampler is not None else len(self.x))
        for xs, ys in self._samples():
            start = 0
            while start < len(xs) and state.step < self.steps:
                # Up to the next step a hook needs, the end of this block, or the end of the run.
                k = self.hook_every
                n = min(k - state.step % k, self.steps - state.step, len(xs) - start)
                done = kernel.run(xs[start : start + n], ys[start : start + n], losses=losses[:n])
                if hasattr(self.optimizer, "steps_taken"):
                    self.optimizer.steps_taken += done
                state.step += done
                start += done
                if done < n:  # the next sample's loss is not finite: hooks see that step fail, as per step
                    state.step += 1
                    state.batch_loss = float(losses[done])
                    self._emit("step", state)
                    from ..base.errors import DivergenceError

                    raise DivergenceError(f"training diverged at step {state.step - 1}: the loss became "
                                          f"{state.batch_loss}", step=state.step - 1)
                state.batch_loss = float(losses[n - 1])
                self._emit("step", state)
            if state.step >= self.steps:
                break
        self._emit("end", state)
        return state


def log_full_set(recorder: Recorder, state: TrainState,
                 test: tuple[np.ndarray, np.ndarray] | None = None) -> bool:
    """If ``state.step`` is due, log it; returns whether a row was kept.

    At the current parameters, on the whole (evaluation) set ``state.x, state.y``: the data loss
    (``loss/train``) and the gradient of the objective (data loss plus penalties: what the optimizer
    follows); with penalties, their value (``loss/penalty``); with ``test`` data, the data loss there
    (``loss/test``). For a classification loss, the accuracy (``extra/accuracy/train``, ``.../test``). A
    stateful optimizer's state (Adam's moments, momentum buffers) as ``extra/optim/<kind>/<parameter>``.
    """
    if not recorder.due(state.step):
        return False
    net, objective = state.network, state.loss
    params = net.parameters()
    pred = net.forward(state.x)
    loss = objective.value(pred, state.y)
    net.backward(objective.grad(pred, state.y))
    grads = net.gradients()
    losses: dict[str, float] = {}
    extras: dict[str, object] = {}
    if state.penalties:
        losses["penalty"] = penalty_value(state.penalties, params)
        add_penalty_grads(state.penalties, params, grads)
    classifier = objective.kind != "regression"
    if classifier:
        extras["accuracy/train"] = objective.accuracy(pred, state.y)
    if test is not None:
        test_pred = net.forward(test[0])
        losses["test"] = objective.value(test_pred, test[1])
        if classifier:
            extras["accuracy/test"] = objective.accuracy(test_pred, test[1])
    opt_state = getattr(state.optimizer, "state", None)
    if callable(opt_state):
        extras.update({f"optim/{name}": value for name, value in opt_state(params).items()})
    return recorder.log(state.step, params, grads, loss, losses=losses, extras=extras)
