"""Layers and activations: each forward pass sits beside its backward pass, once, for every caller.

These are the only definitions of what a layer computes. The engine's :class:`Network` trains through them;
the recorder's adapters, the backward pass that panels draw (δ's, slopes), the explained steps and the loss
landscape evaluate through them too (``visualizer.record``). The compiled per-sample kernels
(:mod:`~visualizer.engine.kernels`) are the one other copy, written out for speed and checked against these in
the tests.

For a dense layer with weights stored (inputs, outputs)::

    forward:   z = x @ W + b,    a = act(z)
    backward:  δ = ∂L/∂a ⊙ act′(z),    ∂L/∂W = xᵀ δ,    ∂L/∂b = Σ_n δ,    ∂L/∂x = δ Wᵀ

:func:`dense_forward` works on a batch ``x`` (samples, inputs), and on stacked parameter sets (a leading axis of
points on ``W`` and ``b``, as a loss landscape evaluates thousands of points at once).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..base.errors import LayerSettingError
from .init import DEFAULT_INIT, Init, get_init

ArrayFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Activation:
    """An elementwise function with its derivative with respect to the pre-activation ``z``."""

    name: str
    fn: ArrayFn
    deriv: ArrayFn
    # Optional shortcut: the derivative expressed through the output a = fn(z) (sigmoid: a(1-a)).
    deriv_from_output: ArrayFn | None = None
    # The gain He initialization scales by (torch.nn.init.calculate_gain's value for this function).
    gain: float = 1.0

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self.fn(z)

    def forward(self, z: np.ndarray) -> np.ndarray:
        """The activation ``a = fn(z)``."""
        return self.fn(z)

    def slope(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        """The derivative at ``z``, given ``a = fn(z)`` already computed."""
        if self.deriv_from_output is not None:
            return self.deriv_from_output(a)
        return self.deriv(z)

    def backward(self, grad_a: np.ndarray, z: np.ndarray, a: np.ndarray,
                 slope: np.ndarray | None = None) -> np.ndarray:
        """∂L/∂z = ∂L/∂a ⊙ act′(z), with ``slope`` = act′(z) if it was already computed.

        The built-in identity hands ``grad_a`` back as it is: its slope is 1, and a multiply by ones is wasted
        work in a per-sample loop.
        """
        if self is identity:
            return grad_a
        return grad_a * (self.slope(z, a) if slope is None else slope)

    def __repr__(self) -> str:
        return f"Activation({self.name})"


def _floating(z: np.ndarray) -> np.ndarray:
    """``z`` as floating point, keeping single precision where it is (a loss landscape's grid is computed in
    float32); anything else as float64."""
    z = np.asarray(z)
    return z if z.dtype in (np.float32, np.float64) else z.astype(float)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # exp(-softplus(-z)): never overflows, keeps tiny values for very negative z (where 1 - 1/(1+e) would
    # round to 0), and is two ufuncs, which matters for per-sample training on small layers.
    z = _floating(z)
    if z.dtype == np.float32:  # a landscape's grid: ½(1 + tanh(z/2)), the same function, six times faster
        return 0.5 + 0.5 * np.tanh(0.5 * z)  # in single precision (within 6e-8 of the double form)
    return np.exp(-np.logaddexp(0.0, -z))


def _softplus(z: np.ndarray) -> np.ndarray:
    # log(1 + e^z) computed as logaddexp(0, z): exact for large |z| where the naive form overflows.
    return np.logaddexp(0.0, z)


def _tanh_slope(z: np.ndarray) -> np.ndarray:
    return 1.0 - np.tanh(z) ** 2


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def _relu_slope(z: np.ndarray) -> np.ndarray:
    return (np.asarray(z) > 0).astype(float)


def _identity(z: np.ndarray) -> np.ndarray:
    return _floating(z)


def _ones(z: np.ndarray) -> np.ndarray:
    return np.ones_like(z, dtype=float)


_erf = np.frompyfunc(math.erf, 1, 1)  # numpy has no erf; math.erf is exact to the last bit or two
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    """Φ(z) = (1 + erf(z/√2)) / 2, elementwise, float64."""
    z = np.asarray(z, dtype=float)
    return 0.5 * (1.0 + _erf(z * _SQRT_HALF).astype(float))


def _erf_single(x: np.ndarray) -> np.ndarray:
    """erf in single precision for a landscape's grid: Abramowitz & Stegun 7.1.26 (absolute error under
    1.5e-7, a float32's own resolution near 1), whole-array arithmetic instead of a Python call per element."""
    t = 1.0 / (1.0 + np.float32(0.3275911) * np.abs(x))
    poly = t * (np.float32(0.254829592) + t * (np.float32(-0.284496736) + t * (
        np.float32(1.421413741) + t * (np.float32(-1.453152027) + t * np.float32(1.061405429)))))
    return np.copysign(1.0 - poly * np.exp(-x * x), x)


