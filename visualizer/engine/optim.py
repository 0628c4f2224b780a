"""Optimizers update named parameter arrays in place from named gradients, with PyTorch's update rules.

Every optimizer takes ``step(params, grads)`` (dicts of arrays by parameter name; ``params`` are updated in
place), a learning rate ``lr`` that is a positive number or a schedule ``lr(step) -> float`` (``step`` is the
number of updates already applied, so the first update uses ``lr(0)``), and reports what it remembers between
steps through :meth:`Optimizer.state` so it can be recorded and drawn.

The formulas follow the "algorithm" boxes of the PyTorch documentation (torch.optim.SGD, RMSprop, Adam, AdamW,
without the ``maximize``/``amsgrad``/``foreach`` variants); ``g`` is the gradient, ``θ`` a parameter, ``γ``
the learning rate of this step and ``t`` the 1-based update count.
"""
from __future__ import annotations

import math
from typing import Callable, Union

import numpy as np

Schedule = Callable[[int], float]
LearningRate = Union[float, Schedule]


def _check_number(name: str, value: float, low: float = 0.0, high: float = math.inf, *,
                  high_open: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    too_high = value >= high if high_open else value > high
    if not math.isfinite(value) or value < low or too_high:
        bracket = ")" if high_open else "]"
        raise ValueError(f"{name} must be in [{low:g}, {high:g}{bracket}, got {value!r}")
    return value


def _check_rate(value: object, where: str) -> float:
    """A learning rate must be a finite number above zero; ``where`` says which one, for the message."""
    try:
        rate = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        rate = math.nan
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"learning rate {where}must be a positive finite number, got {value!r}")
    return rate


def _lr_text(lr: LearningRate, short: bool = False) -> str:
    if not callable(lr):
        return f"{lr:g}"
    if short and hasattr(lr, "describe"):
        return lr.describe()
    name = getattr(lr, "__name__", None)
    if name is not None:  # a plain function: its address would make the text differ run to run
        return "schedule" if name == "<lambda>" else name
    return repr(lr)


def _zeros_once(buffers: dict[str, np.ndarray], name: str, like: np.ndarray) -> np.ndarray:
    """The buffer for ``name``, created as zeros on first use (not allocated again every step)."""
    buf = buffers.get(name)
    if buf is None:
        buf = buffers[name] = np.zeros_like(like, dtype=float)
    return buf


class LinearDecay:
    """A learning-rate schedule falling linearly from ``start`` at step 0 to ``end`` at step ``steps``, then flat.

    ``LinearDecay(1.0, 0.1, 100)(k)`` is ``1.0 - 0.9 * k / 100`` for ``k < 100``: micrograd's demo schedule,
    bit for bit.
    """

    def __init__(self, start: float, end: float, steps: int) -> None:
        self.start = _check_rate(start, "at the start of a decay ")
        self.end = _check_rate(end, "at the end of a decay ")
        if int(steps) != steps or steps < 1:
            raise ValueError(f"a decay needs a whole number of steps >= 1, got {steps!r}")
        self.steps = int(steps)

    def __call__(self, step: int) -> float:
        return self.start - (self.start - self.end) * min(step, self.steps) / self.steps

    def describe(self) -> str:
        """Short text for legends: ``"1→0.1"``."""
        return f"{self.start:g}→{self.end:g}"

    def __repr__(self) -> str:
        return f"LinearDecay(start={self.start:g}, end={self.end:g}, steps={self.steps})"


