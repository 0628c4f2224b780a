"""The layout a history gets when nobody gives one: chosen from what the history holds.

The main panel is the fit curve (one input, one output), the class regions or the output over the input
plane (two or more inputs) when the recorder evaluated the model there; then the losses, the network diagram
when the layers are known, and the accuracy of a classifier or else the parameters (each scalar's history for
small models, else the weight matrices).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .base import Layout, Panel
from .classify import AccuracyPanel, ClassRegionsPanel
from .curves import FitPanel, LossPanel, ParameterPanel, scalar_names
from .diagram import NetworkDiagramPanel
from ...record.probes import plane_key
from .maps import DecisionBoundaryPanel, WeightMatrixPanel

if TYPE_CHECKING:
    from ...record.history import History

MAX_PARAMETER_LINES = 12


def default_layout(history: History) -> Layout:
    """A layout for ``history`` from what it recorded (see the module docstring)."""
    panels: dict[str, Panel] = {}
    plane = plane_key((0, 1), DecisionBoundaryPanel.resolution)
    regions = [m for m in map(re.compile(r"plane01x(\d+)/outputs$").match, history.extras) if m]
    if "fit/prediction" in history.extras:
        panels["main"] = FitPanel()
    elif regions:
        panels["main"] = ClassRegionsPanel(resolution=int(regions[0].group(1)))
    elif f"{plane}/output0" in history.extras:
        panels["main"] = DecisionBoundaryPanel(title="output over the input plane")
    panels["loss"] = LossPanel()
    if history.info.layers:
        panels["net"] = NetworkDiagramPanel()
    scalars = scalar_names(history)
    if "accuracy/train" in history.extras:
        panels["params"] = AccuracyPanel()
    elif len(scalars) <= MAX_PARAMETER_LINES:
        panels["params"] = ParameterPanel()
    else:
        weights = [lay.weight for lay in history.info.layers] or [n for n in history.params if n.endswith("weight")]
        panels["params"] = WeightMatrixPanel(weights[0] if weights else next(iter(history.params)))
    return _arrange(panels)


def _arrange(panels: dict[str, Panel]) -> Layout:
    has = set(panels)
    right = "net" if "net" in has else "params"
    if "main" in has:
        bottom = ["loss", "loss", "params" if "net" in has else "loss"]
        mosaic = [["main", "main", right], ["main", "main", right], bottom]
        return Layout(mosaic, panels, height_ratios=[1, 1, 0.9])
    if "net" in has:
        return Layout([["loss", "loss", "net"], ["params", "params", "net"]], panels)
    return Layout([["loss", "params"]], panels)
