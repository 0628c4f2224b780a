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
    # The grid's forward passes are single precision (it draws contours and colours): each point within a
    # millionth of the grid's range of the double-precision loss there.
    tolerance = 1e-6 * float(np.ptp(grid))
    for i, j in [(0, 0), (3, 5), (6, 2)]:
        net.set_parameters({"only.weight": [[a[j]]], "only.bias": [b[i]]})
        exact = scene.loss.value(net.forward(scene.x), scene.y)
        assert grid[i, j] == pytest.approx(exact, rel=1e-6, abs=tolerance)


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
    # The scene's own name iw1, the hidden neuron h1 (z1 going in) as the diagram names it, the seed's P.
    assert [f.name for f in rule.paths[0]] == ["∂SSR/∂P", "∂P/∂h1", "∂h1/∂z1", "∂z1/∂iw1"]
    assert values.shape == (1, 12, 4)
    # ∂z1/∂iw1 is the input x_n itself (the seed's comment; its code used the index n by mistake).
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
        render(train(scene, steps=4), layout="how", out=tmp_path)
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


@pytest.fixture(scope="module")
def moons_why():
    scene = load_scene("moons")
    return scene, train(scene, steps=6, every=2, layout="why")


def test_a_scene_without_a_why_layout_gets_one_built_from_its_network(moons_why):
    scene, history = moons_why
    assert "why" not in scene.layouts
    layout = scene.layout_named("why")
    chain = layout.panels["chain"]
    # 2-16-16-1: a first-layer weight reaches the loss along 16 paths; the second layer's along one.
    assert (chain.param, tuple(chain.index)) == ("hidden2.weight", (0, 0))
    assert type(layout.panels["main"]).__name__ == "DecisionBoundaryPanel"
    rule, values = chain.terms(history)
    sums = values.prod(axis=-1).sum(axis=(1, 2))
    # The recorded gradient adds the L2 penalty's part, 2·λ·w (moons: λ = 1e-4).
    penalty = 2 * 1e-4 * history.params["hidden2.weight"][:, 0, 0]
    np.testing.assert_allclose(sums + penalty, history.grads["hidden2.weight"][:, 0, 0], rtol=1e-6, atol=1e-12)
    renderer = Renderer(layout, history, size=(640, 360), title=scene.title)
    first, last = renderer.draw(0), renderer.draw(len(history) - 1)
    assert (first != last).any()


def _table_rows(layout, history, size):
    renderer = Renderer(layout, history, size=size)
    renderer.draw(0)
    ax = renderer._sheet.axes["chain"]
    shown = [t for t in ax.texts if t.get_visible()]
    more = [t.get_text() for t in shown if t.get_text().startswith("…")]
    return sum(1 for t in shown if t.get_text().isdigit()), more


def test_the_chain_rule_table_writes_the_samples_that_fit_and_says_how_many_more(moons_why):
    scene, history = moons_why
    layout = scene.layout_named("why")
    n = len(history.static["data/x"])
    small, more_small = _table_rows(layout, history, (480, 270))
    large, more_large = _table_rows(layout, history, (480, 540))  # the same text size, twice the height
    assert 1 <= small < large <= 12
    assert more_small == [f"… {n - small} more"] and more_large == [f"… {n - large} more"]


def test_a_network_with_batch_norm_gets_its_numbers_in_the_why_layout_and_one_on_the_inputs_is_refused():
    from visualizer import BatchNorm
    from visualizer.draw.panels import BatchNormPanel

    def network(seed, first=False):
        rng = np.random.default_rng(seed)
        front = [BatchNorm(2, name="bn0")] if first else []
        return Network(front + [Dense(2, 3, "identity", name="hidden", rng=rng),
                                BatchNorm(3, activation="relu", name="bn"),
                                Dense(3, 1, "sigmoid", name="output", rng=rng)])
    x = np.random.default_rng(0).normal(size=(8, 2))
    scene = Scene(name="bn", network=network, x=x, y=(x[:, :1] > 0).astype(float), loss="bce",
                  optimizer=SGD(0.1), steps=4, layout=Layout([["loss"]], {"loss": LossPanel()}))
    why = scene.layout_named("why")
    # Its numbers take the landscape's place; the chain rule is written for a weight after the batch norm.
    assert isinstance(why.panels["land"], BatchNormPanel) and why.panels["chain"].param == "output.weight"
    scene = Scene(name="bn", network=lambda seed: network(seed, first=True), x=x, y=(x[:, :1] > 0).astype(float),
                  loss="bce", optimizer=SGD(0.1), steps=4, layout=Layout([["loss"]], {"loss": LossPanel()}))
    with pytest.raises(VisualizerError, match=r"^scene 'bn' has no why layout: batchnorm 'bn0' sits on the inputs") \
            as caught:
        scene.layout_named("why")
    assert "\n" not in str(caught.value)


