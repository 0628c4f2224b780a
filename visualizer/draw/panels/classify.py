"""Panels for classifiers and the optimizer: class regions over the input plane, accuracy, optimizer state.

Networks output raw scores (logits); panels show probabilities. The outputs are recorded as they are and
turned into class probabilities when drawing, with the link of the loss the run recorded in its
:class:`~visualizer.record.history.RunInfo` (sigmoid for a binary score, softmax over K scores).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, PercentFormatter


from ...record.probes import Needs, Probe
from .. import colours
from ..colours import CLASS_COLORS
from ..text import FrameText, mark, size
from .base import Panel, class_probabilities, finite_range
from .curves import grow, loss_styles, history_line, header_legend
from ...record.probes import plane_key
from .maps import _PlanePanel, _point_edge, point_handle


def _labels(y: np.ndarray) -> np.ndarray:
    """Class labels as ints (−1/+1 hinge labels read as 0/1)."""
    flat = np.asarray(y, dtype=float).reshape(len(y), -1)[:, 0]
    return np.where(flat < 0, 0, flat).astype(int)


@dataclass
class ClassRegionsPanel(_PlanePanel):
    """Which class the network picks over a 2-D input plane: each class's colour, deeper where it is surer.

    A point of the plane takes the colour of its most probable class, blended from white (all classes equally
    likely) to ``strength`` of the full colour (certain). Points are filled with their class's full colour
    and, past two classes, drawn with their class's marker shape; training points have a white edge, test
    points a thick dark one, so both keep their identity where the model is right. ``names`` label the
    classes in the legend.
    """

    title: str = "class regions (shade: probability)"
    inputs: tuple[int, int] = (0, 1)
    resolution: int = 60
    names: list[str] = field(default_factory=list)
    strength: float = 0.7
    legend: bool = True

    def needs(self, setup):
        key, static, rows = self._plane(setup)
        n = self.resolution
        return Needs(static, [Probe(f"{key}/outputs", rows, shape=(n, n, setup.n_out))])

    def draw(self, ax, history):
        key = plane_key(self.inputs, self.resolution)
        outputs = history.extras[f"{key}/outputs"]
        k = class_probabilities(history, outputs[:1]).shape[-1]
        colors = colours.class_colors(k)
        tint = (colors - 1.0) * self.strength  # white + tint·confidence is the shade

        def shade(i: int) -> np.ndarray:
            p = class_probabilities(history, outputs[i])
            best = p.argmax(axis=-1)
            confidence = (p.max(axis=-1) - 1 / k) / (1 - 1 / k)
            return np.clip(1.0 + tint[best] * confidence[..., None], 0.0, 1.0)

        image, _ = self._heatmap(ax, history, shade(0), None, 0.0, 1.0)
        # The points lie on the changing image: they are redrawn after it every frame.
        overlays = []
        i0, i1 = self.inputs
        sets = [(history.static["data/x"], _labels(history.static["data/y"]), False)]
        test = "data/x_test" in history.static
        if test:
            sets.append((history.static["data/x_test"], _labels(history.static["data/y_test"]), True))
        for x, y, held_out in sets:
            y = np.clip(y, 0, k - 1)
            for j in np.unique(y):  # a scatter per class: one marker shape each
                mine = y == j
                overlays.append(ax.scatter(x[mine, i0], x[mine, i1], c=colors[[j]], marker=colours.class_marker(j, k),
                                           s=mark(6.6) ** 2, zorder=3, animated=True, **_point_edge(held_out)))
        ax.set_title(self.title)
        if self.legend:
            names = self.names or [f"class {j}" for j in range(k)]
            handles = [Line2D([], [], marker=colours.class_marker(j, k), linestyle="none", markersize=7,
                              markerfacecolor=colors[j], markeredgecolor=colours.POINT_EDGE, markeredgewidth=0.8,
                              label=names[j] if j < len(names) else f"class {j}") for j in range(k)]
            if test:
                handles += [point_handle("train", False), point_handle("test", True)]
            # Outside the plane: the regions under it change every frame.
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                      fontsize=size("label"), handletextpad=0.3, borderaxespad=0.0)

        def update(i):
            image.set_data(shade(i))
            return [image, *overlays]
        return update


def _percent(values: np.ndarray) -> str:
    return f"{100 * values:.1f} %"


@dataclass
class AccuracyPanel(Panel):
    """Training and test accuracy over the steps so far, 0–100 %, with chance level dashed."""

    title: str = "accuracy"

    def draw(self, ax, history):
        series = [(name, history.extras[f"accuracy/{name}"]) for name in ("train", "test")
                  if f"accuracy/{name}" in history.extras]
        if not series:
            raise ValueError("AccuracyPanel needs recorded accuracy: train with a classification loss "
                             "(softmax_ce, bce, hinge, multiclass_hinge)")
        steps = history.steps
        curves = []
        for name, values in series:
            color, style = loss_styles()[name]
            line, head = history_line(ax, steps, 100 * values, color)
            line.set_linestyle(style)
            line.set_label(name)
            curves.append((line, head, 100 * values))
        ax.set_ylim(0, 102)
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
        classes = history.info.classes
        if classes:
            ax.axhline(100 / classes, color=colours.REFERENCE, linewidth=0.8, linestyle="--", zorder=0)
        ax.set_xlabel("step")
        if len(series) > 1:
            ax.set_title(self.title, loc="left")
            header_legend(ax, [c[0] for c in curves])
        else:
            ax.set_title(self.title)
        # Accuracy rises: the bottom right stays free for the values.
        text = FrameText(0.97, 0.06, "", transform=ax.transAxes, ha="right", va="bottom", background="background")
        ax.add_artist(text)

        def update(i):
            text.set_text("   ".join(f"{name} {_percent(v[i])}" for name, v in series))
            return [*grow(curves, steps, i), text]
        return update


# What each kind of optimizer state is, for titles; "v" is shown as its square root, in the gradient's units.
STATE_TITLES = {"m": "m (mean gradient)", "v": "√v (RMS gradient)", "step": "step taken",
                "momentum": "momentum buffer", "g_avg": "mean gradient (centered)"}


def optimizer_state(history) -> dict[str, dict[str, np.ndarray]]:
    """The recorded optimizer state as ``{kind: {parameter: (rows, ...) array}}`` (empty if none)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for key, values in history.extras.items():
        prefix, _, rest = key.partition("/")
        kind, _, param = rest.partition("/")
        if prefix == "optim" and param:
            out.setdefault(kind, {})[param] = values
    return out


