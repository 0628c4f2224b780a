"""What ``visualizer check`` finds on a laid-out frame: text on text, text or a legend off the canvas or in
another panel, a legend over data, text under the preset's smallest size, colour for numbers with neither a
colour bar nor the numbers written, a plot squeezed too small to read at the preset's text size.

It reads a :class:`~visualizer.draw.renderer.Renderer` as built for a render (one figure, laid out once),
measures matplotlib's own text extents with the canvas's renderer, and sets the per-frame artists
(readouts, the step counter, table values, labels that move) to rows spread over the run and to the row
where each one's string is longest, keeping each one's widest extent, so a value that grows during training
is checked at its widest.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.image import AxesImage
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from .explain import ExplainFrame, row_phases
from .renderer import TextLayouts, collector_paused
from .text import FrameText, FrameTextGroup, any_inside, box_overlap, points_along

SAMPLED_ROWS = 24  # rows spread over the run (the first and last among them) where data and text are measured
MIN_PLOT_LINES = 4.0  # a plot's data area is at least this many lines of the preset's body text high and wide
SLACK = 1.0  # pixels two boxes may share before they count as overlapping (anti-aliasing, rounding)
STEP = 3.0  # pixels between the points a legend is looked for on, along a line


@dataclass(frozen=True)
class Problem:
    """One thing found: the panel it is in (its key in the layout, or "frame" for the title and counter) and
    what is wrong, in words."""

    panel: str
    what: str

    def __str__(self) -> str:
        return f"{self.panel}: {self.what}"


@dataclass
class _Item:
    """A piece of text (or a whole legend) on the frame: where it is and what it belongs to."""

    panel: str
    label: str  # how the report names it
    box: Bbox
    points: float  # font size (0 for a legend: its texts are items of their own)
    title: bool = False
    legend: Legend | None = None
    group: int = 0  # items of one legend share a group and are not compared with each other


def check_renderer(renderer) -> list[Problem]:
    """Every problem on ``renderer``'s frames (its main figure, and the explain figure when it has one)."""
    import matplotlib

    with matplotlib.rc_context(renderer.style), collector_paused():  # tick locators read the style
        return _check_renderer(renderer)


def _check_renderer(renderer) -> list[Problem]:
    with TextLayouts(renderer.figure):  # the texts are measured at every sampled row
        problems = _check_sheet(renderer, renderer._sheet, renderer.axes, list(range(len(renderer.history))))
    if renderer._explain_sheet is not None:
        rows = sorted(renderer._explained_rows)
        n = len(row_phases(renderer.history, rows[0]))
        keys = [ExplainFrame(row, p, t, 0) for row in rows for p in range(n) for t in (0.0, 0.5, 1.0)]
        with TextLayouts(renderer._explain_sheet.figure):
            problems += _check_sheet(renderer, renderer._explain_sheet, renderer._explain_sheet.axes, keys,
                                     prefix="explain ")
    seen, out = set(), []
    for p in problems:
        if str(p) not in seen:
            seen.add(str(p))
            out.append(p)
    return out


def _check_sheet(renderer, sheet, panel_axes: dict, keys: list, prefix: str = "") -> list[Problem]:
    figure, canvas = sheet.figure, sheet.canvas
    measure = canvas.get_renderer()
    owner = _owners(figure, panel_axes, prefix)
    height = figure.bbox.height
    preset = renderer.preset
    if len(keys) > SAMPLED_ROWS:
        keys = _sampled(sheet, keys)
    # Per-frame artists: each at its widest over the sampled rows; data drawn per frame, at every sampled row.
    widest: dict[tuple, _Item] = {}
    moving: dict[int, list[np.ndarray]] = {}
    # only data under a legend inside its own plot can be covered: only theirs is collected row by row
    covering = {ax for ax, box in _legend_boxes(owner, measure).items() if box_overlap(box, ax.bbox) > SLACK}
    for key in keys:
        for update in sheet.updates:
            for artist in update(key):
                for slot, item in enumerate(_frame_items(artist, owner, measure, figure)):
                    k = (id(artist), slot)
                    if k not in widest or item.box.width > widest[k].box.width:
                        widest[k] = item
                if _is_data(artist) and artist.axes in covering:
                    moving.setdefault(id(artist), []).append(_data_points(artist))
    legends = _legend_boxes(owner, measure)  # measured once more: a frame's update may have moved one
    items = _static_items(figure, owner, measure, legends) + list(widest.values())
    problems: list[Problem] = []
    problems += _too_small(items, preset, height, figure.dpi)
    problems += _off_canvas(items, figure.bbox)
    problems += _in_other_panels(items, figure, owner)
    problems += _overlaps(items)
    problems += _legends_on_data(owner, moving, legends)
    problems += _unexplained_colour(figure, owner)
    problems += _squeezed(figure, owner, preset)
    return problems


