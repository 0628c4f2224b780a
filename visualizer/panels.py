"""Panels: each creates its artists once from the whole history, then updates them per frame.

A panel also says what it needs recorded during training (``probes``), so rendering never re-runs the network.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .nn import Network
from .record import History, Probe

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes

# Neuron colours follow the seed notebook (cyan for neuron 1, yellow for neuron 2), darkened to read on white.
NEURON_COLORS = ["#0fa3b1", "#d4a20b", "#6a4c93", "#2a9d8f", "#e76f51", "#457b9d", "#8ab17d", "#b5838d"]
PREDICTION_COLOR = "#c2187a"
DATA_COLOR = "#111111"
CURRENT_MARK = dict(marker="o", markersize=4, linestyle="none")


def fixed_limits(values: np.ndarray, pad: float = 0.06, symmetric: bool = False) -> tuple[float, float]:
    """Axis limits covering every finite value with a margin; never a zero-width range."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (-1.0, 1.0)
    lo, hi = float(v.min()), float(v.max())
    if symmetric:
        m = max(abs(lo), abs(hi)) or 1.0
        return (-m * (1 + pad), m * (1 + pad))
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        half = max(abs(hi) * 0.1, 1e-3)
        return (lo - half, hi + half)
    span = hi - lo
    return (lo - pad * span, hi + pad * span)


class Panel:
    """Base class: override ``probes`` (what to record), ``setup`` (draw once) and ``update`` (per frame)."""

    title: str = ""

    def probes(self, x: np.ndarray, y: np.ndarray, network: Network) -> tuple[dict[str, np.ndarray], dict[str, Probe]]:
        """Static arrays and per-step probes this panel needs recorded; names should start with a prefix."""
        return {}, {}

    def setup(self, ax: Axes, history: History) -> None:
        """Create every artist, with limits fixed from the whole history. Changing artists are ``animated``."""
        raise NotImplementedError

    def update(self, i: int) -> list[Artist]:
        """Set the artists to history row ``i``; return the ones to redraw."""
        raise NotImplementedError


def _history_line(ax: Axes, steps: np.ndarray, values: np.ndarray, color: str) -> tuple:
    """A growing line plus a dot at its head, both animated, with x fixed to the whole run."""
    line, = ax.plot([], [], color=color, linewidth=1.4, animated=True)
    # Unclipped so the dot at x=0 shows whole; kept out of the layout, which would see its empty data.
    head, = ax.plot([], [], color=color, animated=True, clip_on=False, **CURRENT_MARK)
    head.set_in_layout(False)
    last = int(steps[-1]) if len(steps) else 1
    ax.set_xlim(0, max(last, 1))
    ax.margins(x=0)
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
        everything = [y, self._pred.ravel()]
        if self._contrib is not None:
            for j in range(self._contrib.shape[2]):
                color = NEURON_COLORS[j % len(NEURON_COLORS)]
                line, = ax.plot(grid, self._contrib[0, :, j], color=color, linewidth=1.6, animated=True,
                                label=f"neuron {j + 1}")
                self._lines.append((line, j))
            everything.append(self._contrib.ravel())
        self._pred_line, = ax.plot(grid, self._pred[0], color=PREDICTION_COLOR, linewidth=2.2, animated=True,
                                   label="predicted")
        ax.set_xlim(grid[0], grid[-1])
        ax.set_ylim(*fixed_limits(np.concatenate(everything)))
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
        finite = self._loss[np.isfinite(self._loss)]
        if finite.size and finite.min() > 0 and finite.max() / finite.min() > self.log_ratio:
            ax.set_yscale("log")
            ax.set_ylim(finite.min() / 1.3, finite.max() * 1.3)
        else:
            ax.set_ylim(*fixed_limits(np.append(finite, 0.0)))
        ax.set_xlabel("step")
        self._label = label
        self._text = ax.text(0.97, 0.92, "", transform=ax.transAxes, ha="right", va="top", animated=True,
                             bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none", alpha=0.85))

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
        ax.set_ylim(*fixed_limits(np.append(self._values, 0.0)))

    def update(self, i):
        self._line.set_data(self._steps[: i + 1], self._values[: i + 1])
        self._head.set_data(self._steps[i : i + 1], self._values[i : i + 1])
        return [self._line, self._head]


@dataclass
class Layout:
    """Panels placed on a grid: ``mosaic`` rows of panel keys (repeat a key to span cells, '.' for a gap)."""

    mosaic: list[list[str]]
    panels: dict[str, Panel]
    height_ratios: list[float] | None = None
    width_ratios: list[float] | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        widths = {len(row) for row in self.mosaic}
        if len(widths) != 1:
            raise ValueError(f"every mosaic row needs the same number of cells, got rows of {sorted(widths)}")
        keys = {k for row in self.mosaic for k in row if k != "."}
        missing, unused = keys - set(self.panels), set(self.panels) - keys
        if missing:
            raise ValueError(f"mosaic names panels that are not defined: {sorted(missing)}")
        if unused:
            raise ValueError(f"panels defined but not placed in the mosaic: {sorted(unused)}")

    def probes(self, x: np.ndarray, y: np.ndarray, network: Network) -> tuple[dict[str, np.ndarray], dict[str, Probe]]:
        """Every panel's static arrays and probes, merged (same name = same quantity)."""
        static: dict[str, np.ndarray] = {}
        probes: dict[str, Probe] = {}
        for panel in self.panels.values():
            s, p = panel.probes(x, y, network)
            static.update({k: v for k, v in s.items() if k not in static})
            probes.update({k: v for k, v in p.items() if k not in probes})
        return static, probes
