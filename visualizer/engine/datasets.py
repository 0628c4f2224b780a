"""The toy datasets of the lessons, deterministic from a seed: ``f(n, noise, seed, ...) -> (x, y)``.

Classification sets return ``x`` of shape ``(n, 2)`` (float) and ``y`` of shape ``(n,)`` (int class labels
0..K-1); ``sine`` (regression) returns ``x`` and ``y`` of shape ``(n, 1)`` (float). ``n`` is always the total
number of points. Randomness comes only from ``np.random.default_rng(seed)``, so the same arguments give the
same arrays on every machine (but not the arrays of scikit-learn or CS231n, which draw from other
generators). :func:`split` holds out a test set.
"""
from __future__ import annotations

import math

import numpy as np


def _count(n: int, what: str = "n", least: int = 1) -> int:
    try:
        whole = not isinstance(n, bool) and int(n) == n and n >= least
    except (TypeError, ValueError):
        whole = False
    if not whole:
        raise ValueError(f"{what} must be a whole number >= {least}, got {n!r}")
    return int(n)


def _noise(noise: float) -> float:
    noise = float(noise)
    if not math.isfinite(noise) or noise < 0:
        raise ValueError(f"noise (a standard deviation) must be a finite number >= 0, got {noise!r}")
    return noise


