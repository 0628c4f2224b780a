"""Loss landscapes: the training loss over a plane in parameter space, computed once after training.

The plane is spanned either by two named scalar parameters (every other parameter held at its value at a
chosen step) or by the first two principal directions of the parameter trajectory relative to its final
point, as in Li et al., "Visualizing the Loss Landscape of Neural Nets" (NeurIPS 2018). Every grid point's
loss comes from batched matrix products over the layer structure (:func:`~visualizer.record.backprop.
batched_outputs`): a 60×60 grid is a few numpy calls, not 3,600 forward passes. The value at each point is
the training objective's data loss (:meth:`~visualizer.engine.objective.Objective.data_losses`), without any
penalty: the loss the evaluator was given.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..engine.objective import Objective
from .backprop import activation_functions, batched_outputs, parse_param

if TYPE_CHECKING:
    from ..engine.losses import Loss
    from .model import LayerInfo
    from .history import History

CHUNK_ELEMENTS = 4_000_000  # per batch of grid points: activations of at most this many floats at once
GRID_DTYPE = np.float32  # the grid's forward passes (see _grid)


@dataclass
class Plane:
    """θ = origin + a·directions[0] + b·directions[1], over flat parameter vectors (names in ``names``)."""

    origin: np.ndarray
    directions: np.ndarray
    names: list[str]
    shapes: list[tuple[int, ...]]
    explained: np.ndarray | None = None

    def __repr__(self) -> str:
        explained = "" if self.explained is None else \
            ", explained " + " + ".join(f"{100 * float(e):.1f}%" for e in self.explained)
        return f"Plane({self.origin.size} parameters in {', '.join(self.names)}{explained})"

    def points(self, coords: np.ndarray, dtype: type = np.float64) -> np.ndarray:
        """Flat parameter vectors (points, P) at plane coordinates ``coords`` (points, 2), in ``dtype``."""
        if dtype == np.float64:
            return self.origin + np.asarray(coords, dtype=float) @ self.directions
        return self.origin.astype(dtype) + np.asarray(coords, dtype=dtype) @ self.directions.astype(dtype)

    def coordinates(self, theta: np.ndarray) -> np.ndarray:
        """Plane coordinates (rows, 2) of flat parameter vectors, projected orthogonally onto the plane."""
        d = self.directions
        gram = d @ d.T
        return np.linalg.solve(gram, d @ (np.asarray(theta, dtype=float) - self.origin).T).T

    def unflatten(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Flat vectors (points, P) as parameters by name, each (points, *shape)."""
        out, start = {}, 0
        for name, shape in zip(self.names, self.shapes):
            size = int(np.prod(shape, dtype=int))
            out[name] = theta[:, start : start + size].reshape(len(theta), *shape)
            start += size
        return out


def flat_trajectory(history: History, names: Sequence[str]) -> np.ndarray:
    """Every row's parameters ``names`` as one flat vector: (rows, P)."""
    return np.concatenate([history.params[n].reshape(len(history), -1) for n in names], axis=1)


def parameter_names(history: History) -> list[str]:
    """The parameters the layers use, in layer order (weight, bias)."""
    names = [p for lay in history.info.layers for p in (lay.weight, lay.bias) if p]
    return names or list(history.params)


def pca_plane(history: History, names: Sequence[str] | None = None) -> Plane:
    """The plane through the final parameters spanned by the trajectory's first two principal directions
    (of θ_i − θ_final, Li et al. 2018); ``explained`` holds their share of the trajectory's variance."""
    names = list(names or parameter_names(history))
    theta = flat_trajectory(history, names)
    return _pca(theta, names, [history.params[n].shape[1:] for n in names], centre=theta[-1])


def _pca(theta: np.ndarray, names: list[str], shapes: list, centre: np.ndarray | None) -> Plane:
    """The plane through ``centre`` (default: the points' mean) spanned by the first two principal directions
    of the points ``theta`` (rows, P) around it."""
    centre = theta.mean(axis=0) if centre is None else centre
    _, s, vt = np.linalg.svd(theta - centre, full_matrices=False)
    directions = np.zeros((2, theta.shape[1]))
    k = min(2, len(s))
    directions[:k] = vt[:k]
    for j in range(k, 2):  # a trajectory with fewer than two directions: complete the plane with unit axes
        axis = np.zeros(theta.shape[1])
        axis[j % theta.shape[1]] = 1.0
        axis -= directions[:j].T @ (directions[:j] @ axis)
        directions[j] = axis / (np.linalg.norm(axis) or 1.0)
    total = float((s ** 2).sum())
    explained = np.array([(s[j] ** 2) / total if j < len(s) and total > 0 else 0.0 for j in range(2)])
    return Plane(centre, directions, names, shapes, explained)


