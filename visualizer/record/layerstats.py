"""Per-layer statistics over training: activation, pre-activation and gradient histograms, ‖δ‖, saturation.

The figures courses draw for "why deeper networks are hard to train" (Nielsen ch. 5's speed of learning per
layer, Karpathy's makemore part 3 histograms and update:data ratio, fastai's "colorful dimension") are
computed here, at every recorded step, only when a panel asks for them (:class:`~visualizer.record.probes.
LayerStats` in its needs). Every layer with an activation is measured: dense layers, and batch norm. Each is
measured over the whole training set, in evaluation mode (batch norm by its running statistics, no dropout),
at the recorded parameters. The history holds, as extras (``extra/…`` in ``history.npz``), one array per
layer and statistic, row by row:

=================================  ==============================================================================
``layer/<L>/act_hist``             share of the activations a = act(z) in each bin (rows, bins); the bins'
                                   edges are the static ``layer/<L>/act_edges``
``layer/<L>/act_mean``, ``act_std``  mean and standard deviation of a over samples and units
``layer/<L>/saturated``            tanh layers: share with |a| > 0.97; sigmoid: a < 0.03 or a > 0.97
``layer/<L>/zero``                 ReLU layers: share of a that is exactly 0 (the unit is off)
``layer/<L>/pre_hist``             the same for the pre-activations z (edges ``layer/<L>/pre_edges``)
``layer/<L>/delta_norm``           ‖δ‖: the mean of |∂L/∂z| over samples and units (L the training loss)
``layer/<L>/delta_hist``           the histogram of δ = ∂L/∂z (edges ``layer/<L>/delta_edges``)
=================================  ==============================================================================

The static ``layers/names`` and ``layers/activations`` list the measured layers, input side first.

**Bins are fixed for the whole run**, chosen at the first recorded step: tanh activations over [−1, 1],
sigmoid over [0, 1]; anything unbounded (ReLU and other activations, pre-activations) over the first step's
range widened by half of it on each side (never below an activation's floor: ReLU's and softplus's 0, so a
ReLU layer's bins are [0, 1.5·max a]), and δ symmetrically over ±1.5·max|δ| in an odd number of bins (one
more when the number asked is even), so that δ = 0 falls in the middle of the centre bin. A value that later leaves the
range is counted in the outermost bin, so every histogram adds up to 1.

**The update:data ratio** needs nothing extra recorded: every parameter is in the history at every recorded
row, so :func:`update_ratio` computes it from them, log10(‖θᵣ − θᵣ₋₁‖ / ((sᵣ − sᵣ₋₁)·‖θᵣ₋₁‖)) between
consecutive recorded rows r−1, r (steps sᵣ₋₁, sᵣ): the size of the mean update per step relative to the
parameter. Where rows are consecutive steps this is Karpathy's per-step ratio exactly (with norms where he
uses standard deviations); across a gap of k steps it is at most the mean per-step ratio, less where updates
cancel. The first row has none (NaN).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .backprop import activation_functions, backward_pass, layer_weight
from .probes import LayerInfo, LayerStats

if TYPE_CHECKING:
    from ..engine.losses import Loss
    from .history import History

SATURATION = 0.97  # tanh beyond ±0.97; sigmoid within 1 − 0.97 = 0.03 of 0 or 1
BOUNDED = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}
FLOOR = {"relu": 0.0, "softplus": 0.0}
# The statistics each kind of request records, by key suffix (the saturated and zero shares only for the
# activations that have them).
KIND_KEYS = {"activation": ("act_hist", "act_mean", "act_std", "saturated", "zero"),
             "preactivation": ("pre_hist",), "delta": ("delta_norm", "delta_hist")}
NAMES_KEY, ACTIVATIONS_KEY = "layers/names", "layers/activations"


def key(layer: str, stat: str) -> str:
    """The history key of one layer's statistic: ``layer/<layer>/<stat>`` (an extra, or a static edge array)."""
    return f"layer/{layer}/{stat}"


