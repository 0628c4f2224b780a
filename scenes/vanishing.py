"""Vanishing gradients: in a 1-8-8-8-8-8-1 sigmoid network the first hidden layer learns ~100x slower than the last.

Reproduces the figure of Michael Nielsen's *Neural Networks and Deep Learning*, chapter 5 ("Why are deep
neural networks hard to train?", http://neuralnetworksanddeeplearning.com/chap5.html): the speed of learning
of each hidden layer, ‖δˡ‖ (the size of ∂C/∂b, the bias gradient, of layer l), in a deep sigmoid network.
Nielsen's network (784-30-30-30-30-10 on MNIST) shows the first hidden layer learning about 100 times more
slowly than the last. Here a 1-8-8-8-8-8-1 sigmoid network (Glorot-uniform weights, zero biases) fits
sin(x) on 100 points by mean squared error with SGD (lr 0.5, momentum 0.9, full batch, 1,500 steps): the
lower panel draws each hidden layer's ‖δ‖ over training, one colour per layer, on a log axis. The
first hidden layer's mean |∂L/∂z| starts about 100x below the last hidden layer's and stays more than 10x
below it for the whole run (``tests/test_lessons.py`` checks it at every recorded step), so the first layers
barely move and the fit creeps.

What closes the gap (Karpathy's makemore part 3, He et al. 2015): ReLU with He initialization,
``python -m visualizer compare vanishing --vary activation=sigmoid,relu --vary init=xavier,he`` (or
``--vary activation=sigmoid,relu`` on ``scene(init="he")``): the ReLU run's layers learn at comparable
speeds, within a few times of each other. The comparison draws each run's ‖δ‖ per layer under its fit, on
one log axis: the sigmoid run's lines spread over decades, the ReLU run's lie together.

What this scene changes: a sine and an 8-unit-wide network instead of MNIST and 30 units, so it trains in
seconds; the speed is the mean |δ| over the training set rather than Nielsen's norm of the bias gradient
(the same up to the layer's width, which is equal for all hidden layers here).
"""
from __future__ import annotations

from visualizer import SGD, MLP, Data, FitPanel, LayerStatPanel, Layout, LossPanel, NetworkDiagramPanel, Scene
from visualizer.datasets import sine

SIZES = (1, 8, 8, 8, 8, 8, 1)


def scene(activation: str = "sigmoid", init: str | None = None) -> Scene:
    """The deep sigmoid run; ``activation="relu", init="he"`` is the run that closes the gap."""
    layout = Layout(
        mosaic=[["fit", "net"],
                ["optim", "loss"]],
        panels={"fit": FitPanel(),
                "net": NetworkDiagramPanel(input_names=["x"], output_names=["ŷ"]),
                "loss": LossPanel(),
                "optim": LayerStatPanel("delta_norm", title="how fast each layer learns: ‖δ‖ = mean |∂L/∂z|")},
        height_ratios=[1.3, 1],
        width_ratios=[1.25, 1],
    )
    net = MLP(SIZES, activation, init=init)
    return Scene(name="vanishing", title="Vanishing gradients: a deep sigmoid network learns a sine", network=net,
                 x=None, y=None, data=Data(sine, n=100, noise=0.05, seed=0), loss="mse",
                 optimizer=SGD(0.05, momentum=0.9), steps=1500, every=30, seed=0, layout=layout,
                 input_names=["x"])
