"""Panels that draw curves over steps or over a 1-D input: the fit, the loss, gradients, parameters."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import colormaps
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ..nn import Network
from ..record import Probe
from ..text import FrameText
from .base import CURRENT_MARK, DATA_COLOR, NEURON_COLORS, PREDICTION_COLOR, Panel, finite_range, fixed_limits

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def step_label(step: float, _pos: object = None) -> str:
    """A short tick label for a step count: ``800``, ``4,000``, ``250k``, ``1M``, ``1.5M``."""
    if abs(step) >= 1_000_000:
        return f"{step / 1_000_000:g}M"
    if abs(step) >= 100_000:
        return f"{step / 1000:g}k"
    return f"{step:,.0f}"


def _history_line(ax: Axes, steps: np.ndarray, values: np.ndarray, color: str) -> tuple:
    """A growing line plus a dot at its head, both animated, with x fixed to the whole run."""
    line, = ax.plot([], [], color=color, linewidth=1.4, animated=True)
    # Unclipped so the dot at x=0 shows whole; kept out of the layout, which would see its empty data.
    head, = ax.plot([], [], color=color, animated=True, clip_on=False, **CURRENT_MARK)
    head.set_in_layout(False)
    last = int(steps[-1]) if len(steps) else 1
    ax.set_xlim(0, max(last, 1))
    ax.margins(x=0)
    # Steps are counts: 4,000 and 250k read better than 0.4 ×10⁴ and 0.25 ×10⁶.
    ax.xaxis.set_major_formatter(FuncFormatter(step_label))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10], integer=True))
    return line, head


@dataclass
class FitPanel(Panel):
    """Data against the prediction for 1-D input and output, with each last-hidden neuron's contribution."""

    title: str = "actual vs predicted"
    points: int = 200
    show_contributions: bool = True

    def probes(self, x, y, network):
        if network.n_in != 1 or network.n_out != 1:
            raise ValueError(f"FitPanel needs a network with 1 input and 1 output, got {network.n_in}→{network.n_out}")
        lo, hi = float(x.min()), float(x.max())
        pad = 0.04 * (hi - lo or 1.0)
        grid = np.linspace(lo - pad, hi + pad, self.points)
        probes: dict[str, Probe] = {"fit/prediction": lambda net: net.forward(grid[:, None])[:, 0]}
        if self.show_contributions and len(network.layers) >= 2:
            def contributions(net: Network) -> np.ndarray:
                hidden = net.activations(grid[:, None])[-2]
                return hidden * net.layers[-1].weight[:, 0]
            probes["fit/contributions"] = contributions
        return {"fit/x": grid}, probes

    def setup(self, ax, history):
        grid = history.static["fit/x"]
        x, y = history.static["data/x"][:, 0], history.static["data/y"][:, 0]
        self._pred = history.extras["fit/prediction"]
        self._contrib = history.extras.get("fit/contributions")
        ax.set_title(self.title)
        ax.plot(x, y, "o", color=DATA_COLOR, markersize=5, label="actual", zorder=3)
        self._lines = []
        everything = [y, self._pred]
        if self._contrib is not None:
            for j in range(self._contrib.shape[2]):
                color = NEURON_COLORS[j % len(NEURON_COLORS)]
                line, = ax.plot(grid, self._contrib[0, :, j], color=color, linewidth=1.6, animated=True,
                                label=f"neuron {j + 1}")
                self._lines.append((line, j))
            everything.append(self._contrib)
        self._pred_line, = ax.plot(grid, self._pred[0], color=PREDICTION_COLOR, linewidth=2.2, animated=True,
                                   label="predicted")
        ax.set_xlim(grid[0], grid[-1])
        ax.set_ylim(*fixed_limits(*everything))
        ax.axhline(0, color="#999999", linewidth=0.6, zorder=0)
        # Outside the axes: moving curves never pass under it, and it is drawn once with the background.
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), frameon=False)
        ax.set_xlabel("x")

    def update(self, i):
        for line, j in self._lines:
            line.set_ydata(self._contrib[i, :, j])
        self._pred_line.set_ydata(self._pred[i])
        return [line for line, _ in self._lines] + [self._pred_line]


@dataclass
class LossPanel(Panel):
    """The loss over training so far; log scale when it spans more than ``log_ratio``."""

    title: str = ""
    color: str = PREDICTION_COLOR
    log_ratio: float = 30.0

    def setup(self, ax, history):
        self._steps, self._loss = history.steps, history.loss
        label = history.meta.get("loss_label", "loss")
        ax.set_title(self.title or f"{label} (whole training set)")
        self._line, self._head = _history_line(ax, self._steps, self._loss, self.color)
        found = finite_range(self._loss)
        if found and found[0] > 0 and found[1] / found[0] > self.log_ratio:
            ax.set_yscale("log")
            ax.set_ylim(found[0] / 1.3, found[1] * 1.3)
        else:
            ax.set_ylim(*fixed_limits(self._loss, 0.0))
        ax.set_xlabel("step")
        self._label = label
        self._text = FrameText(0.97, 0.92, "", transform=ax.transAxes, ha="right", va="top", background="white")
        ax.add_artist(self._text)

    def update(self, i):
        self._line.set_data(self._steps[: i + 1], self._loss[: i + 1])
        self._head.set_data(self._steps[i : i + 1], self._loss[i : i + 1])
        self._text.set_text(f"{self._label} = {self._loss[i]:.4g}")
        return [self._line, self._head, self._text]


