"""The backward pass over a dense network's layer structure, for every sample at once.

What "why it learns" panels show is what backpropagation computes on the training set: each layer's
pre-activations ``z``, activations ``a``, slopes act′(z), error signals δ = ∂L/∂z, and ∂L/∂ŷ. They are
computed here from parameter values and the layer structure (:class:`~visualizer.record.model.LayerInfo`) with the
loss's own gradient, so any adapter's run gets them. For a batch, with weights stored (inputs, outputs)::

    z_l = a_{l-1} W_l + b_l,        a_l = act_l(z_l),            a_0 = x
    δ_L = ∂L/∂a_L ⊙ act_L′(z_L),    δ_l = (δ_{l+1} W_{l+1}ᵀ) ⊙ act_l′(z_l)
    ∂L/∂W_l = a_{l-1}ᵀ δ_l,         ∂L/∂b_l = Σ_n δ_l

Each layer is evaluated by the engine's own definitions (:func:`~visualizer.engine.layers.dense_forward`,
:func:`~visualizer.engine.layers.dense_backward`) and the loss by the training objective
(:class:`~visualizer.engine.objective.Objective`): what is drawn is what trained. The chain rule for one scalar
parameter (:func:`chain_rule`) writes the same sums out path by path, as the seed notebooks do by hand:
∂SSR/∂iw1 = Σ_n ∂SSR/∂P · ∂P/∂y1 · ∂y1/∂x1 · ∂x1/∂iw1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..engine.layers import bias_grad, dense_backward, dense_forward, weight_grad
from ..engine.norm import BatchNorm
from ..engine.objective import Objective
from .names import named_inputs, unit_names
from .probes import LayerInfo

if TYPE_CHECKING:
    from ..engine.losses import Loss
    from ..engine.layers import Activation


def layer_weight(layer: LayerInfo, params: dict[str, np.ndarray]) -> np.ndarray:
    """The layer's weight as (inputs, outputs) (or (..., inputs, outputs) for stacked values), however stored."""
    w = np.asarray(params[layer.weight], dtype=float)
    return np.swapaxes(w, -1, -2) if layer.transposed else w


def activation_functions(layers: Sequence[LayerInfo], model: object = None) -> dict[str, Activation]:
    """Each layer's :class:`~visualizer.engine.layers.Activation` by layer name: the model's own objects where its
    adapter offers them (``activation_functions()``, so user-defined activations work), else the built-in
    one of that name."""
    from ..engine.layers import get_activation

    own = model.activation_functions() if hasattr(model, "activation_functions") else {}
    out = {}
    for lay in layers:
        if lay.name in own:
            out[lay.name] = own[lay.name]
            continue
        try:
            out[lay.name] = get_activation(lay.activation)
        except ValueError:
            raise ValueError(f"layer {lay.name!r} uses the activation {lay.activation!r}, which is not built in; "
                             "the backward pass needs its derivative: render with the scene (its network "
                             "has the function), or use a built-in activation") from None
    return out


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
class BackwardPass:
    """One forward and backward pass on ``x``: per-sample arrays (samples, units) by layer name.

    Through dropout and batch norm (a training pass, :mod:`.modes`), ``a`` is what the next dense layer takes
    in (after batch norm and dropout), ``masks`` each dense layer's scaled dropout mask (0 where dropped,
    1/(1 − p) where kept; samples × units) and ``dropped`` where it is 0, ``norms`` each dense layer's batch
    norm stage; all empty for a network of dense layers only."""

    x: np.ndarray
    layers: list[LayerInfo]
    z: dict[str, np.ndarray]
    a: dict[str, np.ndarray]
    slope: dict[str, np.ndarray]
    delta: dict[str, np.ndarray]
    output_grad: np.ndarray
    loss: float
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    dropped: dict[str, np.ndarray] = field(default_factory=dict)
    norms: dict[str, NormStage] = field(default_factory=dict)

    def inputs_of(self, name: str) -> np.ndarray:
        """What layer ``name`` takes in: the previous layer's activations, or ``x`` for the first."""
        names = [lay.name for lay in self.layers]
        k = names.index(name)
        return self.x if k == 0 else self.a[names[k - 1]]

    def weight_grad(self, name: str) -> np.ndarray:
        """∂L/∂W of layer ``name`` as (inputs, outputs)."""
        return weight_grad(self.inputs_of(name), self.delta[name])

    def bias_grad(self, name: str) -> np.ndarray:
        """∂L/∂b of layer ``name``: its δ summed over the samples."""
        return bias_grad(self.delta[name])

    def __repr__(self) -> str:
        shape = "→".join([str(self.x.shape[-1])] + [str(lay.n_out) for lay in self.layers])
        return f"BackwardPass({shape}, {len(self.x)} samples, loss={self.loss:g})"


