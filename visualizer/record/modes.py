"""Dropout's masks and batch norm's statistics in a history, and the training step's pass through them.

A network with dropout or batch norm computes differently while training: what the optimizer follows at a
recorded step is the gradient of a training pass, with that step's dropout masks and the batch's statistics.
The recorder keeps them (:func:`~visualizer.engine.training.step_pass`), as extras (``extra/…`` in
``history.npz``, plain numpy), one row per recorded step, only for networks that have such layers:

====================================  ============================================================================
``dropout/<L>/mask``                  bool (samples, units): True where dropout layer L keeps a unit for that
                                      sample (kept values are scaled by 1/(1 − p)), the masks of the next update
``batchnorm/<L>/mean``, ``…/var``     the batch's μ and biased σ² per unit, which the training pass normalizes by
``batchnorm/<L>/running_mean``,       the running statistics at that row: what evaluation (the recorded losses,
``…/running_var``                     the maps over the input plane) normalizes by
====================================  ============================================================================

Masks are recorded at every recorded step, one byte per sample and unit (the ``dropout`` lesson's 60 samples ×
2 layers of 64 units take 7.7 kB a row; the memory a run is estimated to take before training counts them):
the why layout draws every recorded step and ``--explain`` may ask for any of them, also from a saved history.

:func:`step_pass` goes forward and backward through the dense layers (``info.layers``) and the layers between
them (``info.other_layers``) in training mode with the recorded masks, by the engine's own layers: its δ's,
∂L/∂W and ∂L/∂b are the recorded gradient. Where a dense layer is followed by dropout only, its elementwise
slope is act′(z)·m (m the scaled mask): the chain rule runs through it unchanged. Batch norm couples the
samples (each one's δ depends on every sample's, through μ and σ), so it has no elementwise slope (NaN).
It is :func:`~visualizer.record.backprop.backward_pass` through those layers. While a scene records, the same
pass is read from the training step the recorder took (:func:`lent_step_pass`), not computed again.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..engine.norm import BatchNorm, Dropout, mask_key, norm_key, unrecorded
from .backprop import BackwardPass, NormStage, backward_pass, stages
from .probes import LayerInfo

if TYPE_CHECKING:
    from ..engine.losses import Loss
    from ..engine.training import TrainingPass
    from .history import History

# A training pass through dropout and batch norm is a BackwardPass whose masks, dropped and norms are filled in.
StepPass = BackwardPass


def step_pass(layers: Sequence[LayerInfo], other_layers: Sequence[dict], params: dict[str, np.ndarray],
              x: np.ndarray, y: np.ndarray, loss: Loss, masks: dict[str, np.ndarray],
              activations: dict | None = None) -> StepPass:
    """Forward and backward in training mode through ``layers`` and the ``other_layers`` between them, at
    ``params``, with dropout layer L's ``masks[L]`` (bool, True where kept) on ``(x, y)``
    (:func:`~visualizer.record.backprop.backward_pass` through them)."""
    return backward_pass(layers, params, x, y, loss, activations, other_layers=other_layers, masks=masks)


def lent_step_pass(layers: Sequence[LayerInfo], network_layers: Sequence, done: TrainingPass) -> StepPass:
    """:func:`step_pass` read from the training step's pass the network itself went through
    (:class:`~visualizer.engine.training.TrainingPass`: each of ``network_layers``' state after it), not
    computed again: the same layers' own forward and backward passes, so the same numbers, bit for bit."""
    z, a, slope, delta = {}, {}, {}, {}
    scaled, dropped, norms = {}, {}, {}
    names = {lay.name for lay in layers}
    current = None
    for lay, state in zip(network_layers, done.states):
        if lay.name in names:
            if current is not None:
                a[current] = state.x  # what this dense layer takes in: the one before's, after its stages
            current = lay.name
            z[lay.name], delta[lay.name] = state.z, state.delta
            slope[lay.name] = np.broadcast_to(state.slope, state.z.shape)
        elif isinstance(lay, Dropout):
            if state is None:
                continue
            keep = state != 0
            scaled[current] = scaled.get(current, 1.0) * state
            dropped[current] = dropped.get(current, np.zeros(state.shape, bool)) | ~keep
            slope[current] = slope[current] * state
        elif isinstance(lay, BatchNorm):
            (x_hat, _, _, y_bn, out), mean, var, gamma, beta, grad_gamma, grad_beta = state
            norms[current] = NormStage(lay.name, current, lay.activation.name, mean, var, lay.eps, gamma, beta,
                                       x_hat, y_bn, out, grad_gamma, grad_beta)
            slope[current] = np.full(z[current].shape, np.nan)  # batch norm couples the samples
    a[current] = np.asarray(done.outputs, dtype=float)
    return StepPass(np.asarray(done.x, dtype=float), list(layers), z, a, slope, delta,
                    np.asarray(done.output_grad, dtype=float).reshape(a[current].shape), float(done.data_loss),
                    masks=scaled, dropped=dropped, norms=norms)


def recorded_masks(history: History, row: int) -> dict[str, np.ndarray]:
    """Each dropout layer's recorded masks at history row ``row``, by layer name."""
    return {d["name"]: np.asarray(history.extras[mask_key(d["name"])][row], dtype=bool)
            for d in history.info.other_layers
            if d.get("kind") == "dropout" and mask_key(d["name"]) in history.extras}


def history_step_pass(history: History, row: int, loss: Loss, activations: dict | None = None) -> StepPass:
    """:func:`step_pass` at history row ``row``: its parameters and recorded masks, on the training data."""
    info = history.info
    for d in info.other_layers:
        if unrecorded(d, history.extras, history.params):
            what = "its masks" if d.get("kind") == "dropout" else "its batch statistics (or its γ and β)"
            raise ValueError(f"{'dropout' if d.get('kind') == 'dropout' else 'batch norm'} {d['name']!r}: {what} "
                             "were not recorded (a history from before they were, or not from a scene): the step "
                             "cannot be shown exactly")
    params = {k: v[row] for k, v in history.params.items()}
    return step_pass(info.layers, info.other_layers, params, history.static["data/x"], history.static["data/y"],
                     loss, recorded_masks(history, row), activations)


__all__ = ["NormStage", "StepPass", "history_step_pass", "lent_step_pass", "mask_key", "norm_key", "recorded_masks",
           "stages", "step_pass"]
