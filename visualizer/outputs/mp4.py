"""ffmpeg (the binary imageio-ffmpeg ships) and the MP4: H.264 pieces written through a pipe, joined without
re-encoding."""
from __future__ import annotations

import os
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from ..base.errors import EncodeError
from ..base.files import publish, temp_path, written
from .writer import Writer


def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped by imageio-ffmpeg (users need no system ffmpeg)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _ffmpeg(*args: str) -> list[str]:
    """An ffmpeg command line: quiet but for errors, never reading the terminal, overwriting its output."""
    return [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]


class FFmpeg:
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


def raw_input(size: tuple[int, int], fps: float, channels: int) -> list[str]:
    pix_fmt = "rgb24" if channels == 3 else "rgba"
    return ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{size[0]}x{size[1]}", "-framerate", f"{fps:g}", "-i", "-"]


class _PipeWriter(Writer):
    """A writer whose frames go down a pipe to one ffmpeg process writing a temporary file, published whole."""

    _ff: FFmpeg | None = None

    threads: int | None = None  # ffmpeg's threads (encoder and filters); None: its own choice

    def _thread_args(self) -> list[str]:
        if not self.threads:
            return []
        # The filters' threads too: with one encoder thread per piece (a process per core already), ffmpeg's
        # own filter threads only hand frames back and forth (a tenth more CPU, the same bytes).
        return ["-threads", str(self.threads), "-filter_threads", str(self.threads)]

    def _start(self, args: list[str], suffix: str) -> None:
        self._tmp = temp_path(self.path, suffix)
        self._ff = FFmpeg([*raw_input(self.size, self._input_fps(), self.channels), *args, str(self._tmp)])

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


def join_mp4(pieces: list[Path], path: Path, subtitles: Path | None = None, *, language: str = "eng",
             title: str = "Captions") -> Path:
    """Join MP4 pieces of identical encoding (in order) into ``path`` without re-encoding; with
    ``subtitles`` (a WebVTT file), muxed in the same pass as a soft subtitle track (``mov_text``, the one
    MP4 players read) tagged with ``language`` and ``title``."""
    if len(pieces) == 1 and subtitles is None:
        publish(pieces[0], path)
        return path
    track = [] if subtitles is None else [
        "-i", str(Path(subtitles).absolute()), "-map", "0:v", "-map", "1:s", "-c:s", "mov_text",
        "-metadata:s:s:0", f"language={language}", "-metadata:s:s:0", f"title={title}",
        "-metadata:s:s:0", f"handler_name={title}",
        "-disposition:s:0", "default"]
    with _concat_input(pieces, path) as source, written(path, ".mp4") as tmp:
        run_ffmpeg([*source, *track, "-c:v", "copy", "-movflags", "+faststart", "-f", "mp4", str(tmp)])
    return path
