"""The GIF: one palette for the whole clip (Oklab, from frames spread over it), frames scaled to the GIF's
size, each stored as the rectangles that changed, pieces joined into one file."""
from __future__ import annotations

import math
import os
import struct
from pathlib import Path
from typing import Iterable

import numpy as np

from ..base.errors import EncodeError
from ..base.files import publish, temp_path, written
from .mp4 import FFmpeg, raw_input
from .pixels import Changes, pil_image, runs
from .writer import Writer


def gif_keeps(index: int, fps: float, gif_fps: float, total: int | None = None) -> bool:
    """Whether video frame ``index`` (shown at ``fps``) is in the GIF: the first frame of each tick of
    ``gif_fps``, and the video's last frame (of ``total``), so the GIF ends where the video does.

    A pure function of the frame's place in the whole video, so chunks rendered apart agree on it. With
    ``total`` (the video's frame count) the GIF always ends on the video's last frame: it stands for the last
    tick instead of that tick's first frame (and is added after the first frame when both share tick 0).
    """
    if gif_fps >= fps or index == 0 or (total is not None and index == total - 1):
        return True
    return int(index * gif_fps / fps) != int((index - 1) * gif_fps / fps)


def _kept_before(index: int, fps: float, gif_fps: float) -> int:
    """How many of the video's frames before frame ``index`` the GIF keeps (the last frame's rule aside)."""
    if index <= 0:
        return 0
    return index if gif_fps >= fps else int((index - 1) * gif_fps / fps) + 1


GIF_MAX_FPS = 50  # a GIF's delays are whole centiseconds, and players show delays under 2 as 10


def gif_rate(gif_fps: float | None, fps: float) -> float:
    """A GIF's frame rate: ``gif_fps`` (the video's rate if ``None``), at most the video's, and at most
    :data:`GIF_MAX_FPS`: a faster GIF would need delays that browsers stretch to a tenth of a second."""
    return min(gif_fps or fps, fps, GIF_MAX_FPS)


