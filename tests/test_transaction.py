"""A render as one transaction: one run per output folder, a manifest saying what made each file, a lock
against a second render of the folder, and nothing half-published whatever happens to the process."""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from visualizer import History, load_scene, render
from visualizer.base.errors import BusyError, OutputError
from visualizer.base.files import sha256_file
from visualizer.outputs.transaction import MANIFEST, OutputFolder, read_manifest, recover, remove_leftovers

SMALL = ("--size", "160x90", "--fps", "10")
# What is tested here is how a render is made and published, not what it shows: a two-panel scene.
SCENE = str(ROOT / "tests" / "data" / "tiny_fit.py")


def _tree(folder):
    """Every file under ``folder`` with its bytes (what 'the folder is as it was' compares)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_run(folder):
    """Assert ``folder`` holds exactly one complete run and nothing else; return its manifest."""
    manifest = read_manifest(folder)
    assert manifest is not None, sorted(p.name for p in folder.iterdir())
    listed = {entry["file"] for entry in manifest["outputs"].values()}
    present = {p.name for p in folder.iterdir()}
    assert present == listed | {MANIFEST}, present ^ (listed | {MANIFEST})  # no temporaries, locks, strays
    digest = sha256_file(folder / "history.npz")
    assert manifest["history"] == digest
    assert {entry["history"] for entry in manifest["outputs"].values()} == {digest}
    return manifest


@pytest.fixture(scope="module")
def scene():
    return load_scene(SCENE)


@pytest.fixture(scope="module")
def made(tmp_path_factory, scene):
    """A first render that several tests start from (tiny_fit, 3 steps, MP4, GIF and PNG frames at 160x90,
    10 frames/s): ``made(out)`` puts a copy of its folder, byte for byte what that render left, in
    ``out/tiny_fit`` and returns it."""
    first = tmp_path_factory.mktemp("made")
    render(scene, out=first, steps=3, size=(160, 90), fps=10, format="mp4,gif,frames", jobs=1)

    def copy(out):
        return Path(shutil.copytree(first / "tiny_fit", out / "tiny_fit"))
    return copy


def test_the_same_history_in_another_format_keeps_the_other_outputs(tmp_path, scene, made):
    folder = made(tmp_path)  # an MP4 at 160x90
    video = (folder / "tiny_fit.mp4").read_bytes()
    again = render(scene, History.load(folder / "history.npz"), out=tmp_path, size=(320, 180), format="gif")
    assert set(again) == {"history", "gif", "poster", "contact_sheet"}  # exactly what this render wrote
    assert set(again.kept) == {"mp4", "frames"} and again.retired == []
    assert (folder / "tiny_fit.mp4").read_bytes() == video
    manifest = one_run(folder)
    assert manifest["outputs"]["mp4"]["options"]["size"] == [160, 90]
    assert manifest["outputs"]["gif"]["options"]["size"] == [320, 180]


def test_a_new_history_retires_the_outputs_of_the_older_one(tmp_path, cli, made):
    made(tmp_path)  # 3 steps: MP4, GIF and frames
    code, out, err = cli("render", SCENE, "--steps", "5", *SMALL, "--format", "mp4", "--out", str(tmp_path))
    assert code == 0, err
    folder = tmp_path / "tiny_fit"
    manifest = one_run(folder)
    assert set(manifest["outputs"]) == {"history", "mp4", "poster", "contact_sheet"}
    assert not (folder / "tiny_fit.gif").exists() and not (folder / "frames").exists()
    # The summary lists exactly what this render wrote, and what it removed.
    kinds = [line.split()[0] for line in out.splitlines()]
    assert kinds == ["history", "mp4", "poster", "contact_sheet", "manifest", "removed", "removed"]
    assert out.splitlines()[-2:] == ["      removed  frames (made from an older history)",
                                     "      removed  tiny_fit.gif (made from an older history)"]


def test_the_summary_names_the_outputs_kept_from_an_earlier_render_of_the_same_history(tmp_path, cli, made):
    made(tmp_path)  # 3 steps: MP4, GIF and frames at 160x90, 10 frames/s
    # Same scene, steps and seed: the same history; the GIF asked for is written again.
    code, out, err = cli("render", SCENE, "--steps", "3", *SMALL, "--out", str(tmp_path), "--format", "gif")
    assert code == 0, err
    kinds = [line.split()[0] for line in out.splitlines()]
    assert kinds == ["history", "gif", "poster", "contact_sheet", "manifest", "kept"]
    assert out.splitlines()[-1].split(None, 1)[1] == "tiny_fit.mp4, frames/ (made earlier from this same history)"
    assert set(one_run(tmp_path / "tiny_fit")["outputs"]) >= {"mp4", "frames", "gif"}


def test_outputs_of_unknown_origin_are_retired(tmp_path, scene, made):
    """A folder from before manifests, or a stray output the manifest does not list: not this run's."""
    folder = made(tmp_path)
    (folder / MANIFEST).unlink()  # as an older version left it
    (folder / "tiny_fit.gif").write_bytes(b"GIF89a from some other run")
    result = render(scene, out=tmp_path, steps=4, size=(160, 90), format="mp4")
    assert sorted(result.retired) == ["frames", "tiny_fit.gif"]
    one_run(folder)


