"""Datasets: shapes, class balance, determinism, the geometry of their definitions, and the test split."""
from __future__ import annotations

import numpy as np
import pytest

from visualizer.datasets import DATASETS, blobs, circles, moons, sine, spiral, split, xor

CLASSIFICATION = ["spiral", "moons", "circles", "blobs", "xor"]


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_classification_shapes_and_dtypes(name):
    x, y = DATASETS[name](n=60, noise=0.1, seed=3)
    assert x.shape == (60, 2) and x.dtype == np.float64
    assert y.shape == (60,) and y.dtype.kind == "i"
    assert np.isfinite(x).all()


@pytest.mark.parametrize(("make", "counts"), [
    (lambda: spiral(), [100, 100, 100]),
    (lambda: spiral(n=301, classes=4), [76, 75, 75, 75]),
    (lambda: moons(n=101), [50, 51]),
    (lambda: circles(n=100), [50, 50]),
    (lambda: blobs(n=100, centers=3), [34, 33, 33]),
    (lambda: xor(n=100, noise=0.2), [50, 50]),
    (lambda: xor(), [2, 2]),
])
def test_class_balance(make, counts):
    _, y = make()
    assert np.bincount(y).tolist() == counts


@pytest.mark.parametrize("name", list(DATASETS))
def test_same_seed_same_data_other_seed_other_data(name):
    make = DATASETS[name]
    kw = dict(n=40, noise=0.3)
    x1, y1 = make(seed=5, **kw)
    x2, y2 = make(seed=5, **kw)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    x3, _ = make(seed=6, **kw)
    assert not np.array_equal(x1, x3)


def test_spiral_follows_the_cs231n_loop():
    """The case study's code, with its np.random.randn drawn from our generator instead."""
    N, K, D = 100, 3, 2
    rng = np.random.default_rng(11)
    X, y = np.zeros((N * K, D)), np.zeros(N * K, dtype="uint8")
    for j in range(K):
        ix = range(N * j, N * (j + 1))
        r = np.linspace(0.0, 1, N)
        t = np.linspace(j * 4, (j + 1) * 4, N) + rng.standard_normal(N) * 0.2
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = j
    x_ours, y_ours = spiral(n=300, classes=3, noise=0.2, seed=11)
    np.testing.assert_array_equal(x_ours, X)
    np.testing.assert_array_equal(y_ours, y)
    assert np.all(np.hypot(x_ours[:, 0], x_ours[:, 1]) <= 1 + 1e-12)


def test_moons_lie_on_their_two_half_circles_without_noise():
    x, y = moons(n=202, noise=0.0, shuffle=False)  # 101 points a moon: the tops at π/2 are among them
    upper, lower = x[y == 0], x[y == 1]
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0, atol=1e-12)
    assert upper[:, 1].min() >= -1e-12
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, atol=1e-12)
    assert lower[:, 1].max() <= 0.5 + 1e-12
    assert x[:, 0].min() == pytest.approx(-1) and x[:, 0].max() == pytest.approx(2)
    assert x[:, 1].min() == pytest.approx(-0.5) and x[:, 1].max() == pytest.approx(1)
    assert y[:101].tolist() == [0] * 101  # unshuffled: class blocks, as scikit-learn


def test_noise_is_gaussian_with_the_given_std():
    clean, y = moons(n=4000, noise=0.0, seed=2)
    noisy, y_noisy = moons(n=4000, noise=0.1, seed=2)
    np.testing.assert_array_equal(y, y_noisy)  # same shuffle; the noise comes after it
    assert np.std(noisy - clean) == pytest.approx(0.1, rel=0.05)


def test_circles_radii_and_factor():
    x, y = circles(n=100, noise=0.0, factor=0.3)
    np.testing.assert_allclose(np.hypot(*x[y == 0].T), 1.0)
    np.testing.assert_allclose(np.hypot(*x[y == 1].T), 0.3)
    assert len(np.unique(np.round(x, 9), axis=0)) == 100  # no point repeated (endpoint excluded)


def test_blobs_cluster_around_given_centres():
    centres = np.array([[-5.0, 0.0], [5.0, 5.0]])
    x, y = blobs(n=2000, centers=centres, noise=0.5, seed=1)
    for j, c in enumerate(centres):
        np.testing.assert_allclose(x[y == j].mean(axis=0), c, atol=0.1)
        np.testing.assert_allclose(x[y == j].std(axis=0), 0.5, rtol=0.1)
    x, _ = blobs(n=50, centers=4, noise=0.0, box=(2.0, 3.0))
    assert x.min() >= 2 and x.max() <= 3


def test_xor_truth_table_and_noisy_corners():
    x, y = xor()
    assert x.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and y.tolist() == [0, 1, 1, 0]
    x, y = xor(n=400, noise=0.1, seed=4)
    corner = np.round(x).astype(int)
    assert np.mean((corner[:, 0] ^ corner[:, 1]) == y) > 0.99


def test_sine_is_a_sorted_regression_set():
    x, y = sine(n=50, noise=0.0, x_range=(0.0, 3.0))
    assert x.shape == (50, 1) and y.shape == (50, 1)
    assert np.all(np.diff(x[:, 0]) >= 0) and x.min() >= 0 and x.max() <= 3
    np.testing.assert_array_equal(y, np.sin(x))


@pytest.mark.parametrize(("make", "message"), [
    (lambda: spiral(n=2, classes=3), "one point per class"),
    (lambda: moons(n=0), "whole number >= 2"),
    (lambda: blobs(n=10.5), "whole number"),
    (lambda: circles(noise=-0.1), "noise"),
    (lambda: xor(noise=float("nan")), "noise"),
    (lambda: circles(factor=1.0), r"factor .* \[0, 1\)"),
    (lambda: blobs(centers=np.zeros((3, 3))), r"shape \(K, 2\)"),
    (lambda: blobs(box=(1.0, -1.0)), "low < high"),
    (lambda: sine(x_range=(1.0, 1.0)), "low < high"),
    (lambda: spiral(classes="three"), "classes must be a whole number"),
])
def test_bad_arguments_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ---- split

def test_split_sizes_disjoint_and_complete():
    x, y = np.arange(600.0).reshape(300, 2), np.arange(300)  # row i is (2i, 2i+1), its label i
    (x_train, y_train), (x_test, y_test) = split(x, y, test_fraction=0.25, seed=9)
    assert len(x_test) == len(y_test) == 75 and len(x_train) == len(y_train) == 225
    assert not set(y_train) & set(y_test)
    assert sorted(set(y_train) | set(y_test)) == list(range(300))
    for part_x, part_y in ((x_train, y_train), (x_test, y_test)):
        np.testing.assert_array_equal(part_x, x[part_y])  # pairs stay together
        assert np.all(np.diff(part_y) > 0)  # each part keeps the original order


def test_split_is_deterministic_in_its_seed():
    x, y = moons(n=100)
    a, b, c = split(x, y, 0.2, seed=1), split(x, y, 0.2, seed=1), split(x, y, 0.2, seed=2)
    np.testing.assert_array_equal(a[1][0], b[1][0])
    assert not np.array_equal(a[1][0], c[1][0])


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5, float("nan")])
def test_split_refuses_fractions_outside_zero_one(fraction):
    x, y = moons(n=100)
    with pytest.raises(ValueError, match="between 0 and 1"):
        split(x, y, fraction)


def test_split_refuses_an_empty_side_or_mismatched_rows():
    x, y = xor()
    with pytest.raises(ValueError, match="at least one"):
        split(x, y, 0.1)
    with pytest.raises(ValueError, match="one row per sample"):
        split(x, y[:3], 0.5)
