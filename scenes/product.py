"""Learning x0·x1 on the unit square: a [2,6,6,1] network trained on a million random samples.

From seed notebook ``000_bc88b7a1aaaeedb6`` ("Babby's second neural net"): a [2,6,6,1] network with sigmoid
hidden layers, a linear output and no biases, weights uniform in ±0.1, per-sample SGD with learning rate 0.1
on the squared error, one million random samples (x0, x1) uniform in [0,1]² with target x0·x1. A frame is
drawn every thousand samples; the loss in it is the mean squared error on a fixed 21×21 evaluation grid, so
frames compare (the seed's running average was over different random samples every time). By the end the
prediction at (0.4, 0.2) is within 0.01 of 0.08.

What this scene changes relative to the seed:

* The seed's "Avg Loss" divides the summed squared error of 1000 samples by 100, so it printed ten times the
  mean; this scene reports the mean.
* Its global ``random`` draws become ``np.random.default_rng(seed)``, and the samples are drawn in blocks
  (the same distribution), so the run is reproducible.
* Its gradients were right (``2·delta`` is the derivative of the squared error); the engine checks them
  against finite differences.
"""
from __future__ import annotations

import numpy as np

from visualizer import (SGD, Dense, Layout, LossPanel, Network, NetworkDiagramPanel, Scene, SurfacePanel,
                        WeightMatrixPanel)

GRID = np.linspace(0.0, 1.0, 21)
X_EVAL = np.array([(a, b) for b in GRID for a in GRID])
Y_EVAL = X_EVAL[:, :1] * X_EVAL[:, 1:]


def target(x: np.ndarray) -> np.ndarray:
    """The function being learnt."""
    return x[:, 0] * x[:, 1]


def sampler(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` fresh samples uniform on the unit square with their products."""
    x = rng.random((n, 2))
    return x, x[:, :1] * x[:, 1:]


def network(seed: int) -> Network:
    """[2,6,6,1]: sigmoid, sigmoid, linear; no biases; weights uniform in ±0.1."""
    rng = np.random.default_rng(seed)
    return Network([
        Dense(2, 6, "sigmoid", bias=False, name="hidden1", weight=rng.uniform(-0.1, 0.1, (2, 6))),
        Dense(6, 6, "sigmoid", bias=False, name="hidden2", weight=rng.uniform(-0.1, 0.1, (6, 6))),
        Dense(6, 1, "identity", bias=False, name="output", weight=rng.uniform(-0.1, 0.1, (6, 1))),
    ])


def scene() -> Scene:
    """A million per-sample steps, a frame every thousand."""
    layout = Layout(
        mosaic=[["target", "pred", "error", "net"],
                ["loss", "w1", "w2", "w3"]],
        panels={"target": SurfacePanel(kind="target", target=target, title="target x0·x1"),
                "pred": SurfacePanel(kind="prediction", target=target),
                "error": SurfacePanel(kind="error", target=target),
                "net": NetworkDiagramPanel(input_names=["x0", "x1"], output_names=["x0·x1"]),
                "loss": LossPanel(title="MSE on the 21×21 evaluation grid"),
                "w1": WeightMatrixPanel("hidden1.weight", title="hidden1 weights"),
                "w2": WeightMatrixPanel("hidden2.weight", title="hidden2 weights"),
                "w3": WeightMatrixPanel("output.weight", title="output weights")},
    )
    # With one sample per step, MSE and squared error are the same loss, so training is the seed's; MSE
    # makes the recorded loss on the evaluation grid a mean.
    return Scene(name="product", title="Learning x0·x1 with a [2,6,6,1] network", network=network, x=X_EVAL,
                 y=Y_EVAL, loss="mse", optimizer=SGD(0.1), steps=1_000_000, batch_size=1, sampler=sampler,
                 every=1000, seed=0, layout=layout, input_names=["x0", "x1"])
