"""Writing one file whole: a hidden temporary beside the final path, moved into place by one rename, so the
path holds either the previous complete file or the new complete one, never a part."""
from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


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


def temp_prefix(final: Path) -> str:
    """Hidden, and carrying this process's id, so a later run can tell a killed run's leftovers."""
    return f".{final.stem}.{os.getpid()}."


def temp_path(final: Path, suffix: str) -> Path:
    """A new empty temporary file beside ``final``, hidden, ending in ``.part<suffix>``."""
    fd, name = tempfile.mkstemp(prefix=temp_prefix(final), suffix=f".part{suffix}", dir=final.parent)
    os.close(fd)
    return Path(name)


@contextmanager
def written(final: Path, suffix: str) -> Iterator[Path]:
    """Write ``final`` whole: the block writes the temporary path it is given (:func:`temp_path`), which is
    published at ``final`` when the block ends and removed if it raises (Ctrl-C included)."""
    tmp = temp_path(final, suffix)
    try:
        yield tmp
        publish(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sha256_file(path: Path) -> str:
    """The file's SHA-256 as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


__all__ = ["publish", "sha256_file", "temp_path", "temp_prefix", "written"]
