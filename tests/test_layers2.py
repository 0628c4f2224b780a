"""The second lecture's engine: initialization by name, leaky ReLU and GELU, batch norm and dropout, each
checked against its formula, central finite differences and PyTorch (float64, to 1e-10)."""
from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest

from visualizer import Dense, Network, VisualizerError, get_activation, get_loss
from visualizer.engine import kernels
from visualizer.engine.init import get_init
from visualizer.engine.optim import SGD

torch = pytest.importorskip("torch")
F = torch.nn.functional

# ---- initialization ----


def test_the_default_draw_is_glorot_uniform_from_the_layers_generator_as_before():
    # Pinned: the bundled scenes' histories depend on exactly these numbers.
    w = Dense(3, 5, "tanh", rng=np.random.default_rng(7)).weight
    limit = np.sqrt(6.0 / (3 + 5))
    np.testing.assert_array_equal(w, np.random.default_rng(7).uniform(-limit, limit, size=(3, 5)))
    for name in ("xavier", "glorot", "xavier_uniform"):
        np.testing.assert_array_equal(Dense(3, 5, "tanh", rng=np.random.default_rng(7), init=name).weight, w)


BIG = (400, 600)  # fan-in, fan-out: 240,000 draws, so the sample std is within 0.5% of the formula


@pytest.mark.parametrize("spec, activation, uniform, size", [
    ("xavier", "tanh", True, math.sqrt(6 / (BIG[0] + BIG[1]))),
    ("xavier_normal", "tanh", False, math.sqrt(2 / (BIG[0] + BIG[1]))),
    ("he", "relu", False, math.sqrt(2) / math.sqrt(BIG[0])),
    ("kaiming", "tanh", False, (5 / 3) / math.sqrt(BIG[0])),
    ("he_uniform", "relu", True, math.sqrt(2) * math.sqrt(3 / BIG[0])),
    ("he", "leaky_relu:0.2", False, math.sqrt(2 / (1 + 0.04)) / math.sqrt(BIG[0])),
    ("he", "sigmoid", False, 1 / math.sqrt(BIG[0])),
    ("normal:0.05", "relu", False, 0.05),
    ("uniform:0.3", "relu", True, 0.3),
])
def test_each_initialization_draws_with_its_formula(spec, activation, uniform, size):
    w = Dense(*BIG, activation, rng=np.random.default_rng(3), init=spec).weight
    assert abs(w.mean()) < 0.01 * size
    if uniform:  # U(-b, b): inside the bound, reaching close to it, std b/√3
        assert np.abs(w).max() <= size and np.abs(w).max() > 0.999 * size
        assert w.std() == pytest.approx(size / math.sqrt(3), rel=0.005)
    else:
        assert w.std() == pytest.approx(size, rel=0.005)
        assert np.abs(w).max() > 3.5 * size  # a normal's tails, not a uniform's wall


@pytest.mark.parametrize("name, torch_name, param", [
    ("identity", "linear", None), ("sigmoid", "sigmoid", None), ("tanh", "tanh", None), ("relu", "relu", None),
    ("leaky_relu", "leaky_relu", None), ("leaky_relu:0.2", "leaky_relu", 0.2),
])
def test_gains_are_torchs(name, torch_name, param):
    assert get_activation(name).gain == pytest.approx(torch.nn.init.calculate_gain(torch_name, param), rel=1e-15)


@pytest.mark.parametrize("spec, torch_init", [
    ("xavier", lambda t, g: torch.nn.init.xavier_uniform_(t)),
    ("xavier_normal", lambda t, g: torch.nn.init.xavier_normal_(t)),
    ("he", lambda t, g: torch.nn.init.kaiming_normal_(t, nonlinearity="relu")),
    ("he_uniform", lambda t, g: torch.nn.init.kaiming_uniform_(t, nonlinearity="relu")),
])
def test_initializations_match_torch_nn_init(spec, torch_init):
    # torch's Linear weight is (outputs, inputs): the same fans as ours (inputs, outputs).
    torch.manual_seed(0)
    theirs = torch_init(torch.empty(BIG[1], BIG[0], dtype=torch.float64), None).numpy()
    ours = Dense(*BIG, "relu", rng=np.random.default_rng(0), init=spec).weight
    assert ours.std() == pytest.approx(theirs.std(), rel=0.01)
    assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=0.02 if spec.endswith("uniform") or
                                               spec == "xavier" else 0.25)
    if spec in ("xavier", "he_uniform"):  # the same bound exactly: both stay inside it
        bound = get_init(spec).bound_or_std(*BIG, get_activation("relu").gain)
        assert np.abs(theirs).max() <= bound and np.abs(ours).max() <= bound


