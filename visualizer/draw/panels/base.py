"""The panel contract, the grid layout, and helpers every panel shares (colours, fixed limits).

A panel is its settings (a dataclass) and nothing else. It declares what it needs recorded (``needs``: static
arrays and probes of the model, evaluated at every recorded step), and ``draw(ax, history)`` creates its
artists once, with limits fixed from the whole history, returning the per-frame ``update(i)``: the per-render
state lives in that closure, never on the panel, so one layout serves any number of renders. The renderer
calls ``update`` only once the figure is laid out for good, so an update may measure its axes in pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
from matplotlib.artist import Artist

from ...record.model import Needs, Setup
from .. import colours

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ...record.model import Model, TrainingData
    from ...record.history import History

Update = Callable[[int], "list[Artist]"]

# The colour roles live in draw/colours.py; these names stay for scenes that import them from here.
NEURON_COLORS = colours.NEURON_COLORS
PREDICTION_COLOR = colours.PREDICTION
DATA_COLOR = colours.DATA
CURRENT_MARK = dict(marker="o", markersize=4, linestyle="none")


# Axis limits never go past this: matplotlib's tick locators overflow near the float limit, and a curve out
# there (a run on its way to diverging) is better shown leaving the panel.
LIMIT = 1e100


def axes_points(ax: Axes) -> tuple[float, float]:
    """The axes' (width, height) in points as the grid first places them, before the layout shrinks them for
    labels and titles (by about a fifth): what a panel can judge text against while it draws."""
    position, (w, h) = ax.get_position(), ax.get_figure(root=True).get_size_inches()
    return position.width * w * 72, position.height * h * 72


def finite_range(*arrays: np.ndarray | float) -> tuple[float, float] | None:
    """The smallest and largest finite value over all ``arrays``, without copying them (None if none)."""
    lo, hi = np.inf, -np.inf
    for a in arrays:
        a = np.asarray(a, dtype=float)
        if a.size:
            mask = np.isfinite(a)
            lo = min(lo, float(a.min(where=mask, initial=np.inf)))
            hi = max(hi, float(a.max(where=mask, initial=-np.inf)))
    return (max(lo, -LIMIT), min(hi, LIMIT)) if lo <= hi else None


def fixed_limits(*arrays: np.ndarray | float, pad: float = 0.06, symmetric: bool = False) -> tuple[float, float]:
    """Axis limits covering every finite value of ``arrays`` with a margin; never a zero-width range.

    Takes several arrays rather than one concatenation so a long history is never copied to find its range.
    """
    found = finite_range(*arrays)
    if found is None:
        return (-1.0, 1.0)
    lo, hi = found
    if symmetric:
        m = max(abs(lo), abs(hi)) or 1.0
        m = m * (1 + pad) if np.isfinite(m * (1 + pad)) else m
        return (-m, m)
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        half = max(abs(hi) * 0.1, 1e-3)
        return (lo - half, hi + half)
    span = hi - lo
    padded = (lo - pad * span, hi + pad * span)
    # Values near the float limit (a run that nearly diverged) cannot take a margin without overflowing.
    return padded if np.isfinite(padded).all() else (lo, hi)


def class_probabilities(history, outputs: np.ndarray) -> np.ndarray:
    """Class probabilities ``(..., classes)`` from recorded outputs ``(..., outputs)``, by the run's loss.

    A classification loss (recorded in ``history.info``) gives its own link: sigmoid columns for one score,
    softmax for K scores. A regression run with one output in [0, 1] (a sigmoid trained on squared error) is
    read as the probability of class 1. Anything else raises ValueError.
    """
    from ...engine.losses import LOSSES, bce, softmax_ce

    info = history.info
    outputs = np.asarray(outputs, dtype=float)
    lead, n_out = outputs.shape[:-1], outputs.shape[-1]
    loss = LOSSES.get(info.loss)
    if info.loss_kind and (loss is None or loss.kind != info.loss_kind):  # a loss of the user's own: the usual
        loss = {"binary": bce, "multiclass": softmax_ce}.get(info.loss_kind)
    if loss is not None and loss.kind != "regression":
        flat = loss.probabilities(outputs.reshape(-1, n_out))
        return flat.reshape(*lead, flat.shape[-1])
    if n_out == 1:
        found = finite_range(outputs)
        if found is None or (found[0] >= 0 and found[1] <= 1):
            p = np.clip(outputs, 0.0, 1.0)
            return np.concatenate([1 - p, p], axis=-1)
    raise ValueError(f"this run's loss {info.loss or '(unknown)'!r} is not a classification loss and its "
                     f"{n_out} output(s) are not probabilities; train with softmax_ce, bce or hinge")


class AtLayout(Artist):
    """Calls ``fit(renderer)`` at every full draw of the figure, before the rest of its axes' children (add it
    with ``ax.add_artist``): the renderer's layout settles the axes' size only after the panels are drawn, so
    what must fit the laid-out axes (a table's rows and columns, a label kept inside, a legend kept off the
    curves) is decided here."""

    def __init__(self, fit: Callable) -> None:
        super().__init__()
        self._fit = fit
        self.set_zorder(-100)
        self.set_in_layout(False)

    def draw(self, renderer) -> None:
        self._fit(renderer)


class Panel:
    """Base class: override ``needs`` (what to record) and ``draw`` (create artists, return the updater)."""

    title: str = ""

    def needs(self, setup: Setup) -> Needs:
        """Static arrays and probes this panel needs recorded; keys should start with a prefix."""
        return Needs({}, [])

    def draw(self, ax: Axes, history: History) -> Update:
        """Create every artist, with limits fixed from the whole history (changing ones ``animated``), and
        return ``update(i)``, which sets them to history row ``i`` and returns the ones to redraw."""
        raise NotImplementedError

    def analyse(self, history: History, model: Model, data: TrainingData) -> dict[str, np.ndarray]:
        """Once, after training, with the model at hand: static arrays to add to the history (a loss
        landscape). Keys should start with a prefix; the model's parameters may be changed freely."""
        return {}


