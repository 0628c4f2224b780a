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

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..record.backprop import activation_functions, backward_pass

if TYPE_CHECKING:
    from ..engine.losses import Loss
    from ..record.history import History

SECONDS = {"forward": 1.3, "loss": 0.5, "backward": 1.2, "update": 0.8}  # about 3.8 s per explained step


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


class FrameStep(int):
    """The step an explain frame shows, for writers: the explained step as an ``int``, formatted with its
    frame number (``frame_00300.e017.png``) so explain frames never overwrite the step's own frame and sort
    just before it."""

    index: int

    def __new__(cls, step: int, index: int) -> FrameStep:
        value = super().__new__(cls, step)
        value.index = int(index)
        return value

    def __format__(self, spec: str) -> str:
        text = int.__format__(int(self), spec)
        return f"{text}.e{self.index:03d}" if spec.endswith("d") else text


@dataclass(frozen=True)
class Phase:
    """One part of the sequence: ``kind`` forward/loss/backward/update; ``layer`` the column being computed
    (forward: 0 = the inputs, 1… = layers; backward: the layer whose δ's appear; else -1)."""

    kind: str
    layer: int
    seconds: float


def phases(n_layers: int, update: bool = True) -> list[Phase]:
    """The sequence for a network of ``n_layers`` layers (without the update for the last recorded step)."""
    out = [Phase("forward", k, SECONDS["forward"] / (n_layers + 1)) for k in range(n_layers + 1)]
    out.append(Phase("loss", -1, SECONDS["loss"]))
    out += [Phase("backward", k, SECONDS["backward"] / n_layers) for k in range(n_layers, 0, -1)]
    if update:
        out.append(Phase("update", -1, SECONDS["update"]))
    return out


def explain_rows(history: History, steps: Sequence[int]) -> list[int]:
    """The history rows of the steps to explain, or ValueError saying which steps were recorded."""
    rows = []
    for step in steps:
        found = np.flatnonzero(history.steps == int(step))
        if not found.size:
            every = history.info.every
            near = history.steps[np.argsort(np.abs(history.steps - int(step)))[:2]]
            raise ValueError(f"step {step} was not recorded, so it cannot be explained; this run recorded steps "
                             f"{int(history.steps[0]):,}…{int(history.steps[-1]):,} every {every:,} (nearest: "
                             f"{', '.join(f'{int(s):,}' for s in sorted(near))})")
        rows.append(int(found[0]))
    return rows


def explain_frames(history: History, rows: Sequence[int], steps: Sequence[int], fps: float) -> list[int]:
    """``rows`` with each explained step's sequence inserted before its row (the row is added if the frame
    selection skipped it): about 3.8 s of :class:`ExplainFrame` keys at ``fps``."""
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
            index = 0
            for p, phase in enumerate(phases(n_layers, row + 1 < len(history))):
                n = max(1, round(phase.seconds * fps))
                for j in range(n):
                    t = j / (n - 1) if n > 1 else 1.0
                    frames.append(ExplainFrame(row, p, t, index))
                    index += 1
        frames.append(row)
    return frames


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
    acts = activation_functions(layers, model)
    x, y = history.static["data/x"], history.static["data/y"]
    out = {}
    for step, row in zip(steps, explain_rows(history, steps)):
        bp = backward_pass(layers, {k: v[row] for k, v in history.params.items()}, x, y, loss, acts)
        key = f"explain/{int(step)}"
        out[f"{key}/loss"] = np.array(bp.loss)
        out[f"{key}/output_grad"] = bp.output_grad
        for lay in layers:
            out[f"{key}/a/{lay.name}"] = bp.a[lay.name]
            out[f"{key}/delta/{lay.name}"] = bp.delta[lay.name]
    return out


def missing_steps(history: History, steps: Sequence[int]) -> list[int]:
    """The explained steps whose arrays are not in ``history.static`` yet."""
    return [int(s) for s in steps if f"explain/{int(s)}/loss" not in history.static]


__all__ = ["ExplainFrame", "FrameStep", "Phase", "explain_analysis", "explain_frames", "explain_rows", "missing_steps",
           "phases"]
