"""Batch norm and dropout: layers that compute differently while training and while evaluating.

Each forward pass sits beside its backward pass, as in :mod:`~visualizer.engine.layers`, and each follows
PyTorch (``nn.BatchNorm1d``, ``nn.Dropout``) so that the numbers agree with it to rounding. A
:class:`~visualizer.engine.layers.Network` puts them in training mode (:meth:`Network.train`) or evaluation
mode (:meth:`Network.eval`); the trainer trains in training mode and the recorder evaluates in evaluation mode.

Batch norm over a batch ``x`` (samples, units), per unit::

    training:  μ = mean(x),  σ² = mean((x − μ)²)  (biased),  x̂ = (x − μ) / √(σ² + ε),  y = γ x̂ + β
               (then its activation, identity unless given: a = act(y), g = ∂L/∂a ⊙ act′(y) = ∂L/∂y)
               running_mean ← (1 − m) running_mean + m μ,  running_var ← (1 − m) running_var + m σ² n/(n − 1)
    backward:  ∂L/∂γ = Σ g x̂,  ∂L/∂β = Σ g,
               ∂L/∂x = γ / (n √(σ² + ε)) · (n g − Σ g − x̂ Σ g x̂)
    evaluation: x̂ = (x − running_mean) / √(running_var + ε),  ∂L/∂x = γ g / √(running_var + ε)

Inverted dropout keeps each unit with probability 1 − p and scales what it keeps by 1 / (1 − p), so that
nothing changes at evaluation, where it passes everything::

    training:  mask = (u ≥ p) / (1 − p) with u ~ U[0, 1),  y = x ⊙ mask,  ∂L/∂x = g ⊙ mask
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Iterator

import numpy as np

from ..base.errors import LayerSettingError
from .layers import Activation, get_activation


class BatchNorm:
    """Batch normalization of ``n`` units (PyTorch's ``BatchNorm1d(n)``): learnable γ (``weight``, starting at
    1) and β (``bias``, starting at 0), running statistics for evaluation with PyTorch's ``momentum``
    convention (the weight of the new batch, 0.1), and ``eps`` under the square root.

    ``activation`` is applied after it, ``a = act(γ x̂ + β)``: batch norm between a dense layer's product and
    its nonlinearity, as Ioffe and Szegedy place it, is ``Dense(n_in, n, "identity")`` then
    ``BatchNorm(n, activation="tanh")`` (``nn.Linear``, ``nn.BatchNorm1d``, ``nn.Tanh`` in PyTorch).

    The running statistics are state, not parameters: the optimizer never sees them
    (:attr:`running_mean`, :attr:`running_var`).
    """

    def __init__(self, n: int, activation: str | Activation = "identity", *, name: str = "batchnorm",
                 momentum: float = 0.1, eps: float = 1e-5) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise LayerSettingError(f"batch norm {name!r} needs a whole number of units, got {n!r}")
        if not 0.0 <= momentum <= 1.0:
            raise LayerSettingError(f"batch norm {name!r}: momentum must be in [0, 1], got {momentum:g}")
        if not eps > 0:
            raise LayerSettingError(f"batch norm {name!r}: eps must be positive, got {eps:g}")
        self.name = name
        self.n_in = self.n_out = int(n)
        self.activation = get_activation(activation)
        self.momentum, self.eps = float(momentum), float(eps)
        self.weight = np.ones(self.n_in)
        self.bias = np.zeros(self.n_in)
        self.running_mean = np.zeros(self.n_in)
        self.running_var = np.ones(self.n_in)
        self.batches_seen = 0
        self.training = True
        # The last training pass's batch statistics μ and σ² (biased), for the history (None until one ran).
        self.batch_mean: np.ndarray | None = None
        self.batch_var: np.ndarray | None = None
        self.grads: dict[str, np.ndarray] = {k: np.zeros_like(v) for k, v in self.params().items()}
        # (x̂, 1/√(σ²+ε), training, z = γx̂ + β, a = act(z))
        self._cache: tuple[np.ndarray, np.ndarray, bool, np.ndarray, np.ndarray] | None = None

    def params(self) -> dict[str, np.ndarray]:
        """γ as ``weight`` and β as ``bias`` (the live arrays), as PyTorch names them."""
        return {"weight": self.weight, "bias": self.bias}

    def normalize(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x̂, 1/√(σ²+ε)) by the statistics of the current mode, updating the running ones when training."""
        if not self.training:
            inv_std = 1.0 / np.sqrt(self.running_var + self.eps)
            return (x - self.running_mean) * inv_std, inv_std
        n = len(x)
        if n < 2:
            raise LayerSettingError(f"batch norm {self.name!r} cannot train on a batch of one sample (its "
                                    "variance is 0): use batches of at least 2, or full-batch training")
        mean = x.mean(axis=0)
        var = x.var(axis=0)
        self.batch_mean, self.batch_var = mean, var
        m = self.momentum
        self.running_mean *= 1.0 - m
        self.running_mean += m * mean
        self.running_var *= 1.0 - m
        self.running_var += m * var * (n / (n - 1))
        self.batches_seen += 1
        inv_std = 1.0 / np.sqrt(var + self.eps)
        return (x - mean) * inv_std, inv_std

    def forward(self, x: np.ndarray) -> np.ndarray:
        """a = act(γ x̂ + β) for a batch ``x`` (samples, units), keeping what backward needs."""
        x_hat, inv_std = self.normalize(np.asarray(x, dtype=float))
        z = x_hat * self.weight + self.bias
        a = self.activation.fn(z)
        self._cache = (x_hat, inv_std, self.training, z, a)
        return a

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Given ∂L/∂a, store ∂L/∂γ and ∂L/∂β in ``grads`` and return ∂L/∂x (through the batch's statistics
        when the forward pass trained, through the fixed running ones when it evaluated)."""
        if self._cache is None:
            raise RuntimeError(f"layer {self.name!r}: backward() called before forward()")
        x_hat, inv_std, training, z, a = self._cache
        g = self.activation.backward(np.asarray(grad_out, dtype=float), z, a)  # ∂L/∂(γx̂ + β)
        sum_g = g.sum(axis=0)
        sum_g_xhat = (g * x_hat).sum(axis=0)
        self.grads["weight"][...] = sum_g_xhat
        self.grads["bias"][...] = sum_g
        if not training:
            return g * (self.weight * inv_std)
        n = len(g)
        return (self.weight * inv_std / n) * (n * g - sum_g - x_hat * sum_g_xhat)

    def __repr__(self) -> str:
        act = "" if self.activation.name == "identity" else f", {self.activation.name}"
        return f"BatchNorm({self.name}: {self.n_in}{act}, momentum={self.momentum:g}, eps={self.eps:g})"


class Dropout:
    """Inverted dropout with drop probability ``p`` in [0, 1) (PyTorch's ``nn.Dropout(p)``): while training,
    each unit is zeroed with probability p and the kept ones are scaled by 1/(1 − p); while evaluating it
    passes everything. Its masks come from ``rng`` (build it from the scene's seed, as the dense layers'), so
    a run is reproducible. It is as wide as the layer before it (set when the network is built).
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | None = None, name: str = "dropout") -> None:
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not (0.0 <= p < 1.0):
            raise LayerSettingError(f"dropout {name!r}: p is the probability of dropping a unit and must be in "
                                    f"[0, 1), got {p!r}")
        if rng is None and p > 0:
            raise LayerSettingError(f"dropout {name!r}: give it an rng= to draw its masks from (built from "
                                    "the scene's seed)")
        self.name = name
        self.p = float(p)
        self.rng = rng
        self.n_in: int | None = None
        self.n_out: int | None = None
        self.training = True
        self.grads: dict[str, np.ndarray] = {}
        self.mask: np.ndarray | None = None  # the last training pass's mask (kept units 1/(1-p), dropped 0)

    def attach(self, width: int) -> None:
        """Take the width of the layer before (called by the network)."""
        self.n_in = self.n_out = int(width)

    def params(self) -> dict[str, np.ndarray]:
        """No parameters."""
        return {}

    def draw_mask(self, shape: tuple[int, ...]) -> np.ndarray:
        """A fresh mask: 1/(1 − p) where a unit is kept, 0 where it is dropped."""
        keep = self.rng.random(shape) >= self.p
        return keep / (1.0 - self.p)

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """x ⊙ mask while training (a fresh mask, or the ``mask`` given), x itself while evaluating."""
        x = np.asarray(x, dtype=float)
        if not self.training or self.p == 0.0:
            self.mask = None
            return x
        self.mask = self.draw_mask(x.shape) if mask is None else np.asarray(mask, dtype=float)
        if self.mask.shape != x.shape:
            raise ValueError(f"dropout {self.name!r}: mask of shape {self.mask.shape} for inputs {x.shape}")
        return x * self.mask

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """∂L/∂x = ∂L/∂y ⊙ mask (the last forward pass's), or ∂L/∂y where nothing was dropped."""
        return grad_out if self.mask is None else grad_out * self.mask

    def __repr__(self) -> str:
        width = "" if self.n_in is None else f"{self.n_in}, "
        return f"Dropout({self.name}: {width}p={self.p:g})"


