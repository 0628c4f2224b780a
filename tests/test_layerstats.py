"""Per-layer statistics (record/layerstats.py) against direct numpy, δ against central finite differences, the
keys recorded only when a panel asks, the three roads in (scene, DenseModel loop, PyTorch), and the panels."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import numeric_grad
from visualizer import (SGD, BatchNorm, Dense, DenseModel, Dropout, Evaluator, LayerHeatmapPanel, LayerHistogramPanel,
                        LayerStatPanel, LayerStats, Layout, LossPanel, Network, NetworkModel, Recorder, Renderer, Scene,
                        UpdateRatioPanel, get_loss, train)
from visualizer.draw import colours
from visualizer.record.layerstats import Bins, counts, first_step_edges, update_ratio

X = np.linspace(-1.5, 1.5, 7)[:, None] * np.array([[1.0, -0.5]]) + np.array([[0.1, 0.3]])
Y = np.sin(2 * X[:, :1]) + 0.2 * X[:, 1:]
ACTS = ["tanh", "relu", "sigmoid", "identity"]


def _network(seed: int = 0) -> Network:
    rng = np.random.default_rng(seed)
    sizes = [2, 5, 4, 3, 1]
    # Large weights, so the tanh and sigmoid layers have saturated units and the ReLU layer some at zero.
    return Network([Dense(a, b, act, name=f"l{k}", rng=rng, init="normal:1.5")
                    for k, (a, b, act) in enumerate(zip(sizes, sizes[1:], ACTS), 1)])


def _layout(*panels) -> Layout:
    keys = [f"p{k}" for k in range(len(panels))]
    return Layout([keys], dict(zip(keys, panels)))


ALL = _layout(LayerStatPanel("delta_norm"), LayerHistogramPanel("preactivation"), LayerStatPanel("saturated"))


def _numpy_pass(params: dict, x: np.ndarray):
    """z and a of every layer, written out in numpy."""
    fns = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0), "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
           "identity": lambda z: z}
    zs, as_, a = [], [], x
    for k, act in enumerate(ACTS, 1):
        z = a @ params[f"l{k}.weight"] + params[f"l{k}.bias"]
        a = fns[act](z)
        zs.append(z)
        as_.append(a)
    return zs, as_, fns


def _loss_from(k: int, z: np.ndarray, params: dict, fns) -> float:
    """The mean squared error with layer k's (0-based) pre-activation set to ``z``."""
    a = fns[ACTS[k]](z)
    for j in range(k + 1, len(ACTS)):
        a = fns[ACTS[j]](a @ params[f"l{j + 1}.weight"] + params[f"l{j + 1}.bias"])
    return float(np.mean((a - Y) ** 2))


def _assert_histogram(shares, values, edges):
    """``shares`` is numpy's histogram of ``values`` over ``edges`` (values beyond them in the outer bins), but
    for a value within rounding of an inner edge, which may be on either side of it."""
    v = np.clip(values.ravel(), edges[0], edges[-1])
    expected = np.histogram(v, bins=edges)[0]
    on_edge = int((np.abs(v[:, None] - edges[1:-1]) < 1e-12 * (edges[-1] - edges[0])).sum())
    counts = shares * v.size
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    assert np.abs(counts - expected).sum() <= 2 * on_edge + 1e-9


