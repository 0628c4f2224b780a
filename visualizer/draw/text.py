"""Text that changes every frame, drawn from cached glyph bitmaps.

Matplotlib rasterises every glyph of a text afresh at each draw (about 1.5 ms for "step 300 / 600"), which
was more than half of a frame's drawing. A counter or a value readout changes its string every frame but not
its characters: :class:`FrameText` renders each character once with matplotlib's own FreeType font at the
figure's dpi and then only composites the cached bitmaps into the canvas (about 0.1 ms). Each glyph is
matplotlib's own rendering; glyphs sit on whole pixels and advance by the font's unhinted widths, so a string
comes out within a few per cent of matplotlib's width (0.6 % narrower on average, 6.5 % at worst, measured on
this project's labels at 7 to 13 pt).
"""
from __future__ import annotations

import numpy as np
from matplotlib import colors as mcolors
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.transforms import BboxBase, Transform

from . import colours

_GLYPHS: dict[tuple, tuple[np.ndarray, int, int, float]] = {}
_ADVANCES: dict[tuple, float] = {}
_METRICS: dict[tuple, tuple[float, float]] = {}


def _font(prop: FontProperties, dpi: float):
    font = get_font(findfont(prop))
    font.set_size(prop.get_size_in_points(), dpi)
    return font


def _glyph(prop: FontProperties, dpi: float, char: str) -> tuple[np.ndarray, int, int, float]:
    """(ink mask, ink left of the pen px, ink top above the baseline px, advance px) for one character.

    The ink is matplotlib's own rendering (drawn once, black on white, at a whole-pixel origin), so glyph
    shapes and placement match its text exactly; the advance is the unhinted, fractional one it lays text
    out with, so rounding happens once per glyph position and gaps stay even."""
    key = (hash(prop), dpi, char)
    if key not in _GLYPHS:
        size = prop.get_size_in_points() * dpi / 72
        width, height = int(4 * size) + 8, int(3 * size) + 8
        x0, base = int(size), int(2 * size)  # pen position and baseline row in the scratch canvas
        fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="white")  # in any theme
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        fig.draw_artist(fig.text(x0 / width, 1 - base / height, char, fontproperties=prop, color="black",
                                 ha="left", va="baseline"))
        ink = 255 - np.asarray(canvas.buffer_rgba())[..., 0]
        rows, cols = np.nonzero(ink)
        if rows.size:
            mask = np.ascontiguousarray(ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1])
            left, top = int(cols.min()) - x0, base - int(rows.min())
        else:  # a space: no ink, only an advance
            mask, left, top = np.zeros((0, 0), np.uint8), 0, 0
        advance = _font(prop, dpi).load_char(ord(char)).linearHoriAdvance / 65536
        _GLYPHS[key] = (mask, left, top, advance)
    return _GLYPHS[key]


def _advance(prop: FontProperties, dpi: float, char: str) -> float:
    """The pen's advance in pixels after ``char``, as :func:`_glyph` gives it, without drawing the glyph:
    measuring a string (a panel fitting its labels, ``visualizer check``) needs widths only."""
    key = (hash(prop), dpi, char)
    if key in _GLYPHS:
        return _GLYPHS[key][3]
    if key not in _ADVANCES:
        _ADVANCES[key] = _font(prop, dpi).load_char(ord(char)).linearHoriAdvance / 65536
    return _ADVANCES[key]


def _width(prop: FontProperties, dpi: float, text: str) -> float:
    """A string's advance in pixels, as :class:`FrameText` lays it out."""
    return sum(_advance(prop, dpi, ch) for ch in text)


def _line_metrics(prop: FontProperties, dpi: float) -> tuple[float, float]:
    """(ascent, descent) in pixels of a line, from "lp" as matplotlib's own text layout measures it."""
    key = (hash(prop), dpi)
    if key not in _METRICS:
        font = _font(prop, dpi)
        font.set_text("lp", 0.0)
        _, height = font.get_width_height()
        descent = font.get_descent()
        _METRICS[key] = ((height - descent) / 64, descent / 64)
    return _METRICS[key]