def gif_size(size: tuple[int, int], width: int | None) -> tuple[int, int]:
    """The GIF's (width, height) for frames of ``size``: ``width`` (at most the frame's), the height in
    proportion and even, as ffmpeg's ``scale=W:-2`` made it."""
    w = min(width or size[0], size[0])
    if w == size[0]:
        return tuple(size)
    return w, max(2, 2 * ((w * size[1] + size[0]) // (2 * size[0])))  # ffmpeg's rounding, half up


class _Axis:
    """One axis of a bilinear scale from ``n`` to ``m`` pixels: which source pixels each output pixel reads."""

    def __init__(self, n: int, m: int) -> None:
        self.n, self.m, self.scale = n, m, n / m
        support = max(self.scale, 1.0)  # the bilinear filter reaches one source pixel, times the reduction
        centres = (np.arange(m) + 0.5) * self.scale
        self.lo = np.clip(np.floor(centres - support).astype(int) - 1, 0, n)
        self.hi = np.clip(np.ceil(centres + support).astype(int) + 1, 0, n)
        # Output pixels are redone in whole periods of the scale (3 for 720 -> 540): Pillow's filter weights
        # then come out bit for bit as for the whole frame. A scale with no short period redoes the whole axis.
        period = m // math.gcd(n, m)
        self.period = period if period <= 64 else m

    def outputs(self, a: int, b: int) -> tuple[int, int]:
        """The output pixels [start, stop) that read any of source pixels [a, b), in whole periods."""
        start = int(np.searchsorted(self.hi, a, side="right"))
        stop = int(np.searchsorted(self.lo, b, side="left"))
        return start // self.period * self.period, min(self.m, -(-stop // self.period) * self.period)


# RGBX pixels are read as little-endian 32-bit words (R the low byte, X the high one) on any machine.
_WORD = np.dtype("<u4")


_RGB_MASK = np.frombuffer(bytes([255, 255, 255, 0]), _WORD)[0]  # the R, G, B bytes of an RGBX pixel


class GIFScaler:
    """Frames of ``size`` scaled to ``to`` (Pillow's bilinear filter, RGB out), redoing only what changed.

    Plot frames change in a few places from one frame to the next: output pixels whose source pixels (the
    filter's reach) are as they were keep their values, the boxes around the changes are scaled again,
    exactly as the whole frame would be. Bilinear differs from Lanczos by about one level on average on
    plot frames and costs half as much.

    The scaled frame lives in an RGBX buffer (:attr:`rgbx`, one 32-bit word a pixel) whose fourth byte is
    ``marks`` (0 unless given) and is never written by scaling: the GIF encoder keeps each pixel's dither
    position there, so a pixel's word is its colour lookup key as it is. :attr:`changed` lists the boxes
    (row0, row1, col0, col1), in output pixels, that the last call redid; nothing outside them changed.
    """

    def __init__(self, size: tuple[int, int], to: tuple[int, int], channels: int = 3,
                 marks: np.ndarray | None = None) -> None:
        self.size, self.to, self.channels = tuple(size), tuple(to), channels
        self._changes = Changes(self.size, channels)
        self.rgbx = np.zeros((self.to[1], self.to[0], 4), np.uint8)
        if marks is not None:
            self.rgbx[..., 3] = marks
        self._marks = self.rgbx.copy().view(_WORD)[..., 0]  # the fourth bytes alone, as words
        self._words = self.rgbx.view(_WORD)[..., 0]
        self._out = self.rgbx[..., :3]
        self.changed: list[tuple[int, int, int, int]] = []
        self._x, self._y = _Axis(self.size[0], self.to[0]), _Axis(self.size[1], self.to[1])

    def _put(self, j0: int, j1: int, i0: int, i1: int, words: np.ndarray) -> None:
        """Store RGBX ``words`` (their X bytes ignored) in output box [j0:j1, i0:i1], the marks kept."""
        box = self._words[j0:j1, i0:i1]
        np.bitwise_and(words, _RGB_MASK, out=box)
        box |= self._marks[j0:j1, i0:i1]

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The scaled frame, (height, width, 3) RGB (a view of :attr:`rgbx`, reused by the next call)."""
        if self.size == self.to:
            self.changed = [(r0, r1, 0, self.to[0]) for r0, r1 in runs(self._changes.rows(frame))]
            for r0, r1, _, _ in self.changed:
                if frame.shape[2] == 4:
                    self._put(r0, r1, 0, self.to[0], np.ascontiguousarray(frame[r0:r1]).view(_WORD)[..., 0])
                else:
                    self._out[r0:r1] = frame[r0:r1]
            return self._out
        x, y = self._x, self._y
        boxes = [(*y.outputs(r0, r1), *x.outputs(c0, c1)) for r0, r1, c0, c1 in self._changes.boxes(frame)]
        # Changes scattered all over (many boxes) cost less as one box around them all than box by box.
        boxes = _merged(boxes) if len(boxes) <= 32 else _merged([_hull(boxes)])
        raw = "RGB" if frame.shape[2] == 3 else "RGBX"
        bilinear = pil_image().BILINEAR
        for j0, j1, i0, i1 in boxes:
            s0, s1, t0, t1 = int(y.lo[j0]), int(y.hi[j1 - 1]), int(x.lo[i0]), int(x.hi[i1 - 1])
            source = pil_image().frombytes("RGB", (t1 - t0, s1 - s0), np.ascontiguousarray(frame[s0:s1, t0:t1]),
                                        "raw", raw)
            # The two passes one after the other, as Pillow makes them for a wide frame: on a narrow box it
            # would take the vertical pass first, and round the pixels in between differently.
            wide = source.resize((i1 - i0, s1 - s0), bilinear, box=(i0 * x.scale - t0, 0, i1 * x.scale - t0, s1 - s0))
            scaled = wide.resize((i1 - i0, j1 - j0), bilinear, box=(0, j0 * y.scale - s0, i1 - i0, j1 * y.scale - s0))
            # Pillow keeps RGB pixels in four bytes: read out as they are, they are RGBX words already.
            words = np.frombuffer(scaled.tobytes("raw", "RGBX"), _WORD).reshape(j1 - j0, i1 - i0)
            self._put(j0, j1, i0, i1, words)
        self.changed = boxes
        return self._out


def _hull(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    """The smallest (start0, stop0, start1, stop1) box holding all of ``boxes``."""
    return (min(b[0] for b in boxes), max(b[1] for b in boxes), min(b[2] for b in boxes), max(b[3] for b in boxes))


def _merged(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """(start0, stop0, start1, stop1) boxes, empty ones dropped and overlapping ones joined into their hull."""
    boxes = [b for b in boxes if b[1] > b[0] and b[3] > b[2]]
    merged = True
    while merged and len(boxes) > 1:
        merged = False
        for a in range(len(boxes)):
            for b in range(a + 1, len(boxes)):
                p, q = boxes[a], boxes[b]
                if p[0] < q[1] and q[0] < p[1] and p[2] < q[3] and q[2] < p[3]:
                    boxes[a] = (min(p[0], q[0]), max(p[1], q[1]), min(p[2], q[2]), max(p[3], q[3]))
                    del boxes[b]
                    merged = True
                    break
            if merged:
                break
    return boxes


GIF_PALETTE_SAMPLE = 16  # frames the palette is computed from, evenly spaced over the GIF, first and last included


def gif_palette(frames: Iterable[np.ndarray], path: Path) -> Path:
    """One 256-colour palette for ``frames`` (RGB, all one size) with ffmpeg's palettegen, saved as a PNG."""
    ff = None
    try:
        for frame in frames:
            if ff is None:
                h, w = frame.shape[:2]
                # stats_mode=full: colours weighted by the area they cover in all frames together.
                ff = FFmpeg([*raw_input((w, h), 1, 3), "-vf", "palettegen=max_colors=256:stats_mode=full",
                              "-update", "1", "-frames:v", "1", "-f", "image2", str(path)])
            ff.write(memoryview(np.ascontiguousarray(frame)).cast("B"))
        if ff is None:
            raise ValueError(f"no frames to make a palette for {path}")
        ff.close()
    except BaseException:
        if ff is not None:
            ff.kill()
        raise
    return path


# Oklab (Björn Ottosson, 2020): the perceptual space ffmpeg's palettegen and paletteuse pick colours in.
_OKLAB_LMS = np.array([[0.4122214708, 0.5363325363, 0.0514459929], [0.2119034982, 0.6806995451, 0.1073969566],
                       [0.0883024619, 0.2817188376, 0.6299787005]])


_OKLAB_LAB = np.array([[0.2104542553, 0.7936177850, -0.0040720468], [1.9779984951, -2.4285922050, 0.4505937099],
                       [0.0259040371, 0.7827717662, -0.8086757660]])


def _times(v: np.ndarray, m: np.ndarray) -> np.ndarray:
    """(n, 3) rows ``v`` times the transpose of (k, 3) ``m``, as three products summed: no BLAS call, whose
    threads would spin on the other core after each of these small products."""
    return v[:, 0:1] * m[:, 0] + v[:, 1:2] * m[:, 1] + v[:, 2:3] * m[:, 2]


def oklab(rgb: np.ndarray) -> np.ndarray:
    """(n, 3) sRGB colours, 0-255, in Oklab (L, a, b)."""
    c = np.asarray(rgb, np.float64) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return _times(np.cbrt(_times(linear, _OKLAB_LMS)), _OKLAB_LAB)


class GIFPalette:
    """A GIF palette (a file from :func:`gif_palette`: up to 255 colours and one transparent entry) and the
    colour each pixel of a frame takes in it.

    A pixel is a 32-bit word, R, G, B and a fourth byte that is 1 where the ordered dither lowers it by one
    level (half the pixels, in a checkerboard: ffmpeg's paletteuse ``dither=bayer:bayer_scale=5``). Its
    palette entry is the nearest colour in Oklab to the dithered colour, as paletteuse picks it, looked up in
    a table over all 2^25 words that fills in as new colours appear: plot frames hold a few thousand colours,
    so after the first frames a lookup is one table read a pixel. The table's pages are the system's zero
    pages until written, so it takes memory only where colours occur (32 MB at most).
    """

    def __init__(self, path: Path) -> None:
        with pil_image().open(path) as image:
            rgba = np.asarray(image.convert("RGBA")).reshape(-1, 4)[:256]
        clear = np.flatnonzero(rgba[:, 3] == 0)
        if len(clear) == 0:
            raise EncodeError(f"GIF palette {path} has no transparent entry")
        self.transparent = int(clear[0])
        self.colours = np.zeros((256, 3), np.uint8)
        self.colours[: len(rgba)] = rgba[:, :3]
        self._opaque = np.flatnonzero(rgba[:, 3] == 255).astype(np.uint8)
        self._lab = oklab(self.colours[self._opaque])
        self._lab_sq = (self._lab**2).sum(axis=1)
        # Entry XOR transparent index: 0, the zero page's value, is an entry no colour maps to (unknown).
        self._table = np.zeros(1 << 25, np.uint8)

    def _learn(self, words: np.ndarray) -> None:
        new = np.unique(words)
        rgbx = np.stack([(new >> shift) & 0xFF for shift in (0, 8, 16, 24)], axis=1).astype(np.int16)  # by value
        dithered = np.clip(rgbx[:, :3] - rgbx[:, 3:], 0, 255)
        for k in range(0, len(new), 1 << 14):  # nearest by |a - b|^2 = |a|^2 - 2ab + |b|^2, in slices
            lab = oklab(dithered[k : k + (1 << 14)])
            nearest = (self._lab_sq[None, :] - 2 * _times(lab, self._lab)).argmin(axis=1)
            self._table[new[k : k + (1 << 14)]] = self._opaque[nearest] ^ self.transparent

    def indices(self, words: np.ndarray) -> np.ndarray:
        """The palette entries of pixel ``words`` (RGBX words as :class:`GIFScaler` makes them), as uint8."""
        found = np.take(self._table, words)  # take: a third faster than indexing with an array
        if not found.all():
            self._learn(words[found == 0])
            found = np.take(self._table, words)
        found ^= self.transparent
        return found


def _dither_marks(size: tuple[int, int]) -> np.ndarray:
    """(height, width) uint8: 1 where ffmpeg's bayer dither at scale 5 lowers a pixel by one level (x + y even)."""
    rows, cols = np.indices((size[1], size[0]))
    return ((rows + cols) % 2 == 0).astype(np.uint8)


def _centiseconds(index: int, fps: float) -> int:
    """When GIF frame ``index`` starts, in whole centiseconds (rounded half up, as ffmpeg's timestamps)."""
    return math.floor(index * 100 / fps + 0.5)


class GIFFramesWriter(Writer):
    """A looping GIF (or one chunk's piece of one) in a palette given beforehand: the frames it keeps at
    ``fps``, scaled to ``width``, mapped to ``palette`` (a file from :func:`gif_palette`).

    The encoding is ffmpeg's, made here from what the scaler knows changed: each pixel takes the nearest
    palette colour (Oklab) after the ordered dither of ``paletteuse=dither=bayer:bayer_scale=5``; a piece's
    first frame is whole, every later one is the rectangle around the pixels that changed, the others in it
    transparent, drawn over the previous frame (ffmpeg's ``gifflags=offsetting+transdiff``); Pillow's LZW
    encoder packs the pixels. Only the changed boxes are mapped, so a frame costs what changed in it.

    ``start_index`` is the first frame's place in the whole video of ``total`` frames, for chunks (the video's
    last frame is always kept); pieces made with one palette join into one GIF with :func:`make_gif`. The file
    appears at ``path`` only if at least one frame was kept.
    """

    def __init__(self, path: str | os.PathLike, palette: Path, fps: float | None = None, width: int | None = None,
                 start_index: int = 0, total: int | None = None) -> None:
        super().__init__(path)
        self.palette, self.gif_fps, self.gif_width, self.start_index = Path(palette), fps, width, start_index
        self.total = total
        self.kept = 0
        self._file = None

    def output_fps(self) -> float:
        """The GIF's frame rate (:func:`gif_rate`)."""
        return gif_rate(self.gif_fps, self.fps)

    def output_size(self) -> tuple[int, int]:
        """The GIF's (width, height)."""
        return gif_size(self.size, self.gif_width)

    def _setup(self) -> None:
        self._index = self.start_index
        self._before = _kept_before(self.start_index, self.fps, self.output_fps())  # kept by earlier pieces
        self._colours = GIFPalette(self.palette)
        self._scale = GIFScaler(self.size, self.output_size(), self.channels, marks=_dither_marks(self.output_size()))
        self._words = self._scale.rgbx.view(_WORD)[..., 0]
        self._shown: np.ndarray | None = None  # the palette entries on screen after the last frame

    def _write(self, frame: np.ndarray, step: int) -> None:
        keep = gif_keeps(self._index, self.fps, self.output_fps(), self.total)
        self._index += 1
        if not keep:
            return
        self._scale(frame)
        if self._file is None:  # opened on the first kept frame, so a chunk that keeps none makes no file
            self._tmp = temp_path(self.path, ".gif")
            self._file = open(self._tmp, "wb")
            self._file.write(self._head())
        # Delays continue from the frames the GIF kept before this piece, so each one (whole centiseconds) is
        # rounded as in one unbroken GIF.
        g = self._before + self.kept
        # (At most 65535, the field's limit: a GIF slower than one frame in 11 minutes holds each that long.)
        delay = min(_centiseconds(g + 1, self.output_fps()) - _centiseconds(g, self.output_fps()), 0xFFFF)
        self._file.write(self._frame(delay))
        self.kept += 1

    def _head(self) -> bytes:
        w, h = self.output_size()
        # Logical screen with a global table of 256 colours (flags 0xF7), then the loop-forever extension.
        return (b"GIF89a" + struct.pack("<HHBBB", w, h, 0xF7, 0, 0) + self._colours.colours.tobytes()
                + b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00")

    def _frame(self, delay: int) -> bytes:
        """The next frame's blocks: what changed since the frame before it, or all of it for the first."""
        clear = self._colours.transparent
        if self._shown is None:
            self._shown = self._colours.indices(self._words)
            return _gif_image(self._shown, 0, 0, delay, None)
        changes = []  # (box, its new entries, where they differ from the screen)
        for j0, j1, i0, i1 in self._scale.changed:
            entries = self._colours.indices(self._words[j0:j1, i0:i1])
            differ = entries != self._shown[j0:j1, i0:i1]
            if differ.any():
                changes.append(((j0, j1, i0, i1), entries, differ))
        if not changes:  # nothing moved: one transparent pixel holds the frame's delay
            return _gif_image(np.full((1, 1), clear, np.uint8), 0, 0, delay, clear)
        rows = [(j0 + int(r[0]), j0 + int(r[-1]) + 1) for (j0, _, _, _), _, d in changes
                for r in [np.flatnonzero(d.any(axis=1))]]
        cols = [(i0 + int(c[0]), i0 + int(c[-1]) + 1) for (_, _, i0, _), _, d in changes
                for c in [np.flatnonzero(d.any(axis=0))]]
        top, bottom = min(r[0] for r in rows), max(r[1] for r in rows)
        left, right = min(c[0] for c in cols), max(c[1] for c in cols)
        image = np.full((bottom - top, right - left), clear, np.uint8)
        for (j0, j1, i0, i1), entries, differ in changes:
            self._shown[j0:j1, i0:i1] = entries
            r0, r1, c0, c1 = max(j0, top), min(j1, bottom), max(i0, left), min(i1, right)  # the box in it
            inside = (slice(r0 - j0, r1 - j0), slice(c0 - i0, c1 - i0))
            np.copyto(image[r0 - top : r1 - top, c0 - left : c1 - left], entries[inside], where=differ[inside])
        return _gif_image(image, left, top, delay, clear)

    def _finish(self) -> None:
        if self._file is None:  # no frame kept
            return
        try:
            self._file.write(b";")
            self._file.close()
            publish(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._tmp.unlink(missing_ok=True)


def _gif_image(entries: np.ndarray, left: int, top: int, delay: int, transparent: int | None) -> bytes:
    """One GIF frame: its graphic control (``delay`` centiseconds, left in place for the next frame to draw
    over, ``transparent`` the entry that shows what is below) and the image of palette ``entries`` at
    (``left``, ``top``), LZW-packed by Pillow."""
    h, w = entries.shape
    flags = 1 << 2 | (transparent is not None)  # disposal 1: leave in place
    control = b"\x21\xf9\x04" + struct.pack("<BHBB", flags, delay, transparent or 0, 0)
    packed = pil_image().frombuffer("P", (w, h), np.ascontiguousarray(entries), "raw", "P", 0, 1).tobytes("gif", "P")
    return control + b"\x2c" + struct.pack("<HHHHB", left, top, w, h, 0) + b"\x08" + packed + b"\x00"


def _gif_blocks(data: bytes, name: str) -> tuple[bytes, bytes]:
    """(head, frames) of a GIF file: the head is everything before the first frame (signature, screen,
    global colour table, the loop extension), the frames everything after, the trailer left out."""
    if data[:6] not in (b"GIF89a", b"GIF87a") or len(data) < 14 or data[-1:] != b";":
        raise EncodeError(f"{name} is not a complete GIF")
    flags = data[10]
    pos = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    while data[pos] == 0x21 and data[pos + 1] not in (0xF9, 0x01):  # extensions before the first frame
        pos += 2
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    return data[:pos], data[pos:-1]


def make_gif(pieces: list[Path], path: Path) -> Path:
    """Join GIF pieces written with one palette (in order) into one looping GIF at ``path``.

    Each piece's first frame is whole (later ones hold only what changed), so the pieces' frames follow
    each other as they are: the join copies bytes, it does not decode.
    """
    if not pieces:
        raise ValueError(f"no frames were kept for {path}")
    if len(pieces) == 1:
        publish(pieces[0], path)
        return path
    head, _ = _gif_blocks(pieces[0].read_bytes(), pieces[0].name)
    with written(path, ".gif") as tmp, open(tmp, "wb") as out:
        out.write(head)
        for piece in pieces:
            piece_head, frames = _gif_blocks(piece.read_bytes(), piece.name)
            if piece_head != head:
                raise EncodeError(f"GIF piece {piece.name} has another palette or size than the first")
            out.write(frames)
        out.write(b";")
    return path
