"""Three roads to the same panels: a scene, a from-scratch loop, a PyTorch loop; and histories on their own."""
from __future__ import annotations

import contextlib
import io
import re
import runpy
from pathlib import Path

import imageio.v2 as iio
import numpy as np
import pytest

from conftest import ROOT
from visualizer import (DecisionBoundaryPanel, FitPanel, History, Layout, LossPanel, NetworkDiagramPanel, Recorder,
                        load_scene, render, train)
from visualizer.draw.panels import default_layout
from visualizer.run.render import select_rows

README = (ROOT / "README.md").read_text()
SNIPPETS = dict(re.findall(r"<!-- snippet: (\w+) -->\n```\w+\n(.*?)```", README, re.S))
DATA = Path(__file__).parent / "data"


def _run_snippet(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"{name}.py"
    path.write_text(SNIPPETS[name])
    with contextlib.redirect_stdout(io.StringIO()):
        return runpy.run_path(str(path))


def _frames(path: Path) -> int:
    return sum(1 for _ in iio.get_reader(path))


def test_the_readme_from_scratch_xor_loop_gives_the_xor_scenes_numbers(tmp_path, monkeypatch):
    loop = _run_snippet("loop", tmp_path, monkeypatch)
    ours = loop["rec"].history()
    scene = train(load_scene("xor"), pace="steps")  # every 50 steps, as the loop records
    assert ours.steps.tolist() == scene.steps.tolist() == list(range(0, 10001, 50))
    # The notebook's sigmoid is 1/(1+e^-x), ours exp(-log(1+e^-x)): the same function to the last bits.
    np.testing.assert_allclose(ours.loss, scene.loss, rtol=1e-9)
    for mine, theirs in (("w_0", "hidden.weight"), ("w_1", "output.weight")):
        np.testing.assert_allclose(ours.params[mine], scene.params[theirs], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ours.grads[mine], scene.grads[theirs], rtol=1e-7, atol=1e-12)
    # The evaluator drew the output over the same plane as the scene's boundary panel.
    np.testing.assert_allclose(ours.extras["plane01x80/output0"], scene.extras["plane01x80/output0"], atol=1e-9)
    mp4 = loop["result"]["mp4"]
    # Frames paced by change: fewer than the 201 rows, as the loop recorded no rows between its steps of 50.
    assert mp4 == Path("output/my_xor/my_xor.mp4") and _frames(tmp_path / mp4) == len(select_rows(ours)) < 201
    layout = default_layout(ours)
    kinds = {type(p) for p in layout.panels.values()}
    assert {DecisionBoundaryPanel, LossPanel, NetworkDiagramPanel} <= kinds


def test_the_readme_torch_loop_renders_with_the_fit_panel(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    run = _run_snippet("torch", tmp_path, monkeypatch)
    h = run["rec"].history()
    assert len(h) == 61 and h.info.optimizer == "Adam(lr=0.05)" and h.loss[-1] < 0.1 * h.loss[0]
    assert {type(p) for p in default_layout(h).panels.values()} >= {FitPanel, LossPanel, NetworkDiagramPanel}
    assert _frames(tmp_path / run["result"]["mp4"]) == len(select_rows(h)) <= 61


def test_a_history_renders_on_its_own_and_from_its_file(tmp_path, cli):
    rec = Recorder(every=2)
    w = np.array([[0.5, -1.0]])
    for step in range(9):
        rec.log(step, params={"w": w}, grads={"w": w * 0.1}, loss=float(np.sum(w**2)))
        w = w * 0.9
    h = rec.history()
    assert h.steps.tolist() == [0, 2, 4, 6, 8]
    # No layers, no model outputs: the loss and the parameters are what there is to show.
    assert set(default_layout(h).panels) == {"loss", "params"}
    path = h.save(tmp_path / "run.npz")
    code, out, err = cli("render", "--from-history", str(path), "--format", "mp4", "--size", "320x180",
                         "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert (tmp_path / "out" / "run" / "run.mp4").is_file() and "run.mp4" in out


def test_a_layout_file_chooses_the_panels(tmp_path, cli):
    history = train(load_scene("softplus_fit"), steps=4)
    path = history.save(tmp_path / "h.npz")
    (tmp_path / "my_layout.py").write_text(
        "from visualizer import Layout, LossPanel, FitPanel\n"
        "layout = Layout([['fit', 'loss']], {'fit': FitPanel(), 'loss': LossPanel(title='mine')})\n")
    code, _, err = cli("render", "--from-history", str(path), "--layout", str(tmp_path / "my_layout.py"),
                       "--name", "mine", "--last-frame", "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert (tmp_path / "out" / "mine" / "poster.png").is_file()
    bad = tmp_path / "bad_layout.py"
    bad.write_text("layout = 3\n")
    code, _, err = cli("render", "--from-history", str(path), "--layout", str(bad), "--out", str(tmp_path / "o2"))
    assert code == 2 and "'layout' must be a visualizer.Layout" in err


# softplus_fit's run in 0.1.0 was the notebook's exact one (no output bias): the scene softplus_notebook now.
@pytest.mark.parametrize("name, scene", [("softplus_fit", "softplus_notebook"), ("xor", "xor")])
def test_histories_written_by_0_1_0_still_render(tmp_path, name, scene):
    h = History.load(DATA / f"history_v1_{name}.npz")
    with_scene = render(load_scene(scene), h, out=tmp_path / "a", format="mp4", size=(320, 180))
    alone = render(h, out=tmp_path / "b", format="mp4", size=(320, 180))
    assert _frames(with_scene["mp4"]) == _frames(alone["mp4"]) == len(h)


def test_an_old_softplus_fit_history_is_refused_by_the_new_scene_in_one_line(tmp_path, cli):
    path = DATA / "history_v1_softplus_fit.npz"
    code, _, err = cli("render", "--from-history", str(path), "--size", "320x180", "--last-frame",
                       "--out", str(tmp_path / "out"))
    assert code == 2 and err.count("\n") == 1 and "no grad 'output.bias' in history" in err, err
    assert not (tmp_path / "out").exists()
    code, _, err = cli("render", "--from-history", str(path), "--scene", "softplus_notebook", "--size", "320x180",
                       "--last-frame", "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert (tmp_path / "out" / "softplus_notebook" / "poster.png").is_file()


def test_from_history_never_imports_a_path_named_in_the_file(tmp_path, cli):
    evil = tmp_path / "evil.py"
    evil.write_text("raise SystemExit('this must never run')\n")
    h = train(load_scene("softplus_fit"), steps=2)
    h.info.scene = str(evil)
    path = h.save(tmp_path / "h.npz")
    code, _, err = cli("render", "--from-history", str(path), "--last-frame", "--out", str(tmp_path / "out"))
    assert code == 2 and "output name" in err  # the name is refused, nothing imported
    code, _, err = cli("render", "--from-history", str(path), "--last-frame", "--name", "safe",
                       "--out", str(tmp_path / "out"))
    assert code == 0, err