def _gelu(z: np.ndarray) -> np.ndarray:
    # PyTorch's default GELU: the exact z·Φ(z), not the tanh approximation.
    z = _floating(z)
    if z.dtype == np.float32:
        return z * (0.5 * (1.0 + _erf_single(z * np.float32(_SQRT_HALF))))
    return z * _normal_cdf(z)


def _gelu_slope(z: np.ndarray) -> np.ndarray:
    # d/dz z·Φ(z) = Φ(z) + z·φ(z)
    z = np.asarray(z, dtype=float)
    return _normal_cdf(z) + z * _INV_SQRT_2PI * np.exp(-0.5 * z * z)


def leaky_relu_activation(slope: float = 0.01) -> Activation:
    """Leaky ReLU, ``z`` for z > 0 and ``slope·z`` otherwise (PyTorch's default slope 0.01); its slope at 0
    is ``slope``, as PyTorch's backward has it. Named ``leaky_relu`` for 0.01, ``leaky_relu:<slope>`` else."""
    slope = float(slope)
    if not (math.isfinite(slope) and 0.0 <= slope < 1.0):
        raise LayerSettingError(f"leaky_relu's slope must be in [0, 1), got {slope:g}")
    name = "leaky_relu" if slope == 0.01 else f"leaky_relu:{slope:g}"
    return Activation(name, lambda z: np.where(np.asarray(z) > 0, z, slope * _floating(z)),
                      lambda z: np.where(np.asarray(z) > 0, 1.0, slope),
                      gain=math.sqrt(2.0 / (1.0 + slope * slope)))


sigmoid = Activation("sigmoid", _sigmoid, lambda z: _sigmoid(z) * (1.0 - _sigmoid(z)), lambda a: a * (1.0 - a))
# He's gain for softplus and GELU is ReLU's √2: PyTorch's calculate_gain knows neither; both are smooth ReLUs.
softplus = Activation("softplus", _softplus, _sigmoid, gain=math.sqrt(2.0))
tanh = Activation("tanh", np.tanh, _tanh_slope, lambda a: 1.0 - a * a, gain=5.0 / 3.0)
relu = Activation("relu", _relu, _relu_slope, gain=math.sqrt(2.0))
identity = Activation("identity", _identity, _ones, _ones)
leaky_relu = leaky_relu_activation(0.01)
gelu = Activation("gelu", _gelu, _gelu_slope, gain=math.sqrt(2.0))

ACTIVATIONS: dict[str, Activation] = {a.name: a for a in (sigmoid, softplus, tanh, relu, identity, leaky_relu, gelu)}


