"""Dropout and L2 against over-fitting: the 2-64-64-1 network of ``overfit`` on its 60 noisy points, regularized.

Reproduces the regularization notebook of the deep-learning specialization (Andrew Ng's *Improving Deep
Neural Networks*, week 1, "Regularization": no regularization, L2, and dropout on a 2-D set) on this project's
over-fitting set (``scenes/overfit.py``: 150 two-moons points with noise 0.35, 60 to train on and 90 held out).
Without regularization the network learns the noise: its test loss bottoms out early and climbs again while
the training loss falls towards zero, and the class regions grow islands around single points. Dropout
(Srivastava et al. 2014: each hidden unit dropped with probability p at every step, the kept ones scaled by
1/(1 − p); nothing is dropped when evaluating) keeps the regions smooth, and so does an L2 penalty
``0.5·λ·ΣW²``:

``python -m visualizer compare dropout --vary dropout=0,0.5 --vary l2=0,0.01``

ends with the lowest test loss in a regularized run, well below the unregularized run's
(``tests/test_lessons.py`` checks it). The scene alone renders the dropout run (p = 0.5 after each hidden
layer).

What it changes from the notebook: the notebook's own data set and 3-layer network are replaced by
``overfit``'s (two moons, 2-64-64-1 ReLU), trained as ``overfit`` is (Adam, lr 0.002, 800 full-batch steps on
binary cross-entropy); the notebook's λ = 0.7 (on its scale of the loss) is 0.01 here.
"""
from __future__ import annotations

from visualizer import MLP, AccuracyPanel, Adam, ClassRegionsPanel, Data, Layout, LossPanel, NetworkDiagramPanel, Scene
from visualizer.datasets import moons

SIZES = (2, 64, 64, 1)


def scene(dropout: float = 0.5) -> Scene:
    """The dropout run; ``dropout=0`` is ``overfit``'s unregularized run."""
    layout = Layout(
        mosaic=[["regions", "regions", "loss"],
                ["regions", "regions", "accuracy"]],
        panels={"regions": ClassRegionsPanel(names=["upper moon", "lower moon"]),
                "loss": LossPanel(),
                "accuracy": AccuracyPanel()},
        width_ratios=[1, 1, 1.1],
    )
    return Scene(name="dropout", title="Dropout and L2: a 2-64-64-1 network on 60 noisy points",
                 network=MLP(SIZES, "relu", output="identity", dropout=dropout), x=None, y=None,
                 data=Data(moons, n=150, noise=0.35, seed=3), test_fraction=0.6, loss="bce",
                 optimizer=Adam(0.002), steps=800, every=8, seed=0, layout=layout, input_names=["x₁", "x₂"])
