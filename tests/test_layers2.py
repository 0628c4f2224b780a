"""The second lecture's engine: initialization by name, leaky ReLU and GELU, batch norm and dropout, each
checked against its formula, central finite differences and PyTorch (float64, to 1e-10)."""
from __future__ import annotations

import math

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
