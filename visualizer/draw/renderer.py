"""One figure, panels on a grid, axes fixed from the whole history; frames come out as uint8 pixel arrays.

The figure is laid out and drawn once without its changing ("animated") artists; that picture is kept and,
for every frame, restored and only the changing artists are drawn on top (blitting). Explained steps
(``--explain``) are drawn the same way from a second layout, the slow-motion one, on a figure of their own.
"""
from __future__ import annotations

import gc
import os
import threading
from contextlib import contextmanager
from dataclasses import replace
from typing import Callable, NamedTuple, Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation, ScalarFormatter
from PIL import Image

from . import MIN_SIZE, colours
from .explain import ExplainFrame, FrameStep, explain_rows, row_phases
from .panels import Layout, explain_layout
from ..record.history import History
from .presets import PRESETS, Preset, preset_named
from .text import FrameText
from .titlecard import TitleCard, draw_title_card

STYLE = PRESETS["default"].style()


class TickLabels(ScalarFormatter):
    """Matplotlib's default tick labels, with numbers as plain text and only the offset and scale label
    (``×10⁻³``, ``+1.5``) in mathtext.

    With ``axes.formatter.use_mathtext`` every tick label is a mathtext expression (``$\\mathdefault{0.5}$``),
    which reads the same as plain text but costs a fifth of a renderer's set-up to parse and lay out; the
    scale label is where mathtext reads better than ``1e-3``, and it is drawn far less often."""

    def __init__(self) -> None:
        super().__init__(useMathText=True)

    def __call__(self, x: float, pos: int | None = None) -> str:
        label = super().__call__(x, pos)
        if label.startswith(_MATH_NUMBER[0]) and label.endswith(_MATH_NUMBER[1]):
            return label[len(_MATH_NUMBER[0]):-len(_MATH_NUMBER[1])]
        return label


_MATH_NUMBER = ("$\\mathdefault{", "}$")


def plain_tick_labels(figure: Figure) -> None:
    """Give every axis of ``figure`` still on matplotlib's default formatter :class:`TickLabels` (a panel's
    own formatter, or a log axis's, is left as it is). Call it within the style, after the panels are set up
    and before the first draw."""
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if type(axis.get_major_formatter()) is ScalarFormatter:
                axis.set_major_formatter(TickLabels())


class _TwoAndFive(LogFormatterSciNotation):
    """A log axis's minor tick labels at 2 and 5 times a power of ten only (2×10⁻², 5×10⁻²)."""

    def __init__(self) -> None:
        super().__init__(labelOnlyBase=False, minor_thresholds=(np.inf, np.inf))

    def __call__(self, x: float, pos: int | None = None) -> str:
        if x <= 0:
            return ""
        mantissa = x / 10.0 ** np.floor(np.log10(x) + 1e-9)
        return super().__call__(x, pos) if min(abs(mantissa - 2), abs(mantissa - 5)) < 1e-6 else ""


