"""Which steps a run records: every ``every``-th step and the last, plus, for a paced render, log-spaced steps
that make the record dense where learning is fast (the first steps) and sparse where the network barely moves.

A schedule is known before training, so its rows are counted (and checked against the memory limit) in
advance, the same steps are recorded by every run of the same length (a comparison's runs share a time
axis), and a compiled training loop can run fused up to :meth:`RecordSchedule.next_due`.
"""
from __future__ import annotations

import math

import bisect

import numpy as np

# Log-spaced rows added on top of the grid of ``every``: as many as the grid has, at most this many (and
# only as many as fit the memory limit). So a paced run holds at most twice the grid's rows, and enough
# early rows for frames spaced by change to pick from.
MAX_LOG_ROWS = 2000


class RecordSchedule:
    """The steps a run of ``total_steps`` records: 0, ``every``, 2·``every``, …, the last, and of ``log`` steps
    spaced evenly in log(step) between 1 and the last, those (rounded to whole steps) where they are closer
    together than the grid and not beside a grid step.

    ``log=0`` is the plain grid (a :class:`~visualizer.record.history.Recorder` given only ``every``).
    """

    def __init__(self, every: int = 1, total_steps: int | None = None, log: int = 0) -> None:
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"every must be a whole number of at least 1, got {every!r}")
        if total_steps is not None and total_steps < 0:
            raise ValueError(f"total_steps must be 0 or more, got {total_steps}")
        if log and total_steps is None:
            raise ValueError("log-spaced recording needs the run's length (total_steps)")
        self.every, self.total_steps = int(every), total_steps
        extra: list[int] = []
        if log > 1 and total_steps and total_steps > 1:
            points = np.unique(np.round(np.geomspace(1, total_steps, int(log))).astype(np.int64))
            ratio = total_steps ** (1 / (int(log) - 1)) - 1
            for s in points.tolist():
                # Only where log spacing is finer than the grid, and not next to a grid step (two rows a step
                # apart would make two frames of the same picture).
                gap, off = s * ratio, min(s % self.every, self.every - s % self.every)
                if off and s != total_steps and gap < self.every and off >= gap / 2:
                    extra.append(s)
        self.extra = extra  # the log-spaced steps off the grid, sorted
        self._extra = frozenset(extra)

    @classmethod
    def paced(cls, every: int, total_steps: int, dense: bool = True, max_rows: int | None = None) -> RecordSchedule:
        """The grid of ``every``, with (``dense``) as many log-spaced steps as the grid has rows (at most
        :data:`MAX_LOG_ROWS`, and no more than make ``max_rows`` in all): what the built-in trainer records
        for frames paced by change or in log steps."""
        grid = grid_rows(total_steps, every)
        room = MAX_LOG_ROWS if max_rows is None else max(0, max_rows - grid)
        return cls(every, total_steps, min(grid, MAX_LOG_ROWS, room) if dense else 0)

    def __repr__(self) -> str:
        end = "" if self.total_steps is None else f", total_steps={self.total_steps}"
        return f"RecordSchedule(every={self.every}{end}, {len(self.extra)} log-spaced steps)"

    def due(self, step: int) -> bool:
        """Whether ``step`` is recorded."""
        return step % self.every == 0 or step == self.total_steps or step in self._extra

    def next_due(self, step: int) -> int:
        """The first recorded step after ``step`` (at most the last step, when the run's length is known)."""
        nxt = (step // self.every + 1) * self.every
        k = bisect.bisect_right(self.extra, step)
        if k < len(self.extra):
            nxt = min(nxt, self.extra[k])
        return nxt if self.total_steps is None else min(nxt, max(self.total_steps, step + 1))

    def rows(self, total_steps: int | None = None) -> int:
        """How many rows a run of ``total_steps`` (default: the schedule's) records."""
        total = self.total_steps if total_steps is None else total_steps
        if total is None:
            raise ValueError("the run's length is not known")
        return grid_rows(total, self.every) + sum(1 for s in self.extra if s < total)

    def steps(self) -> np.ndarray:
        """Every recorded step, in order (for a run of known length)."""
        if self.total_steps is None:
            raise ValueError("the run's length is not known")
        grid = np.arange(0, self.total_steps + 1, self.every)
        return np.unique(np.concatenate([grid, self.extra, [self.total_steps]]).astype(np.int64))


def grid_rows(total_steps: int, every: int) -> int:
    """Rows of steps 0, k, 2k, … and the last, in a run of ``total_steps``."""
    return total_steps // every + 1 + (total_steps % every != 0)


def every_that_fits(total_steps: int, every: int, max_rows: int) -> int:
    """The smallest recording interval, at least ``every``, whose grid over ``total_steps`` holds at most
    ``max_rows`` rows (the hint a refusal of a too large recording gives)."""
    fits = max(every, math.ceil(total_steps / max(1, max_rows - 2)))
    while fits > every and grid_rows(total_steps, fits - 1) <= max_rows:
        fits -= 1
    return fits


__all__ = ["MAX_LOG_ROWS", "RecordSchedule", "every_that_fits", "grid_rows"]
