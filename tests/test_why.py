"""The "why it learns" panels: the chain rule adds up to the recorded gradient, the landscape agrees with the
recorded loss where the plane holds the whole trajectory, the gradient diagram draws the recorded numbers."""
from __future__ import annotations

import numpy as np
import pytest

from visualizer import (SGD, ChainRulePanel, Dense, Layout, LossLandscapePanel, LossPanel, Network,
                        NetworkDiagramPanel, Renderer, Scene, VisualizerError, load_scene, render, train)
from visualizer.record.landscape import pca_plane
from visualizer.draw.panels.why import landscape_key


def _line_scene(layout, steps=30) -> Scene:
    """A model with exactly two parameters, w and b: ŷ = σ(w·x + b)."""
    def network(seed):
        return Network([Dense(1, 1, "sigmoid", name="only", weight=[[-1.5]], bias_init=[2.0])])
    x = np.linspace(-2, 2, 9)
    y = (x > 0.3).astype(float)
    return Scene(name="line", network=network, x=x, y=y, loss="mse", optimizer=SGD(3.0), steps=steps, layout=layout)


@pytest.mark.parametrize("params", [None, (("only.weight", (0, 0)), ("only.bias", (0,)))])
def test_a_plane_holding_the_whole_trajectory_gives_the_recorded_loss_on_the_path(params):
    panel = LossLandscapePanel(params=params, resolution=12)
    history = train(_line_scene(Layout([["land"]], {"land": panel})))
    key = landscape_key(panel.params, None)
    np.testing.assert_allclose(history.static[f"{key}/path_loss"], history.loss, rtol=1e-10, atol=1e-14)
    assert history.static[f"{key}/loss"].shape == (12, 12)
    if params is not None:  # the coordinates are the parameters themselves
        np.testing.assert_allclose(history.static[f"{key}/path"][:, 0], history.params["only.weight"][:, 0, 0])
        np.testing.assert_allclose(history.static[f"{key}/path"][:, 1], history.params["only.bias"][:, 0])


def test_the_grid_is_the_loss_at_its_points():
    panel = LossLandscapePanel(params=(("only.weight", (0, 0)), ("only.bias", (0,))), resolution=7)
    scene = _line_scene(Layout([["land"]], {"land": panel}))
    history = train(scene)
    key = panel.key
    a, b, grid = (history.static[f"{key}/{k}"] for k in ("a", "b", "loss"))
    net = scene.network(0)
    for i, j in [(0, 0), (3, 5), (6, 2)]:
        net.set_parameters({"only.weight": [[a[j]]], "only.bias": [b[i]]})
        assert grid[i, j] == pytest.approx(scene.loss.value(net.forward(scene.x), scene.y), rel=1e-12)


def test_pca_plane_of_softplus_fit_explains_the_path_and_passes_through_the_final_point():
    scene = load_scene("softplus_fit")
    history = train(scene, layout="why")
    plane = pca_plane(history)
    assert plane.explained.sum() > 0.9
    np.testing.assert_allclose(plane.directions @ plane.directions.T, np.eye(2), atol=1e-12)
    key = "landscape/pca"
    # The final point is the plane's origin: there the landscape is the run's own final loss.
    np.testing.assert_allclose(history.static[f"{key}/path"][-1], 0.0, atol=1e-12)
    assert history.static[f"{key}/path_loss"][-1] == pytest.approx(history.loss[-1], rel=1e-12)
    assert history.static[f"{key}/loss"].shape == (60, 60)


@pytest.mark.parametrize("scene_name,param,index", [("softplus_fit", "hidden.weight", (0, 0)),
                                                    ("softplus_fit", "hidden.bias", (1,)),
                                                    ("softplus_fit", "output.weight", (1, 0)),
                                                    ("xor", "hidden.weight", (2, 3)),
                                                    ("gender", "output.bias", (0,))])
