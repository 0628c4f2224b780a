"""Writers consume (height, width, 3) RGB or (height, width, 4) RGBA uint8 frames: ``setup`` → ``write``
per frame → ``finish``. The renderer hands over its RGBA canvas buffer as it is: ffmpeg drops the alpha
channel anyway, and copying out RGB per frame costs as much as drawing a panel.

Every writer builds its output under a temporary name in the destination folder and moves it into place only
in ``finish``, so the final path holds either the previous complete file or the new complete one; ``abort``
(called by the context manager on any exception, Ctrl-C included) removes the temporaries.
"""
from __future__ import annotations

import math
import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from abc import ABC, abstractmethod
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from .errors import EncodeError
from .files import publish, temp_path, temp_prefix


def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped by imageio-ffmpeg (users need no system ffmpeg)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _ffmpeg(*args: str) -> list[str]:
    """An ffmpeg command line: quiet but for errors, never reading the terminal, overwriting its output."""
    return [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]


class Writer(ABC):
    """Base writer: a context manager that always finishes (or aborts on error)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.size: tuple[int, int] | None = None
        self.frames_written = 0

    def setup(self, size: tuple[int, int], fps: float, channels: int = 3) -> None:
        """Prepare for frames of ``size`` = (width, height), RGB (3 channels) or RGBA (4), at ``fps``."""
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if channels not in (3, 4):
            raise ValueError(f"frames must have 3 (RGB) or 4 (RGBA) channels, got {channels}")
        self.size, self.fps, self.channels = (int(size[0]), int(size[1])), float(fps), channels
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._setup()

    def write(self, frame: np.ndarray, step: int) -> None:
        """Add one frame; ``step`` is the training step it shows."""
        if self.size is None:
            raise RuntimeError("call setup() before write()")
        if frame.shape != (self.size[1], self.size[0], self.channels) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be {self.size[1]}x{self.size[0]}x{self.channels} uint8 "
                             f"(the size never changes mid-file), got {frame.shape} {frame.dtype}")
        self._write(frame, step)
        self.frames_written += 1

    def hold(self, frame: np.ndarray, step: int, count: int) -> None:
        """Show ``frame`` for ``count`` more frames at the end (videos hold it; a frame folder does not)."""
        for _ in range(count):
            self.write(frame, step)

    def finish(self) -> Path:
        """Complete the output and move it to its final path."""
        if self.frames_written == 0:
            self.abort()
            raise ValueError(f"no frames were written for {self.path}")
        self._finish()
        return self.path

    @abstractmethod
    def _setup(self) -> None: ...

    @abstractmethod
    def _write(self, frame: np.ndarray, step: int) -> None: ...

    @abstractmethod
    def _finish(self) -> None: ...

    @abstractmethod
    def abort(self) -> None:
        """Stop and remove every temporary file; leave the final path as it was."""

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.abort()


class _FFmpeg:
    """An ffmpeg process reading raw RGB frames on stdin; its log goes to a temp file, not a pipe that fills."""

    def __init__(self, args: list[str]) -> None:
        self._log = tempfile.TemporaryFile()
        self.args = _ffmpeg(*args)
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=self._log)
        _widen_pipe(self.proc.stdin)

    def write(self, data: bytes | memoryview) -> None:
        try:
            self.proc.stdin.write(data)
        except BrokenPipeError:
            self.proc.wait()
            raise EncodeError(f"ffmpeg stopped early: {self.log() or 'no message'}") from None

    def close(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        if self.proc.wait() != 0:
            raise EncodeError(f"ffmpeg failed (exit {self.proc.returncode}): {self.log() or 'no message'}")
        self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait()
        self._log.close()

    def log(self) -> str:
        self._log.seek(0)
        lines = self._log.read().decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else ""


PIPE_BYTES = 1 << 20  # Linux's default limit for an unprivileged process (/proc/sys/fs/pipe-max-size)


def _widen_pipe(pipe) -> None:
    """Where the system allows (Linux), give a pipe to ffmpeg 1 MiB of buffer instead of 64 KiB: a 720p frame
    then crosses in 4 hand-overs instead of 57, and both processes spend less time in the kernel."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except (ImportError, OSError, ValueError):
        pass  # another system, or a lower limit: the default buffer works, a little slower


