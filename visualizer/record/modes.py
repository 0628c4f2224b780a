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
2 layers of 64 units take 7.7 kB a row): the why layout draws every recorded step and ``--explain`` may ask
for any of them, also from a saved history.

:func:`step_pass` goes forward and backward through the dense layers (``info.layers``) and the layers between
them (``info.other_layers``) in training mode with the recorded masks, by the engine's own layers: its δ's,
∂L/∂W and ∂L/∂b are the recorded gradient. Where a dense layer is followed by dropout only, its elementwise
slope is act′(z)·m (m the scaled mask): the chain rule runs through it unchanged. Batch norm couples the
samples (each one's δ depends on every sample's, through μ and σ), so it has no elementwise slope (NaN).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..engine.layers import dense_backward, dense_forward
from ..engine.norm import BatchNorm, mask_key, norm_key
from ..engine.objective import Objective
from .backprop import BackwardPass, activation_functions, layer_weight
from .probes import LayerInfo

if TYPE_CHECKING:
    from ..engine.losses import Loss
    from .history import History


@dataclass
class NormStage:
    """Batch norm ``name`` (after dense layer ``after``) in one training pass: the batch's ``mean`` μ and
    ``var`` σ², ``eps``, ``gamma`` γ and ``beta`` β (units,); per sample x̂ = (z − μ)/√(σ² + ε), y = γx̂ + β
    and the output ``a`` = act(y); and ∂L/∂γ, ∂L/∂β."""

    name: str
    after: str
    activation: str
    mean: np.ndarray
    var: np.ndarray
    eps: float
    gamma: np.ndarray
    beta: np.ndarray
    x_hat: np.ndarray
    y: np.ndarray
    a: np.ndarray
    grad_gamma: np.ndarray | None = None
    grad_beta: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"NormStage({self.name} after {self.after}: {self.mean.size} units)"


@dataclass
class StepPass(BackwardPass):
    """A :class:`~visualizer.record.backprop.BackwardPass` in training mode through dropout and batch norm:
    ``a`` is what the next dense layer takes in (after batch norm and dropout), ``masks`` each dense layer's
    scaled dropout mask (0 where dropped, 1/(1 − p) where kept; samples × units) and ``dropped`` where it is
    0, ``norms`` each dense layer's batch norm stage."""

    masks: dict[str, np.ndarray] = field(default_factory=dict)
    dropped: dict[str, np.ndarray] = field(default_factory=dict)
    norms: dict[str, NormStage] = field(default_factory=dict)


def stages(layers: Sequence[LayerInfo], other_layers: Sequence[dict]) -> dict[str, list[dict]]:
    """The layers after each dense layer, in order, by the dense layer's name (ValueError for one on the
    inputs, before any dense layer, which the diagrams have no column for)."""
    out: dict[str, list[dict]] = {lay.name: [] for lay in layers}
    for d in other_layers:
        after = d.get("after", "")
        if after not in out:
            raise ValueError(f"{d.get('kind', 'a layer')} {d.get('name')!r} sits on the inputs, before any dense "
                             "layer; the step's diagrams draw layers between dense ones only")
        out[after].append(d)
    return out


