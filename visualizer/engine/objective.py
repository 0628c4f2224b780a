"""The training objective: a data loss on the model's outputs plus penalties on its parameters.

This is the one place where the two are put together. The trainer steps on its gradient, the recorder logs
its value and gradient at every kept step (:func:`~visualizer.engine.training.log_full_set`), the backward
pass that panels draw and the loss landscape evaluate its data loss: so what is drawn is what was minimised.
The penalty is a function of the parameters alone, so its value is recorded apart from the data loss's.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np

from .losses import Loss, get_loss

if TYPE_CHECKING:
    from .penalties import Penalty


@runtime_checkable
class Differentiable(Protocol):
    """What the objective (and so the trainer) needs of a model: the engine's
    :class:`~visualizer.engine.layers.Network`, or anything else with these four methods."""

    def parameters(self) -> dict[str, np.ndarray]:
        """The live parameter arrays by name: an optimizer updates them in place."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The outputs for a batch of inputs ``x``, keeping what :meth:`backward` needs."""

    def backward(self, grad_out: np.ndarray) -> object:
        """Backpropagate ∂L/∂(outputs) of the last :meth:`forward`, filling :meth:`gradients`."""

    def gradients(self) -> dict[str, np.ndarray]:
        """∂L/∂(parameter) from the last :meth:`backward`, by the names of :meth:`parameters`."""


def set_mode(model: object, training: bool) -> bool | None:
    """Put a model with modes (the engine's ``Network`` with batch norm or dropout, a PyTorch module) in
    training or evaluation mode; returns the mode it was in, or None for a model without modes."""
    before = getattr(model, "training", None)
    train = getattr(model, "train", None)
    if not isinstance(before, bool) or not callable(train):
        return None
    if before != training:
        train(training)
    return before


@contextmanager
def evaluation_mode(model: object) -> Iterator[None]:
    """The block runs with ``model`` in evaluation mode (batch norm by its running statistics, no dropout),
    and the model's mode is put back afterwards. A model without modes is left alone."""
    before = set_mode(model, False)
    try:
        yield
    finally:
        if before is not None:
            set_mode(model, before)


@dataclass
class Evaluation:
    """The objective at the model's current parameters on one batch: the ``outputs``, the ``data_loss``
    (without the penalties) and ``grads``, the gradient of the whole objective (the model's own arrays,
    overwritten by its next backward pass)."""

    outputs: np.ndarray
    data_loss: float
    grads: dict[str, np.ndarray]

    def __repr__(self) -> str:
        return f"Evaluation(data_loss={self.data_loss:g}, outputs {np.shape(self.outputs)}, grads {list(self.grads)})"


class Objective:
    """``loss(outputs, targets) + Σ penalty(parameters)``: its value, and its gradient through a model."""

    def __init__(self, loss: Loss | str, penalties: Sequence[Penalty] = ()) -> None:
        # A name is looked up; anything else with value() and grad() (a Loss, or a user's own) is used as it is.
        self.loss = get_loss(loss) if isinstance(loss, str) else loss
        self.penalties = tuple(penalties)

    def data_loss(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        """The data loss of ``outputs`` against ``targets`` (without the penalties)."""
        return self.loss.value(outputs, targets)

    def output_grad(self, outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """∂(data loss)/∂(outputs): where backpropagation starts (the penalties do not depend on the outputs)."""
        return self.loss.grad(outputs, targets)

    def data_losses(self, outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """The data loss of each of a stack of output sets (points, n, outputs): one per parameter point."""
        return self.loss.values(outputs, targets)

    def penalty(self, params: dict[str, np.ndarray]) -> float:
        """The sum of the penalties' values at ``params`` (0 for none)."""
        return float(sum(p.value(params) for p in self.penalties))

    def add_penalty_grads(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Add each penalty's gradient to ``grads`` in place: the data loss's gradient becomes the objective's."""
        for penalty in self.penalties:
            for name, g in penalty.grad(params).items():
                grads[name] += g

    def value(self, outputs: np.ndarray, targets: np.ndarray, params: dict[str, np.ndarray]) -> float:
        """The whole objective: the data loss plus the penalties at ``params``."""
        total = self.data_loss(outputs, targets)
        return total + self.penalty(params) if self.penalties else total

    def evaluate(self, model: Differentiable, x: np.ndarray, y: np.ndarray,
                 params: dict[str, np.ndarray] | None = None) -> Evaluation:
        """Forward ``x`` through ``model``, the data loss against ``y``, backward, and the penalties'
        gradients added: what one training step needs. ``params`` saves asking the model for its
        parameters again (only the penalties read them)."""
        outputs = model.forward(x)
        data_loss = self.loss.value(outputs, y)
        model.backward(self.loss.grad(outputs, y))
        grads = model.gradients()
        if self.penalties:
            self.add_penalty_grads(model.parameters() if params is None else params, grads)
        return Evaluation(outputs, data_loss, grads)

    def __repr__(self) -> str:
        return "Objective(" + " + ".join([self.loss.name, *(repr(p) for p in self.penalties)]) + ")"


__all__ = ["Differentiable", "Evaluation", "Objective", "evaluation_mode", "set_mode"]
