"""Every panel type, rendered on a tiny history: it draws, it changes with the step, its scale is fixed."""
from __future__ import annotations

import numpy as np
import pytest

from matplotlib.colors import to_rgb

from visualizer import (L2, SGD, AccuracyPanel, ActivationsPanel, ClassRegionsPanel, DecisionBoundaryPanel, Dense,
                        FitPanel, GradientPanel, Layout, LossPanel, Network, NetworkDiagramPanel, OptimizerStatePanel,
                        ParameterPanel, Renderer, Scene, SurfacePanel, UnitMapPanel, VisualizerError,
                        WeightMatrixPanel, train)
from visualizer.draw.panels import CLASS_COLORS


def _plane_network(seed: int) -> Network:
    rng = np.random.default_rng(seed)
    return Network([Dense(2, 3, "tanh", name="hidden", rng=rng), Dense(3, 1, "sigmoid", name="output", rng=rng)])


def _plane_scene(panel, key="p") -> Scene:
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    layout = Layout([[key, "loss"]], {key: panel, "loss": LossPanel()})
    return Scene(name="tiny", network=_plane_network, x=x, y=y, loss="mse", optimizer=SGD(2.0), steps=4,
                 seed=0, layout=layout)


def _product(x):
    return x[:, 0] * x[:, 1]


PLANE_PANELS = {
    "decision boundary": DecisionBoundaryPanel(names=["a", "b", "c", "d"], resolution=20),
    "target surface": SurfacePanel(kind="target", target=_product, resolution=12),
    "prediction surface": SurfacePanel(kind="prediction", target=_product, resolution=12),
    "error surface": SurfacePanel(kind="error", target=_product, resolution=12),
    "unit map": UnitMapPanel(layer="hidden", unit=2, resolution=12),
    "activations": ActivationsPanel(layer="hidden", row_names=["a", "b", "c", "d"]),
    "inputs": ActivationsPanel(),
    "weight matrix": WeightMatrixPanel("hidden.weight"),
    "bias vector": WeightMatrixPanel("hidden.bias"),
    "network diagram": NetworkDiagramPanel(input_names=["x0", "x1"], output_names=["y"]),
    "parameters": ParameterPanel(labels={"hidden.weight[0,0]": "w1"}),
    "gradient": GradientPanel("output.bias", (0,), "b"),
}
STATIC = {"target surface", "inputs"}


@pytest.mark.parametrize("name", sorted(PLANE_PANELS))
def test_panel_renders_and_follows_the_step(name):
    _assert_follows_the_step(_plane_scene(PLANE_PANELS[name]), name, moves=name not in STATIC)


def _assert_follows_the_step(scene, name, moves=True):
    history = train(scene)
    renderer = Renderer(scene.layout, history, size=(480, 270), title=name)
    ax = renderer.axes["p"]
    first, last = renderer.draw(0), renderer.draw(len(history) - 1)
    assert first.shape == (270, 480, 3)
    # Compare only this panel's pixels, so the loss panel cannot make a frozen panel look alive.
    x0, y0, x1, y1 = (int(v) for v in ax.get_window_extent().extents)
    crop = lambda img: img[270 - y1 : 270 - y0, x0:x1]  # noqa: E731
    moved = (crop(first) != crop(last)).any()
    assert moved == moves, f"{name}: panel pixels {'did not change' if not moved else 'changed'}"
    limits = (ax.get_xlim(), ax.get_ylim())
    renderer.draw(2)
    assert (ax.get_xlim(), ax.get_ylim()) == limits
    return renderer, history


def test_plane_panels_record_what_they_draw_and_never_rerun_the_network():
    scene = _plane_scene(DecisionBoundaryPanel(resolution=10))
    history = train(scene)
    values = history.extras["plane01x10/output0"]
    assert values.shape == (len(history), 10, 10)
    net = scene.network(scene.seed)
    net.set_parameters({k: v[3] for k, v in history.params.items()})
    g0, g1 = history.static["plane01x10/x0"], history.static["plane01x10/x1"]
    assert net.forward(np.array([[g0[4], g1[7]]]))[0, 0] == pytest.approx(values[3, 7, 4])


def test_decision_boundary_colour_scale_is_fixed_to_the_sigmoid_range():
    scene = _plane_scene(DecisionBoundaryPanel(resolution=10))
    renderer = Renderer(scene.layout, train(scene), size=(480, 270))
    assert renderer.axes["p"].get_images()[0].get_clim() == (0.0, 1.0)


