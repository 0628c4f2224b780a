"""Regularization penalties on named parameters, each value beside its gradient.

A penalty is added to the data loss to make the training objective; it is computed from the parameters
alone, so it can be recorded apart from the data loss. By default only weights are penalised: parameters
whose name ends in ``.weight`` (``hidden.weight`` here, ``0.weight`` in a PyTorch ``Sequential``).

The two L2 conventions in the lessons this project reproduces:

* CS231n's neural network case study: ``0.5·λ·ΣW²`` on the weights, gradient ``λ·W`` (the same as
  PyTorch's ``weight_decay=λ``): ``L2(1e-3, half=True)``.
* micrograd's demo: ``α·Σp²`` on every parameter, biases included, gradient ``2α·p``:
  ``L2(1e-4, params="all")``.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence, Union

import numpy as np

# None or "weights": names ending in ".weight"; "all"; an explicit list of names; or a predicate on a name.
Selection = Union[None, str, Sequence[str], Callable[[str], bool]]


def is_weight(name: str) -> bool:
    """True for a weight matrix's name (``hidden.weight``, ``0.weight``), False for biases and the rest."""
    return name.endswith(".weight")


class Penalty:
    """A penalty ``strength · f(θ)`` summed over the selected parameters; subclasses give ``f`` and its gradient."""

    def __init__(self, strength: float, params: Selection = None) -> None:
        try:
            strength = float(strength)
        except (TypeError, ValueError):
            raise ValueError(f"{type(self).__name__} strength must be a number, got {strength!r}") from None
        if not math.isfinite(strength) or strength < 0:
            raise ValueError(f"{type(self).__name__} strength must be a finite number >= 0, got {strength!r}")
        if isinstance(params, str) and params not in ("weights", "all"):
            raise ValueError(f"{type(self).__name__} params must be 'weights', 'all', a list of names or a "
                             f"function of a name, got {params!r}")
        if not (params is None or isinstance(params, str) or callable(params)):
            params = tuple(params)
            if not all(isinstance(name, str) for name in params):
                raise ValueError(f"{type(self).__name__} params must be parameter names, got {params!r}")
        self.strength = strength
        self.params = params

    def names(self, params: dict[str, np.ndarray]) -> list[str]:
        """The names of ``params`` this penalty applies to; ValueError if it names one that is not there."""
        selection = self.params
        if selection is None or selection == "weights":
            chosen = [name for name in params if is_weight(name)]
        elif selection == "all":
            chosen = list(params)
        elif callable(selection):
            chosen = [name for name in params if selection(name)]
        else:
            missing = [name for name in selection if name not in params]
            if missing:
                raise ValueError(f"{self!r} names {', '.join(missing)}, which the network does not have; its "
                                 f"parameters are {', '.join(params)}")
            chosen = list(dict.fromkeys(selection))  # a name given twice is still penalised once
        if not chosen:
            raise ValueError(f"{self!r} applies to none of the parameters {', '.join(params)}")
        return chosen

    def value(self, params: dict[str, np.ndarray]) -> float:
        """The penalty's value for these parameters."""
        return self.strength * sum(self._term(params[name]) for name in self.names(params))

    def grad(self, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """d value / d parameter, for the penalised parameters only (the others are absent: zero)."""
        return {name: self.strength * self._term_grad(params[name]) for name in self.names(params)}

    def _term(self, p: np.ndarray) -> float:
        raise NotImplementedError

    def _term_grad(self, p: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _selection_text(self) -> str:
        if self.params is None or self.params == "weights":
            return "w"
        if self.params == "all":
            return "p"
        return "θ"  # a chosen set of parameters

    def _args(self) -> list[str]:
        args = [f"{self.strength:g}"]
        if self.params is not None and self.params != "weights":
            text = getattr(self.params, "__name__", None) if callable(self.params) else None
            args.append(f"params={text or self.params!r}")
        return args

    def describe(self) -> str:
        """One short line for titles and legends, e.g. ``"L2 0.5·0.001·Σw²"``."""
        return f"{type(self).__name__} {self._formula()}"

    def _formula(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self._args())})"


class L2(Penalty):
    """Squared L2 penalty: ``strength·Σθ²`` (gradient ``2·strength·θ``), or with ``half=True``
    ``0.5·strength·Σθ²`` (gradient ``strength·θ``, CS231n's convention and PyTorch's weight decay)."""

    def __init__(self, strength: float, params: Selection = None, half: bool = False) -> None:
        super().__init__(strength, params)
        self.half = bool(half)

    def _term(self, p: np.ndarray) -> float:
        s = float((p * p).sum())
        return 0.5 * s if self.half else s

    def _term_grad(self, p: np.ndarray) -> np.ndarray:
        return p if self.half else 2.0 * p

    def _formula(self) -> str:
        return f"{'0.5·' if self.half else ''}{self.strength:g}·Σ{self._selection_text()}²"

    def _args(self) -> list[str]:
        return super()._args() + (["half=True"] if self.half else [])


class L1(Penalty):
    """L1 penalty ``strength·Σ|θ|``; its gradient ``strength·sign(θ)`` takes 0 where θ is exactly 0."""

    def _term(self, p: np.ndarray) -> float:
        return float(np.abs(p).sum())

    def _term_grad(self, p: np.ndarray) -> np.ndarray:
        return np.sign(p)

    def _formula(self) -> str:
        return f"{self.strength:g}·Σ|{self._selection_text()}|"
