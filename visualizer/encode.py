"""Writers consume (height, width, 3) uint8 frames: ``setup`` → ``write`` per frame → ``finish``.

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
from pathlib import Path

import numpy as np

from .errors import EncodeError
from .files import publish, temp_path


def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped by imageio-ffmpeg (users need no system ffmpeg)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


class Writer(ABC):
    """Base writer: a context manager that always finishes (or aborts on error)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.size: tuple[int, int] | None = None
        self.frames_written = 0

    def setup(self, size: tuple[int, int], fps: float) -> None:
        """Prepare for frames of ``size`` = (width, height) shown at ``fps`` frames per second."""
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.size, self.fps = (int(size[0]), int(size[1])), float(fps)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._setup()

    def write(self, frame: np.ndarray, step: int) -> None:
        """Add one frame; ``step`` is the training step it shows."""
        if self.size is None:
            raise RuntimeError("call setup() before write()")
        if frame.shape != (self.size[1], self.size[0], 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be {self.size[1]}x{self.size[0]}x3 uint8 "
                             f"(the size never changes mid-file), got {frame.shape} {frame.dtype}")
        self._write(frame, step)
        self.frames_written += 1

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
        self.args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]
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
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise EncodeError(f"ffmpeg failed (exit {proc.returncode}): {message[-1] if message else 'no message'}")


def _raw_input(size: tuple[int, int], fps: float) -> list[str]:
    return ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size[0]}x{size[1]}", "-framerate", f"{fps:g}", "-i", "-"]


class MP4Writer(Writer):
    """H.264 in MP4, yuv420p, faststart: plays in every browser, player and slide program.

    H.264 with yuv420p needs even width and height; an odd size gets one row or column of white padding.
    """

    def __init__(self, path: str | os.PathLike, crf: int = 20, preset: str = "veryfast") -> None:
        super().__init__(path)
        self.crf, self.preset = crf, preset

    def _setup(self) -> None:
        self._tmp = temp_path(self.path, ".mp4")
        w, h = self.size
        pad = [] if w % 2 == 0 and h % 2 == 0 else ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2:0:0:white"]
        self._ff = _FFmpeg([*_raw_input(self.size, self.fps), *pad, "-c:v", "libx264", "-preset", self.preset,
                            "-crf", str(self.crf), "-pix_fmt", "yuv420p", "-profile:v", "high",
                            "-movflags", "+faststart", "-f", "mp4", str(self._tmp)])

    def _write(self, frame: np.ndarray, step: int) -> None:
        self._ff.write(memoryview(frame).cast("B"))

    def _finish(self) -> None:
        try:
            self._ff.close()
            publish(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if hasattr(self, "_ff"):
            self._ff.kill()
        if hasattr(self, "_tmp"):
            self._tmp.unlink(missing_ok=True)


class GIFWriter(Writer):
    """A looping GIF with one palette computed from all frames by ffmpeg's palettegen/paletteuse.

    Frames are first scaled to ``width`` and reduced to ``fps`` and stored losslessly (FFV1) in a temporary
    file, so memory stays flat however many frames there are; ``finish`` then makes the palette and the GIF.
    """

    def __init__(self, path: str | os.PathLike, fps: float | None = 15, width: int | None = 960) -> None:
        super().__init__(path)
        self.gif_fps, self.gif_width = fps, width

    def _setup(self) -> None:
        w, _ = self.size
        out_w = min(self.gif_width or w, w)
        out_fps = min(self.gif_fps or self.fps, self.fps)
        self._tmp_video = temp_path(self.path, ".mkv")
        self._tmp_palette = temp_path(self.path, ".png")
        self._tmp = temp_path(self.path, ".gif")
        filters = f"fps={out_fps:g},scale={out_w}:-2:flags=lanczos"
        self._ff = _FFmpeg([*_raw_input(self.size, self.fps), "-vf", filters, "-c:v", "ffv1", "-f", "matroska",
                            str(self._tmp_video)])

    def _write(self, frame: np.ndarray, step: int) -> None:
        self._ff.write(memoryview(frame).cast("B"))

    def _finish(self) -> None:
        try:
            self._ff.close()
            run_ffmpeg(["-i", str(self._tmp_video), "-vf", "palettegen=max_colors=256:stats_mode=full",
                        "-update", "1", "-frames:v", "1", "-f", "image2", str(self._tmp_palette)])
            # Bayer dithering keeps flat plot colours flat (smaller files than error diffusion), and
            # rectangle diff mode re-encodes only the part of each frame that changed.
            run_ffmpeg(["-i", str(self._tmp_video), "-i", str(self._tmp_palette), "-lavfi",
                        "paletteuse=dither=bayer:bayer_scale=5:diff_mode=rectangle", "-loop", "0",
                        "-f", "gif", str(self._tmp)])
            publish(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        finally:
            self._tmp_video.unlink(missing_ok=True)
            self._tmp_palette.unlink(missing_ok=True)

    def abort(self) -> None:
        if hasattr(self, "_ff"):
            self._ff.kill()
        for name in ("_tmp", "_tmp_video", "_tmp_palette"):
            if hasattr(self, name):
                getattr(self, name).unlink(missing_ok=True)


class PNGFramesWriter(Writer):
    """One PNG per frame, ``frame_<step>.png`` zero-padded to ``digits``, in the folder ``path``.

    The set is written to a temporary folder and swapped in whole, so no stale frames of an earlier run remain.
    """

    def __init__(self, path: str | os.PathLike, digits: int = 5, compress_level: int = 1) -> None:
        super().__init__(path)
        self.digits, self.compress_level = digits, compress_level

    def _setup(self) -> None:
        self._tmp_dir = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent))

    def _write(self, frame: np.ndarray, step: int) -> None:
        from PIL import Image  # Pillow is a matplotlib dependency, so always present

        Image.fromarray(frame).save(self._tmp_dir / f"frame_{step:0{self.digits}d}.png",
                                    compress_level=self.compress_level)

    def _finish(self) -> None:
        old = None
        if self.path.exists():
            if not self.path.is_dir():
                self.abort()
                raise EncodeError(f"{self.path} exists and is not a folder; remove it or choose another --out")
            old = self.path.with_name(f".{self.path.name}.old-{os.getpid()}")
            os.replace(self.path, old)
        publish(self._tmp_dir, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        if hasattr(self, "_tmp_dir"):
            shutil.rmtree(self._tmp_dir, ignore_errors=True)


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


WRITERS: dict[str, type[Writer]] = {"mp4": MP4Writer, "gif": GIFWriter, "frames": PNGFramesWriter,
                                    "null": NullWriter}
