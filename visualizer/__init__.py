"""visualizer: watch a tiny neural network learn, rendered to PNG frames, an MP4 and a GIF.

Names are imported on first use (PEP 562), so ``import visualizer`` and ``visualizer --version`` stay fast
and a scene that only builds a network never loads matplotlib.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .base import __version__

# public name -> module that defines it
_EXPORTS = {
    "DivergenceError": "base.errors", "EncodeError": "base.errors", "HistoryError": "base.errors", "SceneError": "base.errors",
    "VisualizerError": "base.errors",
    "Loss": "engine.losses", "get_loss": "engine.losses", "half_ssr": "engine.losses", "mse": "engine.losses", "ssr": "engine.losses",
    "Activation": "engine.layers", "Dense": "engine.layers", "Network": "engine.layers", "get_activation": "engine.layers", "identity": "engine.layers", "relu": "engine.layers",
    "sigmoid": "engine.layers", "softplus": "engine.layers", "tanh": "engine.layers", "leaky_relu": "engine.layers",
    "gelu": "engine.layers", "Init": "engine.init", "get_init": "engine.init",
    "BatchNorm": "engine.norm", "Dropout": "engine.norm",
    "SGD": "engine.optim", "Adam": "engine.optim", "AdamW": "engine.optim", "RMSprop": "engine.optim", "LinearDecay": "engine.optim",
    "Optimizer": "engine.optim", "get_optimizer": "engine.optim",
    "L1": "engine.penalties", "L2": "engine.penalties",
    "DenseModel": "record.model", "Evaluator": "record.model", "LayerInfo": "record.model", "Model": "record.model", "NetworkModel": "record.model",
    "Probe": "record.model",
    "AccuracyPanel": "draw.panels", "ClassRegionsPanel": "draw.panels", "OptimizerStatePanel": "draw.panels",
    "ActivationsPanel": "draw.panels", "DecisionBoundaryPanel": "draw.panels", "FitPanel": "draw.panels", "GradientPanel": "draw.panels",
    "Layout": "draw.panels", "LossPanel": "draw.panels", "NetworkDiagramPanel": "draw.panels", "Panel": "draw.panels",
    "ParameterPanel": "draw.panels", "SurfacePanel": "draw.panels", "UnitMapPanel": "draw.panels", "WeightMatrixPanel": "draw.panels",
    "default_layout": "draw.panels", "ChainRulePanel": "draw.panels", "LossLandscapePanel": "draw.panels",
    "BatchNormPanel": "draw.panels",
    "LayerHeatmapPanel": "draw.panels", "LayerHistogramPanel": "draw.panels", "LayerStatPanel": "draw.panels",
    "UpdateRatioPanel": "draw.panels", "LayerStats": "record.probes",
    "History": "record.history", "Recorder": "record.history", "RunInfo": "record.history",
    "RecordSchedule": "record.schedule",
    "Renderer": "draw.renderer",
    "RenderOptions": "run.options",
    "Scene": "run.scene", "load_scene": "run.scene", "MLP": "run.variations", "Data": "run.variations",
    "Trainer": "engine.training", "TrainState": "engine.training",
    "RenderResult": "run.render", "render": "run.render", "train": "run.render",
    "check": "run.check", "PRESETS": "draw.presets",
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
    from .run.render import RenderResult, render, train
    from .base.errors import DivergenceError, EncodeError, HistoryError, SceneError, VisualizerError
    from .engine.losses import Loss, get_loss, half_ssr, mse, ssr
    from .record.model import DenseModel, Evaluator, LayerInfo, Model, NetworkModel, Probe
    from .engine.layers import (Activation, Dense, Network, gelu, get_activation, identity, leaky_relu, relu, sigmoid,
                                softplus, tanh)
    from .engine.init import Init, get_init
    from .engine.norm import BatchNorm, Dropout
    from .engine.optim import SGD, Adam, AdamW, LinearDecay, Optimizer, RMSprop, get_optimizer
    from .run.options import RenderOptions
    from .draw.panels import (AccuracyPanel, ActivationsPanel, BatchNormPanel, ChainRulePanel, ClassRegionsPanel, DecisionBoundaryPanel,
                         FitPanel, GradientPanel, Layout, LossLandscapePanel, LossPanel, NetworkDiagramPanel,
                         OptimizerStatePanel, Panel, ParameterPanel, SurfacePanel, UnitMapPanel, WeightMatrixPanel,
                         default_layout, LayerHeatmapPanel, LayerHistogramPanel, LayerStatPanel, UpdateRatioPanel)
    from .record.probes import LayerStats
    from .engine.penalties import L1, L2
    from .record.history import History, Recorder, RunInfo
    from .record.schedule import RecordSchedule
    from .draw.renderer import Renderer
    from .run.scene import Scene, load_scene
    from .run.variations import MLP, Data
    from .engine.training import Trainer, TrainState
