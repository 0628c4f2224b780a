"""Every activation, loss and layer checked against central finite differences."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import numeric_grad
from visualizer import Activation, Dense, Network, get_activation, get_loss
from visualizer.engine.layers import ACTIVATIONS

ACTIVATION_NAMES = sorted(ACTIVATIONS)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activation_derivative_matches_finite_differences(name, rng):
    act = get_activation(name)
    z = rng.normal(0, 3, size=50)
    if name == "relu":
        z = z[np.abs(z) > 1e-3]  # the kink has no derivative
    eps = 1e-6
    numeric = (act.fn(z + eps) - act.fn(z - eps)) / (2 * eps)
    np.testing.assert_allclose(act.deriv(z), numeric, rtol=1e-5, atol=1e-8)
    # The fast path through the output agrees with the derivative through z.
    np.testing.assert_allclose(act.slope(z, act.fn(z)), act.deriv(z), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["sigmoid", "softplus", "tanh"])
def test_activations_are_finite_for_large_inputs(name):
    act = get_activation(name)
    z = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is exact enough
        assert np.all(np.isfinite(act.fn(z)))
        assert np.all(np.isfinite(act.deriv(z)))


def test_softplus_is_exact_at_extremes():
    sp = get_activation("softplus")
    assert sp.fn(np.array([1000.0]))[0] == 1000.0
    assert sp.fn(np.array([-1000.0]))[0] == pytest.approx(np.exp(-1000.0), abs=1e-300)
    assert sp.fn(np.array([0.0]))[0] == pytest.approx(np.log(2.0))


def test_unknown_activation_names_the_choices():
    with pytest.raises(ValueError, match="sigmoid"):
        get_activation("swish")


@pytest.mark.parametrize("loss_name", ["ssr", "half_ssr", "mse"])
def test_loss_gradient_matches_finite_differences(loss_name, rng):
    loss = get_loss(loss_name)
    pred = rng.normal(size=(7, 3))
    target = rng.normal(size=(7, 3))
    numeric = numeric_grad(lambda: loss.value(pred, target), pred)
    np.testing.assert_allclose(loss.grad(pred, target), numeric, rtol=1e-6, atol=1e-8)


def test_loss_values_are_the_textbook_formulas():
    p, t = np.array([[1.0], [2.0], [4.0]]), np.array([[0.0], [0.0], [1.0]])
    assert get_loss("ssr").value(p, t) == 1 + 4 + 9
    assert get_loss("half_ssr").value(p, t) == 7
    assert get_loss("mse").value(p, t) == pytest.approx(14 / 3)


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@pytest.mark.parametrize("bias", [True, False])
def test_dense_layer_gradients_match_finite_differences(activation, bias, rng):
    layer = Dense(3, 4, activation, bias=bias, name="layer", rng=rng)
    x = rng.normal(size=(5, 3))
    upstream = rng.normal(size=(5, 4))  # a random linear loss sum(upstream * out) probes every path

    def loss() -> float:
        return float(np.sum(upstream * layer.forward(x)))

    loss()
    grad_x = layer.backward(upstream)
    for name, p in layer.params().items():
        np.testing.assert_allclose(layer.grads[name], numeric_grad(loss, p), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad_x, numeric_grad(loss, x), rtol=1e-5, atol=1e-7)
    assert ("bias" in layer.params()) == bias


def test_user_defined_activation_is_used_and_differentiated(rng):
    # The autoencoder seed's shifted sigmoid, expit(z + 1), as a user would define it.
    def shifted(z):
        return 1 / (1 + np.exp(-(z + 1)))

    act = Activation("shifted_sigmoid", shifted, lambda z: shifted(z) * (1 - shifted(z)))
    net = Network([Dense(2, 3, act, name="h", rng=rng), Dense(3, 2, act, name="o", rng=rng)])
    x, y = rng.normal(size=(4, 2)), rng.uniform(size=(4, 2))
    loss = get_loss("mse")

    def value() -> float:
        return loss.value(net.forward(x), y)

    pred = net.forward(x)
    net.backward(loss.grad(pred, y))
    grads = {k: v.copy() for k, v in net.gradients().items()}
    for name, p in net.parameters().items():
        np.testing.assert_allclose(grads[name], numeric_grad(value, p), rtol=1e-5, atol=1e-8)
    assert "shifted_sigmoid" in repr(net)


@pytest.mark.parametrize("loss_name", ["ssr", "half_ssr", "mse"])
def test_network_gradients_match_finite_differences(loss_name, rng):
    net = Network([Dense(2, 6, "sigmoid", name="h1", rng=rng), Dense(6, 6, "tanh", name="h2", rng=rng),
                   Dense(6, 1, "identity", bias=False, name="out", rng=rng)])
    x, y = rng.uniform(size=(8, 2)), rng.uniform(size=(8, 1))
    loss = get_loss(loss_name)
    pred = net.forward(x)
    net.backward(loss.grad(pred, y))
    grads = {k: v.copy() for k, v in net.gradients().items()}
    assert list(grads) == ["h1.weight", "h1.bias", "h2.weight", "h2.bias", "out.weight"]
    for name, p in net.parameters().items():
        numeric = numeric_grad(lambda: loss.value(net.forward(x), y), p)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-5, atol=1e-8)


def test_network_checks_shapes_and_names(rng):
    with pytest.raises(ValueError, match="expects 3 inputs"):
        Network([Dense(2, 4, name="a", rng=rng), Dense(3, 1, name="b", rng=rng)])
    with pytest.raises(ValueError, match="unique"):
        Network([Dense(2, 2, name="a", rng=rng), Dense(2, 1, name="a", rng=rng)])
    net = Network([Dense(2, 1, name="a", rng=rng)])
    with pytest.raises(ValueError, match=r"shape \(batch, 2\)"):
        net.forward(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="weight= or an rng="):
        Dense(2, 2)


def test_repr_is_readable(rng):
    net = Network([Dense(2, 6, "sigmoid", name="hidden", rng=rng), Dense(6, 1, bias=False, name="output", rng=rng)])
    assert repr(net) == "Network([Dense(hidden: 2→6, sigmoid), Dense(output: 6→1, identity, no bias)])"
