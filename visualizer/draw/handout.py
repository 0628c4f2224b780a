"""The handout: a vector PDF, one printed page per chosen step, drawn with the renderer's own layout.

Each page is the frame's layout drawn afresh by matplotlib's PDF backend (no pixels: lines, text and markers
stay vector; a heat map stays the image it is) on a landscape page of 279.4 × 210 mm (11 × 8.27 in: the width of
US Letter and the height of A4), which prints at actual size on both papers. Above the frame: the title and the
step; below it, the page's caption and a footer. The frame keeps the video's proportions: it is drawn at the
page's width with every text scaled as the frame is (:data:`PAGE_FRAME_WIDTH` over the frame's own width in
inches; at least enough that the smallest text prints 2 mm tall, :data:`MIN_TEXT_PT`), so a page looks like
the frame the room saw, and the text is Type 42 TrueType (``pdf.fonttype`` 42): selectable and searchable in
a PDF reader.
"""
from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import matplotlib
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.ticker import FixedFormatter, FixedLocator

if TYPE_CHECKING:
    from .renderer import Renderer

PAPER = (11.0, 210 / 25.4)  # inches, landscape: Letter's width, A4's height (279.4 x 210 mm)
MARGIN = 0.45  # inches around everything (printers leave about a quarter inch unprinted)
HEADER = 0.55  # inches above the frame: the title and the step
PAGE_FRAME_WIDTH = PAPER[0] - 2 * MARGIN  # inches: the frame at the page's width
HEADING_SIZE, CAPTION_SIZE, FOOTER_SIZE = 15.0, 14.0, 8.0  # points
MIN_TEXT_PT = 2.0 / 25.4 * 72  # the smallest text a page prints: 2 mm (5.67 pt)
SCALED = ("font.size", "axes.titlesize", "axes.labelsize", "xtick.labelsize", "ytick.labelsize", "legend.fontsize",
          "figure.titlesize")  # the style's sizes that scale with the frame on the page


def write_handout(renderer: Renderer, pages: Sequence[tuple[int, str]], path: str | Path,
                  footer: str = "") -> Path:
    """Write a PDF at ``path`` with one page per (history row, caption) of ``pages``, drawn with
    ``renderer``'s layout, history and title; ``footer`` goes at the foot of every page beside its number."""
    from matplotlib.backends.backend_pdf import PdfPages

    from .renderer import plain_tick_labels

    layout, history, size, dpi, title = renderer.recipe[:5]
    STYLE = replace(renderer.preset, theme="light").style()  # printed pages stay light in any theme
    frame_in = (size[0] / dpi, size[1] / dpi)
    room = PAPER[1] - 2 * MARGIN - HEADER - 1.1  # inches left for the frame above the caption's lines
    width = min(PAGE_FRAME_WIDTH, room * frame_in[0] / frame_in[1])
    # The text scales with the frame, but never below 2 mm printed: the panels' sizes are the style's roles.
    smallest = min(STYLE[k] for k in SCALED)
    scale = max(width / frame_in[0], MIN_TEXT_PT / smallest)
    # A title's height fixed above its axes (not moved clear of tick labels on top, which no panel has): its
    # place is then not measured again on every page.
    style = {**STYLE, **{k: STYLE[k] * scale for k in SCALED}, "pdf.fonttype": 42, "axes.titley": 1.0,
             "figure.autolayout": False, "figure.constrained_layout.use": False}
    path = Path(path)
    with matplotlib.rc_context(style):
        figure = Figure(figsize=PAPER, layout="constrained")
        figure.get_layout_engine().set(w_pad=0.02, h_pad=0.02, wspace=0, hspace=0)
        height = width * frame_in[1] / frame_in[0]
        side = (PAPER[0] - width) / 2
        frame = figure.subfigures(3, 3, width_ratios=[side, width, side],
                                  height_ratios=[MARGIN + HEADER, height, PAPER[1] - MARGIN - HEADER - height],
                                  wspace=0, hspace=0)[1][1]
        axes = frame.subplot_mosaic(layout.mosaic, empty_sentinel=".", height_ratios=layout.height_ratios,
                                    width_ratios=layout.width_ratios)
        updates = [panel.draw(axes[key], history) for key, panel in layout.panels.items()]
        plain_tick_labels(figure)
        left, right = side / PAPER[0], 1 - side / PAPER[0]
        top = 1 - MARGIN / PAPER[1]
        below = 1 - (MARGIN + HEADER + height + 0.12) / PAPER[1]
        heading = figure.text(left, top, title or history.info.scene or "", ha="left", va="top",
                              fontsize=HEADING_SIZE)
        step_text = figure.text(right, top, "", ha="right", va="top", fontsize=HEADING_SIZE)
        caption = figure.text(left, below, "", ha="left", va="top", fontsize=CAPTION_SIZE, linespacing=1.35)
        foot = figure.text(right, MARGIN / PAPER[1], "", ha="right", va="bottom", fontsize=FOOTER_SIZE,
                           color="#555555")
        for text in (heading, step_text, caption, foot):
            text.set_in_layout(False)
        figure.get_layout_engine().execute(figure)  # measures every axis: places its label too
        # The layout is final: every page has the same frame. (None, not "none": with a layout engine of any
        # kind, savefig draws every page twice, once to lay it out.)
        figure.set_layout_engine(None)
        fix_ticks(figure)
        # What changes per frame is drawn last, in the updaters' order, as the video blits it on its picture.
        changing = Changing()
        figure.add_artist(changing)
        chars = int(width * 72 / (CAPTION_SIZE * 0.55))  # DejaVu Sans averages about 0.55 em a character
        total = history.total_steps
        metadata = {"Title": title or history.info.scene or "handout", "Creator": "backprop-visualizer",
                    "CreationDate": None}  # no date: the same render writes the same file
        with PdfPages(path, metadata=metadata) as pdf:
            for n, (row, text) in enumerate(pages):
                changing.artists = [artist for update in updates for artist in update(row)]
                step_text.set_text(f"step {int(history.steps[row]):,} of {total:,}")
                caption.set_text("\n".join(textwrap.wrap(text, chars, max_lines=3, placeholder=" …")))
                foot.set_text(f"{footer}    page {n + 1} of {len(pages)}".strip())
                pdf.savefig(figure)
    return path


class Changing(Artist):
    """The frame's changing ("animated") artists, drawn on top of the figure in the order given (a PDF page
    has no picture to blit them on)."""

    def __init__(self) -> None:
        super().__init__()
        self.artists: list[Artist] = []
        self.set_zorder(float("inf"))
        self.set_in_layout(False)

    def draw(self, renderer) -> None:
        for artist in self.artists:
            artist.draw(renderer)


def fix_ticks(figure: Figure) -> None:
    """Keep every axis's ticks, tick labels (with the offset or scale label) and label as they are now: the
    limits are fixed for the whole run, so the pages need not find, format and place them again."""
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(FixedLocator(axis.get_majorticklocs()))
            axis.set_major_formatter(_fixed(axis.get_majorticklabels(), axis.major.formatter.get_offset()))
            axis.set_minor_locator(FixedLocator(axis.get_minorticklocs()))
            axis.set_minor_formatter(_fixed(axis.get_minorticklabels()))
            where = axis.label.get_transform().transform(axis.label.get_position())
            axis.set_label_coords(*ax.transAxes.inverted().transform(where))


def _fixed(labels: list, offset: str = "") -> FixedFormatter:
    fixed = FixedFormatter([label.get_text() for label in labels])
    fixed.set_offset_string(offset)
    return fixed


__all__ = ["PAPER", "write_handout"]
