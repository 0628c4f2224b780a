"""Signals and dying workers: whatever stops a render, the folder holds one complete run (the old one, or the
new one), no process or temporary is left, and one line says what was published.

The sweep starts every case at once (each its own process group and output folder) and pauses each render
at its stage with the test-only ``VISUALIZER_TEST_PAUSE`` hook. Its commands run in forked copies of this
process, which has imported everything already (a fresh ``python -m visualizer`` spends most of a small
render importing matplotlib); one case, and the start-up test, run the real command.
"""
from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from test_transaction import SMALL, ForkedCLI, _tree, one_run, start, wait_for
from visualizer import History, load_scene, render
from visualizer.base.errors import WorkerLost
from visualizer.outputs.transaction import OutputFolder
from visualizer.run.render import select_rows

NEW_STEPS = 47  # 48 frames paced in steps: two chunks, so "drawing" pauses in two worker processes, each with its ffmpeg

# (stage, signal, how): "group" sends it to the whole process group as a terminal does, "process" to the
# main process only as `timeout` and `kill` do, "twice" sends SIGINT twice (the second during the clean-up),
# "unpaused" stops a real training run (no pause hook) with SIGTERM.
INT, TERM = signal.SIGINT, signal.SIGTERM
CASES = [("training", INT, "group"), ("training", TERM, "unpaused"), ("drawing", INT, "group"),
         ("drawing", TERM, "process"), ("join", INT, "twice"), ("join", TERM, "process"), ("gif", INT, "group"),
         ("gif", TERM, "process"), ("publish", INT, "group"), ("publish", TERM, "process"),
         ("drawing", signal.SIGHUP, "group"), ("publish", signal.SIGKILL, "group")]


def _gone(pgid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_signal_at_any_stage_leaves_one_complete_run_and_says_what_was_published(tmp_path):
    # A tiny scene (two panels): what is tested is how each stage stops, not what the frames show.
    scene = tmp_path / "tiny_fit.py"
    scene.write_text(TINY)
    template = tmp_path / "template"
    render(load_scene(scene), out=template, steps=3, size=(160, 90), format="mp4,gif")
    runs = {}
    for n, (stage, sig, how) in enumerate(CASES):
        out = tmp_path / f"case{n}"
        shutil.copytree(template, out)
        marker = tmp_path / f"marker{n}"
        # Two chunks (worker processes) where it matters, one elsewhere: the sweep runs on two cores at once.
        steps = 50000 if how == "unpaused" else NEW_STEPS if stage == "drawing" else 10
        formats = "mp4,gif,frames" if stage == "publish" else "mp4,gif"  # PNG frames cost the most: where needed
        args = ["render", str(scene), "--steps", str(steps), *SMALL, "--jobs", "2" if stage == "drawing" else "1",
                "--format", formats, "--out", str(out), "-q", *(["--pace", "steps"] if stage == "drawing" else [])]
        if how == "unpaused":  # the real command, from start-up to a real training run
            proc = start(*args)
        else:
            proc = ForkedCLI(args, tmp_path / f"err{n}", {"VISUALIZER_TEST_PAUSE": f"{stage}:{marker}",
                                                          "VISUALIZER_TEST_PAUSE_SECONDS": "60"})
        runs[n] = (proc, marker, out / "tiny_fit", _tree(out / "tiny_fit"))
    failures = []
    for n, (stage, sig, how) in enumerate(CASES):
        proc, marker, folder, before = runs[n]
        case = f"{stage}/{sig.name}/{how}"
        if how == "unpaused":  # a real training run, stopped while it trains
            deadline = time.monotonic() + 60
            while not list(folder.glob(".staging-*")) and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.02)
            time.sleep(0.3)
            os.kill(proc.pid, sig)
        else:
            wait_for(marker, proc)
            while not marker.read_text().strip():  # the paused process writes its id into it
                time.sleep(0.01)
            if stage == "drawing" and int(marker.read_text()) == proc.pid:
                failures.append(f"{case}: drawn by the main process, not by two workers")
            send = os.kill if how == "process" else os.killpg
            send(proc.pid, sig)
            if how == "twice":
                time.sleep(0.05)
                send(proc.pid, sig)  # while the first is being cleaned up
            marker.unlink(missing_ok=True)  # a held publish goes on (and delivers the signal after)
        _, err = proc.communicate(timeout=60)
        if not _gone(proc.pid):
            failures.append(f"{case}: processes of the render are still running")
        if sig == signal.SIGKILL:
            with OutputFolder(folder, "tiny_fit"):  # the next render completes the committed publish
                pass
            published = True
        else:
            lines = err.splitlines()
            if proc.returncode != 128 + sig or len(lines) != 1:
                failures.append(f"{case}: exit {proc.returncode}, stderr {err!r}")
                continue
            published = "published in" in lines[0]
            head = "visualizer: interrupted" if sig == INT else f"visualizer: stopped by {sig.name}"
            expected = (f"{head} as the render finished; published in {folder}/: history.npz, tiny_fit.mp4, "
                        "tiny_fit.gif, frames, poster.png, contact_sheet.png, manifest.json") if published \
                else f"{head} while "
            if not lines[0].startswith(expected) or (not published and not lines[0].endswith(
                    f"; nothing was published: {folder}/ is as it was")):
                failures.append(f"{case}: {lines[0]!r}")
            if published != (stage == "publish"):
                failures.append(f"{case}: published={published}")
        if published:
            try:
                manifest = one_run(folder)
                history = History.load(folder / "history.npz")
                assert history.steps[-1] == 10
                assert set(manifest["outputs"]) == {"history", "mp4", "gif", "frames", "poster", "contact_sheet"}
                assert len(list((folder / "frames").iterdir())) == len(select_rows(history)) >= 10  # paced
            except AssertionError as exc:
                failures.append(f"{case}: the new run is not whole: {exc}")
        elif _tree(folder) != before or [p.name for p in folder.iterdir() if p.name.startswith(".")]:
            failures.append(f"{case}: the old run was not kept as it was")
    assert not failures, "\n".join(failures)


