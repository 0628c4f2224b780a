"""Losses: each value beside its gradient with respect to the prediction."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Loss:
    """A loss over a batch: ``value(pred, target)`` and ``grad(pred, target)`` = d value / d pred."""

    name: str
    label: str
    value: Callable[[np.ndarray, np.ndarray], float]
    grad: Callable[[np.ndarray, np.ndarray], np.ndarray]

    def __repr__(self) -> str:
        return f"Loss({self.name})"


# Reductions via array methods: np.sum's Python wrapper costs more than the sum for small batches.
def _ssr(p: np.ndarray, t: np.ndarray) -> float:
    r = p - t
    return float((r * r).sum())


def _ssr_grad(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    return 2.0 * (p - t)


def _half_ssr(p: np.ndarray, t: np.ndarray) -> float:
    r = p - t
    return 0.5 * float((r * r).sum())


def _half_ssr_grad(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    return p - t


def _mse(p: np.ndarray, t: np.ndarray) -> float:
    r = p - t
    return float((r * r).sum()) / r.size


def _mse_grad(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    return 2.0 * (p - t) / p.size


ssr = Loss("ssr", "SSR", _ssr, _ssr_grad)
half_ssr = Loss("half_ssr", "½·SSR", _half_ssr, _half_ssr_grad)
mse = Loss("mse", "MSE", _mse, _mse_grad)

LOSSES: dict[str, Loss] = {loss.name: loss for loss in (ssr, half_ssr, mse)}


def get_loss(spec: str | Loss) -> Loss:
    """Look up a loss by name (``ssr``, ``half_ssr``, ``mse``), or pass a :class:`Loss` through."""
    if isinstance(spec, Loss):
        return spec
    try:
        return LOSSES[spec]
    except KeyError:
        raise ValueError(f"unknown loss {spec!r}; use one of {', '.join(LOSSES)}") from None
