"""Panels that draw curves over steps or over a 1-D input: the fit, the loss, gradients, parameters."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ...record.names import input_name, param_name, scalar_key, unit_names
from ...record.probes import fit_needs
from .. import colours
from ..text import FrameText, mark, size, stroke
from .base import CURRENT_MARK, PREDICTION_COLOR, Panel, axes_points, finite_range, fixed_limits

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def step_label(step: float, _pos: object = None) -> str:
    """A short tick label for a step count: ``800``, ``4,000``, ``250k``, ``1M``, ``1.5M``."""
    if abs(step) >= 1_000_000:
        return f"{step / 1_000_000:g}M"
    if abs(step) >= 100_000:
        return f"{step / 1000:g}k"
    return f"{step:,.0f}"


def grow(curves: list, steps: np.ndarray, i: int) -> list:
    """Set each (line, head, values) of history lines to rows 0..i; return the artists to redraw."""
    out = []
    for line, head, values in curves:
        line.set_data(steps[: i + 1], values[: i + 1])
        head.set_data(steps[i : i + 1], values[i : i + 1])
        out += [line, head]
    return out


def loss_scale(ax, series: list[np.ndarray], log_ratio: float) -> None:
    """Fix a loss axis for the whole run: logarithmic when the losses span more than ``log_ratio``."""
    found = finite_range(*series)
    if found and found[0] > 0 and found[1] / found[0] > log_ratio:
        ax.set_yscale("log")
        ax.set_ylim(found[0] / 1.3, found[1] * 1.3)
    else:
        ax.set_ylim(*fixed_limits(*series, 0.0))


def history_line(ax: Axes, steps: np.ndarray, values: np.ndarray, color: str) -> tuple:
    """A growing line plus a dot at its head, both animated, with x fixed to the whole run."""
    line, = ax.plot([], [], color=color, linewidth=stroke(1.4), animated=True)
    # Unclipped so the dot at x=0 shows whole; kept out of the layout, which would see its empty data.
    head, = ax.plot([], [], color=color, animated=True, clip_on=False, **{**CURRENT_MARK, "markersize": mark(4)})
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
    """Data against the prediction for 1-D input and output, with each last-hidden neuron's contribution
    (test points, when the run has them, hollow)."""

    title: str = "actual vs predicted"
    points: int = 200
    show_contributions: bool = True

    def needs(self, setup):
        return fit_needs(setup, self.points, self.show_contributions)

    def draw(self, ax, history):
        grid = history.static["fit/x"]
        x, y = history.static["data/x"][:, 0], history.static["data/y"][:, 0]
        pred = history.extras["fit/prediction"]
        contrib = _contributions(history) if self.show_contributions else None
        ax.set_title(self.title)
        test = "data/x_test" in history.static
        ax.plot(x, y, "o", color=colours.DATA, markersize=mark(5), label="training data" if test else "actual",
                zorder=3)
        if test:
            xt, yt = history.static["data/x_test"][:, 0], history.static["data/y_test"][:, 0]
            ax.plot(xt, yt, "o", markerfacecolor=colours.BACKGROUND, markeredgecolor=colours.DATA, markeredgewidth=1.6,
                    markersize=mark(6), label="test data", zorder=3)
            y = np.concatenate([y, yt])
        lines = []
        everything = [y, pred]
        if contrib is not None:
            contrib_at, bounds = contrib
            for j in range(contrib_at(0).shape[1]):
                color = colours.neuron_color(j)
                line, = ax.plot(grid, contrib_at(0)[:, j], color=color, linewidth=stroke(1.6), animated=True,
                                label=_contribution_label(history, j))
                lines.append(line)
            everything.extend(bounds)
        pred_line, = ax.plot(grid, pred[0], color=PREDICTION_COLOR, linewidth=stroke(2.2), animated=True,
                             label="predicted")
        ax.set_xlim(grid[0], grid[-1])
        ax.set_ylim(*fixed_limits(*everything))
        ax.axhline(0, color=colours.REFERENCE, linewidth=0.6, zorder=0)
        # Outside the axes: moving curves never pass under it, and it is drawn once with the background.
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), frameon=False)
        ax.set_xlabel(input_name(history.info, 0))

        def update(i):
            if contrib is not None:
                values = contrib_at(i)
                for j, line in enumerate(lines):
                    line.set_ydata(values[:, j])
            pred_line.set_ydata(pred[i])
            return [*lines, pred_line]
        return update


def _contribution_label(history, j: int) -> str:
    """``h1 · ow1``: the last hidden layer's unit ``j`` times its weight to the output, as every view names them."""
    layers = history.info.layers
    if len(layers) < 2:
        return f"neuron {j + 1}"
    unit = unit_names(layers)[layers[-2].name][j]
    out = layers[-1]
    weight = param_name(history.info, out.weight, (0, j) if out.transposed else (j, 0))
    return f"{unit} · {weight}"


