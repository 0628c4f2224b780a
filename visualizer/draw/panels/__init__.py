"""Panels: each creates its artists once from the whole history, then updates them per frame.

A panel also declares what it needs recorded during training (``needs``), so rendering never runs a model.
"""
from __future__ import annotations

from .base import (CURRENT_MARK, DATA_COLOR, NEURON_COLORS, PREDICTION_COLOR, Layout, Panel, finite_range,
                   fixed_limits)
from .classify import CLASS_COLORS, AccuracyPanel, ClassRegionsPanel, OptimizerStatePanel
from .curves import FitPanel, GradientPanel, LossPanel, ParameterPanel
from .defaults import default_layout, why_layout
from .diagram import NetworkDiagramPanel
from .explain import ExplainDiagramPanel, ExplainNotesPanel, explain_layout
from .layers import LayerHeatmapPanel, LayerHistogramPanel, LayerStatPanel, UpdateRatioPanel
from .maps import ActivationsPanel, DecisionBoundaryPanel, SurfacePanel, UnitMapPanel, WeightMatrixPanel
from .why import BatchNormPanel, ChainRulePanel, LossLandscapePanel

__all__ = ["CLASS_COLORS", "CURRENT_MARK", "DATA_COLOR", "NEURON_COLORS", "PREDICTION_COLOR", "AccuracyPanel",
           "ActivationsPanel", "BatchNormPanel", "ChainRulePanel", "ClassRegionsPanel", "DecisionBoundaryPanel", "ExplainDiagramPanel",
           "ExplainNotesPanel", "FitPanel", "GradientPanel", "LayerHeatmapPanel", "LayerHistogramPanel", "LayerStatPanel",
           "Layout", "LossLandscapePanel", "LossPanel",
           "NetworkDiagramPanel", "OptimizerStatePanel", "Panel", "ParameterPanel", "SurfacePanel", "UnitMapPanel",
           "UpdateRatioPanel", "WeightMatrixPanel", "default_layout", "explain_layout", "finite_range", "fixed_limits",
           "why_layout"]