def parameter_plane(history: History, params: Sequence[tuple[str, Sequence[int]]], row: int) -> Plane:
    """The plane of two scalar parameters, every other one held at its value in history row ``row``;
    coordinates are the two parameters' own values."""
    if len(params) != 2:
        raise ValueError(f"a landscape plane needs two scalar parameters, got {len(params)}")
    names = parameter_names(history)
    theta = flat_trajectory(history, names)
    shapes = [history.params[n].shape[1:] for n in names]
    offsets = np.cumsum([0] + [int(np.prod(s, dtype=int)) for s in shapes])
    directions = np.zeros((2, theta.shape[1]))
    origin = theta[row].copy()
    for j, (name, index) in enumerate(params):
        if name not in names:
            raise ValueError(f"no parameter {name!r}; the history has {names}")
        k = names.index(name)
        index = tuple(int(i) for i in index)
        if len(index) != len(shapes[k]) or not all(0 <= i < n for i, n in zip(index, shapes[k])):
            raise ValueError(f"{name}{list(index)} is not an element of {name}, whose shape is {shapes[k]}")
        flat = int(offsets[k] + np.ravel_multi_index(index, shapes[k])) if shapes[k] else int(offsets[k])
        if directions[:, flat].any():
            raise ValueError(f"the two landscape parameters are the same scalar, {name}{list(index)}")
        directions[j, flat] = 1.0
        origin[flat] = 0.0
    return Plane(origin, directions, names, shapes)