class Optimizer:
    """What every optimizer shares: the learning rate (number or schedule), the update count, state, text.

    Subclasses implement ``_update(params, grads, lr)`` and name their per-parameter buffers in ``state_kinds()``.
    """

    # (argument, default) in signature order: repr and describe() show only the ones changed from default.
    _options: tuple[tuple[str, object], ...] = ()

    def __init__(self, lr: LearningRate) -> None:
        if not callable(lr):
            lr = _check_rate(lr, "")
        self.lr = lr
        self.steps_taken = 0
        # buffer kind ("momentum", "m", "v", ...) -> parameter name -> array, filled on the first update
        self._buffers: dict[str, dict[str, np.ndarray]] = {}

    def lr_at(self, step: int) -> float:
        """The learning rate of the update after ``step`` updates, checked to be a positive finite number."""
        if not callable(self.lr):
            return self.lr
        try:
            value = self.lr(step)
        except Exception as exc:  # a schedule is user code: say where it failed
            raise ValueError(f"learning-rate schedule {_lr_text(self.lr)} failed at step {step}: {exc}") from exc
        return _check_rate(value, f"from the schedule at step {step} ")

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Apply one update to every named parameter in place."""
        lr = self.lr if not callable(self.lr) else self.lr_at(self.steps_taken)
        self.steps_taken += 1
        self._update(params, grads, lr)

    def _update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], lr: float) -> None:
        raise NotImplementedError

    def state_kinds(self) -> tuple[str, ...]:
        """The kinds of state this optimizer keeps per parameter (``"m"``, ``"v"``, ...); empty if none."""
        return ()

    def state(self, params: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """The state to record, as fresh arrays named ``"<kind>/<parameter>"`` (e.g. ``"m/output.weight"``).

        Before the first update the buffers do not exist yet; pass ``params`` to get zeros of the right shapes
        then, so a recorder sees the same names and shapes at every step. Empty for plain SGD.
        """
        kinds = self.state_kinds()
        if not kinds:
            return {}
        if not self._buffers:
            if params is None:
                return {}
            return {f"{kind}/{name}": np.zeros_like(p, dtype=float) for kind in kinds for name, p in params.items()}
        return {f"{kind}/{name}": a.copy() for kind in kinds for name, a in self._buffers[kind].items()}

    def _buffer(self, kind: str) -> dict[str, np.ndarray]:
        return self._buffers.setdefault(kind, {})

    def _changed_options(self) -> list[tuple[str, object]]:
        return [(key, getattr(self, key)) for key, default in self._options if getattr(self, key) != default]

    @staticmethod
    def _option_text(value: object) -> str:
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, tuple):
            return "(" + ", ".join(f"{v:g}" for v in value) + ")"
        return f"{value:g}"  # type: ignore[str-format]

    def describe(self) -> str:
        """One short line for titles and legends, e.g. ``"Adam lr=0.01"``."""
        parts = [type(self).__name__, f"lr={_lr_text(self.lr, short=True)}"]
        for key, value in self._changed_options():
            if value is True:
                parts.append(key)
            else:
                parts.append(f"{key}={self._option_text(value)}")
        return " ".join(parts)

    def __repr__(self) -> str:
        args = [f"lr={_lr_text(self.lr)}"] + [f"{k}={self._option_text(v)}" for k, v in self._changed_options()]
        return f"{type(self).__name__}({', '.join(args)})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum, dampening, Nesterov and weight decay (PyTorch's rule).

    For every parameter, with weight decay λ, momentum μ, dampening τ::

        g ← g + λ·θ                               if λ ≠ 0
        b ← g                     (first update)  if μ ≠ 0
        b ← μ·b + (1 − τ)·g       (later)
        g ← g + μ·b  if nesterov, else g ← b
        θ ← θ − γ·g

    With μ = 0 and λ = 0 this is plain ``θ -= γ·g``. Note that PyTorch's momentum buffer starts as the first
    gradient itself (no dampening on the first update), and that the learning rate multiplies the buffer
    rather than entering it. State: ``"momentum/<param>"`` (the buffer b) when μ ≠ 0.
    """

    _options = (("momentum", 0.0), ("dampening", 0.0), ("nesterov", False), ("weight_decay", 0.0))

    def __init__(self, lr: LearningRate, momentum: float = 0, dampening: float = 0, nesterov: bool = False,
                 weight_decay: float = 0) -> None:
        super().__init__(lr)
        self.momentum = _check_number("momentum", momentum)
        self.dampening = _check_number("dampening", dampening, 0.0, 1.0)
        self.weight_decay = _check_number("weight_decay", weight_decay)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")

    def state_kinds(self) -> tuple[str, ...]:
        return ("momentum",) if self.momentum else ()

    def _update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], lr: float) -> None:
        if not self.momentum and not self.weight_decay:
            # The scenes' pinned numbers depend on this exact expression: keep it.
            for name, p in params.items():
                p -= lr * grads[name]
            return
        bufs = self._buffer("momentum") if self.momentum else {}
        for name, p in params.items():
            g = grads[name]
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                buf = bufs.get(name)
                if buf is None:
                    buf = bufs[name] = np.array(g, dtype=float)
                else:
                    buf *= self.momentum
                    buf += (1 - self.dampening) * g
                g = g + self.momentum * buf if self.nesterov else buf
            p -= lr * g


