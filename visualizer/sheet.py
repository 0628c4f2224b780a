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


def contact_sheet(renderer: Renderer, rows: list[int], path: Path, count: int = 12, columns: int = 4) -> Path:
    """A grid of ``count`` evenly spaced frames, each labelled with its step, for handouts and a quick look."""
    from matplotlib import font_manager
    from PIL import Image, ImageDraw, ImageFont

    picks = [rows[i] for i in np.unique(np.round(np.linspace(0, len(rows) - 1, min(count, len(rows)))).astype(int))]
    width, height = renderer.size
    thumb_w = min(480, width // 2)
    thumb_h = round(height * thumb_w / width)
    label_h, gap = max(18, thumb_h // 9), 8
    n_rows = -(-len(picks) // columns)
    cols = min(columns, len(picks))
    sheet = Image.new("RGB", (cols * (thumb_w + gap) + gap, n_rows * (thumb_h + label_h + gap) + gap), "white")
    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size=round(label_h * 0.75))
    draw = ImageDraw.Draw(sheet)
    for n, row in enumerate(picks):
        x = gap + (n % columns) * (thumb_w + gap)
        y = gap + (n // columns) * (thumb_h + label_h + gap)
        # reducing_gap: a fast box reduction by whole factors first, then Lanczos for the rest (4x faster).
        thumb = Image.fromarray(renderer.draw(row)).resize((thumb_w, thumb_h), Image.LANCZOS, reducing_gap=1.0)
        draw.text((x, y), f"step {int(renderer.history.steps[row]):,}", fill="black", font=font)
        sheet.paste(thumb, (x, y + label_h))
    return save_png(np.asarray(sheet), path)