def test_zeros_need_no_generator_and_leave_every_unit_alike():
    layer = Dense(2, 4, "tanh", init="zeros")
    assert not layer.weight.any() and not layer.bias.any()


def test_a_network_init_redraws_the_default_layers_and_keeps_chosen_or_given_ones():
    rng = np.random.default_rng(1)
    given = np.full((8, 8), 0.25)
    layers = [Dense(2, 8, "relu", name="a", rng=rng), Dense(8, 8, "relu", name="b", weight=given),
              Dense(8, 8, "tanh", name="c", rng=rng, init="zeros"), Dense(8, 1, name="out", rng=rng)]
    before = layers[0].weight
    net = Network(layers, init="he")
    assert net.layers[0].weight is before  # redrawn in place: the parameter arrays stay the same objects
    assert layers[0].init.kind == "kaiming_normal" and layers[3].init.kind == "kaiming_normal"
    np.testing.assert_array_equal(layers[1].weight, given)
    assert not layers[2].weight.any()
    # The same factory run twice draws the same numbers.
    rng2 = np.random.default_rng(1)
    again = Network([Dense(2, 8, "relu", name="a", rng=rng2), Dense(8, 1, name="out", rng=rng2)], init="he")
    rng3 = np.random.default_rng(1)
    same = Network([Dense(2, 8, "relu", name="a", rng=rng3), Dense(8, 1, name="out", rng=rng3)], init="he")
    np.testing.assert_array_equal(again.layers[0].weight, same.layers[0].weight)


@pytest.mark.parametrize("spec, message", [
    ("lecun", "unknown init 'lecun'"), ("normal", "needs its scale"), ("normal:-1", "positive"),
    ("he:2", "takes no number"), ("uniform:abc", "needs its scale"),
])
def test_a_bad_init_is_one_clear_line(spec, message):
    with pytest.raises(VisualizerError, match=message) as info:
        Dense(2, 3, rng=np.random.default_rng(0), init=spec)
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


# ---- activations ----

