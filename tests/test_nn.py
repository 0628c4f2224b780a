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
    if name in ("relu", "leaky_relu"):
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


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activations_keep_single_precision_and_agree_with_double(name, rng):
    """A loss landscape's grid runs its forward passes in float32: every built-in activation stays float32
    (no silent copy to float64), finite at large inputs, within single precision of the double result."""
    act = get_activation(name)
    z = np.concatenate([rng.normal(0, 3, size=200), [-1000.0, -50.0, 0.0, 50.0, 1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        single = act.fn(z.astype(np.float32))
    assert single.dtype == np.float32 and np.isfinite(single).all()
    # A few float32 steps (GELU's erf is a 1.5e-7 approximation in single precision).
    np.testing.assert_allclose(single, act.fn(z), rtol=2e-6, atol=5e-7)


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


# ---- the single definitions: each activation's and the dense layer's forward beside its backward

@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activation_backward_matches_finite_differences(name, rng):
    act = get_activation(name)
    z = rng.normal(0, 3, size=(6, 4))
    if name == "relu":
        z[np.abs(z) < 1e-3] = 0.5  # the kink has no derivative
    upstream = rng.normal(size=z.shape)
    grad = act.backward(upstream, z, act.forward(z))
    np.testing.assert_allclose(grad, numeric_grad(lambda: float(np.sum(upstream * act.forward(z))), z),
                               rtol=1e-5, atol=1e-8)
    # A slope already computed gives the same bits as one computed here.
    assert np.array_equal(act.backward(upstream, z, act.fn(z), act.slope(z, act.fn(z))), grad)


def test_the_identity_hands_the_gradient_back_untouched(rng):
    g = rng.normal(size=(3, 2))
    assert get_activation("identity").backward(g, g, g) is g


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@pytest.mark.parametrize("bias", [True, False])
def test_dense_definitions_match_finite_differences(activation, bias, rng):
    from visualizer.engine.layers import bias_grad, dense_backward, dense_forward, weight_grad

    act = get_activation(activation)
    w, b = rng.normal(size=(3, 4)), rng.normal(size=4) if bias else None
    x, upstream = rng.normal(size=(5, 3)), rng.normal(size=(5, 4))

    def value() -> float:
        return float(np.sum(upstream * dense_forward(x, w, b, act).a))

    cache = dense_forward(x, w, b, act)
    np.testing.assert_array_equal(cache.z, x @ w + (b if bias else 0.0))
    np.testing.assert_array_equal(cache.a, act.fn(cache.z))
    grads = {"weight": np.empty_like(w), **({"bias": np.empty_like(b)} if bias else {})}
    delta, grad_x = dense_backward(upstream, cache, w, grads=grads)
    np.testing.assert_allclose(grads["weight"], numeric_grad(value, w), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(weight_grad(x, delta), grads["weight"])
    if bias:
        np.testing.assert_allclose(grads["bias"], numeric_grad(value, b), rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(bias_grad(delta), grads["bias"])
    np.testing.assert_allclose(grad_x, numeric_grad(value, x), rtol=1e-5, atol=1e-7)
    assert dense_backward(upstream, cache, w, input_grad=False)[1] is None


def test_dense_forward_on_stacked_parameter_sets_is_one_forward_per_set(rng):
    from visualizer.engine.layers import dense_forward

    act = get_activation("tanh")
    x = rng.normal(size=(7, 3))
    ws, bs = rng.normal(size=(5, 3, 2)), rng.normal(size=(5, 2))
    stacked = dense_forward(x[None], ws, bs, act)
    assert stacked.a.shape == (5, 7, 2)
    for k in range(5):
        np.testing.assert_allclose(stacked.a[k], dense_forward(x, ws[k], bs[k], act).a, rtol=1e-13, atol=1e-15)
    # A second stacked layer takes the first one's (points, samples, inputs) outputs.
    second = dense_forward(stacked.a, rng.normal(size=(5, 2, 1)), None, act)
    assert second.a.shape == (5, 7, 1)


def test_the_dense_layer_is_its_definitions(rng):
    from visualizer.engine.layers import dense_backward, dense_forward

    layer = Dense(3, 2, "sigmoid", name="d", rng=rng, bias_init=rng.normal(size=2))
    x, upstream = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    out = layer.forward(x)
    grad_x = layer.backward(upstream)
    cache = dense_forward(x, layer.weight, layer.bias, layer.activation)
    grads = {k: np.empty_like(v) for k, v in layer.params().items()}
    _, expected_x = dense_backward(upstream, cache, layer.weight, grads=grads)
    assert np.array_equal(out, cache.a) and np.array_equal(grad_x, expected_x)
    for name in grads:
        assert np.array_equal(layer.grads[name], grads[name])
    assert repr(cache) == "DenseCache(sigmoid, x (4, 3) → a (4, 2))"
    with pytest.raises(RuntimeError, match="backward\\(\\) called before forward\\(\\)"):
        Dense(1, 1, name="fresh", weight=[[1.0]]).backward(np.ones((1, 1)))


# ---- the objective: data loss plus penalties, in one place

def test_the_objective_is_the_data_loss_plus_the_penalties_and_its_gradient_is_theirs(rng):
    from visualizer import L1, L2
    from visualizer.engine.objective import Objective

    net = Network([Dense(2, 4, "tanh", name="h", rng=rng), Dense(4, 1, "identity", name="o", rng=rng)])
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(6, 1))
    objective = Objective("mse", [L2(0.1, half=True), L1(0.01, params="all")])
    params = net.parameters()

    def value() -> float:
        return objective.value(net.forward(x), y, params)

    evaluation = objective.evaluate(net, x, y)
    assert evaluation.data_loss == get_loss("mse").value(net.forward(x), y)
    assert value() == pytest.approx(evaluation.data_loss + 0.05 * sum(float((params[k] ** 2).sum())
                                                                       for k in ("h.weight", "o.weight"))
                                    + 0.01 * sum(float(np.abs(p).sum()) for p in params.values()), rel=1e-12)
    grads = {k: v.copy() for k, v in evaluation.grads.items()}
    for name, p in params.items():
        np.testing.assert_allclose(grads[name], numeric_grad(value, p), rtol=1e-5, atol=1e-8)
    assert repr(objective) == "Objective(mse + L2(0.1, half=True) + L1(0.01, params='all'))"
    assert Objective(get_loss("ssr")).penalty(params) == 0.0


def test_the_objective_evaluates_stacked_outputs_point_by_point(rng):
    from visualizer.engine.objective import Objective

    y = rng.normal(size=(5, 2))
    stacked = rng.normal(size=(4, 5, 2))
    for name in ("ssr", "half_ssr", "mse"):
        objective = Objective(name)
        np.testing.assert_allclose(objective.data_losses(stacked, y), [objective.data_loss(p, y) for p in stacked],
                                   rtol=1e-13)
    # The classification losses, vectorised over the points, against their one-point forms; scores large
    # enough that a naive exp would overflow.
    scores = rng.normal(size=(4, 5, 3)) * np.array([[[1.0]], [[30.0]], [[800.0]], [[0.01]]])
    labels = {"bce": rng.integers(0, 2, size=(5, 1)).astype(float), "hinge": rng.choice([-1.0, 1.0], size=(5, 1)),
              "softmax_ce": rng.integers(0, 3, size=5), "multiclass_hinge": rng.integers(0, 3, size=(5, 1))}
    for name, y in labels.items():
        objective = Objective(name)
        s = scores[:, :, :1] if y.shape[-1:] == (1,) and name in ("bce", "hinge") else scores
        points = [objective.data_loss(p, y) for p in s]
        assert np.isfinite(points).all()
        np.testing.assert_allclose(objective.data_losses(s, y), points, rtol=1e-13, err_msg=name)
        with pytest.raises(ValueError, match=name):  # the shapes each checks for one point, checked the same
            objective.data_losses(scores[:, :, :2] if name in ("bce", "hinge") else scores[:, :, :1], y)