def _contributions(history):
    """(row → (points, units) contributions, arrays bounding them) or None: each last-hidden unit's
    output on the fit grid times its weight to the output (0.1.0 histories stored the product itself)."""
    if "fit/contributions" in history.extras:
        c = history.extras["fit/contributions"]
        return (lambda i: c[i]), [c]
    layers = history.info.layers
    if len(layers) < 2 or f"fit/act/{layers[-2].name}" not in history.extras:
        return None
    if any(d.get("kind") == "batchnorm" and d.get("after") == layers[-2].name for d in history.info.other_layers):
        return None  # batch norm between the last hidden layer and the output: its products are not the output's
    acts = history.extras[f"fit/act/{layers[-2].name}"]  # (rows, points, units)
    w = history.layer_weight(layers[-1])[:, :, 0]  # (rows, units)
    # Bounds without building the (rows, points, units) product: per row and unit, the extremes of the
    # activation times the weight.
    lo, hi = acts.min(axis=1) * w, acts.max(axis=1) * w
    return (lambda i: acts[i] * w[i]), [lo, hi]


# Train and test (and the penalty) by neutral tone and line style: never a class's or a neuron's hue.
def loss_styles() -> dict[str, tuple[str, str]]:
    """(colour, line style) of each loss in the colours' theme in force."""
    return {"train": (colours.TRAIN, colours.TRAIN_STYLE), "test": (colours.TEST, colours.TEST_STYLE),
            "penalty": (colours.PENALTY, colours.PENALTY_STYLE)}


def header_legend(ax: Axes, lines: list) -> None:
    """A one-row legend of ``lines`` above the axes at the right, under a title set with ``loc="left"`` (the
    title is raised by the legend's height, so the two never meet however large the text)."""
    import matplotlib

    title = ax.get_title(loc="left")
    if title:
        ax.set_title(title, loc="left", pad=matplotlib.rcParams["axes.titlepad"] + 1.5 * size("legend"))
    ax.legend(handles=[matplotlib_line(line) for line in lines], loc="lower right", bbox_to_anchor=(1.0, 1.0),
              ncol=len(lines), frameon=False, fontsize=size("label"), handlelength=1.2, columnspacing=1.0,
              borderaxespad=0.1, borderpad=0.1)


def _readout_corner(ax, steps: np.ndarray, series: list[np.ndarray], limits: tuple[float, float], log: bool,
                    width: float, height: float) -> str:
    """``"top"`` or ``"bottom"``: the right-hand corner of the axes, ``width`` wide and ``height`` high (axes
    fractions), for a readout over ``series`` (over ``steps``, on a y axis from ``limits``, logarithmic if
    ``log``): the top unless a curve enters it at some step of the run and none enters the bottom one."""
    x = steps / max(ax.get_xlim()[1], 1)
    lo, hi = (np.log10(v) for v in limits) if log else limits
    right = x >= 1 - width
    reach = {"top": False, "bottom": False}
    for values in series:
        v = np.log10(np.where(values > 0, values, np.nan)) if log else np.asarray(values, dtype=float)
        y = ((v - lo) / (hi - lo))[right]
        reach["top"] |= bool(np.any(y >= 1 - height))
        reach["bottom"] |= bool(np.any(y <= height))
    return "bottom" if reach["top"] and not reach["bottom"] else "top"


