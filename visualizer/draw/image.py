"""Heatmaps redrawn every frame, colour-mapped at data resolution and scaled by Pillow.

Matplotlib's image pipeline resamples the data to screen resolution and then normalises and colour-maps every
screen pixel: about 10 ms per frame for an 80×80 map filling a 500×370 px panel, most of a frame's drawing.
:class:`FrameImage` maps the (small) data array first, scales the RGBA result with Pillow and writes it into
the Agg canvas (about 1 ms). It is an ``AxesImage`` in every other respect (``set_data``, ``get_clim``,
colour bars), so panels use it like one.
"""
from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.image import AxesImage
from PIL import Image

_RESAMPLE = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR}
_WORD = np.dtype("<u4")  # an RGBA pixel as one little-endian word: alpha is the high byte on any machine
_OPAQUE = np.frombuffer(bytes([0, 0, 0, 255]), _WORD)[0]


class FrameImage(AxesImage):
    """An ``AxesImage`` whose draw colour-maps first and scales after; ``nearest`` or ``bilinear`` only."""

    def draw(self, renderer) -> None:
        if not self.get_visible() or self.get_array() is None:
            return
        if not hasattr(renderer, "buffer_rgba"):  # a vector canvas (a PDF page): matplotlib's own image
            super().draw(renderer)
            return
        rgba = self.to_rgba(self.get_array(), bytes=True)
        left, right, bottom, top = self.get_extent()
        (x_left, y_bottom), (x_right, y_top) = self.get_transform().transform([(left, bottom), (right, top)])
        # Data row 0 sits at `top` with origin "upper" and at `bottom` with "lower"; buffer rows run downwards.
        if (self.origin == "lower") == (y_top > y_bottom):
            rgba = rgba[::-1]
        if x_right < x_left:
            rgba = rgba[:, ::-1]
        canvas = np.asarray(renderer.buffer_rgba())
        height = canvas.shape[0]
        c0, c1 = round(min(x_left, x_right)), round(max(x_left, x_right))
        r0, r1 = round(height - max(y_bottom, y_top)), round(height - min(y_bottom, y_top))
        if c1 <= c0 or r1 <= r0:
            return
        method = _RESAMPLE.get(self.get_interpolation(), Image.BILINEAR)
        # Clip to the axes (and the canvas), as matplotlib clips images to their axes.
        clip = self.axes.bbox if self.get_clip_on() else self.figure.bbox
        k0, k1 = max(c0, round(clip.x0), 0), min(c1, round(clip.x1), canvas.shape[1])
        q0, q1 = max(r0, round(height - clip.y1), 0), min(r1, round(height - clip.y0), height)
        if k1 <= k0 or q1 <= q0:
            return
        rows, cols = slice(q0 - r0, q1 - r0), slice(k0 - c0, k1 - c0)
        if rgba[..., 3].min() == 255:
            # Opaque (so the scaled map is too): scaled as RGB, as Pillow would scale RGBA only after
            # multiplying each pixel by its alpha and before dividing it out again (two more passes over the
            # scaled map, for the same colours), and written as whole pixels, alpha 255, a row at a time: about
            # half the time of scaling RGBA and copying its colour bytes in.
            source = Image.frombuffer("RGB", (rgba.shape[1], rgba.shape[0]), np.ascontiguousarray(rgba), "raw",
                                      "RGBX", 0, 1)
            scaled = source.resize((c1 - c0, r1 - r0), method).tobytes("raw", "RGBX")  # 4th byte: Pillow's
            words = np.frombuffer(scaled, _WORD).reshape(r1 - r0, c1 - c0)[rows, cols]
            np.bitwise_or(words, _OPAQUE, out=canvas.view(_WORD)[q0:q1, k0:k1, 0])
            return
        scaled = np.asarray(Image.fromarray(np.ascontiguousarray(rgba)).resize((c1 - c0, r1 - r0), method))
        part = scaled[rows, cols]
        target = canvas[q0:q1, k0:k1]
        if part[..., 3].min() == 255:
            target[..., :3] = part[..., :3]
        else:  # NaN cells ("bad" colour) may be transparent
            a = part[..., 3:4] / 255.0
            target[..., :3] = (target[..., :3] * (1 - a) + part[..., :3] * a + 0.5).astype(np.uint8)


def frame_imshow(ax: Axes, data: np.ndarray, *, cmap, norm: Normalize, interpolation: str = "bilinear",
                 extent: tuple[float, float, float, float] | None = None, origin: str = "upper",
                 animated: bool = True) -> FrameImage:
    """``ax.imshow(data, aspect="auto", ...)`` with a :class:`FrameImage`; axis limits follow the extent."""
    image = FrameImage(ax, cmap=cmap, norm=norm, interpolation=interpolation, origin=origin, extent=extent)
    image.set_data(data)
    image.set_animated(animated)
    ax.add_image(image)
    image.set_extent(image.get_extent())  # as imshow does: the layout asks for the window extent
    left, right, bottom, top = image.get_extent()
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.set_aspect("auto")
    return image