@pytest.mark.parametrize("name, theirs", [
    ("leaky_relu", lambda z: F.leaky_relu(z)),  # slope 0.01, PyTorch's default
    ("leaky_relu:0.2", lambda z: F.leaky_relu(z, 0.2)),
    ("gelu", lambda z: F.gelu(z)),  # the exact erf form, PyTorch's default
])
def test_new_activations_match_torch_forward_and_backward(name, theirs):
    z = np.concatenate([np.random.default_rng(5).normal(0, 3, 500), [-40.0, -6.0, -1e-8, 1e-8, 6.0, 40.0]])
    act = get_activation(name)
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    out = theirs(zt)
    out.backward(torch.ones_like(zt))
    np.testing.assert_allclose(act.fn(z), out.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(act.deriv(z), zt.grad.numpy(), rtol=0, atol=1e-10)
    # And its derivative is its function's: central differences away from leaky ReLU's kink.
    zf = z[np.abs(z) > 1e-3]
    eps = 1e-6
    np.testing.assert_allclose(act.deriv(zf), (act.fn(zf + eps) - act.fn(zf - eps)) / (2 * eps), rtol=1e-6, atol=1e-8)


def test_an_unknown_activation_is_one_clear_line():
    for bad in ("swish", "leaky_relu:abc", "leaky_relu:1.5"):
        with pytest.raises(VisualizerError) as info:
            Dense(2, 3, bad, rng=np.random.default_rng(0))
        assert "\n" not in str(info.value) and isinstance(info.value, ValueError)


def _net(activation):
    rng = np.random.default_rng(0)
    return Network([Dense(1, 4, activation, name="h", rng=rng), Dense(4, 1, name="out", rng=rng)])


def test_kernels_leave_the_new_activations_to_the_loop_and_training_works():
    loss, opt = get_loss("mse"), SGD(0.05)
    assert kernels.plan_for(_net("relu"), loss, opt, batch_size=1, steps=100) is not None
    for name in ("leaky_relu", "leaky_relu:0.2", "gelu"):
        net = _net(name)
        assert kernels.plan_for(net, loss, opt, batch_size=1, steps=100) is None
        from visualizer import Trainer

        x = np.linspace(-1, 1, 20)[:, None]
        y = x ** 2
        before = loss.value(net.forward(x), y)
        Trainer(net, x, y, loss, SGD(0.05), 300, batch_size=1, hook_every=50).run()
        assert loss.value(net.forward(x), y) < before


# ---- batch norm and dropout ----

from conftest import numeric_grad  # noqa: E402
from visualizer import Trainer  # noqa: E402
from visualizer.engine.norm import BatchNorm, Dropout  # noqa: E402
from visualizer.engine.training import TrainState, log_full_set  # noqa: E402
from visualizer.record.history import Recorder  # noqa: E402


def _torch_bn(ours: BatchNorm):
    bn = torch.nn.BatchNorm1d(ours.n_in, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(ours.weight))
        bn.bias.copy_(torch.tensor(ours.bias))
    return bn


def _against_torch(ours, theirs, x, g):
    """Forward and backward through both; returns (ours: y, dx; theirs: y, dx) as numpy."""
    y = ours.forward(x)
    dx = ours.backward(g)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    yt.backward(torch.tensor(g))
    return y, dx, yt.detach().numpy(), xt.grad.numpy()


def test_batch_norm_matches_torch_in_training_then_in_evaluation():
    rng = np.random.default_rng(11)
    ours = BatchNorm(4)
    ours.weight[:] = rng.normal(1, 0.3, 4)
    ours.bias[:] = rng.normal(0, 0.3, 4)
    theirs = _torch_bn(ours)
    for batch in range(3):  # the running statistics follow PyTorch's momentum batch after batch
        x = rng.normal(2.0, 3.0, size=(7, 4)) * np.array([1, 10, 0.1, 1])
        g = rng.normal(size=(7, 4))
        theirs.zero_grad()
        y, dx, yt, dxt = _against_torch(ours, theirs, x, g)
        np.testing.assert_allclose(y, yt, rtol=0, atol=1e-10)
        np.testing.assert_allclose(dx, dxt, rtol=0, atol=1e-10)
        np.testing.assert_allclose(ours.grads["weight"], theirs.weight.grad.numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(ours.grads["bias"], theirs.bias.grad.numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=0, atol=1e-10)
    ours.training = False
    theirs.eval()
    theirs.zero_grad()
    x, g = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    keep = ours.running_mean.copy()
    y, dx, yt, dxt = _against_torch(ours, theirs, x, g)
    np.testing.assert_allclose(y, yt, rtol=0, atol=1e-10)
    np.testing.assert_allclose(dx, dxt, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours.grads["weight"], theirs.weight.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(ours.running_mean, keep)  # evaluating never moves the statistics


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradients_match_central_differences(training):
    rng = np.random.default_rng(12)
    bn = BatchNorm(3)
    bn.weight[:] = rng.normal(1, 0.3, 3)
    bn.bias[:] = rng.normal(0, 0.3, 3)
    bn.running_mean[:] = rng.normal(size=3)
    bn.running_var[:] = rng.uniform(0.5, 2, 3)
    bn.training = training
    x, g = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))

    def loss():
        return float((g * bn.forward(x)).sum())

    bn.forward(x)
    dx = bn.backward(g)
    dgamma, dbeta = bn.grads["weight"].copy(), bn.grads["bias"].copy()
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dgamma, numeric_grad(loss, bn.weight), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dbeta, numeric_grad(loss, bn.bias), rtol=1e-6, atol=1e-8)


def test_dropout_matches_torch_with_the_same_mask_and_central_differences():
    p = 0.3
    x = np.random.default_rng(13).normal(size=(50, 6))
    g = np.random.default_rng(14).normal(size=(50, 6))
    torch.manual_seed(5)
    torch_mask = F.dropout(torch.ones(50, 6, dtype=torch.float64), p, training=True).numpy()
    assert set(np.unique(torch_mask)) == {0.0, 1 / (1 - p)}
    drop = Dropout(p, rng=np.random.default_rng(0))
    y = drop.forward(x, mask=torch_mask)
    dx = drop.backward(g)
    torch.manual_seed(5)  # the same draw again: the same mask
    xt = torch.tensor(x, requires_grad=True)
    yt = F.dropout(xt, p, training=True)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(dx, numeric_grad(lambda: float((g * drop.forward(x, mask=torch_mask)).sum()), x),
                               rtol=1e-6, atol=1e-8)