def get_activation(spec: str | Activation) -> Activation:
    """Look up a built-in activation by name (``leaky_relu:0.2`` for another slope), or pass a user-defined
    :class:`Activation` through. An unknown name is one clear line (:class:`LayerSettingError`)."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str) and spec in ACTIVATIONS:
        return ACTIVATIONS[spec]
    if isinstance(spec, str) and spec.startswith("leaky_relu:"):
        try:
            slope = float(spec.partition(":")[2])
        except ValueError:
            raise LayerSettingError(f"activation {spec!r}: give leaky_relu's slope as a number, "
                                    "e.g. 'leaky_relu:0.2'") from None
        return leaky_relu_activation(slope)
    known = ", ".join(sorted(ACTIVATIONS))
    raise LayerSettingError(f"unknown activation {spec!r}; use one of {known} (or leaky_relu:<slope>) "
                            "or an Activation(name, fn, deriv)")


# ---- the dense layer: forward beside backward, as functions of the parameters ----

class DenseCache:
    """What a dense layer's forward pass keeps for its backward pass: its input ``x``, pre-activation ``z``
    and output ``a``, and the slope act′(z) once something has asked for it (:attr:`slope`); after a backward
    pass through it, the δ = ∂L/∂z it computed (:attr:`delta`)."""

    __slots__ = ("x", "z", "a", "activation", "_slope", "delta")

    def __init__(self, x: np.ndarray, z: np.ndarray, a: np.ndarray, activation: Activation) -> None:
        self.x, self.z, self.a, self.activation = x, z, a, activation
        self._slope: np.ndarray | None = None
        self.delta: np.ndarray | None = None

    @property
    def slope(self) -> np.ndarray:
        """act′(z), computed on first use and kept for the backward pass."""
        if self._slope is None:
            self._slope = self.activation.slope(self.z, self.a)
        return self._slope

    def __repr__(self) -> str:
        return f"DenseCache({self.activation.name}, x {np.shape(self.x)} → a {np.shape(self.a)})"


def dense_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                  activation: Activation) -> DenseCache:
    """``z = x @ weight + bias``, ``a = activation(z)``, for a batch ``x`` (samples, inputs).

    ``weight`` is (inputs, outputs) and ``bias`` (outputs,) or None. For stacked parameter sets, ``weight`` is
    (points, inputs, outputs) and ``bias`` (points, outputs); ``x`` is then (samples, inputs) broadcast to every
    point, or (points, samples, inputs), and ``z`` and ``a`` are (points, samples, outputs).
    """
    z = x @ weight
    if bias is not None:
        z = z + (bias[..., None, :] if weight.ndim > 2 else bias)
    return DenseCache(x, z, activation.fn(z), activation)


def dense_backward(grad_a: np.ndarray, cache: DenseCache, weight: np.ndarray, *,
                   grads: dict[str, np.ndarray] | None = None,
                   input_grad: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Backward through a dense layer from ∂L/∂a: returns (δ = ∂L/∂z, ∂L/∂x, or None unless ``input_grad``).

    With ``grads`` (arrays named ``weight`` and, for a layer with a bias, ``bias``), ∂L/∂W and ∂L/∂b are
    written into them: a training loop keeps one fixed set of gradient arrays.
    """
    delta = cache.activation.backward(grad_a, cache.z, cache.a, cache._slope)
    cache.delta = delta
    if grads is not None:
        weight_grad(cache.x, delta, out=grads["weight"])
        if "bias" in grads:
            bias_grad(delta, out=grads["bias"])
    return delta, (delta @ weight.T if input_grad else None)