@dataclass
class GradientPanel(Panel):
    """The history of one scalar gradient, d loss / d parameter, e.g. ``GradientPanel("hidden.bias", (0,), "b1")``."""

    param: str = ""
    index: tuple[int, ...] = ()
    label: str = ""
    color: str = NEURON_COLORS[0]
    title: str = ""

    def setup(self, ax, history):
        self._steps = history.steps
        self._values = history.scalar("grad", self.param, tuple(self.index))
        loss_label = history.meta.get("loss_label", "loss")
        name = self.label or f"{self.param}{list(self.index)}"
        ax.set_title(self.title or f"∂{loss_label} / ∂{name}")
        ax.axhline(0, color="#999999", linewidth=0.6, zorder=0)
        self._line, self._head = _history_line(ax, self._steps, self._values, self.color)
        ax.set_ylim(*fixed_limits(self._values, 0.0))

    def update(self, i):
        self._line.set_data(self._steps[: i + 1], self._values[: i + 1])
        self._head.set_data(self._steps[i : i + 1], self._values[i : i + 1])
        return [self._line, self._head]


def scalar_names(history, kind: str = "param") -> list[tuple[str, tuple[int, ...]]]:
    """Every scalar of the recorded parameters as (name, index), in layer order."""
    table = history.params if kind == "param" else history.grads
    return [(name, tuple(int(i) for i in idx)) for name, arr in table.items() for idx in np.ndindex(arr.shape[1:])]


def scalar_key(name: str, index: tuple[int, ...]) -> str:
    """``"hidden.weight[0,1]"``: how scenes name one scalar parameter."""
    return f"{name}[{','.join(str(i) for i in index)}]"


def scalar_label(name: str, index: tuple[int, ...], labels: dict[str, str]) -> str:
    """``labels["hidden.weight[0,1]"]`` if given, else that key itself."""
    key = scalar_key(name, index)
    return labels.get(key, key)


@dataclass
class ParameterPanel(Panel):
    """Every scalar parameter's value over the steps so far (for small networks), with a legend.

    ``labels`` maps ``"layer.weight[i,j]"`` to a display name such as ``"w1"``.
    """

    title: str = "parameters"
    labels: dict[str, str] = field(default_factory=dict)
    max_lines: int = 24

    def setup(self, ax, history):
        names = scalar_names(history)
        if self.labels:  # the scene's own order (w1, w2, …), then any parameter it did not name
            order = list(self.labels)
            names.sort(key=lambda n: order.index(scalar_key(*n)) if scalar_key(*n) in order else len(order))
        if len(names) > self.max_lines:
            raise ValueError(f"ParameterPanel draws at most {self.max_lines} parameters; the network has "
                             f"{len(names)} (raise max_lines or show WeightMatrixPanel instead)")
        self._steps = history.steps
        self._series = [history.scalar("param", n, i) for n, i in names]
        ax.set_title(self.title)
        colors = matplotlib_colors(len(names))
        self._lines = []
        for (name, index), values, color in zip(names, self._series, colors):
            line, head = _history_line(ax, self._steps, values, color)
            line.set_label(scalar_label(name, index, self.labels))
            self._lines.append((line, head, values))
        ax.set_ylim(*fixed_limits(*self._series))
        ax.set_xlabel("step")
        ax.axhline(0, color="#999999", linewidth=0.6, zorder=0)
        # The legend needs handles drawn with the background, so it gets static proxies of the same style.
        proxies = [matplotlib_line(line) for line, _, _ in self._lines]
        ax.legend(handles=proxies, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                  ncol=1 if len(names) <= 10 else 2, fontsize="small", handlelength=1.2)

    def update(self, i):
        out = []
        for line, head, values in self._lines:
            line.set_data(self._steps[: i + 1], values[: i + 1])
            head.set_data(self._steps[i : i + 1], values[i : i + 1])
            out += [line, head]
        return out


def matplotlib_colors(n: int) -> list:
    """``n`` distinct colours: tab10 up to ten, tab20 beyond."""
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def matplotlib_line(line):
    """A static legend handle looking like ``line``."""
    return Line2D([], [], color=line.get_color(), linewidth=line.get_linewidth(), label=line.get_label())
