"""The writer protocol: ``setup`` → ``write`` per frame → ``finish``, ``abort`` on any failure.

Writers consume (height, width, 3) RGB or (height, width, 4) RGBA uint8 frames. The renderer hands over its
RGBA canvas buffer as it is: ffmpeg drops the alpha channel anyway, and copying out RGB per frame costs as much
as drawing a panel. Every writer builds its output under a temporary name in the destination folder and moves
it into place only in ``finish``, so the final path holds either the previous complete file or the new complete
one; ``abort`` (called by the context manager on any exception, Ctrl-C included) removes the temporaries.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np




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
