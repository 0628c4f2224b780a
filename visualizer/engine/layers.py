"""Layers and activations: each forward pass sits beside its derivative, so they can be checked together."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

ArrayFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Activation:
    """An elementwise function with its derivative with respect to the pre-activation ``z``."""

    name: str
    fn: ArrayFn
    deriv: ArrayFn
    # Optional shortcut: the derivative expressed through the output a = fn(z) (sigmoid: a(1-a)).
    deriv_from_output: ArrayFn | None = None

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self.fn(z)

    def slope(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        """The derivative at ``z``, given ``a = fn(z)`` already computed."""
        if self.deriv_from_output is not None:
            return self.deriv_from_output(a)
        return self.deriv(z)

    def __repr__(self) -> str:
        return f"Activation({self.name})"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # exp(-softplus(-z)): never overflows, keeps tiny values for very negative z (where 1 - 1/(1+e) would
    # round to 0), and is two ufuncs, which matters for per-sample training on small layers.
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=float)))


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
    return np.asarray(z, dtype=float)


def _ones(z: np.ndarray) -> np.ndarray:
    return np.ones_like(z, dtype=float)


sigmoid = Activation("sigmoid", _sigmoid, lambda z: _sigmoid(z) * (1.0 - _sigmoid(z)), lambda a: a * (1.0 - a))
softplus = Activation("softplus", _softplus, _sigmoid)
tanh = Activation("tanh", np.tanh, _tanh_slope, lambda a: 1.0 - a * a)
relu = Activation("relu", _relu, _relu_slope)
identity = Activation("identity", _identity, _ones, _ones)

ACTIVATIONS: dict[str, Activation] = {a.name: a for a in (sigmoid, softplus, tanh, relu, identity)}


def get_activation(spec: str | Activation) -> Activation:
    """Look up a built-in activation by name, or pass a user-defined :class:`Activation` through."""
    if isinstance(spec, Activation):
        return spec
    try:
        return ACTIVATIONS[spec]
    except KeyError:
        known = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"unknown activation {spec!r}; use one of {known} or an Activation(name, fn, deriv)") from None


class Dense:
    """A fully connected layer ``a = act(x @ weight + bias)`` with ``weight`` of shape (inputs, outputs)."""

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
    ) -> None:
        if n_in < 1 or n_out < 1:
            raise ValueError(f"layer {name!r} needs at least one input and one output, got {n_in}→{n_out}")
        self.name = name
        self.n_in, self.n_out = n_in, n_out
        self.activation = get_activation(activation)
        if weight is None:
            if rng is None:
                raise ValueError(f"layer {name!r}: give its initial weight= or an rng= to draw it from")
            limit = np.sqrt(6.0 / (n_in + n_out))  # Glorot-uniform: keeps sigmoid/tanh units out of saturation
            weight = rng.uniform(-limit, limit, size=(n_in, n_out))
        self.weight = np.array(weight, dtype=float).reshape(n_in, n_out)
        self.bias: np.ndarray | None = None
        if bias:
            self.bias = np.zeros(n_out) if bias_init is None else np.array(bias_init, dtype=float).reshape(n_out)
        elif bias_init is not None:
            raise ValueError(f"layer {name!r} has bias=False but was given bias_init")
        self._x: np.ndarray | None = None
        self._z: np.ndarray | None = None
        self._a: np.ndarray | None = None
        self.grads: dict[str, np.ndarray] = {k: np.zeros_like(v) for k, v in self.params().items()}

    def params(self) -> dict[str, np.ndarray]:
        """This layer's parameter arrays by short name (the arrays themselves, not copies)."""
        out = {"weight": self.weight}
        if self.bias is not None:
            out["bias"] = self.bias
        return out

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Compute the layer's output for a batch ``x`` of shape (batch, inputs), keeping what backward needs."""
        z = x @ self.weight
        if self.bias is not None:
            z = z + self.bias
        a = self.activation.fn(z)
        self._x, self._z, self._a = x, z, a
        return a

    def backward(self, grad_a: np.ndarray) -> np.ndarray:
        """Given dL/d(output), store dL/d(param) in ``grads`` and return dL/d(input)."""
        if self._x is None:
            raise RuntimeError(f"layer {self.name!r}: backward() called before forward()")
        if self.activation is identity:  # slope 1: skip a multiply by ones
            grad_z = grad_a
        else:
            grad_z = grad_a * self.activation.slope(self._z, self._a)
        # Written into the same arrays every time, so Network.gradients() can hand out one fixed mapping.
        np.matmul(self._x.T, grad_z, out=self.grads["weight"])
        if self.bias is not None:
            grad_z.sum(axis=0, out=self.grads["bias"])
        return grad_z @ self.weight.T

    def __repr__(self) -> str:
        extra = "" if self.bias is not None else ", no bias"
        return f"Dense({self.name}: {self.n_in}→{self.n_out}, {self.activation.name}{extra})"


class Network:
    """A stack of :class:`Dense` layers whose parameters are named ``<layer>.<weight|bias>``."""

    def __init__(self, layers: list[Dense]) -> None:
        if not layers:
            raise ValueError("a network needs at least one layer")
        names = [layer.name for layer in layers]
        if len(set(names)) != len(names):
            raise ValueError(f"layer names must be unique, got {names}")
        for a, b in zip(layers, layers[1:]):
            if a.n_out != b.n_in:
                raise ValueError(f"layer {a.name!r} has {a.n_out} outputs but {b.name!r} expects {b.n_in} inputs")
        self.layers = list(layers)
        self._params = {f"{layer.name}.{k}": v for layer in self.layers for k, v in layer.params().items()}
        self._grads = {f"{layer.name}.{k}": layer.grads[k] for layer in self.layers for k in layer.params()}

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
        return f"Network([{inner}])"