def test_dropout_keeps_one_minus_p_scaled_up_and_passes_everything_when_evaluating():
    drop = Dropout(0.25, rng=np.random.default_rng(3))
    x = np.ones((400, 50))
    y = drop.forward(x)
    kept = y != 0
    assert kept.mean() == pytest.approx(0.75, abs=0.01)
    np.testing.assert_allclose(y[kept], 1 / 0.75)
    assert y.mean() == pytest.approx(1.0, abs=0.02)  # inverted: the expected output is the input
    drop.training = False
    assert drop.forward(x) is not None and np.array_equal(drop.forward(x), x)
    # Masks come from the generator it was given: the same seed, the same masks.
    again = Dropout(0.25, rng=np.random.default_rng(3)).forward(x)
    np.testing.assert_array_equal(again, y)


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5, "half"])
def test_dropout_outside_zero_one_is_one_clear_line(p):
    with pytest.raises(VisualizerError, match=r"\[0, 1\)") as info:
        Dropout(p, rng=np.random.default_rng(0))
    assert "\n" not in str(info.value)


def test_batch_norm_refuses_a_training_batch_of_one_but_evaluates_one():
    bn = BatchNorm(3)
    with pytest.raises(VisualizerError, match="batch of one") as info:
        bn.forward(np.ones((1, 3)))
    assert "\n" not in str(info.value)
    bn.training = False
    assert bn.forward(np.ones((1, 3))).shape == (1, 3)


def _bn_net(seed=0, p=0.0):
    rng = np.random.default_rng(seed)
    layers = [Dense(2, 5, "tanh", name="h1", rng=rng), BatchNorm(5, name="bn"),
              Dense(5, 5, "relu", name="h2", rng=rng)]
    if p:
        layers.append(Dropout(p, rng=np.random.default_rng(99), name="drop"))
    return Network(layers + [Dense(5, 1, name="out", rng=rng)], init="he")


def _torch_linear(lay: Dense):
    m = torch.nn.Linear(lay.n_in, lay.n_out, bias=lay.bias is not None, dtype=torch.float64)
    with torch.no_grad():
        m.weight.copy_(torch.tensor(lay.weight.T))
        if lay.bias is not None:
            m.bias.copy_(torch.tensor(lay.bias))
    return m


def _same_as_torch(net, seq, pairs, x, y, modes):
    """Forward and backward through ``net`` and the torch ``seq`` in each mode: the outputs and every
    parameter's gradient agree to 1e-10 (``pairs``: each of our layers with its torch module)."""
    loss = get_loss("mse")
    for mode in modes:
        net.train(mode)
        seq.train(mode)
        seq.zero_grad()
        out = net.forward(x)
        net.backward(loss.grad(out, y))
        out_t = seq(torch.tensor(x))
        torch.nn.functional.mse_loss(out_t, torch.tensor(y)).backward()
        np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=0, atol=1e-10)
        grads = net.gradients()
        for ours, theirs in pairs:
            for short in ours.params():
                g = getattr(theirs, short).grad.numpy()
                expected = g.T if isinstance(ours, Dense) and short == "weight" else g
                np.testing.assert_allclose(grads[f"{ours.name}.{short}"], expected, rtol=0, atol=1e-10,
                                           err_msg=f"{ours.name}.{short}, training={mode}")


def test_a_network_with_batch_norm_matches_torch_sequential_in_both_modes():
    net = _bn_net()
    x, y = np.random.default_rng(1).normal(size=(9, 2)), np.random.default_rng(2).normal(size=(9, 1))
    h1, bn, h2, out = net.layers
    pairs = [(h1, _torch_linear(h1)), (bn, _torch_bn(bn)), (h2, _torch_linear(h2)), (out, _torch_linear(out))]
    seq = torch.nn.Sequential(pairs[0][1], torch.nn.Tanh(), pairs[1][1], pairs[2][1], torch.nn.ReLU(), pairs[3][1])
    _same_as_torch(net, seq, pairs, x, y, (True, True, False))
    np.testing.assert_allclose(bn.running_var, pairs[1][1].running_var.numpy(), rtol=0, atol=1e-10)


