"""Four people classified by weight and height: a 2-2-1 sigmoid network trained one sample at a time.

From seed notebook ``001_f715edb0a59ccac6`` (victorzhou.com's "neural network from scratch"): Alice, Bob,
Charlie and Diana with weight − 135 lb and height − 66 in as inputs, label 1 for female, a 2-2-1 network of
sigmoid neurons with biases (w1…w6, b1…b3), mean squared error, per-sample SGD with learning rate 0.5 for
1000 epochs (4000 updates), drawn once per epoch. By the end every prediction is within 0.05 of its label.

What this scene changes relative to the seed:

* The seed's gradients are right; what it lacked is reproducibility: it drew its nine starting values from
  the unseeded global ``np.random.normal()``, so no two runs matched. Here they come from
  ``np.random.default_rng(seed)`` in the seed's order w1…w6, b1…b3.
* It printed the loss every tenth epoch only; here the loss, every parameter and every gradient are recorded
  each epoch, and the decision boundary shows what the numbers mean.
* Its first cells comment ``bias = 4  # b = 0``; the values used are the ones in the code.
"""
from __future__ import annotations

import numpy as np

from visualizer import (SGD, ChainRulePanel, DecisionBoundaryPanel, Dense, Layout, LossLandscapePanel, LossPanel,
                        Network, NetworkDiagramPanel, ParameterPanel, Scene)

NAMES = ["Alice", "Bob", "Charlie", "Diana"]
X = np.array([[-2, -1], [25, 6], [17, 4], [-15, -6]], dtype=float)
Y = np.array([[1], [0], [0], [1]], dtype=float)
LABELS = {"hidden.weight[0,0]": "w1", "hidden.weight[1,0]": "w2", "hidden.weight[0,1]": "w3",
          "hidden.weight[1,1]": "w4", "hidden.bias[0]": "b1", "hidden.bias[1]": "b2",
          "output.weight[0,0]": "w5", "output.weight[1,0]": "w6", "output.bias[0]": "b3"}


def network(seed: int) -> Network:
    """h1 = σ(w1·x0 + w2·x1 + b1), h2 = σ(w3·x0 + w4·x1 + b2), o1 = σ(w5·h1 + w6·h2 + b3)."""
    rng = np.random.default_rng(seed)
    w1, w2, w3, w4, w5, w6, b1, b2, b3 = rng.normal(size=9)
    hidden = Dense(2, 2, "sigmoid", name="hidden", weight=[[w1, w3], [w2, w4]], bias_init=[b1, b2])
    output = Dense(2, 1, "sigmoid", name="output", weight=[[w5], [w6]], bias_init=[b3])
    return Network([hidden, output])


def why_layout() -> Layout:
    """``--layout why``: the backward pass on the diagram, the seed's own chain rule for w1 (its names: sum_h1,
    h1, sum_o1, ypred), and the path over the loss landscape of the trajectory's plane. The chain rule is the
    gradient on all four people, the one recorded; training steps on one person at a time."""
    return Layout(
        mosaic=[["map", "net", "land"],
                ["chain", "chain", "loss"]],
        panels={"map": DecisionBoundaryPanel(title="P(female) over weight and height", names=NAMES, resolution=60),
                "net": NetworkDiagramPanel(show="gradients", output_names=["ypred"]),
                "land": LossLandscapePanel(),
                "chain": ChainRulePanel("hidden.weight", (0, 0), sample_names=NAMES,
                                        names={"hidden": ("sum_h", "h"), "output": ("sum_o1", "ypred")}),
                "loss": LossPanel()},
        height_ratios=[1.25, 1],
        width_ratios=[1, 1, 1.1],
    )


def scene() -> Scene:
    """1000 epochs of four per-sample updates, one frame per epoch."""
    layout = Layout(
        mosaic=[["map", "map", "params", "params"],
                ["map", "map", "params", "params"],
                ["loss", "loss", "net", "net"]],
        panels={"map": DecisionBoundaryPanel(title="P(female) over weight and height", names=NAMES),
                "params": ParameterPanel(title="the nine parameters"),
                "loss": LossPanel(),
                "net": NetworkDiagramPanel(output_names=["P(female)"])},
        height_ratios=[1, 1, 1],
    )
    return Scene(name="gender", title="Classifying four people: a 2-2-1 sigmoid network", network=network, x=X,
                 y=Y, loss="mse", optimizer=SGD(0.5), steps=4000, batch_size=1, every=4, seed=3, layout=layout,
                 input_names=["weight − 135 lb", "height − 66 in"], layouts={"why": why_layout()}, param_names=LABELS)