class RMSprop(Optimizer):
    """RMSprop (PyTorch's rule), optionally centered and with momentum.

    With smoothing α, weight decay λ, momentum μ, ε added after the square root::

        g ← g + λ·θ                         if λ ≠ 0
        v ← α·v + (1 − α)·g²
        ṽ ← v;  if centered: ḡ ← α·ḡ + (1 − α)·g,  ṽ ← v − ḡ²
        b ← μ·b + g / (√ṽ + ε);  θ ← θ − γ·b           if μ > 0
        θ ← θ − γ·g / (√ṽ + ε)                          otherwise

    State: ``"v/<param>"`` (square average), ``"g_avg/<param>"`` when centered, ``"momentum/<param>"`` when μ > 0.
    """

    _options = (("alpha", 0.99), ("eps", 1e-8), ("weight_decay", 0.0), ("momentum", 0.0), ("centered", False))

    def __init__(self, lr: LearningRate = 0.01, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False) -> None:
        super().__init__(lr)
        self.alpha = _check_number("alpha", alpha, 0.0, 1.0, high_open=True)
        self.eps = _check_number("eps", eps)
        self.weight_decay = _check_number("weight_decay", weight_decay)
        self.momentum = _check_number("momentum", momentum)
        self.centered = bool(centered)

    def state_kinds(self) -> tuple[str, ...]:
        return ("v",) + (("g_avg",) if self.centered else ()) + (("momentum",) if self.momentum else ())

    def _update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], lr: float) -> None:
        a = self.alpha
        square_avgs, grad_avgs, bufs = self._buffer("v"), self._buffer("g_avg"), self._buffer("momentum")
        for name, p in params.items():
            g = grads[name]
            if self.weight_decay:
                g = g + self.weight_decay * p
            v = _zeros_once(square_avgs, name, p)
            v *= a
            v += (1 - a) * g * g
            if self.centered:
                g_avg = _zeros_once(grad_avgs, name, p)
                g_avg *= a
                g_avg += (1 - a) * g
                denom = np.sqrt(v - g_avg * g_avg) + self.eps
            else:
                denom = np.sqrt(v) + self.eps
            if self.momentum:
                buf = _zeros_once(bufs, name, p)
                buf *= self.momentum
                buf += g / denom
                p -= lr * buf
            else:
                p -= lr * (g / denom)


class Adam(Optimizer):
    """Adam (PyTorch's rule) with L2 weight decay folded into the gradient.

    With betas (β₁, β₂), weight decay λ, update count t::

        g ← g + λ·θ                         if λ ≠ 0
        m ← β₁·m + (1 − β₁)·g
        v ← β₂·v + (1 − β₂)·g²
        m̂ ← m / (1 − β₁ᵗ);  v̂ ← v / (1 − β₂ᵗ)
        θ ← θ − γ·m̂ / (√v̂ + ε)

    (computed as PyTorch does: ``θ − (γ / (1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + ε)``). State: ``"m/<param>"``,
    ``"v/<param>"`` and ``"step/<param>"``, the change θ_t − θ_{t−1} the last update applied.
    """

    _decoupled = False
    _options = (("betas", (0.9, 0.999)), ("eps", 1e-8), ("weight_decay", 0.0))

    def __init__(self, lr: LearningRate = 0.001, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0) -> None:
        super().__init__(lr)
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
        self.betas = (_check_number("beta1", b1, 0.0, 1.0, high_open=True),
                      _check_number("beta2", b2, 0.0, 1.0, high_open=True))
        self.eps = _check_number("eps", eps)
        self.weight_decay = _check_number("weight_decay", weight_decay)

    def state_kinds(self) -> tuple[str, ...]:
        return ("m", "v", "step")

    def _update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], lr: float) -> None:
        b1, b2 = self.betas
        t = self.steps_taken
        step_size = lr / (1 - b1**t)
        bias_correction2_sqrt = (1 - b2**t) ** 0.5
        ms, vs, steps = self._buffer("m"), self._buffer("v"), self._buffer("step")
        for name, p in params.items():
            g = grads[name]
            before = None
            if self.weight_decay:
                if self._decoupled:
                    before = p.copy()
                    p *= 1 - lr * self.weight_decay
                else:
                    g = g + self.weight_decay * p
            m = _zeros_once(ms, name, p)
            v = _zeros_once(vs, name, p)
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            delta = -step_size * (m / (np.sqrt(v) / bias_correction2_sqrt + self.eps))
            p += delta
            steps[name] = delta if before is None else p - before