def test_a_second_render_of_the_same_folder_is_refused_at_once(tmp_path, cli, monkeypatch):
    import visualizer.run.render

    monkeypatch.setattr(visualizer.run.render, "train", lambda *a, **k: pytest.fail("trained while refused"))
    with OutputFolder(tmp_path / "tiny_fit", "tiny_fit"):
        code, _, err = cli("render", SCENE, *SMALL, "--out", str(tmp_path))
        with pytest.raises(BusyError):
            render(load_scene(SCENE), out=tmp_path)
    assert code == 2
    assert err == (f"visualizer: error: {tmp_path / 'tiny_fit'} is being written by another render (process "
                   f"{os.getpid()}); wait for it to finish, or render into another output folder\n")
    assert not (tmp_path / "tiny_fit").exists()  # the holder made it for nothing and removed it


def start(*args, pause=None, marker=None, cwd=ROOT):
    """``python -m visualizer ARGS`` in a new session (its own process group), optionally pausing at a stage
    until ``marker`` is deleted."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if pause:
        env.update(VISUALIZER_TEST_PAUSE=f"{pause}:{marker}", VISUALIZER_TEST_PAUSE_SECONDS="60")
    return subprocess.Popen([sys.executable, "-m", "visualizer", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


class ForkedCLI:
    """``visualizer ARGS`` run by ``cli.main`` in a forked copy of this process, in a session (process group)
    of its own, its stderr going to a file; with what the sweep uses of ``subprocess.Popen``. ``start_method``
    ("spawn": as on macOS and Windows) is how its render starts the processes that draw."""

    def __init__(self, args: list[str], err: os.PathLike, env: dict[str, str], start_method: str | None = None,
                 cwd: os.PathLike | None = None) -> None:
        self.err, self.returncode = err, None
        self.pid = os.fork()
        if self.pid:
            return
        code = 99
        try:  # the child: never returns into pytest
            os.setsid()
            os.environ.update(env)
            if cwd is not None:
                os.chdir(cwd)
            import tempfile

            tempfile.tempdir = None  # read from the environment again (TMPDIR)
            if start_method:
                import multiprocessing

                multiprocessing.set_start_method(start_method, force=True)
            out, error = os.open(os.devnull, os.O_WRONLY), os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(out, 1)
            os.dup2(error, 2)
            sys.stdout, sys.stderr = open(1, "w", closefd=False), open(2, "w", buffering=1, closefd=False)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            from visualizer.cli import main

            code = main(args)
            sys.stderr.flush()
        finally:
            os._exit(code)

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def communicate(self, timeout: float) -> tuple[str, str]:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                os.killpg(self.pid, signal.SIGKILL)
                raise TimeoutError(f"visualizer (process {self.pid}) did not end")
            time.sleep(0.02)
        return "", open(self.err).read()


def wait_for(marker, proc, timeout=60):
    """Until the render paused (or fail with its output if it ended first)."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the render never reached the pause"
        time.sleep(0.02)


def test_two_renders_of_one_scene_at_once_leave_one_complete_run(tmp_path):
    marker = tmp_path / "drawing"
    out = str(tmp_path / "out")
    first = ForkedCLI(["render", SCENE, "--steps", "6", *SMALL, "--out", out, "-q"], tmp_path / "err1",
                      {"VISUALIZER_TEST_PAUSE": f"drawing:{marker}"})
    wait_for(marker, first)
    second = ForkedCLI(["render", SCENE, "--steps", "7", *SMALL, "--out", out, "-q"], tmp_path / "err2", {})
    _, err2 = second.communicate(timeout=60)
    marker.unlink()  # the first goes on
    _, err1 = first.communicate(timeout=60)
    assert first.returncode == 0, err1
    assert second.returncode == 2 and err2.count("\n") == 1 and "is being written by another render" in err2
    folder = tmp_path / "out" / "tiny_fit"
    one_run(folder)
    assert History.load(folder / "history.npz").steps[-1] == 6  # the first render's run, whole


