"""Initial weights by name, with :mod:`torch.nn.init`'s formulas.

A dense layer's weight is (inputs, outputs), so its fan-in is the number of inputs and its fan-out the number
of outputs (PyTorch's ``nn.Linear`` stores the transpose and counts the same fans). Biases start at zero.

=====================================================  ===================================================
spec                                                   weights drawn from
=====================================================  ===================================================
``"zeros"``                                            all zero (no unit can differ from its neighbours)
``"normal:std"``                                       N(0, std²), e.g. ``"normal:0.01"``
``"uniform:a"``                                        U(−a, a), e.g. ``"uniform:0.5"``
``"xavier"``, ``"glorot"``, ``"xavier_uniform"``       U(−b, b), b = √(6 / (fan_in + fan_out)): the default
``"xavier_normal"``, ``"glorot_normal"``               N(0, σ²), σ = √(2 / (fan_in + fan_out))
``"he"``, ``"kaiming"``, ``"he_normal"``               N(0, σ²), σ = gain / √fan_in
``"he_uniform"``, ``"kaiming_uniform"``                U(−b, b), b = gain · √(3 / fan_in)
``"small"``                                            ``"normal:0.01"`` (CS231n's ``0.01·randn``)
``"large"``                                            ``"normal:10"`` (the deep-learning specialization's
                                                       "large random" initialization, ``10·randn``)
=====================================================  ===================================================

Xavier uses gain 1 (``xavier_uniform_``'s default); He takes the gain of the layer's own activation
(:attr:`Activation.gain <visualizer.engine.layers.Activation>`, as ``torch.nn.init.calculate_gain`` gives it):
1 for identity and sigmoid, 5/3 for tanh, √2 for ReLU, √(2 / (1 + slope²)) for leaky ReLU. PyTorch has no gain
for softplus and GELU; both are smooth ReLUs, so they take ReLU's √2. "he" alone is the normal draw, as in
He et al. (2015) and Karpathy's makemore.

With no ``init``, a layer draws Glorot-uniform exactly as it always has: the same numbers from the same
generator, so the bundled scenes' histories are unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..base.errors import LayerSettingError

DEFAULT_INIT = "xavier_uniform"

# Every accepted name → the kind it draws (the scaled names take a number after a colon).
_KINDS = {
    "zeros": "zeros", "normal": "normal", "uniform": "uniform",
    "xavier": "xavier_uniform", "glorot": "xavier_uniform", "xavier_uniform": "xavier_uniform",
    "glorot_uniform": "xavier_uniform", "xavier_normal": "xavier_normal", "glorot_normal": "xavier_normal",
    "he": "kaiming_normal", "kaiming": "kaiming_normal", "he_normal": "kaiming_normal",
    "kaiming_normal": "kaiming_normal", "he_uniform": "kaiming_uniform", "kaiming_uniform": "kaiming_uniform",
}
_SCALED = ("normal", "uniform")
# Named scales, for lessons that compare them: each stands for a normal draw of that standard deviation.
_PRESETS = {"small": "normal:0.01", "large": "normal:10"}
_NAMES = "zeros, small, large, normal:<std>, uniform:<a>, xavier (glorot), xavier_normal, he (kaiming), he_uniform"


@dataclass(frozen=True)
class Init:
    """A parsed initialization: its ``kind`` (``zeros``, ``normal``, ``uniform``, ``xavier_uniform``,
    ``xavier_normal``, ``kaiming_normal``, ``kaiming_uniform``) and, for ``normal``/``uniform``, its
    ``scale`` (the standard deviation, or the bound a)."""

    spec: str
    kind: str
    scale: float | None = None

    def bound_or_std(self, n_in: int, n_out: int, gain: float = 1.0) -> float:
        """The bound b of a uniform draw, or the standard deviation σ of a normal one (0 for zeros)."""
        if self.kind == "zeros":
            return 0.0
        if self.scale is not None:
            return self.scale
        if self.kind == "xavier_uniform":
            return math.sqrt(6.0 / (n_in + n_out))
        if self.kind == "xavier_normal":
            return math.sqrt(2.0 / (n_in + n_out))
        return gain / math.sqrt(n_in) if self.kind == "kaiming_normal" else gain * math.sqrt(3.0 / n_in)

    @property
    def uniform(self) -> bool:
        """Whether the draw is uniform (else normal, or zeros)."""
        return self.kind.endswith("uniform")

    def draw(self, rng: np.random.Generator | None, n_in: int, n_out: int, gain: float = 1.0) -> np.ndarray:
        """A fresh (n_in, n_out) weight (``gain`` is the layer's activation's, used by He only); zeros need
        no generator."""
        if self.kind == "zeros":
            return np.zeros((n_in, n_out))
        if rng is None:
            raise LayerSettingError(f"init {self.spec!r} draws random weights: give the layer an rng=")
        size = self.bound_or_std(n_in, n_out, gain)
        if self.uniform:
            return rng.uniform(-size, size, size=(n_in, n_out))
        return rng.normal(0.0, size, size=(n_in, n_out))

    def __str__(self) -> str:
        return self.spec


def get_init(spec: str | Init) -> Init:
    """Parse an initialization name (see the module's table); an unknown one is one clear line."""
    if isinstance(spec, Init):
        return spec
    if not isinstance(spec, str):
        raise LayerSettingError(f"init must be a name such as 'he' or 'normal:0.1', got {spec!r}")
    name, _, arg = spec.strip().lower().partition(":")
    if name in _PRESETS:
        if arg:
            raise LayerSettingError(f"init {spec!r}: {name!r} stands for {_PRESETS[name]!r} and takes no number "
                                    "after a colon")
        return Init(name, "normal", float(_PRESETS[name].partition(":")[2]))
    kind = _KINDS.get(name)
    if kind is None:
        raise LayerSettingError(f"unknown init {spec!r}; use one of {_NAMES}")
    if kind in _SCALED:
        try:
            scale = float(arg)
        except ValueError:
            raise LayerSettingError(f"init {spec!r} needs its scale after a colon, e.g. '{name}:0.1'") from None
        if not (math.isfinite(scale) and scale > 0):
            raise LayerSettingError(f"init {spec!r}: the scale must be a positive number, got {arg}")
        return Init(f"{name}:{arg}", kind, scale)
    if arg:
        raise LayerSettingError(f"init {spec!r}: {name!r} takes no number after a colon")
    return Init(name, kind)


__all__ = ["DEFAULT_INIT", "Init", "get_init"]