class AdamW(Adam):
    """AdamW (PyTorch's rule): Adam with the weight decay applied to the parameter, not added to the gradient.

    Each update first shrinks every parameter, ``θ ← θ·(1 − γ·λ)``, then applies Adam's step
    ``θ ← θ − γ·m̂ / (√v̂ + ε)`` computed from the raw gradient. State as :class:`Adam`; ``"step/<param>"``
    includes the decay.
    """

    _decoupled = True
    _options = (("betas", (0.9, 0.999)), ("eps", 1e-8), ("weight_decay", 0.01))

    def __init__(self, lr: LearningRate = 0.001, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01) -> None:
        super().__init__(lr, betas, eps, weight_decay)


# name -> (class, preset options); options given in a spec override the preset.
OPTIMIZERS: dict[str, tuple[type[Optimizer], dict[str, object]]] = {
    "sgd": (SGD, {}),
    "momentum": (SGD, {"momentum": 0.9}),
    "nesterov": (SGD, {"momentum": 0.9, "nesterov": True}),
    "rmsprop": (RMSprop, {}),
    "adam": (Adam, {}),
    "adamw": (AdamW, {}),
}


def _parse_value(key: str, text: str) -> object:
    if key in ("nesterov", "centered"):
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
        raise ValueError(f"optimizer option {key} takes true or false, got {text!r}")
    if key == "betas":
        parts = text.split("/")
        if len(parts) != 2:
            raise ValueError(f"optimizer option betas takes two numbers as beta1/beta2, e.g. 0.9/0.999, got {text!r}")
        return tuple(_parse_float(key, part) for part in parts)
    return _parse_float(key, text)


def _parse_float(key: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"optimizer option {key} takes a number, got {text!r}") from None


def get_optimizer(spec: str | Optimizer, lr: float | None = None) -> Optimizer:
    """Build an optimizer from ``"name"`` or ``"name:key=value,..."``, or pass an :class:`Optimizer` through.

    Names: ``sgd``, ``momentum`` (SGD with momentum 0.9), ``nesterov`` (SGD, Nesterov momentum 0.9),
    ``rmsprop``, ``adam``, ``adamw``. Options are the class's arguments, e.g. ``"adam:lr=0.01,betas=0.9/0.99"``
    or ``"sgd:lr=0.1,momentum=0.5"``; ``nesterov`` and ``centered`` take true/false. ``lr`` is the learning
    rate used when the spec names none (otherwise the class default; plain SGD has none and needs one).
    """
    if isinstance(spec, Optimizer):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"an optimizer is a name such as 'adam:lr=0.01' or an Optimizer, got {spec!r}")
    name, _, option_text = spec.partition(":")
    name = name.strip().lower()
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; use one of {', '.join(OPTIMIZERS)}")
    cls, preset = OPTIMIZERS[name]
    known = ["lr"] + [key for key, _ in cls._options]
    options: dict[str, object] = dict(preset)
    if lr is not None:
        options["lr"] = lr
    for item in filter(None, (part.strip() for part in option_text.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq:
            raise ValueError(f"optimizer option {item!r} in {spec!r} should be key=value")
        if key not in known:
            raise ValueError(f"unknown option {key!r} for optimizer {name!r}; use {', '.join(known)}")
        options[key] = _parse_value(key, value)
    if cls is SGD and "lr" not in options:
        raise ValueError(f"optimizer {name!r} needs a learning rate, e.g. '{name}:lr=0.1'")
    return cls(**options)  # type: ignore[arg-type]
