"""What panels may ask to have recorded, and the layer structure they ask it of.

A panel never touches a model: it declares :class:`Probe` s ("layer L's outputs on these inputs") and static
arrays (:class:`Needs`), given the data and the layers (:class:`Setup`); the evaluator
(:mod:`visualizer.record.model`) computes every probe at each recorded step. The probes of the two main
views, the fit curve and the output over an input plane, are built here (:func:`fit_needs`,
:func:`plane_needs`), so a recorder without a layout records what the default layout will draw.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass(frozen=True)
class LayerInfo:
    """One dense layer as diagrams see it: ``a = activation(x @ W + b)``.

    ``weight`` and ``bias`` name the parameters (as recorded); ``transposed`` is True where the weight is
    stored as (outputs, inputs), as PyTorch's ``Linear`` stores it, instead of (inputs, outputs).
    """

    name: str
    n_in: int
    n_out: int
    activation: str
    weight: str
    bias: str | None = None
    transposed: bool = False

    def to_dict(self) -> dict:
        """A plain dict for the history's JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LayerInfo:
        """The inverse of :meth:`to_dict`."""
        return cls(str(d["name"]), int(d["n_in"]), int(d["n_out"]), str(d["activation"]), str(d["weight"]),
                   None if d.get("bias") is None else str(d["bias"]), bool(d.get("transposed", False)))


QUANTITIES = ("activation", "preactivation", "slope", "delta", "output_grad")
BACKWARD = frozenset(QUANTITIES[1:])


@dataclass(eq=False)
class Probe:
    """A panel's request: ``layer``'s outputs (``None``: the model's output) on fixed ``inputs``, recorded at
    every step as extra ``key`` (reshaped to ``shape`` when given; columns picked with ``columns``).

    ``quantity`` is ``"activation"`` (the layer's outputs) or one the backward pass computes on the training
    set (``inputs`` must be the setup's ``x``): ``"preactivation"`` z, ``"slope"`` act′(z), ``"delta"``
    δ = ∂L/∂z, or ``"output_grad"`` ∂L/∂ŷ (``layer=None``); ``reduce="sum"`` sums it over the samples.
    """

    key: str
    inputs: np.ndarray
    layer: str | None = None
    shape: tuple[int, ...] | None = None
    columns: slice | int | None = None
    quantity: str = "activation"
    reduce: str | None = None

    def __post_init__(self) -> None:
        if self.quantity not in QUANTITIES:
            raise ValueError(f"probe {self.key!r}: quantity must be one of {', '.join(QUANTITIES)}, "
                             f"got {self.quantity!r}")
        if self.reduce not in (None, "sum"):
            raise ValueError(f"probe {self.key!r}: reduce must be None or 'sum', got {self.reduce!r}")
        if (self.quantity == "output_grad") != (self.layer is None) and self.quantity in BACKWARD:
            raise ValueError(f"probe {self.key!r}: {self.quantity} needs " +
                             ("layer=None" if self.quantity == "output_grad" else "a layer"))

    def __repr__(self) -> str:
        where = "the output" if self.layer is None else f"layer {self.layer!r}"
        what = "∂L/∂ŷ" if self.quantity == "output_grad" else f"{self.quantity} of {where}"
        inputs = "×".join(str(n) for n in np.shape(self.inputs))
        extra = "".join(f", {k}={v!r}" for k, v in (("columns", self.columns), ("shape", self.shape),
                                                      ("reduce", self.reduce)) if v is not None)
        return f"Probe({self.key!r}: {what} on {inputs} inputs{extra})"


# What per-layer statistics a panel may ask for (see LayerStats); each kind is recorded only when asked.
STAT_KINDS = ("activation", "preactivation", "delta")


@dataclass(frozen=True)
class LayerStats:
    """A panel's request for per-layer statistics over the training set at every recorded step, stored as
    extras ``layer/<layer name>/<statistic>`` (see :mod:`visualizer.record.layerstats` for the keys).

    ``kinds`` chooses what is computed: ``"activation"`` (the histogram, mean, standard deviation, the saturated
    share of tanh and sigmoid layers, the zero share of ReLU layers), ``"preactivation"`` (the histogram of z)
    and ``"delta"`` (‖δ‖ = mean |∂L/∂z| and the histogram of δ; needs the training loss). ``bins`` is the
    number of histogram bins, fixed for the whole run. Every layer with an activation is measured (dense
    layers and batch norm; dropout has none).
    """

    kinds: frozenset = frozenset(STAT_KINDS)
    bins: int = 40

    def __post_init__(self) -> None:
        kinds = frozenset([self.kinds] if isinstance(self.kinds, str) else self.kinds)
        unknown = sorted(kinds - set(STAT_KINDS))
        if unknown or not kinds:
            raise ValueError(f"layer statistics: kinds must be among {', '.join(STAT_KINDS)}, got "
                             f"{sorted(kinds) or 'none'}")
        if isinstance(self.bins, bool) or not isinstance(self.bins, (int, np.integer)) or not 2 <= self.bins <= 1000:
            raise ValueError(f"layer statistics: bins must be a whole number from 2 to 1000, got {self.bins!r}")
        object.__setattr__(self, "kinds", kinds)

    def merge(self, other: LayerStats | None) -> LayerStats:
        """Both requests: every kind either asks for, on the finer of the two bin counts."""
        if other is None:
            return self
        return LayerStats(self.kinds | other.kinds, max(self.bins, other.bins))