class FrameText(Artist):
    """A one-line text at ``(x, y)`` in ``transform`` coordinates (plus ``offset`` pixels), aligned by
    ``ha`` (left/center/right) and ``va`` (top/center/baseline/bottom), optionally on a box of
    ``background`` colour at ``background_alpha``. ``color`` None and ``background="background"`` are the
    theme's text and background (:mod:`visualizer.draw.colours`, in force where the panel is set up). Draws
    from cached glyphs on an Agg canvas; on a vector one (a PDF handout) as matplotlib text, so the words stay
    words."""

    def __init__(self, x: float, y: float, text: str = "", *, transform: Transform, ha: str = "left",
                 va: str = "baseline", fontsize: float | str = "medium", color: str | None = None,
                 offset: tuple[float, float] = (0.0, 0.0), background: str | None = None,
                 background_alpha: float = 0.85, pad: float = 0.25) -> None:
        super().__init__()
        self._xy, self._text, self._offset = (x, y), text, offset
        self.set_transform(transform)
        self._ha, self._va = ha, va
        # Resolved now: relative sizes ("small") follow the style in force where the panel is set up.
        self._prop = FontProperties(size=FontProperties(size=fontsize).get_size_in_points())
        self._rgb = np.array(mcolors.to_rgb(color or colours.FOREGROUND)) * 255  # the theme's text
        self._background = None if background is None else np.array(mcolors.to_rgb(
            colours.BACKGROUND if background == "background" else background)) * 255
        self._background_alpha, self._pad = background_alpha, pad
        self.set_animated(True)
        self.set_in_layout(False)

    def set_text(self, text: str) -> None:
        """Change the string."""
        self._text = text

    def get_text(self) -> str:
        """The current string."""
        return self._text

    def set_position(self, x: float, y: float) -> None:
        """Move its anchor to ``(x, y)`` in its transform's coordinates."""
        self._xy = (x, y)

    def get_position(self) -> tuple[float, float]:
        """Its anchor, in its transform's coordinates."""
        return self._xy

    def set_color(self, color: str) -> None:
        """Change the colour."""
        self._rgb = np.array(mcolors.to_rgb(color or colours.FOREGROUND)) * 255  # the theme's text

    def draw(self, renderer) -> None:
        if not self.get_visible() or not self._text:
            return
        if not hasattr(renderer, "buffer_rgba"):
            box = None if self._background is None else dict(
                boxstyle=f"square,pad={self._pad}", facecolor=self._background / 255, alpha=self._background_alpha,
                edgecolor="none")
            vector_text(self, self._xy, self._text, self._ha, self._va, self._prop, self._rgb, self._offset,
                        renderer, box)
            return
        dpi = renderer.dpi
        glyphs = [_glyph(self._prop, dpi, ch) for ch in self._text]
        width = sum(g[3] for g in glyphs)
        ascent, descent = _line_metrics(self._prop, dpi)
        px, py = self.get_transform().transform(self._xy)
        scale = dpi / 72  # offsets are in points, as in matplotlib's annotate
        px, py = px + self._offset[0] * scale, py + self._offset[1] * scale
        canvas = np.asarray(renderer.buffer_rgba())
        height = canvas.shape[0]
        left = px - {"left": 0.0, "center": width / 2, "right": width}[self._ha]
        anchor_row = height - py
        baseline = anchor_row + {"top": ascent, "center": (ascent - descent) / 2, "baseline": 0.0,
                                 "bottom": -descent}[self._va]
        if self._background is not None:
            pad = self._pad * self._prop.get_size_in_points() * scale
            self._blend(canvas, round(baseline - ascent - pad), round(left - pad),
                        np.full((round(ascent + descent + 2 * pad), round(width + 2 * pad)), 255, np.uint8),
                        self._background, self._background_alpha)
        pen = left
        for mask, ink_left, ink_top, advance in glyphs:
            if mask.size:
                self._blend(canvas, round(baseline) - ink_top, round(pen) + ink_left, mask, self._rgb, 1.0)
            pen += advance

    def get_window_extent(self, renderer=None):
        """The box (display pixels) the current string covers, from the cached glyphs' advances and the
        font's line height, as :meth:`draw` places it (the background box's padding included)."""
        from matplotlib.transforms import Bbox

        dpi = self.figure.dpi if self.figure is not None else 100.0
        widths = self.__dict__.setdefault("_widths", {})  # (string, dpi) -> pixels: check measures many rows
        if (self._text, dpi) not in widths:
            if len(widths) > 512:
                widths.clear()
            widths[(self._text, dpi)] = _width(self._prop, dpi, self._text)
        width = widths[(self._text, dpi)]
        ascent, descent = _line_metrics(self._prop, dpi)
        scale = dpi / 72
        px, py = self.get_transform().transform(self._xy)
        px, py = px + self._offset[0] * scale, py + self._offset[1] * scale
        left = px - {"left": 0.0, "center": width / 2, "right": width}[self._ha]
        base = py - {"top": ascent, "center": (ascent - descent) / 2, "baseline": 0.0, "bottom": -descent}[self._va]
        pad = self._pad * self._prop.get_size_in_points() * scale if self._background is not None else 0.0
        return Bbox([[left - pad, base - descent - pad], [left + width + pad, base + ascent + pad]])

    def get_fontsize(self) -> float:
        """The size in points."""
        return self._prop.get_size_in_points()

    @staticmethod
    def _blend(canvas: np.ndarray, top: int, left: int, mask: np.ndarray, rgb: np.ndarray, alpha: float) -> None:
        h, w = mask.shape
        y0, x0 = max(top, 0), max(left, 0)
        y1, x1 = min(top + h, canvas.shape[0]), min(left + w, canvas.shape[1])
        if y0 >= y1 or x0 >= x1:
            return
        a = mask[y0 - top : y1 - top, x0 - left : x1 - left, None] * (alpha / 255.0)
        region = canvas[y0:y1, x0:x1, :3]
        region[...] = (region * (1.0 - a) + rgb * a + 0.5).astype(np.uint8)