def test_statistics_match_numpy_and_delta_matches_finite_differences():
    net = _network()
    ev = Evaluator(NetworkModel(net), X, Y, ALL, loss="mse")
    params = {k: v.copy() for k, v in net.parameters().items()}
    out = ev(net.parameters())
    zs, as_, fns = _numpy_pass(params, X)
    assert list(ev.static["layers/names"]) == ["l1", "l2", "l3", "l4"]
    assert list(ev.static["layers/activations"]) == ACTS
    for k, (z, a, act) in enumerate(zip(zs, as_, ACTS)):
        name = f"l{k + 1}"
        delta = numeric_grad(lambda: _loss_from(k, z, params, fns), z)  # δ = ∂L/∂z, sample by sample
        assert np.abs(delta).max() > 0
        np.testing.assert_allclose(out[f"layer/{name}/delta_norm"], np.mean(np.abs(delta)), rtol=1e-6)
        d_edges = ev.static[f"layer/{name}/delta_edges"]
        assert d_edges[-1] == pytest.approx(1.5 * np.abs(delta).max(), rel=1e-6) and d_edges[0] == -d_edges[-1]
        assert len(d_edges) == 42  # 41 bins: δ = 0 in the middle of the centre one
        _assert_histogram(out[f"layer/{name}/delta_hist"], delta, d_edges)
        np.testing.assert_allclose(out[f"layer/{name}/act_mean"], a.mean(), rtol=1e-12)
        np.testing.assert_allclose(out[f"layer/{name}/act_std"], a.std(), rtol=1e-12)
        a_edges = ev.static[f"layer/{name}/act_edges"]
        assert len(a_edges) == (42 if act == "identity" else 41)  # an unbounded output: symmetric, as δ
        _assert_histogram(out[f"layer/{name}/act_hist"], a, a_edges)
        z_edges = ev.static[f"layer/{name}/pre_edges"]
        assert z_edges[-1] == pytest.approx(1.5 * np.abs(z).max()) and z_edges[0] == -z_edges[-1]
        _assert_histogram(out[f"layer/{name}/pre_hist"], z, z_edges)
        assert out[f"layer/{name}/act_hist"].sum() == pytest.approx(1.0)
    # The fixed bins: tanh's range, sigmoid's, ReLU from 0 to 1.5 times its largest first-step output.
    assert tuple(ev.static["layer/l1/act_edges"][[0, -1]]) == (-1.0, 1.0)
    assert tuple(ev.static["layer/l3/act_edges"][[0, -1]]) == (0.0, 1.0)
    np.testing.assert_allclose(ev.static["layer/l2/act_edges"][[0, -1]], [0.0, 1.5 * as_[1].max()])
    # Saturation as the courses define it, and ReLU's share at zero.
    sat_tanh = np.mean(np.abs(as_[0]) > 0.97)
    sat_sigmoid = np.mean((as_[2] < 0.03) | (as_[2] > 0.97))
    assert 0 < sat_tanh < 1 and out["layer/l1/saturated"] == pytest.approx(sat_tanh)
    assert out["layer/l3/saturated"] == pytest.approx(sat_sigmoid)
    assert 0 < out["layer/l2/zero"] == pytest.approx(np.mean(as_[1] == 0))
    assert "layer/l2/saturated" not in out and "layer/l4/saturated" not in out and "layer/l1/zero" not in out


def test_a_grown_range_merges_earlier_counts_exactly_onto_the_later_bins():
    rng = np.random.default_rng(3)
    for rule, spread in (({"activation": "relu"}, lambda v: np.abs(v)), ({"symmetric": True}, lambda v: v)):
        first = spread(rng.normal(0.0, 1.0, 500))
        bins = Bins.first(first, 12, **rule)
        early = counts(first, bins)
        assert bins.level == 0 and early.sum() == first.size
        later = spread(rng.normal(0.0, 30.0, 500))  # far outside the first range: it grows more than once
        grown = counts(later, bins)
        assert bins.level >= 2 and grown.sum() == later.size
        lo, hi = bins.range()
        assert lo <= later.min() and later.max() <= hi
        # The first step's counts moved onto the grown bins are what counting its values there gives.
        _assert_histogram(bins.merge(early, 0) / first.size, first, bins.edges())
        np.testing.assert_array_equal(bins.merge(early, 0), counts(first, bins))
    assert np.array_equal(first_step_edges(np.array([0.0, 2.0]), 4, activation="relu"), [0.0, 0.75, 1.5, 2.25, 3.0])
    assert np.array_equal(first_step_edges(np.array([-2.0, 1.0]), 4, symmetric=True), np.linspace(-3, 3, 6))