def _ctrl_c_importing(module: str, then: str, cwd) -> subprocess.CompletedProcess:
    """Run Python code ``then`` in a process of its own, where a Ctrl-C lands as ``module`` is imported."""
    code = textwrap.dedent('''\
        import gc, runpy, sys

        class CtrlC:
            def find_spec(self, name, path=None, target=None):
                if name == %r:
                    raise KeyboardInterrupt
                return None

        sys.meta_path.insert(0, CtrlC())
        sys.argv = ["visualizer", "render", "softplus_fit"]
        ''') % module + textwrap.dedent(then)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_ctrl_c_while_python_imports_is_exit_130_without_a_traceback(tmp_path):
    """A Ctrl-C that lands while ``python -m visualizer`` is still importing its modules."""
    result = _ctrl_c_importing("visualizer.cli", 'runpy.run_module("visualizer", run_name="__main__", alter_sys=True)',
                               tmp_path)
    assert result.returncode == 130
    assert result.stderr == "visualizer: interrupted before anything was written\n"


def test_ctrl_c_while_the_program_imports_matplotlib_is_one_line_exit_130(tmp_path):
    """The program's imports (matplotlib and the render's modules) are most of its start-up: a Ctrl-C there is
    the usual line, and the collector is left on."""
    proc = _ctrl_c_importing("visualizer.run.render", '''\
        from visualizer import cli
        status = cli.run()
        print(gc.isenabled())
        sys.exit(status)
        ''', tmp_path)
    assert proc.returncode == 130
    assert proc.stderr == "visualizer: interrupted before anything was written\n"
    assert proc.stdout == "True\n"
    assert not list(tmp_path.iterdir())  # nothing written


def test_ctrl_c_while_the_command_starts_is_one_line(cli, monkeypatch):
    import visualizer.run.options

    def ctrl_c():
        raise KeyboardInterrupt

    monkeypatch.setattr(visualizer.run.options, "option_fields", ctrl_c)
    code, _, err = cli("render", "softplus_fit")
    assert code == 130 and err == "visualizer: interrupted before anything was written\n"


