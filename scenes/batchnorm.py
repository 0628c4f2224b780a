"""Batch norm: a 2-16×6-1 tanh network started at a poor weight scale trains with batch norm and stalls without.

Reproduces the experiment of Stanford's CS231n assignment 2 ("Batch Normalization": deep networks trained
over a sweep of initial weight scales, with and without batch norm; https://cs231n.github.io/) at one point
of its sweep, and the fix Karpathy's makemore part 3 shows for a badly scaled deep tanh network (Ioffe and
Szegedy 2015): six hidden layers of 16 tanh units whose weights start as 0.05·randn, far below the 1/√fan_in
that keeps a signal's size. Without batch norm every layer shrinks the signal (and, going back, the gradient)
by about 0.05·√16 = 0.2, so the first layers see almost nothing and the loss stays flat at ln 2 for the
whole run; with a batch norm between each layer's product and its tanh, every layer's pre-activations are
rescaled to unit size whatever the weights, and the network separates the two moons:

``python -m visualizer compare batchnorm --vary batchnorm=off,on``

(``tests/test_lessons.py`` checks that the run without batch norm ends within 5 % of ln 2 and the run with it
far below). The scene alone renders the run without batch norm; the diagram marks each batch norm.

What it changes from CS231n: two moons (200 points, noise 0.1) instead of CIFAR-10, tanh instead of ReLU
(the saturation makemore studies), full-batch SGD with momentum (lr 0.05, 0.9) for 250 steps.
"""
from __future__ import annotations

from visualizer import (MLP, SGD, AccuracyPanel, ClassRegionsPanel, Data, Layout, LossPanel, NetworkDiagramPanel,
                        Scene)
from visualizer.datasets import moons

SIZES = (2, 16, 16, 16, 16, 16, 16, 1)
SCALE = "normal:0.05"


def scene(batchnorm: bool = False) -> Scene:
    """The run without batch norm; ``batchnorm=True`` puts one before each hidden layer's tanh."""
    layout = Layout(
        mosaic=[["regions", "net", "net"],
                ["regions", "loss", "accuracy"]],
        panels={"regions": ClassRegionsPanel(names=["upper moon", "lower moon"]),
                "net": NetworkDiagramPanel(input_names=["x₁", "x₂"], output_names=["logit"]),
                "loss": LossPanel(),
                "accuracy": AccuracyPanel()},
        height_ratios=[1.3, 1],
        width_ratios=[2, 1, 1],
    )
    return Scene(name="batchnorm", title="Batch norm: a deep tanh network started at weight scale 0.05",
                 network=MLP(SIZES, "tanh", init=SCALE, batchnorm=batchnorm), x=None, y=None,
                 data=Data(moons, n=200, noise=0.1, seed=0), loss="bce", optimizer=SGD(0.05, momentum=0.9),
                 steps=250, every=5, seed=0, layout=layout, input_names=["x₁", "x₂"])
