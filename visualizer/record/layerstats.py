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

**Bins are fixed for the whole run and hold every value**: every row of a history is on the same bins, the
static edges, and counts every value of its step. Bounded activations use their range: tanh [−1, 1], sigmoid
[0, 1]. ReLU's and softplus's activations start on [0, 1.5·max a] of the first recorded step, in an even
number of bins (one more when the number asked is odd); pre-activations, δ and any other activation on
[−1.5·max|v|, 1.5·max|v|] in an odd number of bins, so that 0 (a ReLU unit that is off has δ = 0) is in the
middle of the centre bin. When a later step has a value outside, the range grows until it holds it: [0, hi]
doubles (bins 2i and 2i + 1 become bin i), [−m, m] triples (the centre bin and its neighbours become the
centre bin, and so on outwards). Each old bin lies wholly in one new bin, so the rows already recorded are
moved onto the grown bins exactly, by adding whole counts, when the recorder hands out the history
(:meth:`LayerStatsRecorder.finish`, through :meth:`~visualizer.record.model.Evaluator.finish`); until then
each row's ``layer/<L>/…_level`` says how many times its range had grown.

**What they cost**: at a recorded step of the built-in trainer the layers' z, a and δ are those of the
full-set evaluation the recorder makes anyway for the loss and the gradient (lent through
:class:`~visualizer.engine.training.FullPass`, so no second pass); histograms count in working arrays kept
between steps, large ones in one compiled pass (:data:`COMPILED_MIN_VALUES`). ``benchmarks/layerstats_bench.py``
measures it against recording without them.

