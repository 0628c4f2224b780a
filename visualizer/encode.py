"""Writers consume (height, width, 3) RGB or (height, width, 4) RGBA uint8 frames: ``setup`` → ``write``
per frame → ``finish``. The renderer hands over its RGBA canvas buffer as it is: ffmpeg drops the alpha
channel anyway, and copying out RGB per frame costs as much as drawing a panel.

Every writer builds its output under a temporary name in the destination folder and moves it into place only
in ``finish``, so the final path holds either the previous complete file or the new complete one; ``abort``
(called by the context manager on any exception, Ctrl-C included) removes the temporaries.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from abc import ABC, abstractmethod
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image  # Pillow is a matplotlib dependency, so always present

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
                     *(["-threads", str(self.threads)] if self.threads else []), "-pix_fmt", "yuv420p",
                     "-profile:v", "high", "-movflags", "+faststart", "-f", "mp4"], ".mp4")


def gif_keeps(index: int, fps: float, gif_fps: float, total: int | None = None) -> bool:
    """Whether video frame ``index`` (shown at ``fps``) is the GIF's frame for a tick of ``gif_fps``.

    A pure function of the frame's place in the whole video, so chunks rendered apart agree on it. With
    ``total`` (the video's frame count) the GIF always ends on the video's last frame: it stands for the last
    tick instead of that tick's first frame (and is added after the first frame when both share tick 0).
    """
    if gif_fps >= fps:
        return True
    tick = int(index * gif_fps / fps)
    if total is not None and index >= total - 1:
        return True
    if total is not None and tick == int((total - 1) * gif_fps / fps) and tick > 0:
        return False  # the last tick is shown by the last frame
    return index == 0 or tick != int((index - 1) * gif_fps / fps)


class GIFFramesWriter(_PipeWriter):
    """The first half of a GIF: the frames it keeps, scaled to ``width``, stored losslessly (FFV1 in MKV).

    ``start_index`` is the first frame's place in the whole video, for chunks. The file appears at ``path``
    only if at least one frame was kept.
    """

    def __init__(self, path: str | os.PathLike, fps: float | None = 15, width: int | None = 960,
                 start_index: int = 0, total: int | None = None) -> None:
        super().__init__(path)
        self.gif_fps, self.gif_width, self.start_index, self.total = fps, width, start_index, total
        self.kept = 0

    def output_fps(self) -> float:
        """The GIF's frame rate: ``fps`` capped at the video's rate."""
        return min(self.gif_fps or self.fps, self.fps)

    _input_fps = output_fps  # only the kept frames reach ffmpeg, at the GIF's rate

    def _setup(self) -> None:
        self._index = self.start_index

    def _write(self, frame: np.ndarray, step: int) -> None:
        keep = gif_keeps(self._index, self.fps, self.output_fps(), self.total)
        self._index += 1
        if not keep:
            return
        if self._ff is None:  # started on the first kept frame, so a chunk that keeps none makes no file
            # format=rgb24: an alpha channel would make palettegen spend a colour on transparency.
            scale = f"scale={min(self.gif_width or self.size[0], self.size[0])}:-2:flags=lanczos,format=rgb24"
            self._start(["-vf", scale, "-c:v", "ffv1", "-f", "matroska"], ".mkv")
        super()._write(frame, step)
        self.kept += 1


def concat_quote(path: str) -> str:
    """``path`` as one token of an ffmpeg concat listing: single-quoted, each ``'`` written ``'\\''``."""
    if "\n" in path or "\r" in path:
        raise EncodeError(f"cannot join pieces whose path holds a line break: {path!r}")
    return "'" + path.replace("'", "'\\''") + "'"


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


def make_gif(pieces: list[Path], path: Path) -> Path:
    """Join GIF frame pieces (in order) into a looping GIF at ``path`` with one palette for all frames."""
    if not pieces:
        raise ValueError(f"no frames were kept for {path}")
    palette = temp_path(path, ".png")
    try:
        with _concat_input(pieces, path) as source:
            run_ffmpeg([*source, "-vf", "palettegen=max_colors=256:stats_mode=full", "-update", "1",
                        "-frames:v", "1", "-f", "image2", str(palette)])
            # Bayer dithering keeps flat plot colours flat (smaller files than error diffusion), and
            # rectangle diff mode re-encodes only the part of each frame that changed.
            return _publish_from(path, ".gif", lambda tmp: run_ffmpeg(
                [*source, "-i", str(palette), "-lavfi", "paletteuse=dither=bayer:bayer_scale=5:diff_mode=rectangle",
                 "-loop", "0", "-f", "gif", str(tmp)]))
    finally:
        palette.unlink(missing_ok=True)


def join_mp4(pieces: list[Path], path: Path) -> Path:
    """Join MP4 pieces of identical encoding (in order) into ``path`` without re-encoding."""
    if len(pieces) == 1:
        publish(pieces[0], path)
        return path
    with _concat_input(pieces, path) as source:
        return _publish_from(path, ".mp4", lambda tmp: run_ffmpeg(
            [*source, "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(tmp)]))


class GIFWriter(Writer):
    """A looping GIF with one palette computed from all its frames by ffmpeg's palettegen/paletteuse.

    Kept frames are stored losslessly in a temporary file first, so memory stays flat however many frames
    there are; ``finish`` then computes the palette and writes the GIF.
    """

    def __init__(self, path: str | os.PathLike, fps: float | None = 15, width: int | None = 960) -> None:
        super().__init__(path)
        self.gif_fps, self.gif_width = fps, width

    def _setup(self) -> None:
        self._frames = GIFFramesWriter(temp_path(self.path, ".mkv"), self.gif_fps, self.gif_width)
        self._frames.setup(self.size, self.fps, self.channels)

    def _write(self, frame: np.ndarray, step: int) -> None:
        self._frames.write(frame, step)

    def _finish(self) -> None:
        try:
            self._frames.finish()
            make_gif([self._frames.path], self.path)
        except BaseException:
            self.abort()
            raise
        finally:
            self._frames.path.unlink(missing_ok=True)

    def abort(self) -> None:
        if hasattr(self, "_frames"):
            self._frames.abort()
            self._frames.path.unlink(missing_ok=True)


class PNGFramesWriter(Writer):
    """One PNG per frame, ``frame_<step>.png`` zero-padded to ``digits``, in the folder ``path``.

    The set is written to a temporary folder and swapped in whole, so no stale frames of an earlier run
    remain. With ``into=FOLDER`` it writes straight into that (temporary) folder instead, for chunks.
    """

    def __init__(self, path: str | os.PathLike, digits: int = 5, compress_level: int = 1,
                 into: Path | None = None) -> None:
        super().__init__(path)
        self.digits, self.compress_level, self.into = digits, compress_level, into

    def _setup(self) -> None:
        if self.into is not None:
            self._tmp_dir = self.into
            return
        self._tmp_dir = Path(tempfile.mkdtemp(prefix=temp_prefix(self.path), suffix=".part", dir=self.path.parent))

    def _write(self, frame: np.ndarray, step: int) -> None:
        image = Image.fromarray(frame)
        if self.channels == 4:
            image = image.convert("RGB")  # opaque anyway; RGB PNGs are a quarter smaller
        image.save(self._tmp_dir / f"frame_{step:0{self.digits}d}.png", compress_level=self.compress_level)

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


class Format:
    """How one output format is made: its file name, the writer each chunk uses, and how pieces are joined."""

    name = ""
    piece_suffix = ".mkv"

    def filename(self, scene: str) -> str:
        """The output's name in the scene's folder."""
        raise NotImplementedError

    def piece(self, output: Output, k: int, start_index: int) -> Writer:
        """The writer chunk ``k`` uses; its first frame is frame ``start_index`` of the whole video."""
        raise NotImplementedError

    def join(self, output: Output, pieces: list[Path]) -> Path:
        """Combine the chunks' pieces (in order) into ``output.path``."""
        raise NotImplementedError


class MP4Format(Format):
    name, piece_suffix = "mp4", ".mp4"

    def filename(self, scene: str) -> str:
        return f"{scene}.mp4"

    def piece(self, output, k, start_index):
        # Chunks already keep every core busy; one x264 thread each wastes less on coordination.
        return MP4Writer(output.piece_path(k), threads=1 if output.chunks > 1 else None)

    def join(self, output, pieces):
        return join_mp4(pieces, output.path)


class GIFFormat(Format):
    name = "gif"

    def filename(self, scene: str) -> str:
        return f"{scene}.gif"

    def piece(self, output, k, start_index):
        return GIFFramesWriter(output.piece_path(k), output.gif_fps, output.gif_width, start_index=start_index,
                               total=output.total)

    def join(self, output, pieces):
        return make_gif(pieces, output.path)


class FramesFormat(Format):
    name = "frames"

    def filename(self, scene: str) -> str:
        return "frames"

    def piece(self, output, k, start_index):
        return PNGFramesWriter(output.path, output.digits, into=output.work / "frames")

    def join(self, output, pieces):
        swap_folder(output.work / "frames", output.path)
        return output.path


class NullFormat(Format):
    name = "null"

    def filename(self, scene: str) -> str:
        return "null"

    def piece(self, output, k, start_index):
        return NullWriter(output.path)

    def join(self, output, pieces):
        return output.path


WRITERS: dict[str, Format] = {f.name: f for f in (MP4Format(), GIFFormat(), FramesFormat(), NullFormat())}


def register_format(fmt: Format) -> None:
    """Add (or replace) an output format by its name."""
    WRITERS[fmt.name] = fmt


class Output:
    """One final output (an MP4, a GIF or a PNG folder) built from pieces that chunks write independently.

    In the main process: ``begin(work)`` → the chunks each use ``piece(k, start)`` → ``join()`` puts the
    result at ``path`` atomically. ``work`` is a private temporary folder beside the outputs.
    """

    def __init__(self, kind: str, path: Path, *, digits: int = 5, gif_fps: float | None = 15,
                 gif_width: int | None = 960) -> None:
        if kind not in WRITERS:
            raise ValueError(f"unknown output kind {kind!r}; known: {', '.join(WRITERS)}")
        self.kind, self.format, self.path = kind, WRITERS[kind], Path(path)
        self.digits, self.gif_fps, self.gif_width = digits, gif_fps, gif_width

    total: int | None = None

    def begin(self, work: Path, chunks: int = 1, total: int | None = None) -> None:
        """Prepare the temporary places the pieces of ``chunks`` chunks go to; ``total`` is the whole video's
        frame count, when known (the GIF then always ends on its last frame)."""
        self.work, self.chunks, self.total = work, chunks, total
        if self.kind == "frames":
            (work / "frames").mkdir()

    def piece_path(self, k: int) -> Path:
        """Where chunk ``k``'s piece goes."""
        return self.work / f"{self.kind}_{k:04d}{self.format.piece_suffix}"

    def piece(self, k: int, start_index: int) -> Writer:
        """The writer chunk ``k`` uses; its first frame is frame ``start_index`` of the whole video."""
        return self.format.piece(self, k, start_index)

    def join(self) -> Path:
        """Combine the pieces into the final output."""
        pieces = [p for p in (self.piece_path(k) for k in range(self.chunks)) if p.exists()]
        return self.format.join(self, pieces)