@dataclass
class OptimizerStatePanel(Panel):
    """A stateful optimizer's memory per parameter over the steps: for Adam, the first moment m, the RMS
    gradient √v and the step each update took; momentum buffers for SGD with momentum, √v for RMSprop.

    Each parameter (``hidden.weight``, ``output.bias``, ...) is one line: the root mean square over its
    entries, on a log scale, so a 2-100-3 network reads as four lines per plot. ``kinds`` picks and orders
    the plots (default: everything recorded, in the optimizer's order); ``title`` starts the first plot's
    title (default: the optimizer's name).
    """

    title: str = ""
    kinds: list[str] = field(default_factory=list)

    def draw(self, ax, history):
        state = optimizer_state(history)
        if not state:
            raise ValueError("OptimizerStatePanel needs a stateful optimizer's recorded state (SGD with momentum, "
                             f"RMSprop, Adam); this run used {history.info.optimizer or 'an unknown optimizer'}")
        kinds = list(self.kinds) or list(state)
        missing = [k for k in kinds if k not in state]
        if missing:
            raise ValueError(f"OptimizerStatePanel: no recorded optimizer state {missing[0]!r}; "
                             f"this run has {', '.join(state)}")
        axes = [ax] if len(kinds) == 1 else _split(ax, len(kinds))
        # A colour per layer, solid for its weight and dashed for its bias.
        names = list(dict.fromkeys(name for kind in kinds for name in state[kind]))
        layers = list(dict.fromkeys(name.rpartition(".")[0] or name for name in names))
        colors = {name: colours.layer_style(layers.index(name.rpartition(".")[0] or name), len(layers))[0]
                  for name in names}  # the layer role: darker with depth
        styles = {name: "-" if name.endswith("weight") else "--" for name in names}
        steps = history.steps
        curves = []
        for n, (kind, sub) in enumerate(zip(kinds, axes)):
            params = state[kind]
            series = []
            for name, values in params.items():
                flat = values.reshape(len(values), -1)
                rms = np.sqrt(np.abs(flat).mean(axis=1)) if kind == "v" else np.sqrt((flat * flat).mean(axis=1))
                line, head = history_line(sub, steps, rms, colors[name])
                line.set_linestyle(styles[name])
                line.set_label(name)
                curves.append((line, head, rms))
                series.append(rms)
            _log_limits(sub, series)
            name = STATE_TITLES.get(kind, kind)
            sub.set_title(f"{self.title or _optimizer_name(history)}: {name}" if n == 0 else name,
                          fontsize=size("label"))
            sub.tick_params(labelsize=size("detail"))
            sub.set_xlabel("step", fontsize=size("detail"))
            if n == 0:
                sub.set_ylabel("RMS over entries", fontsize=size("detail"))
        # Outside the last plot (the lines fill the plots), clear of its last tick label: a colour per layer,
        # then the line style of weights and biases.
        kinds = [("weight", "-"), ("bias", "--")]
        handles = [Line2D([], [], color=colors[next(n for n in names if (n.rpartition(".")[0] or n) == layer)],
                          label=layer) for layer in layers]
        handles += [Line2D([], [], color=colours.MUTED, linestyle=style, label=kind) for kind, style in kinds
                    if any(styles[n] == style for n in names)]
        axes[-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False,
                        fontsize=size("detail"), handlelength=2.0, borderaxespad=1.2, ncol=2 if len(handles) > 4 else 1)

        def update(i):
            return grow(curves, steps, i)
        return update


def _optimizer_name(history) -> str:
    """``"Adam"`` from the recorded ``"Adam(lr=0.002)"``."""
    return (history.info.optimizer or "optimizer").split("(")[0]


def _split(ax, n: int) -> list:
    """``n`` axes side by side in ``ax``'s grid cell (``ax`` itself is hidden), laid out with the figure."""
    ax.set_axis_off()
    grid = ax.get_subplotspec().subgridspec(1, n, wspace=0.08)
    return [ax.figure.add_subplot(grid[0, j]) for j in range(n)]


def _log_limits(ax, series: list[np.ndarray]) -> None:
    """A log scale over the positive values (zeros, as before the first update, are left out)."""
    positive = [np.where(s > 0, s, np.nan) for s in series]
    found = finite_range(*positive)
    if found is None:
        ax.set_ylim(0, 1)
        return
    ax.set_yscale("log", nonpositive="mask")
    lo, hi = found
    ax.set_ylim(lo / 1.5, hi * 1.5)
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))


__all__ = ["AccuracyPanel", "CLASS_COLORS", "ClassRegionsPanel", "OptimizerStatePanel", "class_probabilities",
           "optimizer_state"]
