"""An 8-3-8 autoencoder squeezes eight one-hot patterns through three units, with the seed's bugs fixed.

From seed notebook ``004_3b695e404a33642b``: eight inputs, three hidden units, eight outputs, the shifted
sigmoid ``expit(x + 1)`` as activation (a user-defined activation here), biases, weights drawn as
``randn · sqrt(2/8)`` and biases uniform in [0, 1). The seed took one step on one random input; this scene
trains on all eight one-hot patterns (full batch, half the sum of squared errors) until every pattern is
reconstructed: each output's largest value is at its input's hot position.

What this scene fixes relative to the seed:

* The output slope was taken at the activation (``activation(output_activation, dx=True)``) instead of at
  the pre-activation ``output_z``; the hidden slope had the same mistake.
* The hidden delta was backpropagated through the hidden weights (``delta_out · hidden_weight``, which only
  ran because both happen to be 8×3 / 3×8 shaped) instead of the output weights transposed.
* The learning rate is 1.0 rather than the seed's 0.1: with the fixed gradients 0.1 also works, but needs
  about 1950 steps before all eight patterns are reconstructed against 200 at 1.0 (seed 0), a long, slow
  video. The 2000 steps here leave time for the reconstructions to sharpen after that.

The engine takes every derivative at the pre-activation and backpropagates through the right matrix by
construction; ``tests/test_nn.py`` checks it, user-defined activation included, against finite differences.
"""
from __future__ import annotations

import numpy as np

from visualizer import (SGD, Activation, ActivationsPanel, Dense, Layout, LossPanel, Network, NetworkDiagramPanel,
                        Scene, WeightMatrixPanel)


def _shifted(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -(z + 1.0)))  # expit(z + 1), stable for any z


def _shifted_slope(z: np.ndarray) -> np.ndarray:
    s = _shifted(z)
    return s * (1.0 - s)


SHIFTED_SIGMOID = Activation("expit(z+1)", _shifted, _shifted_slope)
X = np.eye(8)
PATTERNS = [f"pattern {i + 1}" for i in range(8)]


def network(seed: int) -> Network:
    """8-3-8 with the seed's initialisation."""
    rng = np.random.default_rng(seed)
    return Network([
        Dense(8, 3, SHIFTED_SIGMOID, name="hidden", weight=rng.standard_normal((8, 3)) * np.sqrt(2.0 / 8),
              bias_init=rng.uniform(size=3)),
        Dense(3, 8, SHIFTED_SIGMOID, name="output", weight=rng.standard_normal((3, 8)) * np.sqrt(2.0 / 8),
              bias_init=rng.uniform(size=8)),
    ])


def scene() -> Scene:
    """Full-batch training on the eight one-hot patterns."""
    layout = Layout(
        mosaic=[["inputs", "codes", "outputs", "net"],
                ["w_hidden", "w_output", "loss", "net"]],
        panels={"inputs": ActivationsPanel(title="inputs (one-hot)", row_names=PATTERNS),
                "codes": ActivationsPanel(layer="hidden", title="3-unit codes", row_names=PATTERNS),
                "outputs": ActivationsPanel(layer="output", title="reconstructions", row_names=PATTERNS),
                "net": NetworkDiagramPanel(),
                "w_hidden": WeightMatrixPanel("hidden.weight", title="hidden weights (8×3)"),
                # 3×8 cells are too narrow for numbers: a colour bar gives the scale instead.
                "w_output": WeightMatrixPanel("output.weight", title="output weights (3×8)", annotate_max=0,
                                              colorbar=True),
                "loss": LossPanel()},
        width_ratios=[1, 0.8, 1, 1],
    )
    return Scene(name="autoencoder", title="An 8-3-8 autoencoder", network=network, x=X, y=X, loss="half_ssr",
                 optimizer=SGD(1.0), steps=2000, every=10, seed=0, layout=layout)