**The update:data ratio** needs nothing extra recorded: every parameter is in the history at every recorded
row, so :func:`update_ratio` computes it from them, log10(‖θᵣ − θᵣ₋₁‖ / ((sᵣ − sᵣ₋₁)·‖θᵣ₋₁‖)) between
consecutive recorded rows r−1, r (steps sᵣ₋₁, sᵣ): the size of the mean update per step relative to the
parameter. Where rows are consecutive steps this is Karpathy's per-step ratio exactly (with norms where he
uses standard deviations); across a gap of k steps it is at most the mean per-step ratio, less where updates
cancel. The first row has none (NaN).
"""
from __future__ import annotations

import functools
import math
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


class Bins:
    """One histogram's bins for the whole run, holding every value it is given (this module's docstring).

    ``shape`` is ``"fixed"`` (a bounded activation's own range), ``"floor"`` ([0, hi], an even number of bins,
    the range doubling) or ``"symmetric"`` ([−m, m], an odd number of bins, the range tripling). ``level`` is
    how many times the range grew since the first step: bin j at level ℓ lies wholly in bin
    :meth:`merged_index` (j) at level ℓ + 1, so a histogram counted earlier is moved onto later bins exactly.
    """

    GROWTH = {"fixed": 1, "floor": 2, "symmetric": 3}

    def __init__(self, shape: str, count: int, lo: float, hi: float) -> None:
        self.shape, self.count, self.level = shape, int(count), 0
        self._lo, self._hi = float(lo), float(hi)  # the range at level 0

    def __repr__(self) -> str:
        lo, hi = self.range()
        return f"Bins({self.shape}, {self.count} over [{lo:.4g}, {hi:.4g}], level {self.level})"

    @classmethod
    def first(cls, values: np.ndarray, bins: int, *, activation: str = "", symmetric: bool = False) -> "Bins":
        """The bins chosen at the first step from its ``values`` (the rule in this module's docstring)."""
        if activation in BOUNDED:
            return cls("fixed", bins, *BOUNDED[activation])
        top = _finite_extremes(np.asarray(values, dtype=float).reshape(-1))
        if activation in FLOOR and not symmetric:
            hi = 1.5 * top[1] if top is not None and top[1] > 0 else 1.0
            return cls("floor", bins + bins % 2, 0.0, hi)
        m = 1.5 * max(abs(top[0]), abs(top[1])) if top is not None else 0.0
        m = m if m > 0 else 1.0
        return cls("symmetric", bins + 1 - bins % 2, -m, m)

    def range(self, level: int | None = None) -> tuple[float, float]:
        """(lo, hi) at ``level`` (the current one by default)."""
        grow = float(self.GROWTH[self.shape]) ** (self.level if level is None else level)
        return self._lo * grow, self._hi * grow

    def edges(self) -> np.ndarray:
        lo, hi = self.range()
        return np.linspace(lo, hi, self.count + 1)

    def fit(self, lo: float, hi: float) -> bool:
        """Grow the range (never shrink it) until it holds [lo, hi]; whether it does (a fixed range does not
        grow; past 2^2000 or 3^1300 times the first range, which no float reaches, neither does another)."""
        for _ in range(0 if self.shape == "fixed" else 2000):
            a, b = self.range()
            if a <= lo and hi <= b:
                return True
            try:
                self.range(self.level + 1)
            except OverflowError:
                break
            self.level += 1
        a, b = self.range()
        return a <= lo and hi <= b

    def merged_index(self, levels: int = 1) -> np.ndarray:
        """For each bin, the bin holding it ``levels`` growths later."""
        j = np.arange(self.count)
        for _ in range(levels):
            if self.shape == "floor":  # [0, hi] doubled: bins 2i and 2i + 1 become bin i
                j = j // 2
            elif self.shape == "symmetric":  # [−m, m] tripled about the centre bin c: c + 3i − 1 … c + 3i + 1 → c + i
                c = self.count // 2
                j = c + (j - c + 1) // 3
        return j

    def merge(self, counts: np.ndarray, level: int) -> np.ndarray:
        """``counts`` counted on these bins at ``level``, moved onto the current level's bins (sums of whole
        bins: exact)."""
        if level >= self.level or self.shape == "fixed":
            return counts
        return np.bincount(self.merged_index(self.level - level), weights=counts, minlength=self.count)


def _finite_extremes(v: np.ndarray) -> tuple[float, float, bool] | None:
    """(min, max) of the finite values of ``v`` and whether every value is finite (None if none is)."""
    if not v.size:
        return None
    lo, hi = float(v.min()), float(v.max())
    if math.isfinite(lo) and math.isfinite(hi):
        return lo, hi, True
    v = v[np.isfinite(v)]
    return (float(v.min()), float(v.max()), False) if v.size else None


def first_step_edges(values: np.ndarray, bins: int, *, activation: str = "", symmetric: bool = False) -> np.ndarray:
    """The edges chosen at the first step from its ``values`` (before any growth)."""
    return Bins.first(values, bins, activation=activation, symmetric=symmetric).edges()


# Histograms of at least this many values are counted by a compiled loop when numba is there (one pass over
# the values instead of numpy's four: benchmarks/layerstats_bench.py); smaller ones, where importing numba and
# loading the loop would cost more than it saves, by numpy. Both count alike (tests/test_layerstats.py).
COMPILED_MIN_VALUES = 10_000


def counts(values: np.ndarray, bins: Bins, scratch: dict | None = None) -> np.ndarray:
    """How many of ``values`` fall in each bin, the bins grown first to hold them all (non-finite values, which
    no range holds, go in the outermost bins).

    Bin k holds floor((v − lo)·bins/(hi − lo)) = k, and the top edge itself the last bin: the equal bins of the
    edges (a value within rounding of an inner edge may fall on either side of it, where numpy's histogram,
    slower, moves it to the upper one). ``scratch`` (a dict kept between calls) lends the working arrays, so
    recording allocates nothing new.
    """
    values = np.asarray(values, dtype=float).reshape(-1)
    n = values.size
    whole = False  # whether every value is known to lie within the range
    if bins.shape == "floor" and n:  # ReLU, softplus: never below 0, so the largest value says it all
        top = float(values.max())
        if math.isfinite(top):
            whole = bins.fit(0.0, top) and top >= 0.0
    elif bins.shape == "symmetric" and n:
        low, top = float(values.min()), float(values.max())
        if math.isfinite(low) and math.isfinite(top):
            whole = bins.fit(low, top)
    if n and not whole and bins.shape != "fixed":  # a value that is not finite: fit the others
        found = _finite_extremes(values)
        if found is not None:
            bins.fit(found[0], found[1])
    lo, hi = bins.range()
    step = bins.count / (hi - lo)
    compiled = _compiled() if n >= COMPILED_MIN_VALUES else None
    if compiled is not None:
        lanes = np.zeros((4, bins.count), dtype=np.int64)
        compiled(values, step, lo * step if lo else 0.0, bins.count, not whole, lanes)
        return lanes.sum(axis=0)
    scratch = working(scratch, n)
    x, idx = scratch["x"], scratch["i"]
    np.multiply(values, step, out=x)
    if lo:
        x -= lo * step
    if not whole:  # beyond a fixed range (rounding), or not finite: to the outer bins (NaN to the first)
        np.fmax(x, 0, out=x)
        np.fmin(x, bins.count, out=x)
    np.copyto(idx, x, casting="unsafe")  # truncation: the floor of these non-negative numbers (−0.x to 0)
    found = np.bincount(idx, minlength=bins.count + 1)
    found[bins.count - 1] += found[bins.count]  # the top edge itself: in the last bin
    return found[: bins.count]


def working(scratch: dict | None, n: int) -> dict:
    """``scratch`` (a dict kept between calls; None: a new one) holding working arrays for ``n`` values: ``x``
    (float), ``i`` (index), ``b`` (bool)."""
    scratch = {} if scratch is None else scratch
    if scratch.get("n") != n:
        scratch.update(n=n, x=np.empty(n), i=np.empty(n, dtype=np.intp), b=np.empty(n, dtype=bool))
    return scratch


def _count_loop(values, step, offset, bins, clamp, lanes):  # compiled by numba (_compiled)
    """``counts``' numpy arithmetic, value by value: x = v·step − offset, its floor the bin (clamped to the
    bins when ``clamp``, NaN to the first), the top edge in the last bin; counted in four ``lanes`` (rows),
    taken in turn, so that runs of values in one bin do not wait on each other's count."""
    for i in range(values.size):
        x = values[i] * step
        x -= offset
        if clamp:
            if not x >= 0.0:
                x = 0.0
            if x > bins:
                x = bins
        k = int(x)
        if k >= bins:
            k = bins - 1
        lanes[i & 3, k] += 1


@functools.lru_cache(maxsize=None)
def _compiled():
    """The counting loop compiled by numba (kept in its on-disk cache), or None without numba or with
    ``VISUALIZER_NO_JIT`` set."""
    from ..engine import kernels

    if not kernels.available():
        return None
    njit = kernels._numba().njit
    try:
        return njit(cache=True, nogil=True)(_count_loop)
    except RuntimeError:  # nowhere writable for the cache
        return njit(nogil=True)(_count_loop)


def shares(values: np.ndarray, edges: np.ndarray, scratch: dict | None = None) -> np.ndarray:
    """The share of ``values`` in each of the equal bins ``edges`` (values beyond go in the outermost bins)."""
    v = np.asarray(values, dtype=float)
    bins = Bins("fixed", len(edges) - 1, float(edges[0]), float(edges[-1]))
    return counts(v, bins, scratch) / max(v.size, 1)


def saturated_share(a: np.ndarray, activation: str, scratch: dict | None = None) -> float | None:
    """The share of saturated outputs of a tanh or sigmoid layer (None for other activations); ``scratch`` as
    :func:`counts`' (its arrays are overwritten)."""
    if activation not in ("tanh", "sigmoid"):
        return None
    a = np.asarray(a, dtype=float)
    scratch = working(scratch, a.size)
    x, beyond = scratch["x"].reshape(a.shape), scratch["b"].reshape(a.shape)
    if activation == "tanh":
        np.greater(np.abs(a, out=x), SATURATION, out=beyond)
        return np.count_nonzero(beyond) / max(a.size, 1)
    low = np.count_nonzero(np.less(a, 1 - SATURATION, out=beyond))  # the two sets are disjoint
    return (low + np.count_nonzero(np.greater(a, SATURATION, out=beyond))) / max(a.size, 1)


class LayerStatsRecorder:
    """Turns each :class:`LayerPass` into the history's per-layer extras (:attr:`static` holds the bins' edges,
    as they are now, and the layer names); :meth:`finish` puts every recorded row on the run's final bins."""

    def __init__(self, request: LayerStats) -> None:
        self.request = request
        self.bins: dict[str, Bins] = {}  # by the edges' key
        self.sizes: dict[str, int] = {}  # how many values each histogram counts (samples × units)
        self.static: dict[str, np.ndarray] = {}
        self._scratch: dict[str, dict] = {}  # working arrays per layer, kept between steps

    def __repr__(self) -> str:
        return f"LayerStatsRecorder({sorted(self.request.kinds)}, {self.request.bins} bins)"

    def _histogram(self, out: dict, name: str, prefix: str, values: np.ndarray, scratch: dict, **rule) -> None:
        edges = key(name, f"{prefix}_edges")
        bins = self.bins.get(edges)
        if bins is None:
            bins = self.bins[edges] = Bins.first(values, self.request.bins, **rule)
        level = bins.level
        found = counts(values, bins, scratch)
        if edges not in self.static or bins.level != level:
            self.static[edges] = bins.edges()
        self.sizes[edges] = values.size
        out[key(name, f"{prefix}_hist")] = found / max(values.size, 1)
        out[key(name, f"{prefix}_level")] = np.array(float(bins.level))

    def __call__(self, lp: LayerPass) -> dict[str, np.ndarray]:
        kinds = self.request.kinds
        if NAMES_KEY not in self.static:
            self.static[NAMES_KEY] = np.array(lp.names, dtype=str)
            self.static[ACTIVATIONS_KEY] = np.array([lp.activation[n] for n in lp.names], dtype=str)
        out: dict[str, np.ndarray] = {}
        for name in lp.names:
            act = lp.activation[name]
            scratch = working(self._scratch.setdefault(name, {}), lp.z[name].size)
            if "activation" in kinds:
                a = lp.a[name]
                self._histogram(out, name, "act", a, scratch, activation=act)
                # np.mean and np.std's own arithmetic (one sum, then the squared deviations summed), in the
                # scratch array the histogram lent: the same numbers, no new arrays.
                n = max(a.size, 1)
                mean = float(a.sum()) / n
                dev = scratch["x"].reshape(a.shape)
                np.subtract(a, mean, out=dev)
                np.multiply(dev, dev, out=dev)
                out[key(name, "act_mean")] = np.array(mean)
                out[key(name, "act_std")] = np.array(math.sqrt(float(dev.sum()) / n))
                sat = saturated_share(a, act, scratch)
                if sat is not None:
                    out[key(name, "saturated")] = np.array(sat)
                if act == "relu":  # NaN is not zero, as it is not in a == 0
                    out[key(name, "zero")] = np.array((a.size - np.count_nonzero(a)) / n)
            if "preactivation" in kinds:
                self._histogram(out, name, "pre", lp.z[name], scratch, symmetric=True)
            if "delta" in kinds:
                if lp.delta is None:
                    raise ValueError("the layer statistics of δ need the training loss: give the evaluator loss=...")
                d = lp.delta[name]
                self._histogram(out, name, "delta", d, scratch, symmetric=True)
                size = scratch["x"].reshape(d.shape)
                np.abs(d, out=size)
                out[key(name, "delta_norm")] = np.array(float(size.sum()) / max(d.size, 1))
        return out

    def finish(self, history: History) -> History:
        """``history`` (whose rows these statistics are) with every histogram row on the final bins: a row
        counted before its range last grew has its bins merged (exactly: whole counts added), and the per-row
        ``…_level`` extras that said which bins a row was counted on are taken out. Rows are changed in place,
        so a recorder's later ``history()`` finds them already done."""
        for edges, bins in self.bins.items():
            stem = edges[: -len("_edges")]
            levels = history.extras.pop(f"{stem}_level", None)
            hist = history.extras.get(f"{stem}_hist")
            if levels is None or hist is None:
                continue
            n = self.sizes[edges]
            for r in np.flatnonzero(np.asarray(levels) < bins.level):
                hist[r] = bins.merge(np.round(hist[r] * n), int(levels[r])) / n
            levels[...] = bins.level
        return history


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


__all__ = ["ACTIVATIONS_KEY", "BOUNDED", "KIND_KEYS", "NAMES_KEY", "SATURATION", "Bins", "LayerPass",
           "LayerStatsRecorder", "counts", "first_step_edges", "key", "layer_pass", "measured_layers",
           "saturated_share", "shares", "update_ratio"]