KILLER = '''\
"""A scene whose panel kills its own render worker at one step, or raises there."""
import os
import signal

import numpy as np

from visualizer import SGD, Dense, Layout, LossPanel, Network, Panel, Scene


class Trap(Panel):
    def draw(self, ax, history):
        def update(i):
            if int(history.steps[i]) == {step} and os.getpid() != {parent}:
                {action}
            return []
        return update


def network(seed):
    return Network([Dense(1, 1, name="line", rng=np.random.default_rng(seed))])


scene = Scene(name="trap", network=network, x=[0.0, 1.0, 2.0], y=[1.0, 3.0, 5.0], optimizer=SGD(0.05),
              steps=120, layout=Layout([["loss", "trap"]], {{"loss": LossPanel(), "trap": Trap()}}))
'''


def _trap(tmp_path, action: str, step: int = 100):
    path = tmp_path / "trap_scene.py"
    path.write_text(KILLER.format(step=step, parent=os.getpid(), action=action))
    return load_scene(path)


def test_a_killed_worker_is_noticed_while_the_others_keep_drawing(tmp_path):
    # Worker 2 of 2 is killed outright at step 100; worker 1 keeps drawing and reporting all the while.
    scene = _trap(tmp_path, "os.kill(os.getpid(), signal.SIGKILL)")
    with pytest.raises(WorkerLost) as caught:
        render(scene, out=tmp_path / "out", size=(160, 90), format="mp4", jobs=2, pace="steps")
    assert str(caught.value) == ("render worker 2 of 2 (frames 61-121) was killed by SIGKILL (out of memory, or "
                                 "killed by someone); the render stopped")
    assert caught.value.exit_status == 1
    assert not (tmp_path / "out").exists()  # nothing published, the folder it made removed


def test_an_error_in_a_panel_in_a_worker_shows_the_users_traceback_once(tmp_path, capfd, monkeypatch):
    from visualizer.cli import main

    _trap(tmp_path, "raise ValueError('the trap went off')")
    monkeypatch.chdir(ROOT)
    code = main(["render", str(tmp_path / "trap_scene.py"), *SMALL, "--jobs", "2", "--out", str(tmp_path / "out"),
                 "--pace", "steps"])
    err = capfd.readouterr().err
    assert code == 1
    assert err.startswith("visualizer: your scene code raised an error:\nTraceback (most recent call last):\n"
                          f'  File "{tmp_path / "trap_scene.py"}", line 14, in update\n')
    assert err.endswith("ValueError: the trap went off\n")
    assert err.count("Traceback") == 1  # none from the other worker stopping (join_thread, KeyboardInterrupt)
    assert "internal error" not in err and "visualizer/pipeline.py" not in err
    assert not (tmp_path / "out").exists()


# ---- a comparison is one transaction too (issue 26, part 3)

TINY = (ROOT / "tests" / "data" / "tiny_fit.py").read_text()  # a tiny fit, two panels
COMPARED = "tiny_fit-compare-lr"


def _compare_args(tmp_path, out, *extra, lr="0.1,0.2", steps="3", what=("--format", "mp4")):
    scene = tmp_path / "tiny_fit.py"
    if not scene.exists():  # once: a comparison started earlier may be reading it (rewriting it truncates it)
        scene.write_text(TINY)
    return ["compare", str(scene), "--vary", f"lr={lr}", "--steps", steps, *SMALL, *what, "--out", str(out), "-q",
            *extra]


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


