"""The lesson scenes reach their figures, asserted on the recorded history (not on pixels), and compare's
architecture, penalty and noise settings: built again from the scene's description, refused when it has none.

Each lesson trains once per module, in this process, with a layout of one loss panel (so only the losses and
parameters are recorded) and, where the figure is reached early, fewer steps than its scene renders.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from visualizer import Layout, LossPanel, load_scene, train
from visualizer.base.errors import VisualizerError
from visualizer.engine.layers import Dense, dense_backward
from visualizer.run.compare import SETTINGS, compare, parse_vary

SCENES = Path(__file__).resolve().parent.parent / "scenes"
LOSS_ONLY = Layout([["loss"]], {"loss": LossPanel()})
LN2 = math.log(2.0)


def varied(scene, **settings):
    """The scene with compare's settings applied, each read from its text as the command line reads it."""
    for name, text in settings.items():
        parse, apply = SETTINGS[name]
        scene = apply(scene, parse(str(text)))
    return scene


def delta_norms(scene, history, row: int) -> dict[str, float]:
    """‖δˡ‖ = mean |∂L/∂z| of every dense layer over the training set, from the parameters recorded at
    ``row``, by the engine's forward and backward (training mode, as the step was taken)."""
    net = scene.network(scene.seed)
    net.set_parameters({name: values[row] for name, values in history.params.items()})
    out = net.forward(scene.x)
    grad = scene.loss.grad(out, scene.y)
    norms = {}
    for layer in reversed(net.layers):
        if isinstance(layer, Dense):
            delta, grad = dense_backward(grad, layer._cache, layer.weight)
            norms[layer.name] = float(np.abs(delta).mean())
        else:
            grad = layer.backward(grad)
    return norms


def gap(scene, history) -> np.ndarray:
    """At each recorded step, how many times the last hidden layer's ‖δ‖ exceeds the first's."""
    hidden = [f"hidden{k}" for k in range(1, len(scene.network.hidden) + 1)]
    ratios = []
    for row in range(len(history.steps)):
        norms = delta_norms(scene, history, row)
        ratios.append(norms[hidden[-1]] / norms[hidden[0]])
    return np.array(ratios)


# ---- vanishing ----

@pytest.fixture(scope="module")
def vanishing():
    scene = load_scene(SCENES / "vanishing.py")
    relu = varied(scene, activation="relu", init="he")
    return {name: (s, train(s, layout=LOSS_ONLY)) for name, s in (("sigmoid", scene), ("relu", relu))}


def test_vanishing_first_layer_learns_at_least_ten_times_slower(vanishing):
    scene, history = vanishing["sigmoid"]
    ratios = gap(scene, history)
    assert ratios[0] > 50  # Nielsen reports ~100x at the start
    assert ratios.min() >= 10, f"the gap closed to {ratios.min():.1f}x at step {history.steps[ratios.argmin()]}"


def test_relu_with_he_init_closes_the_gap(vanishing):
    sigmoid = gap(*vanishing["sigmoid"])
    relu = gap(*vanishing["relu"])
    assert np.median(relu) < 10 and np.median(relu) * 5 < np.median(sigmoid)
    assert vanishing["relu"][1].losses["train"][-1] < vanishing["sigmoid"][1].losses["train"][-1]


# ---- initialization ----

@pytest.fixture(scope="module")
def initialization():
    scene = load_scene(SCENES / "initialization.py")
    return {init: (s, train(s, layout=LOSS_ONLY, every=100))
            for init in ("zeros", "small", "large", "he") for s in [varied(scene, init=init)]}


