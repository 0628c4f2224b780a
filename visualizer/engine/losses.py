"""Losses: each value beside its gradient with respect to the network's output.

Regression losses (``ssr``, ``half_ssr``, ``mse``) compare outputs with real targets of the same shape
``(n, outputs)``; ``ssr`` and ``half_ssr`` are sums, ``mse`` a mean over every entry.

Classification losses (``bce``, ``softmax_ce``, ``hinge``, ``multiclass_hinge``) read the outputs as raw
scores (logits) and the targets as class labels, an ``(n,)`` or ``(n, 1)`` array of whole numbers (int or
float); each is a **mean over the batch** and is computed so that any finite logits, even ±1000, give a
finite value and gradient.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

KINDS = ("regression", "binary", "multiclass")
# Binary losses that also take micrograd's -1/+1 labels (both read as class 0/1).
_SIGNED_LABELS = ("hinge",)


@dataclass(frozen=True)
class Loss:
    """A loss over a batch: ``value(outputs, targets)`` and ``grad(outputs, targets)`` = d value / d outputs.

    ``kind`` says what the targets are: ``"regression"`` (real numbers shaped like the outputs),
    ``"binary"`` (labels 0/1 for a network with one output, a logit) or ``"multiclass"`` (labels
    0..K-1 for a network with K ≥ 2 outputs). ``link`` turns a classifier's outputs into class
    probabilities, one column per class (see :meth:`probabilities`).
    """

    name: str
    label: str
    value: Callable[[np.ndarray, np.ndarray], float]
    grad: Callable[[np.ndarray, np.ndarray], np.ndarray]
    kind: str = "regression"
    link: Callable[[np.ndarray], np.ndarray] | None = None
    # Optional: the value for a stack of output sets at once, (points, n, outputs) -> (points,); see values().
    stacked: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"loss {self.name!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if (self.link is None) != (self.kind == "regression"):
            raise ValueError(f"loss {self.name!r}: a classification loss needs a link, a regression loss has none")

    def values(self, outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """The loss of each of a stack of output sets ``(points, n, outputs)`` against the same ``targets``
        (a loss landscape's grid): one vectorised expression where the loss has one, else point by point."""
        if self.stacked is not None:
            return self.stacked(outputs, targets)
        return np.array([self.value(p, targets) for p in outputs])

    def n_classes(self, n_outputs: int) -> int | None:
        """How many classes a network with ``n_outputs`` outputs tells apart (None for regression)."""
        if self.kind == "regression":
            return None
        return 2 if self.kind == "binary" else n_outputs

    def probabilities(self, outputs: np.ndarray) -> np.ndarray | None:
        """Class probabilities ``(n, classes)`` from the outputs, rows summing to 1; None for regression.

        Binary: columns ``[1 − σ(s), σ(s)]``; multiclass: ``softmax(s)``. For the hinge losses, whose scores
        are not log-odds, this is the same squashing, for display: the largest column is still the
        predicted class.
        """
        if self.link is None:
            return None
        return self.link(np.asarray(outputs, dtype=float))

    def predict(self, outputs: np.ndarray) -> np.ndarray:
        """Predicted class labels, an int array ``(n,)``: score > 0 for binary, the largest score for multiclass."""
        outputs = np.asarray(outputs, dtype=float)
        if self.kind == "regression":
            raise ValueError(f"loss {self.name!r} is a regression loss: it has no class labels to predict")
        if self.kind == "binary":
            return (outputs.reshape(len(outputs), -1)[:, 0] > 0).astype(np.intp)
        return np.argmax(outputs, axis=1).astype(np.intp)

    def accuracy(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        """The fraction of samples whose predicted class is the target label (labels ±1 read as 1/0)."""
        targets = np.asarray(targets).reshape(-1)
        truth = (targets > 0) if self.kind == "binary" else targets.astype(np.intp)
        return float(np.mean(self.predict(outputs) == truth))

    def check_targets(self, targets: np.ndarray, n_outputs: int) -> None:
        """Raise ValueError unless ``targets`` suit this loss on a network with ``n_outputs`` outputs."""
        t = np.asarray(targets)
        if t.dtype == object or not (np.issubdtype(t.dtype, np.number) or t.dtype == bool):
            raise ValueError(f"loss {self.name!r}: targets must be numbers, got an array of {t.dtype}")
        if len(t) == 0:
            raise ValueError(f"loss {self.name!r}: there are no targets")
        if not np.all(np.isfinite(t)):
            raise ValueError(f"loss {self.name!r}: targets must be finite, found NaN or infinity")
        if self.kind == "regression":
            if t.ndim != 2 or t.shape[1] != n_outputs:
                raise ValueError(f"loss {self.name!r}: targets must have shape (n, {n_outputs}), one column per "
                                 f"output, got {t.shape}")
            return
        _check_labels(self, t, n_outputs)

    def __repr__(self) -> str:
        return f"Loss({self.name})"


def _check_labels(loss: Loss, t: np.ndarray, n_outputs: int) -> None:
    if t.ndim > 2 or (t.ndim == 2 and t.shape[1] != 1):
        raise ValueError(f"loss {loss.name!r}: class labels must be one per sample, shape (n,) or (n, 1), "
                         f"got {t.shape}")
    flat = t.astype(float).reshape(-1)
    fractional = flat[flat != np.round(flat)]
    if fractional.size:
        raise ValueError(f"loss {loss.name!r}: class labels must be whole numbers, found {fractional[0]:g}")
    found = np.unique(flat).astype(int)
    if loss.kind == "binary":
        if n_outputs != 1:
            hint = "; for K classes use softmax_ce or multiclass_hinge" if n_outputs > 1 else ""
            raise ValueError(f"loss {loss.name!r} needs a network with 1 output (a score), got {n_outputs}{hint}")
        signed = loss.name in _SIGNED_LABELS
        allowed = {-1, 0, 1} if signed else {0, 1}
        if not set(found) <= allowed or {-1, 0} <= set(found):
            what = "0/1 or -1/+1" if signed else "0 or 1"
            raise ValueError(f"loss {loss.name!r}: labels must be {what}, found {found.tolist()}")
        return
    if n_outputs < 2:
        raise ValueError(f"loss {loss.name!r} needs a network with one output per class (at least 2), got "
                         f"{n_outputs}; for two classes on one output use bce or hinge")
    out_of_range = found[(found < 0) | (found >= n_outputs)]
    if out_of_range.size:
        raise ValueError(f"loss {loss.name!r}: labels must be 0..{n_outputs - 1} for a network with {n_outputs} "
                         f"outputs, found {out_of_range.tolist()}")


# ---- regression. Reductions via array methods: np.sum's Python wrapper costs more than the sum for small
# batches.

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


# The same three over stacked outputs (points, n, outputs): one einsum for every point of a landscape.

def _stacked_ssr(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    r = p - t[None]
    return np.einsum("gno,gno->g", r, r)


def _stacked_half_ssr(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    return 0.5 * _stacked_ssr(p, t)


def _stacked_mse(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    return _stacked_ssr(p, t) / p[0].size


# ---- classification helpers

def _one_score(s: np.ndarray, name: str) -> None:
    if s.ndim != 2 or s.shape[1] != 1:
        raise ValueError(f"loss {name!r} needs outputs of shape (n, 1), one score per sample, got {s.shape}")


def _class_scores(s: np.ndarray, name: str) -> None:
    if s.ndim != 2 or s.shape[1] < 2:
        raise ValueError(f"loss {name!r} needs outputs of shape (n, K) with K >= 2 classes, got {s.shape}")


def _sigmoid(s: np.ndarray) -> np.ndarray:
    """σ(s) without overflow: exp only ever sees −|s|."""
    e = np.exp(-np.abs(s))
    return np.where(s >= 0, 1.0, e) / (1.0 + e)


def _two_columns(s: np.ndarray) -> np.ndarray:
    s = s.reshape(len(s), -1)[:, :1]
    return np.hstack([_sigmoid(-s), _sigmoid(s)])


def _log_softmax(s: np.ndarray) -> np.ndarray:
    z = s - s.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _softmax(s: np.ndarray) -> np.ndarray:
    return np.exp(_log_softmax(s))


def _labels(t: np.ndarray) -> np.ndarray:
    return np.asarray(t).reshape(-1).astype(np.intp)


# ---- binary cross-entropy on a logit: l = −y·log σ(s) − (1−y)·log(1−σ(s)) = max(s, 0) − s·y + log(1 + e^−|s|)

def _bce(s: np.ndarray, t: np.ndarray) -> float:
    _one_score(s, "bce")
    y = np.asarray(t, dtype=float).reshape(s.shape)
    return float((np.maximum(s, 0.0) - s * y + np.log1p(np.exp(-np.abs(s)))).mean())


def _bce_grad(s: np.ndarray, t: np.ndarray) -> np.ndarray:
    _one_score(s, "bce")
    y = np.asarray(t, dtype=float).reshape(s.shape)
    return (_sigmoid(s) - y) / len(s)


# ---- softmax cross-entropy: l = −log softmax(s)[y] = logsumexp(s) − s_y

def _softmax_ce(s: np.ndarray, t: np.ndarray) -> float:
    _class_scores(s, "softmax_ce")
    y = _labels(t)
    return float(-_log_softmax(s)[np.arange(len(s)), y].mean())


def _softmax_ce_grad(s: np.ndarray, t: np.ndarray) -> np.ndarray:
    _class_scores(s, "softmax_ce")
    y = _labels(t)
    g = _softmax(s)
    g[np.arange(len(s)), y] -= 1.0
    return g / len(s)


# ---- max-margin on one score, micrograd's demo: l = relu(1 − y·s), y = ±1 (labels 0/1 read as −1/+1).
# As micrograd's relu, the gradient at the hinge's corner is 0.

def _signs(s: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.where(np.asarray(t).reshape(s.shape) > 0, 1.0, -1.0)


def _hinge(s: np.ndarray, t: np.ndarray) -> float:
    _one_score(s, "hinge")
    return float(np.maximum(1.0 - _signs(s, t) * s, 0.0).mean())


def _hinge_grad(s: np.ndarray, t: np.ndarray) -> np.ndarray:
    _one_score(s, "hinge")
    y = _signs(s, t)
    return np.where(1.0 - y * s > 0, -y, 0.0) / len(s)


# ---- multiclass SVM, CS231n: l = Σ_{j≠y} max(0, s_j − s_y + 1)

def _margins(s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _class_scores(s, "multiclass_hinge")
    rows, y = np.arange(len(s)), _labels(t)
    margins = s - s[rows, y][:, None] + 1.0
    margins[rows, y] = 0.0
    return margins, y


def _multiclass_hinge(s: np.ndarray, t: np.ndarray) -> float:
    margins, _ = _margins(s, t)
    return float(np.maximum(margins, 0.0).sum()) / len(s)


def _multiclass_hinge_grad(s: np.ndarray, t: np.ndarray) -> np.ndarray:
    margins, y = _margins(s, t)
    g = (margins > 0).astype(float)
    g[np.arange(len(s)), y] = -g.sum(axis=1)
    return g / len(s)


# The classification losses over stacked scores (points, n, outputs): the same expressions along the last
# two axes, so a landscape's grid is a few array calls, not one call per point.

def _stacked_bce(s: np.ndarray, t: np.ndarray) -> np.ndarray:
    _one_score(s[0], "bce")
    y = np.asarray(t, dtype=float).reshape(s.shape[1:])
    return (np.maximum(s, 0.0) - s * y + np.log1p(np.exp(-np.abs(s)))).mean(axis=(1, 2))


def _stacked_softmax_ce(s: np.ndarray, t: np.ndarray) -> np.ndarray:
    _class_scores(s[0], "softmax_ce")
    z = s - s.max(axis=2, keepdims=True)
    rows = np.arange(s.shape[1])
    picked = z[:, rows, _labels(t)]
    return (np.log(np.exp(z).sum(axis=2)) - picked).mean(axis=1)


def _stacked_hinge(s: np.ndarray, t: np.ndarray) -> np.ndarray:
    _one_score(s[0], "hinge")
    return np.maximum(1.0 - _signs(s[0], t) * s, 0.0).mean(axis=(1, 2))


def _stacked_multiclass_hinge(s: np.ndarray, t: np.ndarray) -> np.ndarray:
    _class_scores(s[0], "multiclass_hinge")
    rows, y = np.arange(s.shape[1]), _labels(t)
    margins = s - s[:, rows, y][:, :, None] + 1.0
    margins[:, rows, y] = 0.0
    return np.maximum(margins, 0.0).sum(axis=(1, 2)) / s.shape[1]


ssr = Loss("ssr", "SSR", _ssr, _ssr_grad, stacked=_stacked_ssr)
half_ssr = Loss("half_ssr", "½·SSR", _half_ssr, _half_ssr_grad, stacked=_stacked_half_ssr)
mse = Loss("mse", "MSE", _mse, _mse_grad, stacked=_stacked_mse)
bce = Loss("bce", "cross-entropy", _bce, _bce_grad, "binary", _two_columns, stacked=_stacked_bce)
softmax_ce = Loss("softmax_ce", "cross-entropy", _softmax_ce, _softmax_ce_grad, "multiclass", _softmax,
                  stacked=_stacked_softmax_ce)
hinge = Loss("hinge", "hinge", _hinge, _hinge_grad, "binary", _two_columns, stacked=_stacked_hinge)
multiclass_hinge = Loss("multiclass_hinge", "hinge", _multiclass_hinge, _multiclass_hinge_grad, "multiclass",
                        _softmax, stacked=_stacked_multiclass_hinge)

LOSSES: dict[str, Loss] = {loss.name: loss for loss in (ssr, half_ssr, mse, bce, softmax_ce, hinge, multiclass_hinge)}


def get_loss(spec: str | Loss) -> Loss:
    """Look up a loss by name (``ssr``, ``half_ssr``, ``mse``, ``bce``, ``softmax_ce``, ``hinge``,
    ``multiclass_hinge``), or pass a :class:`Loss` through."""
    if isinstance(spec, Loss):
        return spec
    try:
        return LOSSES[spec]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {spec!r}; use one of {', '.join(LOSSES)}") from None
