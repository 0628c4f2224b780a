"""Still pictures of a run: the poster (one frame as a PNG) and the contact sheet (frames in a grid)."""
from __future__ import annotations

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
    """The (width, height) of a contact sheet's thumbnail of frames of ``size``: at most 480 px wide, half the
    frame for smaller ones, the height in proportion."""
    width, height = size
    thumb_w = min(480, width // 2)
    return thumb_w, round(height * thumb_w / width)


def thumbnail(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` (RGB or RGBA) scaled down to ``size`` as RGB."""
    from PIL import Image

    mode = "RGBA" if frame.shape[2] == 4 else "RGB"
    image = Image.frombuffer(mode, (frame.shape[1], frame.shape[0]), np.ascontiguousarray(frame), "raw", mode, 0, 1)
    # reducing_gap: a fast box reduction by whole factors first, then Lanczos for the rest (4x faster).
    return np.asarray(image.convert("RGB").resize(size, Image.LANCZOS, reducing_gap=1.0))


SHEET_FRAMES = 12  # frames on a contact sheet: evenly spaced, the first and last included


def compose_sheet(thumbs: list[tuple[int, np.ndarray]], path: Path, columns: int = 4) -> Path:
    """A contact sheet of ``thumbs`` ((step, RGB thumbnail) in order, all one size), each labelled with its
    step, for handouts and a quick look."""
    from matplotlib import font_manager
    from PIL import Image, ImageDraw, ImageFont

    thumb_h, thumb_w = thumbs[0][1].shape[:2]
    label_h, gap = max(18, thumb_h // 9), 8
    n_rows = -(-len(thumbs) // columns)
    cols = min(columns, len(thumbs))
    sheet = Image.new("RGB", (cols * (thumb_w + gap) + gap, n_rows * (thumb_h + label_h + gap) + gap), "white")
    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size=round(label_h * 0.75))
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
    of each frame at ``thumbs_at`` as ``thumb_<position>.png``, in the folder ``path``."""

    def __init__(self, path: str | os.PathLike, start_index: int = 0, poster_at: int | None = None,
                 thumbs_at: Iterable[int] = (), thumb_size: tuple[int, int] = (480, 270)) -> None:
        super().__init__(path)
        self.start_index, self.poster_at, self.thumbs_at = start_index, poster_at, frozenset(thumbs_at)
        self.thumb_size = tuple(thumb_size)

    def _setup(self) -> None:
        self._index = self.start_index

    def _write(self, frame: np.ndarray, step: int) -> None:
        position, self._index = self._index, self._index + 1
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
