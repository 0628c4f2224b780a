"""``visualizer check``: every bundled scene's frames (default and why layouts, a comparison, an explained
step) are clean at both presets and three sizes; a planted overlap and too small text are found; the lecture
preset's sizes and secondary panels; bad input is one line, exit 2."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from conftest import ROOT
from visualizer.draw.panels import Layout, LossLandscapePanel, LossPanel, Panel
from visualizer.draw.presets import PRESETS
from visualizer.run.check import check, check_history, compared
from visualizer.run.render import train
from visualizer.run.scene import load_scene

SCENES = sorted(p.stem for p in (ROOT / "scenes").glob("*.py") if not p.stem.startswith("_"))
SIZES = [(854, 480), (1280, 720), (1920, 1080)]
STEPS = 30  # a short run of each scene: every panel, its per-frame text at that run's values
WHY_STEPS = 10  # shorter for the why layouts: their analyses (δ's, landscape) make each step dearer
# The why layouts' loss landscapes on a grid of 20² points, not the scenes' 60²: the grid is nine tenths of a
# why layout's training, and the check reads the panel's axes, text and colour bar, whose range moves a little
# with the grid (its lowest point) but whose labels and problems came out the same for every why case at
# three presets and sizes, crowded frames included.
LANDSCAPE = 20
_CASES: dict[str, tuple] = {}


def _frames(case: str):
    """(history, layout, title, explain) of a case, trained once for every preset and size."""
    if case not in _CASES:
        name, _, layout = case.partition(":")
        scene = load_scene(name)
        explain: tuple[int, ...] = ()
        if layout == "compare":
            history, chosen, title = compared(scene, ["lr=0.05,0.2"], steps=STEPS)
        elif layout == "explain":  # the default case's run (trained once), with a step's analysis added
            from visualizer.run.render import _frames as with_explained

            plain, chosen, title, _ = _frames(f"{name}:default")
            history = plain.subset(range(len(plain)))  # a copy: the analysis goes into its static arrays
            explain = (int(history.steps[1]),)
            with_explained(history, scene, list(range(len(history))), explain, 30.0, False, 3.0)
        else:
            chosen = scene.layout_named(layout or "default")
            chosen = replace(chosen, panels={key: replace(panel, resolution=LANDSCAPE)
                                             if isinstance(panel, LossLandscapePanel) else panel
                                             for key, panel in chosen.panels.items()})
            steps = min(scene.steps, WHY_STEPS if layout == "why" else STEPS)
            history, title = train(scene, steps=steps, layout=chosen), scene.title
        _CASES[case] = (history, chosen, title, explain)
    return _CASES[case]


# Scenes checked with an explained step: its figure, and the scene's default frames beside it (the renderer
# that draws the one draws the other), with values under the neurons as numbers, curves and means. Each at
# its own preset, theme and size: both presets, both themes and every size over the four, and the default
# frames at the combinations the other scenes' default cases leave out.
EXPLAINED = {"softplus_fit": ("default", (854, 480)), "xor": ("default", (1280, 720)),
             "autoencoder": ("lecture", (1280, 720)), "moons": ("lecture:dark", (1920, 1080))}
CASES = [f"{name}:{layout}" for name in SCENES
         for layout in ["explain" if name in EXPLAINED else "default", *load_scene(name).layouts,
                        *([] if "why" in load_scene(name).layouts else ["why"])]] + ["softplus_fit:compare"]


def _matrix() -> list[tuple[str, str, tuple[int, int]]]:
    """Every case once, the presets and the sizes taking turns over the cases, so every preset and size is
    checked (a check is a figure laid out: half a second to a second, and the suite's time is short). The
    presets turn every case and again every pair of cases, so a scene's default and why layouts (neighbours
    in CASES) each meet both presets over the scenes, not the default layout always the default preset. Half
    the cases are drawn in the dark theme (``PRESET:dark``), turning every four cases, so that it meets each
    preset, size and layout. An explained step's case is checked at its own (``EXPLAINED``). With
    VISUALIZER_CHECK_ALL=1: every case at both presets, every size and both themes."""
    import os

    every = os.environ.get("VISUALIZER_CHECK_ALL") == "1"
    return [(case, preset if t == "light" else f"{preset}:{t}", size) for k, case in enumerate(CASES)
            for p, preset in enumerate(PRESETS) for s, size in enumerate(SIZES) for t in ("light", "dark")
            if every or _chosen(k, case) == (preset if t == "light" else f"{preset}:{t}", size)]


def _chosen(k: int, case: str) -> tuple[str, tuple[int, int]]:
    """The preset (with its theme) and size case ``k`` is checked at when not at every one."""
    name, _, layout = case.partition(":")
    if layout == "explain":
        return EXPLAINED[name]
    preset = list(PRESETS)[(k + k // 2) % len(PRESETS)]
    return (f"{preset}:dark" if (k + k // 4) % 2 else preset), SIZES[k % len(SIZES)]


@pytest.mark.parametrize("case, preset, size", _matrix(), ids=lambda v: f"{v[0]}x{v[1]}" if isinstance(v, tuple)
                         else str(v))
def test_every_bundled_scene_is_clean(case, preset, size):
    history, layout, title, explain = _frames(case)
    problems = check_history(history, layout, preset=preset, size=size, title=title, explain=explain)
    assert not problems, "\n".join(map(str, problems))


def test_the_matrix_checks_default_and_why_frames_at_every_preset_theme_and_size():
    met: dict[str, set] = {}
    for case, preset, size in _matrix():
        layout = case.partition(":")[2]
        for kind in (["default", "explain"] if layout == "explain" else
                     [layout if layout in ("why", "compare") else "default"]):
            met.setdefault(kind, set()).add((preset, size))
    every = {(p if t == "light" else f"{p}:{t}", size) for p in PRESETS for t in ("light", "dark") for size in SIZES}
    assert met["default"] == every and met["why"] == every
    assert {p.partition(":")[0] for p, _ in met["explain"]} == set(PRESETS)
    assert {p.partition(":")[2] or "light" for p, _ in met["explain"]} == {"light", "dark"}
    assert {size for _, size in met["explain"]} == set(SIZES)


@dataclass
class Crowded(Panel):
    """A panel that writes two labels on one spot, one of them tiny."""

    def draw(self, ax, history):
        ax.text(0.5, 0.5, "one label", transform=ax.transAxes)
        ax.text(0.52, 0.5, "another label", transform=ax.transAxes)
        ax.text(0.1, 0.1, "tiny", fontsize=4, transform=ax.transAxes)
        return lambda i: []


@dataclass
class Strip(Panel):
    """A 1×8 matrix of square cells with its values written: short, but sized by its shape and wide enough
    to read."""

    def draw(self, ax, history):
        import numpy as np

        ax.imshow(np.arange(8.0)[None, :])
        for k in range(8):
            ax.text(k, 0, str(k), ha="center", va="center")
        return lambda i: []


@dataclass
class Painted(Panel):
    """Numbers as colour with no bar (a problem), beside colours given as RGB (class regions: none)."""

    numbers: bool = True

    def draw(self, ax, history):
        import numpy as np

        ax.imshow(np.arange(12.0).reshape(3, 4) if self.numbers else np.ones((3, 4, 3)) * 0.5)
        return lambda i: []


@dataclass
class Spike(Panel):
    """A readout whose string is long at one row only, a row the spread sample of the run passes over."""

    row: int = 0

    def draw(self, ax, history):
        from visualizer.draw.text import FrameText

        text = FrameText(0.98, 0.5, "", transform=ax.transAxes, ha="left")
        ax.add_artist(text)

        def update(i):
            text.set_text("a readout far too long for the frame" if i == self.row else "ok")
            return [text]
        return update


@pytest.fixture(scope="module")
def planted() -> list[str]:
    """What check finds on one frame of planted panels (one layout, checked once for the tests below): a
    crowded panel, a loss squeezed into a strip a few pixels high (as moons' loss was under its diagram's
    legend), a short matrix of square cells, colour for numbers with no bar, RGB colours, and a readout that
    is long at one row between the spread sample's rows only."""
    import numpy as np

    from visualizer.draw.check import SAMPLED_ROWS

    scene = load_scene("softplus_fit")
    history = train(scene, steps=60, layout=Layout([["loss"]], {"loss": LossPanel()}))
    spread = set(np.linspace(0, len(history) - 1, SAMPLED_ROWS).round().astype(int))
    row = next(k for k in range(len(history)) if k not in spread)
    layout = Layout([["loss", "crowded", "numbers", "spike"], ["loss", "rgb", "strip", "strip"],
                     ["squeezed", "squeezed", "squeezed", "squeezed"]],
                    {"loss": LossPanel(), "crowded": Crowded(), "numbers": Painted(), "rgb": Painted(numbers=False),
                     "spike": Spike(row=row), "strip": Strip(), "squeezed": LossPanel()}, height_ratios=[1, 1, 0.03])
    return [str(p) for p in check_history(history, layout, size=(854, 480))]


