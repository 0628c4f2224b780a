"""Two softplus neurons learn softplus(2·sin(πx)) on twelve points (seed 003), with correct gradients.

Reproduces seed notebook ``003_8e6ca411fd70b4b4``: inputs x = (n+1)/6 for n = 0..11, targets
softplus(2·sin(πx)), prediction ``ow1·softplus(iw1·x + b1) + ow2·softplus(iw2·x + b2)`` (no output bias),
initial values from Python's ``random.seed(13)`` and six ``random.gauss(0, 3)`` draws in the order
iw1, ow1, b1, iw2, ow2, b2, learning rate 0.01, 600 full-batch steps on the sum of squared residuals.

What this scene fixes relative to the seed:

* The seed's chain rule used the sample index ``i`` where the input ``x_i`` belongs, both as the input to the
  neuron and as dx/diw (so ∂SSR/∂iw and ∂SSR/∂b were evaluated at x = 0, 1, 2, … instead of at the data).
* It used ``exp(softplus(z)) / (1 + exp(softplus(z)))`` as the slope of softplus; the derivative of
  softplus(z) is the sigmoid of the pre-activation, ``exp(z) / (1 + exp(z))``.
* Several gradient histories went into the wrong lists (∂/∂b2 into b1's, ∂/∂ow2 into ow1's, the constant 2
  into ow1's), and the plots of neuron 2's gradients showed neuron 1's histories. Here every history is
  recorded by parameter name from the network's own gradients.
* softplus is computed stably (``logaddexp(0, z)``), so large pre-activations cannot overflow.

The engine derives all gradients by backpropagation; ``tests/test_scenes.py`` checks the step-0 gradients
against the hand-derived formulas and every layer against central finite differences.
"""
from __future__ import annotations

import random

import numpy as np

from visualizer import (SGD, ChainRulePanel, Dense, FitPanel, GradientPanel, Layout, LossLandscapePanel, LossPanel,
                        Network, NetworkDiagramPanel, Scene)
from visualizer.draw.panels import NEURON_COLORS

N_POINTS = 12
X = np.array([(n + 1) / (N_POINTS / 2) for n in range(N_POINTS)])
Y = np.logaddexp(0.0, 2.0 * np.sin(np.pi * X))

# Scalar parameters as the seed names them: (label, parameter array, index).
PARAMS = {
    "iw1": ("hidden.weight", (0, 0)), "b1": ("hidden.bias", (0,)), "ow1": ("output.weight", (0, 0)),
    "iw2": ("hidden.weight", (0, 1)), "b2": ("hidden.bias", (1,)), "ow2": ("output.weight", (1, 0)),
}


def initial_values(seed: int) -> dict[str, float]:
    """The seed's six ``random.gauss(0, 3)`` draws, in its order iw1, ow1, b1, iw2, ow2, b2."""
    rng = random.Random(seed)
    return {name: rng.gauss(0, 3) for name in ("iw1", "ow1", "b1", "iw2", "ow2", "b2")}


def network(seed: int) -> Network:
    """The 1-2-1 network: two softplus hidden neurons, a linear output without bias."""
    v = initial_values(seed)
    hidden = Dense(1, 2, "softplus", name="hidden", weight=[[v["iw1"], v["iw2"]]], bias_init=[v["b1"], v["b2"]])
    output = Dense(2, 1, "identity", name="output", bias=False, weight=[[v["ow1"]], [v["ow2"]]])
    return Network([hidden, output])


# The seed's own names: x1, x2 go into the neurons, y1, y2 come out, P is the prediction.
SEED_NAMES = {"hidden": ("x", "y"), "output": ("P", "P")}


def why_layout() -> Layout:
    """``--layout why``: the backward pass on the diagram, the seed's chain rule for iw1 with numbers, and the
    run's path over the loss landscape (the plane of its two principal directions)."""
    return Layout(
        mosaic=[["fit", "net", "land"],
                ["chain", "chain", "loss"]],
        panels={"fit": FitPanel(),
                "net": NetworkDiagramPanel(show="gradients", input_names=["x"], output_names=["P"]),
                "land": LossLandscapePanel(),
                "chain": ChainRulePanel("hidden.weight", (0, 0), "iw1", names=SEED_NAMES),
                "loss": LossPanel()},
        height_ratios=[1, 1.1],
        width_ratios=[1.15, 0.9, 1.05],
    )


def scene() -> Scene:
    """The scene as the seed set it up."""
    gradient_panels = {
        f"d_{label}": GradientPanel(param, index, label, color=NEURON_COLORS[int(label[-1]) - 1])
        for label, (param, index) in PARAMS.items()
    }
    layout = Layout(
        mosaic=[
            ["fit", "fit", "fit", "fit"],
            ["fit", "fit", "fit", "fit"],
            ["loss", "d_iw1", "d_b1", "d_ow1"],
            ["loss", "d_iw2", "d_b2", "d_ow2"],
        ],
        panels={"fit": FitPanel(), "loss": LossPanel(), **gradient_panels},
        height_ratios=[1, 1, 0.9, 0.9],
    )
    return Scene(
        name="softplus_fit",
        title="Two softplus neurons fit softplus(2·sin(πx))",
        network=network,
        x=X,
        y=Y,
        loss="ssr",
        optimizer=SGD(0.01),
        steps=600,
        seed=13,
        layout=layout,
        layouts={"why": why_layout()},
    )