def test_network_gradients_through_batch_norm_and_a_fixed_dropout_mask_match_central_differences():
    net = _bn_net(p=0.4)
    drop = net.layers[3]
    x, y = np.random.default_rng(1).normal(size=(8, 2)), np.random.default_rng(2).normal(size=(8, 1))
    loss = get_loss("mse")

    def value():
        drop.rng = np.random.default_rng(7)  # the same mask at every evaluation
        return loss.value(net.forward(x), y)

    value()
    assert drop.mask is not None and (drop.mask == 0).any()
    net.backward(loss.grad(net.layers[-1]._cache.a, y))  # from the forward pass value() just made
    grads = {k: v.copy() for k, v in net.gradients().items()}
    for name, param in net.parameters().items():
        np.testing.assert_allclose(grads[name], numeric_grad(value, param), rtol=1e-5, atol=1e-8, err_msg=name)


def test_training_trains_in_training_mode_and_records_in_evaluation_mode():
    net = _bn_net(p=0.3)
    x = np.random.default_rng(4).normal(size=(40, 2))
    y = np.sin(x[:, :1]) + x[:, 1:] ** 2
    loss = get_loss("mse")
    recorded = []

    def hook(state):
        bn = net.layers[1]
        stats = bn.running_mean.copy()
        recorder = Recorder(every=1, total_steps=1)
        log_full_set(recorder, TrainState(0, 1, net, loss, x, y))
        recorded.append(recorder.history().losses["train"][0])
        assert net.training  # put back for the next update
        np.testing.assert_array_equal(bn.running_mean, stats)  # recording never moves the statistics
        net.eval()
        expected = loss.value(net.forward(x), y)  # the full-set loss of the network as it is used
        net.train()
        assert recorded[-1] == pytest.approx(expected, rel=1e-12)

    trainer = Trainer(net, x, y, loss, SGD(0.05), 30, batch_size=10, shuffle=True, rng=np.random.default_rng(0))
    trainer.add_hook("step", hook)
    net.eval()  # the trainer puts it back into training mode itself
    trainer.run()
    assert net.layers[1].batches_seen == 30
    assert recorded[-1] < recorded[0]


# ---- scenes with batch norm and dropout, through the command line ----

NORM_SCENE = """
    import numpy as np
    from visualizer import (SGD, AccuracyPanel, BatchNorm, DecisionBoundaryPanel, Dense, Dropout, Layout,
                            LossPanel, Network, NetworkDiagramPanel, Scene)
    from visualizer.datasets import moons

    X, Y = moons(60, noise=0.1, seed=0)

    def network(seed):
        rng = np.random.default_rng(seed)
        return Network([Dense(2, 6, "relu", name="hidden1", rng=rng), BatchNorm(6, name="bn1"),
                        Dropout({p}, rng=rng, name="drop"), Dense(6, 6, "{activation}", name="hidden2", rng=rng),
                        Dense(6, 1, name="output", rng=rng)], init="{init}")

    layout = Layout([["map", "net"], ["loss", "acc"]],
                    {{"map": DecisionBoundaryPanel(resolution=24), "net": NetworkDiagramPanel({diagram}),
                     "loss": LossPanel(), "acc": AccuracyPanel()}})
    scene = Scene(name="norm", network=network, x=X, y=Y, loss="bce", optimizer=SGD(0.1), steps=20, every=5,
                  batch_size={batch}, shuffle=True, seed=3, layout=layout, test_fraction=0.25)
"""
NORM_DEFAULTS = dict(p=0.2, activation="relu", init="he", diagram="", batch=12)


def test_a_scene_with_batch_norm_and_dropout_renders_through_the_cli(tmp_path, cli):
    path = tmp_path / "norm_scene.py"
    path.write_text(textwrap.dedent(NORM_SCENE.format(**NORM_DEFAULTS)))
    code, _, err = cli("render", str(path), "--out", str(tmp_path / "out"), "--size", "320x180",
                       "--format", "frames,mp4", "--pace", "steps")  # in this process: the command's own path
    assert code == 0, err
    folder = tmp_path / "out" / "norm"
    frames = sorted((folder / "frames").glob("*.png"))
    assert len(frames) == 5  # steps 0, 5, 10, 15, 20
    import imageio.v3 as iio

    video = iio.imread(folder / "norm.mp4")
    assert video.shape[0] == 5 and video.shape[1:3] == (180, 320)
    from visualizer import History

    history = History.load(folder / "history.npz")
    assert [d["kind"] for d in history.info.other_layers] == ["batchnorm", "dropout"]
    assert history.info.other_layers[1] == {"kind": "dropout", "name": "drop", "after": "hidden1", "p": 0.2}
    assert [lay.name for lay in history.info.layers] == ["hidden1", "hidden2", "output"]
    assert {"bn1.weight", "bn1.bias"} <= set(history.params)
    # The diagram draws the dense layers and names the others above the gap where they sit.
    from matplotlib.figure import Figure
    from visualizer import NetworkDiagramPanel

    ax = Figure().add_subplot()
    NetworkDiagramPanel().draw(ax, history)
    marks = [t for t in ax.texts if "batch norm" in t.get_text()]
    assert len(marks) == 1 and marks[0].get_text() == "batch norm\ndropout p=0.2"
    assert marks[0].xy[0] == 1.5  # (a point the box sits over) between hidden1's column (1) and hidden2's (2)
    assert np.isfinite(history.losses["train"]).all() and np.isfinite(history.losses["test"]).all()