def vector_text(artist: Artist, xy, text: str, ha: str, va: str, prop: FontProperties, rgb: np.ndarray,
                offset: tuple[float, float], renderer, box: dict | None = None) -> None:
    """Draw ``text`` as matplotlib text where ``artist`` (a :class:`FrameText` or group) would put its glyphs,
    on a renderer without pixels (a PDF page): the words stay selectable, searchable text."""
    from matplotlib.text import Text
    from matplotlib.transforms import offset_copy

    transform = artist.get_transform()
    if offset != (0.0, 0.0):
        transform = offset_copy(transform, fig=artist.figure, x=offset[0], y=offset[1], units="points")
    label = Text(xy[0], xy[1], text, color=rgb / 255, ha=ha, va=va, fontproperties=prop, transform=transform,
                 bbox=box)
    label.set_figure(artist.figure)
    label.draw(renderer)


class FrameTextGroup(Artist):
    """Several one-line texts in one artist: string ``k`` at ``points[k]`` (``transform`` coordinates), all
    aligned by ``ha``/``va`` in one font and colour, for a table of numbers.

    Each distinct string's ink is kept (as its inked pixels) and the whole group is blended into the canvas
    in one step, so a table of sixty numbers costs a few times what one :class:`FrameText` does, where sixty
    of those would spend most of a frame in per-artist and per-glyph overhead. A string's glyphs are placed
    from a pen on a whole pixel, so a string can sit up to half a pixel from where :class:`FrameText` puts it."""

    def __init__(self, points: list[tuple[float, float]], *, transform: Transform, ha: str = "left",
                 va: str = "baseline", fontsize: float | str = "medium", color: str | None = None) -> None:
        super().__init__()
        self._points = np.asarray(points, dtype=float).reshape(-1, 2)
        self._texts = [""] * len(self._points)
        self.set_transform(transform)
        self._ha, self._va = ha, va
        self._prop = FontProperties(size=FontProperties(size=fontsize).get_size_in_points())
        self._rgb = np.array(mcolors.to_rgb(color or colours.FOREGROUND)) * 255  # the theme's text
        # Each string's inked pixels by text: tables repeat many (a constant factor, the data's own values).
        self._cache_key: tuple | None = None
        self._strings: dict[str, tuple] = {}
        self.set_animated(True)
        self.set_in_layout(False)

    def set_texts(self, texts: list[str]) -> None:
        """Change the strings, one per point."""
        if len(texts) != len(self._points):
            raise ValueError(f"FrameTextGroup has {len(self._points)} points, got {len(texts)} strings")
        self._texts = list(texts)

    def get_texts(self) -> list[str]:
        """The current strings."""
        return list(self._texts)

    def get_fontsize(self) -> float:
        """The size in points."""
        return self._prop.get_size_in_points()

    def extents(self) -> list[tuple[str, object]]:
        """(string, box in display pixels) of each non-empty string, as :meth:`draw` places them."""
        from matplotlib.transforms import Bbox

        dpi = self.figure.dpi if self.figure is not None else 100.0
        ascent, descent = _line_metrics(self._prop, dpi)
        shift = {"top": ascent, "center": (ascent - descent) / 2, "baseline": 0.0, "bottom": -descent}[self._va]
        align = {"left": 0.0, "center": 0.5, "right": 1.0}[self._ha]
        out = []
        for text, (px, py) in zip(self._texts, self.get_transform().transform(self._points)):
            if text:
                width = _width(self._prop, dpi, text)
                left, base = px - align * width, py - shift
                out.append((text, Bbox([[left, base - descent], [left + width, base + ascent]])))
        return out

    def draw(self, renderer) -> None:
        if not self.get_visible() or not any(self._texts):
            return
        if not hasattr(renderer, "buffer_rgba"):  # a vector canvas: matplotlib text, one per string
            for text, xy in zip(self._texts, self._points):
                if text:
                    vector_text(self, xy, text, self._ha, self._va, self._prop, self._rgb, (0.0, 0.0), renderer)
            return
        dpi = renderer.dpi
        ascent, descent = _line_metrics(self._prop, dpi)
        anchors = self.get_transform().transform(self._points)
        canvas = np.asarray(renderer.buffer_rgba())
        height = canvas.shape[0]
        shift = {"top": ascent, "center": (ascent - descent) / 2, "baseline": 0.0, "bottom": -descent}[self._va]
        align = {"left": 0.0, "center": 0.5, "right": 1.0}[self._ha]
        key = (hash(self._prop), dpi)
        if self._cache_key != key or len(self._strings) > 4096:
            self._cache_key, self._strings = key, {}
        rows, cols, inks = [], [], []
        for text, (px, py) in zip(self._texts, anchors):
            if not text:
                continue
            if text not in self._strings:
                self._strings[text] = _string_ink(self._prop, dpi, text)
            ys, xs, ink, width = self._strings[text]
            rows.append(ys + round(height - py + shift))
            cols.append(xs + int(px - align * width + 0.5))
            inks.append(ink)
        if rows:
            _blend_pixels(canvas, np.concatenate(rows), np.concatenate(cols), np.concatenate(inks),
                          self._rgb.round().astype(np.uint16))