def _texts_now(artist) -> list[str]:
    """The strings a per-frame artist shows now (one per slot)."""
    if isinstance(artist, FrameTextGroup):
        return artist.get_texts()
    if isinstance(artist, (FrameText, Text)):
        return [artist.get_text()]
    return []


def _sampled(sheet, keys: list) -> list:
    """``SAMPLED_ROWS`` keys spread over ``keys``, and for every per-frame text (each slot of a group) the key
    where its string is longest, so each is measured at its widest value over the whole run, not only at the
    spread rows. (Strings are compared by length: the digits of the frame's font are all equally wide.)"""
    chosen = {int(k) for k in np.unique(np.linspace(0, len(keys) - 1, SAMPLED_ROWS).round())}
    longest: dict[tuple, tuple[int, int]] = {}  # (artist, slot) -> (length, key index)
    for k, key in enumerate(keys):
        for update in sheet.updates:
            for artist in update(key):
                for slot, text in enumerate(_texts_now(artist)):
                    if len(text) > longest.get((id(artist), slot), (-1, 0))[0]:
                        longest[(id(artist), slot)] = (len(text), k)
    chosen |= {k for _, k in longest.values()}
    return [keys[k] for k in sorted(chosen)]


def _owners(figure, panel_axes: dict, prefix: str) -> dict:
    """Each axes of the figure → the panel it belongs to: a panel's own axes, the axes it split its cell
    into, and its colour bars."""
    owner = {ax: prefix + key for key, ax in panel_axes.items()}
    specs = {ax.get_subplotspec(): name for ax, name in owner.items() if ax.get_subplotspec() is not None}
    for ax in figure.axes:
        if ax in owner:
            continue
        spec = ax.get_subplotspec()
        while spec is not None and spec not in specs:
            parent = getattr(spec.get_gridspec(), "_subplot_spec", None)
            spec = parent
        if spec is not None:
            owner[ax] = specs[spec]
    for ax, name in list(owner.items()):
        for mappable in _mappables(ax):
            bar = getattr(mappable, "colorbar", None)
            if bar is not None:
                owner.setdefault(bar.ax, name)
    for ax in figure.axes:  # anything else (a user's own extra axes): the frame's
        if ax not in owner:
            owner[ax] = prefix + "frame"
    return owner


def _mappables(ax) -> list:
    return [m for m in list(ax.images) + list(ax.collections) if m.get_array() is not None]


def _text_item(text: Text, panel: str, measure, title: bool = False) -> _Item | None:
    s = text.get_text()
    if not s.strip() or not text.get_visible() or _transparent(text.get_color()):
        return None
    return _Item(panel, repr(s if len(s) <= 40 else s[:37] + "..."), text.get_window_extent(measure),
                 text.get_fontsize(), title)


def _transparent(color) -> bool:
    from matplotlib.colors import to_rgba

    return to_rgba(color)[3] == 0


def _legend_boxes(owner: dict, measure) -> dict:
    """Each visible axes with a visible legend → the legend's box."""
    out = {}
    for ax in owner:
        legend = ax.get_legend()
        if legend is not None and legend.get_visible() and ax.get_visible():
            out[ax] = legend.get_window_extent(measure)
    return out


