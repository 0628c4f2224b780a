"""Atomic outputs, and a render as one transaction on its output folder.

One file is written whole with :mod:`visualizer.base.files` (a hidden temporary beside the final path, moved into
place by one rename).

A render's outputs (:class:`OutputFolder`)::

    output/<scene>/
        manifest.json               which history (sha256) and which options made each published file
        history.npz  <scene>.mp4  <scene>.gif  <scene>.html  frames/  poster.png  contact_sheet.png
        .lock                       while a render holds the folder (flock); removed when it ends
        .staging-<pid>-<random>/    the render's private staging folder: every new output is built here
                                    under its final name (work/ inside holds scratch: chunk pieces)

1. **Lock.** ``.lock`` is locked with ``flock`` (exclusive, non-blocking): a second render of the same folder
   fails at once with :class:`BusyError` naming the holder. It does not wait: a render the user did not
   expect to queue behind another would look hung.
2. **Recover.** Under the lock no other render is live, so every staging folder belongs to a dead process: one
   holding a committed journal is rolled forward (its publish completed), any other is deleted, as are the
   ``.<name>.<pid>.<random>.part*`` temporaries of dead processes left by earlier versions.
3. **Build.** Everything new (the history included) is written inside the staging folder. Nothing outside
   it changes, so an interrupt or error here leaves the folder exactly as it was; the stage is deleted.
4. **Commit.** When every requested output is complete, the new manifest is written into the stage, then the
   journal (old outputs to retire, new outputs to move in, the manifest last) is written to
   ``journal.part`` and renamed to ``journal.json``. That rename is the commit point.
5. **Roll forward.** Each retired output moves into the stage's ``retired/``, each new output to its final
   name (one rename each; a folder being replaced is first moved aside), the manifest last. Each step is
   idempotent: it is done if its source still exists, so a journal can be rolled forward any number of times.
6. **Clean up.** The stage (with the retired outputs) is deleted; the lock is released and ``.lock`` removed.

**Invariant.** Before the commit point the folder's published outputs are exactly the old set; from it on,
the journal names the new set, and rolling it forward yields exactly that set. SIGINT, SIGTERM and SIGHUP
arriving between the commit point and the end of step 5 (a few renames) are held until it ends
(:func:`deferred_signals`), so a handled signal never leaves a mix: the folder holds the complete old set
(interrupted before the commit point) or the complete new set (at or after it), and the caller can say which.
Only a stop no process can handle (SIGKILL, a crash of the machine) during step 5 leaves a mix on disk; its
committed journal is rolled forward by the next render into that folder before anything else (or by
:func:`recover`). Outputs are not fsync'ed: the guarantee covers the death of the process, not of the machine.

**One run per folder.** Re-rendering the same history (same sha256) keeps the outputs this render does not
remake; a different history retires every older output it does not replace. The manifest records each
file's history digest and options.

``VISUALIZER_TEST_PAUSE`` (test-only, see :func:`pause_point`) makes a render wait at a named stage.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..base.errors import BusyError, OutputError, output_problem
from ..base.files import NotAFile, open_regular, read_regular, sha256_file, what_is, written
from .formats import folder_outputs, known_outputs, owner

try:
    import fcntl
except ImportError:  # Windows: no flock; renders of one folder are then not kept apart
    fcntl = None


MANIFEST = "manifest.json"
LOCK = ".lock"
STAGE_PREFIX = ".staging-"
OLD_RUNS_PREFIX = ".runs-"  # the partial runs/ folders of earlier versions' comparisons (see recover)
_JOURNAL = "journal.json"
# A published name is a plain name in the folder: never a path, never hidden (a manifest or journal naming
# "../x" must not move anything outside the folder).
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Temporaries beside a final path: ".<stem>.<pid>.<random>.part<suffix>"; the stem may itself hold dots.
_PART = re.compile(r"^\.(?P<stem>.+)\.(?P<pid>\d+)\.(?P<rand>[A-Za-z0-9_]+)\.part")
_OLD_STAGE = re.compile(r"^\.render-(?P<pid>\d+)-")  # the work folders of versions before the transaction


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_leftovers(folder: Path) -> list[Path]:
    """Delete temporaries that runs killed outright (no chance to clean up) left in ``folder``: hidden
    ``.<name>.<pid>.<random>.part*`` files and folders (``name`` may hold dots) and ``.render-<pid>-…`` work
    folders whose process no longer exists. Staging folders are :func:`recover`'s."""
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.glob(".*"):
        m = _PART.match(entry.name) or _OLD_STAGE.match(entry.name)
        if m and not _alive(int(m.group("pid"))):
            _remove(entry)
            removed.append(entry)
    return removed