def _bias(layer: LayerInfo, params: dict[str, np.ndarray]) -> np.ndarray | None:
    return None if layer.bias is None else np.asarray(params[layer.bias], dtype=float)


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


def backward_pass(layers: Sequence[LayerInfo], params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray,
                  loss: Loss, activations: dict[str, Activation] | None = None, *, other_layers: Sequence[dict] = (),
                  masks: dict[str, np.ndarray] | None = None) -> BackwardPass:
    """Forward and backward through ``layers`` at ``params`` on the samples ``(x, y)``; in training mode
    through the ``other_layers`` between them (the history's run information: dropout with dropout layer L's
    ``masks[L]``, bool, True where kept; batch norm by the batch's statistics, γ and β from ``params``)."""
    acts = activations or activation_functions(layers)
    after = stages(layers, other_layers)
    masks = {} if masks is None else masks
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
                h = bn.forward(h)
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
    return BackwardPass(x, list(layers), z, a, slope, delta, output_grad, float(objective.data_loss(prev, y)),
                        masks=scaled, dropped=dropped, norms=norms)


def batched_outputs(layers: Sequence[LayerInfo], params: dict[str, np.ndarray], x: np.ndarray,
                    activations: dict[str, Activation], dtype: type = np.float64) -> np.ndarray:
    """The network's outputs (points, samples, outputs) for a batch of parameter sets at once.

    ``params`` holds every parameter with a leading axis of ``points`` parameter sets; each layer is one
    batched matrix product, so a whole loss landscape is a handful of numpy calls. With ``dtype=np.float32``
    the products and activations are computed in single precision (three to five times faster; the built-in
    activations keep it).
    """
    a = np.asarray(x, dtype=dtype)[None]
    for lay in layers:
        bias = _bias(lay, params)
        a = dense_forward(a, layer_weight(lay, params).astype(dtype, copy=False),
                          None if bias is None else bias.astype(dtype, copy=False), activations[lay.name]).a
    return a


# ---- the chain rule for one scalar parameter, path by path