def test_zeros_leave_every_hidden_unit_identical(initialization):
    scene, history = initialization["zeros"]
    for name, values in history.params.items():
        if name.endswith(".weight") and not name.startswith("output"):
            assert np.all(values == values[:, :, :1]), f"{name}: the units differ"
        if name.endswith(".bias") and not name.startswith("output"):
            assert np.all(values == values[:, :1]), f"{name}: the units differ"
    assert abs(history.losses["train"][-1] - LN2) < 1e-6
    # shown: the diagram draws every edge as a weight of 0 (the zero line's grey, thinnest), at the last step
    from matplotlib.colors import to_rgba

    from visualizer import Renderer
    from visualizer.draw import colours

    frame = Renderer(Layout([["net"]], {"net": scene.layout.panels["net"]}), history, size=(320, 180))
    frame.draw(len(history) - 1)
    edges = frame.axes["net"].collections[0]
    assert np.all(edges.get_edgecolor() == to_rgba(colours.REFERENCE))
    assert np.allclose(edges.get_linewidth(), np.min(edges.get_linewidth()))


def saturated(scene, history, row: int) -> float:
    """The share of hidden tanh units beyond ±0.97 over the training set (Karpathy's measure)."""
    net = scene.network(scene.seed)
    net.set_parameters({name: values[row] for name, values in history.params.items()})
    outs = [a for a, layer in zip(net.activations(scene.x), net.layers) if layer.name.startswith("hidden")]
    return float(np.mean([np.mean(np.abs(a) > 0.97) for a in outs]))


def test_large_weights_saturate_and_he_learns(initialization):
    final = {init: h.losses["train"][-1] for init, (_, h) in initialization.items()}
    assert saturated(*initialization["large"], 0) > 0.8
    assert saturated(*initialization["he"], 0) < 0.1
    assert final["small"] > 0.6  # the signal and its gradient vanish: still near ln 2
    assert final["he"] < 0.05 and final["he"] == min(final.values())
    assert final["large"] > 10 * final["he"]


# ---- dropout ----

def test_a_regularizer_ends_with_the_lowest_test_loss():
    scene = load_scene(SCENES / "dropout.py")
    test = {}
    for name, settings in (("none", dict(dropout=0)), ("l2", dict(dropout=0, l2=0.01)), ("dropout", {})):
        history = train(varied(scene, **settings), layout=LOSS_ONLY, every=100)
        test[name] = history.losses["test"]
    assert test["none"][-1] > 2 * test["none"].min()  # without regularization the test loss turns up
    for name in ("l2", "dropout"):
        assert test[name][-1] < 0.6 * test["none"][-1], name


# ---- batch norm ----

def test_batch_norm_trains_what_stalls_without_it():
    scene = load_scene(SCENES / "batchnorm.py")
    off = train(varied(scene, batchnorm="off"), layout=LOSS_ONLY, steps=120, every=40)
    on = train(varied(scene, batchnorm="on"), layout=LOSS_ONLY, steps=120, every=40)
    assert abs(off.losses["train"][-1] - LN2) < 0.05 * LN2
    assert on.losses["train"][-1] < 0.1


# ---- the settings ----

def test_architecture_settings_rebuild_the_network():
    scene = load_scene(SCENES / "vanishing.py")
    net = varied(scene, depth=2, width=3, activation="tanh", init="he", dropout=0.25, batchnorm="on").network(0)
    kinds = [(type(layer).__name__, layer.n_out) for layer in net.layers]
    assert kinds == [("Dense", 3), ("BatchNorm", 3), ("Dropout", 3), ("Dense", 3), ("BatchNorm", 3),
                     ("Dropout", 3), ("Dense", 1)]
    assert net.layers[1].activation.name == "tanh" and net.layers[0].init.spec == "he"


def test_noise_draws_the_data_again_and_keeps_the_test_split():
    scene = load_scene(SCENES / "dropout.py")
    clean = varied(scene, noise=0)
    assert clean.x.shape == scene.x.shape and clean.test[0].shape == scene.test[0].shape
    # noise 0: every point lies on a moon (radius 1 around its centre), the scene's points do not
    centres = np.where(clean.y == 0, 0.0, 1.0), np.where(clean.y == 0, 0.0, 0.5)
    radius = np.hypot(clean.x[:, :1] - centres[0], clean.x[:, 1:] - centres[1])
    assert np.allclose(radius, 1.0)
    assert varied(scene, seed=2).test[0].shape == scene.test[0].shape  # other settings keep the split


