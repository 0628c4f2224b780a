"""Still pictures of a run: the poster (one frame as a PNG) and the contact sheet (frames in a grid)."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from ..base.files import written
from .png import PNGEncoder
from .writer import Writer


def save_png(frame: np.ndarray, path: Path) -> Path:
    """Write one frame (RGB or RGBA, stored as RGB) as a PNG, atomically, with the frames' fast encoder."""
    with written(path, ".png") as tmp:
        tmp.write_bytes(PNGEncoder((frame.shape[1], frame.shape[0]), frame.shape[2]).encode(frame))
    return path


def read_png(path: Path) -> np.ndarray:
    """A PNG file as an RGB array."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def thumbnail_size(size: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) of a contact sheet's thumbnail of frames of ``size``: half the frame, at most 640 px
    wide (two of them side by side are sharp printed across A4 at about 160 dpi), the height in proportion."""
    width, height = size
    thumb_w = min(640, width // 2)
    return thumb_w, round(height * thumb_w / width)


def thumbnail(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` (RGB or RGBA) scaled down to ``size`` as RGB."""
    from PIL import Image

    mode = "RGBA" if frame.shape[2] == 4 else "RGB"
    image = Image.frombuffer(mode, (frame.shape[1], frame.shape[0]), np.ascontiguousarray(frame), "raw", mode, 0, 1)
    # reducing_gap: a fast box reduction by whole factors first, then Lanczos for the rest (4x faster).
    return np.asarray(image.convert("RGB").resize(size, Image.LANCZOS, reducing_gap=1.0))


SHEET_FRAMES = 8  # frames on a contact sheet: evenly spaced, the first and last included
SHEET_COLUMNS = 2  # two thumbnails across: a sheet of eight fits a portrait A4 or Letter page
A4_WIDTH_MM = 210.0
SHEET_LABEL_MM = 3.5  # the step labels' least font size printed at A4 width: digits at least 2.55 mm tall


def sheet_label_px(sheet_width: int) -> int:
    """The step labels' font size in pixels on a sheet ``sheet_width`` pixels wide: :data:`SHEET_LABEL_MM`
    printed across an A4 page, and never below 14 px on a screen."""
    return max(14, math.ceil(SHEET_LABEL_MM / A4_WIDTH_MM * sheet_width))


def printed_mm(px: float, sheet_width: int, paper_mm: float = A4_WIDTH_MM) -> float:
    """How tall ``px`` pixels print when a picture ``sheet_width`` pixels wide is printed ``paper_mm`` wide."""
    return px * paper_mm / sheet_width


def compose_sheet(thumbs: list[tuple[int, np.ndarray]], path: Path, columns: int = SHEET_COLUMNS) -> Path:
    """A contact sheet of ``thumbs`` ((step, RGB thumbnail) in order, all one size), each labelled with its
    step in print-sized type (:func:`sheet_label_px`), for handouts and a quick look."""
    from matplotlib import font_manager
    from PIL import Image, ImageDraw, ImageFont

    thumb_h, thumb_w = thumbs[0][1].shape[:2]
    gap = max(8, thumb_w // 40)
    n_rows = -(-len(thumbs) // columns)
    cols = min(columns, len(thumbs))
    width = cols * (thumb_w + gap) + gap
    font_px = sheet_label_px(width)
    label_h = round(font_px * 1.4)
    sheet = Image.new("RGB", (width, n_rows * (thumb_h + label_h + gap) + gap), "white")
    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size=font_px)
    draw = ImageDraw.Draw(sheet)
    for n, (step, thumb) in enumerate(thumbs):
        x = gap + (n % columns) * (thumb_w + gap)
        y = gap + (n // columns) * (thumb_h + label_h + gap)
        draw.text((x, y), f"step {step:,}", fill="black", font=font)
        sheet.paste(Image.fromarray(thumb), (x, y + label_h))
    return save_png(np.asarray(sheet), path)


class StillsWriter(Writer):
    """Keeps what a render's stills need as its chunk draws them, so no frame is drawn again for them: the
    frame at position ``poster_at`` of the whole video as ``poster.png``, and a thumbnail of ``thumb_size``
    of each frame at ``thumbs_at`` as ``thumb_<position>.png``, in the folder ``path``. With ``drawn_at``, the
    frames it gets are only those, at these positions among the whole."""

    def __init__(self, path: str | os.PathLike, start_index: int = 0, poster_at: int | None = None,
                 thumbs_at: Iterable[int] = (), thumb_size: tuple[int, int] = (480, 270),
                 drawn_at: list[int] | None = None) -> None:
        super().__init__(path)
        self.start_index, self.poster_at, self.thumbs_at = start_index, poster_at, frozenset(thumbs_at)
        self.thumb_size, self.drawn_at = tuple(thumb_size), drawn_at

    def _setup(self) -> None:
        self._index = self.start_index

    def _write(self, frame: np.ndarray, step: int) -> None:
        position = self.drawn_at[self._index] if self.drawn_at is not None else self._index
        self._index += 1
        if position != self.poster_at and position not in self.thumbs_at:
            return
        from .stills import save_png, thumbnail

        if position == self.poster_at:
            save_png(frame, self.path / "poster.png")
        if position in self.thumbs_at:
            save_png(thumbnail(frame, self.thumb_size), self.path / f"thumb_{position:07d}.png")

    def hold(self, frame: np.ndarray, step: int, count: int) -> None:
        """Held frames repeat the last one: nothing more to keep, but they take places in the video."""
        self._index += count

    def _finish(self) -> None:
        pass  # the files are in the render's private work folder already

    def abort(self) -> None:
        pass  # the work folder goes with the render
