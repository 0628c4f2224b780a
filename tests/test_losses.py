"""Classification losses: gradients against finite differences (extreme logits too), values against written
formulas and torch.nn.functional, probabilities and predictions, and target validation."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import numeric_grad
from visualizer.engine.losses import LOSSES, Loss, bce, get_loss, hinge, mse, multiclass_hinge, softmax_ce

N, K = 9, 3
CLASSIFIERS = ["bce", "softmax_ce", "hinge", "multiclass_hinge"]


def _case(name: str, rng: np.random.Generator, scale: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Outputs and (n, 1) float labels as a Trainer passes them, for a loss by name."""
    if get_loss(name).kind == "binary":
        return rng.normal(0, scale, size=(N, 1)), rng.integers(0, 2, size=(N, 1)).astype(float)
    return rng.normal(0, scale, size=(N, K)), rng.integers(0, K, size=(N, 1)).astype(float)


def _extreme(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Logits of ±1000 mixed with ordinary ones, each sample right or badly wrong."""
    if get_loss(name).kind == "binary":
        s = np.array([[1000.0], [-1000.0], [1000.0], [-1000.0], [0.3], [-2.5]])
        return s, np.array([[1.0], [0.0], [0.0], [1.0], [1.0], [0.0]])
    s = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 3.0], [1000.0, 999.5, -1000.0], [0.2, -0.4, 1.1]])
    return s, np.array([[0.0], [2.0], [1.0], [2.0]])


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_gradient_matches_finite_differences(name, rng):
    loss = get_loss(name)
    s, t = _case(name, rng)
    numeric = numeric_grad(lambda: loss.value(s, t), s)
    np.testing.assert_allclose(loss.grad(s, t), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_extreme_logits_give_finite_values_and_correct_gradients(name):
    loss = get_loss(name)
    s, t = _extreme(name)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is exact enough
        value, grad = loss.value(s, t), loss.grad(s, t)
        assert np.isfinite(value) and np.all(np.isfinite(grad))
        probs = loss.probabilities(s)
        assert np.all(np.isfinite(probs))
    assert value > 100  # badly wrong samples at ±1000 cost about 2000 / n, not inf or 0
    numeric = numeric_grad(lambda: loss.value(s, t), s)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


def test_values_at_textbook_points():
    zeros1, zeros3 = np.zeros((4, 1)), np.zeros((4, 3))
    labels = np.array([[0.0], [1.0], [1.0], [0.0]])
    assert bce.value(zeros1, labels) == pytest.approx(np.log(2))
    assert softmax_ce.value(zeros3, np.array([0, 1, 2, 2])) == pytest.approx(np.log(3))
    assert hinge.value(zeros1, labels) == 1.0
    assert multiclass_hinge.value(zeros3, np.array([0, 1, 2, 2])) == 2.0  # K - 1 margins of 1 each
    assert bce.value(np.array([[1000.0]]), np.array([[0.0]])) == 1000.0
    assert softmax_ce.value(np.array([[1000.0, -1000.0]]), np.array([1])) == 2000.0


def test_written_formulas_for_moderate_logits(rng):
    s1, y1 = _case("bce", rng)
    p = 1 / (1 + np.exp(-s1))
    assert bce.value(s1, y1) == pytest.approx(np.mean(-y1 * np.log(p) - (1 - y1) * np.log(1 - p)), rel=1e-12)
    s, y = _case("softmax_ce", rng)
    labels = y.ravel().astype(int)
    probs = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    assert softmax_ce.value(s, y) == pytest.approx(-np.mean(np.log(probs[np.arange(N), labels])), rel=1e-12)
    svm = np.mean([sum(max(0.0, s[i, j] - s[i, labels[i]] + 1) for j in range(K) if j != labels[i])
                   for i in range(N)])
    assert multiclass_hinge.value(s, y) == pytest.approx(svm, rel=1e-12)


def test_hinge_is_micrograds_max_margin_loss(rng):
    """demo.ipynb: ``losses = [(1 + -yi*scorei).relu() ...]; data_loss = sum(losses) * (1.0 / len(losses))``."""
    scores = rng.normal(size=(N, 1))
    ys = rng.choice([-1.0, 1.0], size=N)
    losses = [max(0.0, 1 + -yi * si) for yi, si in zip(ys, scores[:, 0])]
    assert hinge.value(scores, ys) == pytest.approx(sum(losses) * (1.0 / len(losses)), rel=1e-15)
    # micrograd's relu passes no gradient at its corner; labels 0/1 are the same as -1/+1
    grad = [(-yi if 1 - yi * si > 0 else 0.0) / N for yi, si in zip(ys, scores[:, 0])]
    np.testing.assert_array_equal(hinge.grad(scores, ys)[:, 0], grad)
    np.testing.assert_array_equal(hinge.grad(scores, (ys > 0).astype(float)), hinge.grad(scores, ys))
    assert hinge.grad(np.array([[1.0]]), np.array([1.0]))[0, 0] == 0.0


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_labels_as_int_vector_or_float_column_agree(name, rng):
    loss = get_loss(name)
    s, t = _case(name, rng)
    as_ints = t.ravel().astype(int)
    assert loss.value(s, as_ints) == loss.value(s, t)
    np.testing.assert_array_equal(loss.grad(s, as_ints), loss.grad(s, t))


# ---- against torch.nn.functional, value and autograd gradient, ordinary and extreme logits

def _torch_value_and_grad(name, s, t):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = torch.tensor(s, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor(t.ravel().astype(int))
    if name == "bce":
        out = F.binary_cross_entropy_with_logits(x, torch.tensor(t, dtype=torch.float64).reshape(x.shape))
    elif name == "softmax_ce":
        out = F.cross_entropy(x, labels)
    elif name == "hinge":
        y = torch.where(labels > 0, 1.0, -1.0).to(torch.float64).reshape(x.shape)
        out = torch.relu(1 - y * x).mean()
    else:  # torch divides each sample's sum of margins by the number of classes
        out = F.multi_margin_loss(x, labels) * x.shape[1]
    out.backward()
    return out.item(), x.grad.numpy()


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_value_and_gradient_match_torch(name, rng):
    loss = get_loss(name)
    for s, t in (_case(name, rng), _case(name, rng, scale=30.0), _extreme(name)):
        value, grad = _torch_value_and_grad(name, s, t)
        assert loss.value(s, t) == pytest.approx(value, rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(loss.grad(s, t), grad, rtol=1e-12, atol=1e-15)


# ---- probabilities, predictions, accuracy

def test_probabilities_are_sigmoid_or_softmax_columns_summing_to_one(rng):
    s1, _ = _case("bce", rng)
    p = bce.probabilities(s1)
    assert p.shape == (N, 2)
    np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-s1[:, 0])), rtol=1e-12)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    s, _ = _case("softmax_ce", rng)
    np.testing.assert_allclose(softmax_ce.probabilities(s), np.exp(s) / np.exp(s).sum(axis=1, keepdims=True),
                               rtol=1e-12)
    np.testing.assert_allclose(multiclass_hinge.probabilities(s), softmax_ce.probabilities(s))
    assert mse.probabilities(s) is None
    assert [get_loss(n).n_classes(3) for n in ("mse", "bce", "softmax_ce")] == [None, 2, 3]


def test_predictions_and_accuracy():
    s1 = np.array([[2.0], [-0.5], [0.0], [7.0]])
    np.testing.assert_array_equal(bce.predict(s1), [1, 0, 0, 1])
    assert bce.predict(s1).dtype.kind == "i"
    assert bce.accuracy(s1, np.array([[1.0], [0.0], [1.0], [1.0]])) == 0.75
    assert hinge.accuracy(s1, np.array([1, -1, -1, 1])) == 1.0  # micrograd's (yi > 0) == (score > 0)
    s3 = np.array([[0.1, 3.0, -1.0], [5.0, 4.0, 4.5], [0.0, 0.0, 9.0]])
    np.testing.assert_array_equal(softmax_ce.predict(s3), [1, 0, 2])
    assert softmax_ce.accuracy(s3, np.array([1, 2, 2])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="regression"):
        mse.predict(s3)


# ---- target validation

@pytest.mark.parametrize(("loss", "targets", "n_outputs", "message"), [
    (softmax_ce, np.array([0, 1, 3]), 3, r"labels must be 0..2 .* 3 outputs, found \[3\]"),
    (softmax_ce, np.array([[0.0], [-1.0]]), 3, r"found \[-1\]"),
    (multiclass_hinge, np.array([0.0, 1.5]), 3, "whole numbers, found 1.5"),
    (softmax_ce, np.zeros((4, 3)), 3, r"shape \(n,\) or \(n, 1\)"),
    (softmax_ce, np.array([0, 1]), 1, "one output per class"),
    (bce, np.array([0, 1, 2]), 1, r"0 or 1, found \[0, 1, 2\]"),
    (bce, np.array([-1, 1]), 1, "0 or 1"),
    (bce, np.array([0, 1]), 3, "1 output .* softmax_ce"),
    (hinge, np.array([-1, 0, 1]), 1, "0/1 or -1/\\+1"),
    (hinge, np.array([0, 1]), 2, "1 output"),
    (softmax_ce, np.array([0.0, np.nan]), 3, "finite"),
    (softmax_ce, np.array(["a", "b"]), 3, "numbers"),
    (softmax_ce, np.array([], dtype=int), 3, "no targets"),
    (mse, np.zeros(5), 1, r"shape \(n, 1\)"),
    (mse, np.zeros((5, 2)), 3, r"shape \(n, 3\)"),
])
def test_bad_targets_are_refused_with_a_clear_message(loss, targets, n_outputs, message):
    with pytest.raises(ValueError, match=message):
        loss.check_targets(targets, n_outputs)


@pytest.mark.parametrize(("loss", "targets", "n_outputs"), [
    (softmax_ce, np.array([0, 1, 2, 2]), 3), (softmax_ce, np.array([[0.0], [2.0]]), 4),
    (bce, np.array([[0.0], [1.0]]), 1), (bce, np.array([True, False]), 1),
    (hinge, np.array([-1.0, 1.0]), 1), (hinge, np.array([0, 1]), 1),
    (multiclass_hinge, np.array([1, 0]), 2), (mse, np.zeros((3, 2)), 2),
])
def test_good_targets_pass(loss, targets, n_outputs):
    loss.check_targets(targets, n_outputs)


@pytest.mark.parametrize(("name", "shape"), [("bce", (4, 3)), ("hinge", (4, 2)), ("softmax_ce", (4, 1)),
                                             ("multiclass_hinge", (4,))])
def test_losses_refuse_outputs_of_the_wrong_shape(name, shape):
    with pytest.raises(ValueError, match=name):
        get_loss(name).value(np.zeros(shape), np.zeros(4))


# ---- the registry and the dataclass stay backward compatible

def test_get_loss_knows_every_loss_and_names_them_when_asked_for_another():
    for name, loss in LOSSES.items():
        assert get_loss(name) is loss and repr(loss) == f"Loss({name})"
    with pytest.raises(ValueError, match="unknown loss 'nll'; use one of ssr, half_ssr, mse, bce, softmax_ce"):
        get_loss("nll")


def test_a_loss_built_the_old_way_is_a_regression_loss():
    custom = Loss("abs", "|r|", lambda p, t: float(np.abs(p - t).sum()), lambda p, t: np.sign(p - t))
    assert custom.kind == "regression" and custom.probabilities(np.zeros((2, 1))) is None
    with pytest.raises(ValueError, match="kind"):
        Loss("x", "x", custom.value, custom.grad, kind="ranking")
    with pytest.raises(ValueError, match="link"):
        Loss("x", "x", custom.value, custom.grad, kind="binary")
