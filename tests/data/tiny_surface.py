"""A tiny fit of x0·x1 (two panels) whose surface panel calls a function of this file: for tests of how a
render's drawing reaches processes that must rebuild the panels from the scene file's text (spawn)."""
import numpy as np

from visualizer import SGD, Dense, Layout, LossPanel, Network, Scene, SurfacePanel

GRID = np.linspace(0.0, 1.0, 5)
X = np.array([(a, b) for b in GRID for a in GRID])


def target(x):
    """The function being learnt."""
    return x[:, 0] * x[:, 1]


def network(seed):
    rng = np.random.default_rng(seed)
    return Network([Dense(2, 3, "tanh", name="hidden", rng=rng), Dense(3, 1, name="output", rng=rng)])


scene = Scene(name="tiny_surface", network=network, x=X, y=target(X)[:, None], loss="mse", optimizer=SGD(0.2),
              steps=30, layout=Layout([["error", "loss"]], {"error": SurfacePanel(kind="error", target=target),
                                                            "loss": LossPanel()}))