def _static_items(figure, owner: dict, measure, legends: dict) -> list[_Item]:
    items: list[_Item] = []
    group = 1

    def add(item):
        if item is not None:
            items.append(item)

    if figure._suptitle is not None:
        add(_text_item(figure._suptitle, "frame", measure, title=True))
    for text in figure.texts:
        if text is not figure._suptitle and not text.get_animated():
            add(_text_item(text, "frame", measure))
    for ax, panel in owner.items():
        if not ax.get_visible():
            continue
        if ax.axison:
            for axis in (ax.xaxis, ax.yaxis):
                for tick in axis._update_ticks():
                    for label in (tick.label1, tick.label2):
                        if label.get_visible():
                            add(_text_item(label, panel, measure))
                add(_text_item(axis.label, panel, measure))
                add(_text_item(axis.offsetText, panel, measure))
        for title in (ax.title, ax._left_title, ax._right_title):
            add(_text_item(title, panel, measure, title=True))
        for text in ax.texts:
            if not text.get_animated():
                add(_text_item(text, panel, measure))
        if ax in legends:
            legend = ax.get_legend()
            items.append(_Item(panel, "the legend", legends[ax], 0.0, legend=legend, group=group))
            for text in list(legend.get_texts()) + [legend.get_title()]:
                item = _text_item(text, panel, measure)
                if item is not None:
                    item.group = group
                    items.append(item)
            group += 1
    for legend in figure.legends:
        items.append(_Item("frame", "the legend", legend.get_window_extent(measure), 0.0, legend=legend,
                           group=group))
        group += 1
    return items


def _panel_of(artist, owner: dict, figure) -> str:
    ax = getattr(artist, "axes", None)
    if ax is None:
        transform = artist.get_transform()
        for a, name in owner.items():  # a FrameText placed with an axes' transform but added to the figure
            if transform in (a.transData, a.transAxes):
                return name
        return "frame"
    return owner.get(ax, "frame")


def _frame_items(artist, owner: dict, measure, figure) -> list[_Item]:
    """The text a per-frame artist shows now."""
    if not artist.get_visible():
        return []
    panel = _panel_of(artist, owner, figure)
    if isinstance(artist, FrameText):
        s = artist.get_text()
        if not s.strip():
            return []
        title = artist.axes is None and panel == "frame"  # the step counter sits in the title's band
        return [_Item(panel, repr(s), artist.get_window_extent(), artist.get_fontsize(), title)]
    if isinstance(artist, FrameTextGroup):
        return [_Item(panel, repr(s), box, artist.get_fontsize()) for s, box in artist.extents()]
    if isinstance(artist, Text):
        item = _text_item(artist, panel, measure)
        return [] if item is None else [item]
    return []


def _too_small(items: list[_Item], preset, height: float, dpi: float) -> list[Problem]:
    found: dict[tuple, tuple[float, str, int]] = {}
    for item in items:
        if item.legend is not None:
            continue
        share = item.points * dpi / 72 / height
        least = preset.min_title if item.title else preset.min_text
        if share < least - 1e-4:
            key = (item.panel, item.title)
            smallest, label, count = found.get(key, (np.inf, "", 0))
            found[key] = (min(smallest, share), label if share >= smallest else item.label, count + 1)
    out = []
    for (panel, title), (share, label, count) in found.items():
        kind = "title" if title else "text"
        more = f" and {count - 1} more" if count > 1 else ""
        least = preset.min_title if title else preset.min_text
        out.append(Problem(panel, f"{kind} {label}{more} at {share * 100:.1f} % of the frame's height, under the "
                                  f"{preset.name} preset's {least * 100:.1f} %"))
    return out


