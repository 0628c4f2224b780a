"""What can go wrong, classified by origin: the user's input, the user's own code, the system, or us.

- :class:`VisualizerError` and its subclasses: a mistake in the user's data, settings or files, or a state of
  the output folder they can fix. The message says what to do; the CLI prints it as one line, exit status 2
  (``exit_status``).
- :class:`UserCodeError`: the user's own code (a scene module, network factory, custom panel or activation)
  raised, in a render worker where the exception itself could not travel back; it carries their traceback,
  already trimmed to their frames. :func:`user_traceback` trims one raised in this process. Exit status 1.
- :class:`Interrupt`: a signal (Ctrl-C, SIGTERM, SIGHUP) stopped the work; exit status 128 + the signal.
- Anything else is a fault of ours (an internal error).

Library messages never name command-line flags: API users have none (the CLI may add them).
"""
from __future__ import annotations

import errno
import os
import signal
import sys
import sysconfig
import traceback
from pathlib import Path


class VisualizerError(Exception):
    """A problem with the user's input (scene, options, paths) with a message saying what to do."""

    exit_status = 2


class SceneError(VisualizerError):
    """A scene file or name that cannot be loaded or does not describe a scene."""


class DivergenceError(VisualizerError):
    """Training produced a non-finite loss, parameter or gradient; ``step`` is the first bad one."""

    def __init__(self, message: str, step: int = -1) -> None:
        super().__init__(message)
        self.step = step

    def __reduce__(self):  # travels back from a render worker with its step
        return (type(self), (str(self), self.step))


class EncodeError(VisualizerError):
    """ffmpeg failed to write a video or GIF."""


class HistoryError(VisualizerError):
    """A history file that cannot be read: not a history, truncated, or from a newer schema."""


class OutputError(VisualizerError):
    """The output folder cannot take the render: full, read-only, not ours to write, or a name is taken by a
    file or folder of the wrong kind."""


class BusyError(VisualizerError):
    """Another render is writing the same output folder right now (it holds the folder's lock)."""


class LayerSettingError(VisualizerError, ValueError):
    """A layer setting the engine cannot take: an unknown initialization or activation name, a dropout rate
    outside [0, 1), batch norm on a batch of one while training. A ``ValueError`` too, so code that checks
    settings as values keeps working; raised from a scene's own network code, it is still one line (exit 2)."""


class WorkerLost(VisualizerError):
    """A render worker process ended without finishing (killed by a signal, or out of memory): not the
    user's mistake, so the CLI exits with status 1."""

    exit_status = 1


class UserCodeError(Exception):
    """The user's own code raised in a render worker; ``details`` is the traceback from their first frame on
    and the exception line, as Python prints them."""

    def __init__(self, details: str) -> None:
        super().__init__(details)
        self.details = details


class InternalError(Exception):
    """A fault of ours in a render worker; ``details`` is the worker's full traceback."""

    def __init__(self, details: str) -> None:
        super().__init__(details)
        self.details = details


class Interrupt(KeyboardInterrupt):
    """A signal stopped the work: Ctrl-C (SIGINT), SIGTERM or SIGHUP; ``signum`` says which."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def exit_status(self) -> int:
        """The shell's convention: 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM)."""
        return 128 + self.signum


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15, and so on."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


_FULL = "free some space or choose another output folder"
DISK_ERRNOS = {errno.ENOSPC: f"the disk is full; {_FULL}",
               getattr(errno, "EDQUOT", -1): f"the disk quota is exceeded; {_FULL}",
               errno.EROFS: "the file system is read-only; choose another output folder",
               errno.EACCES: "permission denied; choose a folder you can write to",
               errno.EPERM: "permission denied; choose a folder you can write to",
               errno.ENOTDIR: "part of that path is a file, not a folder; choose another output folder",
               errno.ENAMETOOLONG: "the path is too long; choose a shorter output folder"}


def output_problem(exc: OSError, where: str | os.PathLike) -> OutputError | None:
    """An :class:`OutputError` saying why ``where`` cannot be written, if ``exc`` is a full disk, a read-only
    file system or a permission problem; ``None`` for any other error."""
    hint = DISK_ERRNOS.get(exc.errno or -1)
    if hint is None:
        return None
    return OutputError(f"cannot write to {where}: {hint}")


# ---- whose code raised: the user's, a library's, or ours

_PACKAGE = Path(__file__).resolve().parent.parent  # visualizer/, above this base/ folder


def _library_dirs() -> list[Path]:
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            dirs.add(sysconfig.get_path(key))
        except KeyError:
            pass
    import site

    try:
        dirs.update(site.getsitepackages())
        dirs.add(site.getusersitepackages())
    except AttributeError:  # some embedded interpreters
        pass
    return [Path(d).resolve() for d in dirs if d and Path(d).resolve() != Path("/")]


def _scene_files() -> set[str]:
    """Files imported as scenes or layouts (:func:`visualizer.run.scene.import_user_file` names them so)."""
    mods = [m for name, m in list(sys.modules.items()) if name.startswith("visualizer_scene_")]
    return {str(Path(m.__file__).resolve()) for m in mods if getattr(m, "__file__", None)}


def is_user_file(filename: str, scene_files: set[str] | None = None) -> bool:
    """Whether code in ``filename`` is the user's: a scene or layout file, or any file that is neither part of
    visualizer nor of Python or an installed library (a helper module beside the scene)."""
    if not filename or filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
        return False
    path = Path(filename).resolve()
    if str(path) in (scene_files if scene_files is not None else _scene_files()):
        return True
    if path.is_relative_to(_PACKAGE):
        return False
    return not any(path.is_relative_to(d) for d in _library_dirs())


def user_traceback(exc: BaseException) -> str | None:
    """The traceback of ``exc`` from the first frame of the user's own code on, with the exception line, as
    Python prints it; ``None`` if no frame of the traceback is the user's."""
    scene_files = _scene_files()
    tb = exc.__traceback__
    while tb is not None and not is_user_file(tb.tb_frame.f_code.co_filename, scene_files):
        tb = tb.tb_next
    if tb is None:
        return None
    return ("Traceback (most recent call last):\n" + "".join(traceback.format_tb(tb))
            + "".join(traceback.format_exception_only(type(exc), exc)))


__all__ = ["BusyError", "DivergenceError", "EncodeError", "HistoryError", "InternalError", "Interrupt",
           "OutputError", "SceneError", "UserCodeError", "VisualizerError", "WorkerLost", "is_user_file",
           "output_problem", "signal_name", "user_traceback"]