@dataclass
class LayerPass:
    """One evaluation of every measured layer on the training set: per-sample arrays (samples, units).

    ``names`` are the layers with an activation, input side first; ``activation`` their activations' names;
    ``z`` the pre-activations, ``a`` the outputs and ``delta`` the error signals δ = ∂L/∂z of the training
    loss (None when no loss was given). A model adapter may compute it itself (a ``layer_pass(x, y, loss)``
    method, as :class:`~visualizer.record.model.NetworkModel` has for batch norm and dropout); otherwise
    :func:`layer_pass` goes through its dense layers with the engine's own backward pass.
    """

    names: list[str]
    activation: dict[str, str]
    z: dict[str, np.ndarray]
    a: dict[str, np.ndarray]
    delta: dict[str, np.ndarray] | None = None

    def __repr__(self) -> str:
        what = "with δ" if self.delta is not None else "forward only"
        return f"LayerPass({', '.join(self.names)}; {what})"


def layer_pass(model: object, layers: Sequence[LayerInfo], x: np.ndarray, y: np.ndarray,
               loss: Loss | None) -> LayerPass:
    """Every layer's z, a (and δ when ``loss`` is given) on ``(x, y)`` at the model's current parameters: the
    adapter's own ``layer_pass`` if it has one, else through ``layers`` (dense) with the engine's layers."""
    own = getattr(model, "layer_pass", None)
    if own is not None:
        return own(x, y, loss)
    other = model.other_layers() if hasattr(model, "other_layers") else []
    if other:  # the dense layers alone would give another network's numbers
        raise ValueError(f"per-layer statistics go through dense layers only for this model, which also has "
                         f"{other}: give its adapter a layer_pass(x, y, loss) method")
    acts = activation_functions(layers, model)
    params = model.parameters()
    names = [lay.name for lay in layers]
    kinds = {lay.name: acts[lay.name].name for lay in layers}
    if loss is not None:
        bp = backward_pass(layers, params, x, y, loss, acts)
        return LayerPass(names, kinds, bp.z, bp.a, bp.delta)
    from ..engine.layers import dense_forward

    z, a, prev = {}, {}, np.asarray(x, dtype=float)
    for lay in layers:
        bias = None if lay.bias is None else np.asarray(params[lay.bias], dtype=float)
        cache = dense_forward(prev, layer_weight(lay, params), bias, acts[lay.name])
        z[lay.name], a[lay.name] = cache.z, cache.a
        prev = cache.a
    return LayerPass(names, kinds, z, a, None)


def first_step_edges(values: np.ndarray, bins: int, *, activation: str = "", symmetric: bool = False) -> np.ndarray:
    """Bin edges for the whole run from the first step's ``values`` (the rule in this module's docstring)."""
    if activation in BOUNDED:
        lo, hi = BOUNDED[activation]
        return np.linspace(lo, hi, bins + 1)
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if symmetric:  # an odd number of bins: 0 (a ReLU unit that is off has δ = 0) in the middle of one
        m = 1.5 * float(np.abs(v).max()) if v.size else 0.0
        m = m if m > 0 else 1.0
        return np.linspace(-m, m, bins + 1 + (bins % 2 == 0))
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    lo, hi = lo - 0.5 * span, hi + 0.5 * span
    if activation in FLOOR:
        lo = max(lo, FLOOR[activation])
    return np.linspace(lo, hi, bins + 1)


def shares(values: np.ndarray, edges: np.ndarray, scratch: dict | None = None) -> np.ndarray:
    """The share of ``values`` in each of the equal bins ``edges`` (values beyond go in the outermost bins).

    Bin k holds floor((v − lo)·bins/(hi − lo)) = k: the equal bins of the edges (a value within rounding of
    an inner edge may fall on either side of it, where numpy's histogram, slower, moves it to the upper one).
    ``scratch`` (a dict kept between calls) lends the working arrays, so recording allocates nothing new.
    """
    bins = len(edges) - 1
    values = np.asarray(values, dtype=float)
    n = values.size
    if scratch is None:
        scratch = {}
    if scratch.get("n") != n:
        scratch.update(n=n, x=np.empty(n), i=np.empty(n, dtype=np.intp))
    x, idx = scratch["x"], scratch["i"]
    np.subtract(values.reshape(-1), edges[0], out=x)
    x *= bins / (edges[-1] - edges[0])
    np.fmin(np.fmax(x, 0, out=x), bins - 1, out=x)  # beyond the edges to the outer bins (and NaN to the first)
    np.copyto(idx, x, casting="unsafe")  # truncation: the floor of these non-negative numbers
    return np.bincount(idx, minlength=bins) / max(n, 1)