@dataclass
class LossPanel(Panel):
    """Every recorded loss over training so far: the data loss on the training set, and the test loss and the
    penalty when recorded (the objective the optimizer follows is train + penalty; train and test are the
    same data loss on two sets, so they compare directly). Log scale when they span more than ``log_ratio``;
    the current values written at the top, in a band no curve reaches when there are several."""

    title: str = ""
    color: str | None = None  # the train loss's colour (None: the TRAIN role)
    log_ratio: float = 30.0

    def draw(self, ax, history):
        steps = history.steps
        label = history.info.loss_label or "loss"
        names = list(history.losses)
        order = {"train": 0, "test": 1, "penalty": 2}  # data losses first, then what is added to them
        names.sort(key=lambda n: (order.get(n, len(order)), n))
        series = [history.losses[n] for n in names]
        several = len(names) > 1
        if several:  # the legend takes the right of the title's row
            ax.set_title(self.title or label, loc="left")
        else:
            ax.set_title(self.title or f"{label} (whole training set)")
        curves = []
        for name, values in zip(names, series):
            color, style = loss_styles().get(name, ("#444444", "-."))
            line, head = history_line(ax, steps, values, (self.color or color) if name == "train" else color)
            line.set_linestyle(style)
            line.set_label(name)
            curves.append((line, head, values))
        found = finite_range(*series)
        log = bool(found and found[0] > 0 and found[1] / found[0] > self.log_ratio)
        if log:
            ax.set_yscale("log")
            lo, hi = found[0] / 1.3, found[1] * 1.3
        else:
            lo, hi = fixed_limits(*series, 0.0)
        if several:
            # A band at the top that no curve reaches, for the values: a test loss may rise to the end.
            hi = hi * (hi / lo) ** 0.2 if log else hi + 0.2 * (hi - lo)
        ax.set_ylim(lo, hi)
        ax.set_xlabel("step")
        if several:
            header_legend(ax, [c[0] for c in curves])
        prefix = [f"{n} " if several else f"{label} = " for n in names]
        # On a narrow panel the values alone (the title names the loss), so the readout stays inside the axes.
        room = 0.8 * axes_points(ax)[0]  # points, once laid out
        wide = 0.6 * size("body") * (len("   ".join(prefix)) + 10 * len(prefix))
        if not several and wide > 0.85 * room:
            prefix = ["" for _ in names]
            wide = 0.6 * size("body") * 10
        # At the top right, where a falling loss leaves room; at the bottom right when the curves stay up there
        # (a loss flat at its start, as batch norm's ln 2, ran under the box).
        top = several or _readout_corner(ax, steps, series, (lo, hi), log, width=min(wide / room, 0.97) + 0.03,
                                         height=1.6 * size("body") / (0.8 * axes_points(ax)[1]) + 0.08) == "top"
        text = FrameText(0.97, 0.92 if top else 0.08, "", transform=ax.transAxes, ha="right",
                         va="top" if top else "bottom", background="background")
        ax.add_artist(text)

        def update(i):
            text.set_text("   ".join(f"{p}{v[i]:.4g}" for p, v in zip(prefix, series)))
            return [*grow(curves, steps, i), text]
        return update