def test_check_finds_a_planted_overlap_too_small_text_and_a_squeezed_plot(planted):
    assert any(p.startswith("crowded: 'one label' overlaps 'another label'") for p in planted), planted
    assert any(p.startswith("crowded: text 'tiny'") and "under the default preset's 1.8 %" in p
               for p in planted), planted
    assert any(p.startswith("squeezed: the plot is ") and "too small to read" in p for p in planted), planted
    assert not any(p.startswith(("loss", "strip")) for p in planted), planted


def test_check_finds_colour_that_shows_numbers_without_a_bar_and_not_rgb_colour(planted):
    assert any(p.startswith("numbers: colour shows numbers (image") for p in planted), planted
    assert not any(p.startswith("rgb") for p in planted), planted


def test_per_frame_text_is_checked_at_its_longest_value_in_the_run(planted):
    assert "spike: 'a readout far too long for the frame' runs off the frame" in planted, planted


CROWDED_SCENE = """
import numpy as np
from visualizer import Dense, Layout, Network, SGD, Scene
from visualizer.draw.panels import LossPanel, Panel


class Crowded(Panel):
    def draw(self, ax, history):
        ax.text(0.5, 0.5, "one label", transform=ax.transAxes)
        ax.text(0.52, 0.5, "another label", transform=ax.transAxes)
        return lambda i: []


x = np.linspace(-1, 1, 8)[:, None]
rng = np.random.default_rng
scene = Scene(name="crowded", network=lambda seed: Network([Dense(1, 2, "tanh", name="hidden", rng=rng(seed)),
              Dense(2, 1, "identity", name="output", rng=rng(seed))]), x=x, y=x ** 2, loss="mse",
              optimizer=SGD(0.1), steps=5, layout=Layout([["loss", "crowded"]], {"loss": LossPanel(),
                                                                                "crowded": Crowded()}),
              layouts={"clean": Layout([["loss"]], {"loss": LossPanel()})})
"""


