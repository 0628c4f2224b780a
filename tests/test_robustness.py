"""Interrupts, divergence, determinism and output names: never a broken file, never a silent wrong answer."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from conftest import ROOT, run_cli
from visualizer import Dense, DivergenceError, Network, SceneError, load_scene, render, train


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_ctrl_c_stops_quickly_keeps_earlier_outputs_and_leaves_no_temporaries(tmp_path):
    first = run_cli("render", "softplus_fit", "--steps", "30", "--size", "320x180", "--out", str(tmp_path), "-q")
    assert first.returncode == 0, first.stderr
    folder = tmp_path / "softplus_fit"
    before = _snapshot(folder)
    # A long render, interrupted as a terminal does it: SIGINT to the whole process group.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "visualizer", "render", "softplus_fit", "--out", str(tmp_path),
                             "--jobs", "2"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".render-") for p in folder.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "the render never started"
        time.sleep(0.05)
    time.sleep(1.0)  # workers and their ffmpeg processes are running now
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("visualizer: interrupted; written: history.npz; not written (earlier versions kept): ")
    assert "mp4" in lines[0] and "frames" in lines[0]
    with pytest.raises(ProcessLookupError):  # every worker and ffmpeg it started has ended
        for _ in range(50):
            os.killpg(proc.pid, 0)
            time.sleep(0.1)
    after = _snapshot(folder)
    assert not [name for name in after if name.startswith(".") or "/." in name]
    for name, data in before.items():  # every earlier output is whole and unchanged, but the new history
        if name != "history.npz":
            assert after[name] == data, name


DIVERGING = '''\
    """A straight-line fit whose learning rate is far too large: each step overshoots 13-fold."""
    from visualizer import SGD, Dense, GradientPanel, Layout, LossPanel, Network, Scene


    def network(seed):
        return Network([Dense(1, 1, name="line", weight=[[0.0]], bias=False)])


    scene = Scene(name="diverging_line", network=network, x=[1.0, 2.0, 3.0], y=[3.0, 6.0, 9.0], loss="ssr",
                  optimizer=SGD(0.5), steps=400,
                  layout=Layout([["loss", "grad"]], {"loss": LossPanel(), "grad": GradientPanel("line.weight", (0, 0))}))
    '''


@pytest.fixture
def diverging(tmp_path):
    path = tmp_path / "diverging_line.py"
    path.write_text(textwrap.dedent(DIVERGING))
    return path


def test_divergence_stops_with_the_step_and_a_hint_and_writes_nothing(tmp_path, diverging):
    result = run_cli("render", str(diverging), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip() == ("visualizer: error: training diverged at step 138: the loss became inf; try a "
                                     "smaller learning rate than 0.5, or pass --allow-divergence to render the "
                                     "steps before it")
    assert not (tmp_path / "out").exists()


def test_allow_divergence_renders_the_finite_steps(tmp_path, diverging):
    result = run_cli("render", str(diverging), "--out", str(tmp_path), "--allow-divergence", "--format", "frames",
                     "--size", "320x180")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "diverging_line" / "frames").iterdir())
    assert names[0] == "frame_00000.png" and names[-1] == "frame_00137.png" and len(names) == 138
    with np.load(tmp_path / "diverging_line" / "history.npz") as z:
        assert np.isfinite(z["loss/train"]).all() and z["step"][-1] == 137


def test_a_nan_parameter_is_named(diverging):
    scene = load_scene(diverging)
    scene.network = lambda seed: Network([Dense(1, 1, name="line", weight=[[float("nan")]], bias=False)])
    with pytest.raises(DivergenceError, match=r"diverged at step 0: line.weight became nan"):
        train(scene)


def test_same_scene_seed_and_options_give_byte_identical_outputs(tmp_path):
    scene = load_scene("softplus_fit")
    runs = []
    for n, jobs in enumerate((1, 2, 2)):
        paths = render(scene, out=tmp_path / f"run{n}", steps=59, size=(320, 180), formats="frames", jobs=jobs)
        runs.append({"history": paths["history"].read_bytes(), **{p.name: p.read_bytes()
                                                                   for p in sorted(paths["frames"].iterdir())}})
    assert len(runs[0]) == 61
    assert runs[0] == runs[1] == runs[2]


def test_scene_names_cannot_escape_the_output_folder():
    for bad in ("../evil", "a/b", ".hidden", "", "x" * 65):
        with pytest.raises(SceneError, match="names the output folder"):
            load_scene("softplus_fit").__class__(name=bad, network=None, x=[0.0], y=[0.0], layout=None)


def test_leftovers_of_a_killed_render_are_removed_by_the_next(tmp_path):
    folder = tmp_path / "softplus_fit"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process id that no longer exists
    leftovers = [folder / f".softplus_fit.{dead.pid}.abc123.part.mp4", folder / f".frames.{dead.pid}.xyz.part",
                 folder / f".render-{dead.pid}-q1w2e3"]
    leftovers[0].write_bytes(b"half a video")
    leftovers[1].mkdir()
    leftovers[2].mkdir()
    mine = folder / f".softplus_fit.{os.getpid()}.live.part.gif"  # a live run's temporary: left alone
    mine.write_bytes(b"in progress")
    result = run_cli("render", "softplus_fit", "--steps", "2", "--size", "320x180", "--format", "mp4",
                     "--out", str(tmp_path), "-q")
    assert result.returncode == 0, result.stderr
    assert not any(p.exists() for p in leftovers)
    assert mine.exists()