def _mosaic_keys(mosaic: list[list]) -> set[str]:
    """The panel keys of a mosaic (nested ones included), checking every grid's rows are equally long."""
    widths = {len(row) for row in mosaic}
    if len(widths) != 1:
        raise ValueError(f"every mosaic row needs the same number of cells, got rows of {sorted(widths)}")
    keys: set[str] = set()
    for row in mosaic:
        for cell in row:
            if isinstance(cell, str):
                keys.update({cell} - {"."})
            else:
                keys |= _mosaic_keys(cell)
    return keys


@dataclass
class Layout:
    """Panels placed on a grid: ``mosaic`` rows of panel keys (repeat a key to span cells, '.' for a gap). A
    cell may itself be a mosaic (a grid of its own, as matplotlib's ``subplot_mosaic`` nests them): its
    panels' labels then widen only its own columns."""

    mosaic: list[list]
    panels: dict[str, Panel]
    height_ratios: list[float] | None = None
    width_ratios: list[float] | None = None
    # Panels (keys) that add detail rather than the lesson: the lecture preset leaves them out (primary()).
    secondary: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        keys = _mosaic_keys(self.mosaic)
        missing, unused = keys - set(self.panels), set(self.panels) - keys
        if missing:
            raise ValueError(f"mosaic names panels that are not defined: {sorted(missing)}")
        if unused:
            raise ValueError(f"panels defined but not placed in the mosaic: {sorted(unused)}")
        if set(self.secondary) - keys:
            raise ValueError(f"secondary names panels that are not placed: {sorted(set(self.secondary) - keys)}")
        if keys and not keys - set(self.secondary):
            raise ValueError("every panel is secondary; leave at least one out of secondary")

    def primary(self) -> Layout:
        """This layout without its secondary panels, the rest re-flowed: a row (or column) whose cells are all
        secondary or belong to panels that span other rows (columns) too goes, so its neighbours take its
        room; a cell that cannot go that way is taken by the panel beside it in its row when that panel lies in
        that row alone (the losses under a main panel take the width the parameters beside them left), else it
        stays empty."""
        if not self.secondary:
            return self
        gone = set(self.secondary)
        mosaic = [[_without(c, gone) for c in row] for row in self.mosaic]
        heights, widths = self.height_ratios, self.width_ratios
        rows = _kept(mosaic)
        mosaic = [mosaic[r] for r in rows]
        heights = None if heights is None else [heights[r] for r in rows]
        cols = _kept([list(col) for col in zip(*mosaic)])
        mosaic = [[_without(cell, {_GONE}) for cell in row] for row in _widened([[row[c] for c in cols]
                                                                                for row in mosaic])]
        widths = None if widths is None else [widths[c] for c in cols]
        panels = {k: p for k, p in self.panels.items() if k in _mosaic_keys(mosaic)}
        return Layout(mosaic, panels, heights, widths)

    def needs(self, setup: Setup) -> Needs:
        """Every panel's needs, merged (same name = same quantity)."""
        out = Needs({}, [])
        for panel in self.panels.values():
            out = out.merge(panel.needs(setup))
        return out

    def analyse(self, history: History, model: Model, data: TrainingData) -> dict[str, np.ndarray]:
        """Every panel's post-training analysis, merged (same name = same quantity, computed once)."""
        out: dict[str, np.ndarray] = {}
        for panel in self.panels.values():
            for key, value in panel.analyse(history, model, data).items():
                out.setdefault(key, value)
        return out


