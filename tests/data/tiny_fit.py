"""A tiny fit (two panels): for tests of how a render is made, published and stopped, where what the frames
show is not the point and a render should cost little."""
import numpy as np

from visualizer import SGD, Dense, FitPanel, Layout, LossPanel, Network, Scene

X = np.linspace(0, 1, 8)


def network(seed):
    rng = np.random.default_rng(seed)
    return Network([Dense(1, 3, "tanh", name="hidden", rng=rng), Dense(3, 1, name="output", rng=rng)])


scene = Scene(name="tiny_fit", network=network, x=X, y=np.sin(3 * X), loss="mse", optimizer=SGD(0.2), steps=30,
              layout=Layout([["fit", "loss"]], {"fit": FitPanel(), "loss": LossPanel()}))