def _off_canvas(items: list[_Item], canvas: Bbox) -> list[Problem]:
    out = []
    for item in items:
        b = item.box
        if b.x0 < canvas.x0 - SLACK or b.y0 < canvas.y0 - SLACK or b.x1 > canvas.x1 + SLACK or b.y1 > canvas.y1 + SLACK:
            out.append(Problem(item.panel, f"{item.label} runs off the frame"))
    return out


def _in_other_panels(items: list[_Item], figure, owner: dict) -> list[Problem]:
    out = []
    areas = [(ax.bbox, name) for ax, name in owner.items() if ax.get_visible() and ax.axison]
    if not areas or not items:
        return out
    names = np.array([name for _, name in areas], dtype=object)
    hit = box_overlap(_extents([i.box for i in items])[:, None], _extents([a for a, _ in areas])[None, :]) > SLACK
    for item, row in zip(items, hit):
        if item.panel == "frame" and item.legend is None:
            continue
        into = np.flatnonzero(row & (names != item.panel))
        if len(into):  # the first such panel, in the layout's order
            out.append(Problem(item.panel, f"{item.label} runs into panel {names[into[0]]!r}"))
    return out


def _extents(boxes: list) -> np.ndarray:
    """(n, 4) x0, y0, x1, y1 of ``boxes``."""
    return np.array([[b.x0, b.y0, b.x1, b.y1] for b in boxes], dtype=float).reshape(-1, 4)


def _overlaps(items: list[_Item]) -> list[Problem]:
    """Text over text: one line per panel (or pair of panels), naming the first pair and how many more."""
    found: dict[str, list[str]] = {}
    boxes = _extents([i.box for i in items])
    if not len(boxes):
        return []
    hit = box_overlap(boxes[:, None], boxes[None, :]) > SLACK
    for a, b in zip(*np.nonzero(np.triu(hit, 1))):
        one, two = items[a], items[b]
        if one.group and one.group == two.group:
            continue  # a legend and its own texts
        if (one.legend is not None and two.group == one.group) or (two.legend is not None and one.group == two.group):
            continue
        panel = one.panel if one.panel == two.panel else f"{one.panel} / {two.panel}"
        found.setdefault(panel, []).append(f"{one.label} overlaps {two.label}")
    return [Problem(panel, pairs[0] + (f" (and {len(pairs) - 1} more overlaps)" if len(pairs) > 1 else ""))
            for panel, pairs in found.items()]


def _is_data(artist) -> bool:
    return isinstance(artist, (Line2D, PathCollection, LineCollection)) and artist.axes is not None


def _data_points(artist) -> np.ndarray:
    """Display points along what ``artist`` shows now (lines densified every few pixels)."""
    if isinstance(artist, Line2D):
        xy = artist.get_transform().transform(np.asarray(artist.get_xydata(), float).reshape(-1, 2))
        return points_along(xy, STEP) if artist.get_linestyle() not in ("None", "none", " ", "") else xy
    if isinstance(artist, PathCollection):
        offsets = np.asarray(artist.get_offsets(), float).reshape(-1, 2)
        return artist.get_offset_transform().transform(offsets) if len(offsets) else offsets
    if isinstance(artist, LineCollection):
        t = artist.get_transform()
        return points_along([t.transform(np.asarray(s, float)) for s in artist.get_segments() if len(s)], STEP)
    return np.zeros((0, 2))


def _legends_on_data(owner: dict, moving: dict, legends: dict) -> list[Problem]:
    """A legend (``legends``: axes → its legend's box) inside its own plot over a point of its data at any
    measured row (``moving``: per-frame artists' points by row), or over an image."""
    out = []
    measure = None
    for ax, panel in owner.items():
        box = legends.get(ax)
        if box is None or box_overlap(box, ax.bbox) <= SLACK:  # one outside its plot covers nothing
            continue
        measure = measure or ax.figure.canvas.get_renderer()
        inner = Bbox([[box.x0 + SLACK, box.y0 + SLACK], [box.x1 - SLACK, box.y1 - SLACK]])
        covered = False
        for artist in list(ax.lines) + list(ax.collections):
            if not artist.get_visible() or not _is_data(artist) or _reference(artist, ax):
                continue
            points = [_data_points(artist)] + moving.get(id(artist), [])
            pts = np.vstack([p for p in points if len(p)]) if any(len(p) for p in points) else np.zeros((0, 2))
            if len(pts):
                covered = any_inside(pts, inner)
            if covered:
                break
        if not covered:
            for image in ax.images:
                if image.get_visible() and box_overlap(image.get_window_extent(measure), inner) > SLACK:
                    covered = True
                    break
        if covered:
            out.append(Problem(panel, "the legend covers data"))
    return out