def test_large_histograms_are_counted_by_the_compiled_loop_as_numpy_counts_them(monkeypatch):
    from visualizer.record import layerstats

    if layerstats._compiled() is None:
        pytest.skip("numba is not installed (or VISUALIZER_NO_JIT is set): numpy counts every histogram")
    rng = np.random.default_rng(5)
    n = layerstats.COMPILED_MIN_VALUES + 7
    wide = rng.normal(0.0, 3.0, n)
    wide[[5, 9, 11]] = [np.nan, np.inf, -np.inf]  # not finite: to the outer bins, as numpy's path puts them
    cases = [(np.abs(rng.normal(0.0, 1.0, n)), {"activation": "relu"}), (wide, {"symmetric": True}),
             (1 / (1 + np.exp(-rng.normal(0.0, 4.0, n))), {"activation": "sigmoid"})]
    for values, rule in cases:
        values[0] = Bins.first(values[1:50], 40, **rule).range()[1]  # one value exactly on the top edge
        first, again = (Bins.first(values[1:50], 40, **rule) for _ in range(2))
        compiled = counts(values, first)
        monkeypatch.setattr(layerstats, "COMPILED_MIN_VALUES", 10 * n)
        np.testing.assert_array_equal(compiled, counts(values, again))
        monkeypatch.undo()
        assert first.level == again.level and compiled.sum() == n


@pytest.fixture(scope="module")
def growing():
    """A ReLU network started from tiny weights, whose activations, pre-activations and δ grow far past their
    first step's range, with the histograms and the heatmap: trained once for several tests."""
    def network(seed):
        rng = np.random.default_rng(seed)
        return Network([Dense(2, 6, "relu", name="hidden", rng=rng, init="normal:0.05"),
                        Dense(6, 1, name="out", rng=rng, init="normal:0.05")])

    layout = Layout([["act", "heat"], ["delta", "pre"]],
                    {"act": LayerHistogramPanel("activation", layers="all"), "heat": LayerHeatmapPanel("hidden"),
                     "delta": LayerHistogramPanel("delta"), "pre": LayerHistogramPanel("preactivation")})
    scene = Scene(name="growing", network=network, x=X, y=3 * Y, loss="mse", optimizer=SGD(0.05), steps=60,
                  every=6, seed=0, layout=layout)
    return scene, train(scene)


def test_every_value_of_every_step_is_on_the_final_bins(growing):
    scene, history = growing
    assert not [k for k in history.extras if k.endswith("_level")]
    net = scene.network(0)
    model = NetworkModel(net)
    grew = set()
    for r in range(len(history)):
        net.set_parameters({k: v[r] for k, v in history.params.items()})
        lp = model.layer_pass(X, 3 * Y, get_loss("mse"))
        for name in ("hidden", "out"):
            for prefix, values in (("act", lp.a[name]), ("pre", lp.z[name]), ("delta", lp.delta[name])):
                edges = history.static[f"layer/{name}/{prefix}_edges"]
                h = history.extras[f"layer/{name}/{prefix}_hist"][r]
                assert edges[0] <= values.min() and values.max() <= edges[-1], (name, prefix, r)
                np.testing.assert_allclose(h.sum() * values.size, values.size)  # no value lost
                _assert_histogram(h, values, edges)
                if r == 0 and not np.array_equal(edges, first_step_edges(
                        values, 40, activation="relu" if (name, prefix) == ("hidden", "act") else "",
                        symmetric=prefix != "act")):
                    grew.add((name, prefix))
    assert {("hidden", "act"), ("hidden", "pre"), ("hidden", "delta")} <= grew  # the test sees ranges grow


def test_the_heatmap_axis_is_the_final_range(growing):
    scene, history = growing
    renderer = Renderer(scene.layout, history, size=(480, 320))
    edges = history.static["layer/hidden/act_edges"]
    assert renderer.axes["heat"].get_ylim() == (edges[0], edges[-1])
    lo, hi = renderer.axes["act"].get_xlim()
    assert lo <= edges[0] and hi >= edges[-1]


def test_keys_are_recorded_only_when_a_panel_asks_and_only_what_it_asks():
    def scene(layout):
        return Scene(name="tiny", network=_network, x=X, y=Y, loss="mse", optimizer=SGD(0.1), steps=3, seed=0,
                     layout=layout)

    plain = train(scene(_layout(LossPanel())))
    assert not any(k.startswith("layer") for k in [*plain.extras, *plain.static])
    only_delta = train(scene(_layout(LayerStatPanel("delta_norm"))))
    layer_keys = {k for k in only_delta.extras if k.startswith("layer/")}
    assert layer_keys == {f"layer/l{k}/{s}" for k in range(1, 5) for s in ("delta_norm", "delta_hist")}
    assert only_delta.extras["layer/l1/delta_norm"].shape == (4,)
    assert only_delta.extras["layer/l1/delta_hist"].shape == (4, 41)
    # A finer histogram asked by one panel wins for the run.
    both = _layout(LayerHistogramPanel("delta", bins=12), LayerHeatmapPanel("l2", "delta", bins=60))
    assert train(scene(both)).extras["layer/l1/delta_hist"].shape == (4, 61)


