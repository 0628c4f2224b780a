"""The layout a history gets when nobody gives one: chosen from what the history holds.

The main panel is the fit curve (one input, one output), the class regions or the output over the input
plane (two or more inputs) when the recorder evaluated the model there; then the losses, the network diagram
when the layers are known, and the accuracy of a classifier or else the parameters (each scalar's history for
small models, else the weight matrices).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from .base import Layout, Panel
from .classify import AccuracyPanel, ClassRegionsPanel
from .curves import FitPanel, LossPanel, ParameterPanel, scalar_names
from .diagram import NetworkDiagramPanel
from ...record.probes import plane_key
from .maps import DecisionBoundaryPanel, WeightMatrixPanel
from .why import BatchNormPanel, ChainRulePanel, LossLandscapePanel

if TYPE_CHECKING:
    from ...record.history import History

MAX_PARAMETER_LINES = 12


def default_layout(history: History) -> Layout:
    """A layout for ``history`` from what it recorded (see the module docstring)."""
    plane = plane_key((0, 1), DecisionBoundaryPanel.resolution)
    regions = [m for m in map(re.compile(r"plane01x(\d+)/outputs$").match, history.extras) if m]
    if "fit/prediction" in history.extras:
        main: Panel | None = FitPanel()
    elif regions:
        main = ClassRegionsPanel(resolution=int(regions[0].group(1)))
    elif f"{plane}/output0" in history.extras:
        main = _plane_panel(history.info.layers[-1].n_out if history.info.layers else 1)
    else:
        main = None
    weights = [lay.weight for lay in history.info.layers] or [n for n in history.params if n.endswith("weight")]
    return _panels(main, bool(history.info.layers), "accuracy/train" in history.extras, len(scalar_names(history)),
                   weights[0] if weights else next(iter(history.params)))


def architecture_layout(n_inputs: int, n_outputs: int, loss_kind: str, parameters: dict[str, tuple[int, ...]]) \
        -> Layout:
    """The layout a scene gets when it declares none, from its network and loss before any training: the one
    :func:`default_layout` gives the history it records. The fit for one input and one output; the class
    regions of a classifier, or the (first) output over the plane of the first two inputs, for two or more;
    the losses and the network; the accuracy of a classifier, else every parameter for a small network
    (:data:`MAX_PARAMETER_LINES` scalars), else the first weight matrix. ``parameters``: each parameter's
    name and shape, in layer order."""
    classifier = loss_kind != "regression"
    if n_inputs == 1 and n_outputs == 1 and not classifier:
        main: Panel | None = FitPanel()
    elif n_inputs >= 2:
        main = ClassRegionsPanel() if classifier else _plane_panel(n_outputs)
    else:
        main = None
    scalars = sum(int(np.prod(shape)) for shape in parameters.values())
    weights = [name for name in parameters if name.endswith("weight")] or list(parameters)
    return _panels(main, True, classifier, scalars, weights[0])


def _plane_panel(n_outputs: int) -> DecisionBoundaryPanel:
    """The (first) output over the plane of the first two inputs."""
    return DecisionBoundaryPanel(title="output over the input plane" if n_outputs == 1 else
                                 "first output over the input plane")


def _panels(main: Panel | None, layers: bool, accuracy: bool, scalars: int, first_weight: str) -> Layout:
    panels: dict[str, Panel] = {} if main is None else {"main": main}
    panels["loss"] = LossPanel()
    if layers:
        panels["net"] = NetworkDiagramPanel()
    if accuracy:
        panels["params"] = AccuracyPanel()
    elif scalars <= MAX_PARAMETER_LINES:
        panels["params"] = ParameterPanel()
    else:
        panels["params"] = WeightMatrixPanel(first_weight)
    return _arrange(panels)


def _arrange(panels: dict[str, Panel]) -> Layout:
    """The panels in a grid: the main panel large, the network beside it, the losses and the parameters
    under them. The parameters (each scalar or a weight matrix) are secondary: the lecture preset leaves them
    out and the losses take their room."""
    has = set(panels)
    secondary = ("params",) if isinstance(panels.get("params"), (ParameterPanel, WeightMatrixPanel)) else ()
    if "main" in has:
        right = "net" if "net" in has else "params"
        bottom = ["loss", "loss", "params" if "net" in has else "loss"]
        mosaic = [["main", "main", right], ["main", "main", right], bottom]
        return Layout(mosaic, panels, height_ratios=[1, 1, 0.9], secondary=secondary)
    if "net" in has:
        return Layout([["loss", "loss", "net"], ["params", "params", "net"]], panels, secondary=secondary)
    return Layout([["loss", "params"]], panels, secondary=secondary)


MAX_CHAIN_PATHS = 4  # the chain rule is written for a weight reaching the loss along at most this many paths


def chain_parameter(layers, other_layers=()) -> tuple[str, tuple[int, int]]:
    """The weight whose chain rule a why layout writes: the first one of the earliest layer whose unit reaches
    the loss along at most :data:`MAX_CHAIN_PATHS` paths (the first hidden layer of a one-hidden-layer
    network, as the seed notebooks take it), else the output layer's; never one below a batch norm (from
    ``other_layers``), whose chain rule is no sum of products per sample."""
    normed = {d.get("after") for d in other_layers if d.get("kind") == "batchnorm"}
    first = max([k + 1 for k, lay in enumerate(layers) if lay.name in normed], default=0)
    for k, lay in enumerate(layers):
        if k < first:
            continue
        paths = 1
        for later in layers[k + 1:]:
            paths *= later.n_out
        if paths <= MAX_CHAIN_PATHS:
            return lay.weight, (0, 0)
    return layers[-1].weight, (0, 0)


def why_layout(layers, main: Panel | None = None, other_layers=()) -> Layout:
    """The why layout for a network of dense ``layers`` (``LayerInfo``): ``main`` (the default layout's main
    panel: the fit, the class regions, the output over the plane), the backward pass on the diagram and the
    loss landscape on top; the chain rule for one weight (:func:`chain_parameter`) and the losses below. The
    three bundled scenes that declare a why layout of their own have their seed's names in it. With batch
    norm among ``other_layers`` (the run information's), its numbers (:class:`BatchNormPanel`) take the
    landscape's place: evaluation normalizes by statistics that move along the run, so no one loss surface
    holds the path. The lecture preset leaves the landscape (or the batch norm's numbers) out."""
    param, index = chain_parameter(layers, other_layers)
    normed = any(d.get("kind") == "batchnorm" for d in other_layers)
    panels: dict[str, Panel] = {"net": NetworkDiagramPanel(show="gradients"),
                                "land": BatchNormPanel() if normed else LossLandscapePanel(),
                                "chain": ChainRulePanel(param, index), "loss": LossPanel()}
    if main is None:
        return Layout([[[["net", "land"]]], [[["chain", "loss"]]]], panels, height_ratios=[1.25, 1],
                      secondary=("land",))
    panels["main"] = main
    # Each row a grid of its own, so that the lecture preset, which leaves the landscape out (secondary: the
    # lesson is the backward pass and the chain rule), gives the diagram half the width.
    return Layout([[[["main", "net", "land"]]], [[["chain", "chain", "loss"]]]], panels, height_ratios=[1.2, 1],
                  secondary=("land",))