def test_check_command_exit_status_and_lines(cli, tmp_path):
    scene = tmp_path / "crowded.py"
    scene.write_text(CROWDED_SCENE)
    code, out, err = cli("check", str(scene), "--size", "854x480")
    assert (code, err) == (1, ""), err
    assert out.splitlines() == ["crowded: 'one label' overlaps 'another label'"]
    code, out, err = cli("check", str(scene), "--layout", "clean", "--preset", "lecture")
    assert (code, err) == (0, ""), out
    assert out == "crowded: no problems found\n"


def test_check_reads_a_saved_history_as_render_from_history_draws_it(cli, tmp_path):
    """A history saved by a run (or a PyTorch loop) is checked with the layout render --from-history would
    use: the default one chosen from what it holds, a scene's by --scene, or the why layout from its layers."""
    scene_file = tmp_path / "crowded.py"
    scene_file.write_text(CROWDED_SCENE)
    saved = tmp_path / "run.npz"
    train(load_scene(scene_file)).save(saved)
    code, out, err = cli("check", "--from-history", str(saved), "--scene", str(scene_file), "--size", "854x480")
    assert (code, err) == (1, ""), err
    assert out.splitlines() == ["crowded: 'one label' overlaps 'another label'"]
    for args in (["--scene", str(scene_file), "--layout", "clean"], [], ["--layout", "why", "--preset", "lecture"]):
        code, out, err = cli("check", "--from-history", str(saved), *args)
        assert (code, out, err) == (0, "crowded: no problems found\n", ""), args
    for args, message in ((["softplus_fit"], "give a SCENE or --from-history, not both"),
                          (["--steps", "3"], "--steps changes training"),
                          (["--layout", "clean"], "unknown scene 'crowded'")):  # the name the history gives
        code, out, err = cli("check", "--from-history", str(saved), *args)
        assert code == 2 and out == "" and message in err and err.count("\n") == 1, err
    code, out, err = cli("check", "--from-history", str(tmp_path / "none.npz"))
    assert (code, out) == (2, "") and err == f"visualizer: error: no history file at {tmp_path / 'none.npz'}\n"


