"""Atomic outputs: build under a hidden temporary name beside the final path, then rename into place."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def publish(tmp: Path, final: Path) -> None:
    """Give a finished temporary file or folder normal permissions and move it to ``final`` in one rename."""
    # mkstemp/mkdtemp create owner-only files; finished outputs get what a plain open() would give.
    os.chmod(tmp, (0o777 if tmp.is_dir() else 0o666) & ~_UMASK)
    os.replace(tmp, final)


def temp_path(final: Path, suffix: str) -> Path:
    """A new empty temporary file beside ``final``, hidden, ending in ``.part<suffix>``."""
    fd, name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".part{suffix}", dir=final.parent)
    os.close(fd)
    return Path(name)