@pytest.mark.parametrize("settings, message", [
    (dict(batch=1), "batch norm 'bn1' cannot train on a batch of one sample"),
    (dict(p=1.0), "dropout 'drop': p is the probability of dropping a unit and must be in [0, 1), got 1.0"),
    (dict(init="lecun"), "unknown init 'lecun'"),
    (dict(activation="swish"), "unknown activation 'swish'"),
])
def test_bad_layer_settings_are_one_clear_line_exit_2_and_write_nothing(cli, tmp_path, settings, message):
    path = tmp_path / "norm_scene.py"
    path.write_text(textwrap.dedent(NORM_SCENE.format(**{**NORM_DEFAULTS, **settings})))
    code, _, err = cli("render", str(path), "--out", str(tmp_path / "out"), "--size", "320x180")
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("visualizer: error: ") and message in lines[0], err
    assert not (tmp_path / "out").exists()


def test_batch_norm_may_come_first_and_the_adapter_describes_where_each_layer_sits():
    from visualizer import NetworkModel
    from visualizer.record.model import describe_other_layer

    rng = np.random.default_rng(0)
    net = Network([BatchNorm(2, name="bn0"), Dense(2, 3, "relu", name="h", rng=rng),
                   Dropout(0.5, rng=rng, name="drop"), Dense(3, 1, name="out", rng=rng)])
    model = NetworkModel(net)
    assert [lay.name for lay in model.layers()] == ["h", "out"]
    assert [describe_other_layer(d) for d in model.other_layers()] == [
        "batch norm 'bn0' on the inputs", "dropout 'drop' (p=0.5) after 'h'"]
    x = np.random.default_rng(1).normal(5.0, 2.0, size=(20, 2))
    # The adapter evaluates (running statistics, nothing dropped): the same output twice, the mode kept.
    first = model.forward(x)
    np.testing.assert_array_equal(model.forward(x), first)
    assert net.training and net.layers[0].batches_seen == 0
    with pytest.raises(ValueError, match="has 3 outputs but 'bad' expects 2"):
        Network([Dense(2, 3, name="h", rng=rng), BatchNorm(2, name="bad")])


def test_batch_norm_before_the_nonlinearity_matches_linear_batchnorm_tanh_in_torch():
    rng = np.random.default_rng(21)
    dense = Dense(3, 4, "identity", name="h", bias=False, rng=rng, init="normal:3.0")  # a poor scale: saturating
    bn = BatchNorm(4, "tanh", name="bn")
    bn.weight[:] = rng.normal(1, 0.2, 4)
    bn.bias[:] = rng.normal(0, 0.2, 4)
    out = Dense(4, 1, name="out", rng=rng)
    net = Network([dense, bn, out])
    pairs = [(dense, _torch_linear(dense)), (bn, _torch_bn(bn)), (out, _torch_linear(out))]
    seq = torch.nn.Sequential(pairs[0][1], pairs[1][1], torch.nn.Tanh(), pairs[2][1])
    x, y = rng.normal(size=(10, 3)), rng.normal(size=(10, 1))
    _same_as_torch(net, seq, pairs, x, y, (True, True, False))
    loss = get_loss("mse")
    # Central differences agree too (evaluation mode: the function of the parameters is then fixed).
    for name, param in net.parameters().items():
        np.testing.assert_allclose(net.gradients()[name].copy(),
                                   numeric_grad(lambda: loss.value(net.forward(x), y), param),
                                   rtol=1e-5, atol=1e-8, err_msg=name)
    assert repr(bn) == "BatchNorm(bn: 4, tanh, momentum=0.1, eps=1e-05)"
