"""Panels: each creates its artists once from the whole history, then updates them per frame.

A panel also says what it needs recorded during training (``probes``), so rendering never re-runs the network.
"""
from __future__ import annotations

from .base import (CURRENT_MARK, DATA_COLOR, NEURON_COLORS, PREDICTION_COLOR, Layout, Panel, finite_range,
                   fixed_limits)
from .curves import FitPanel, GradientPanel, LossPanel, ParameterPanel
from .diagram import NetworkDiagramPanel
from .maps import ActivationsPanel, DecisionBoundaryPanel, SurfacePanel, UnitMapPanel, WeightMatrixPanel

__all__ = ["CURRENT_MARK", "DATA_COLOR", "ActivationsPanel", "DecisionBoundaryPanel", "FitPanel", "GradientPanel",
           "Layout", "LossPanel", "NEURON_COLORS", "NetworkDiagramPanel", "PREDICTION_COLOR", "Panel",
           "ParameterPanel", "SurfacePanel", "UnitMapPanel", "WeightMatrixPanel", "finite_range", "fixed_limits"]