@pytest.mark.parametrize("args, message", [
    (["check", "softplus_fit", "--preset", "poster"], "invalid choice: 'poster'"),
    (["render", "softplus_fit", "--preset", "poster"], "invalid choice: 'poster'"),
    (["check", "softplus_fit", "--theme", "dim"], "invalid choice: 'dim'"),
    (["render", "softplus_fit", "--preset", "lecture", "--theme", "dim"], "invalid choice: 'dim'"),
    (["check", "no_such_scene"], "unknown scene 'no_such_scene'"),
    (["check", "softplus_fit", "--layout", "nope"], "has no layout 'nope'"),
])
def test_bad_check_input_is_one_line_exit_2(cli, args, message):
    code, out, err = cli(*args)
    assert code == 2 and out == ""
    assert err.startswith("visualizer: error: ") and message in err and err.count("\n") == 1, err


def test_api_refuses_an_unknown_preset_or_theme():
    from visualizer.base.errors import VisualizerError

    with pytest.raises(VisualizerError, match="unknown preset 'poster'"):
        check(load_scene("softplus_fit"), preset="poster", steps=2)
    with pytest.raises(VisualizerError, match="unknown theme 'dim'"):
        check(load_scene("softplus_fit"), theme="dim", steps=2)


def test_lecture_preset_sizes_and_secondary_panels():
    from visualizer.draw.renderer import Renderer

    scene = load_scene("overfit")
    history = _frames("overfit:default")[0]  # the run the clean-frames test checks
    shares = {}
    for preset in PRESETS:
        renderer = Renderer(scene.layout, history, size=PRESETS[preset].size, title=scene.title, preset=preset,
                            pixels=False)
        height = renderer.size[1]
        points = [t.get_fontsize() for ax in renderer.figure.axes for t in ax.get_xticklabels()]
        shares[preset] = (min(points) * renderer.figure.dpi / 72 / height, sorted(renderer.axes),
                          renderer.axes["regions"].title.get_fontsize() * renderer.figure.dpi / 72 / height)
    assert PRESETS["lecture"].size == (1920, 1080)
    assert shares["default"][0] >= 0.018 and shares["lecture"][0] >= 0.025 and shares["lecture"][2] >= 0.033
    assert "optim" in shares["default"][1] and "optim" not in shares["lecture"][1]  # the Adam state: secondary