def _reference(artist, ax) -> bool:
    """A reference line (axhline, a chance level) is drawn in axes coordinates along one axis: not data."""
    return isinstance(artist, Line2D) and artist.get_transform() != ax.transData


def _unexplained_colour(figure, owner: dict) -> list[Problem]:
    """A colour map that shows numbers (an image or collection with values) needs a colour bar (its own, or
    one on the same scale elsewhere in the frame) or the numbers written on it."""
    bars = []
    for ax in owner:
        for m in _mappables(ax):
            if getattr(m, "colorbar", None) is not None:
                bars.append((m.get_cmap().name, m.norm.vmin, m.norm.vmax))
    out = []
    for ax, panel in owner.items():
        if not ax.get_visible() or any(getattr(m, "colorbar", None) is not None for m in _mappables(ax)):
            continue
        for m in _mappables(ax):
            if m.get_cmap() is None or np.size(m.get_array()) == 0:
                continue
            if isinstance(m, AxesImage) and np.ndim(m.get_array()) == 3:
                continue  # colours given as RGB(A) (class regions): no colour map stands for numbers
            if (m.get_cmap().name, m.norm.vmin, m.norm.vmax) in bars:
                continue  # a bar on the same scale elsewhere says it
            if _written(ax) or ax.get_legend() is not None:
                continue
            kind = "image" if isinstance(m, AxesImage) else type(m).__name__
            out.append(Problem(panel, f"colour shows numbers ({kind}, {m.get_cmap().name}) with no colour bar "
                                      "and no values written"))
            break
    return out


def _squeezed(figure, owner: dict, preset) -> list[Problem]:
    """A plot (an axes with its axis drawn, not a colour bar) whose data area is less than
    ``MIN_PLOT_LINES`` lines of the preset's body text high or wide: its curves and ticks cannot be read.
    An axes with square cells (a weight matrix, a map) is sized by its shape: only its longer side counts."""
    line = preset.sizes["body"] * figure.dpi / 72  # pixels
    bars = {m.colorbar.ax for ax in owner for m in _mappables(ax) if getattr(m, "colorbar", None) is not None}
    out, seen = [], set()
    for ax, panel in owner.items():
        if not ax.get_visible() or not ax.axison or ax in bars or panel in seen:
            continue
        box = ax.bbox  # as laid out and drawn: a fixed aspect already applied
        sides = (box.width, box.height)
        least = max(sides) if ax.get_aspect() == 1.0 else min(sides)
        if least < MIN_PLOT_LINES * line - SLACK:
            seen.add(panel)
            out.append(Problem(panel, f"the plot is {box.width:.0f}x{box.height:.0f} px, under {MIN_PLOT_LINES:g} lines "
                                      f"of the {preset.name} preset's body text ({MIN_PLOT_LINES * line:.0f} px) on a "
                                      "side: too small to read"))
    return out


def _written(ax) -> bool:
    """Whether numbers are written in ``ax`` (a table of values, cell texts)."""
    for artist in ax.get_children():
        if isinstance(artist, FrameTextGroup):
            return True
        if isinstance(artist, FrameText) and artist.get_transform() == ax.transData:
            return True
        if isinstance(artist, Text) and artist.get_transform() == ax.transData and \
                any(c.isdigit() for c in artist.get_text()):  # a value written once on its cell
            return True
    return False


__all__ = ["Problem", "check_renderer"]