def test_a_saved_history_holds_the_statistics_for_plain_numpy(tmp_path):
    scene = Scene(name="tiny", network=_network, x=X, y=Y, loss="mse", optimizer=SGD(0.1), steps=3, seed=0,
                  layout=ALL)
    path = train(scene).save(tmp_path / "history.npz")
    with np.load(path) as data:
        assert data["extra/layer/l3/saturated"].shape == (4,)
        assert data["static/layer/l3/act_edges"].shape == (41,)
        assert list(data["static/layers/names"]) == ["l1", "l2", "l3", "l4"]


def test_a_from_scratch_loop_with_dense_model_records_the_same_statistics():
    net = _network()
    params = {k: v.copy() for k, v in net.parameters().items()}
    own = Evaluator(NetworkModel(net), X, Y, ALL, loss="mse")(net.parameters())
    model = DenseModel([(f"l{k}.weight", act, f"l{k}.bias", f"l{k}") for k, act in enumerate(ACTS, 1)])
    rec = Recorder(evaluator=Evaluator(model, X, Y, ALL, loss="mse"), total_steps=0)
    rec.log(0, params=params, grads={}, loss=0.0)
    history = rec.history()
    kept = {k: v for k, v in own.items() if not k.endswith("_level")}  # which bins a row was counted on
    assert set(kept) == {k for k in history.extras if k.startswith("layer/")}
    for key, value in kept.items():
        np.testing.assert_allclose(history.extras[key][0], value, rtol=1e-12, atol=1e-15)


def test_a_scene_reads_the_training_steps_own_full_set_pass_and_gets_the_same_numbers(monkeypatch):
    lent = []
    own = NetworkModel._lent_pass

    def spy(self, x, y, loss):
        found = own(self, x, y, loss)
        lent.append(found is not None)
        return found

    monkeypatch.setattr(NetworkModel, "_lent_pass", spy)
    scene = Scene(name="tiny", network=_network, x=X, y=Y, loss="mse", optimizer=SGD(0.1), steps=6, every=2, seed=0,
                  layout=ALL)
    history = train(scene)
    assert lent.count(True) == len(history)  # every recorded row (the check before training has none to read)
    net = _network()
    for r in range(len(history)):
        net.set_parameters({k: v[r] for k, v in history.params.items()})
        again = Evaluator(NetworkModel(net), X, Y, ALL, loss="mse")(net.parameters())  # its own pass
        for key, value in again.items():  # the histograms: on the run's bins, checked in the tests above
            if not key.endswith("_level") and not key.endswith("_hist"):
                np.testing.assert_array_equal(history.extras[key][r], value, err_msg=key)


def _bn_network(seed: int = 0) -> Network:
    rng = np.random.default_rng(seed)
    return Network([Dense(2, 4, "identity", bias=False, name="lin", rng=rng), BatchNorm(4, "tanh", name="bn"),
                    Dropout(0.5, rng=rng, name="drop"), Dense(4, 1, "identity", name="out", rng=rng)])


def test_batch_norm_and_dropout_layers_are_measured_in_evaluation_mode_without_touching_gradients():
    net = _bn_network()
    loss = get_loss("mse")
    net.forward(X)  # one training pass moves the running statistics off their start
    bn = net.layers[1]
    bn.running_mean[:] = [0.1, -0.2, 0.3, 0.0]
    bn.running_var[:] = [0.5, 2.0, 1.0, 0.8]
    net.backward(loss.grad(net.forward(X), Y))
    grads = {k: v.copy() for k, v in net.gradients().items()}
    lp = NetworkModel(net).layer_pass(X, Y, loss)
    assert lp.names == ["lin", "bn", "out"] and lp.activation["bn"] == "tanh"
    for k, v in net.gradients().items():
        np.testing.assert_array_equal(v, grads[k])  # the optimizer's gradient arrays kept their values
    p = {k: v.copy() for k, v in net.parameters().items()}

    def after_bn(z):  # the evaluation-mode network from batch norm's pre-activation on
        return float(np.mean((np.tanh(z) @ p["out.weight"] + p["out.bias"] - Y) ** 2))

    z_lin = X @ p["lin.weight"]
    z_bn = (z_lin - bn.running_mean) / np.sqrt(bn.running_var + bn.eps) * p["bn.weight"] + p["bn.bias"]
    np.testing.assert_allclose(lp.z["bn"], z_bn, rtol=1e-12)
    zb = z_bn.copy()
    np.testing.assert_allclose(lp.delta["bn"], numeric_grad(lambda: after_bn(zb), zb), rtol=1e-6, atol=1e-10)
    z = z_lin.copy()
    scale = p["bn.weight"] / np.sqrt(bn.running_var + bn.eps)
    lin_loss = lambda: after_bn((z - bn.running_mean) * scale + p["bn.bias"])  # noqa: E731
    np.testing.assert_allclose(lp.delta["lin"], numeric_grad(lin_loss, z), rtol=1e-6, atol=1e-10)


