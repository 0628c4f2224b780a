"""Which recorded rows become frames: paced by how much the run changes, in log steps, or evenly in steps.

Learning is not even in steps: a network often covers half of its whole path in the first few percent of
its steps and then barely moves. Frames evenly spaced in steps spend most of a video on a still picture and
rush through what a teacher wants to talk over. The run's **path** measures change: each parameter scaled by
its range over the run (so a large weight and a small bias count alike), plus the losses in log (so a loss
falling from 1 to 0.1 counts as much as from 0.1 to 0.01), and the distance between consecutive rows.
``pace="change"`` spaces frames evenly along that path, ``"log"`` evenly in log(step), ``"steps"`` evenly in
steps (the only way before pacing). Frames keep their training step: only which steps are drawn changes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import numpy as np

if TYPE_CHECKING:
    from .history import History

PACES = ("change", "log", "steps")
# The losses together weigh this much of what the parameters together weigh on the path: enough that a
# loss turning (a test loss rising) gets frames, not so much that the long, slow tail of a loss falling in
# log takes the frames from where the network itself moves.
LOSS_WEIGHT = 0.25
# Frames paced by change are "even enough" when their slowest fifth still carries 6 % of the path, and the
# first half of the path takes at least 30 % of them (a fifth and a half, were they perfectly even); where
# the record cannot space that many frames so, fewer are drawn.
EVEN = (0.2, 0.06, 0.3)
# But never fewer than a quarter of the frames wanted, nor than ten: a short run keeps its frames, and a run
# whose path is one jump (a divergence) still shows how it got there.
FEWEST = (0.25, 10)


def scaled(values: np.ndarray) -> np.ndarray:
    """``values`` (rows, columns), each column divided by its range over the rows; a column that does not
    change (within rounding of its size) is left out."""
    values = np.asarray(values, dtype=float).reshape(len(values), -1)
    if not values.size:
        return values
    low, high = values.min(axis=0), values.max(axis=0)
    span = high - low
    moves = span > 1e-12 * np.maximum(1.0, np.maximum(np.abs(low), np.abs(high)))
    return (values[:, moves] - low[moves]) / span[moves]


def parameter_path(history: History) -> np.ndarray:
    """The distance the parameters move between consecutive rows (one fewer than the rows), each parameter
    scaled by its range over the run: the measure of issue 24's pacing target."""
    return _steps_between([scaled(v) for v in history.params.values()])


def path(history: History, loss_weight: float = LOSS_WEIGHT) -> np.ndarray:
    """The run's path: its length from the first row to each row (0 at the first row). The parameters are
    scaled by their ranges; the losses, in log and scaled by their ranges, together weigh ``loss_weight`` of
    the parameters together."""
    parts = [scaled(v) for v in history.params.values()]
    n_params = sum(p.shape[1] for p in parts)
    logs = [scaled(np.log(np.maximum(np.asarray(v, dtype=float), 1e-300))) for v in history.losses.values()
            if np.ndim(v) == 1 and np.all(np.isfinite(v)) and np.all(np.asarray(v) > 0)]
    n_losses = sum(p.shape[1] for p in logs)
    if n_losses:
        # Each of n unit-range columns spans sqrt(n) when all move together: weigh the two groups by that.
        weight = loss_weight * np.sqrt(max(n_params, 1) / n_losses)
        parts += [p * weight for p in logs]
    return np.concatenate([[0.0], np.cumsum(_steps_between(parts))])


def _steps_between(parts: list[np.ndarray]) -> np.ndarray:
    squares = sum((np.diff(p, axis=0) ** 2).sum(axis=1) for p in parts if p.shape[1])
    if isinstance(squares, int):  # nothing moves
        n = max(len(p) for p in parts) - 1 if parts else 0
        return np.zeros(max(n, 0))
    return np.sqrt(squares)