def _running(pid: int) -> bool:
    """Alive and not a zombie (one nobody reaped: in a container the first process may not)."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def one_comparison(folder, lr: list[float]):
    """``folder`` holds one whole comparison: its video, history and runs made together (each run's history
    in runs/ is the run the joined history shows), nothing else."""
    manifest = one_run(folder)
    assert set(manifest["outputs"]) == {"history", "mp4", "poster", "contact_sheet", "runs"}
    joined = History.load(folder / "history.npz")
    runs = sorted((folder / "runs").iterdir())
    assert [p.name for p in runs] == [f"{k:02d}-lr={v:g}.npz" for k, v in enumerate(lr)]
    for k, path in enumerate(runs):
        run = History.load(path)
        at = np.searchsorted(run.steps, joined.steps)
        assert np.array_equal(run.losses["train"][at], joined.losses[f"run{k}/train"])
    return manifest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; the kernel's parent-death signal")
def test_a_signal_while_a_comparison_trains_stops_it_within_two_seconds_and_killing_it_ends_its_runs(tmp_path):
    """SIGINT to the group (Ctrl-C), SIGTERM and SIGHUP to the main process (kill, a closed terminal): the
    training processes are ended, not waited for; SIGKILL of the main process ends them too."""
    cases = {INT: "group", TERM: "process", signal.SIGHUP: "process", signal.SIGKILL: "process"}
    procs = {}
    for n, sig in enumerate(cases):  # a training run far longer than the test: it must be stopped
        args = _compare_args(tmp_path, tmp_path / f"out{n}", "--every", "1000000", steps="5000000")
        procs[sig] = ForkedCLI(args, tmp_path / f"err{n}", {})
    failures = []
    try:
        for n, (sig, how) in enumerate(cases.items()):
            proc = procs[sig]
            deadline = time.monotonic() + 60
            while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
                assert proc.poll() is None, proc.communicate(1)
                time.sleep(0.02)
            workers = _children(proc.pid)
            assert len(workers) == 2, workers
            time.sleep(0.3)  # training now
            sent = time.monotonic()
            (os.killpg if how == "group" else os.kill)(proc.pid, sig)
            _, err = proc.communicate(timeout=30)
            took = time.monotonic() - sent
            while any(_running(w) for w in workers) and time.monotonic() - sent < 10:
                time.sleep(0.02)
            case = f"{sig.name}/{how}"
            if took > 2 or any(_running(w) for w in workers):
                failures.append(f"{case}: {took:.1f} s; training processes left: "
                                f"{[w for w in workers if _running(w)]}")
            if sig != signal.SIGKILL:
                head = "visualizer: interrupted" if sig == INT else f"visualizer: stopped by {sig.name}"
                if (proc.returncode, err) != (128 + sig, f"{head} before anything was written\n"):
                    failures.append(f"{case}: exit {proc.returncode}, {err!r}")
                if (tmp_path / f"out{n}").exists():
                    failures.append(f"{case}: the output folder was left")
    finally:  # a failed check leaves no long training behind (its group: the command and its runs)
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert not failures, "\n".join(failures)


def test_a_comparison_publishes_its_runs_with_its_video_or_nothing(tmp_path):
    """Stopped before the commit point: the earlier comparison stays whole; at the publish: the new one is
    whole (its runs/ with its video), also after SIGKILL once the next comparison recovers the folder; a
    dead comparison's partial runs folder of an earlier version is removed."""
    template = tmp_path / "template"
    ForkedCLI(_compare_args(tmp_path, template), tmp_path / "err", {}).communicate(timeout=120)
    one_comparison(template / COMPARED, [0.1, 0.2])
    cases = [("join", INT), ("publish", INT), ("publish", signal.SIGKILL)]
    procs = []
    for n, (stage, sig) in enumerate(cases):
        out = tmp_path / f"case{n}"
        shutil.copytree(template, out)
        before = _tree(out / COMPARED)
        (out / COMPARED / ".runs-x1y2z3").mkdir()  # what a comparison of an earlier version left when it died
        (out / COMPARED / ".runs-x1y2z3" / "00-lr=0.5.npz").write_bytes(b"half")
        marker = tmp_path / f"marker{n}"
        procs.append((ForkedCLI(_compare_args(tmp_path, out, lr="0.3,0.4", steps="4"), tmp_path / f"err{n}",
                                {"VISUALIZER_TEST_PAUSE": f"{stage}:{marker}", "VISUALIZER_TEST_PAUSE_SECONDS": "60"}),
                      marker, out / COMPARED, before))
    for (stage, sig), (proc, marker, folder, before) in zip(cases, procs):
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), proc.communicate(1)
        os.kill(proc.pid, sig)
        marker.unlink()
        _, err = proc.communicate(timeout=60)
        if sig == signal.SIGKILL:
            with OutputFolder(folder, COMPARED):  # the next comparison (or render) into it completes the publish
                pass
        else:
            assert proc.returncode == 130 and err.count("\n") == 1, err
        if stage == "join":
            assert "nothing was published" in err and _tree(folder) == before, err
        else:
            assert sig == signal.SIGKILL or f"published in {folder}/: history.npz, {COMPARED}.mp4, " in err, err
            one_comparison(folder, [0.3, 0.4])
            assert History.load(folder / "history.npz").steps[-1] == 4


