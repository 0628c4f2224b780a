"""visualizer: watch a tiny neural network learn, rendered to PNG frames, an MP4 and a GIF."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import DivergenceError, EncodeError, SceneError, VisualizerError
from .losses import Loss, get_loss, half_ssr, mse, ssr
from .nn import Activation, Dense, Network, get_activation, identity, relu, sigmoid, softplus, tanh
from .optim import SGD
from .panels import (ActivationsPanel, DecisionBoundaryPanel, FitPanel, GradientPanel, Layout, LossPanel,
                     NetworkDiagramPanel, Panel, ParameterPanel, SurfacePanel, UnitMapPanel, WeightMatrixPanel)
from .record import History, Recorder
from .render import Renderer
from .scene import Scene, load_scene
from .train import Trainer, TrainState
from .api import render, train

__all__ = [
    "ActivationsPanel", "DecisionBoundaryPanel", "NetworkDiagramPanel", "ParameterPanel", "SurfacePanel",
    "UnitMapPanel", "WeightMatrixPanel",
    "Activation", "Dense", "DivergenceError", "EncodeError", "FitPanel", "GradientPanel", "History", "Layout",
    "Loss", "LossPanel", "Network", "Panel", "Recorder", "Renderer", "SGD", "Scene", "SceneError", "TrainState",
    "Trainer", "VisualizerError", "get_activation", "get_loss", "half_ssr", "identity", "load_scene", "mse",
    "relu", "render", "sigmoid", "softplus", "ssr", "tanh", "train", "__version__",
]