def step_pass(layers: Sequence[LayerInfo], other_layers: Sequence[dict], params: dict[str, np.ndarray],
              x: np.ndarray, y: np.ndarray, loss: Loss, masks: dict[str, np.ndarray],
              activations: dict | None = None) -> StepPass:
    """Forward and backward in training mode through ``layers`` and the ``other_layers`` between them, at
    ``params``, with dropout layer L's ``masks[L]`` (bool, True where kept) on ``(x, y)``."""
    acts = activations or activation_functions(layers)
    after = stages(layers, other_layers)
    objective = Objective(loss)
    x = np.asarray(x, dtype=float)
    z, a, slope, delta, caches = {}, {}, {}, {}, {}
    scaled, dropped, norms, engines = {}, {}, {}, {}
    prev = x
    for lay in layers:
        cache = caches[lay.name] = dense_forward(prev, layer_weight(lay, params), _bias(lay, params), acts[lay.name])
        z[lay.name] = cache.z
        h = cache.a
        elementwise = np.broadcast_to(cache.slope, cache.z.shape)
        for d in after[lay.name]:
            if d.get("kind") == "dropout":
                p = float(d.get("p", 0.0))
                if p == 0:
                    continue
                if d["name"] not in masks:
                    raise ValueError(f"dropout {d['name']!r}: its masks were not recorded (a history from before "
                                     "they were, or not from a scene): the step cannot be shown exactly")
                keep = np.asarray(masks[d["name"]], dtype=bool)
                if keep.shape != h.shape:
                    raise ValueError(f"dropout {d['name']!r}: a recorded mask of shape {keep.shape} for "
                                     f"{h.shape} values")
                m = keep / (1.0 - p)
                scaled[lay.name] = scaled.get(lay.name, 1.0) * m
                dropped[lay.name] = dropped.get(lay.name, np.zeros(h.shape, bool)) | ~keep
                h = h * m
                elementwise = elementwise * m
            else:
                bn = BatchNorm(h.shape[1], d.get("activation", "identity"), name=d["name"],
                               eps=float(d.get("eps", 1e-5)))
                bn.weight[...] = params[f"{d['name']}.weight"]
                bn.bias[...] = params[f"{d['name']}.bias"]
                h_in = h
                h = bn.forward(h_in)
                x_hat, _, _, y_bn, _ = bn._cache
                norms[lay.name] = NormStage(d["name"], lay.name, bn.activation.name, bn.batch_mean, bn.batch_var,
                                            bn.eps, bn.weight.copy(), bn.bias.copy(), x_hat, y_bn, h)
                engines.setdefault(lay.name, []).append(bn)
                elementwise = np.full(cache.z.shape, np.nan)  # batch norm couples the samples
        a[lay.name] = h
        slope[lay.name] = elementwise
        prev = h
    output_grad = np.asarray(objective.output_grad(prev, y), dtype=float).reshape(prev.shape)
    g = output_grad
    for k in range(len(layers) - 1, -1, -1):
        lay = layers[k]
        bns = iter(reversed(engines.get(lay.name, [])))
        for d in reversed(after[lay.name]):
            if d.get("kind") == "dropout":
                p = float(d.get("p", 0.0))
                if p:
                    g = g * (np.asarray(masks[d["name"]], dtype=bool) / (1.0 - p))
            else:
                bn = next(bns)
                g = bn.backward(g)
                norms[lay.name].grad_gamma = bn.grads["weight"].copy()
                norms[lay.name].grad_beta = bn.grads["bias"].copy()
        delta[lay.name], g = dense_backward(g, caches[lay.name], layer_weight(lay, params), input_grad=k > 0)
    return StepPass(x, list(layers), z, a, slope, delta, output_grad, float(objective.data_loss(prev, y)),
                    masks=scaled, dropped=dropped, norms=norms)


def _bias(layer: LayerInfo, params: dict[str, np.ndarray]) -> np.ndarray | None:
    return None if layer.bias is None else np.asarray(params[layer.bias], dtype=float)


def recorded_masks(history: History, row: int) -> dict[str, np.ndarray]:
    """Each dropout layer's recorded masks at history row ``row``, by layer name."""
    return {d["name"]: np.asarray(history.extras[mask_key(d["name"])][row], dtype=bool)
            for d in history.info.other_layers
            if d.get("kind") == "dropout" and mask_key(d["name"]) in history.extras}


def history_step_pass(history: History, row: int, loss: Loss, activations: dict | None = None) -> StepPass:
    """:func:`step_pass` at history row ``row``: its parameters and recorded masks, on the training data."""
    info = history.info
    for d in info.other_layers:
        if d.get("kind") == "batchnorm" and (norm_key(d["name"], "mean") not in history.extras or
                                             f"{d['name']}.weight" not in history.params):
            raise ValueError(f"batch norm {d['name']!r}: its batch statistics (or its γ and β) were not recorded "
                             "(a history from before they were, or not from a scene): the step cannot be shown "
                             "exactly")
    params = {k: v[row] for k, v in history.params.items()}
    return step_pass(info.layers, info.other_layers, params, history.static["data/x"], history.static["data/y"],
                     loss, recorded_masks(history, row), activations)


__all__ = ["NormStage", "StepPass", "history_step_pass", "mask_key", "norm_key", "recorded_masks", "stages",
           "step_pass"]