def test_l2_replaces_or_removes_the_penalty():
    scene = load_scene(SCENES / "spiral.py")
    assert [p.strength for p in varied(scene, l2=0.1).penalty] == [0.1]
    assert varied(scene, l2=0).penalty == ()


@pytest.mark.parametrize("item, message", [
    ("width=0,4", "width: 0 is out of range"), ("depth=2,x", "depth: 'x' is not a whole number"),
    ("dropout=0,1", r"dropout: 1 is out of range; it must be in \[0, 1\)"), ("noise=-1,0", "noise: -1 is out"),
    ("init=zeros,bogus", "unknown init 'bogus'"), ("activation=relu,swish", "unknown activation 'swish'"),
    ("batchnorm=on,maybe", "'maybe' is not on or off"), ("l2=0,nan", "l2: nan is out of range")])
def test_bad_values_are_one_line(item, message):
    with pytest.raises(VisualizerError, match=message) as info:
        parse_vary([item])
    assert "\n" not in str(info.value)


def test_a_setting_the_scene_cannot_take_is_refused_before_training(tmp_path, capsys):
    from visualizer.cli import main

    out = tmp_path / "out"
    with pytest.raises(VisualizerError, match="cannot vary depth of scene 'xor': its network is built in its own"):
        compare(load_scene(SCENES / "xor.py"), {"depth": [1, 2]}, out=out)
    assert main(["compare", str(SCENES / "xor.py"), "--vary", "noise=0,0.1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("visualizer: error: cannot vary noise of scene 'xor'") and err.count("\n") == 1
    assert not out.exists()


def test_runs_with_different_networks_each_draw_their_own(tmp_path):
    """A comparison of depths: each run's history keeps its own layers, each run gets its own diagram, and
    no landscape is drawn across parameter spaces that differ."""
    from visualizer import History, Renderer
    from visualizer.record.runs import run_history

    scene = load_scene(SCENES / "vanishing.py")
    result = compare(scene, {"depth": [1, 3]}, steps=4, every=2, out=tmp_path, format="frames", size=(480, 270),
                     jobs=1)
    joined = History.load(result["history"])
    for k, depth in enumerate((1, 3)):
        layers = run_history(joined, k).info.layers
        assert [lay.name for lay in layers] == [f"hidden{j}" for j in range(1, depth + 1)] + ["output"]
        saved = History.load(result[f"run{k}"])
        assert [lay.name for lay in saved.info.layers] == [lay.name for lay in layers]
    assert not any(key.startswith("compare-landscape") for key in joined.static)
    from visualizer.draw.panels.compare import comparison_layout, with_run_diagrams

    layout = with_run_diagrams(comparison_layout(scene.layout, joined, 2), scene.layout.panels["net"], 2)
    frame = Renderer(layout, joined, size=(480, 270))
    # each diagram draws its run's edges: 1·8 + 8·1 for depth 1, 1·8 + 2·8·8 + 8·1 for depth 3
    counts = [len(frame.axes[f"diagram{k}"].collections[0].get_segments()) for k in (0, 1)]
    assert counts == [16, 144]
    assert [frame.axes[f"diagram{k}"].get_title() for k in (0, 1)] == ["depth=1", "depth=3"]


def test_a_comparison_of_activations_draws_each_runs_layer_speeds_on_one_axis():
    """``compare vanishing --vary activation=sigmoid,relu``: under each run, its own ‖δ‖ line per hidden layer,
    both on one log axis, so the sigmoid run's spread and the ReLU run's closed gap read side by side."""
    from visualizer import Renderer
    from visualizer.draw.panels.compare import comparison_layout
    from visualizer.draw.panels.layers import with_run_layer_stats
    from visualizer.record.runs import join_histories
    from visualizer.run.compare import comparison

    scene = load_scene(SCENES / "vanishing.py")
    runs = [varied(scene, activation=a) for a in ("sigmoid", "relu")]
    labels = ["activation=sigmoid", "activation=relu"]
    histories = [train(s, steps=60, every=20) for s in runs]
    joined = join_histories(histories, labels)
    layout = with_run_layer_stats(comparison_layout(scene.layout, joined, 2), scene.layout, joined)
    frame = Renderer(Layout([["layers0", "layers1"]], {k: layout.panels[k] for k in ("layers0", "layers1")}), joined,
                     size=(560, 240))
    frame.draw(len(joined) - 1)
    axes = [frame.axes[f"layers{k}"] for k in (0, 1)]
    assert [ax.get_yscale() for ax in axes] == ["log", "log"] and axes[0].get_ylim() == axes[1].get_ylim()
    spread = []
    for k, ax in enumerate(axes):
        lines = {ln.get_label(): ln for ln in ax.get_lines() if ln.get_label() in {f"h{j}" for j in range(1, 6)}}
        assert sorted(lines) == [f"h{j}" for j in range(1, 6)]
        for j in range(1, 6):
            np.testing.assert_array_equal(lines[f"h{j}"].get_ydata(), joined.extras[f"run{k}/layer/hidden{j}/delta_norm"])
        spread.append(lines["h5"].get_ydata()[-1] / lines["h1"].get_ydata()[-1])
    assert spread[0] > 10 and spread[1] * 5 < spread[0]  # the gap, and the gap closed
    # One legend, under the first run's, read row by row from the first layer to the deepest.
    texts = axes[0].get_legend().get_texts()
    boxes = [t.get_window_extent() for t in texts]
    reading = sorted(range(len(texts)), key=lambda j: (-round(boxes[j].y0), boxes[j].x0))
    assert [texts[j].get_text() for j in reading] == [f"h{j}" for j in range(1, 6)]
    assert axes[1].get_legend() is None
    # compare lays the row out under the runs' panels (runs of other depths: each its own layers), and the losses
    # in a column beside all their rows, so each row keeps its height at lecture size
    deep = [varied(scene, depth=d) for d in (1, 2)]
    _, laid, _ = comparison(scene, deep[0], {"depth": [1, 2]}, [train(s, steps=2, every=1) for s in deep],
                            ["depth=1", "depth=2"])
    assert laid.mosaic == [[[["run0", "run1"], ["diagram0", "diagram1"], ["layers0", "layers1"]], [["loss"]]]]
    assert {"diagram0", "diagram1"} <= set(laid.panels)  # networks of other shapes: each drawn
    assert [laid.panels[f"layers{k}"].legend for k in (0, 1)] == [True, True]  # and each its layers' legend
    # Runs of one shape: the layer lines say what their diagrams would, so none are drawn; under the rows of
    # their own the runs' fits leave out the per-neuron lines (and their long legend), keeping room to read.
    _, same, _ = comparison(scene, runs[0], {"activation": ["sigmoid", "relu"]}, histories, labels)
    assert {"layers0", "layers1"} <= set(same.panels) and not any(k.startswith("diagram") for k in same.panels)
    assert [same.panels[f"layers{k}"].legend for k in (0, 1)] == [True, False]
    fits = Renderer(Layout([["run0"]], {"run0": same.panels["run0"]}), joined, size=(480, 270))
    fits.draw(len(joined) - 1)
    shown = [ln.get_label() for ln in fits.axes["run0"].get_lines() if not ln.get_label().startswith("_")]
    assert shown == ["actual", "predicted"], shown
    full = Renderer(Layout([["fit"]], {"fit": scene.layout.panels["fit"]}), histories[0], size=(480, 270))
    assert len([ln for ln in full.axes["fit"].get_lines() if not ln.get_label().startswith("_")]) > 2
