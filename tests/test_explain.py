"""One step in slow motion: where the sequence goes in the frame stream, what it shows, how it is written."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from test_transaction import SCENE as TINY
from visualizer import History, Renderer, VisualizerError, load_scene, render, train
from visualizer.draw.explain import (STAGE_SECONDS, STAGES, ExplainFrame, FrameStep, explain_analysis, explain_frames,
                                     explain_rows, phases)


@pytest.fixture(scope="module")
def xor_history():
    scene = load_scene("xor")
    return scene, train(scene, steps=300, layout="why", pace="steps")  # rows every 50 steps


@pytest.fixture(scope="module")
def explained(xor_history):
    """A copy of that history with step 100's slow-motion arrays added, and a why-layout renderer of it at
    320x180 that explains step 100."""
    scene, history = xor_history
    history = History.from_arrays(history.arrays())  # a copy: the analysis is added to static
    history.static.update(explain_analysis(history, [100]))
    return history, Renderer(scene.layout_named("why"), history, size=(320, 180), explain=[100])


def _stage_lengths(frames, plan):
    """Frames per stage, and how many frames of each stage's last phase show its final picture (t = 1)."""
    explain = [k for k in frames if isinstance(k, ExplainFrame)]
    lengths = {kind: sum(plan[k.phase].kind == kind for k in explain) for kind in STAGES}
    holds = {}
    for kind in STAGES:
        mine = [k for k in explain if plan[k.phase].kind == kind]
        last = mine[-1] if mine else None
        holds[kind] = sum(1 for k in mine if k.phase == last.phase and k.t == 1.0) if mine else 0
    return lengths, holds


def test_the_sequence_goes_before_its_step_and_each_stage_lasts_three_seconds_ending_held(xor_history):
    _, history = xor_history
    rows = [0, 2, 4, 6]
    frames = explain_frames(history, rows, [100], fps=30)
    explain = [k for k in frames if isinstance(k, ExplainFrame)]
    plan = phases(2)
    lengths, holds = _stage_lengths(frames, plan)
    # At talking speed: every stage at least the default 3 s, each ending on a second held still.
    assert STAGE_SECONDS == 3.0
    for kind in STAGES:
        assert lengths[kind] >= 3.0 * 30, kind
        assert holds[kind] >= 1.0 * 30, kind
    assert len(explain) == pytest.approx(4 * 3.0 * 30, abs=4)
    first = frames.index(explain[0])
    # The step's own frame follows its sequence; its row (2, step 100) was among the rows already.
    assert frames[first + len(explain)] == 2 and type(frames[first + len(explain)]) is int
    assert [int(k) for k in explain] == [2] * len(explain)
    assert [k.index for k in explain] == list(range(len(explain)))
    assert [p.kind for p in plan] == ["forward"] * 3 + ["loss", "backward", "backward", "update"]
    assert [p.hold > 0 for p in plan] == [False, False, True, True, False, True, True]  # each stage's last
    assert sorted({k.phase for k in explain}) == list(range(len(plan)))
    # Within a phase the picture moves (t rises) before the hold.
    forward = [k.t for k in explain if k.phase == 0]
    assert forward == sorted(forward) and forward[0] == 0.0


def test_the_seconds_per_stage_set_the_sequences_length(xor_history):
    _, history = xor_history
    for seconds in (1.5, 6.0):
        lengths, holds = _stage_lengths(explain_frames(history, [2], [100], fps=20, seconds=seconds), phases(2))
        for kind in STAGES:
            assert lengths[kind] == pytest.approx(seconds * 20, abs=2), (seconds, kind)
            # The last moving frame reaches t = 1; the hold repeats it for the stage's last third.
            assert holds[kind] == 1 + round(seconds * 20 / 3), (seconds, kind)
    with pytest.raises(ValueError, match=r"600 s per stage at 30 frames/s makes 72,0\d\d frames for one explained "
                                         r"step, more than 10,000"):
        explain_frames(history, [2], [100], fps=30, seconds=600)


def test_an_explained_step_the_selection_skipped_gets_its_frame(xor_history):
    _, history = xor_history
    frames = explain_frames(history, [0, 6], [50, 250], fps=4)
    assert [k for k in frames if type(k) is int] == [0, 1, 5, 6]
    # The last recorded step has no next one: no update phase.
    last = explain_frames(history, [6], [300], fps=4)
    assert phases(2, update=False)[-1].kind == "backward"
    assert max(k.phase for k in last if isinstance(k, ExplainFrame)) == len(phases(2, update=False)) - 1


def test_unrecorded_steps_are_refused_with_the_recorded_grid(xor_history):
    _, history = xor_history
    with pytest.raises(ValueError, match=r"step 120 was not recorded.*every 50 \(nearest: 100, 150\)"):
        explain_rows(history, [120])