def test_weight_matrix_scale_is_symmetric_and_covers_the_whole_run():
    scene = _plane_scene(WeightMatrixPanel("hidden.weight"))
    history = train(scene)
    renderer = Renderer(scene.layout, history, size=(480, 270))
    lo, hi = renderer.axes["p"].get_images()[0].get_clim()
    assert lo == -hi and hi >= np.abs(history.params["hidden.weight"]).max()


def test_panels_explain_misuse():
    with pytest.raises(VisualizerError, match="no layer .nope."):
        train(_plane_scene(UnitMapPanel(layer="nope")))
    with pytest.raises(ValueError, match="target="):
        SurfacePanel(kind="error")
    with pytest.raises(VisualizerError, match="1 input"):
        train(_plane_scene(FitPanel()))


def _three_class_network(seed: int) -> Network:
    rng = np.random.default_rng(seed)
    return Network([Dense(2, 8, "tanh", name="hidden", rng=rng), Dense(8, 3, name="output", rng=rng)])


def _class_scene(panel, loss="softmax_ce", network=_three_class_network, optimizer="adam:lr=0.1", **changes):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(24, 2))
    y = (np.arange(24) % 3) if loss in ("softmax_ce", "multiclass_hinge") else (x[:, 0] > 0).astype(int)
    layout = Layout([["p", "loss"]], {"p": panel, "loss": LossPanel()})
    settings = dict(name="classes", network=network, x=x, y=y, loss=loss, optimizer=optimizer, test_fraction=0.25,
                    penalty=L2(1e-3), steps=6, layout=layout)
    return Scene(**{**settings, **changes})


CLASS_PANELS = {
    "class regions": ClassRegionsPanel(resolution=16, names=["a", "b", "c"]),
    "accuracy": AccuracyPanel(),
    "optimizer state": OptimizerStatePanel(),
    "optimizer state, one kind": OptimizerStatePanel(kinds=["v"]),
    "loss with test and penalty": LossPanel(),
}


@pytest.mark.parametrize("name", sorted(CLASS_PANELS))
def test_classifier_panel_renders_and_follows_the_step(name):
    _assert_follows_the_step(_class_scene(CLASS_PANELS[name]), name)


def test_class_regions_colour_each_point_of_the_plane_by_its_most_probable_class():
    scene = _class_scene(ClassRegionsPanel(resolution=10, strength=1.0))
    renderer, history = _assert_follows_the_step(scene, "regions")
    renderer.draw(len(history) - 1)
    image = renderer.axes["p"].get_images()[0]
    outputs = history.extras["plane01x10/outputs"][-1]  # (10, 10, 3) class scores, not probabilities
    assert outputs.shape == (10, 10, 3)
    best = outputs.argmax(axis=-1)
    p = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    confidence = (p.max(axis=-1) - 1 / 3) / (2 / 3)
    colours = np.array([to_rgb(c) for c in CLASS_COLORS[:3]])
    expected = 1 + (colours[best] - 1) * confidence[..., None]
    np.testing.assert_allclose(image.get_array(), expected, atol=1e-12)


def test_binary_logits_are_drawn_as_probabilities():
    def one_logit(seed):
        rng = np.random.default_rng(seed)
        return Network([Dense(2, 4, "tanh", name="hidden", rng=rng), Dense(4, 1, name="output", rng=rng)])

    scene = _class_scene(DecisionBoundaryPanel(resolution=10), loss="bce", network=one_logit,
                         optimizer="sgd:lr=5")
    renderer, history = _assert_follows_the_step(scene, "boundary")
    renderer.draw(len(history) - 1)
    image = renderer.axes["p"].get_images()[0]
    assert image.get_clim() == (0.0, 1.0)
    logits = history.extras["plane01x10/output0"][-1]
    assert np.abs(logits).max() > 1  # not already in [0, 1]: the map really converts
    np.testing.assert_allclose(image.get_array(), 1 / (1 + np.exp(-logits)), rtol=1e-12)
    regions = _class_scene(ClassRegionsPanel(resolution=10), loss="hinge", network=one_logit)
    _assert_follows_the_step(regions, "binary regions")