def test_the_chain_rule_products_add_up_to_the_recorded_gradient(scene_name, param, index):
    panel = ChainRulePanel(param, index)
    scene = load_scene(scene_name)
    history = train(scene, steps=40, every=5, layout=Layout([["c"]], {"c": panel}))
    recorded = history.grads[param][(slice(None), *index)]
    for i in range(len(history)):
        _, values = panel.terms(history, i)
        total = values.prod(axis=2).sum()
        assert total == pytest.approx(recorded[i], rel=1e-12, abs=1e-15)
    _, every_row = panel.terms(history)  # what the panel draws from: all rows at once
    np.testing.assert_allclose(every_row.prod(axis=-1).sum(axis=(1, 2)), recorded, rtol=1e-12, atol=1e-15)


def test_the_chain_rule_for_iw1_reads_like_the_seed():
    scene = load_scene("softplus_fit")
    panel = scene.layout_named("why").panels["chain"]
    history = train(scene, steps=5, layout="why")
    rule, values = panel.terms(history, 0)
    assert [f.name for f in rule.paths[0]] == ["∂SSR/∂P", "∂P/∂y1", "∂y1/∂x1", "∂x1/∂iw1"]
    assert values.shape == (1, 12, 4)
    # ∂x1/∂iw1 is the input x_n itself (the seed's comment; its code used the index n by mistake).
    np.testing.assert_allclose(values[0, :, 3], scene.x[:, 0])
    np.testing.assert_allclose(values[0, :, 1], history.params["output.weight"][0, 0, 0])


def test_why_panels_say_what_is_missing_from_a_history():
    scene = load_scene("softplus_fit")
    history = train(scene, steps=5)  # the default layout: no δ's, no landscape
    for key in ("chain", "land"):
        layout = Layout([[key]], {key: scene.layout_named("why").panels[key]})
        with pytest.raises(ValueError, match="train with this layout"):
            Renderer(layout, history, size=(480, 270))


def test_gradient_diagram_draws_and_fills_neurons_with_the_summed_deltas():
    panel = NetworkDiagramPanel(show="gradients")
    scene = load_scene("xor")
    history = train(scene, steps=200, layout=Layout([["net", "loss"]], {"net": panel, "loss": LossPanel()}))
    renderer = Renderer(Layout([["net", "loss"]], {"net": panel, "loss": LossPanel()}), history, size=(640, 360))
    first, last = renderer.draw(0), renderer.draw(len(history) - 1)
    assert (first != last).any()
    # Each neuron's fill is its Σδ through the panel's colour map: the sign shows as the hue.
    fills = renderer.axes["net"].collections[-1].get_facecolor()
    deltas = np.concatenate([history.extras["delta/hidden"][-1], history.extras["delta/output"][-1]])
    orange = fills[:, 0] > fills[:, 2]
    assert (orange == (deltas > 0)).all()
    with pytest.raises(ValueError, match="show must be one of weights, gradients"):
        NetworkDiagramPanel(show="grads")


def test_scenes_offer_a_why_layout_by_name(tmp_path):
    scene = load_scene("gender")
    assert set(scene.layouts) == {"why"}
    with pytest.raises(VisualizerError, match="has no layout 'how'; its layouts: default, why"):
        train(scene, steps=4, layout="how")
    with pytest.raises(VisualizerError, match="a scene's layout by name: give the scene too"):
        render(train(scene, steps=4), layout="why", out=tmp_path)
    written = render(scene, layout="why", steps=8, every=4, format="frames", size=(640, 360), out=tmp_path, jobs=1)
    assert written["frames"].parent.name == "gender-why"
    assert len(list(written["frames"].glob("*.png"))) == 3


@pytest.mark.parametrize("name", ["softplus_fit", "xor", "gender"])
def test_why_layouts_draw_their_first_and_last_frames(name):
    scene = load_scene(name)
    history = train(scene, steps=60, every=10, layout="why")
    renderer = Renderer(scene.layout_named("why"), history, size=(640, 360), title=scene.title)
    first, last = renderer.draw(0), renderer.draw(len(history) - 1)
    assert first.shape == (360, 640, 3) and (first != last).any()