_PIXELS: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray, float]] = {}


def _glyph_pixels(prop: FontProperties, prop_hash: int, dpi: float, char: str):
    """One glyph's inked pixels: (rows relative to the baseline, columns relative to the pen, ink, advance)."""
    key = (prop_hash, dpi, char)
    if key not in _PIXELS:
        mask, ink_left, ink_top, advance = _glyph(prop, dpi, char)
        r, c = np.nonzero(mask)
        _PIXELS[key] = (r - ink_top, c + ink_left, mask[r, c], advance)
    return _PIXELS[key]


def _string_ink(prop: FontProperties, dpi: float, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A whole string's inked pixels as (rows relative to the baseline, columns relative to the pen, ink)
    and its advance, its glyphs placed as :class:`FrameText` places them from a pen on a whole pixel."""
    ys, xs, inks, pen = [], [], [], 0.0
    prop_hash = hash(prop)
    for ch in text:
        r, c, ink, advance = _glyph_pixels(prop, prop_hash, dpi, ch)
        ys.append(r)
        xs.append(c + int(pen + 0.5))
        inks.append(ink)
        pen += advance
    if not ys:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0, np.uint8), pen
    return np.concatenate(ys), np.concatenate(xs), np.concatenate(inks), pen


def _blend_pixels(canvas: np.ndarray, ys: np.ndarray, xs: np.ndarray, ink: np.ndarray, rgb: np.ndarray) -> None:
    """Blend colour ``rgb`` into the canvas at pixels (ys, xs) with coverage ``ink`` (0..255), in 16-bit
    integers (exact to a unit of 8-bit colour)."""
    inside = (ys >= 0) & (ys < canvas.shape[0]) & (xs >= 0) & (xs < canvas.shape[1])
    if not inside.all():
        ys, xs, ink = ys[inside], xs[inside], ink[inside]
    a = ink.astype(np.uint16)[:, None]
    colour = canvas[..., :3]
    mixed = colour[ys, xs] * (255 - a) + rgb * a + 128  # at most 255·255 + 128: fits 16 bits
    colour[ys, xs] = (mixed + (mixed >> 8)) >> 8  # / 255, rounded


def box_overlap(a, b):
    """How far two boxes overlap: the smaller side of their intersection in pixels, 0 when they are apart.
    ``overlap > slack`` says two boxes share more than ``slack`` pixels each way. ``a`` and ``b`` are boxes
    (display pixels), or arrays of extents (..., 4) as (x0, y0, x1, y1) broadcast together (every pair of a
    list: ``box_overlap(e[:, None], e[None, :])``)."""
    if isinstance(a, BboxBase) and isinstance(b, BboxBase):
        return max(0.0, min(min(a.x1, b.x1) - max(a.x0, b.x0), min(a.y1, b.y1) - max(a.y0, b.y0)))
    a, b = (box.extents if isinstance(box, BboxBase) else box for box in (a, b))  # a box against extents
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    w = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    h = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    return np.maximum(0.0, np.minimum(w, h))


def box_inside(box, area) -> bool:
    """Whether ``box`` lies wholly within ``area`` (both display pixels)."""
    return box.x0 >= area.x0 and box.x1 <= area.x1 and box.y0 >= area.y0 and box.y1 <= area.y1


def any_inside(points, box, margin: float = 0.0) -> bool:
    """Whether any of ``points`` ((n, 2), in the coordinates of ``box``) lies strictly inside ``box`` (a box, or
    extents (x0, y0, x1, y1)) grown by ``margin`` on every side (shrunk, when negative): whether a legend or a
    label there would cover a point of data."""
    x0, y0, x1, y1 = box.extents if isinstance(box, BboxBase) else box
    p = np.asarray(points, dtype=float).reshape(-1, 2)
    return bool(((p[:, 0] > x0 - margin) & (p[:, 0] < x1 + margin) & (p[:, 1] > y0 - margin)
                 & (p[:, 1] < y1 + margin)).any())


def points_along(lines, step: float = 2.0, most: int = 500) -> np.ndarray:
    """Points at most ``step`` pixels apart along each line of ``lines`` (an (n, 2) array of display points,
    or a list of them; rows that are not finite left out): where lines put ink, for keeping a legend or a
    label off them and for finding a legend on them. Each segment gets as many points as its own length
    needs (at most ``most``), so a long curve of short segments stays a few points per segment."""
    lines = [lines] if isinstance(lines, np.ndarray) else list(lines)
    out = []
    for xy in lines:
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        xy = xy[np.isfinite(xy).all(axis=1)]
        if len(xy) < 2:
            out.append(xy)
            continue
        seg = np.diff(xy, axis=0)
        n = np.clip(np.ceil(np.hypot(seg[:, 0], seg[:, 1]) / step), 1, most).astype(int)
        first = np.repeat(np.cumsum(n) - n, n)  # each point's segment's first point
        t = (np.arange(int(n.sum())) - first) / np.repeat(n, n)
        out.append(np.vstack([np.repeat(xy[:-1], n, axis=0) + np.repeat(seg, n, axis=0) * t[:, None], xy[-1:]]))
    return np.vstack(out) if out else np.zeros((0, 2))


# Text size roles. A panel asks for a role, never a number of points: each role is one of the style's sizes
# (an rc key), so a preset (:data:`visualizer.draw.renderer.PRESETS`) sets them all at once, and the
# handout's scaling of the style scales them with it. Read while the style is in force (in ``Panel.draw``).
SIZE_ROLES = {
    "detail": "xtick.labelsize",  # the smallest text: tick labels, footnotes, table cells, small legends
    "label": "axes.labelsize",  # axis labels, names on a diagram
    "legend": "legend.fontsize",
    "body": "font.size",  # running text
    "heading": "axes.titlesize",  # a panel's title
    "title": "figure.titlesize",  # the frame's title and step counter
}


def size(role: str) -> float:
    """The points of text size ``role`` (see :data:`SIZE_ROLES`) in the style in force."""
    import matplotlib

    return FontProperties(size=matplotlib.rcParams[SIZE_ROLES[role]]).get_size_in_points()


def stroke(width: float) -> float:
    """A line width given at the default preset's scale, at the scale of the style in force (thicker in the
    lecture preset)."""
    import matplotlib

    return width * matplotlib.rcParams["lines.linewidth"] / 1.5


def mark(points: float) -> float:
    """A marker size (points, as ``markersize``) given at the default preset's scale, at the style's scale;
    for a scatter's area ``s`` use ``mark(sqrt(s)) ** 2``."""
    import matplotlib

    return points * matplotlib.rcParams["lines.markersize"] / 6.0



def wrap_lines(text: str, fits, indent: str = "    ") -> str:
    """``text`` with each line that ``fits(line)`` refuses broken at spaces, greedily, into lines that fit; a
    line keeps its leading spaces and its continuations are indented by ``indent`` more. A word too long for a
    line of its own stays whole."""
    out: list[str] = []
    for line in text.split("\n"):
        if fits(line) or " " not in line.strip():
            out.append(line)
            continue
        lead = line[:len(line) - len(line.lstrip())]
        current = ""
        for word in line.split():
            trial = f"{current} {word}" if current else f"{lead}{word}"
            if current and not fits(trial):
                out.append(current)
                current = f"{lead}{indent}{word}"
            else:
                current = trial
        out.append(current)
    return "\n".join(out)