def weight_grad(x: np.ndarray, delta: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """∂L/∂W = xᵀ δ, (inputs, outputs), from a layer's input ``x`` and its δ (samples, outputs)."""
    return np.matmul(x.T, delta, out=out)


def bias_grad(delta: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """∂L/∂b = δ summed over the samples."""
    return delta.sum(axis=0, out=out)


class Dense:
    """A fully connected layer ``a = act(x @ weight + bias)`` with ``weight`` of shape (inputs, outputs).

    The initial weight is given (``weight=``) or drawn from ``rng`` by ``init``, a name from
    :mod:`~visualizer.engine.init` (``"he"``, ``"xavier"``, ``"normal:0.1"``, ``"zeros"``, …); without
    ``init``, Glorot-uniform, which keeps sigmoid and tanh units out of saturation. A network's own ``init=``
    (:class:`Network`) re-draws the layers that were left to the default.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        activation: str | Activation = "identity",
        *,
        bias: bool = True,
        name: str = "dense",
        weight: np.ndarray | None = None,
        bias_init: np.ndarray | None = None,
        rng: np.random.Generator | None = None,
        init: str | Init | None = None,
    ) -> None:
        if n_in < 1 or n_out < 1:
            raise ValueError(f"layer {name!r} needs at least one input and one output, got {n_in}→{n_out}")
        self.name = name
        self.n_in, self.n_out = n_in, n_out
        self.activation = get_activation(activation)
        self._rng = rng
        # The initialization the weight was drawn by (None: given as weight=); init_chosen: named, not default.
        self.init: Init | None = None
        self.init_chosen = init is not None
        if weight is None:
            chosen = get_init(DEFAULT_INIT if init is None else init)
            if rng is None and chosen.kind != "zeros":
                raise ValueError(f"layer {name!r}: give its initial weight= or an rng= to draw it from")
            weight = chosen.draw(rng, n_in, n_out, self.activation.gain)
            self.init = chosen
        elif init is not None:
            raise ValueError(f"layer {name!r}: give its initial weight= or an init= to draw it by, not both")
        self.weight = np.array(weight, dtype=float).reshape(n_in, n_out)
        self.bias: np.ndarray | None = None
        if bias:
            self.bias = np.zeros(n_out) if bias_init is None else np.array(bias_init, dtype=float).reshape(n_out)
        elif bias_init is not None:
            raise ValueError(f"layer {name!r} has bias=False but was given bias_init")
        self._cache: DenseCache | None = None
        self.grads: dict[str, np.ndarray] = {k: np.zeros_like(v) for k, v in self.params().items()}

    def params(self) -> dict[str, np.ndarray]:
        """This layer's parameter arrays by short name (the arrays themselves, not copies)."""
        out = {"weight": self.weight}
        if self.bias is not None:
            out["bias"] = self.bias
        return out

    def initialize(self, init: str | Init, rng: np.random.Generator | None = None) -> None:
        """Draw the weight again by ``init`` (from ``rng``, or the generator the layer was built with) and
        set the bias to zero, in place: the network's parameter arrays stay the same objects."""
        chosen = get_init(init)
        rng = self._rng if rng is None else rng
        if rng is None and chosen.kind != "zeros":
            raise ValueError(f"layer {self.name!r}: init {chosen.spec!r} needs an rng= to draw from")
        self.weight[...] = chosen.draw(rng, self.n_in, self.n_out, self.activation.gain)
        if self.bias is not None:
            self.bias[...] = 0.0
        self.init = chosen

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Compute the layer's output for a batch ``x`` of shape (batch, inputs), keeping what backward needs."""
        self._cache = dense_forward(x, self.weight, self.bias, self.activation)
        return self._cache.a

    def backward(self, grad_a: np.ndarray) -> np.ndarray:
        """Given dL/d(output), store dL/d(param) in ``grads`` and return dL/d(input)."""
        if self._cache is None:
            raise RuntimeError(f"layer {self.name!r}: backward() called before forward()")
        # Written into the same arrays every time, so Network.gradients() can hand out one fixed mapping.
        return dense_backward(grad_a, self._cache, self.weight, grads=self.grads)[1]

    def __repr__(self) -> str:
        extra = "" if self.bias is not None else ", no bias"
        return f"Dense({self.name}: {self.n_in}→{self.n_out}, {self.activation.name}{extra})"


class Network:
    """A stack of layers whose parameters are named ``<layer>.<weight|bias>``: :class:`Dense` layers, and
    between them :class:`~visualizer.engine.norm.BatchNorm` and :class:`~visualizer.engine.norm.Dropout`.

    ``init`` (a name from :mod:`~visualizer.engine.init`: ``"he"``, ``"xavier"``, ``"normal:0.1"``, …) re-draws
    every dense layer that was left to the default initialization, each from its own generator; a layer given
    its ``weight=`` or its own ``init=`` keeps it.

    Like a PyTorch module, a network is in training mode (:meth:`train`) or evaluation mode (:meth:`eval`):
    batch norm normalizes by the batch's statistics or by its running ones, dropout drops units or passes
    everything. A network of dense layers only computes the same in both. A new network is in training mode.
    """

    def __init__(self, layers: list, *, init: str | Init | None = None) -> None:
        if not layers:
            raise ValueError("a network needs at least one layer")
        names = [layer.name for layer in layers]
        if len(set(names)) != len(names):
            raise ValueError(f"layer names must be unique, got {names}")
        if getattr(layers[0], "n_in", None) is None:
            raise ValueError(f"the first layer {layers[0].name!r} must know its inputs: start with a Dense or "
                             "a BatchNorm")
        width = layers[0].n_in
        for before, layer in zip([None, *layers], layers):
            if getattr(layer, "n_in", None) is None:  # dropout: as wide as what comes in
                layer.attach(width)
            elif layer.n_in != width:
                raise ValueError(f"layer {before.name!r} has {width} outputs but {layer.name!r} expects "
                                 f"{layer.n_in} inputs")
            width = layer.n_out
        self.layers = list(layers)
        if init is not None:
            chosen = get_init(init)
            for layer in self.layers:
                if isinstance(layer, Dense) and layer.init is not None and not layer.init_chosen:
                    layer.initialize(chosen)
        self._params = {f"{layer.name}.{k}": v for layer in self.layers for k, v in layer.params().items()}
        self._grads = {f"{layer.name}.{k}": layer.grads[k] for layer in self.layers for k in layer.params()}
        # While a recorded step is logged, the full-set pass its layers hold (engine/training.FullPass), else None.
        self.full_pass = None
        self.training = True

    def train(self, mode: bool = True) -> Network:
        """Training mode (or evaluation mode for ``mode=False``) for every layer that has modes; returns
        the network, as PyTorch's ``Module.train`` does."""
        self.training = bool(mode)
        for layer in self.layers:
            if hasattr(layer, "training"):
                layer.training = self.training
        return self

    def eval(self) -> Network:
        """Evaluation mode: batch norm uses its running statistics, dropout passes everything."""
        return self.train(False)

    @property
    def dense_only(self) -> bool:
        """Whether every layer is a :class:`Dense` (nothing computes differently in the two modes)."""
        return all(isinstance(layer, Dense) for layer in self.layers)

    @property
    def n_in(self) -> int:
        """Number of inputs."""
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        """Number of outputs."""
        return self.layers[-1].n_out

    def parameters(self) -> dict[str, np.ndarray]:
        """Every parameter array by full name, in layer order (the live arrays, updated in place by SGD)."""
        return dict(self._params)

    def gradients(self) -> dict[str, np.ndarray]:
        """The gradients from the last :meth:`backward`, by the same names as :meth:`parameters`.

        The arrays are overwritten by the next backward pass; copy them to keep them.
        """
        return self._grads

    def set_parameters(self, values: dict[str, np.ndarray]) -> None:
        """Overwrite parameters in place from a name → array mapping (shapes must match)."""
        params = self.parameters()
        for name, value in values.items():
            if name not in params:
                raise KeyError(f"no parameter {name!r}; the network has {list(params)}")
            params[name][...] = value

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The network's output for inputs of shape (batch, n_in)."""
        return self.activations(x)[-1]

    def activations(self, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's output for inputs of shape (batch, n_in), first layer first."""
        a = np.asarray(x, dtype=float)
        if a.ndim != 2 or a.shape[1] != self.n_in:
            raise ValueError(f"expected inputs of shape (batch, {self.n_in}), got {a.shape}")
        outs = []
        for layer in self.layers:
            a = layer.forward(a)
            outs.append(a)
        return outs

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Backpropagate dL/d(output) through every layer; returns dL/d(input)."""
        g = grad_out
        for layer in reversed(self.layers):
            g = layer.backward(g)
        return g

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        mode = "" if self.dense_only or self.training else ", eval mode"
        return f"Network([{inner}]{mode})"