def thin_crowded_ticks(figure: Figure, renderer, forget: Callable | None = None) -> bool:
    """Give every axis whose tick labels touch each other fewer ticks (every other one of fixed, named
    ticks; a log axis's labelled minor ticks, as 2×10⁻² beside 3×10⁻², lose their labels first); True if any
    changed (the figure needs laying out again). ``forget`` is called with each axis whose locator's settings
    changed in place (see :meth:`TicksOnce.forget`)."""
    from matplotlib.ticker import FixedLocator, LogLocator, MaxNLocator, NullFormatter

    changed = False
    for ax in figure.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        for axis, along in ((ax.xaxis, 0), (ax.yaxis, 1)):
            ticks = [t for t in axis._update_ticks() if t.label1.get_visible() and t.label1.get_text().strip()]
            if len(ticks) < 3:
                continue
            boxes = sorted((t.label1.get_window_extent(renderer) for t in ticks),
                           key=lambda b: b.x0 if along == 0 else b.y0)
            gap = 0.25 * ticks[0].label1.get_fontsize() * figure.dpi / 72
            crowded = any((b.x0 - a.x1 if along == 0 else b.y0 - a.y1) < gap for a, b in zip(boxes, boxes[1:]))
            if not crowded:
                continue
            minor = {id(t) for t in axis.minorTicks}
            if any(id(t) in minor for t in ticks):  # labelled minor ticks: 2× and 5× only, then none
                thinner = NullFormatter() if isinstance(axis.get_minor_formatter(), _TwoAndFive) else _TwoAndFive()
                axis.set_minor_formatter(thinner)
                changed = True
                continue
            locator, formatter = axis.get_major_locator(), axis.get_major_formatter()
            if isinstance(locator, FixedLocator):  # named ticks: every other name
                locs = list(locator.locs)
                names = [formatter(loc, k) for k, loc in enumerate(locs)]
                axis.set_ticks(locs[::2], names[::2])
                changed = True
            elif isinstance(locator, (MaxNLocator, LogLocator)):
                if isinstance(locator, MaxNLocator):
                    locator.set_params(nbins=max(1, (len(ticks) - 1) // 2))
                else:
                    locator.set_params(numticks=max(2, len(ticks) // 2))
                if forget is not None:
                    forget(axis)
                changed = True
    return changed


def wrap_wide_titles(figure: Figure, renderer) -> bool:
    """Break a panel's title or axis label that is wider than its panel (or runs off the frame) at the space
    nearest the middle of its longest line; True if any changed (the figure needs laying out again)."""
    changed = False
    for ax in figure.axes:
        if not ax.get_visible():
            continue
        for text, room in ((ax.title, ax.bbox.width), (ax._left_title, ax.bbox.width),
                           (ax.xaxis.label, ax.bbox.width), (ax.yaxis.label, ax.bbox.height)):
            lines = text.get_text().split("\n")
            longest = max(range(len(lines)), key=lambda k: len(lines[k]))
            if not text.get_visible() or " " not in lines[longest].strip() or len(lines) > 2:
                continue  # at most three lines: a panel squeezed narrower than that has other trouble
            box = text.get_window_extent(renderer)
            extent = box.height if text is ax.yaxis.label else box.width
            if extent <= room * 1.05 and box.x0 >= 0 and box.x1 <= figure.bbox.width:
                continue
            line = lines[longest]
            spaces = [k for k, c in enumerate(line) if c == " "]
            cut = min(spaces, key=lambda k: abs(k - len(line) / 2))
            lines[longest:longest + 1] = [line[:cut], line[cut + 1:]]
            text.set_text("\n".join(lines))
            changed = True
    return changed


def place_decorations(figure: Figure, renderer) -> None:
    """After the layout engine has placed the axes, what a draw would do first for each axes and that
    :func:`thin_crowded_ticks` and :func:`wrap_wide_titles` read: the axes' active position (an axes locator,
    as a colorbar's, or a fixed aspect shrinks it) and the y label's distance from the tick labels (its x). The
    tick labels are placed by the check itself; titles and x labels only move up or down (unread)."""
    for ax in figure.axes:
        if not ax.get_visible():
            continue
        locator = ax.get_axes_locator()
        ax.apply_aspect(locator(ax, renderer) if locator else None)
        if ax.axison and hasattr(ax.yaxis, "_update_label_position"):
            ax.yaxis._update_label_position(renderer)


class _Shortcuts:
    """Shortcuts set on single matplotlib objects (an instance attribute in front of the class's method) while
    a ``with`` stands; on leaving, the objects are as they were and what was remembered is let go of."""

    def __init__(self) -> None:
        self.wrapped: list[tuple[object, str]] = []

    def __enter__(self):
        try:
            self._install()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for obj, name in self.wrapped:  # the class's methods again
            obj.__dict__.pop(name, None)
        self.wrapped.clear()
        self._forget_all()

    def _wrap(self, obj, name: str, shortcut: Callable) -> None:
        setattr(obj, name, shortcut)
        self.wrapped.append((obj, name))

    def _install(self) -> None:
        raise NotImplementedError

    def _forget_all(self) -> None:
        raise NotImplementedError


class _Known(NamedTuple):
    """What :class:`TicksOnce` remembers of an axis."""

    state: tuple  # view limits, locators and formatters
    where: tuple  # the axes' box in pixels
    room: int  # the ticks the axis has room for
    ticks: list  # the ticks to draw
    boxes: dict  # {(renderer, ticks): their labels' boxes}, at ``where``


class TicksOnce(_Shortcuts):
    """While it stands, each axis of ``figure`` works out its ticks (locations, labels, which to draw) and
    measures their labels once per state: its ticks again only when its view limits, its locator or formatter
    or the number of ticks the axis has room for changed, its labels' boxes again when the axes' box in pixels
    moved too. A layout pass asks an axis for its ticks and their labels' boxes a dozen times over (for each
    axes' tight box, its label's and title's places, the siblings' boxes), all in the same state, and the
    layout engine's next round moves the axes by a few pixels, which changes the boxes but seldom the ticks.
    Call :meth:`forget` after changing a locator's or formatter's settings in place (a new locator or
    formatter, or a new text of a title, needs nothing); tick parameters changed in place while it stands
    (``tick_params``) are not seen (the set-up changes none).

    It wraps two of matplotlib's own axis methods (``_update_ticks``, ``_get_ticklabel_bboxes``); with a
    matplotlib that lacks them it does nothing, and the set-up is only slower."""

    METHODS = ("_update_ticks", "_get_ticklabel_bboxes")

    def __init__(self, figure: Figure, layouts: TextLayouts | None = None) -> None:
        super().__init__()
        self.axes = [axis for ax in figure.axes for axis in (ax.xaxis, ax.yaxis)
                     if all(callable(getattr(axis, name, None)) for name in self.METHODS)]
        self.layouts = layouts  # new ticks' labels are given its remembered layouts
        self.memo: dict[int, _Known] = {}  # by id(axis)

    def _install(self) -> None:
        for axis in self.axes:
            self._wrap(axis, "_update_ticks", self._ticks(axis, axis._update_ticks))
            self._wrap(axis, "_get_ticklabel_bboxes", self._boxes(axis, axis._get_ticklabel_bboxes))

    def _forget_all(self) -> None:
        self.memo.clear()

    def forget(self, axis=None) -> None:
        """Work ``axis``'s ticks out again when next asked (every axis's, without one)."""
        if axis is None:
            self.memo.clear()
        else:
            self.memo.pop(id(axis), None)

    @staticmethod
    def _state(axis) -> tuple:
        major, minor = axis.major, axis.minor
        return (tuple(axis.get_view_interval()), id(major.locator), id(major.formatter), id(minor.locator),
                id(minor.formatter))

    def _ticks(self, axis, update):
        def ticks() -> list:
            state, where = self._state(axis), axis.axes.bbox.bounds
            known = self.memo.get(id(axis))
            if known is None or known.state != state or known.where != where:
                # The room for ticks (the axes' length over the tick labels' size) is all that a locator reads
                # of the axes' size (nbins="auto", numticks="auto"); tick positions in pixels come from transforms.
                room = axis.get_tick_space()
                if known is not None and known.state == state and known.room == room:
                    known = known._replace(where=where, boxes={})  # the axes moved or grew: the same ticks
                else:
                    known = _Known(state, where, room, update(), {})
                    if self.layouts is not None:
                        self.layouts.adopt(text for tick in known.ticks for text in (tick.label1, tick.label2))
                self.memo[id(axis)] = known
            return list(known.ticks)
        return ticks

    def _boxes(self, axis, measure):
        def boxes(ticks: list, renderer) -> tuple[list, list]:
            known = self.memo.get(id(axis))
            if known is None or known.state != self._state(axis) or known.where != axis.axes.bbox.bounds:
                return measure(ticks, renderer)  # ticks placed outside the memo
            key = (id(renderer), tuple(map(id, ticks)))
            if key not in known.boxes:
                known.boxes[key] = measure(ticks, renderer)
            first, second = known.boxes[key]
            return list(first), list(second)
        return boxes


class TextLayouts(_Shortcuts):
    """While it stands, each text of ``figure`` lays itself out (its lines' sizes and offsets from its anchor:
    matplotlib's ``Text._get_layout``) once per look: again only when its string, font, alignment, rotation,
    line spacing or the figure's dpi changed. Laying a figure out and checking it measure the same texts many
    times over (every layout round, every title placed, every sampled row), and a text's layout does not
    depend on where it stands, only on how it looks.

    Texts made while it stands (new ticks' labels) are given it with :meth:`adopt`; a text laid out as it
    wraps to its figure (``wrap=True``) is laid out afresh each time. On leaving, the texts are as they were
    (nothing of it is copied or pickled with them). It does nothing with a matplotlib whose ``_get_layout``
    reads anything not in :attr:`READS` (a new setting would go unseen)."""

    READS = frozenset({
        "Bbox", "_find_fonts_by_props", "_fontproperties", "_get_font_height_metrics", "_get_multialignment",
        "_get_text_metrics_with_cache", "_get_wrapped_text", "_ha_for_angle", "_horizontalalignment",
        "_linespacing", "_preprocess_math", "_rotate_point", "_va_for_angle", "_verticalalignment", "append",
        "dpi", "fontManager", "from_bounds", "functools", "get_figure", "get_font", "get_rotation",
        "get_rotation_mode", "get_sfnt_table", "get_size_in_points", "get_usetex", "hasattr", "itertools", "len",
        "list", "max", "min", "partial", "split", "starmap", "zip"})
    LIMIT = 4096  # remembered layouts; per-frame texts (readouts, the step counter) bring new strings each row
    _usable: bool | None = None

    def __init__(self, figure: Figure) -> None:
        super().__init__()
        self.figure = figure
        self.known: dict[tuple, tuple] = {}

    def _install(self) -> None:
        self.adopt_figure()

    def _forget_all(self) -> None:
        self.known.clear()

    @classmethod
    def usable(cls) -> bool:
        if cls._usable is None:
            from matplotlib.text import Text

            code = getattr(Text._get_layout, "__code__", None)
            cls._usable = code is not None and set(code.co_names) <= cls.READS
        return cls._usable

    def adopt(self, texts) -> None:
        """Let each of ``texts`` (matplotlib ``Text`` objects) use the remembered layouts."""
        if not self.usable():
            return
        for text in texts:
            if "_get_layout" not in text.__dict__:
                self._wrap(text, "_get_layout", self._layout(text, type(text)._get_layout.__get__(text)))

    def adopt_figure(self) -> None:
        """:meth:`adopt` every text the figure holds now: its own, its axes', their titles, axis labels and
        ticks' labels, legends and annotations (an axis's ticks are not worked out for it)."""
        from matplotlib.axis import Axis
        from matplotlib.text import Text

        texts, stack = [], [self.figure]
        while stack:
            artist = stack.pop()
            if isinstance(artist, Text):
                texts.append(artist)
            if isinstance(artist, Axis):  # its children would be its ticks worked out now
                ticks = [*artist.__dict__.get("majorTicks", []), *artist.__dict__.get("minorTicks", [])]
                stack += [artist.label, artist.offsetText, *(t for tick in ticks for t in (tick.label1, tick.label2))]
            else:
                stack += artist.get_children()
        self.adopt(texts)

    def _layout(self, text, measure):
        known = self.known

        def layout(renderer):
            if text.get_wrap():
                return measure(renderer)
            key = (text.get_text(), hash(text._fontproperties), text.get_rotation(), text.get_rotation_mode(),
                   text._horizontalalignment, text._verticalalignment, text._linespacing,
                   text._get_multialignment(), text.get_usetex(), text.get_parse_math(),
                   text.get_figure(root=True).dpi, id(renderer))
            found = known.get(key)
            if found is None:
                if len(known) >= self.LIMIT:
                    known.clear()
                found = known[key] = measure(renderer)
            return found
        return layout


class FontHeights:
    """The ascent, descent and line gap of a font at a size, which matplotlib's ``Text`` asks its renderer for
    (``_get_font_height_metrics``) each time it lays a text out, remembered per font for one canvas's renderer.

    A renderer without that method (the Agg one) leaves matplotlib to find the font and read two of its
    tables for every text it measures, a tenth of a renderer's set-up; this works out the same numbers, with
    matplotlib's own formula, once per font, size and font settings. :meth:`install` adds it only where it is
    the same: where matplotlib's text layout asks for it and reads those tables, and where a trial text laid
    out with and without it (once per process) comes out the same; elsewhere it does nothing."""

    TABLES = (("OS/2", "sTypoLineGap", "sTypoAscender", "sTypoDescender"), ("hhea", "lineGap", "ascent", "descent"))
    RC = tuple(f"font.{key}" for key in ("family", "style", "variant", "weight", "stretch", "size", "serif",
                                         "sans-serif", "cursive", "fantasy", "monospace"))  # what finding a font reads
    _same: bool | None = None  # the trial's verdict, once per process

    def __init__(self, dpi: float) -> None:
        self.dpi = dpi  # a canvas makes a new renderer when its figure's dpi changes
        self.known: dict[tuple, tuple] = {}

    @classmethod
    def install(cls, renderer) -> None:
        """Give ``renderer`` (a canvas's, kept for the figure's life) the remembered font heights."""
        from matplotlib.text import Text

        if hasattr(renderer, "_get_font_height_metrics"):
            return
        if cls._same is None:
            names = Text._get_layout.__code__.co_names
            cls._same = "_get_font_height_metrics" in names and "get_sfnt_table" in names and cls._trial()
        if cls._same:
            renderer._get_font_height_metrics = cls(renderer.dpi)

    @classmethod
    def _trial(cls) -> bool:
        from matplotlib.backends.backend_agg import RendererAgg

        figure = Figure(dpi=100)
        texts = [figure.text(0, 0, "Ag\nlp"), figure.text(0, 0, "Ag\nlp", linespacing="normal", size=7)]
        plain, ours = RendererAgg(50, 50, 100), RendererAgg(50, 50, 100)
        ours._get_font_height_metrics = cls(ours.dpi)
        try:
            return all(str(text._get_layout(plain)) == str(text._get_layout(ours)) for text in texts)
        except Exception:  # a matplotlib this was not written for
            return False

    def __call__(self, prop) -> tuple:
        import os

        dpi = self.dpi
        rc = tuple(tuple(v) if isinstance(v, list) else v for v in map(matplotlib.rcParams.__getitem__, self.RC))
        key = (hash(prop), dpi, rc, os.getenv("MPL_IGNORE_SYSTEM_FONTS"))
        known = self.known.get(key)
        if known is None:
            known = self.known[key] = self._measure(prop, dpi)
        return known

    def _measure(self, prop, dpi: float) -> tuple:
        """As ``matplotlib.text.Text._get_layout`` measures a font's height (the same expressions, in order)."""
        from matplotlib.font_manager import fontManager, get_font

        font = get_font(fontManager._find_fonts_by_props(prop))
        for table_name, linegap_key, ascent_key, descent_key in self.TABLES:
            table = font.get_sfnt_table(table_name)
            if table is None:
                continue
            fontsize = prop.get_size_in_points()
            units_per_em = font.get_sfnt_table("head")["unitsPerEm"]
            scale = 1 / units_per_em * fontsize * dpi / 72
            return table[ascent_key] * scale, -table[descent_key] * scale, table[linegap_key] * scale
        return None, None, None


class _Collector:
    """Who holds the collector off: :func:`collector_paused` counts the holders across threads (the first
    turns the collector off, the last turns it back on, if it was on), and a process forked while it is held
    starts with the collector as it was."""

    lock = threading.Lock()
    holders = 0
    was_on = False

    @classmethod
    def reset_in_child(cls) -> None:
        if cls.holders and cls.was_on:
            gc.enable()
        cls.lock = threading.Lock()
        cls.holders, cls.was_on = 0, False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_Collector.reset_in_child)


@contextmanager
def collector_paused():
    """Hold Python's cyclic garbage collector off while a figure is built, laid out or checked.

    A figure is tens of thousands of objects, linked both ways (artists, transforms, callbacks), and every one
    of them lives as long as the figure: the collector, set off by so many new objects, passes over them all
    again and again and finds nothing to free (a full pass over a test process's objects takes a fifth of a
    second, an eighth of a check's time). Held off, it picks up afterwards where it was; what the figure
    leaves behind when it is closed is freed then, as before. Threads that hold it off at once share the
    pause; a collector that was off when the first of them came stays off."""
    with _Collector.lock:
        if _Collector.holders == 0:
            _Collector.was_on = gc.isenabled()
            gc.disable()
        _Collector.holders += 1
    try:
        yield
    finally:
        with _Collector.lock:
            _Collector.holders -= 1
            if _Collector.holders == 0 and _Collector.was_on:
                gc.enable()
                # The pass over the young objects the pause put off, here and now (the next new object would
                # set it off anyway), not at some later moment of the work: in a drawing process, while a
                # frame is drawn and a stop may come.
                gc.collect(0)


class _Sheet:
    """One layout's figure at ``size`` pixels, laid out once: its canvas, the picture without the changing
    artists (the background) and the panels' updaters, which draw a frame on it by blitting."""

    def __init__(self, layout: Layout, history: History, size: tuple[int, int], dpi: float, title: str) -> None:
        self.figure = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi, layout="constrained")
        self.canvas = FigureCanvasAgg(self.figure)
        FontHeights.install(self.canvas.get_renderer())
        self.axes = self.figure.subplot_mosaic(
            layout.mosaic, empty_sentinel=".", height_ratios=layout.height_ratios, width_ratios=layout.width_ratios)
        # Panels are settings; what they draw per frame lives in the updaters they return.
        self.updates = [panel.draw(self.axes[key], history) for key, panel in layout.panels.items()]
        plain_tick_labels(self.figure)
        # The title is static and drawn once with the background. It also reserves the top band in the layout
        # (for the renderer's step counter); with no title, a blank one does.
        self.figure.suptitle(title or " ")
        self.background = None

    def freeze(self, pixels: bool = True) -> None:
        """Lay the figure out and draw its background; the layout is final from here, so nothing is
        re-measured per frame (and updaters may measure the axes in pixels). Without ``pixels`` the figure
        is only laid out and measured (what ``visualizer check`` needs), not drawn.

        Each pass runs the layout engine and then brings up to date only what :func:`thin_crowded_ticks` and
        :func:`wrap_wide_titles` read (:func:`place_decorations`), not a whole draw of the figure; the picture
        is painted once, at the final layout, and that paint places everything else."""
        renderer = self.canvas.get_renderer()
        engine = self.figure.get_layout_engine()

        def lay_out() -> None:
            engine.execute(self.figure)
            place_decorations(self.figure, renderer)

        with TextLayouts(self.figure) as layouts, TicksOnce(self.figure, layouts) as ticks:
            lay_out()
            for _ in range(3):  # large text on a small panel: fewer ticks or a title on two lines, laid out again
                changed = False
                for _ in range(3):  # as far as the panels' present sizes tell, before the (costly) new layout
                    if not (thin_crowded_ticks(self.figure, renderer, ticks.forget)
                            | wrap_wide_titles(self.figure, renderer)):
                        break
                    changed = True
                if not changed:
                    break
                lay_out()
            self.figure.set_layout_engine("none")
            if pixels:
                self.canvas.draw()  # the background, at the layout just made (the engine is off: nothing moves)
            else:  # every artist measured and placed, as a paint would, with nothing painted
                with renderer._draw_disabled():
                    self.figure.draw(renderer)
        self.background = self.canvas.copy_from_bbox(self.figure.bbox) if pixels else None

    def draw(self, key: int) -> FigureCanvasAgg:
        """Draw frame ``key`` (every updater's artists on the background) and return the canvas."""
        self.canvas.restore_region(self.background)
        # What Figure.draw_artist does, with the canvas's renderer looked up once per frame, not per artist
        # (the look-up measures the canvas each time: a tenth of a frame's drawing under cProfile).
        renderer = self.canvas.get_renderer()
        for update in self.updates:
            for artist in update(key):
                artist.draw(renderer)
        return self.canvas


class CaptionBand:
    """Burned-in captions: a band under the panels, reserved in the layout (so no panel's text is covered),
    where the caption of each frame that has one is drawn in white on a dark box, large enough for the back
    row; a long caption is wrapped onto a second line. ``captions``: frame identity (row, explain frame
    index or -1) → text."""

    POINTS = 16  # at 100 dpi (1280x720): 22 px, 3 % of the frame's height
    MAX_LINES = 2

    def __init__(self, captions: dict[tuple[int, int], str], size: tuple[int, int], dpi: float) -> None:
        from matplotlib.backends.backend_agg import RendererAgg
        from matplotlib.font_manager import FontProperties

        self.captions = captions
        self.fontsize = self.POINTS  # points: the figure's dpi scales them with the frame
        measure = RendererAgg(*size, dpi)
        prop = FontProperties(size=self.fontsize)

        def fits(line: str) -> bool:  # within 94 % of the frame's width, the box's padding included
            return measure.get_text_width_height_descent(line, prop, ismath=False)[0] <= 0.94 * size[0] - \
                0.6 * self.fontsize * dpi / 72

        wrapped: dict[str, list[str]] = {}
        self.lines = {}
        for key, text in captions.items():
            if text not in wrapped:
                lines: list[str] = []
                for word in text.split():
                    if lines and fits(f"{lines[-1]} {word}"):
                        lines[-1] += f" {word}"
                    else:
                        lines.append(word)
                lines = lines or [""]
                if len(lines) > self.MAX_LINES:
                    lines = lines[:self.MAX_LINES]
                    while lines[-1] and not fits(lines[-1] + "…"):
                        lines[-1] = lines[-1][:-1]
                    lines[-1] = lines[-1].rstrip() + "…"
                wrapped[text] = lines
            self.lines[key] = wrapped[text]
        self.n_lines = max((len(v) for v in self.lines.values()), default=0)

    def reserve(self, sheet: _Sheet) -> None:
        """Reserve the band at the bottom of ``sheet``'s figure and add the captions' artists to it."""
        if not self.n_lines:
            return
        figure = sheet.figure
        # A blank x label of the figure takes the band's height in the constrained layout, as the title does;
        # its lines are a little taller than the captions' boxes.
        band = figure.supxlabel("\n".join(["Ág"] * self.n_lines), fontsize=self.fontsize * 1.3, color="none",
                                linespacing=1.25)
        texts = [FrameText(0.5, 0.0, "", transform=figure.transFigure, ha="center", va="center",
                           fontsize=self.fontsize, color="white", background="#1f2023", background_alpha=0.88,
                           pad=0.3) for _ in range(self.n_lines)]
        for text in texts:
            figure.add_artist(text)
        placed = []

        def update(key: int) -> list[FrameText]:
            lines = self.lines.get((int(key), getattr(key, "index", -1)))
            if not lines:
                return []
            if not placed:  # the layout is final once the first frame is drawn: the lines split the band
                box = band.get_window_extent().transformed(figure.transFigure.inverted())
                for k, text in enumerate(texts):
                    text.set_position(0.5, box.y1 - (k + 0.5) * box.height / self.n_lines)
                placed.append(True)
            first = self.n_lines - len(lines)  # a one-line caption sits on the band's bottom line
            for k, text in enumerate(texts):
                text.set_text(lines[k - first] if k >= first else "")
            return texts[first:]

        sheet.updates.append(update)


class Renderer:
    """Draws frames of a :class:`History` with a :class:`Layout` at ``size`` = (width, height) pixels.

    Frames are keyed by history row; with ``explain`` (recorded steps), an
    :class:`~visualizer.draw.explain.ExplainFrame` key draws that step's slow-motion sequence instead: the
    explain layout (:func:`~visualizer.draw.panels.explain.explain_layout`) on a second figure of the same size,
    from the per-sample arrays in ``history.static`` (see :func:`~visualizer.draw.explain.explain_analysis`;
    arrays not stored there may come in ``explain_static``). With ``title_card``, a
    :class:`~visualizer.draw.titlecard.TitleCard` key draws the run's title card. ``preset`` (a name in
    :data:`~visualizer.draw.presets.PRESETS`, or ``"NAME:dark"`` in the dark theme) sets text sizes, line widths,
    whether the layout's secondary panels show and the colours' theme.
    With ``pixels=False`` the figures are only laid out (for :mod:`visualizer.draw.check`) and
    cannot draw frames.
    """

    def __init__(self, layout: Layout, history: History, size: tuple[int, int] = (1280, 720),
                 dpi: float | None = None, title: str = "", explain: Sequence[int] = (),
                 explain_static: dict[str, np.ndarray] | None = None,
                 captions: dict[tuple[int, int], str] | None = None, title_card: bool = False,
                 preset: str | Preset = "default", pixels: bool = True) -> None:
        width, height = size
        self.preset = preset_named(preset)
        self.style = self.preset.style()
        if not self.preset.secondary:  # the lecture preset: the layout's secondary panels are left out
            layout = layout.primary()
        # The same picture at any size: text and lines scale with the frame (1280x720 = 100 dpi); the
        # smaller ratio wins so a narrow or short frame still fits its text.
        dpi = dpi or min(width / 12.8, height / 7.2)
        if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
            raise ValueError(f"frame size {width}x{height} is too small; use at least {MIN_SIZE[0]}x{MIN_SIZE[1]}")
        if len(history) == 0:
            raise ValueError("the history has no recorded steps")
        self.history = history
        self.size = (int(width), int(height))
        # What builds this same renderer in another process (see visualizer.run.pipeline.draw_piece).
        self.recipe = (layout, history, self.size, dpi, title, tuple(explain), explain_static, captions, title_card,
                       self.preset.name)
        self.title = title
        self._card_dpi = dpi if title_card else None  # the title card (a TitleCard key), drawn once when first shown
        self._card: np.ndarray | None = None
        self._total = history.total_steps
        diverged = history.info.diverged_at
        self._counter_note = f" (diverged at {diverged:,})" if diverged is not None else ""
        self._explain_sheet: _Sheet | None = None  # the explain layout's figure, with explain=
        self._explained_rows: set[int] = set()
        self._explain_shown: tuple | None = None  # (row, phase, t) of the picture on the explain canvas
        with matplotlib.rc_context(self.style), colours.theme(self.preset.theme), collector_paused():
            self._sheet = _Sheet(layout, history, self.size, dpi, title)
            self.figure, self.canvas, self.axes = self._sheet.figure, self._sheet.canvas, self._sheet.axes
            # Only the step counter changes at the top; it is drawn after the panels, in the title's band.
            where = dict(x=0.995, ha="right") if title else dict(x=0.5, ha="center")
            self._counter = FrameText(where["x"], 0.995, "", transform=self.figure.transFigure, ha=where["ha"],
                                      va="top", fontsize=self.style["figure.titlesize"])
            self.figure.add_artist(self._counter)
            self._sheet.updates.append(self._count)
            if title:
                self._title_beside_counter()
            self._band = CaptionBand(captions or {}, self.size, dpi)
            self._band.reserve(self._sheet)
            self._sheet.freeze(pixels)
            # Draw the first and last rows once here: forked workers then inherit a warm glyph cache, and a
            # panel that cannot draw fails now, in this process, with its own error.
            for i in {0, len(history) - 1} if pixels else ():
                self._sheet.draw(i)
            if explain:
                rows = explain_rows(history, explain)
                self._explained_rows = set(rows)
                # The explain panels read the history; arrays given apart join its own (which win).
                read = replace(history, static={**explain_static, **history.static}) if explain_static else history
                self._explain_sheet = _Sheet(explain_layout(explain), read, self.size, dpi, title)
                self._band.reserve(self._explain_sheet)
                self._explain_sheet.freeze(pixels)
                # Every phase of the first explained step once: a problem shows now, in this process.
                plan = row_phases(history, rows[0])
                for p in range(len(plan) if pixels else 0):
                    self._explain_sheet.draw(ExplainFrame(rows[0], p, 1.0, 0))
        for sheet in [self._sheet] + ([self._explain_sheet] if self._explain_sheet else []):
            got = sheet.canvas.get_width_height()
            if got != self.size:  # float figsize rounding; never seen at common sizes but cheap to guard
                raise RuntimeError(f"canvas is {got[0]}x{got[1]}, expected {width}x{height}; try another dpi")

    def _title_beside_counter(self) -> None:
        """Centre the title in the room left of the step counter at its widest, on two lines if it needs."""
        self._count(len(self.history) - 1)
        room = 1.0 - self._counter.get_window_extent().width / self.figure.bbox.width - 0.03
        heading = self.figure._suptitle
        heading.set_x(room / 2)
        measure = self.canvas.get_renderer()
        text = heading.get_text()
        if heading.get_window_extent(measure).width > room * self.figure.bbox.width and " " in text:
            spaces = [k for k, c in enumerate(text) if c == " "]
            cut = min(spaces, key=lambda k: abs(k - len(text) / 2))
            heading.set_text(text[:cut] + "\n" + text[cut + 1:])

    def _count(self, i: int) -> list[FrameText]:
        self._counter.set_text(f"step {int(self.history.steps[i]):,} / {self._total:,}{self._counter_note}")
        return [self._counter]

    def draw(self, i: int) -> np.ndarray:
        """Render history row ``i`` (or an explain frame) and return it as a new (height, width, 3) uint8 array."""
        if isinstance(i, TitleCard):
            return self._title_card()[..., :3].copy()
        canvas = self._draw_key(i)
        # Pillow drops the alpha channel about twice as fast as a strided numpy copy.
        rgba = Image.frombuffer("RGBA", self.size, canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        return np.asarray(rgba.convert("RGB"))

    def draw_rgba(self, i: int) -> np.ndarray:
        """Render row ``i`` (or an explain frame) and return the canvas itself as (height, width, 4) RGBA: no
        copy, so it is valid only until the next draw."""
        if isinstance(i, TitleCard):
            return self._title_card()
        return np.asarray(self._draw_key(i).buffer_rgba())

    def frame_step(self, key: int) -> int:
        """The training step frame ``key`` shows, as writers name frames by it (an explain frame's step
        names its PNG apart from the step's own frame)."""
        step = int(self.history.steps[key])
        if isinstance(key, TitleCard):
            return step
        return FrameStep(step, key.index) if isinstance(key, ExplainFrame) else step

    def _title_card(self) -> np.ndarray:
        if self._card_dpi is None:
            raise ValueError("a title card frame, but this renderer was not given title_card=True")
        if self._card is None:
            with matplotlib.rc_context(self.style), colours.theme(self.preset.theme):
                self._card = draw_title_card(self.history, self.title, self.size, self._card_dpi,
                                             self.style["figure.facecolor"])
        return self._card

    def _draw_key(self, key: int) -> FigureCanvasAgg:
        if self.preset.theme == "light":
            return self._draw_in_theme(key)
        with colours.theme(self.preset.theme):  # what an updater looks up per frame (a sign's colour)
            return self._draw_in_theme(key)

    def _draw_in_theme(self, key: int) -> FigureCanvasAgg:
        if isinstance(key, ExplainFrame):
            if self._explain_sheet is None or int(key) not in self._explained_rows:
                raise ValueError(f"frame {key!r} explains a step this renderer was not given in explain=")
            # All an explain frame's picture depends on: its step, phase and time, and a burned caption.
            shown = (int(key), key.phase, key.t, self._band.lines.get((int(key), key.index)))
            if shown != self._explain_shown:  # a stage's held picture is drawn once, then shown again
                self._explain_sheet.draw(key)
                self._explain_shown = shown
            return self._explain_sheet.canvas
        return self._sheet.draw(key)

    def close(self) -> None:
        """Let go of the frames: the saved backgrounds at once, the figures with Python's next collection (a
        figure is a web of objects that refer to each other, which only a collection frees: emptying it first
        with ``Figure.clear`` took 30-40 ms a render, and twelve renderers in a row peaked 9 MB lower for it)."""
        for sheet in [self._sheet] + ([self._explain_sheet] if self._explain_sheet else []):
            sheet.background = None