def test_primary_reflows_around_secondary_panels():
    p = Panel()
    layout = Layout([["a", "a", "b"], ["a", "a", "c"], ["d", "d", "d"]], dict.fromkeys("abcd", p),
                    height_ratios=[1, 1, 0.5], secondary=("d",))
    assert (layout.primary().mosaic, layout.primary().height_ratios) == ([["a", "a", "b"], ["a", "a", "c"]], [1, 1])
    wide = Layout([["f", "f", "f"], ["l", "x", "y"], ["m", "x2", "y2"]], dict.fromkeys(["f", "l", "x", "y", "m", "x2",
                                                                                       "y2"], p), secondary=("y", "y2"))
    assert wide.primary().mosaic == [["f", "f"], ["l", "x"], ["m", "x2"]]
    # a cell that cannot go is taken by its neighbour in the row, where that one lies in the row alone
    grown = Layout([["a", "b"], ["c", "d"]], dict.fromkeys("abcd", p), secondary=("d",))
    assert grown.primary().mosaic == [["a", "b"], ["c", "c"]]
    under = Layout([["m", "m", "n"], ["m", "m", "n"], ["l", "l", "p"]], dict.fromkeys("mnlp", p), secondary=("p",))
    assert under.primary().mosaic == [["m", "m", "n"], ["m", "m", "n"], ["l", "l", "l"]]
    right = Layout([["a", "b"], ["d", "c"]], dict.fromkeys("abcd", p), secondary=("d",))
    assert right.primary().mosaic == [["a", "b"], ["c", "c"]]  # from the right when nothing is on its left
    kept = Layout([["a", "b", "c", "x"], ["a", "d", "c", "y"]], dict.fromkeys("abcdxy", p), secondary=("d",))
    assert kept.primary().mosaic == [["a", "b", "c", "x"], ["a", ".", "c", "y"]]  # its neighbours span rows: empty
    # a row that is a grid of its own re-flows inside itself: its neighbours there take the room
    nested = Layout([[[["a", "b", "c"]]], [[["d", "d", "e"]]]], dict.fromkeys("abcde", p), secondary=("c",))
    assert nested.primary().mosaic == [[[["a", "b"]]], [[["d", "d", "e"]]]]
    with pytest.raises(ValueError, match="not placed"):
        Layout([["a"]], {"a": p}, secondary=("b",))


def test_a_render_at_another_preset_is_not_taken_for_the_one_before(cli, tmp_path):
    import json

    # the two-panel tiny fit: what is kept between renders is the point, not what the frames show
    common = ("render", str(ROOT / "tests" / "data" / "tiny_fit.py"), "--steps", "3", "--last-frame", "--size",
              "320x180", "--out", str(tmp_path), "-q")
    assert cli(*common, "--preset", "lecture")[0] == 0
    manifest = json.loads((tmp_path / "tiny_fit" / "manifest.json").read_text())
    assert "'preset': 'lecture'" in str(manifest)
    code, out, err = cli(*common)
    assert code == 0 and "kept" not in out
    assert "preset" not in (tmp_path / "tiny_fit" / "manifest.json").read_text()



@dataclass
class LogCurve(Panel):
    """A loss from 0.6 to 0.016 on a log axis: matplotlib labels its minor ticks (2×10⁻², 3×10⁻², …)."""

    def draw(self, ax, history):
        import numpy as np

        ax.plot(np.arange(100), 0.6 * np.exp(-np.arange(100) / 27.0))
        ax.set_yscale("log")
        return lambda i: []