def run_ffmpeg(args: list[str]) -> None:
    """Run ffmpeg to completion; raise :class:`EncodeError` with its last log line on failure."""
    proc = subprocess.run(_ffmpeg(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise EncodeError(f"ffmpeg failed (exit {proc.returncode}): {message[-1] if message else 'no message'}")


def _raw_input(size: tuple[int, int], fps: float, channels: int) -> list[str]:
    pix_fmt = "rgb24" if channels == 3 else "rgba"
    return ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{size[0]}x{size[1]}", "-framerate", f"{fps:g}", "-i", "-"]


class _PipeWriter(Writer):
    """A writer whose frames go down a pipe to one ffmpeg process writing a temporary file, published whole."""

    _ff: _FFmpeg | None = None

    threads: int | None = None  # ffmpeg's threads (encoder and filters); None: its own choice

    def _thread_args(self) -> list[str]:
        if not self.threads:
            return []
        # The filters' threads too: with one encoder thread per piece (a process per core already), ffmpeg's
        # own filter threads only hand frames back and forth (a tenth more CPU, the same bytes).
        return ["-threads", str(self.threads), "-filter_threads", str(self.threads)]

    def _start(self, args: list[str], suffix: str) -> None:
        self._tmp = temp_path(self.path, suffix)
        self._ff = _FFmpeg([*_raw_input(self.size, self._input_fps(), self.channels), *args, str(self._tmp)])

    def _input_fps(self) -> float:
        return self.fps

    def _write(self, frame: np.ndarray, step: int) -> None:
        self._ff.write(memoryview(frame).cast("B"))

    def _finish(self) -> None:
        if self._ff is None:  # started lazily and never needed
            return
        try:
            self._ff.close()
            publish(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if self._ff is not None:
            self._ff.kill()
        if hasattr(self, "_tmp"):
            self._tmp.unlink(missing_ok=True)


class MP4Writer(_PipeWriter):
    """H.264 in MP4, yuv420p, faststart: plays in every browser, player and slide program.

    H.264 with yuv420p needs even width and height; an odd size gets one row or column of white padding.
    """

    def __init__(self, path: str | os.PathLike, crf: int = 20, preset: str = "veryfast",
                 threads: int | None = None) -> None:
        super().__init__(path)
        self.crf, self.preset, self.threads = crf, preset, threads

    def _setup(self) -> None:
        w, h = self.size
        pad = [] if w % 2 == 0 and h % 2 == 0 else ["pad=ceil(iw/2)*2:ceil(ih/2)*2:0:0:white"]
        # Converted with the BT.709 matrix into limited range, and tagged so: browsers take untagged HD video
        # for BT.709 while ffmpeg converts with BT.601 unless told, which shifted colour maps by up to 20
        # levels against the PNG frames. The tags are said twice because ffmpeg 7 and later take them from
        # the frames (setparams) and older versions from the output options.
        bt709 = "color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv"
        convert = ",".join([*pad, "scale=out_color_matrix=bt709:out_range=tv", "format=yuv420p",
                            f"setparams={bt709}"])
        tags = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]
        # Plot frames change smoothly and by little: a short lookahead and the simplest motion search cost
        # about a fifth less CPU than veryfast's own, for files within 5 % of the size at the same quality.
        self._start(["-vf", convert, *tags, "-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf),
                     "-x264-params", "rc-lookahead=10:me=dia:subme=1",
                     *self._thread_args(), "-pix_fmt", "yuv420p",
                     "-profile:v", "high", "-movflags", "+faststart", "-f", "mp4"], ".mp4")



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


class _Changes:
    """Where a frame differs from the previous frame given: rows, or boxes (the whole frame for the first)."""

    GAP = 48  # pixels: changes further apart than this in a run of rows make separate boxes

    def __init__(self, size: tuple[int, int], channels: int) -> None:
        (width, height), row_bytes = size, size[0] * channels
        # The widest integer that divides a row: comparing 8 bytes at a time is 3x faster than bytes.
        self._dtype = np.dtype(next(t for t in (np.uint64, np.uint32, np.uint16, np.uint8)
                                    if row_bytes % np.dtype(t).itemsize == 0))
        self._previous: np.ndarray | None = None
        self._shape, self._width, self._channels = (height, row_bytes), width, channels

    def _diff(self, frame: np.ndarray) -> np.ndarray | None:
        words = frame.reshape(self._shape).view(self._dtype)
        if self._previous is None:
            self._previous = words.copy()
            self._scratch = np.empty(words.shape, bool)
            return None
        return np.not_equal(words, self._previous, out=self._scratch)

    def _remember(self, frame: np.ndarray, rows: np.ndarray) -> None:
        words = frame.reshape(self._shape).view(self._dtype)
        for r0, r1 in _runs(rows):
            self._previous[r0:r1] = words[r0:r1]

    def rows(self, frame: np.ndarray) -> np.ndarray:
        """A boolean per row: changed."""
        diff = self._diff(frame)
        if diff is None:
            return np.ones(self._shape[0], bool)
        changed = diff.any(axis=1)
        self._remember(frame, changed)
        return changed

    def boxes(self, frame: np.ndarray) -> list[tuple[int, int, int, int]]:
        """(row0, row1, col0, col1) boxes, in pixels, that hold every change."""
        diff = self._diff(frame)
        if diff is None:
            return [(0, self._shape[0], 0, self._width)]
        changed = diff.any(axis=1)
        per_word = self._dtype.itemsize
        boxes = []
        for r0, r1 in _runs(changed):
            words = np.flatnonzero(diff[r0:r1].any(axis=0))
            splits = np.flatnonzero(np.diff(words) * per_word > self.GAP * self._channels)
            for w0, w1 in zip(words[np.concatenate(([0], splits + 1))], words[np.concatenate((splits, [-1]))]):
                c0 = int(w0) * per_word // self._channels
                c1 = min(self._width, -(-(int(w1) + 1) * per_word // self._channels))
                boxes.append((r0, r1, c0, c1))
        self._remember(frame, changed)
        return boxes


def _rgb_rows(frame: np.ndarray, r0: int, r1: int) -> np.ndarray:
    """Rows ``r0:r1`` of an RGB or RGBA frame as (rows, width, 3) RGB."""
    if frame.shape[2] == 3:
        return frame[r0:r1]
    # Pillow reads the rows where they are and packs them as RGB in one pass, twice as fast as unpacking
    # them into an image first and five times as fast as a strided numpy copy.
    rows = _image().frombuffer("RGBA", (frame.shape[1], r1 - r0), np.ascontiguousarray(frame[r0:r1]), "raw", "RGBA",
                               0, 1)
    return np.frombuffer(rows.tobytes("raw", "RGB"), np.uint8).reshape(r1 - r0, frame.shape[1], 3)


def _image():
    from PIL import Image  # Pillow is a matplotlib dependency, so always present; imported when first used

    return Image


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True in a 1-D boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate(([False], flags, [False])).astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


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
        self._changes = _Changes(self.size, channels)
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
            self.changed = [(r0, r1, 0, self.to[0]) for r0, r1 in _runs(self._changes.rows(frame))]
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
        bilinear = _image().BILINEAR
        for j0, j1, i0, i1 in boxes:
            s0, s1, t0, t1 = int(y.lo[j0]), int(y.hi[j1 - 1]), int(x.lo[i0]), int(x.hi[i1 - 1])
            source = _image().frombytes("RGB", (t1 - t0, s1 - s0), np.ascontiguousarray(frame[s0:s1, t0:t1]),
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
                ff = _FFmpeg([*_raw_input((w, h), 1, 3), "-vf", "palettegen=max_colors=256:stats_mode=full",
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


def sample_positions(kept: list[int], count: int = GIF_PALETTE_SAMPLE) -> list[int]:
    """At most ``count`` of ``kept``, evenly spaced, the first and the last included."""
    if len(kept) <= count:
        return list(kept)
    return [kept[i] for i in np.unique(np.round(np.linspace(0, len(kept) - 1, count)).astype(int))]


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
        with _image().open(path) as image:
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
    packed = _image().frombuffer("P", (w, h), np.ascontiguousarray(entries), "raw", "P", 0, 1).tobytes("gif", "P")
    return control + b"\x2c" + struct.pack("<HHHHB", left, top, w, h, 0) + b"\x08" + packed + b"\x00"


def concat_quote(path: str) -> str:
    """``path`` as one token of an ffmpeg concat listing: single-quoted, each ``'`` written ``'\\''``."""
    if "\n" in path or "\r" in path:
        raise EncodeError(f"cannot join pieces whose path holds a line break: {path!r}")
    return "'" + path.replace("'", "'\\''") + "'"


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

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as out:
            out.write(head)
            for piece in pieces:
                piece_head, frames = _gif_blocks(piece.read_bytes(), piece.name)
                if piece_head != head:
                    raise EncodeError(f"GIF piece {piece.name} has another palette or size than the first")
                out.write(frames)
            out.write(b";")

    return _publish_from(path, ".gif", write)


@contextmanager
def _concat_input(pieces: list[Path], final: Path) -> Iterator[list[str]]:
    """ffmpeg input arguments reading ``pieces`` in order as one stream (a concat listing, removed after).

    Every path ffmpeg sees is absolute, so none can be read as a protocol (``concat:``, ``http:``); the
    listing sits beside the pieces and names them relative to itself, quoted by the concat rules.
    """
    if len(pieces) == 1:
        yield ["-i", str(Path(pieces[0]).absolute())]
        return
    folders = {Path(p).absolute().parent for p in pieces}
    listing = temp_path(folders.pop() / "pieces" if len(folders) == 1 else Path(final).absolute(), ".txt")
    try:
        names = [p.name if p.absolute().parent == listing.parent else str(p.absolute()) for p in map(Path, pieces)]
        listing.write_text("".join(f"file {concat_quote(n)}\n" for n in names), encoding="utf-8")
        yield ["-f", "concat", "-safe", "0", "-i", str(listing.absolute())]
    finally:
        listing.unlink(missing_ok=True)


def _publish_from(path: Path, suffix: str, make) -> Path:
    """Run ``make(tmp)`` to build a file under a temporary name, then publish it at ``path``."""
    tmp = temp_path(path, suffix)
    try:
        make(tmp)
        publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def join_mp4(pieces: list[Path], path: Path) -> Path:
    """Join MP4 pieces of identical encoding (in order) into ``path`` without re-encoding."""
    if len(pieces) == 1:
        publish(pieces[0], path)
        return path
    with _concat_input(pieces, path) as source:
        return _publish_from(path, ".mp4", lambda tmp: run_ffmpeg(
            [*source, "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(tmp)]))


class GIFWriter(Writer):
    """A looping GIF with one palette computed from all its frames (ffmpeg's palettegen, then
    :class:`GIFFramesWriter`).

    The frames it keeps are scaled as they come and stored compressed (losslessly) in a temporary file, so
    memory stays flat however many there are; ``finish`` computes the palette from all of them, then maps
    them to it. Rendering in chunks uses :class:`GIFFramesWriter` with a palette made beforehand instead.
    ``fps`` and ``width`` left as ``None`` keep the video's rate and the frames' width (the render's GIF
    defaults live in :mod:`visualizer.options`).
    """

    def __init__(self, path: str | os.PathLike, fps: float | None = None, width: int | None = None) -> None:
        super().__init__(path)
        self.gif_fps, self.gif_width = fps, width

    def _setup(self) -> None:
        self._rate = gif_rate(self.gif_fps, self.fps)
        self._to = gif_size(self.size, self.gif_width)
        self._scale = GIFScaler(self.size, self._to, self.channels)
        self._index, self._last = 0, None
        self._store_path = temp_path(self.path, ".frames")
        self._store = open(self._store_path, "wb")

    def _write(self, frame: np.ndarray, step: int) -> None:
        keep = gif_keeps(self._index, self.fps, self._rate)
        self._index += 1
        if keep:
            self._keep(frame)
            self._last = None
        else:  # kept aside: if it is the video's last frame, the GIF ends with it
            if getattr(self, "_spare", None) is None:
                self._spare = np.empty_like(frame)
            np.copyto(self._spare, frame)
            self._last = self._spare

    def _keep(self, frame: np.ndarray) -> None:
        data = zlib.compress(np.ascontiguousarray(self._scale(frame)), 1)
        self._store.write(struct.pack("<I", len(data)) + data)

    def _stored(self) -> Iterator[np.ndarray]:
        shape = (self._to[1], self._to[0], 3)
        with open(self._store_path, "rb") as store:
            while head := store.read(4):
                data = store.read(struct.unpack("<I", head)[0])
                yield np.frombuffer(zlib.decompress(data), np.uint8).reshape(shape)

    def _finish(self) -> None:
        palette = temp_path(self.path, ".png")
        try:
            if self._last is not None:
                self._keep(self._last)
            self._store.close()
            gif_palette(self._stored(), palette)
            # The stored frames are the GIF's already: at its rate and size, all kept.
            frames = GIFFramesWriter(self.path, palette, fps=self._rate, width=self._to[0])
            with frames:
                frames.setup(self._to, self._rate)
                for frame in self._stored():
                    frames.write(frame, 0)
        except BaseException:
            self.abort()
            raise
        finally:
            palette.unlink(missing_ok=True)
            self._store_path.unlink(missing_ok=True)

    def abort(self) -> None:
        if hasattr(self, "_store"):
            self._store.close()
            self._store_path.unlink(missing_ok=True)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def _adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of two byte strings one after the other, from theirs (zlib's adler32_combine)."""
    base = 65521
    rem = second_length % base
    s1 = first & 0xFFFF
    s2 = rem * s1 % base
    s1 = (s1 + (second & 0xFFFF) + base - 1) % base
    s2 = (s2 + (first >> 16) + (second >> 16) + base - rem) % base
    return s1 | s2 << 16


def fastest_deflate():
    """The fastest zlib-compatible module here: ``isal.isal_zlib`` (Intel's ISA-L: deflate about five times as
    fast at its level 1, for files the same size) where the optional ``isal`` package is installed, else
    the standard library's ``zlib``. Either makes ordinary PNG files."""
    try:
        from isal import isal_zlib
    except ImportError:
        return zlib
    return isal_zlib


class PNGEncoder:
    """Lossless RGB PNGs of frames of one size, fast for a sequence that changes in places.

    Pillow's PNG writer tries every row filter on every row: about 20 ms for a 1280x720 plot frame, and
    hardly smaller files than no filter at all. Here rows go unfiltered into zlib (``level``) in bands of
    ``band`` rows, each compressed on its own (no match reaches into another band), so a band that is as it
    was in the previous frame keeps its compressed bytes. The bytes depend only on the pixels (and the
    ``deflate`` module, :func:`fastest_deflate` unless given): the same frame gives the same file whatever
    came before it. ISA-L's levels stop at 3; a higher ``level`` means its highest there.
    """

    def __init__(self, size: tuple[int, int], channels: int = 3, level: int = 1, band: int = 32,
                 deflate=None) -> None:
        self.size, self.channels, self.band = (int(size[0]), int(size[1])), channels, band
        self._zlib = deflate or fastest_deflate()
        self.level = min(level, 3) if self._zlib is not zlib else level
        width, height = self.size
        self._head = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        self._tail = _png_chunk(b"IEND", b"")
        self._changes = _Changes(self.size, channels)
        self._rows = np.zeros((height, 1 + 3 * width), np.uint8)  # each row: filter type 0 (none), then RGB
        self._bands: list[tuple[bytes, int, int]] = [(b"", 1, 0)] * -(-height // band)

    def encode(self, frame: np.ndarray) -> bytes:
        """The PNG file of ``frame``, (height, width, channels) uint8, as bytes."""
        height = self.size[1]
        changed = self._changes.rows(frame)
        padded = np.zeros(len(self._bands) * self.band, bool)
        padded[:height] = changed
        z = self._zlib
        for b0, b1 in _runs(padded.reshape(-1, self.band).any(axis=1)):
            r0, r1 = b0 * self.band, min(height, b1 * self.band)
            self._rows[r0:r1, 1:] = _rgb_rows(frame, r0, r1).reshape(r1 - r0, -1)
            for k in range(b0, b1):
                rows = self._rows[k * self.band : min(height, (k + 1) * self.band)]
                deflate = z.compressobj(self.level, z.DEFLATED, -15)  # raw deflate: the zlib frame is ours
                self._bands[k] = (deflate.compress(rows) + deflate.flush(z.Z_SYNC_FLUSH), z.adler32(rows),
                                  rows.size)
        adler = 1
        for _, band_adler, length in self._bands:
            adler = _adler32_combine(adler, band_adler, length)
        # zlib header (deflate, 32 KB window, fastest), the bands, an empty final block, the checksum.
        data = b"".join([b"\x78\x01", *(d for d, _, _ in self._bands), b"\x03\x00", struct.pack(">I", adler)])
        return self._head + _png_chunk(b"IDAT", data) + self._tail


class PNGFramesWriter(Writer):
    """One PNG per frame, ``frame_<step>.png`` zero-padded to ``digits``, in the folder ``path``.

    The set is written to a temporary folder and swapped in whole, so no stale frames of an earlier run
    remain. With ``into=FOLDER`` it writes straight into that (temporary) folder instead, for chunks. The
    PNGs are RGB and lossless (:class:`PNGEncoder`, zlib ``compress_level``).
    """

    def __init__(self, path: str | os.PathLike, digits: int = 5, compress_level: int = 1,
                 into: Path | None = None) -> None:
        super().__init__(path)
        self.digits, self.compress_level, self.into = digits, compress_level, into

    def _setup(self) -> None:
        self._encoder = PNGEncoder(self.size, self.channels, self.compress_level)
        if self.into is not None:
            self._tmp_dir = self.into
            return
        self._tmp_dir = Path(tempfile.mkdtemp(prefix=temp_prefix(self.path), suffix=".part", dir=self.path.parent))

    def _write(self, frame: np.ndarray, step: int) -> None:
        (self._tmp_dir / f"frame_{step:0{self.digits}d}.png").write_bytes(self._encoder.encode(frame))

    def hold(self, frame: np.ndarray, step: int, count: int) -> None:
        """A folder of frames has one PNG per step: nothing to hold."""

    def _finish(self) -> None:
        if self.into is None:
            swap_folder(self._tmp_dir, self.path)

    def abort(self) -> None:
        if hasattr(self, "_tmp_dir") and self.into is None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)


def swap_folder(new: Path, final: Path) -> None:
    """Put folder ``new`` at ``final``, replacing an older folder there (two renames, then cleanup)."""
    old = None
    if final.exists():
        if not final.is_dir():
            shutil.rmtree(new, ignore_errors=True)
            raise EncodeError(f"{final} exists and is not a folder; remove it or choose another output folder")
        old = final.with_name(f"{temp_prefix(final)}old.part")
        os.replace(final, old)
    publish(new, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class NullWriter(Writer):
    """Counts frames and writes nothing: for tests and timing the renderer alone."""

    def _setup(self) -> None:
        pass

    def _write(self, frame: np.ndarray, step: int) -> None:
        pass

    def _finish(self) -> None:
        pass

    def abort(self) -> None:
        pass


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
        from .sheet import save_png, thumbnail

        if position == self.poster_at:
            save_png(frame, self.path / "poster.png")
        if position in self.thumbs_at:
            save_png(thumbnail(frame, self.thumb_size), self.path / f"thumb_{position:07d}.png")

    def hold(self, frame: np.ndarray, step: int, count: int) -> None:
        """Held frames repeat the last one: nothing more to keep."""

    def _finish(self) -> None:
        pass  # the files are in the render's private work folder already

    def abort(self) -> None:
        pass  # the work folder goes with the render


class Format:
    """How one output format is made: its file name, the writer each chunk uses, and how pieces are joined."""

    name = ""
    piece_suffix = ".mkv"

    def filename(self, scene: str) -> str:
        """The output's name in the scene's folder."""
        raise NotImplementedError

    def begin(self, output: Output) -> None:
        """Make the temporary places this output's pieces go to, under ``output.work``. Most need none."""

    def prepare(self, output: Output, draw: Callable[[int], np.ndarray], n_frames: int, fps: float) -> None:
        """Before any chunk starts: look at frames of the whole video (``draw(index)``, for ``index`` below
        ``n_frames``) if the format needs to. Most need nothing."""

    def piece(self, output: Output, k: int, start_index: int) -> Writer:
        """The writer chunk ``k`` uses; its first frame is frame ``start_index`` of the whole video."""
        raise NotImplementedError

    def join(self, output: Output, pieces: list[Path]) -> Path:
        """Combine the chunks' pieces (in order) into ``output.path``."""
        raise NotImplementedError

    def pack(self, output: Output, k: int) -> object:
        """Chunk ``k``'s finished piece as data that can travel to another process or machine."""
        path = output.piece_path(k)
        return path.read_bytes() if path.exists() else None

    def unpack(self, output: Output, k: int, data: object) -> None:
        """Put a piece :meth:`pack` made elsewhere where chunk ``k``'s piece goes here."""
        if data is not None:
            output.piece_path(k).write_bytes(data)


class MP4Format(Format):
    name, piece_suffix = "mp4", ".mp4"

    def filename(self, scene: str) -> str:
        return f"{scene}.mp4"

    def prepare(self, output, draw, n_frames, fps):
        ffmpeg_exe()  # found once here, before the workers fork (finding it runs ffmpeg), not once in each

    def piece(self, output, k, start_index):
        # Chunks already keep every core busy; one x264 thread each wastes less on coordination.
        return MP4Writer(output.piece_path(k), threads=1 if output.chunks > 1 else None)

    def join(self, output, pieces):
        return join_mp4(pieces, output.path)


class GIFFormat(Format):
    name, piece_suffix = "gif", ".gif"

    def filename(self, scene: str) -> str:
        return f"{scene}.gif"

    def prepare(self, output, draw, n_frames, fps):
        # One palette for the whole clip, from a sample of its frames drawn before the chunks start: every
        # chunk then writes its part of the GIF at once, and the parts join by copying bytes.
        output.frame_count = n_frames
        rate = gif_rate(output.gif_fps, fps)
        index = np.arange(n_frames)
        ticks = (index * rate / fps).astype(np.int64)  # as gif_keeps: float products, truncated
        keep = np.concatenate(([True], ticks[1:] != ticks[:-1])) if rate < fps else np.ones(n_frames, bool)
        keep[-1] = True
        kept = [int(i) for i in index[keep]]

        def sample() -> Iterator[np.ndarray]:
            scale = None
            for i in sample_positions(kept):
                frame = draw(i)
                if scale is None:
                    size = (frame.shape[1], frame.shape[0])
                    scale = GIFScaler(size, gif_size(size, output.gif_width), frame.shape[2])
                yield scale(frame)

        output.palette = gif_palette(sample(), output.work / "gif_palette.png")

    def piece(self, output, k, start_index):
        return GIFFramesWriter(output.piece_path(k), output.palette, output.gif_fps, output.gif_width,
                               start_index=start_index, total=output.frame_count)

    def join(self, output, pieces):
        return make_gif(pieces, output.path)


class _FolderFormat(Format):
    """An output whose chunks write files into one folder of the work folder, named after the format; they
    travel as {file name: bytes}."""

    def folder(self, output: Output) -> Path:
        return output.work / self.name

    def begin(self, output: Output) -> None:
        self.folder(output).mkdir()

    def pack(self, output, k):
        return {p.name: p.read_bytes() for p in sorted(self.folder(output).iterdir())}

    def unpack(self, output, k, data):
        for name, content in data.items():
            (self.folder(output) / name).write_bytes(content)


class FramesFormat(_FolderFormat):
    name = "frames"

    def filename(self, scene: str) -> str:
        return "frames"

    def piece(self, output, k, start_index):
        return PNGFramesWriter(output.path, output.digits, into=self.folder(output))

    def join(self, output, pieces):
        swap_folder(self.folder(output), output.path)
        return output.path


class StillsFormat(_FolderFormat):
    """The stills' parts (poster, thumbnails), kept by each chunk as it draws; the render composes them."""

    name = "stills"

    def filename(self, scene: str) -> str:
        return "stills"

    def piece(self, output, k, start_index):
        return StillsWriter(self.folder(output), start_index, **output.stills)

    def join(self, output, pieces):
        return self.folder(output)


class NullFormat(Format):
    name = "null"

    def filename(self, scene: str) -> str:
        return "null"

    def piece(self, output, k, start_index):
        return NullWriter(output.path)

    def join(self, output, pieces):
        return output.path


WRITERS: dict[str, Format] = {f.name: f for f in (MP4Format(), GIFFormat(), FramesFormat(), StillsFormat(),
                                                   NullFormat())}


def register_format(fmt: Format) -> None:
    """Add (or replace) an output format by its name."""
    WRITERS[fmt.name] = fmt


class Output:
    """One final output (an MP4, a GIF or a PNG folder) built from pieces that chunks write independently.

    In the main process: ``begin(work)`` → the chunks each use ``piece(k, start)`` → ``join()`` puts the
    result at ``path`` atomically. ``work`` is a private temporary folder beside the outputs.
    """

    def __init__(self, kind: str, path: Path, *, digits: int = 5, gif_fps: float | None = None,
                 gif_width: int | None = None, stills: dict | None = None) -> None:
        if kind not in WRITERS:
            raise ValueError(f"unknown output kind {kind!r}; known: {', '.join(WRITERS)}")
        self.kind, self.format, self.path = kind, WRITERS[kind], Path(path)
        self.digits, self.gif_fps, self.gif_width = digits, gif_fps, gif_width
        self.stills = stills  # the stills' StillsWriter settings: poster_at, thumbs_at, thumb_size
        self.palette: Path | None = None  # the GIF's, made by prepare()
        self.frame_count: int | None = None  # frames in the whole video, told to prepare()

    def begin(self, work: Path, chunks: int = 1) -> None:
        """Prepare the temporary places the pieces of ``chunks`` chunks go to."""
        self.work, self.chunks = work, chunks
        self.format.begin(self)

    def prepare(self, draw: Callable[[int], np.ndarray], n_frames: int, fps: float) -> None:
        """Before the chunks: let the format look at frames of the whole video (``draw(index)``), as the GIF
        does for its palette."""
        self.format.prepare(self, draw, n_frames, fps)

    def piece_path(self, k: int) -> Path:
        """Where chunk ``k``'s piece goes."""
        return self.work / f"{self.kind}_{k:04d}{self.format.piece_suffix}"

    def piece(self, k: int, start_index: int) -> Writer:
        """The writer chunk ``k`` uses; its first frame is frame ``start_index`` of the whole video."""
        return self.format.piece(self, k, start_index)

    def travelling(self) -> dict:
        """What a chunk drawn in another process needs to make its piece of this output (after
        :meth:`prepare`); see :meth:`elsewhere`."""
        return {"kind": self.kind, "digits": self.digits, "gif_fps": self.gif_fps, "gif_width": self.gif_width,
                "stills": self.stills, "frame_count": self.frame_count, "chunks": self.chunks,
                "palette": self.palette.read_bytes() if self.palette is not None else None}

    @classmethod
    def elsewhere(cls, settings: dict, work: Path) -> Output:
        """In another process: the output :meth:`travelling` described, its pieces going to ``work``; a
        chunk's piece comes back with :meth:`pack`."""
        output = cls(settings["kind"], work / "output", digits=settings["digits"], gif_fps=settings["gif_fps"],
                     gif_width=settings["gif_width"], stills=settings["stills"])
        output.begin(work, settings["chunks"])
        output.frame_count = settings["frame_count"]
        if settings["palette"] is not None:
            output.palette = work / "gif_palette.png"
            output.palette.write_bytes(settings["palette"])
        return output

    def pack(self, k: int) -> object:
        """Chunk ``k``'s finished piece as data (bytes, or a folder's files) to send back."""
        return self.format.pack(self, k)

    def unpack(self, k: int, data: object) -> None:
        """Chunk ``k``'s piece, made elsewhere, put where :meth:`join` finds it."""
        self.format.unpack(self, k, data)

    def join(self) -> Path:
        """Combine the pieces into the final output."""
        pieces = [p for p in (self.piece_path(k) for k in range(self.chunks)) if p.exists()]
        return self.format.join(self, pieces)