@dataclass
class GradientPanel(Panel):
    """The history of one scalar gradient, d loss / d parameter, e.g. ``GradientPanel("hidden.bias", (0,), "b1")``."""

    param: str = ""
    index: tuple[int, ...] = ()
    label: str = ""
    color: str = colours.NEURON_COLORS[0]
    title: str = ""

    def draw(self, ax, history):
        steps = history.steps
        values = history.scalar("grad", self.param, tuple(self.index))
        loss_label = history.info.loss_label or "loss"
        name = self.label or param_name(history.info, self.param, tuple(self.index))
        ax.set_title(self.title or f"∂{loss_label} / ∂{name}")
        ax.axhline(0, color=colours.REFERENCE, linewidth=0.6, zorder=0)
        line, head = history_line(ax, steps, values, self.color)
        ax.set_ylim(*fixed_limits(values, 0.0))

        def update(i):
            line.set_data(steps[: i + 1], values[: i + 1])
            head.set_data(steps[i : i + 1], values[i : i + 1])
            return [line, head]
        return update


def scalar_names(history, kind: str = "param") -> list[tuple[str, tuple[int, ...]]]:
    """Every scalar of the recorded parameters as (name, index), in layer order."""
    table = history.params if kind == "param" else history.grads
    return [(name, tuple(int(i) for i in idx)) for name, arr in table.items() for idx in np.ndindex(arr.shape[1:])]


def scalar_label(name: str, index: tuple[int, ...], labels: dict[str, str], info=None) -> str:
    """``labels["hidden.weight[0,1]"]`` if given, else the name every view gives it (:mod:`record.names`)."""
    key = scalar_key(name, index)
    return labels[key] if key in labels else param_name(info, name, index)


@dataclass
class ParameterPanel(Panel):
    """Every scalar parameter's value over the steps so far (for small networks), with a legend.

    Each is named as every view names it (the scene's ``param_names``, else ``w1[2,1]``: see
    :mod:`visualizer.record.names`); ``labels`` maps ``"layer.weight[i,j]"`` to another display name.
    """

    title: str = "parameters"
    labels: dict[str, str] = field(default_factory=dict)
    max_lines: int = 24

    def draw(self, ax, history):
        names = scalar_names(history)
        if self.labels:  # the order given (w1, w2, …), then any parameter it did not name
            order = list(self.labels)
            names.sort(key=lambda n: order.index(scalar_key(*n)) if scalar_key(*n) in order else len(order))
        elif history.info.param_names:  # by parameter, and within one by the scene's names (w1 before w2)
            position = {name: k for k, name in enumerate(history.params)}
            names.sort(key=lambda n: (position[n[0]], _natural(param_name(history.info, *n))))
        if len(names) > self.max_lines:
            raise ValueError(f"ParameterPanel draws at most {self.max_lines} parameters; the network has "
                             f"{len(names)} (raise max_lines or show WeightMatrixPanel instead)")
        steps = history.steps
        series = [history.scalar("param", n, i) for n, i in names]
        ax.set_title(self.title)
        lines = []
        for k, ((name, index), values) in enumerate(zip(names, series)):
            color, style = colours.series_style(k)
            line, head = history_line(ax, steps, values, color)
            line.set_linestyle(style)
            line.set_label(scalar_label(name, index, self.labels, history.info))
            lines.append((line, head, values))
        ax.set_ylim(*fixed_limits(*series))
        ax.set_xlabel("step")
        ax.axhline(0, color=colours.REFERENCE, linewidth=0.6, zorder=0)
        # The legend needs handles drawn with the background, so it gets static proxies of the same style.
        proxies = [matplotlib_line(line) for line, _, _ in lines]
        ax.legend(handles=proxies, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                  ncol=1 if len(names) <= 10 else 2, fontsize=size("label"), handlelength=1.2)

        return lambda i: grow(lines, steps, i)


def _natural(text: str) -> list:
    """A sort key reading digits as numbers: w2 before w10."""
    import re

    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def run_colors(n: int) -> list[str]:
    """The colour of each of ``n`` runs of a comparison (the run palette; its six colours repeat past six)."""
    return [colours.RUN_COLORS[k % len(colours.RUN_COLORS)] for k in range(n)]


def matplotlib_line(line):
    """A static legend handle looking like ``line``."""
    return Line2D([], [], color=line.get_color(), linewidth=line.get_linewidth(), linestyle=line.get_linestyle(),
                  label=line.get_label())
