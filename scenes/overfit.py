"""Over-fitting: a 2-64-64-1 network memorises 60 noisy points; the test loss turns up as the training loss falls.

The lesson of every introduction to generalization (TensorFlow Playground's noisy data with a big network; the
"train and validation loss" curves of Goodfellow, Bengio and Courville's *Deep Learning*, figure 7.3): a
network with far more parameters (4,417) than training points (60 of 150 two-moons points with noise 0.35;
the other 90 are held out as the test set) learns the noise. The test loss falls, bottoms out near step 200
and then climbs back to several times its minimum while the training loss keeps falling towards zero; the
class regions grow islands around single noisy points, and test accuracy drops from its best. Adam
(lr 0.002, 800 full-batch steps on binary cross-entropy) shows its moments and step sizes beside it.

The switch: ``L2_STRENGTH`` (or ``scene(l2=...)``) adds ``0.5·λ·ΣW²`` on the weights to the objective.
With ``l2=0.01`` the test loss no longer turns up and the regions stay smooth. ``tests/test_scenes.py`` checks
both runs.
"""
from __future__ import annotations

import numpy as np

from visualizer import (L2, AccuracyPanel, Adam, ClassRegionsPanel, Dense, Layout, LossPanel, Network,
                        OptimizerStatePanel, Scene)
from visualizer.datasets import moons

X, Y = moons(150, noise=0.35, seed=3)
TEST_FRACTION = 0.6
L2_STRENGTH = 0.0  # the switch: 0.01 regularizes enough that the test loss no longer turns up


def network(seed: int) -> Network:
    """2-64-64-1: two ReLU layers (Glorot-uniform weights, zero biases), one logit out."""
    rng = np.random.default_rng(seed)
    return Network([Dense(2, 64, "relu", name="hidden1", rng=rng), Dense(64, 64, "relu", name="hidden2", rng=rng),
                    Dense(64, 1, "identity", name="output", rng=rng)])


def scene(l2: float = L2_STRENGTH) -> Scene:
    """The run without regularization by default; ``l2 > 0`` turns the L2 penalty on."""
    layout = Layout(
        mosaic=[["regions", "regions", "loss"],
                ["regions", "regions", "accuracy"],
                ["optim", "optim", "optim"]],
        panels={"regions": ClassRegionsPanel(names=["upper moon", "lower moon"]),
                "loss": LossPanel(),
                "accuracy": AccuracyPanel(),
                "optim": OptimizerStatePanel()},
        height_ratios=[1, 1, 0.75],
        width_ratios=[1, 1, 1.1],
        secondary=("optim",),  # the lecture preset leaves the Adam state out
    )
    regularized = f", L2 {l2:g}" if l2 else ", no regularization"
    return Scene(name="overfit", title=f"Over-fitting: 2-64-64-1 on 60 noisy points{regularized}", network=network,
                 x=X, y=Y, test_fraction=TEST_FRACTION, loss="bce", optimizer=Adam(0.002),
                 penalty=L2(l2, half=True) if l2 else None, steps=800, every=4, seed=0, layout=layout,
                 input_names=["x₁", "x₂"],
                 # From the default run: the test loss is lowest at step 196, then climbs while the training
                 # loss keeps falling (with the L2 penalty it turns later and less: no moment is claimed).
                 moments={} if l2 else {196: "The test loss is at its lowest: from here on the network "
                                             "learns the noise of the training points"})
