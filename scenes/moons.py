"""micrograd's demo: a 2-16-16-1 ReLU network separates two moons with a max-margin loss, to 100 %.

Reproduces the demo notebook of Andrej Karpathy's micrograd (``demo.ipynb``, https://github.com/karpathy/micrograd):
100 two-moons points with noise 0.1, an MLP of two hidden layers of 16 ReLU units and one linear output (the
score), weights drawn ``uniform(-1, 1)`` and biases zero as micrograd's ``Neuron`` draws them (from Python's
``random``, in its order: layer by layer, neuron by neuron), the max-margin loss ``mean(relu(1 − y·score))``
plus ``1e-4·Σp²`` over every parameter (biases included, micrograd's convention), and 100 full-batch steps of
gradient descent with the learning rate ``1.0 − 0.9·k/100`` at step k. The demo reaches 100 % training
accuracy; so does this run (``tests/test_scenes.py`` checks it).

What this scene changes: the points come from this project's ``datasets.moons`` (scikit-learn's construction
written with numpy, seeded), not from scikit-learn's generator, so they are not the demo's exact points;
labels stay 0/1 (the hinge loss reads 0 as micrograd's −1). The map shows the probability σ(score) for
display, with its 0.5 contour where the demo's score is 0, rather than the sign of the score alone.
"""
from __future__ import annotations

import random

import numpy as np

from visualizer import (L2, SGD, AccuracyPanel, DecisionBoundaryPanel, Dense, Layout, LinearDecay, LossPanel,
                        Network, NetworkDiagramPanel, Scene)
from visualizer.datasets import moons

X, Y = moons(100, noise=0.1, seed=0)
SIZES = [2, 16, 16, 1]


def network(seed: int) -> Network:
    """2-16-16-1, ReLU then linear; weights uniform(-1, 1) in micrograd's draw order, biases zero."""
    rng = random.Random(seed)
    layers = []
    for k, (n_in, n_out) in enumerate(zip(SIZES, SIZES[1:])):
        weight = np.empty((n_in, n_out))
        for j in range(n_out):  # micrograd draws one neuron's incoming weights at a time
            for i in range(n_in):
                weight[i, j] = rng.uniform(-1, 1)
        last = k == len(SIZES) - 2
        layers.append(Dense(n_in, n_out, "identity" if last else "relu", name="output" if last else f"hidden{k + 1}",
                            weight=weight))
    return Network(layers)


def scene() -> Scene:
    """The demo's run, every step drawn."""
    layout = Layout(
        mosaic=[["map", "net"],
                ["loss", "accuracy"]],
        panels={"map": DecisionBoundaryPanel(title="σ(score) over the input plane, 0.5 contour"),
                "net": NetworkDiagramPanel(input_names=["x₁", "x₂"], output_names=["score"]),
                "loss": LossPanel(),
                "accuracy": AccuracyPanel(title="training accuracy")},
        height_ratios=[2.2, 1],
        width_ratios=[1, 1.05],
    )
    return Scene(name="moons", title="micrograd's demo: two moons, 2-16-16-1 ReLU, max-margin loss",
                 network=network, x=X, y=Y, loss="hinge", optimizer=SGD(LinearDecay(1.0, 0.1, 100)),
                 penalty=L2(1e-4, params="all"), steps=100, every=1, seed=1337, layout=layout,
                 input_names=["x₁", "x₂"])
