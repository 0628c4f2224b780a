"""Still pictures of a run: the poster (one frame as a PNG) and the contact sheet (frames in a grid)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .files import publish, temp_path
from .renderer import Renderer


def save_png(frame: np.ndarray, path: Path) -> Path:
    """Write one frame (RGB or RGBA, stored as RGB) as a PNG, atomically, with the frames' fast encoder."""
    from .encode import PNGEncoder

    tmp = temp_path(path, ".png")
    try:
        tmp.write_bytes(PNGEncoder((frame.shape[1], frame.shape[0]), frame.shape[2]).encode(frame))
        publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


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


def contact_sheet(renderer: Renderer, rows: list[int], path: Path, count: int = SHEET_FRAMES,
                  columns: int = 4) -> Path:
    """A grid of ``count`` evenly spaced frames drawn by ``renderer``, each labelled with its step (a render
    makes its sheet from thumbnails its chunks keep as they draw: :class:`visualizer.encode.StillsWriter`)."""
    from .encode import sample_positions

    size = thumbnail_size(renderer.size)
    thumbs = [(int(renderer.history.steps[row]), thumbnail(renderer.draw(row), size))
              for row in sample_positions(rows, count)]
    return compose_sheet(thumbs, path, columns)