@dataclass(frozen=True)
class Factor:
    """One factor of a chain-rule product: its name (``∂P/∂y1``), what it is, and where its value lives.

    ``kind`` is ``"output_grad"`` (∂L/∂ŷ of output ``unit``), ``"slope"`` (act′(z) of ``layer``'s ``unit``),
    ``"weight"`` (the weight ``index`` = (input, unit) of ``layer``, the same for every sample),
    ``"input"`` (what ``layer`` takes in at position ``unit``) or ``"one"`` (∂z/∂b).
    """

    name: str
    kind: str
    layer: str
    unit: int = 0
    index: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class ChainRule:
    """∂L/∂θ for one scalar θ as a sum over samples and paths of products of :class:`Factor` s."""

    target: str
    layer: LayerInfo
    is_bias: bool
    unit: int
    source: int
    paths: list[list[Factor]]

    def __repr__(self) -> str:
        paths = "1 path" if len(self.paths) == 1 else f"{len(self.paths)} paths"
        return f"ChainRule({self.target} in layer {self.layer.name!r}: {paths} of {self.n_factors} factors)"

    @property
    def n_factors(self) -> int:
        """Factors per path (every path from θ to the loss crosses the same layers)."""
        return len(self.paths[0])

    def values(self, output_grad: np.ndarray, slopes: dict[str, np.ndarray], weights: dict[str, np.ndarray],
               inputs: np.ndarray | None) -> np.ndarray:
        """Every factor's value as (paths, samples, factors), from per-sample ``output_grad`` (samples,
        outputs), ``slopes`` by layer (samples, units), ``weights`` by layer as (inputs, outputs) and the
        parameter's layer's ``inputs`` (samples, inputs; None for a bias). Each array may carry the same
        leading axes (one per recorded row, say), which the result then leads with."""
        lead = output_grad.shape[:-2]
        n = output_grad.shape[-2]
        out = np.empty((*lead, len(self.paths), n, self.n_factors))
        for p, path in enumerate(self.paths):
            for f, factor in enumerate(path):
                if factor.kind == "output_grad":
                    out[..., p, :, f] = output_grad[..., :, factor.unit]
                elif factor.kind == "slope":
                    out[..., p, :, f] = slopes[factor.layer][..., :, factor.unit]
                elif factor.kind == "weight":
                    out[..., p, :, f] = np.asarray(weights[factor.layer])[(..., *factor.index)][..., None]
                elif factor.kind == "input":
                    out[..., p, :, f] = inputs[..., :, factor.unit]
                else:
                    out[..., p, :, f] = 1.0
        return out


def node_names(layers: Sequence[LayerInfo], names: dict[str, tuple[str, str]] | None = None,
               input_names: Sequence[str] = ()) -> tuple[list[str], dict[str, list[tuple[str, str]]]]:
    """Display names: the inputs', and each layer's units' (pre-activation, activation) names.

    ``names`` maps a layer name to its (pre-activation, activation) prefixes, e.g. ``{"hidden": ("x", "y"),
    "output": ("P", "P")}`` for the seed's x1, y1 and P; a unit number is appended when the layer has more
    than one unit. Defaults: a hidden unit is named as the diagram names it (``h1``, ``h1.3``; see
    :mod:`.names`), its pre-activation ``z1``, ``z1.3``; the output layer's are ``s``/``ŷ``. Inputs are
    named as every view names them (:func:`.names.input_names`).
    """
    names = names or {}
    hidden_names = unit_names(layers)
    out: dict[str, list[tuple[str, str]]] = {}
    for k, lay in enumerate(layers):
        if lay.name not in names and k < len(layers) - 1:
            posts = hidden_names[lay.name]
            out[lay.name] = [((post if lay.activation == "identity" else "z" + post[1:]), post) for post in posts]
            continue
        pre, post = names[lay.name] if lay.name in names else ("s", "ŷ")
        sep = "_" if (pre[-1:].isdigit() or post[-1:].isdigit()) and lay.n_out > 1 else ""
        unit = (lambda u: f"{sep}{u + 1}") if lay.n_out > 1 else (lambda u: "")
        identity = lay.activation == "identity"
        out[lay.name] = [((post if identity else pre) + unit(u), post + unit(u)) for u in range(lay.n_out)]
    inputs = named_inputs(layers[0].n_in if layers else 0, input_names)
    return inputs, out


def parse_param(layers: Sequence[LayerInfo], param: str, index: Sequence[int]) -> tuple[int, bool, int, int]:
    """(layer position, is a bias, unit, input) of the scalar ``param[index]`` (stored index order)."""
    for k, lay in enumerate(layers):
        if param == lay.weight:
            if len(index) != 2:
                raise ValueError(f"{param} is a weight matrix: give a two-number index, got {tuple(index)}")
            i, j = (int(index[1]), int(index[0])) if lay.transposed else (int(index[0]), int(index[1]))
            if not (0 <= i < lay.n_in and 0 <= j < lay.n_out):
                raise ValueError(f"{param}{list(index)} is outside the layer's {lay.n_in}×{lay.n_out} weights")
            return k, False, j, i
        if param == lay.bias:
            if len(index) != 1 or not 0 <= int(index[0]) < lay.n_out:
                raise ValueError(f"{param} is a bias of {lay.n_out} units: give one index below {lay.n_out}, "
                                 f"got {tuple(index)}")
            return k, True, int(index[0]), 0
    known = [p for lay in layers for p in (lay.weight, lay.bias) if p]
    raise ValueError(f"no parameter {param!r} among the layers' parameters {known}")