def test_the_slow_motion_numbers_are_the_recorded_ones(xor_history):
    scene, history = xor_history
    static = explain_analysis(history, [100, 200])
    for step in (100, 200):
        row = int(np.flatnonzero(history.steps == step)[0])
        assert float(static[f"explain/{step}/loss"]) == pytest.approx(history.loss[row], rel=1e-12)
        for lay in history.info.layers:
            # Σδ is what the diagram panel's recorded δ's are, and input·δ the recorded gradient.
            np.testing.assert_allclose(static[f"explain/{step}/delta/{lay.name}"].sum(axis=0),
                                       history.extras[f"delta/{lay.name}"][row], rtol=1e-12)
        hidden = static[f"explain/{step}/a/hidden"]
        np.testing.assert_allclose(hidden.T @ static[f"explain/{step}/delta/output"],
                                   history.grads["output.weight"][row], rtol=1e-10)


def test_explain_frames_differ_by_phase_and_keep_the_frame_size(explained):
    history, renderer = explained
    frames = explain_frames(history, [2], [100], fps=5)
    one_per_phase = {k.phase: k for k in frames[:-1]}  # the last of each phase
    pictures = [renderer.draw(k) for k in one_per_phase.values()] + [renderer.draw(frames[-1])]
    assert all(p.shape == (180, 320, 3) for p in pictures)
    assert len({p.tobytes() for p in pictures}) == len(pictures)  # every phase looks different
    # A held picture is drawn once and shown again, never in place of another phase's.
    again = [renderer.draw(k) for k in reversed(list(one_per_phase.values()))]
    assert [p.tobytes() for p in reversed(again)] == [p.tobytes() for p in pictures[:-1]]
    update = [k for k in frames if k.__class__ is ExplainFrame and k.phase == len(phases(2)) - 1]
    moving, held = [k for k in update if k.t < 1] + update[-1:], [k for k in update if k.t == 1]
    assert len({renderer.draw(k).tobytes() for k in moving}) == len(moving)  # the edges move
    assert len({renderer.draw(k).tobytes() for k in held}) == 1 < len(held)  # then hold still
    assert renderer.frame_step(frames[0]) == 100 and f"{renderer.frame_step(frames[3]):05d}" == "00100.e0003"
    assert renderer.frame_step(frames[-1]) == 100 and f"{renderer.frame_step(frames[-1]):05d}" == "00100"
    with pytest.raises(ValueError, match="explains a step this renderer was not given"):
        renderer.draw(ExplainFrame(4, 0, 0.0, 0))


def test_frame_step_names_sort_before_the_steps_own_frame():
    names = sorted(f"frame_{s:05d}.png" for s in [300, FrameStep(300, 0), FrameStep(300, 12), FrameStep(300, 9999),
                                                  FrameStep(300, 1000), 299, 301])
    assert names == ["frame_00299.png", "frame_00300.e0000.png", "frame_00300.e0012.png", "frame_00300.e1000.png",
                     "frame_00300.e9999.png", "frame_00300.png", "frame_00301.png"]
    assert int(FrameStep(300, 4)) == 300


def test_render_writes_explain_frames_apart_and_a_history_that_re_renders_them(tmp_path):
    scene = load_scene(TINY)  # two layers, two panels: a render costs little
    written = render(scene, steps=40, every=4, explain=[8], explain_seconds=1.5, format="frames", size=(320, 180),
                     fps=4, out=tmp_path, jobs=2, pace="steps")
    assert written["frames"].parent.name == "tiny_fit-explain"
    names = sorted(p.name for p in written["frames"].iterdir())
    explained = [n for n in names if ".e" in n]
    slow = sum(max(1, round(p.seconds * 4)) + round(p.hold * 4) for p in phases(2, seconds=1.5))
    assert len(names) == 11 + len(explained) and len(explained) == slow
    assert all(n.startswith("frame_00008.e") for n in explained)
    assert names.index("frame_00008.png") == names.index(explained[-1]) + 1
    # The step's own frame is a layout frame, not a slow-motion one (they are drawn by separate processes).
    poster_like = render(scene, steps=40, every=4, format="frames", size=(320, 180), out=tmp_path / "plain",
                         jobs=1, pace="steps")["frames"] / "frame_00008.png"
    assert np.array_equal(np.asarray(Image.open(written["frames"] / "frame_00008.png")),
                          np.asarray(Image.open(poster_like)))
    # The saved history holds the slow-motion arrays: it re-renders them without the scene.
    saved = History.load(written["history"])
    assert "explain/8/delta/hidden" in saved.static
    again = render(saved, explain=[8], explain_seconds=1.5, format="frames", size=(320, 180), fps=4,
                   out=tmp_path / "again", jobs=1, pace="steps")
    assert again["frames"].parent.name == "tiny_fit-explain"  # the name the history gives, and -explain
    assert sorted(p.name for p in again["frames"].iterdir()) == names


