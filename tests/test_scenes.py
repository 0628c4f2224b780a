"""Each scene's key claims, checked on the engine (no rendering)."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest

from conftest import ROOT
from visualizer import load_scene, train


@pytest.fixture(scope="module")
def softplus_history():
    return train(load_scene(ROOT / "scenes" / "softplus_fit.py"))


def test_softplus_initial_values_are_the_seeds_random_draws(softplus_history):
    h = softplus_history
    iw1, iw2 = h.params["hidden.weight"][0, 0]
    b1, b2 = h.params["hidden.bias"][0]
    ow1, ow2 = h.params["output.weight"][0, :, 0]
    assert (round(iw1, 4), round(ow1, 4), round(b1, 4)) == (-0.2581, 4.5543, -2.3489)
    # The same six draws the seed makes, in its order iw1, ow1, b1, iw2, ow2, b2.
    random.seed(13)
    draws = [random.gauss(0, 3) for _ in range(6)]
    assert [iw1, ow1, b1, iw2, ow2, b2] == draws


def _hand_gradients(iw1, b1, ow1, iw2, b2, ow2):
    """dSSR/dθ from the chain rule, written out per sample in plain Python (independent of the engine)."""
    def softplus(z):
        return math.log1p(math.exp(z))

    def sigmoid(z):  # d softplus / dz
        return 1 / (1 + math.exp(-z))

    g = dict.fromkeys(["iw1", "b1", "ow1", "iw2", "b2", "ow2"], 0.0)
    for n in range(12):
        x = (n + 1) / 6
        a = softplus(2 * math.sin(math.pi * x))
        z1, z2 = iw1 * x + b1, iw2 * x + b2
        p = ow1 * softplus(z1) + ow2 * softplus(z2)
        d_p = -2 * (a - p)
        g["ow1"] += d_p * softplus(z1)
        g["iw1"] += d_p * ow1 * sigmoid(z1) * x
        g["b1"] += d_p * ow1 * sigmoid(z1)
        g["ow2"] += d_p * softplus(z2)
        g["iw2"] += d_p * ow2 * sigmoid(z2) * x
        g["b2"] += d_p * ow2 * sigmoid(z2)
    return g


def test_softplus_step0_gradients_match_the_hand_derived_formulas(softplus_history):
    h = softplus_history
    random.seed(13)
    iw1, ow1, b1, iw2, ow2, b2 = (random.gauss(0, 3) for _ in range(6))
    hand = _hand_gradients(iw1, b1, ow1, iw2, b2, ow2)
    got = {
        "iw1": h.grads["hidden.weight"][0, 0, 0], "iw2": h.grads["hidden.weight"][0, 0, 1],
        "b1": h.grads["hidden.bias"][0, 0], "b2": h.grads["hidden.bias"][0, 1],
        "ow1": h.grads["output.weight"][0, 0, 0], "ow2": h.grads["output.weight"][0, 1, 0],
    }
    for name in hand:
        assert got[name] == pytest.approx(hand[name], rel=1e-12), name
    # Pinned values, so a change to the data or initialisation is noticed too.
    pinned = {"iw1": -2.1212082, "b1": -3.13175665, "ow1": -0.71458683,
              "iw2": -0.99688519, "b2": -1.78621865, "ow2": -2.42134782}
    for name, value in pinned.items():
        assert got[name] == pytest.approx(value, abs=1e-7), name


def test_softplus_trains_600_full_batch_steps_and_the_loss_falls(softplus_history):
    h = softplus_history
    assert h.steps.tolist() == list(range(601))
    assert h.meta["loss_label"] == "SSR" and h.meta["lr"] == 0.01
    assert h.loss[0] == pytest.approx(5.83342345, abs=1e-7)
    assert h.loss[-1] < 0.4 * h.loss[0]
    # Full batch: each row is the previous one moved by lr times the recorded gradient.
    np.testing.assert_allclose(h.params["hidden.bias"][1], h.params["hidden.bias"][0] - 0.01 * h.grads["hidden.bias"][0])


def test_softplus_docstring_says_what_it_fixed():
    doc = load_scene("softplus_fit").description
    assert doc.startswith("Two softplus neurons")
    source = (ROOT / "scenes" / "softplus_fit.py").read_text()
    for fixed in ("sample index", "sigmoid of the pre-activation", "wrong lists"):
        assert fixed in source
