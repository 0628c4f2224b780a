"""visualizer: watch a tiny neural network learn, rendered to PNG frames, an MP4 and a GIF.

Names are imported on first use (PEP 562), so ``import visualizer`` and ``visualizer --version`` stay fast
and a scene that only builds a network never loads matplotlib.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# public name -> module that defines it
_EXPORTS = {
    "DivergenceError": "errors", "EncodeError": "errors", "HistoryError": "errors", "SceneError": "errors",
    "VisualizerError": "errors",
    "Loss": "losses", "get_loss": "losses", "half_ssr": "losses", "mse": "losses", "ssr": "losses",
    "Activation": "nn", "Dense": "nn", "Network": "nn", "get_activation": "nn", "identity": "nn", "relu": "nn",
    "sigmoid": "nn", "softplus": "nn", "tanh": "nn",
    "SGD": "optim", "Adam": "optim", "AdamW": "optim", "RMSprop": "optim", "LinearDecay": "optim",
    "Optimizer": "optim", "get_optimizer": "optim",
    "L1": "penalties", "L2": "penalties",
    "DenseModel": "model", "Evaluator": "model", "LayerInfo": "model", "Model": "model", "NetworkModel": "model",
    "Probe": "model",
    "AccuracyPanel": "panels", "ClassRegionsPanel": "panels", "OptimizerStatePanel": "panels",
    "ActivationsPanel": "panels", "DecisionBoundaryPanel": "panels", "FitPanel": "panels", "GradientPanel": "panels",
    "Layout": "panels", "LossPanel": "panels", "NetworkDiagramPanel": "panels", "Panel": "panels",
    "ParameterPanel": "panels", "SurfacePanel": "panels", "UnitMapPanel": "panels", "WeightMatrixPanel": "panels",
    "default_layout": "panels", "ChainRulePanel": "panels", "LossLandscapePanel": "panels",
    "History": "record", "Recorder": "record", "RunInfo": "record",
    "Renderer": "renderer",
    "RenderOptions": "options",
    "Scene": "scene", "load_scene": "scene",
    "Trainer": "training", "TrainState": "training",
    "RenderResult": "api", "render": "api", "train": "api",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'visualizer' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from .api import RenderResult, render, train
    from .errors import DivergenceError, EncodeError, HistoryError, SceneError, VisualizerError
    from .losses import Loss, get_loss, half_ssr, mse, ssr
    from .model import DenseModel, Evaluator, LayerInfo, Model, NetworkModel, Probe
    from .nn import Activation, Dense, Network, get_activation, identity, relu, sigmoid, softplus, tanh
    from .optim import SGD, Adam, AdamW, LinearDecay, Optimizer, RMSprop, get_optimizer
    from .options import RenderOptions
    from .panels import (AccuracyPanel, ActivationsPanel, ChainRulePanel, ClassRegionsPanel, DecisionBoundaryPanel,
                         FitPanel, GradientPanel, Layout, LossLandscapePanel, LossPanel, NetworkDiagramPanel,
                         OptimizerStatePanel, Panel, ParameterPanel, SurfacePanel, UnitMapPanel, WeightMatrixPanel,
                         default_layout)
    from .penalties import L1, L2
    from .record import History, Recorder, RunInfo
    from .renderer import Renderer
    from .scene import Scene, load_scene
    from .training import Trainer, TrainState