def mode_layers(network: object) -> list:
    """The network's batch-norm and dropout layers, in order (empty for a network of dense layers only, or a
    model that is not the engine's ``Network``)."""
    return [layer for layer in getattr(network, "layers", []) if isinstance(layer, (BatchNorm, Dropout))]


@contextmanager
def looking_ahead(network: object) -> Iterator[None]:
    """The block may run the network in training mode without changing what training does next: the
    dropout layers' generators and batch norm's running statistics are put back afterwards. A training pass
    on the batch the next update takes, run inside it, draws exactly the masks that update will draw (the
    recorder records the step's own masks this way)."""
    layers = mode_layers(network)
    rngs = {id(lay.rng): (lay.rng, copy.deepcopy(lay.rng.bit_generator.state))
            for lay in layers if isinstance(lay, Dropout) and lay.rng is not None}
    norms = [(lay, lay.running_mean.copy(), lay.running_var.copy(), lay.batches_seen)
             for lay in layers if isinstance(lay, BatchNorm)]
    try:
        yield
    finally:
        for rng, state in rngs.values():
            rng.bit_generator.state = state
        for lay, mean, var, seen in norms:
            lay.running_mean[...], lay.running_var[...], lay.batches_seen = mean, var, seen


def mask_key(name: str) -> str:
    """The history extra of dropout layer ``name``'s masks at a recorded step: ``dropout/<name>/mask``."""
    return f"dropout/{name}/mask"


def norm_key(name: str, stat: str) -> str:
    """The history extra of batch norm ``name``'s statistic (``mean``, ``var``, ``running_mean``,
    ``running_var``) at a recorded step: ``batchnorm/<name>/<stat>``."""
    return f"batchnorm/{name}/{stat}"


def unrecorded(layer: dict, extras, params) -> list[str]:
    """What a training pass through ``layer`` (an entry of a run's ``other_layers``: dropout or batch norm)
    needs from a history and ``extras`` (its extras) or ``params`` (its parameters) lack, by key: a dropout's
    masks (none when p is 0); a batch norm's batch and running statistics, and its γ and β."""
    name = layer.get("name")
    if layer.get("kind") == "dropout":
        return [mask_key(name)] if layer.get("p", 0) and mask_key(name) not in extras else []
    missing = [k for k in (norm_key(name, s) for s in ("mean", "var", "running_mean", "running_var"))
               if k not in extras]
    return missing + [k for k in (f"{name}.weight", f"{name}.bias") if k not in params]


__all__ = ["BatchNorm", "Dropout", "looking_ahead", "mask_key", "mode_layers", "norm_key", "unrecorded"]