def _per_class(n: int, classes: int) -> list[int]:
    """``n`` split over ``classes`` as evenly as possible, the first classes taking one more (as make_blobs)."""
    return [n // classes + (1 if j < n % classes else 0) for j in range(classes)]


def _shuffled(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, shuffle: bool) -> tuple[np.ndarray, np.ndarray]:
    if not shuffle:
        return x, y
    order = rng.permutation(len(y))
    return x[order], y[order]


def spiral(n: int = 300, classes: int = 3, noise: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """CS231n's spiral ("Neural network case study"): ``classes`` arms of ``n / classes`` points each.

    Arm j has radius ``r = linspace(0, 1, N)`` and angle ``t = linspace(4j, 4(j+1), N) + noise·randn(N)``;
    the point is ``(r·sin t, r·cos t)``, so every point lies in the unit disc. Points come in class order
    (all of class 0, then 1, ...), as in the case study. The default is the case study's 3 × 100 points.
    """
    n, classes, noise = _count(n), _count(classes, "classes"), _noise(noise)
    if n < classes:
        raise ValueError(f"spiral needs at least one point per class: n={n} < classes={classes}")
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for j, size in enumerate(_per_class(n, classes)):
        r = np.linspace(0.0, 1, size)
        t = np.linspace(j * 4, (j + 1) * 4, size) + rng.standard_normal(size) * noise
        xs.append(np.c_[r * np.sin(t), r * np.cos(t)])
        ys.append(np.full(size, j))
    return np.vstack(xs), np.concatenate(ys).astype(int)


def moons(n: int = 100, noise: float = 0.1, seed: int = 0, shuffle: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles, as scikit-learn's ``make_moons`` (written here with numpy).

    Class 0 (``n // 2`` points) lies evenly on the upper unit half circle, class 1 (the rest) on the lower
    half circle centred at (1, 0.5); then the points are shuffled (``shuffle``) and moved by gaussian
    noise of standard deviation ``noise``. The default is micrograd's demo: 100 points, noise 0.1.
    """
    n, noise = _count(n, least=2), _noise(noise)
    n_out, n_in = n // 2, n - n // 2
    rng = np.random.default_rng(seed)
    a_out, a_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
    x = np.vstack([np.append(np.cos(a_out), 1 - np.cos(a_in)), np.append(np.sin(a_out), 1 - np.sin(a_in) - 0.5)]).T
    y = np.hstack([np.zeros(n_out, dtype=int), np.ones(n_in, dtype=int)])
    x, y = _shuffled(x, y, rng, shuffle)
    return x + rng.normal(scale=noise, size=x.shape), y


def circles(n: int = 100, noise: float = 0.05, factor: float = 0.5, seed: int = 0,
            shuffle: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A circle inside a circle, as scikit-learn's ``make_circles`` (written here with numpy).

    Class 0 (``n // 2`` points) is evenly spaced on the unit circle, class 1 (the rest) on a circle of
    radius ``factor`` (in [0, 1)); no point repeats the first (angles from 0 up to, not including, 2π).
    Then the points are shuffled (``shuffle``) and moved by gaussian noise of standard deviation ``noise``.
    """
    n, noise = _count(n, least=2), _noise(noise)
    factor = float(factor)
    if not 0 <= factor < 1:
        raise ValueError(f"factor (inner radius / outer radius) must be in [0, 1), got {factor!r}")
    n_out, n_in = n // 2, n - n // 2
    rng = np.random.default_rng(seed)
    a_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    a_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    x = np.vstack([np.append(np.cos(a_out), np.cos(a_in) * factor),
                   np.append(np.sin(a_out), np.sin(a_in) * factor)]).T
    y = np.hstack([np.zeros(n_out, dtype=int), np.ones(n_in, dtype=int)])
    x, y = _shuffled(x, y, rng, shuffle)
    return x + rng.normal(scale=noise, size=x.shape), y


def blobs(n: int = 100, centers: int | np.ndarray = 3, noise: float = 1.0, seed: int = 0,
          box: tuple[float, float] = (-10.0, 10.0), shuffle: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters, as scikit-learn's ``make_blobs``: one class per cluster.

    ``centers`` is a count K (centres then drawn uniformly in ``box`` on both axes) or an array of K
    centres ``(K, 2)``. Cluster j holds ``n // K`` points (the first ``n % K`` clusters one more), drawn
    around its centre with standard deviation ``noise`` (scikit-learn's ``cluster_std``), then shuffled.
    """
    n, noise = _count(n), _noise(noise)
    rng = np.random.default_rng(seed)
    if np.ndim(centers) == 0:
        low, high = box
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"box must be (low, high) with low < high, got {box!r}")
        centre_xy = rng.uniform(low, high, size=(_count(centers, "centers"), 2))
    else:
        centre_xy = np.asarray(centers, dtype=float)
        if centre_xy.ndim != 2 or centre_xy.shape[1] != 2 or len(centre_xy) == 0 or not np.isfinite(centre_xy).all():
            raise ValueError(f"centers must be a count or finite points of shape (K, 2), got shape {centre_xy.shape}")
    k = len(centre_xy)
    if n < k:
        raise ValueError(f"blobs needs at least one point per cluster: n={n} < {k} centers")
    sizes = _per_class(n, k)
    x = np.vstack([rng.normal(loc=c, scale=noise, size=(size, 2)) for c, size in zip(centre_xy, sizes)])
    y = np.repeat(np.arange(k), sizes)
    return _shuffled(x, y, rng, shuffle)


def xor(n: int = 4, noise: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """XOR: points at the corners (a, b) of the unit square, labelled ``a XOR b``.

    Point i sits at corner i mod 4 of (0,0), (0,1), (1,0), (1,1), moved by gaussian noise of standard
    deviation ``noise``. The default (4 points, no noise) is the truth table; more points with noise make
    four noisy clusters, two per class.
    """
    n, noise = _count(n), _noise(noise)
    corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    which = np.arange(n) % 4
    x = corners[which]
    if noise:
        x = x + np.random.default_rng(seed).normal(scale=noise, size=x.shape)
    return x, np.array([0, 1, 1, 0])[which]


def sine(n: int = 100, noise: float = 0.1, seed: int = 0,
         x_range: tuple[float, float] = (-np.pi, np.pi)) -> tuple[np.ndarray, np.ndarray]:
    """1-D regression: ``y = sin(x) + noise·randn`` at ``n`` points drawn uniformly in ``x_range``, sorted.

    Returns ``x`` and ``y`` of shape ``(n, 1)``, ready for a network with one input and one output.
    """
    n, noise = _count(n), _noise(noise)
    low, high = map(float, x_range)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"x_range must be (low, high) with low < high, got {x_range!r}")
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(low, high, size=n))
    y = np.sin(x) + rng.normal(scale=noise, size=n)
    return x.reshape(-1, 1), y.reshape(-1, 1)


DATASETS = {f.__name__: f for f in (spiral, moons, circles, blobs, xor, sine)}


def split(x: np.ndarray, y: np.ndarray, test_fraction: float = 0.2,
          seed: int = 0) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Hold out a random ``test_fraction`` of the samples: ``(x_train, y_train), (x_test, y_test)``.

    ``round(n · test_fraction)`` samples go to the test set, chosen with ``default_rng(seed)``; both parts
    keep the original order of their samples. ``test_fraction`` must be in (0, 1) and leave at least one
    sample on each side.
    """
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have one row per sample, got {len(x)} and {len(y)} rows")
    fraction = float(test_fraction)
    if not 0 < fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction!r}")
    n = len(x)
    n_test = round(n * fraction)
    if not 0 < n_test < n:
        raise ValueError(f"test_fraction {fraction:g} of {n} samples leaves {n_test} for the test set and "
                         f"{n - n_test} for training; each needs at least one")
    test = np.zeros(n, dtype=bool)
    test[np.random.default_rng(seed).choice(n, size=n_test, replace=False)] = True
    return (x[~test], y[~test]), (x[test], y[test])


__all__ = ["DATASETS", "blobs", "circles", "moons", "sine", "spiral", "split", "xor"]