# ---- the manifest

def _plain(name: Any) -> str:
    if not isinstance(name, str) or not _PLAIN.match(name):
        raise ValueError(f"not a plain file name: {name!r}")
    return name


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest (``{"history": sha256, "outputs": {kind: {"file", "history", "options"}}}``), or
    ``None`` if there is none or it cannot be read (then the folder's outputs count as of unknown origin).

    The manifest is read without following a symbolic link and never from a named pipe: either is refused
    with :class:`OutputError`. Only entries naming one of the formats' own outputs for this folder
    (:func:`known_outputs` of the folder's name) are returned: a manifest listing any other file (a user's
    ``notes.txt``) cannot make a render retire it.
    """
    folder = Path(folder)
    try:
        data = json.loads(read_regular(folder / MANIFEST, follow=False).decode("utf-8"))
        own = set(known_outputs(folder.name).values())
        outputs = {}
        for kind, entry in data["outputs"].items():
            if _plain(entry["file"]) in own:
                outputs[str(kind)] = {"file": entry["file"], "history": str(entry["history"]),
                                      "options": entry.get("options")}
        return {"history": str(data["history"]), "outputs": outputs}
    except NotAFile as exc:
        raise OutputError(_refusal(exc)) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _refusal(exc: NotAFile) -> str:
    return (f"{exc}: the render keeps to files it made itself inside its output folder").replace(
        "; remove it or give another path", "; remove it")


def _write_json(path: Path, data: dict) -> None:
    with written(path, ".json") as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


# ---- signals held while the outputs are swapped

HELD_SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None),
                                 getattr(signal, "SIGHUP", None)) if s is not None)


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP while the block runs, then deliver them to the handlers they had.

    Only the main thread receives signals in Python; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {}
    for signum in HELD_SIGNALS:
        handler = signal.getsignal(signum)
        if handler in (signal.SIG_IGN, None):
            continue
        previous[signum] = signal.signal(signum, lambda s, frame: caught.append(s))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)


def pause_point(stage: str) -> None:
    """Test-only: with ``VISUALIZER_TEST_PAUSE=<stage>:<marker file>`` in the environment, a render reaching
    ``stage`` creates the marker file (holding its process id) and waits there until the test deletes it (at
    most ``VISUALIZER_TEST_PAUSE_SECONDS``, default 30), so a test can send a signal at a known moment.
    Stages: training (just before it), drawing (in each chunk, after its first frame), join, gif, player,
    stills, publish (after the first rename, with signals held). Without the variable (always, outside the
    tests) it does nothing."""
    spec = os.environ.get("VISUALIZER_TEST_PAUSE")
    if not spec:
        return
    want, _, marker = spec.partition(":")
    if want != stage or not marker:
        return
    Path(marker).write_text(f"{os.getpid()}\n")
    deadline = time.monotonic() + float(os.environ.get("VISUALIZER_TEST_PAUSE_SECONDS", "30"))
    while time.monotonic() < deadline and os.path.exists(marker):
        time.sleep(0.02)


# ---- the journal

def _roll_forward(folder: Path, stage: Path, journal: dict) -> None:
    """Carry out a committed journal (idempotent: a step is done while its source exists)."""
    retired = stage / "retired"
    _check_stage(stage, journal)
    for name in journal["retire"]:
        old = folder / _plain(name)
        if os.path.lexists(old):
            retired.mkdir(exist_ok=True)
            _remove(retired / name)
            os.replace(old, retired / name)
    for n, name in enumerate(journal["publish"]):
        new, final = stage / _plain(name), folder / name
        if not os.path.lexists(new):
            continue
        if final.is_dir() and not final.is_symlink():  # a folder (frames/) is replaced in two renames
            retired.mkdir(exist_ok=True)
            _remove(retired / name)
            os.replace(final, retired / name)
        os.replace(new, final)
        if n == 0:
            pause_point("publish")


def _check_stage(stage: Path, journal: dict) -> None:
    """Refuse a staging folder whose journal would reach outside the output folder: its ``retired`` folder
    or an output it publishes being a symbolic link or a special file."""
    entries = [("retired", True)] + [(name, None) for name in journal["publish"]]
    for name, folder_only in entries:
        try:
            mode = os.lstat(stage / name).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(mode) or (stat.S_ISREG(mode) and not folder_only):
            continue
        raise OutputError(f"{stage / name} is {what_is(mode)}: the leftover render {stage.name} cannot be "
                          f"completed inside its folder; remove {stage} and render again")


def _read_journal(stage: Path) -> dict | None:
    """The committed journal of a staging folder, ``None`` if it has none (or one that is not ours)."""
    own = set(known_outputs(stage.parent.name).values()) | {MANIFEST}
    try:
        data = json.loads(read_regular(stage / _JOURNAL, follow=False).decode("utf-8"))
        journal = {"retire": [_plain(n) for n in data["retire"]], "publish": [_plain(n) for n in data["publish"]]}
    except FileNotFoundError:
        return None
    except NotAFile as exc:
        raise OutputError(_refusal(exc)) from None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # not a journal of ours: the stage is deleted unread
    if not set(journal["retire"]) | set(journal["publish"]) <= own:
        return None  # names that are not this folder's outputs: not a journal of ours
    return journal


def recover(folder: Path) -> list[str]:
    """Finish or discard what dead renders left in ``folder``; returns what was done, one line each.

    Call it only while holding the folder's lock (:class:`OutputFolder` does): a committed journal is rolled
    forward, any other staging folder deleted, older versions' temporaries of dead processes removed (and
    the partial ``.runs-*`` folders of their comparisons).
    """
    folder = Path(folder)
    done = []
    if not folder.is_dir():
        return done
    for stage in sorted(folder.glob(STAGE_PREFIX + "*")):
        if not stage.is_dir() or stage.is_symlink():
            continue
        journal = _read_journal(stage)
        if journal is not None:
            _roll_forward(folder, stage, journal)
            done.append(f"completed the publish of an interrupted render ({stage.name})")
        else:
            done.append(f"removed the unfinished render {stage.name}")
        shutil.rmtree(stage, ignore_errors=True)
    done.extend(f"removed the leftover {p.name}" for p in remove_leftovers(folder))
    for partial in sorted(folder.glob(OLD_RUNS_PREFIX + "*")):
        # An earlier version's comparison built its runs/ here after its render had let the lock go: one left
        # is a dead comparison's (every comparison now publishes its runs through the stage).
        if partial.is_dir() and not partial.is_symlink():
            shutil.rmtree(partial, ignore_errors=True)
            done.append(f"removed the unfinished runs of a comparison, {partial.name}")
    return done


# ---- the lock

_NO_LOCKS = {getattr(errno, name) for name in ("ENOLCK", "EOPNOTSUPP", "ENOSYS") if hasattr(errno, name)}


class _Lock:
    """An exclusive ``flock`` on ``folder/.lock``, taken at once or refused."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK
        self.fd: int | None = None

    def acquire(self) -> None:
        if fcntl is None:
            return
        while True:
            try:
                fd = open_regular(self.path, os.O_RDWR | os.O_CREAT, follow=False)
            except NotAFile as exc:
                raise OutputError(_refusal(exc)) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode("ascii", "replace").strip()
                os.close(fd)
                who = f" (process {holder})" if holder.isdigit() else ""
                raise BusyError(f"{self.path.parent} is being written by another render{who}; wait for it to "
                                "finish, or render into another output folder") from None
            except OSError as exc:
                os.close(fd)
                if exc.errno in _NO_LOCKS:  # a file system without locks (some network mounts): go on unlocked
                    self.path.unlink(missing_ok=True)
                    return
                raise
            except BaseException:
                os.close(fd)
                raise
            # The previous holder removes the lock file as it lets go: a lock on a removed file locks nothing,
            # so take it again on the file that is there now.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self.fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still holding it (see acquire)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None