@dataclass
class Needs:
    """What panels declared: static arrays stored once, probes evaluated at every recorded step, and the
    per-layer statistics (:class:`LayerStats`) to compute at every recorded step, if any."""

    static: dict[str, np.ndarray]
    probes: list[Probe]
    layer_stats: LayerStats | None = field(default=None)

    def merge(self, other: Needs) -> Needs:
        """Both sets; the same name is the same quantity, so the first one wins."""
        static = {**other.static, **self.static}
        keys = {p.key for p in self.probes}
        stats = other.layer_stats if self.layer_stats is None else self.layer_stats.merge(other.layer_stats)
        return Needs(static, self.probes + [p for p in other.probes if p.key not in keys], stats)

    def __repr__(self) -> str:
        stats = "" if self.layer_stats is None else f", layer statistics {sorted(self.layer_stats.kinds)}"
        return f"Needs(static {list(self.static)}, probes {[p.key for p in self.probes]}{stats})"


@dataclass
class Setup:
    """What a panel may look at to declare its needs: the data and the model's layer structure."""

    x: np.ndarray
    y: np.ndarray
    layers: list[LayerInfo]

    @property
    def n_in(self) -> int:
        """Number of model inputs."""
        return self.layers[0].n_in if self.layers else self.x.shape[1]

    @property
    def n_out(self) -> int:
        """Number of model outputs."""
        return self.layers[-1].n_out if self.layers else self.y.shape[1]

    def layer(self, name: str) -> LayerInfo:
        """The layer called ``name``, with a clear error if there is none."""
        for lay in self.layers:
            if lay.name == name:
                return lay
        raise ValueError(f"no layer {name!r}; the model's layers are {[lay.name for lay in self.layers]}")

    def __repr__(self) -> str:
        sizes = "→".join([str(self.n_in)] + [str(lay.n_out) for lay in self.layers])
        return f"Setup({len(self.x)} samples, {sizes})"


def plane_grid(x: np.ndarray, inputs: tuple[int, int], resolution: int, pad: float = 0.08
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid axes over two input dimensions of the data (with a margin) and the full input rows for it.

    Inputs not on the plane are held at their mean over the data (XOR's constant third input stays 1).
    """
    i, j = inputs
    axes = []
    for d in (i, j):
        lo, hi = float(x[:, d].min()), float(x[:, d].max())
        margin = pad * (hi - lo or 1.0)
        axes.append(np.linspace(lo - margin, hi + margin, resolution))
    g0, g1 = np.meshgrid(axes[0], axes[1])  # rows follow input j (the vertical axis), columns input i
    rows = np.tile(x.mean(axis=0), (g0.size, 1))
    rows[:, i], rows[:, j] = g0.ravel(), g1.ravel()
    return axes[0], axes[1], rows


def plane_key(inputs: tuple[int, int], resolution: int) -> str:
    return f"plane{inputs[0]}{inputs[1]}x{resolution}"



def fit_needs(setup: Setup, points: int = 200, contributions: bool = True) -> Needs:
    """The fit curve's needs: the prediction on a grid over the one input (with a margin), and the last hidden
    layer's outputs there when ``contributions`` (each neuron's contribution is that times its weight)."""
    if setup.n_in != 1 or setup.n_out != 1:
        raise ValueError(f"FitPanel needs a model with 1 input and 1 output, got {setup.n_in}→{setup.n_out}")
    x = setup.x
    lo, hi = float(x.min()), float(x.max())
    pad = 0.04 * (hi - lo or 1.0)
    grid = np.linspace(lo - pad, hi + pad, points)
    rows = grid[:, None]
    probes = [Probe("fit/prediction", rows, columns=0)]
    if contributions and len(setup.layers) >= 2:
        probes.append(Probe(f"fit/act/{setup.layers[-2].name}", rows, layer=setup.layers[-2].name))
    return Needs({"fit/x": grid}, probes)


def plane(setup: Setup, inputs: tuple[int, int], resolution: int, who: str) -> tuple[str, dict, np.ndarray]:
    """A plane over two input columns: its key, its static grid axes and the model input rows for it."""
    if setup.n_in < 2:
        raise ValueError(f"{who} needs at least 2 inputs, the model has {setup.n_in}")
    if not all(0 <= i < setup.n_in for i in inputs) or inputs[0] == inputs[1]:
        raise ValueError(f"{who}: inputs={tuple(inputs)} must be two different input "
                         f"columns among 0..{setup.n_in - 1}")
    key = plane_key(inputs, resolution)
    g0, g1, rows = plane_grid(setup.x, tuple(inputs), resolution)
    return key, {f"{key}/x0": g0, f"{key}/x1": g1}, rows


def plane_needs(setup: Setup, inputs: tuple[int, int] = (0, 1), resolution: int = 80, output: int = 0,
                who: str = "DecisionBoundaryPanel") -> Needs:
    """One output of the model over an input plane, as a (resolution, resolution) map at every step."""
    key, static, rows = plane(setup, inputs, resolution, who)
    if not 0 <= output < setup.n_out:
        raise ValueError(f"{who}: output={output}, but the model has {setup.n_out} outputs")
    n = resolution
    return Needs(static, [Probe(f"{key}/output{output}", rows, columns=output, shape=(n, n))])


def default_needs(setup: Setup) -> Needs:
    """What the default layout's main view needs recorded: the fit curve for one input and one output (with
    the contributions when there is a hidden layer), the output over the plane of the first two inputs for two
    or more inputs."""
    if setup.n_in == 1 and setup.n_out == 1:
        return fit_needs(setup, contributions=len(setup.layers) >= 2)
    if setup.n_in >= 2:
        return plane_needs(setup)
    return Needs({}, [])


__all__ = ["BACKWARD", "QUANTITIES", "STAT_KINDS", "LayerInfo", "LayerStats", "Needs", "Probe", "Setup", "default_needs", "fit_needs", "plane",
           "plane_grid", "plane_key", "plane_needs"]
