"""Atomic outputs: build under a hidden temporary name beside the final path, then rename into place."""
from __future__ import annotations

import os
import shutil
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


def temp_prefix(final: Path) -> str:
    """Hidden, and carrying this process's id, so a later run can tell a killed run's leftovers."""
    return f".{final.stem}.{os.getpid()}."


def temp_path(final: Path, suffix: str) -> Path:
    """A new empty temporary file beside ``final``, hidden, ending in ``.part<suffix>``."""
    fd, name = tempfile.mkstemp(prefix=temp_prefix(final), suffix=f".part{suffix}", dir=final.parent)
    os.close(fd)
    return Path(name)


def remove_leftovers(folder: Path) -> list[Path]:
    """Delete temporaries that runs killed outright (no chance to clean up) left in ``folder``: hidden
    ``.<name>.<pid>.….part*`` files and ``.render-<pid>-…`` folders whose process no longer exists."""
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.glob(".*"):
        parts = entry.name.split("-" if entry.name.startswith(".render-") else ".")
        pid = parts[1] if entry.name.startswith(".render-") else (parts[2] if len(parts) > 3 else "")
        if ".part" not in entry.name and not entry.name.startswith(".render-"):
            continue
        if pid.isdigit() and not _alive(int(pid)):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