# ---- the transaction

@dataclass
class Published:
    """What a commit did: ``written`` (kind → final path) this render's outputs, ``kept`` older outputs of
    the same history left in place, ``retired`` names of outputs of an older history that were removed."""

    written: dict[str, Path] = field(default_factory=dict)
    kept: dict[str, Path] = field(default_factory=dict)
    retired: list[str] = field(default_factory=list)


class OutputFolder:
    """A scene's output folder held by one render: locked, recovered, with a private staging folder.

    ``with OutputFolder(path, name) as folder:`` build each output at ``folder.staged(file)`` (scratch goes to
    ``folder.work``), then ``folder.commit(...)`` publishes them together. Leaving the block without a commit
    (an error, Ctrl-C) deletes the stage and leaves the folder as it was; a folder this render created is
    removed again if nothing was published into it. See the module docstring for the order and invariant.
    """

    def __init__(self, path: str | os.PathLike, name: str) -> None:
        self.path = Path(path)  # as the caller gave it, for results and messages
        self.name = name
        self._abs = self.path.absolute()  # every path ffmpeg sees is absolute: never read as a protocol
        self._lock = _Lock(self._abs)
        self._created: list[Path] = []
        self.stage: Path | None = None
        self.committed = self.published = False
        self.result = Published()  # what commit() published, once it has

    @property
    def work(self) -> Path:
        """Scratch space inside the stage (chunk pieces, a private video); never published."""
        return self.stage / "work"

    def staged(self, file: str) -> Path:
        """Where the output named ``file`` is built."""
        return self.stage / _plain(file)

    def __enter__(self) -> OutputFolder:
        try:
            self._make_folders()
            self._lock.acquire()
        except OSError as exc:
            self._undo_folders()
            raise output_problem(exc, self.path) or exc
        except BaseException:
            self._undo_folders()
            raise
        try:
            recover(self._abs)
            self.stage = Path(tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{os.getpid()}-", dir=self._abs))
            self.work.mkdir()
        except OSError as exc:
            self.close()
            raise output_problem(exc, self.path) or exc
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def _make_folders(self) -> None:
        missing = []
        p = self._abs
        while not p.exists() and p != p.parent:
            missing.append(p)
            p = p.parent
        for p in reversed(missing):
            try:
                p.mkdir()
            except FileExistsError:
                continue
            self._created.append(p)

    def _undo_folders(self) -> None:
        for p in reversed(self._created):  # deepest first; only if empty
            try:
                p.rmdir()
            except OSError:
                break
        self._created = []

    def check_names(self, files: list[str]) -> None:
        """Refuse (before any work) a published name taken by the wrong kind of thing: a folder where a file
        goes, a file where a folder (frames) goes, and anywhere among the render's own names (``files``, every
        output a render of this name can publish, the manifest) a symbolic link or a special file (a named
        pipe, a socket, a device). A link is never followed: replacing or retiring what it points to would
        reach outside the output folder."""
        folders, wanted = folder_outputs(self.name), {*files, MANIFEST}
        for file in dict.fromkeys([*wanted, *known_outputs(self.name).values()]):
            try:
                mode = os.lstat(self._abs / file).st_mode
            except FileNotFoundError:
                continue
            here = self.path / file
            if stat.S_ISLNK(mode):
                raise OutputError(f"{here} is a symbolic link; the render replaces only what it made itself "
                                  "inside its output folder and does not follow links: remove the link, or "
                                  "choose another output folder")
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise OutputError(f"{here} is {what_is(mode)}, where the render's {file} goes; remove it or "
                                  "choose another output folder")
            if file not in wanted:
                continue
            if file in folders and not stat.S_ISDIR(mode):
                raise OutputError(f"{here} is a file, where the {file} folder goes; move it away or choose "
                                  "another output folder")
            if file not in folders and stat.S_ISDIR(mode):
                raise OutputError(f"{here} is a folder, where the {file} file goes; move it away or choose "
                                  "another output folder")

    def commit(self, made: dict[str, tuple[str, Any]], history: str) -> Published:
        """Publish the staged outputs together: ``made`` maps each output kind to (file name, the options that
        made it); ``history`` is the sha256 of the history they were drawn from. Returns what was written,
        kept and retired. Signals are held from the commit point until every output is in place."""
        new_files = {file for file, _ in made.values()}
        kept, retire = {}, []
        for kind, entry in self._old_outputs().items():
            if kind in made or entry["file"] in new_files or not os.path.lexists(self._abs / entry["file"]):
                continue
            # An output its format made again without it (a video's captions, when the new video has none)
            # no longer belongs to what is published.
            fmt = owner(kind)
            if entry["history"] == history and not (fmt and any(k in made for k in fmt.outputs)):
                kept[kind] = entry
            else:
                retire.append(entry["file"])
        manifest = {"manifest": 1, "history": history,
                    "outputs": {**kept, **{kind: {"file": file, "history": history, "options": options}
                                           for kind, (file, options) in made.items()}}}
        self.check_names(sorted(new_files))
        _write_json(self.staged(MANIFEST), manifest)
        shutil.rmtree(self.work, ignore_errors=True)
        journal = {"retire": retire, "publish": [file for file, _ in made.values()] + [MANIFEST]}
        part = self.stage / "journal.part"
        part.write_text(json.dumps(journal), encoding="utf-8")
        result = Published(written={kind: self.path / file for kind, (file, _) in made.items()},
                           kept={kind: self.path / entry["file"] for kind, entry in kept.items()}, retired=retire)
        with deferred_signals():
            os.replace(part, self.stage / _JOURNAL)  # the commit point
            self.committed = True
            _roll_forward(self._abs, self.stage, journal)
            self.published, self.result = True, result
        return result

    def _old_outputs(self) -> dict[str, dict]:
        """The published outputs by kind, each with the digest of the history that made it: as the manifest
        says, and known output names it does not list as of unknown origin. A folder written before manifests
        has its outputs attributed to its history.npz."""
        manifest = read_manifest(self._abs)
        outputs = dict(manifest["outputs"]) if manifest else {}
        origin = "unknown"
        if manifest is None and os.path.isfile(self._abs / "history.npz"):
            try:
                origin = sha256_file(self._abs / "history.npz")
            except OSError:
                pass
        for kind, file in known_outputs(self.name).items():
            if kind not in outputs and os.path.lexists(self._abs / file):
                outputs[kind] = {"file": file, "history": origin, "options": None}
        return outputs

    def close(self) -> None:
        """Delete the stage, release the lock; remove the folders this render made if nothing was published."""
        if self.stage is not None and self.committed == self.published:
            # A commit cut short by an error keeps its stage: the next render rolls its journal forward.
            shutil.rmtree(self.stage, ignore_errors=True)
            self.stage = None
        self._lock.release()
        if not self.committed:
            self._undo_folders()


__all__ = ["MANIFEST", "OutputFolder", "Published", "deferred_signals", "known_outputs", "pause_point", "read_manifest",
           "recover", "remove_leftovers"]
