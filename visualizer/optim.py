"""Optimizers update named parameter arrays in place from named gradients."""
from __future__ import annotations

import numpy as np


class SGD:
    """Plain stochastic gradient descent: ``p -= lr * grad`` for every named parameter."""

    def __init__(self, lr: float) -> None:
        if not np.isfinite(lr) or lr <= 0:
            raise ValueError(f"learning rate must be a positive number, got {lr}")
        self.lr = float(lr)

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Apply one update in place."""
        for name, p in params.items():
            p -= self.lr * grads[name]

    def __repr__(self) -> str:
        return f"SGD(lr={self.lr:g})"
