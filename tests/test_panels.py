"""Every panel type, rendered on a tiny history: it draws, it changes with the step, its scale is fixed."""
from __future__ import annotations

import numpy as np
import pytest

from visualizer import (SGD, ActivationsPanel, DecisionBoundaryPanel, Dense, FitPanel, GradientPanel, Layout,
                        LossPanel, Network, NetworkDiagramPanel, ParameterPanel, Renderer, Scene, SurfacePanel,
                        UnitMapPanel, VisualizerError, WeightMatrixPanel, train)


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
    scene = _plane_scene(PLANE_PANELS[name])
    history = train(scene)
    renderer = Renderer(scene.layout, history, size=(480, 270), title=name)
    ax = renderer.axes["p"]
    first, last = renderer.draw(0), renderer.draw(len(history) - 1)
    assert first.shape == (270, 480, 3)
    # Compare only this panel's pixels, so the loss panel cannot make a frozen panel look alive.
    x0, y0, x1, y1 = (int(v) for v in ax.get_window_extent().extents)
    crop = lambda img: img[270 - y1 : 270 - y0, x0:x1]  # noqa: E731
    moved = (crop(first) != crop(last)).any()
    assert moved == (name not in STATIC), f"{name}: panel pixels {'did not change' if not moved else 'changed'}"
    limits = (ax.get_xlim(), ax.get_ylim())
    renderer.draw(2)
    assert (ax.get_xlim(), ax.get_ylim()) == limits


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