def test_leftovers_of_dead_processes_go_and_live_ones_stay(tmp_path):
    folder = tmp_path / "v1.2"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process id that no longer exists
    gone = [folder / f".v1.2.{dead.pid}.abc123.part.mp4", folder / f".frames.{dead.pid}.xyz_9.part",
            folder / f".render-{dead.pid}-q1w2e3", folder / f".staging-{dead.pid}-k3j4"]
    gone[0].write_bytes(b"half a video")
    for p in gone[1:]:
        p.mkdir()
    # A live process's temporaries stay, even when the dots in the name hide a small number (".2.") that an
    # earlier parser took for the process id.
    live = folder / f".v1.2.{os.getpid()}.live.part.gif"
    live.write_bytes(b"in progress")
    assert sorted(remove_leftovers(folder)) == sorted(gone[:3])
    assert live.exists() and gone[3].exists()  # staging folders are recover()'s, under the lock
    recover(folder)
    assert not gone[3].exists() and live.exists()


def test_names_in_a_manifest_or_journal_never_reach_outside_the_folder(tmp_path, scene):
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    folder = tmp_path / "out" / "tiny_fit"
    folder.mkdir(parents=True)
    (folder / MANIFEST).write_text(json.dumps({"history": "x", "outputs": {
        "mp4": {"file": "../../victim.txt", "history": "y"}}}))
    stage = folder / ".staging-1-abc"
    stage.mkdir()
    (stage / "journal.json").write_text(json.dumps({"retire": ["../../victim.txt"], "publish": []}))
    render(scene, out=tmp_path / "out", steps=2, size=(160, 90), format="mp4")
    assert victim.read_text() == "mine"
    one_run(folder)


