"""Initialization: zeros never break symmetry, large weights saturate, He learns (a 2-16-16-1 tanh network on circles).

Reproduces the initialization notebook of the deep-learning specialization (Andrew Ng's *Improving Deep
Neural Networks*, week 1, "Initialization"), with Karpathy's saturation measure (makemore part 3, |tanh| >
0.97): the same network trained from four starts,

``python -m visualizer compare initialization --vary init=zeros,small,large,he``

* ``zeros``: every hidden unit computes the same thing and receives the same gradient, so they stay
  identical for the whole run (the diagrams show no edge at all; ``tests/test_lessons.py`` checks that each
  layer's units have identical weights at every recorded step) and the loss never leaves ln 2;
* ``small`` (0.01·randn): the signal shrinks layer by layer to almost nothing, and so do the gradients: the
  loss stays near ln 2 (the tests check it ends above 0.6);
* ``large`` (10·randn): nearly every tanh unit starts saturated (|a| > 0.97: the tests check more than 80 %),
  its slope is almost 0, and training crawls down from a loss 25 times ln 2 without separating the circles;
* ``he`` (He et al. 2015, σ = gain/√fan_in with tanh's gain 5/3): the units start in their working range and
  the network separates the two circles (the tests check that its loss ends lowest).

The scene alone renders the He run. What it changes from the notebook: tanh hidden units rather than ReLU
(saturation is the clearest with tanh), two circles of 200 points with noise 0.1 (this project's
``datasets.circles``), binary cross-entropy on a logit, SGD with momentum (lr 0.1, 0.9) for 400 full-batch steps.
"""
from __future__ import annotations

from visualizer import (MLP, SGD, AccuracyPanel, ClassRegionsPanel, Data, Layout, LossPanel, NetworkDiagramPanel,
                        Scene)
from visualizer.datasets import circles

SIZES = (2, 16, 16, 1)


def scene(init: str = "he") -> Scene:
    """The He run; ``init`` names another start (zeros, small, large, xavier, …)."""
    layout = Layout(
        mosaic=[["regions", "net", "net"],
                ["regions", "loss", "accuracy"]],
        panels={"regions": ClassRegionsPanel(names=["outer", "inner"]),
                "net": NetworkDiagramPanel(input_names=["x₁", "x₂"], output_names=["logit"]),
                "loss": LossPanel(),
                "accuracy": AccuracyPanel()},
        height_ratios=[1.3, 1],
        width_ratios=[2, 1, 1],
    )
    return Scene(name="initialization", title="Initialization: the same network from four starts",
                 network=MLP(SIZES, "tanh", init=init), x=None, y=None,
                 data=Data(circles, n=200, noise=0.1, factor=0.5, seed=0), loss="bce", optimizer=SGD(0.1, momentum=0.9),
                 steps=400, every=8, seed=0, layout=layout, input_names=["x₁", "x₂"])