def _without(cell, gone: set[str]):
    """A mosaic cell with the panels in ``gone`` taken out (inside a nested mosaic too, whose rows and columns
    re-flow as :meth:`Layout.primary` re-flows the layout's own)."""
    if isinstance(cell, str):
        return ("." if _GONE in gone else _GONE) if cell in gone else cell
    inner = [[_without(c, gone) for c in row] for row in cell]
    inner = [inner[r] for r in _kept(inner)]
    cols = _kept([list(col) for col in zip(*inner)])
    return [[_without(row[c], {_GONE}) for c in cols] for row in inner]


def _widened(mosaic: list[list]) -> list[list]:
    """``mosaic`` with each cell :meth:`Layout.primary` emptied taken by the panel on its left (else its right)
    in the same row, where that panel lies in that row alone, so it stays a rectangle."""
    rows = [list(row) for row in mosaic]
    for r, row in enumerate(rows):
        for step in (1, -1):  # from the left neighbour first, then from the right
            for c in range(len(row)) if step == 1 else reversed(range(len(row))):
                beside = row[c - step] if 0 <= c - step < len(row) else None
                if row[c] == _GONE and isinstance(beside, str) and beside not in (".", _GONE) and \
                        not any(beside in other for o, other in enumerate(rows) if o != r):
                    row[c] = beside
    return rows


def _kept(lines: list[list]) -> list[int]:
    """The indices of the rows (columns) primary() keeps, dropping spare ones one at a time."""
    kept = list(range(len(lines)))
    for r in range(len(lines)):
        if _spare(lines[r], [lines[o] for o in kept if o != r]):
            kept.remove(r)
    return kept


def _spare(line: list, others: list[list]) -> bool:
    """Whether a row (column) of cells can go: each is a gap or a panel found in another row (column), and
    at least one was a panel taken out (a plain gap row is the layout's own)."""
    elsewhere = {c for other in others for c in other if isinstance(c, str)}
    return all(isinstance(c, str) and (c in (".", _GONE) or c in elsewhere) for c in line) and _GONE in line


_GONE = "\0"  # a cell whose panel primary() took out