def spread(position: np.ndarray, count: int) -> np.ndarray:
    """``count`` indices into ``position`` (non-decreasing), increasing, the first and the last always among
    them, each as close as it can be to ``count`` targets spaced evenly from the first position to the last."""
    n = len(position)
    if count >= n:
        return np.arange(n)
    if count <= 1:
        return np.array([n - 1])
    targets = np.linspace(position[0], position[-1], count)
    nearest = np.clip(np.searchsorted(position, targets), 1, n - 1)
    nearest -= (targets - position[nearest - 1]) < (position[nearest] - targets)
    picks = np.empty(count, dtype=int)
    low = -1
    for j, near in enumerate(nearest):
        # After the previous pick, leaving room for the picks still to come.
        low = picks[j] = min(max(int(near), low + 1), n - (count - j))
    picks[-1] = n - 1
    return picks


def even_frames(position: np.ndarray, count: int) -> np.ndarray:
    """:func:`spread` for ``count`` frames, or for fewer where the rows cannot space that many evenly: the
    most frames (by tenths) whose slowest fifth still carries 6 % of the path and whose first 30 % reach at
    most half of it (:data:`EVEN`), and at least a quarter of ``count`` or ten (:data:`FEWEST`). A network that is still for most of the run draws fewer frames of
    standing still, not more of the same picture."""
    fewest = min(count, max(FEWEST[1], int(np.ceil(FEWEST[0] * count))))
    rows = spread(position, count)
    while len(rows) > fewest and not _even(position[rows]):
        count = max(fewest, int(count * 0.9))
        rows = spread(position, count)
    return rows


def _even(at: np.ndarray) -> bool:
    gaps = np.diff(at)
    total = gaps.sum()
    if total <= 0:
        return True
    slowest = np.sort(gaps)[: max(1, int(np.ceil(EVEN[0] * len(gaps))))].sum()
    early = gaps[: max(1, int(EVEN[2] * len(gaps)))].sum()
    return slowest >= EVEN[1] * total and early <= total / 2


def select_rows(history: History, *, pace: str = "change", every: int | None = None, max_frames: int | None = None,
                keep: Iterable[int] = ()) -> list[int]:
    """History rows to draw, in order, the first and the last always among them.

    As many frames as the rows on the grid of ``every`` (default: the run's own recording interval, so a
    run recorded with extra log-spaced rows draws as many frames as before), at most ``max_frames``. Which
    rows: ``pace="steps"`` those on the grid, evenly spaced when fewer are wanted; ``"log"`` rows evenly
    spaced in log(step); ``"change"`` rows evenly spaced along the run's :func:`path`. ``keep`` (training
    steps, such as the moments a teacher captions) are always drawn: each takes the place of the frame
    nearest to it, so the count stays (unless more steps are kept than frames are allowed).
    """
    if pace not in PACES:
        raise ValueError(f"unknown pace {pace!r}; use one of {', '.join(PACES)}")
    n = len(history)
    grid = np.arange(n)
    interval = every or history.info.every
    if interval:
        on = history.steps % interval == 0
        on[-1] = True
        grid = grid[on]
    count = len(grid) if not max_frames else min(len(grid), max_frames)
    if pace == "steps":
        rows = grid
        if len(rows) > count:
            rows = rows[np.unique(np.round(np.linspace(0, len(rows) - 1, count)).astype(int))]
        position = history.steps.astype(float)
    elif pace == "log":
        position = np.log1p(np.maximum(history.steps, 0).astype(float))
        rows = spread(position, count)
    else:
        position = path(history)
        rows = even_frames(position, count)
    return _with_kept(history, [int(r) for r in rows], position, keep)


def _with_kept(history: History, rows: list[int], position: np.ndarray, keep: Iterable[int]) -> list[int]:
    """``rows`` with the rows of the ``keep`` steps in, each in place of the unforced row nearest to it along
    ``position`` (never the first or the last)."""
    forced = sorted({int(np.argmin(np.abs(history.steps - int(step)))) for step in keep})
    chosen = set(rows)
    protected = {0, len(history) - 1, *forced}
    for row in forced:
        if row in chosen:
            continue
        free = [r for r in chosen if r not in protected]
        if free:
            chosen.discard(min(free, key=lambda r: (abs(position[r] - position[row]), r)))
        chosen.add(row)
    return sorted(chosen)


__all__ = ["EVEN", "FEWEST", "LOSS_WEIGHT", "PACES", "even_frames", "parameter_path", "path", "scaled", "select_rows", "spread"]