def plane_losses(plane: Plane, coords: np.ndarray, layers: Sequence[LayerInfo], x: np.ndarray, y: np.ndarray,
                 loss: Loss, activations, dtype: type = np.float64) -> np.ndarray:
    """The loss at each of ``coords`` (points, 2) on ``plane``, in batches of grid points; the network's
    layers computed in ``dtype`` (the loss itself in float64)."""
    objective = Objective(loss)
    coords = np.asarray(coords, dtype=float)
    width = max([lay.n_out for lay in layers] + [1])
    per_point = max(1, len(x) * width)
    batch = max(1, CHUNK_ELEMENTS // per_point)
    out = np.empty(len(coords))
    y = np.asarray(y, dtype=float)
    for start in range(0, len(coords), batch):
        params = plane.unflatten(plane.points(coords[start : start + batch], dtype))
        preds = batched_outputs(layers, params, x, activations, dtype)
        out[start : start + len(preds)] = objective.data_losses(preds.astype(float, copy=False), y)
    return out


def compute_landscape(history: History, layers: Sequence[LayerInfo], x: np.ndarray, y: np.ndarray, loss: Loss,
                      activations, *, params: Sequence[tuple[str, Sequence[int]]] | None = None,
                      at_step: int | None = None, resolution: int = 60, margin: float = 0.25) -> dict[str, np.ndarray]:
    """The landscape's arrays: grid axes ``a`` and ``b``, ``loss`` (b, a), the path's plane coordinates
    ``path`` (rows, 2) and the loss there ``path_loss`` (rows,), and for the PCA plane ``explained``."""
    if params is None:
        plane = pca_plane(history)
    else:
        plane = _named_plane(history, layers, params, at_step)
    path = plane.coordinates(flat_trajectory(history, plane.names))
    out = _grid(plane, path, layers, x, y, loss, activations, resolution, margin)
    out.update(path=path, path_loss=plane_losses(plane, path, layers, x, y, loss, activations))
    return out


def compute_joint_landscape(histories: Sequence[History], layers: Sequence[LayerInfo], x: np.ndarray,
                            y: np.ndarray, loss: Loss, activations, *,
                            params: Sequence[tuple[str, Sequence[int]]] | None = None, at_step: int | None = None,
                            resolution: int = 60, margin: float = 0.25) -> dict[str, np.ndarray]:
    """One landscape for several runs of the same network: on the PCA plane of all their paths together
    (through their centroid), or on two named scalars with the rest held at the first run's ``at_step``.
    ``paths`` is (runs, rows, 2) and ``path_losses`` (runs, rows) the loss in the plane there, NaN where a run
    has no row (it diverged earlier); the grid covers the runs that did not diverge (all, if every one did)."""
    thetas = [flat_trajectory(h, parameter_names(h)) for h in histories]
    finite = [t[np.isfinite(t).all(axis=1)] for t in thetas]
    calm = _calm_runs(histories, finite)
    if params is None:
        plane = _pca(np.concatenate([finite[k] for k in calm]), parameter_names(histories[0]),
                     [histories[0].params[n].shape[1:] for n in parameter_names(histories[0])], centre=None)
    else:
        plane = _named_plane(histories[0], layers, params, at_step)
    paths = np.stack([plane.coordinates(np.nan_to_num(t, nan=0.0)) for t in thetas])
    for k, t in enumerate(thetas):
        paths[k][~np.isfinite(t).all(axis=1)] = np.nan
    out = _grid(plane, np.concatenate([paths[k][np.isfinite(paths[k]).all(axis=1)] for k in calm]), layers, x, y,
                loss, activations, resolution, margin)
    out["paths"] = paths
    out["path_losses"] = np.full(paths.shape[:2], np.nan)
    for k, path in enumerate(paths):
        rows = np.isfinite(path).all(axis=1)
        out["path_losses"][k, rows] = plane_losses(plane, path[rows], layers, x, y, loss, activations)
    return out


RUNAWAY = 10.0  # a run that strays this many times further than the typical run leaves the landscape's frame


def _calm_runs(histories: Sequence[History], finite: list[np.ndarray]) -> list[int]:
    """The runs the plane and its extent are fitted to: not diverged, and not straying more than ``RUNAWAY``
    times as far from where they started as the median run (a learning rate that flings the weights to 1e6
    would otherwise shrink every other path to a dot). The others' paths leave the panel, as they should."""
    have = [k for k in range(len(histories)) if len(finite[k])]
    calm = [k for k in have if histories[k].info.diverged_at is None] or have
    reach = {k: float(np.linalg.norm(finite[k] - finite[k][0], axis=1).max()) for k in calm}
    typical = float(np.median(list(reach.values())))
    return [k for k in calm if reach[k] <= RUNAWAY * typical] if typical > 0 else calm


def _named_plane(history: History, layers, params, at_step) -> Plane:
    row = len(history) - 1 if at_step is None else _row_of(history, at_step)
    for name, index in params:
        if any(name == p for lay in layers for p in (lay.weight, lay.bias)):
            parse_param(layers, name, index)  # the layer structure's own, clearer error first
    return parameter_plane(history, params, row)


def _grid(plane: Plane, path: np.ndarray, layers, x, y, loss, activations, resolution: int,
          margin: float) -> dict[str, np.ndarray]:
    """The loss on a ``resolution``² grid of the plane reaching ``margin`` of the path's extent beyond it."""
    axes = []
    spans = [float(path[:, j].max() - path[:, j].min()) for j in range(2)]
    for j in range(2):
        lo, hi = float(path[:, j].min()), float(path[:, j].max())
        span = spans[j]
        if span <= 1e-6 * max(spans):  # a path along one line (runs that differ by a step size): the plane as
            lo = hi = (lo + hi) / 2  # wide across it as along it, not a rounding error's width
            span = max(spans) / (2 * margin) if margin > 0 else max(spans)
        span = span or max(abs(hi), 1.0)
        axes.append(np.linspace(lo - margin * span, hi + margin * span, resolution))
    ga, gb = np.meshgrid(axes[0], axes[1])
    coords = np.column_stack([ga.ravel(), gb.ravel()])
    # The grid only draws contours and colours: single precision (a relative 1e-7) is far below what they
    # show and three to five times faster. The path's losses, which the readouts write, stay in float64.
    grid = plane_losses(plane, coords, layers, x, y, loss, activations, GRID_DTYPE).reshape(resolution, resolution)
    out = {"a": axes[0], "b": axes[1], "loss": grid}
    if plane.explained is not None:
        out["explained"] = plane.explained
    return out


def landscape_for(history: History, model, data, **kwargs) -> dict[str, np.ndarray]:
    """:func:`compute_landscape` for a run's model (its layers and activation functions) and training data;
    for a comparison's joined history (``info.runs``), :func:`compute_joint_landscape` of its runs."""
    from ..engine.losses import get_loss

    layers = list(history.info.layers) or model.layers()
    loss = data.loss if data.loss is not None else get_loss(history.info.loss)
    activations = activation_functions(layers, model)
    if history.info.runs:
        from .runs import run_history

        runs = [run_history(history, k) for k in range(len(history.info.runs))]
        return compute_joint_landscape(runs, layers, data.x, data.y, loss, activations, **kwargs)
    return compute_landscape(history, layers, data.x, data.y, loss, activations, **kwargs)


def _row_of(history: History, step: int) -> int:
    rows = np.flatnonzero(history.steps == int(step))
    if not rows.size:
        raise ValueError(f"step {step} was not recorded; recorded steps: {history.recorded()}")
    return int(rows[0])


__all__ = ["Plane", "compute_joint_landscape", "compute_landscape", "flat_trajectory", "landscape_for", "parameter_names", "parameter_plane",
           "pca_plane", "plane_losses"]
