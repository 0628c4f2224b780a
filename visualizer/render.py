"""One figure, panels on a grid, axes fixed from the whole history; frames come out as HxWx3 uint8 arrays.

The figure is laid out and drawn once without its changing ("animated") artists; that picture is kept and,
for every frame, restored and only the changing artists are drawn on top (blitting).
"""
from __future__ import annotations

import copy
from typing import Iterable, Iterator

import matplotlib
import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .panels import Layout
from .record import History

STYLE = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 9,
    "figure.titlesize": 13,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.6,
    "figure.facecolor": "white",
    "axes.formatter.limits": (-3, 4),
    "axes.formatter.use_mathtext": True,
}

MIN_SIZE = (160, 90)


class Renderer:
    """Draws frames of a :class:`History` with a :class:`Layout` at ``size`` = (width, height) pixels."""

    def __init__(self, layout: Layout, history: History, size: tuple[int, int] = (1280, 720),
                 dpi: float | None = None, title: str = "") -> None:
        width, height = size
        # The same picture at any size: text and lines scale with the frame (1280x720 = 100 dpi); the
        # smaller ratio wins so a narrow or short frame still fits its text.
        dpi = dpi or min(width / 12.8, height / 7.2)
        if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
            raise ValueError(f"frame size {width}x{height} is too small; use at least {MIN_SIZE[0]}x{MIN_SIZE[1]}")
        if len(history) == 0:
            raise ValueError("the history has no recorded steps")
        self.history = history
        self.size = (int(width), int(height))
        self.title = title
        self._total = int(history.meta.get("total_steps", history.steps[-1]))
        with matplotlib.rc_context(STYLE):
            self.figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")
            self.canvas = FigureCanvasAgg(self.figure)
            self.axes = self.figure.subplot_mosaic(
                layout.mosaic, empty_sentinel=".",
                height_ratios=layout.height_ratios, width_ratios=layout.width_ratios)
            # Each renderer owns fresh panel objects: panels keep per-render state.
            self.panels = {key: copy.deepcopy(panel) for key, panel in layout.panels.items()}
            for key, panel in self.panels.items():
                panel.setup(self.axes[key], history)
            # Lay out with the widest step text so the reserved title space fits every frame.
            self._suptitle = self.figure.suptitle(self._title_text(self._total), animated=True)
            self.canvas.draw()
            # The layout is final: freeze it so nothing is re-measured per frame.
            self.figure.set_layout_engine("none")
            self._background = self.canvas.copy_from_bbox(self.figure.bbox)
        got = (self.canvas.get_width_height()[0], self.canvas.get_width_height()[1])
        if got != self.size:  # float figsize rounding; never seen at common sizes but cheap to guard
            raise RuntimeError(f"canvas is {got[0]}x{got[1]}, expected {width}x{height}; try another --dpi")

    def _title_text(self, step: int) -> str:
        counter = f"step {step:,} / {self._total:,}"
        return f"{self.title}  ·  {counter}" if self.title else counter.capitalize()

    def draw(self, i: int) -> np.ndarray:
        """Render history row ``i`` and return it as a new (height, width, 3) uint8 array."""
        self.canvas.restore_region(self._background)
        artists: list[Artist] = []
        for panel in self.panels.values():
            artists.extend(panel.update(i))
        self._suptitle.set_text(self._title_text(int(self.history.steps[i])))
        artists.append(self._suptitle)
        for artist in artists:
            self.figure.draw_artist(artist)
        rgba = np.asarray(self.canvas.buffer_rgba())
        return np.ascontiguousarray(rgba[..., :3])

    def frames(self, rows: Iterable[int] | None = None) -> Iterator[np.ndarray]:
        """Frames for the given history rows (default: all), in order."""
        for i in range(len(self.history)) if rows is None else rows:
            yield self.draw(i)

    def close(self) -> None:
        """Release the figure."""
        self.figure.clear()
