"""Drawing chunks in other processes: forked on Linux, spawned elsewhere (forced here), and stopped cleanly.

The executor path's Dask tests are in test_compare.py (one real LocalCluster serves render and compare).
"""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from conftest import ROOT
from test_signals import TINY, _gone
from test_transaction import SMALL, ForkedCLI, wait_for
from visualizer import load_scene, render, train


@pytest.fixture
def spawn_only():
    """As on macOS or Windows: this program chose the spawn start method, so nothing is forked."""
    import multiprocessing as mp

    before = mp.get_start_method(allow_none=True)
    mp.set_start_method("spawn", force=True)
    yield
    mp.set_start_method(before, force=True)


def test_with_spawn_chunks_are_drawn_in_parallel_by_processes_that_build_their_own_figure(tmp_path, spawn_only):
    # The scene's surface panel calls a function of the scene file: it travels as the file's text. A two-panel
    # scene (tests/data/tiny_surface.py, as the product scene's surfaces, a fifth of its figure to build per process).
    scene = load_scene(ROOT / "tests" / "data" / "tiny_surface.py")
    hist = train(scene, steps=47, every=1)  # 48 frames: two chunks
    spawned = render(scene, hist, out=tmp_path / "spawn", size=(160, 90), jobs=2, format="mp4,gif,frames",
                     pace="steps")
    assert spawned.processes == 2
    import multiprocessing as mp

    mp.set_start_method("fork", force=True)
    forked = render(scene, hist, out=tmp_path / "fork", size=(160, 90), jobs=2, format="mp4,gif,frames",
                    pace="steps")
    assert forked.processes == 2
    for kind in ("mp4", "gif"):  # the same chunks, pixels and encoder settings: the same bytes
        assert spawned[kind].read_bytes() == forked[kind].read_bytes(), kind
    names = sorted(p.name for p in spawned["frames"].iterdir())
    assert len(names) == 48 and names == sorted(p.name for p in forked["frames"].iterdir())
    assert all((spawned["frames"] / n).read_bytes() == (forked["frames"] / n).read_bytes() for n in names)


def test_a_signal_while_spawned_processes_draw_stops_them_all_and_leaves_nothing(tmp_path):
    """Ctrl-C at a terminal (SIGINT to the whole group: the pool's processes leave it to the parent) and
    SIGTERM to the main process alone (it stops the pool), both while spawned processes draw. The command runs
    in a forked copy of this process (its own session, SIGINT handled as at a terminal), which chose the
    spawn start method as on macOS and Windows: its drawing processes are new interpreters. A two-panel scene:
    each of them builds its own figure."""
    scene = tmp_path / "tiny_fit.py"
    scene.write_text(TINY)
    cases = {}
    for sig, how in ((signal.SIGINT, "group"), (signal.SIGTERM, "process")):
        marker, tmp, out = (tmp_path / f"{sig.name}-{name}" for name in ("drawing", "tmp", "out"))
        tmp.mkdir()
        env = {"TMPDIR": str(tmp), "VISUALIZER_TEST_PAUSE_SECONDS": "60", "VISUALIZER_TEST_PAUSE": f"drawing:{marker}"}
        proc = ForkedCLI(["render", str(scene), "--steps", "47", *SMALL, "--jobs", "2", "--format",
                          "mp4,gif,frames", "--out", str(out), "-q", "--pace", "steps"], tmp_path / f"{sig.name}-err",
                         env, start_method="spawn")
        cases[sig] = (how, proc, marker, tmp, out)
    for sig, (how, proc, marker, tmp, out) in cases.items():
        wait_for(marker, proc)  # a spawned process is drawing its chunk (its piece's files are in TMPDIR)
        while not marker.read_text().strip():  # the paused process writes its id into it
            time.sleep(0.01)
        assert int(marker.read_text()) != proc.pid and list(tmp.iterdir())
        (os.killpg if how == "group" else os.kill)(proc.pid, sig)
    for sig, (how, proc, marker, tmp, out) in cases.items():
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.poll() is None:  # say which process hung, then clean up
            ps = subprocess.run(["ps", "-o", "pid,ppid,stat,etime,wchan:20,args", "-g", str(proc.pid)],
                                capture_output=True, text=True).stdout
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"{sig.name}/{how}: the render did not end:\n{ps}")
        _, err = proc.communicate(timeout=1)
        assert proc.returncode == 128 + sig and err.count("\n") == 1, err
        head = "visualizer: interrupted" if sig == signal.SIGINT else "visualizer: stopped by SIGTERM"
        assert err.startswith(f"{head} while drawing") and "nothing was published" in err, err
        assert _gone(proc.pid), "processes of the render are still running"
        assert not list(tmp.iterdir())  # every piece's temporary folder removed
        folder = out / "tiny_fit"
        assert not folder.exists() or not list(folder.iterdir())