def saturated_share(a: np.ndarray, activation: str) -> float | None:
    """The share of saturated outputs of a tanh or sigmoid layer (None for other activations)."""
    if activation == "tanh":
        return float(np.mean(np.abs(a) > SATURATION))
    if activation == "sigmoid":
        return float(np.mean((a < 1 - SATURATION) | (a > SATURATION)))
    return None


class LayerStatsRecorder:
    """Turns each :class:`LayerPass` into the history's per-layer extras, with bins fixed at the first call
    (:attr:`static` then holds the edges and the layer names)."""

    def __init__(self, request: LayerStats) -> None:
        self.request = request
        self.edges: dict[str, np.ndarray] = {}
        self.static: dict[str, np.ndarray] = {}
        self._scratch: dict[str, dict] = {}  # working arrays per layer, kept between steps

    def __repr__(self) -> str:
        return f"LayerStatsRecorder({sorted(self.request.kinds)}, {self.request.bins} bins)"

    def _edges(self, name: str, values: np.ndarray, **rule) -> np.ndarray:
        if name not in self.edges:
            self.edges[name] = self.static[name] = first_step_edges(values, self.request.bins, **rule)
        return self.edges[name]

    def __call__(self, lp: LayerPass) -> dict[str, np.ndarray]:
        kinds = self.request.kinds
        if not self.static:
            self.static[NAMES_KEY] = np.array(lp.names, dtype=str)
            self.static[ACTIVATIONS_KEY] = np.array([lp.activation[n] for n in lp.names], dtype=str)
        out: dict[str, np.ndarray] = {}
        for name in lp.names:
            act = lp.activation[name]
            scratch = self._scratch.setdefault(name, {})
            if "activation" in kinds:
                a = lp.a[name]
                out[key(name, "act_hist")] = shares(a, self._edges(key(name, "act_edges"), a, activation=act), scratch)
                out[key(name, "act_mean")] = np.array(float(np.mean(a)))
                out[key(name, "act_std")] = np.array(float(np.std(a)))
                sat = saturated_share(a, act)
                if sat is not None:
                    out[key(name, "saturated")] = np.array(sat)
                if act == "relu":
                    out[key(name, "zero")] = np.array(float(np.mean(a == 0)))
            if "preactivation" in kinds:
                z = lp.z[name]
                out[key(name, "pre_hist")] = shares(z, self._edges(key(name, "pre_edges"), z), scratch)
            if "delta" in kinds:
                if lp.delta is None:
                    raise ValueError("the layer statistics of δ need the training loss: give the evaluator loss=...")
                d = lp.delta[name]
                out[key(name, "delta_norm")] = np.array(float(np.mean(np.abs(d))))
                out[key(name, "delta_hist")] = shares(d, self._edges(key(name, "delta_edges"), d, symmetric=True),
                                                      scratch)
        return out


def measured_layers(history: History) -> list[tuple[str, str]]:
    """(name, activation) of every layer the history has statistics for, input side first."""
    names = history.static.get(NAMES_KEY)
    if names is None:
        return []
    acts = history.static.get(ACTIVATIONS_KEY, np.array([""] * len(names)))
    return [(str(n), str(a)) for n, a in zip(names, acts)]


def update_ratio(history: History, param: str) -> np.ndarray:
    """log10 of the update:data ratio of parameter ``param`` per recorded row (NaN for the first row and
    where the parameter is all zero): see this module's docstring for the formula."""
    if param not in history.params:
        raise KeyError(f"no parameter {param!r} in the history; it has {sorted(history.params)}")
    theta = history.params[param].reshape(len(history), -1)
    out = np.full(len(history), np.nan)
    if len(history) < 2:
        return out
    gaps = np.diff(history.steps).astype(float)
    moved = np.linalg.norm(np.diff(theta, axis=0), axis=1)
    size = np.linalg.norm(theta[:-1], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = moved / (np.maximum(gaps, 1.0) * size)
        out[1:] = np.where((size > 0) & (moved > 0), np.log10(ratio), np.nan)
    return out


__all__ = ["ACTIVATIONS_KEY", "BOUNDED", "KIND_KEYS", "NAMES_KEY", "SATURATION", "LayerPass", "LayerStatsRecorder",
           "first_step_edges", "key", "layer_pass", "measured_layers", "saturated_share", "shares",
           "update_ratio"]