def test_render_refuses_unrecorded_steps_before_writing(tmp_path):
    with pytest.raises(VisualizerError, match="step 3 was not recorded"):
        render(load_scene("gender"), steps=8, every=4, explain=[3], format="frames", out=tmp_path, pace="steps")
    assert not (tmp_path / "gender").exists()


def test_a_custom_activation_is_explained_with_the_scenes_network(tmp_path):
    scene = load_scene("autoencoder")
    history = train(scene, steps=20)
    with pytest.raises(ValueError, match="not built in"):
        explain_analysis(history, [10])
    written = render(scene, history, explain=[10], explain_seconds=1, format="frames", size=(320, 180), fps=3,
                     out=tmp_path, jobs=1)
    assert any(".e" in p.name for p in written["frames"].iterdir())


def test_cli_explains_and_takes_a_layout_by_name_for_a_saved_history(cli, tmp_path):
    code, _, err = cli("render", "softplus_fit", "--layout", "why", "--steps", "20", "--every", "10", "--explain",
                       "10", "--explain-seconds", "1", "--format", "frames", "--size", "320x180", "--fps", "2",
                       "--out", str(tmp_path), "-q")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["softplus_fit-why-explain"]  # a folder of its own
    frames = sorted(p.name for p in (tmp_path / "softplus_fit-why-explain" / "frames").iterdir())
    assert frames[0] == "frame_00000.png" and "frame_00010.e0000.png" in frames
    code, _, err = cli("render", "--from-history", str(tmp_path / "softplus_fit-why-explain" / "history.npz"),
                       "--layout", "why", "--format", "frames", "--size", "320x180", "--out", str(tmp_path / "again"),
                       "-q")
    assert code == 0, err
    assert len(list((tmp_path / "again" / "softplus_fit-why" / "frames").iterdir())) == 3


def _mp4_frames(path):
    import imageio.v2 as iio

    reader = iio.get_reader(path, format="ffmpeg")
    try:
        return reader.count_frames()
    finally:
        reader.close()


def test_an_explained_render_leaves_the_plain_render_alone_and_lasts_its_seconds(cli, tmp_path):
    common = ("--steps", "4", "--size", "320x180", "--fps", "4", "--format", "mp4,gif,html", "--out", str(tmp_path),
              "-q")
    code, _, err = cli("render", TINY, *common)
    assert code == 0, err
    plain = tmp_path / "tiny_fit"
    before = {p.name: p.read_bytes() for p in plain.iterdir() if p.is_file()}
    assert {"tiny_fit.mp4", "tiny_fit.gif", "tiny_fit.html"} <= set(before)
    code, _, err = cli("render", TINY, *common, "--explain", "2", "--explain-seconds", "1.5")
    assert code == 0, err
    # The plain render's folder is exactly as it was; the explained one has its own video, GIF and player.
    assert {p.name: p.read_bytes() for p in plain.iterdir() if p.is_file()} == before
    explained = tmp_path / "tiny_fit-explain"
    assert {"tiny_fit-explain.mp4", "tiny_fit-explain.gif", "tiny_fit-explain.html"} <= \
        {p.name for p in explained.iterdir()}
    # Five steps' frames, then four stages of 1.5 s at 4 frames/s (each ending on its held picture).
    slow = sum(max(1, round(p.seconds * 4)) + round(p.hold * 4) for p in phases(1 + 1, seconds=1.5))
    assert slow == pytest.approx(4 * 1.5 * 4, abs=2)
    assert _mp4_frames(plain / "tiny_fit.mp4") == 5
    assert _mp4_frames(explained / "tiny_fit-explain.mp4") == 5 + slow


def test_the_slow_motion_figure_is_a_layout_of_panels_reading_the_history(xor_history, explained):
    from visualizer.draw.panels import ExplainDiagramPanel, ExplainNotesPanel, Panel, explain_layout

    scene, history = xor_history
    layout = explain_layout([100, 200])
    assert [type(p) for p in layout.panels.values()] == [ExplainDiagramPanel, ExplainNotesPanel]
    assert all(isinstance(p, Panel) and p.steps == (100, 200) for p in layout.panels.values())
    # Arrays not in the history's static may be given apart, and draw the same frames.
    copy = History.from_arrays(history.arrays())
    static = explain_analysis(copy, [100])
    with pytest.raises(ValueError, match=r"no slow-motion data for step 100 \(static explain/100/…\)"):
        Renderer(scene.layout_named("why"), copy, size=(320, 180), explain=[100])
    apart = Renderer(scene.layout_named("why"), copy, size=(320, 180), explain=[100], explain_static=static)
    assert "explain/100/loss" not in copy.static
    copy.static.update(static)
    _, stored = explained  # the same layout and size, its history holding the same arrays
    for key in explain_frames(copy, [2], [100], fps=3, seconds=1):
        np.testing.assert_array_equal(apart.draw(key), stored.draw(key))