def test_the_update_ratio_is_the_mean_update_per_step_between_recorded_rows():
    scene = Scene(name="tiny", network=_network, x=X, y=Y, loss="mse", optimizer=SGD(0.1), steps=6, every=3,
                  seed=0, layout=_layout(UpdateRatioPanel()))
    history = train(scene)
    s, w = history.steps, history.params["l2.weight"]
    assert 3 in s and 6 in s and len(s) >= 3
    expected = [np.log10(np.linalg.norm(w[r] - w[r - 1]) / ((s[r] - s[r - 1]) * np.linalg.norm(w[r - 1])))
                for r in range(1, len(s))]
    ratio = update_ratio(history, "l2.weight")
    assert np.isnan(ratio[0])
    np.testing.assert_allclose(ratio[1:], expected, rtol=1e-12)


@pytest.fixture(scope="module")
def deep_sigmoid():
    """A 1-8-8-8-8-1 sigmoid network fitting a sine, with all four panels: rendered once for several tests."""
    x = np.linspace(-2, 2, 24)

    def network(seed):
        rng = np.random.default_rng(seed)
        sizes = [1, 8, 8, 8, 8]
        hidden = [Dense(a, b, "sigmoid", name=f"hidden{k}", rng=rng) for k, (a, b) in enumerate(zip(sizes, sizes[1:]), 1)]
        return Network(hidden + [Dense(8, 1, name="output", rng=rng)])

    layout = Layout([["delta", "ratio"], ["hist", "heat"]],
                    {"delta": LayerStatPanel("delta_norm"), "ratio": UpdateRatioPanel(),
                     "hist": LayerHistogramPanel("activation"), "heat": LayerHeatmapPanel("hidden1")})
    scene = Scene(name="deep", network=network, x=x, y=np.sin(2 * x), loss="mse", optimizer=SGD(0.5), steps=40,
                  every=10, seed=0, layout=layout)
    history = train(scene)
    return scene, history, Renderer(layout, history, size=(640, 360))


def test_the_deep_sigmoid_network_shows_the_first_layer_learning_slowest(deep_sigmoid):
    _, history, _ = deep_sigmoid
    first, last = history.extras["layer/hidden1/delta_norm"], history.extras["layer/hidden4/delta_norm"]
    assert (last / first > 5).all()  # Nielsen's picture: the gradient shrinks layer by layer towards the input