def chain_rule(layers: Sequence[LayerInfo], param: str, index: Sequence[int], label: str = "", loss_name: str = "L",
               names: dict[str, tuple[str, str]] | None = None, input_names: Sequence[str] = (),
               other_layers: Sequence[dict] = ()) -> ChainRule:
    """The chain rule for ``param[index]`` through ``layers``: one path per route from its unit to an output.

    Factors run from the loss back to the parameter, as the seed writes them; a layer without an activation
    (identity) has no slope factor, its pre-activation and output being one node. A layer followed by dropout
    (``other_layers``, as the history's run information lists them) has the slope ``m·∂a/∂z``, m its unit's
    scaled mask at the step (0 where dropped); a path through batch norm is refused (ValueError): batch norm
    couples the samples, so ∂L/∂θ is no longer a sum of one product per sample.
    """
    layers = list(layers)
    k, is_bias, unit, source = parse_param(layers, param, index)
    dropped = {d.get("after") for d in other_layers if d.get("kind") == "dropout" and d.get("p", 0)}
    for d in other_layers:
        if d.get("kind") == "batchnorm" and d.get("after") in [lay.name for lay in layers[k:]]:
            raise ValueError(f"the chain rule for {param}{list(index)} runs through batch norm {d['name']!r}, "
                             "which couples the samples (each one's δ depends on them all, through the batch's "
                             "mean and variance): choose a weight after the last batch norm")
    ins, units = node_names(layers, names, input_names)
    target = label or f"{param}[{','.join(str(int(i)) for i in index)}]"
    routes: list[list[int]] = [[unit]]
    for lay in layers[k + 1:]:
        routes = [r + [u] for r in routes for u in range(lay.n_out)]
    paths = []
    for route in routes:
        path = []
        last = layers[-1]
        out_unit = route[-1]
        path.append(Factor(f"∂{loss_name}/∂{units[last.name][out_unit][1]}", "output_grad", last.name, out_unit))
        for m in range(len(layers) - 1, k - 1, -1):
            lay, u = layers[m], route[m - k]
            pre, post = units[lay.name][u]
            if lay.name in dropped:  # the slope through the unit's dropout mask at this step
                path.append(Factor(f"m·∂{post}/∂{pre}", "slope", lay.name, u))
            elif lay.activation != "identity":
                path.append(Factor(f"∂{post}/∂{pre}", "slope", lay.name, u))
            if m > k:
                below = layers[m - 1]
                v = route[m - 1 - k]
                path.append(Factor(f"∂{pre}/∂{units[below.name][v][1]}", "weight", lay.name, u, (v, u)))
        pre = units[layers[k].name][unit][0]
        if is_bias:
            path.append(Factor(f"∂{pre}/∂{target}", "one", layers[k].name, unit))
        else:
            path.append(Factor(f"∂{pre}/∂{target}", "input", layers[k].name, source))
        paths.append(path)
    return ChainRule(target, layers[k], is_bias, unit, source, paths)


def input_name(layers: Sequence[LayerInfo], layer: str, unit: int, names=None, input_names: Sequence[str] = ()) -> str:
    """The name of what ``layer`` takes in at position ``unit`` (an input, or the previous layer's unit)."""
    ins, units = node_names(layers, names, input_names)
    k = [lay.name for lay in layers].index(layer)
    return ins[unit] if k == 0 else units[layers[k - 1].name][unit][1]


__all__ = ["BackwardPass", "ChainRule", "Factor", "NormStage", "activation_functions", "backward_pass",
           "batched_outputs", "chain_rule", "input_name", "layer_weight", "node_names", "parse_param", "stages"]
