"""The built-in training loop: one update per step, hooks called by event name.

The objective is the data loss plus any penalties (L1, L2) on the parameters
(:class:`~visualizer.engine.objective.Objective`); the optimizer sees the gradient of that sum. The loop trains
any model the objective can differentiate (forward, backward, parameters, gradients), and runs a compiled
kernel instead where :func:`~visualizer.engine.kernels.plan_for` offers one. It knows nothing of what hooks do;
recording is one of them (:func:`log_full_set`), logging into the same public :meth:`Recorder.log` that
anyone's own loop uses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np

from .objective import Differentiable, Objective, evaluation_mode, set_mode

if TYPE_CHECKING:
    from .kernels import KernelPlan
    from .losses import Loss
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
    network: Differentiable
    loss: Loss
    x: np.ndarray
    y: np.ndarray
    batch_loss: float = float("nan")
    penalties: tuple[Penalty, ...] = ()
    optimizer: object = None

    @property
    def objective(self) -> Objective:
        """The objective being minimised: ``loss`` plus ``penalties``."""
        return Objective(self.loss, self.penalties)

    def __repr__(self) -> str:
        return (f"TrainState(step {self.step}/{self.total_steps}, batch_loss={self.batch_loss:g}, "
                f"{self.objective!r}, {self.network!r})")


@dataclass
class Trainer:
    """Runs ``steps`` updates of ``network`` on ``(x, y)`` with ``optimizer``, calling hooks after each one.

    ``network`` is any model with ``forward``, ``backward``, ``parameters`` and ``gradients``
    (:class:`~visualizer.engine.objective.Differentiable`; the engine's ``Network`` is one). The objective is
    ``loss`` plus the ``penalties`` (L1/L2 on named parameters, see :mod:`visualizer.engine.penalties`); the
    optimizer gets the gradient of that sum.

    ``batch_size=None`` is full-batch; ``1`` is per-sample; anything else is mini-batch, walking the data in
    order (or shuffled every epoch with ``rng`` when ``shuffle``). With a ``sampler``, every step takes a
    fresh batch from it instead (``sampler(rng, n)`` returns n new samples; it is asked for thousands at a
    time) and ``(x, y)`` serve only as the evaluation set hooks see.
    """

    network: Differentiable
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
    # Or, for uneven steps (a log-spaced record): hook_due(s) is the first step after s that hooks need.
    hook_due: Callable[[int], int] | None = None

    def __repr__(self) -> str:
        batch = {None: "full batch", 1: "per sample"}.get(self.batch_size, f"batches of {self.batch_size}")
        source = "sampled" if self.sampler is not None else f"{len(self.x)} samples"
        return (f"Trainer({self.network!r}, {Objective(self.loss, tuple(self.penalties))!r}, {self.optimizer!r}, "
                f"{self.steps} steps, {batch}, {source})")

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
        """Train; returns the final state. A model with modes (batch norm, dropout) trains in training mode;
        hooks that evaluate it (:func:`log_full_set`) switch to evaluation mode and back."""
        set_mode(self.network, True)
        penalties = tuple(self.penalties)
        state = TrainState(0, self.steps, self.network, self.loss, self.x, self.y, penalties=penalties,
                           optimizer=self.optimizer)
        self._emit("start", state)
        plan = self.plan()
        if plan is not None:
            return self._run_fused(state, plan)
        objective = Objective(self.loss, penalties)
        params = self.network.parameters()
        batches = self._batches()
        for step in range(1, self.steps + 1):
            xb, yb = next(batches)
            evaluation = objective.evaluate(self.network, xb, yb, params)
            state.batch_loss = evaluation.data_loss
            self.optimizer.step(params, evaluation.grads)
            state.step = step
            self._emit("step", state)
        self._emit("end", state)
        return state

    def plan(self) -> KernelPlan | None:
        """The compiled (or fused numpy) kernel this run will use instead of the loop, if any: only when hooks
        need few steps (``hook_every`` or ``hook_due``), and the kernels know the run
        (:func:`~visualizer.engine.kernels.plan_for`)."""
        if self.hook_every is None and self.hook_due is None:
            return None
        from .kernels import plan_for

        return plan_for(self.network, self.loss, self.optimizer, self.penalties, batch_size=self.batch_size,
                        steps=self.steps)

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

    def _to_next_hook(self, step: int) -> int:
        """Steps from ``step`` to the next one a hook needs."""
        if self.hook_due is not None:
            return max(1, self.hook_due(step) - step)
        return self.hook_every - step % self.hook_every

    def _run_fused(self, state: TrainState, plan: KernelPlan) -> TrainState:
        losses = np.empty(SAMPLE_BLOCK if self.sampler is not None else len(self.x))
        for xs, ys in self._samples():
            start = 0
            while start < len(xs) and state.step < self.steps:
                # Up to the next step a hook needs, the end of this block, or the end of the run.
                n = min(self._to_next_hook(state.step), self.steps - state.step, len(xs) - start)
                done = plan.run(xs[start : start + n], ys[start : start + n], losses=losses[:n])
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

    A model with modes is evaluated in evaluation mode, as PyTorch's ``model.eval()``: batch norm by its
    running statistics, no dropout. So the recorded loss curve is the full-set loss of the network as it
    would be used, not the noisy training-mode loss of the last batch (that is ``state.batch_loss``), and
    recording never moves batch norm's running statistics. Its gradient is the training step's own
    (:func:`step_pass`): with the dropout masks and batch statistics of the next update, which are recorded.
    """
    if not recorder.due(state.step):
        return False
    step = step_pass(state.network, state.objective, state.x, state.y)
    with evaluation_mode(state.network):
        return _log_full_set(recorder, state, test, step)


@dataclass
class TrainingPass:
    """The training step's full-set pass (:func:`step_pass`) on ``(x, y)``: the objective's gradient
    ``grads`` (copies), what the history records (``record``), the ``outputs``, ``data_loss`` and
    ``output_grad`` ∂L/∂ŷ, and what each layer's forward and backward passes left (``states``, one per layer
    in order, see :func:`layer_state`). Valid while the parameters are those it was made at."""

    x: np.ndarray
    y: np.ndarray
    loss: object
    grads: dict[str, np.ndarray]
    record: dict[str, np.ndarray]
    outputs: np.ndarray
    data_loss: float
    output_grad: np.ndarray
    states: list

    def __repr__(self) -> str:
        return f"TrainingPass({len(self.x)} samples, {len(self.states)} layers, data_loss={self.data_loss:g})"


def layer_state(layer: object) -> object:
    """What ``layer``'s last forward (and backward) pass left, to be read after the layer has run again: a
    dense layer's cache (its input, z, a and, after a backward pass, δ), dropout's scaled mask (None when it
    passed everything), batch norm's cache (x̂, 1/√(σ²+ε), training, z = γx̂ + β, a) with, after a training
    pass, its batch statistics (μ, σ²), γ and β, and the ∂L/∂γ, ∂L/∂β of the data loss (copies)."""
    from .norm import BatchNorm, Dropout

    if isinstance(layer, Dropout):
        return layer.mask
    if isinstance(layer, BatchNorm) and layer._cache is not None and layer._cache[2]:
        return (layer._cache, layer.batch_mean, layer.batch_var, layer.weight.copy(), layer.bias.copy(),
                layer.grads["weight"].copy(), layer.grads["bias"].copy())
    return getattr(layer, "_cache", None)


def step_pass(network: Differentiable, objective: Objective, x: np.ndarray, y: np.ndarray) -> TrainingPass | None:
    """For a network with dropout or batch norm (None for any other): the training step at the current
    parameters on ``(x, y)`` (:class:`TrainingPass`: its gradient, what to record, each layer's state), in
    training mode, with the masks the next update draws (the dropout generators are put back afterwards, so
    training goes on exactly as without recording) and the batch statistics of ``x``; batch norm's running
    statistics are not moved. For full-batch training this is the next update's own gradient; for
    mini-batches, the whole set's in training mode.

    What it records, one array per layer and row (see :mod:`visualizer.record.modes`): ``dropout/<L>/mask``
    (bool, samples × units: True where a unit is kept), ``batchnorm/<L>/mean`` and ``…/var`` (the batch's μ
    and biased σ²), and ``…/running_mean``, ``…/running_var`` (what evaluation normalizes by at this row).
    """
    from .norm import BatchNorm, looking_ahead, mask_key, mode_layers, norm_key

    layers = mode_layers(network)
    if not layers:
        return None
    record: dict[str, np.ndarray] = {}
    for lay in layers:
        if isinstance(lay, BatchNorm):
            record[norm_key(lay.name, "running_mean")] = lay.running_mean.copy()
            record[norm_key(lay.name, "running_var")] = lay.running_var.copy()
    before = set_mode(network, True)
    try:
        with looking_ahead(network):
            # Objective.evaluate's steps, one by one, so that each layer's state is taken before the penalties'
            # gradients are added (to copies: the same sums).
            outputs = network.forward(x)
            data_loss = objective.data_loss(outputs, y)
            output_grad = objective.output_grad(outputs, y)
            network.backward(output_grad)
            states = [layer_state(lay) for lay in network.layers]
            grads = {k: np.array(v, copy=True) for k, v in network.gradients().items()}
            if objective.penalties:
                objective.add_penalty_grads(network.parameters(), grads)
            for lay in layers:
                if isinstance(lay, BatchNorm):
                    record[norm_key(lay.name, "mean")] = lay.batch_mean.copy()
                    record[norm_key(lay.name, "var")] = lay.batch_var.copy()
                elif lay.p > 0:
                    record[mask_key(lay.name)] = lay.mask != 0
    finally:
        set_mode(network, bool(before))
    return TrainingPass(x, y, objective.loss, grads, record, outputs, data_loss, output_grad, states)


def step_record_bytes(network: Differentiable, samples: int) -> int:
    """The bytes :func:`step_pass` records a row for ``network`` on ``samples`` samples, known before
    training: each dropout layer's mask (bool, one byte per sample and unit) and each batch norm's four
    statistics (float, one per unit); 0 for a network of dense layers only."""
    from .norm import BatchNorm, mode_layers

    total = 0
    for lay in mode_layers(network):
        if isinstance(lay, BatchNorm):
            total += 4 * lay.n_in * np.dtype(float).itemsize
        elif lay.p > 0:
            total += int(samples) * int(lay.n_in) * np.dtype(bool).itemsize
    return total


def _log_full_set(recorder: Recorder, state: TrainState, test: tuple[np.ndarray, np.ndarray] | None,
                  step: TrainingPass | None = None) -> bool:
    net, objective = state.network, state.objective
    params = net.parameters()
    if step is None:
        evaluation = objective.evaluate(net, state.x, state.y, params)
        pred, data_loss = evaluation.outputs, evaluation.data_loss
    else:  # the gradient is the training step's: the evaluation-mode pass goes forward only
        pred = net.forward(state.x)
        data_loss = objective.data_loss(pred, state.y)
    # This full-set pass (each layer's z, a and, for a network of dense layers, δ at these parameters) is lent
    # to the recorder's evaluator for the log below, so per-layer statistics need no second pass, and so is the
    # training step's pass; taken back after it.
    lend = getattr(net, "full_pass", False) is None
    if lend:
        net.full_pass = FullPass(state.x, state.y, objective.loss, [layer_state(lay) for lay in net.layers], step)
    try:
        losses: dict[str, float] = {}
        extras: dict[str, object] = {}
        if objective.penalties:
            losses["penalty"] = objective.penalty(params)
        classifier = objective.loss.kind != "regression"
        if classifier:
            extras["accuracy/train"] = objective.loss.accuracy(pred, state.y)
        if test is not None:
            test_pred = net.forward(test[0])
            losses["test"] = objective.data_loss(test_pred, test[1])
            if classifier:
                extras["accuracy/test"] = objective.loss.accuracy(test_pred, test[1])
        opt_state = getattr(state.optimizer, "state", None)
        if callable(opt_state):
            extras.update({f"optim/{name}": value for name, value in opt_state(params).items()})
        if step is None:
            grads = evaluation.grads
        else:
            grads = step.grads
            extras.update(step.record)
        return recorder.log(state.step, params, grads, data_loss, losses=losses, extras=extras)
    finally:
        if lend:
            net.full_pass = None


@dataclass
class FullPass:
    """A network's full-set pass as :func:`log_full_set` made it, in evaluation mode: the data, the loss and
    each layer's state (:func:`layer_state`: a dense layer's input, z, a and, when the pass went backward, δ);
    and the training step's pass (``training``, for a network with dropout or batch norm). Valid while the
    parameters are those it was made at: it is lent only for the log that follows it, and an evaluator that
    loads other parameters drops it."""

    x: np.ndarray
    y: np.ndarray
    loss: object
    caches: list
    training: TrainingPass | None = None

    def __repr__(self) -> str:
        return f"FullPass({len(self.x)} samples, {len(self.caches)} layers)"
