"""XOR from a 3-4-1 sigmoid network: the seed's exact run, with the output map and every hidden unit.

Reproduces seed notebook ``002_05d98b4c929f4597``: the four rows of the XOR truth table with a constant
third input (it plays the part of a bias), a 3-4-1 sigmoid network without bias parameters, initial weights
from ``np.random.seed(1)`` then ``2*np.random.random((3,4)) - 1`` and ``2*np.random.random((4,1)) - 1``, and
10,000 full-batch steps. The seed's update ``w += layer.T.dot(delta)`` is gradient descent with learning
rate 1 on half the sum of squared errors, which is what this scene runs, so the run is the seed's own
computation: the mean |error| at steps 0, 1000 and 9000 is 0.4964100319, 0.0429846478 and 0.0091295242.

What this scene fixes relative to the seed:

* The seed's printed errors (0.498…, 0.0447…) came from an earlier random state and do not match a fresh
  run of its own code; the numbers above are a straight re-run, and ``tests/test_scenes.py`` pins them.
* Its ``sigmoid(x, deriv=True)`` returns ``x*(1-x)``, which is the derivative only when ``x`` is already the
  sigmoid's *output*; the seed passes outputs, so it is right here, but the helper invites the mistake the
  autoencoder seed makes. The engine takes each derivative at the pre-activation, beside its function.
* The global ``np.random.seed`` becomes a ``RandomState(seed)`` owned by the scene: the same numbers, no
  global state.
"""
from __future__ import annotations

import numpy as np

from visualizer import (SGD, ChainRulePanel, DecisionBoundaryPanel, Dense, Layout, LossLandscapePanel, LossPanel,
                        Network, NetworkDiagramPanel, Scene, UnitMapPanel)

X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
Y = np.array([[0], [1], [1], [0]], dtype=float)


def network(seed: int) -> Network:
    """3-4-1, sigmoid everywhere, no biases; weights drawn as the seed draws them."""
    rs = np.random.RandomState(seed)  # the legacy stream np.random.seed(seed) would give
    w0 = 2 * rs.random_sample((3, 4)) - 1
    w1 = 2 * rs.random_sample((4, 1)) - 1
    return Network([Dense(3, 4, "sigmoid", bias=False, name="hidden", weight=w0),
                    Dense(4, 1, "sigmoid", bias=False, name="output", weight=w1)])


ROWS = ["0 xor 0", "0 xor 1", "1 xor 0", "1 xor 1"]


def why_layout() -> Layout:
    """``--layout why``: the backward pass on the diagram, the chain rule for w1[1,1], the weight from input a
    to hidden unit 1 (h1 = σ(z1), P = σ(s)), and the path over the loss landscape of the trajectory's plane."""
    return Layout(
        mosaic=[["map", "net", "land"],
                ["chain", "chain", "loss"]],
        panels={"map": DecisionBoundaryPanel(title="output over (a, b), third input = 1", names=ROWS,
                                             resolution=60),
                "net": NetworkDiagramPanel(show="gradients", output_names=["P"]),
                "land": LossLandscapePanel(),
                "chain": ChainRulePanel("hidden.weight", (0, 0), names={"output": ("s", "P")},
                                        sample_names=ROWS),
                "loss": LossPanel()},
        height_ratios=[1.25, 1],
        width_ratios=[1, 1, 1.1],
    )


def scene() -> Scene:
    """The seed's run, drawn every 50 steps."""
    # One scale for the layer's units: its colour bar beside the right-hand map of each row.
    units = {f"unit{j}": UnitMapPanel(layer="hidden", unit=j, colorbar=j % 2 == 1) for j in range(4)}
    layout = Layout(
        mosaic=[["map", "map", "unit0", "unit1", "net", "net"],
                ["map", "map", "unit2", "unit3", "net", "net"],
                ["loss", "loss", "loss", "loss", "net", "net"]],
        panels={"map": DecisionBoundaryPanel(title="output over (a, b), third input = 1", names=ROWS),
                **units,
                "loss": LossPanel(),
                "net": NetworkDiagramPanel(output_names=["a xor b"])},
        height_ratios=[1, 1, 1],
    )
    return Scene(name="xor", title="XOR: a 3-4-1 sigmoid network", network=network, x=X, y=Y, loss="half_ssr",
                 optimizer=SGD(1.0), steps=10_000, every=50, seed=1, layout=layout, input_names=["a", "b", "1"],
                 layouts={"why": why_layout()},
                 # From the run: step 250 is the first recorded step with all four points on the right side
                 # of 0.5 (the output at the corners: 0.12, 0.76, 0.70, 0.49).
                 moments={250: "All four points are on the right side now: the hidden units have split the "
                               "plane"})
