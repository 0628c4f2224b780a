"""One training step in slow motion: the forward pass layer by layer, the loss, the backward pass layer by
layer from the output, then the update (``--explain STEP``). This module is the frame protocol and the data;
the picture is a layout of panels (:mod:`visualizer.draw.panels.explain`) that the renderer draws like any other.

The frame stream stays a list of history rows: an explain frame is an :class:`ExplainFrame`, an ``int`` (the
row it explains, so anything that looks up the row's step keeps working) that also says which phase it shows.
The renderer draws such keys with its explain layout, on a second figure of the same size. What the frames show
for every sample (activations, δ's) is computed once from the recorded parameters (:func:`explain_analysis`)
and kept in ``history.static``, so a saved history re-renders its explained steps.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Sequence

import numpy as np

from . import STAGE_SECONDS
from ..record.backprop import activation_functions, backward_pass

if TYPE_CHECKING:
    from ..engine.losses import Loss
    from ..record.history import History

STAGES = ("forward", "loss", "backward", "update")  # the stages of an explained step, in order
HOLD_SHARE = 1 / 3  # the last third of each stage holds its final picture still


class ExplainFrame(int):
    """A frame of the slow-motion sequence shown before history row ``int(self)``: ``phase`` (an index into
    :func:`phases`) at progress ``t`` (0..1), the ``index``-th frame of its sequence."""

    phase: int
    t: float
    index: int

    def __new__(cls, row: int, phase: int, t: float, index: int) -> ExplainFrame:
        key = super().__new__(cls, row)
        key.phase, key.t, key.index = int(phase), float(t), int(index)
        return key

    def __repr__(self) -> str:
        return f"ExplainFrame(row={int(self)}, phase={self.phase}, t={self.t:.2f})"

    def __reduce__(self):  # frame keys travel to render tasks in other processes
        return ExplainFrame, (int(self), self.phase, self.t, self.index)


MAX_EXPLAIN_FRAMES = 10_000  # per explained step: the frame names' four digits


class FrameStep(int):
    """The step an explain frame shows, for writers: the explained step as an ``int``, formatted with its
    frame number (``frame_00300.e0017.png``) so explain frames never overwrite the step's own frame and sort
    just before it."""

    index: int

    def __new__(cls, step: int, index: int) -> FrameStep:
        value = super().__new__(cls, step)
        value.index = int(index)
        return value

    def __format__(self, spec: str) -> str:
        text = int.__format__(int(self), spec)
        return f"{text}.e{self.index:04d}" if spec.endswith("d") else text


@dataclass(frozen=True)
class Phase:
    """One part of the sequence: ``kind`` its stage, one of :data:`STAGES`; ``layer`` the column being computed
    (forward: 0 = the inputs, 1… = layers; backward: the layer whose δ's appear, through a batch norm the
    layer after it; else -1); ``seconds`` it moves for, then ``hold`` seconds its last picture stays (the last
    phase of each stage holds)."""

    kind: str
    layer: int
    seconds: float
    hold: float = 0.0
    stage: str = ""  # "norm": the batch norm after dense layer ``norm_after``, its own phase in both passes

    @property
    def norm_after(self) -> int:
        """With ``stage`` "norm", the dense layer the batch norm follows (counted from 1)."""
        return self.layer - 1 if self.kind == "backward" else self.layer


def phases(n_layers: int, update: bool = True, seconds: float = STAGE_SECONDS, norms: Sequence[int] = ()
           ) -> list[Phase]:
    """The sequence for a network of ``n_layers`` layers (without the update for the last recorded step):
    each stage lasts ``seconds``, moving for the first two thirds (shared by its phases, one per layer in the
    forward and backward passes, and one per batch norm: ``norms`` are the dense layers it follows, counted
    from 1) and holding its last picture for the rest."""
    moving, hold = seconds * (1 - HOLD_SHARE), seconds * HOLD_SHARE
    norms = sorted(set(int(k) for k in norms))
    each_forward, each_backward = moving / (n_layers + 1 + len(norms)), moving / (n_layers + len(norms))
    forward, backward = [], []
    for k in range(n_layers + 1):
        forward.append(Phase("forward", k, each_forward))
        if k in norms:
            forward.append(Phase("forward", k, each_forward, stage="norm"))
    for k in range(n_layers, 0, -1):
        if k in norms:  # the δ's reach the batch norm first (from the layer after it), then its dense layer
            backward.append(Phase("backward", k + 1, each_backward, stage="norm"))
        backward.append(Phase("backward", k, each_backward))
    stages = [forward, [Phase("loss", -1, moving)], backward]
    if update:
        stages.append([Phase("update", -1, moving)])
    return [replace(phase, hold=hold) if phase is stage[-1] else phase for stage in stages for phase in stage]


def row_phases(history: History, row: int, seconds: float = STAGE_SECONDS) -> list[Phase]:
    """The :func:`phases` of explaining history row ``row`` (no update after the last recorded step)."""
    return phases(len(history.info.layers), row + 1 < len(history), seconds, norm_columns(history))


def explain_rows(history: History, steps: Sequence[int]) -> list[int]:
    """The history rows of the steps to explain, or ValueError saying which steps were recorded."""
    rows = []
    for step in steps:
        found = np.flatnonzero(history.steps == int(step))
        if not found.size:
            near = history.steps[np.argsort(np.abs(history.steps - int(step)))[:2]]
            raise ValueError(f"step {step} was not recorded, so it cannot be explained; this run recorded steps "
                             f"{history.recorded()} (nearest: {', '.join(f'{int(s):,}' for s in sorted(near))})")
        rows.append(int(found[0]))
    return rows


def explain_frames(history: History, rows: Sequence[int], steps: Sequence[int], fps: float,
                   seconds: float = STAGE_SECONDS) -> list[int]:
    """``rows`` with each explained step's sequence inserted before its row (the row is added if the frame
    selection skipped it): ``seconds`` of :class:`ExplainFrame` keys at ``fps`` per stage (see :func:`phases`),
    each stage ending on frames that hold its last picture (``t`` = 1)."""
    if not steps:
        return list(rows)
    n_layers = len(history.info.layers)
    if not n_layers:
        raise ValueError("explaining a step needs the model's layer structure in the history")
    targets = explain_rows(history, steps)
    out = sorted(set(int(r) for r in rows) | set(targets))
    frames: list[int] = []
    for row in out:
        if row in targets:
            plan = row_phases(history, row, seconds)
            total = sum(max(1, round(phase.seconds * fps)) + round(phase.hold * fps) for phase in plan)
            if total > MAX_EXPLAIN_FRAMES:
                raise ValueError(f"{seconds:g} s per stage at {fps:g} frames/s makes {total:,} frames for one "
                                 f"explained step, more than {MAX_EXPLAIN_FRAMES:,}: give fewer seconds per stage "
                                 "or a lower frame rate")
            index = 0
            for p, phase in enumerate(plan):
                n = max(1, round(phase.seconds * fps))
                ts = [j / (n - 1) if n > 1 else 1.0 for j in range(n)] + [1.0] * round(phase.hold * fps)
                for t in ts:
                    frames.append(ExplainFrame(row, p, t, index))
                    index += 1
        frames.append(row)
    return frames


def norm_columns(history: History) -> list[int]:
    """The dense layers (counted from 1) that a batch norm follows, whose explained steps give it a phase."""
    after = {d.get("after") for d in history.info.other_layers if d.get("kind") == "batchnorm"}
    return [k + 1 for k, lay in enumerate(history.info.layers) if lay.name in after]


def explain_analysis(history: History, steps: Sequence[int], model: object = None,
                     loss: Loss | None = None) -> dict[str, np.ndarray]:
    """Per-sample activations, δ's and ∂L/∂ŷ at each explained step, from the recorded parameters, as static
    arrays ``explain/<step>/…``. Activation functions come from ``model`` when given (a scene's own), else by
    name; the loss is ``loss``, else the one the history names."""
    from ..engine.losses import get_loss

    layers = history.info.layers
    if "data/x" not in history.static or "data/y" not in history.static:
        raise ValueError("explaining a step needs the training data in the history (static data/x, data/y)")
    if loss is None:
        try:
            loss = get_loss(history.info.loss)
        except ValueError:
            raise ValueError(f"explaining a step needs the loss; this history names {history.info.loss!r}, "
                             "which is not built in: render it with its scene") from None
    other = history.info.other_layers
    if other:  # the training step's own pass, through the recorded dropout masks and batch norm
        from ..record.modes import history_step_pass, stages

        stages(layers, other)  # a layer on the inputs has no column: ValueError
        network = getattr(model, "network", None)
        acts = {lay.name: lay.activation for lay in getattr(network, "layers", []) if lay.name in
                {d.name for d in layers}} or activation_functions(layers)
    else:
        acts = activation_functions(layers, model)
    x, y = history.static["data/x"], history.static["data/y"]
    out = {}
    for step, row in zip(steps, explain_rows(history, steps)):
        if other:
            bp = history_step_pass(history, row, loss, acts)
        else:
            bp = backward_pass(layers, {k: v[row] for k, v in history.params.items()}, x, y, loss, acts)
        key = f"explain/{int(step)}"
        out[f"{key}/loss"] = np.array(bp.loss)
        out[f"{key}/output_grad"] = bp.output_grad
        for lay in layers:
            out[f"{key}/a/{lay.name}"] = bp.a[lay.name]
            out[f"{key}/delta/{lay.name}"] = bp.delta[lay.name]
        out.update(_mode_arrays(key, bp))
    return out


def _mode_arrays(key: str, bp) -> dict[str, np.ndarray]:
    """What an explained step of a network with dropout or batch norm shows beside the δ's, under
    ``explain/<step>/``: ``dropped/<L>`` (bool, samples × units: where the dropout after dense layer L
    dropped a unit at this step) and, for a batch norm after L, ``norm/<L>/<name>`` for ``mean``, ``var``,
    ``gamma``, ``beta`` (units,) and ``eps`` (its training-mode stage: x̂ = (z − μ)/√(σ² + ε), y = γx̂ + β)."""
    out = {f"{key}/dropped/{name}": mask for name, mask in getattr(bp, "dropped", {}).items()}
    for name, st in getattr(bp, "norms", {}).items():
        for stat in ("mean", "var", "gamma", "beta"):
            out[f"{key}/norm/{name}/{stat}"] = np.asarray(getattr(st, stat), dtype=float)
        out[f"{key}/norm/{name}/eps"] = np.array(st.eps)
    return out


def missing_steps(history: History, steps: Sequence[int]) -> list[int]:
    """The explained steps whose arrays are not in ``history.static`` yet."""
    return [int(s) for s in steps if f"explain/{int(s)}/loss" not in history.static]


__all__ = ["MAX_EXPLAIN_FRAMES", "STAGES", "STAGE_SECONDS", "ExplainFrame", "FrameStep", "Phase", "explain_analysis",
           "explain_frames", "explain_rows", "missing_steps", "norm_columns", "phases", "row_phases"]