def test_the_panels_draw_follow_the_step_and_keep_their_scales(deep_sigmoid):
    _, history, renderer = deep_sigmoid
    axes = renderer.axes
    limits = {k: (ax.get_xlim(), ax.get_ylim()) for k, ax in axes.items()}
    first, last = renderer.draw(0), renderer.draw(len(history) - 1)
    for k, ax in axes.items():
        x0, y0, x1, y1 = (int(v) for v in ax.get_window_extent().extents)
        crop = lambda img: img[360 - y1: 360 - y0, x0:x1]  # noqa: E731
        assert (crop(first) != crop(last)).any(), f"{k} did not change"
        assert (ax.get_xlim(), ax.get_ylim()) == limits[k]
    assert axes["delta"].get_yscale() == "log"
    labels = [t.get_text() for t in axes["delta"].get_legend().get_texts()]
    assert labels == [f"h{k} (sigmoid)" for k in range(1, 5)]  # the hidden layers, named as the diagram heads them
    ratio_lines = {ln.get_label(): ln for ln in axes["ratio"].get_lines()}
    guide = [ln for ln in axes["ratio"].get_lines() if set(ln.get_ydata()) == {-3.0}]
    assert guide, "the update:data ratio has its guide line at -3"
    # One colour per layer in every panel.
    delta_colours = {t.get_text().split(" ")[0]: h.get_color()
                     for t, h in zip(axes["delta"].get_legend().get_texts(), axes["delta"].get_legend().legend_handles)}
    hist_colours = {t.get_text().split(" ")[0]: h.get_color()
                    for t, h in zip(axes["hist"].get_legend().get_texts(), axes["hist"].get_legend().legend_handles)}
    assert delta_colours == hist_colours and len(set(delta_colours.values())) == 4
    # The layer role, darker with depth (not the runs' palette, which a comparison puts beside these panels).
    shades = [colours.LAYER_COLORS.index(delta_colours[f"h{k}"]) for k in range(1, 5)]
    assert shades == sorted(shades) and len(set(shades)) == 4
    assert {c for c in delta_colours.values()}.isdisjoint(colours.RUN_COLORS)
    assert "hidden1.weight" in {t.get_text() for t in axes["ratio"].get_legend().get_texts()}
    assert ratio_lines


def test_panel_settings_and_missing_statistics_are_explained():
    with pytest.raises(ValueError, match="stat must be one of"):
        LayerStatPanel("speed")
    with pytest.raises(ValueError, match="kind must be one of"):
        LayerHistogramPanel("weights")
    with pytest.raises(ValueError, match="kinds must be among"):
        LayerStats(frozenset({"gradient"}))
    with pytest.raises(ValueError, match="layers must be None"):
        LayerStatPanel(layers="hidden1")
    scene = Scene(name="tiny", network=_network, x=X, y=Y, loss="mse", optimizer=SGD(0.1), steps=2, seed=0,
                  layout=_layout(LayerStatPanel("delta_norm", layers=["l1", "nope"])))
    history = train(scene)
    with pytest.raises(ValueError, match="no layer 'nope'"):
        Renderer(scene.layout, history, size=(320, 180))
    with pytest.raises(ValueError, match="needs the training loss"):
        Evaluator(NetworkModel(_network()), X, Y, _layout(LayerStatPanel()))(_network().parameters())


def test_a_pytorch_sequential_gives_the_same_statistics_with_autograd_deltas():
    torch = pytest.importorskip("torch")
    from visualizer.torch import TorchModel

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3), torch.nn.Sigmoid(),
                                 torch.nn.Linear(3, 1)).double()
    ev = Evaluator(TorchModel(module), X, Y, ALL, loss="mse")
    out = ev(TorchModel(module).parameters())
    xt, yt = torch.tensor(X), torch.tensor(Y)
    z1 = module[0](xt)
    z1.retain_grad()
    z2 = module[2](torch.tanh(z1))
    z2.retain_grad()
    z3 = module[4](torch.sigmoid(z2))
    z3.retain_grad()
    torch.mean((z3 - yt) ** 2).backward()
    for name, z, act in (("0", z1, torch.tanh), ("2", z2, torch.sigmoid)):
        np.testing.assert_allclose(out[f"layer/{name}/delta_norm"], z.grad.abs().mean().item(), rtol=1e-10)
        a = act(z).detach().numpy()
        np.testing.assert_allclose(out[f"layer/{name}/act_mean"], a.mean(), rtol=1e-12)
    np.testing.assert_allclose(out["layer/4/delta_norm"], z3.grad.abs().mean().item(), rtol=1e-10)
    assert out["layer/0/saturated"] == pytest.approx(np.mean(np.abs(torch.tanh(z1).detach().numpy()) > 0.97))


def test_an_adapter_with_layers_the_dense_pass_cannot_go_through_must_give_its_own_layer_pass():
    class WithNorm(DenseModel):
        def other_layers(self):
            return [{"kind": "batchnorm", "name": "bn", "after": "layer1"}]

    model = WithNorm([("w", "tanh")])
    ev = Evaluator(model, X, Y, _layout(LayerHistogramPanel("activation")))
    with pytest.raises(ValueError, match="layer_pass"):
        ev({"w": np.ones((2, 1))})