def test_loss_panel_draws_train_test_and_penalty_with_a_legend():
    scene = _class_scene(LossPanel())
    renderer = Renderer(scene.layout, train(scene), size=(480, 270))
    ax = renderer.axes["p"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test", "penalty"]
    assert len([line for line in ax.get_lines() if line.get_label() in ("train", "test", "penalty")]) == 3


def test_accuracy_panel_is_a_percentage_over_the_whole_run():
    scene = _class_scene(AccuracyPanel())
    renderer = Renderer(scene.layout, train(scene), size=(480, 270))
    assert renderer.axes["p"].get_ylim() == (0, 102)


def test_lesson_panels_explain_misuse():
    with pytest.raises(ValueError, match="AccuracyPanel needs recorded accuracy"):
        render_scene = _plane_scene(AccuracyPanel())
        Renderer(render_scene.layout, train(render_scene), size=(480, 270))
    with pytest.raises(ValueError, match="needs a stateful optimizer's recorded state.*SGD\\(lr=0.1\\)"):
        scene = _class_scene(OptimizerStatePanel(), optimizer="sgd:lr=0.1")
        Renderer(scene.layout, train(scene), size=(480, 270))
    with pytest.raises(ValueError, match="no recorded optimizer state 'momentum'; this run has m, v, step"):
        scene = _class_scene(OptimizerStatePanel(kinds=["momentum"]))
        Renderer(scene.layout, train(scene), size=(480, 270))
    with pytest.raises(ValueError, match="not a classification loss"):
        scene = _class_scene(ClassRegionsPanel(resolution=8), loss="mse", y=np.zeros((24, 3)))
        Renderer(scene.layout, train(scene), size=(480, 270))


def test_a_classifiers_history_gets_class_regions_and_accuracy_by_default():
    from visualizer import default_layout

    history = train(_class_scene(ClassRegionsPanel(resolution=12)))
    layout = default_layout(history)
    assert type(layout.panels["main"]) is ClassRegionsPanel and layout.panels["main"].resolution == 12
    assert type(layout.panels["params"]) is AccuracyPanel
    Renderer(layout, history, size=(480, 270)).draw(len(history) - 1)


def test_layouts_check_their_mosaic_nested_grids_included():
    from visualizer import Layout, LossPanel

    nested = Layout([[[["a", "b"]]], [[["c"]]]], {k: LossPanel() for k in "abc"})
    assert set(nested.panels) == {"a", "b", "c"}
    for mosaic, message in [([["a", "b"], ["c"]], "same number of cells"),
                            ([[[["a", "."], ["b"]]]], "same number of cells"),
                            ([[[["a", "b"]]], [[["d"]]]], "not defined: \\['d'\\]"),
                            ([[[["a", "b"]]]], "not placed in the mosaic: \\['c'\\]")]:
        with pytest.raises(ValueError, match=message):
            Layout(mosaic, {k: LossPanel() for k in "abc"})


@pytest.mark.parametrize("lr, corner", [(1e-6, "bottom"), (0.3, "top")])
def test_the_loss_readout_sits_where_the_curve_never_goes(lr, corner):
    # A loss flat at its start (as batch norm's scene at ln 2) stays at the top of its axis: the readout moves
    # to the bottom; a falling loss leaves the top right free and keeps it there.
    x = np.linspace(-1, 1, 16)[:, None]

    def network(seed):
        return Network([Dense(1, 1, name="output", rng=np.random.default_rng(seed))])
    scene = Scene(name="flat", network=network, x=x, y=2 * x + 1, loss="mse", optimizer=SGD(lr), steps=30, seed=0,
                  layout=Layout([["loss"]], {"loss": LossPanel()}))
    history = train(scene)
    renderer = Renderer(scene.layout, history, size=(320, 180))
    renderer.draw(len(history) - 1)
    ax = renderer.axes["loss"]
    from visualizer.draw.text import FrameText

    text = next(a for a in ax.get_children() if isinstance(a, FrameText) and a.get_text())
    box, frame = text.get_window_extent(renderer.figure.canvas.get_renderer()), ax.get_window_extent()
    assert (box.y0 + box.y1) / 2 < (frame.y0 + frame.y1) / 2 if corner == "bottom" else box.y0 > frame.y0 + frame.height / 2
    curve = ax.transData.transform(np.column_stack([history.steps, history.losses["train"]]))
    inside = (curve[:, 0] > box.x0) & (curve[:, 0] < box.x1) & (curve[:, 1] > box.y0) & (curve[:, 1] < box.y1)
    assert not inside.any()
