"""Penalties: hand values, gradients against finite differences, which parameters they select, and errors."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import numeric_grad
from visualizer.engine.penalties import L1, L2, is_weight


def _params() -> dict[str, np.ndarray]:
    return {"hidden.weight": np.array([[1.0, -2.0], [0.5, 3.0]]), "hidden.bias": np.array([1.0, -1.0]),
            "output.weight": np.array([[2.0], [-1.0]]), "output.bias": np.array([4.0])}


def test_hand_values_for_each_convention():
    p = _params()
    weights_sq = 1 + 4 + 0.25 + 9 + 4 + 1  # 19.25
    all_sq = weights_sq + 1 + 1 + 16
    assert L2(0.1).value(p) == pytest.approx(0.1 * weights_sq)
    assert L2(0.1, half=True).value(p) == pytest.approx(0.05 * weights_sq)
    assert L2(0.1, params="all").value(p) == pytest.approx(0.1 * all_sq)
    assert L1(0.1).value(p) == pytest.approx(0.1 * (1 + 2 + 0.5 + 3 + 2 + 1))
    assert L1(0.1, params=["output.bias"]).value(p) == pytest.approx(0.4)
    assert L2(0.0).value(p) == 0.0


def test_cs231n_and_micrograd_settings_are_their_formulas():
    p = _params()
    W, W2 = p["hidden.weight"], p["output.weight"]
    reg = 1e-3
    assert L2(reg, half=True).value(p) == pytest.approx(0.5 * reg * np.sum(W * W) + 0.5 * reg * np.sum(W2 * W2))
    np.testing.assert_allclose(L2(reg, half=True).grad(p)["hidden.weight"], reg * W)  # CS231n: dW += reg*W
    alpha = 1e-4
    assert L2(alpha, params="all").value(p) == pytest.approx(alpha * sum(float((a * a).sum()) for a in p.values()))


@pytest.mark.parametrize("penalty", [L2(0.3), L2(0.3, half=True), L2(0.3, params="all"), L1(0.3),
                                     L1(0.3, params=lambda name: name.startswith("output"))])
def test_gradient_matches_finite_differences(penalty, rng):
    p = {name: rng.normal(size=a.shape) for name, a in _params().items()}
    grads = penalty.grad(p)
    for name in grads:
        numeric = numeric_grad(lambda: penalty.value(p), p[name])
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6, atol=1e-8)
    for name in set(p) - set(grads):  # the unpenalised: absent from grad, and truly not in the value
        assert not numeric_grad(lambda: penalty.value(p), p[name]).any()


def test_l1_gradient_is_zero_where_a_parameter_is_zero():
    assert L1(2.0).grad({"a.weight": np.array([-3.0, 0.0, 5.0])})["a.weight"].tolist() == [-2.0, 0.0, 2.0]


@pytest.mark.parametrize(("params", "chosen"), [
    (None, ["hidden.weight", "output.weight"]),
    ("weights", ["hidden.weight", "output.weight"]),
    ("all", ["hidden.weight", "hidden.bias", "output.weight", "output.bias"]),
    (["output.bias", "hidden.weight"], ["output.bias", "hidden.weight"]),
    (lambda name: "bias" in name, ["hidden.bias", "output.bias"]),
])
def test_which_parameters_are_penalised(params, chosen):
    penalty = L2(1.0, params=params)
    assert penalty.names(_params()) == chosen
    assert list(penalty.grad(_params())) == chosen


def test_torch_style_names_are_weights_too():
    assert is_weight("0.weight") and is_weight("net.2.weight")
    assert not is_weight("0.bias") and not is_weight("weights")
    assert L2(1.0).names({"0.weight": np.ones(1), "0.bias": np.ones(1), "2.weight": np.ones(1)}) == \
        ["0.weight", "2.weight"]


@pytest.mark.parametrize(("make", "message"), [
    (lambda: L2(-1.0), "finite number >= 0"),
    (lambda: L1(float("nan")), "finite number >= 0"),
    (lambda: L2("strong"), "must be a number"),
    (lambda: L2(1.0, params="biases"), "'weights', 'all'"),
    (lambda: L1(1.0, params=[1, 2]), "parameter names"),
])
def test_bad_settings_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_naming_a_missing_parameter_or_selecting_none_is_an_error():
    with pytest.raises(ValueError, match="hiden.weight, which the network does not have; its parameters are"):
        L2(1.0, params=["hiden.weight"]).value(_params())
    with pytest.raises(ValueError, match="applies to none of the parameters"):
        L1(1.0).grad({"w": np.ones(2), "b": np.ones(1)})


def test_repr_and_describe():
    assert repr(L2(0.001, half=True)) == "L2(0.001, half=True)"
    assert repr(L2(1e-4, params="all")) == "L2(0.0001, params='all')"
    assert repr(L1(0.01, params=["a.weight"])) == "L1(0.01, params=('a.weight',))"
    assert L2(0.001, half=True).describe() == "L2 0.5·0.001·Σw²"
    assert L2(1e-4, params="all").describe() == "L2 0.0001·Σp²"
    assert L1(0.01).describe() == "L1 0.01·Σ|w|"