def test_two_comparisons_into_one_folder_leave_one_whole(tmp_path):
    """The second is refused at once, before it trains, while the first holds the folder."""
    marker = tmp_path / "drawing"
    first = ForkedCLI(_compare_args(tmp_path, tmp_path / "out"), tmp_path / "err1",
                      {"VISUALIZER_TEST_PAUSE": f"drawing:{marker}"})
    wait_for(marker, first)
    second = ForkedCLI(_compare_args(tmp_path, tmp_path / "out", "--every", "1000000", lr="0.3,0.4", steps="5000000"),
                       tmp_path / "err2", {})  # it would train for minutes
    _, err2 = second.communicate(timeout=60)
    marker.unlink()
    _, err1 = first.communicate(timeout=60)
    assert first.returncode == 0, err1
    assert second.returncode == 2 and err2.count("\n") == 1 and "is being written by another render" in err2, err2
    one_comparison(tmp_path / "out" / COMPARED, [0.1, 0.2])


def test_a_full_disk_while_the_runs_are_saved_is_one_line_and_the_folder_stays_as_it_was(tmp_path, cli,
                                                                                          monkeypatch):
    code, _, err = cli(*_compare_args(tmp_path, tmp_path / "out", what=["--last-frame"]))  # the poster: quick
    assert code == 0, err
    before = _tree(tmp_path / "out")
    assert "tiny_fit-compare-lr/runs/00-lr=0.1.npz" in before
    save = History.save

    def full_in_runs(self, path):
        if Path(path).parent.name == "runs":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return save(self, path)

    monkeypatch.setattr(History, "save", full_in_runs)
    code, _, err = cli(*_compare_args(tmp_path, tmp_path / "out", lr="0.3,0.4", what=["--last-frame"]))
    assert (code, err) == (2, f"visualizer: error: cannot write to {tmp_path / 'out' / COMPARED}: the disk is full; "
                              "free some space or choose another output folder\n")
    assert _tree(tmp_path / "out") == before


def test_a_signal_that_lands_in_a_finalizer_still_stops_the_command(capfd):
    """A handler runs wherever the main thread is; Python swallows what it raises inside a finalizer (the
    garbage collector's work, at any moment) and prints a traceback. The command still stops, silently."""
    import time

    from visualizer.base.errors import Interrupt
    from visualizer.cli import _signals_stop

    class Dropped:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0)  # a call: the handler runs here, inside the finalizer

    before = sys.unraisablehook
    with pytest.raises(Interrupt) as caught:
        with _signals_stop():
            Dropped()  # collected at once: its finalizer takes the signal
            end = time.monotonic() + 10
            while time.monotonic() < end:  # the command's own code goes on
                time.sleep(0.001)
    assert caught.value.signum == signal.SIGTERM
    assert "Exception ignored" not in capfd.readouterr().err
    assert sys.unraisablehook is before


def test_a_stop_that_lands_in_a_finalizer_in_a_drawing_process_still_stops_its_task(capfd):
    """A pool's drawing process stops its running task on SIGTERM with the program's own handler: a stop that
    lands in the collector's work is sent again and raised in the task's code, not printed and lost."""
    import time

    from visualizer.base.errors import Interrupt
    from visualizer.run import pipeline

    class Dropped:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0)  # a call: the handler runs here, inside the finalizer

    stop = pipeline._WorkerStop()
    before, hook = signal.signal(signal.SIGTERM, stop), sys.unraisablehook
    sys.unraisablehook = stop.unraisable
    pipeline._TASK.update(running=True, stopped=False)
    try:
        with pytest.raises(Interrupt) as caught:
            Dropped()  # collected at once: its finalizer takes the signal
            end = time.monotonic() + 10
            while time.monotonic() < end:  # the task's own code goes on
                time.sleep(0.001)
    finally:
        signal.signal(signal.SIGTERM, before)
        sys.unraisablehook = hook
        stopped = pipeline._TASK["stopped"]
        pipeline._TASK.update(running=False, stopped=False)
    assert caught.value.signum == signal.SIGTERM and stopped
    assert "Exception ignored" not in capfd.readouterr().err