def _torch_history(loss_label):
    torch = pytest.importorskip("torch")
    from visualizer.torch import TorchRecorder

    torch.manual_seed(0)
    x = torch.linspace(-3, 3, 20, dtype=torch.float64).unsqueeze(1)
    y = torch.sin(x)
    model = torch.nn.Sequential(torch.nn.Linear(1, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    rec = TorchRecorder(model, every=2, total_steps=8, x=x, y=y, loss_label=loss_label, optimizer=opt)
    for step in range(9):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        rec.log(step, loss)
        opt.step()
    return rec.history()


def test_a_pytorch_history_gets_the_why_layout_its_chain_rule_adding_up_to_torchs_gradient(tmp_path):
    from visualizer.run.why import why_for_history

    history = _torch_history("MSE")
    layout, done = why_for_history(history)
    chain = layout.panels["chain"]
    assert (chain.param, tuple(chain.index)) == ("0.weight", (0, 0)) and "main" in layout.panels
    rule, values = chain.terms(done)
    np.testing.assert_allclose(values.prod(axis=-1).sum(axis=(1, 2)), history.grads["0.weight"][:, 0, 0],
                               rtol=1e-9)
    # The whole road, render(history, layout="why") from the command line, is the next test but one.


def test_a_pytorch_history_whose_loss_is_not_the_one_named_is_refused_in_one_line(tmp_path):
    with pytest.raises(VisualizerError, match=r"the loss 'ssr' does not give this history's recorded gradients"):
        render(_torch_history("SSR"), layout="why", format="frames", size=(480, 270), out=tmp_path)
    assert not any(tmp_path.iterdir())


def test_the_command_line_draws_a_saved_pytorch_history_with_the_why_layout(tmp_path, cli):
    path = tmp_path / "sine.npz"
    _torch_history("MSE").save(path)
    code, out, err = cli("render", "--from-history", str(path), "--layout", "why", "--format", "frames",
                         "--size", "480x270", "--out", str(tmp_path), "-q")
    assert (code, err) == (0, "")
    assert len(list((tmp_path / "run-why" / "frames").glob("*.png"))) >= 2


class Empty(ChainRulePanel.__mro__[1]):
    """A panel that draws nothing: room taken from the table."""

    def draw(self, ax, history):
        ax.set_axis_off()
        return lambda i: []


def test_a_narrow_chain_rule_table_leaves_out_the_middle_factors_first_and_nothing_overlaps():
    from visualizer.draw.panels.why import drop_order

    assert drop_order(4) == [2, 1, 3, 0] and drop_order(5) == [2, 3, 1, 4, 0] and drop_order(1) == [0]
    scene = load_scene("gender")
    panel = scene.layout_named("why").panels["chain"]
    history = train(scene, steps=8, every=4, layout=Layout([["chain"]], {"chain": panel}))
    shown = {}
    for width in (900, 200):  # the same text size, the table a fifth as wide beside an empty panel
        layout = Layout([["chain", "empty"]], {"chain": panel, "empty": Empty()}, width_ratios=[width, 920 - width])
        renderer = Renderer(layout, history, size=(920, 300))
        renderer.draw(len(history) - 1)
        ax = renderer._sheet.axes["chain"]
        texts = [t for t in ax.texts if t.get_visible() and t.get_text()]
        boxes = [t.get_window_extent() for t in texts]
        for artist in ax.artists:  # the numbers, drawn per frame
            if hasattr(artist, "extents") and artist.get_visible():
                boxes += [box for _, box in artist.extents()]
        for k, a in enumerate(boxes):  # no two texts share more than a pixel, all inside the panel
            assert ax.bbox.x0 - 1 <= a.x0 and a.x1 <= ax.bbox.x1 + 1
            for b in boxes[k + 1:]:
                assert min(a.x1, b.x1) - max(a.x0, b.x0) <= 1 or min(a.y1, b.y1) - max(a.y0, b.y0) <= 1
        shown[width] = [t.get_text() for t in texts]
        renderer.close()
    factors = ["∂MSE/∂ypred", "∂ypred/∂sum_o1", "∂sum_o1/∂h1", "∂h1/∂sum_h1", "∂sum_h1/∂w1"]
    assert all(f in shown[900] for f in factors) and "⋯" not in shown[900]
    narrow = [f for f in factors if f in shown[200]]
    assert "⋯" in shown[200] and "product" in shown[200]
    assert narrow == [f for f in factors if f not in [factors[k] for k in drop_order(5)[:5 - len(narrow)]]]


def test_the_built_why_layout_explains_a_weight_that_carries_gradient_not_a_dead_units():
    from visualizer.run.why import carrying

    grads = np.zeros((4, 2, 3))
    grads[:, 1, 2] = 1.0  # only w[1,2] ever has a gradient
    grads[:1, 0, 1] = 1.0
    layout = Layout([["chain"]], {"chain": ChainRulePanel("hidden.weight", (0, 0))})
    assert carrying(layout, grads).panels["chain"].index == (1, 2)
    grads[:, 0, 0] = 1.0  # a live first entry stays
    assert carrying(layout, grads).panels["chain"].index == (0, 0)
    # overfit's first ReLU unit of hidden2 starts dead on the training set: its weights' gradient is zero.
    scene = load_scene("overfit")
    chain = scene.layout_named("why").panels["chain"]
    history = train(scene, steps=1, layout=Layout([["loss"]], {"loss": LossPanel()}))
    first = history.grads[chain.param][0]
    assert chain.param == "hidden2.weight" and first[0, 0] == 0 and first[tuple(chain.index)] != 0
