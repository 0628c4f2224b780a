"""Writing one file whole: a hidden temporary beside the final path, moved into place by one rename, so the
path holds either the previous complete file or the new complete one, never a part."""
from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import VisualizerError


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


class NotAFile(VisualizerError):
    """A path that had to be a regular file is something else: a symbolic link (where links are not
    followed), a named pipe, a socket, a device or a folder."""


def what_is(mode: int) -> str:
    """What an ``lstat`` mode is, in words: "a symbolic link", "a named pipe (FIFO)", "a folder", ..."""
    for test, words in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                        (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
                        (stat.S_ISDIR, "a folder"), (stat.S_ISREG, "a file")):
        if test(mode):
            return words
    return "a special file"


def open_regular(path: str | os.PathLike, flags: int = os.O_RDONLY, *, follow: bool = True,
                 mode: int = 0o644) -> int:
    """A descriptor of the regular file at ``path`` (``flags`` as for :func:`os.open`; ``O_CREAT`` creates
    it), or :class:`NotAFile` naming what is there instead.

    Never blocks: a named pipe is opened non-blocking and refused, as are sockets, devices and folders (the
    check is on the opened descriptor, so nothing can be swapped in between). With ``follow=False`` a
    symbolic link at ``path`` is refused instead of followed (``O_NOFOLLOW``).
    """
    extra = os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | (0 if follow else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = os.open(path, flags | extra, mode)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):  # a link not followed, a pipe, a folder
            try:
                kind = what_is(os.lstat(path).st_mode)
            except OSError:
                raise exc from None
            raise NotAFile(f"{path} is {kind}, not a regular file; remove it or give another path") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotAFile(f"{path} is {what_is(st.st_mode)}, not a regular file; remove it or give another "
                           "path")
        if not follow and getattr(os, "O_NOFOLLOW", 0) == 0 and os.path.islink(path):  # no O_NOFOLLOW here
            raise NotAFile(f"{path} is a symbolic link, not a regular file; remove it or give another path")
    except BaseException:
        os.close(fd)
        raise
    os.set_blocking(fd, True)
    return fd


def read_regular(path: str | os.PathLike, *, follow: bool = True) -> bytes:
    """The bytes of the regular file at ``path`` (see :func:`open_regular`: never blocks on a named pipe)."""
    with os.fdopen(open_regular(path, follow=follow), "rb") as fh:
        return fh.read()


def sha256_file(path: Path) -> str:
    """The file's SHA-256 as hex."""
    digest = hashlib.sha256()
    with os.fdopen(open_regular(path), "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


__all__ = ["NotAFile", "open_regular", "publish", "read_regular", "sha256_file", "temp_path", "temp_prefix", "what_is",
           "written"]