def test_a_full_disk_is_one_line_and_the_folder_stays_as_it_was(tmp_path, cli, monkeypatch, made):
    made(tmp_path)
    before = _tree(tmp_path)

    def full(self, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(History, "save", full)
    code, _, err = cli("render", SCENE, "--steps", "4", *SMALL, "--format", "mp4", "--out", str(tmp_path))
    assert code == 2
    assert err == (f"visualizer: error: cannot write to {tmp_path / 'tiny_fit'}: the disk is full; free some "
                   "space or choose another output folder\n")
    assert _tree(tmp_path) == before and not [p for p in (tmp_path / "tiny_fit").iterdir()
                                               if p.name.startswith(".")]


def test_a_read_only_folder_is_refused_before_training(tmp_path, cli, monkeypatch):
    import visualizer.run.render
    import visualizer.outputs.transaction

    monkeypatch.setattr(visualizer.run.render, "train", lambda *a, **k: pytest.fail("trained into a read-only folder"))

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(visualizer.outputs.transaction.tempfile, "mkdtemp", read_only)
    code, _, err = cli("render", SCENE, *SMALL, "--out", str(tmp_path / "out"))
    assert code == 2
    assert err == (f"visualizer: error: cannot write to {tmp_path / 'out' / 'tiny_fit'}: the file system is "
                   "read-only; choose another output folder\n")
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not bind root")
def test_a_folder_without_write_permission_is_one_line(tmp_path, cli):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, err = cli("render", SCENE, *SMALL, "--out", str(locked))
    finally:
        locked.chmod(0o700)
    assert code == 2 and err.count("\n") == 1 and "permission denied" in err


def test_an_output_folder_under_a_file_is_one_line(tmp_path, cli):
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = cli("render", SCENE, *SMALL, "--out", str(tmp_path / "notes.txt" / "out"))
    assert (code, err) == (2, f"visualizer: error: cannot write to {tmp_path / 'notes.txt' / 'out' / 'tiny_fit'}: "
                              "part of that path is a file, not a folder; choose another output folder\n")


def test_an_output_name_taken_by_a_folder_is_refused_before_training(tmp_path, cli, monkeypatch):
    import visualizer.run.render

    monkeypatch.setattr(visualizer.run.render, "train", lambda *a, **k: pytest.fail("trained for nothing"))
    (tmp_path / "tiny_fit" / "tiny_fit.gif").mkdir(parents=True)
    code, _, err = cli("render", SCENE, *SMALL, "--out", str(tmp_path))
    assert code == 2
    assert err == (f"visualizer: error: {tmp_path / 'tiny_fit' / 'tiny_fit.gif'} is a folder, where the "
                   "tiny_fit.gif file goes; move it away or choose another output folder\n")
    (tmp_path / "tiny_fit" / "tiny_fit.gif").rmdir()
    (tmp_path / "tiny_fit" / "frames").write_text("not a folder")
    code, _, err = cli("render", SCENE, *SMALL, "--out", str(tmp_path))
    assert code == 2 and "is a file, where the frames folder goes" in err


def test_an_output_folder_with_quotes_and_a_protocol_like_name_works_end_to_end(tmp_path, cli, monkeypatch):
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    out = "concat:it's"  # relative: ffmpeg must never see it as a protocol, nor the quote end a token
    code, _, err = cli("render", SCENE, "--steps", "47", *SMALL, "--jobs", "2", "--format", "mp4,gif",
                       "--out", out, "--pace", "steps")
    assert code == 0, err
    folder = tmp_path / out / "tiny_fit"
    one_run(folder)
    import imageio.v2 as iio

    reader = iio.get_reader(folder / "tiny_fit.mp4", format="ffmpeg")
    try:
        assert reader.count_frames() == 48  # both chunks (24 frames each, the fewest for two) joined
    finally:
        reader.close()
    assert Image.open(folder / "tiny_fit.gif").n_frames > 1


EVIL = '''\
from pathlib import Path
Path(__file__).with_suffix(".ran").write_text("code from a history file ran")
'''


@pytest.mark.parametrize("named", ["{evil}", "evil.py", "../evil", "evil"])
def test_a_history_never_names_code_to_run(tmp_path, cli, monkeypatch, scene, named):
    """A shared history.npz names its scene; --from-history imports nothing from that name but one of the
    user's own scenes by bare name (a valid folder name that is none of them gets the default layout)."""
    from visualizer import train

    evil = tmp_path / "evil.py"
    evil.write_text(EVIL)
    monkeypatch.chdir(tmp_path)  # "evil.py" and "evil" resolve here if anything looked
    history = train(scene, steps=2)
    history.info.scene = named.format(evil=evil)
    history.save(tmp_path / "shared.npz")
    code, _, err = cli("render", "--from-history", str(tmp_path / "shared.npz"), *SMALL, "--format", "mp4",
                       *([] if named in ("evil", "evil.py") else ["--name", "shared"]), "--out", str(tmp_path / "out"))
    assert code == 0, err  # drawn with the default layout
    assert not evil.with_suffix(".ran").exists()


def test_a_history_naming_a_path_needs_a_name_for_its_folder(tmp_path, cli, scene):
    from visualizer import train

    history = train(scene, steps=2)
    history.info.scene = "../elsewhere/evil.py"
    history.save(tmp_path / "shared.npz")
    code, _, err = cli("render", "--from-history", str(tmp_path / "shared.npz"), "--out", str(tmp_path / "out"))
    assert code == 2
    assert err == ("visualizer: error: the history names its scene '../elsewhere/evil.py', which is not a valid "
                   "output name; give --name NAME for its output folder\n")


def test_a_file_system_without_locks_still_renders(tmp_path, scene, monkeypatch):
    import visualizer.outputs.transaction

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(visualizer.outputs.transaction.fcntl, "flock", no_locks)
    render(scene, out=tmp_path, steps=2, size=(160, 90), format="mp4")
    one_run(tmp_path / "tiny_fit")


# ---- the output folder is a closed world: links and special files in it lead nowhere

def _refused(cli, tmp_path, *extra):
    """Render tiny_fit into tmp_path/out (training must not start); (exit status, stderr)."""
    code, _, err = cli("render", SCENE, "--steps", "3", *SMALL, "--format", "mp4", *extra,
                       "--out", str(tmp_path / "out"))
    return code, err


@pytest.fixture()
def no_training(monkeypatch):
    import visualizer.run.render

    monkeypatch.setattr(visualizer.run.render, "train", lambda *a, **k: pytest.fail("trained for nothing"))


@pytest.mark.parametrize("entry", [".lock", MANIFEST])
def test_a_lock_or_manifest_that_is_a_link_is_refused_and_its_target_untouched(tmp_path, cli, no_training, entry):
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    folder = tmp_path / "out" / "tiny_fit"
    folder.mkdir(parents=True)
    (folder / entry).symlink_to(victim)
    code, err = _refused(cli, tmp_path)
    assert code == 2 and err.count("\n") == 1, err
    assert f"{folder / entry} is a symbolic link" in err and "Traceback" not in err
    assert victim.read_text() == "mine"
    assert sorted(p.name for p in folder.iterdir()) == [entry]  # nothing published, nothing removed


def test_an_output_that_is_a_link_is_refused_before_training(tmp_path, cli, no_training):
    """frames/ as a link to another disk: following it would publish half the run (the rename fails across
    file systems) and the old frames there would be retired; the render refuses it up front."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "frame_00000.png").write_bytes(b"someone's frame")
    folder = tmp_path / "out" / "tiny_fit"
    folder.mkdir(parents=True)
    (folder / "frames").symlink_to(elsewhere, target_is_directory=True)
    code, err = _refused(cli, tmp_path)  # frames is not even asked for: the folder's own names are checked
    assert code == 2 and err.count("\n") == 1, err
    assert f"{folder / 'frames'} is a symbolic link" in err
    assert [p.name for p in elsewhere.iterdir()] == ["frame_00000.png"]
    assert (folder / "frames").is_symlink()


def test_a_manifest_naming_a_users_file_never_gets_it_deleted(tmp_path, scene, made):
    folder = made(tmp_path)
    (folder / "notes.txt").write_text("my lecture notes")
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["outputs"]["notes"] = {"file": "notes.txt", "history": "an older history", "options": None}
    (folder / MANIFEST).write_text(json.dumps(manifest))
    result = render(scene, out=tmp_path, steps=4, size=(160, 90), format="mp4", jobs=1)  # a new history
    assert "notes.txt" not in result.retired
    assert (folder / "notes.txt").read_text() == "my lecture notes"
    assert "notes" not in read_manifest(folder)["outputs"]  # nor carried into the new manifest


def test_a_leftover_journal_never_moves_or_deletes_anything_outside_the_folder(tmp_path, scene, made):
    folder = made(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "tiny_fit.mp4").write_bytes(b"someone's video")
    stage = folder / ".staging-1-abc"
    stage.mkdir()
    (stage / "retired").symlink_to(elsewhere, target_is_directory=True)
    (stage / "journal.json").write_text(json.dumps({"retire": ["tiny_fit.mp4"], "publish": []}))
    before = _tree(folder)
    with pytest.raises(OutputError, match=r"retired is a symbolic link: the leftover render \.staging-1-abc cannot"):
        render(scene, out=tmp_path, steps=4, size=(160, 90), format="mp4", jobs=1)
    assert [p.name for p in elsewhere.iterdir()] == ["tiny_fit.mp4"]
    assert (elsewhere / "tiny_fit.mp4").read_bytes() == b"someone's video"
    assert _tree(folder) == before  # the old outputs stayed where they were
    # A journal that is itself a link is refused too, its target unread and untouched.
    (stage / "retired").unlink()
    (stage / "journal.json").unlink()
    (stage / "journal.json").symlink_to(elsewhere / "tiny_fit.mp4")
    with pytest.raises(OutputError, match=r"journal.json is a symbolic link"):
        recover(folder)
    assert (elsewhere / "tiny_fit.mp4").read_bytes() == b"someone's video"


def _in_a_process(tmp_path, *args):
    """The command line in a process of its own (a forked copy of this one, in the project folder); the
    timeout only guards the suite against a hang."""
    proc = ForkedCLI(list(args), tmp_path / "err", {}, cwd=ROOT)
    try:
        _, err = proc.communicate(timeout=120)
    except TimeoutError:
        pytest.fail(f"visualizer {' '.join(args)} hung")
    return proc.returncode, err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_named_pipes_never_block_a_render(tmp_path):
    """A FIFO as the manifest, as the lock, as the history or as the scene file: one line, at once."""
    pipe_scene = tmp_path / "piped.py"
    os.mkfifo(pipe_scene)
    code, err = _in_a_process(tmp_path, "render", str(pipe_scene), "--out", str(tmp_path / "out"))
    assert code == 2 and err == f"visualizer: error: {pipe_scene} is not a regular file; give a scene file such as " \
                                "scenes/softplus_fit.py\n", err
    pipe_history = tmp_path / "history.npz"
    os.mkfifo(pipe_history)
    code, err = _in_a_process(tmp_path, "render", "--from-history", str(pipe_history), "--out", str(tmp_path / "out"))
    assert code == 2 and err.count("\n") == 1 and "is a named pipe (FIFO), not a regular file" in err, err
    folder = tmp_path / "out" / "tiny_fit"
    folder.mkdir(parents=True)
    for entry in (MANIFEST, ".lock"):
        os.mkfifo(folder / entry)
        code, err = _in_a_process(tmp_path, "render", SCENE, "--steps", "3", *SMALL, "--format", "mp4",
                                  "--out", str(tmp_path / "out"))
        assert code == 2 and err.count("\n") == 1, err
        assert f"{folder / entry} is a named pipe (FIFO)" in err
        (folder / entry).unlink()