def test_a_log_axis_s_crowded_minor_labels_thin_to_two_and_five_times_a_power_of_ten():
    from visualizer.draw.renderer import Renderer

    history = train(load_scene("softplus_fit"), steps=2, layout=Layout([["log"]], {"log": LogCurve()}))
    layout = Layout([["log"], ["other"], ["third"]], {"log": LogCurve(), "other": LogCurve(), "third": LogCurve()})
    assert not check_history(history, layout, preset="lecture", size=(854, 480))
    renderer = Renderer(layout, history, size=(854, 480), preset="lecture", pixels=False)
    labels = [t.label1.get_text() for t in renderer.axes["log"].yaxis._update_ticks() if t.label1.get_text()]
    # at least two labels to read the scale by, the minor ones at 2 and 5 only
    assert len(labels) >= 2 and all(not ("times" in s) or s.split("\\times")[0].lstrip("$\\mathdefault{") in "25"
                                    for s in labels), labels


def test_named_points_keep_their_names_apart_and_off_each_other_at_lecture_size():
    # gender's four people at 1920x1080 late in its run: corner labels would put Bob's name on
    # Charlie's point and Charlie's on Alice's; a label beside or over its point fits
    problems = check(load_scene("gender"), layout="why", preset="lecture", steps=1000)
    assert not problems, "\n".join(map(str, problems))


def test_a_comparison_with_rows_of_the_runs_own_keeps_its_plots_readable_at_lecture_size():
    # vanishing's runs each have a row of layer speeds: with the losses and the landscape under them, three rows
    # at lecture text left the losses 105 px high; beside them, every plot keeps its height
    problems = check(load_scene("vanishing"), vary=["activation=sigmoid,relu"], preset="lecture", steps=STEPS)
    assert not problems, "\n".join(map(str, problems))


def _net(*sizes, seed=0):
    from visualizer import Dense, Network

    rng = np.random.default_rng(seed)
    return Network([Dense(a, b, "tanh" if k < len(sizes) - 2 else "identity", name=f"layer{k + 1}", rng=rng)
                    for k, (a, b) in enumerate(zip(sizes, sizes[1:]))])


@pytest.mark.parametrize("kind", ["fit", "classes", "twelve outputs"])
def test_a_scene_without_a_layout_gets_the_default_one_from_its_architecture(kind):
    """A scene that declares no layout gets, before training, the panels the default layout gives the history
    it records (the fit; the class regions and accuracy; the first output over the plane and a weight
    matrix for a network too large to follow each parameter), clean at both presets (the lecture one leaves
    the parameters out)."""
    from visualizer import Scene, default_layout

    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (24, 1 if kind == "fit" else 2))
    if kind == "fit":
        y, loss, sizes = np.sin(3 * x), "mse", (1, 3, 1)
    elif kind == "classes":
        y, loss, sizes = (x[:, 0] * x[:, 1] > 0).astype(float), "bce", (2, 4, 1)
    else:
        y, loss, sizes = np.stack([np.sin(k * x[:, 0]) + x[:, 1] for k in range(12)], axis=1), "mse", (2, 3, 12)
    scene = Scene(name="no_layout", network=lambda seed: _net(*sizes, seed=seed), x=x, y=y, loss=loss, steps=6)
    history = train(scene)
    expected = {"fit": {"FitPanel", "LossPanel", "NetworkDiagramPanel", "ParameterPanel"},
                "classes": {"ClassRegionsPanel", "LossPanel", "NetworkDiagramPanel", "AccuracyPanel"},
                "twelve outputs": {"DecisionBoundaryPanel", "LossPanel", "NetworkDiagramPanel", "WeightMatrixPanel"}}
    names = [type(p).__name__ for p in scene.layout.panels.values()]
    assert set(names) == expected[kind] and len(names) == 4
    assert names == [type(p).__name__ for p in default_layout(history).panels.values()]
    assert [p.title for p in scene.layout.panels.values()] == [p.title for p in default_layout(history).panels.values()]
    assert scene.layout.mosaic == default_layout(history).mosaic and scene.layout.secondary == ("params",) * (kind != "classes")
    assert check_history(history, scene.layout, preset="lecture", size=(1920, 1080)) == []
    assert check_history(history, scene.layout, size=(854, 480)) == []
