"""Per-layer diagnostics: why deeper networks are hard to train, layer by layer.

- :class:`LayerStatPanel`: one statistic per layer over training, a line each: ‖δˡ‖ on a log axis (Nielsen's
  speed of learning per layer, ch. 5: the vanishing gradient), or the saturated share, ReLU's zero share, the
  activations' mean or standard deviation;
- :class:`LayerHistogramPanel`: the current histograms of every layer side by side, on one value axis
  (Karpathy's makemore part 3: activations with their saturated share, or gradients);
- :class:`LayerHeatmapPanel`: one layer's histogram at every recorded step as a column (fastai's "colorful
  dimension");
- :class:`UpdateRatioPanel`: log10 of the update:data ratio of each layer's weight over training, with the guide
  line at −3.

Each asks for what it draws (:class:`~visualizer.record.probes.LayerStats`), so the statistics are recorded
only for a layout that shows them; the keys are listed in :mod:`visualizer.record.layerstats`. A layer has one
colour in all four panels (the layer role, :data:`~visualizer.draw.colours.LAYER_COLORS`: darker with depth), and
is named as the network names it, with its activation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LogNorm
from matplotlib.ticker import FuncFormatter, PercentFormatter

from ...record.layerstats import key, measured_layers, update_ratio
from ...record.probes import LayerStats, Needs
from .. import colours
from ..text import FrameText, size
from .base import Panel, finite_range, fixed_limits
from .curves import grow, history_line, matplotlib_line

# What each statistic of LayerStatPanel is, its kind of request, its axis label and whether a log axis suits it.
STATS = {
    "delta_norm": ("delta", "‖δ‖ = mean |∂L/∂z|", True),
    "saturated": ("activation", "saturated share", False),
    "zero": ("activation", "share at exactly 0", False),
    "act_mean": ("activation", "mean activation", False),
    "act_std": ("activation", "activation std", False),
}
TITLES = {"delta_norm": "speed of learning per layer: ‖δ‖", "saturated": "saturated units", "zero": "ReLU units at zero", "act_mean": "mean activation per layer",
          "act_std": "activation spread per layer"}
SATURATED = {"tanh": "|tanh| > 0.97", "sigmoid": "σ within 0.03 of 0 or 1"}
KINDS = {"activation": ("act", "activations a"), "preactivation": ("pre", "pre-activations z"),
         "delta": ("delta", "gradients δ = ∂L/∂z")}


def _check_layers(layers, who: str) -> None:
    if layers is not None and layers != "all" and (isinstance(layers, str) or not all(isinstance(n, str)
                                                                                          for n in layers)):
        raise ValueError(f"{who}: layers must be None (the hidden layers), 'all' or a list of layer names, "
                         f"got {layers!r}")


def layer_order(history) -> list[tuple[str, str]]:
    """(name, activation) of the network's measured layers (or its dense layers), input side first."""
    found = measured_layers(history)
    return found or [(lay.name, lay.activation) for lay in history.info.layers]


def layer_style(history, name: str) -> tuple[str, str]:
    """The (colour, line style) of layer ``name``: the layer role by its depth in the network
    (:func:`~visualizer.draw.colours.layer_style`: lighter at the input side, darker deeper)."""
    names = [n for n, _ in layer_order(history)]
    if name in names:
        return colours.layer_style(names.index(name), len(names))
    # a layer the statistics left out: the deepest shade, dashed (apart from the deepest layer's solid line)
    return colours.LAYER_COLORS[-1], colours.SERIES_STYLES[1]


def chosen_layers(history, layers, who: str, stat: str | None = None) -> list[tuple[str, str]]:
    """The layers a panel shows: ``None`` the hidden ones (all but the output layer), ``"all"``, or the names
    given; with ``stat``, those that have it recorded. A name the network lacks is a clear ValueError."""
    order = layer_order(history)
    names = [n for n, _ in order]
    if layers is None:
        picked = order[:-1] if len(order) > 1 else order
    elif layers == "all":
        picked = order
    else:
        missing = [n for n in layers if n not in names]
        if missing:
            raise ValueError(f"{who}: no layer {missing[0]!r}; the measured layers are {names}")
        picked = [order[names.index(n)] for n in layers]
    if stat is not None:
        picked = [(n, a) for n, a in picked if key(n, stat) in history.extras]
        if not picked:
            raise ValueError(f"{who}: the history has no {stat!r} for the layers {[n for n, _ in order]} "
                             "(recorded when a layout with this panel trains; saturation is for tanh and sigmoid "
                             "layers, the zero share for ReLU)")
    return picked


def layer_label(history, name: str, activation: str) -> str:
    """``h1 (sigmoid)``: a layer as the panels name it in legends, by the name the diagram heads its column
    with (:func:`~visualizer.record.names.layer_name`)."""
    from ...record.names import layer_name

    short = layer_name(history.info.layers, name)
    return f"{short} ({activation})" if activation else short


def _legend(ax, lines: list) -> None:
    # Outside the axes on the right: the curves never pass under it, and it is drawn once with the background.
    ax.legend(handles=[matplotlib_line(line) for line in lines], loc="upper left", bbox_to_anchor=(1.0, 1.0),
              frameon=False, fontsize=size("legend"), handlelength=1.4, borderaxespad=0.8)  # clear of the last tick


def _log_limits(series: list[np.ndarray]) -> tuple[float, float] | None:
    """Limits of a log axis for the positive values of ``series`` (None when none is positive)."""
    positive = [np.where(s > 0, s, np.nan) for s in series]
    found = finite_range(*positive)
    if found is None:
        return None
    lo, hi = found
    if hi / lo < 10:  # at least a decade, so the log axis has a labelled tick
        mid = np.sqrt(lo * hi)
        lo, hi = min(lo, mid / np.sqrt(10)), max(hi, mid * np.sqrt(10))
    return lo / 1.5, hi * 1.5


@dataclass
class LayerStatPanel(Panel):
    """One statistic per layer over training, a line per layer: ``stat`` is ``"delta_norm"`` (‖δˡ‖, the mean
    |∂L/∂z| over the training set, on a log axis: the speed at which each layer learns), ``"saturated"`` (the
    share of saturated tanh or sigmoid units), ``"zero"`` (the share of ReLU outputs at 0), ``"act_mean"`` or
    ``"act_std"``. ``layers``: None for the hidden layers, ``"all"``, or a list of names."""

    stat: str = "delta_norm"
    layers: Sequence[str] | str | None = None
    title: str = ""
    log: bool | None = None
    # Set by a comparison (with_run_layer_stats): the value axis every run's panel shares, as (scale, lo, hi),
    # and legends that name layers only (the activation may differ from run to run).
    limits: tuple | None = None
    short_labels: bool = False

    def __post_init__(self) -> None:
        if self.stat not in STATS:
            raise ValueError(f"LayerStatPanel: stat must be one of {', '.join(STATS)}, got {self.stat!r}")
        _check_layers(self.layers, "LayerStatPanel")

    def needs(self, setup):
        return Needs({}, [], LayerStats(frozenset([STATS[self.stat][0]])))

    def value_axis(self, series: list[np.ndarray]) -> tuple[str, float, float]:
        """(scale, lo, hi) of the value axis for these ``series``: log for ‖δ‖ (unless ``log`` says), shares from
        0 to 100 %, else the values' range."""
        log = self.log if self.log is not None else STATS[self.stat][2]
        found = _log_limits(series) if log else None
        if found is not None:
            return ("log", *found)
        if self.stat in ("saturated", "zero"):
            return "linear", -0.03, 1.03
        return ("linear", *fixed_limits(*series))

    def draw(self, ax, history):
        label = STATS[self.stat][1]
        picked = chosen_layers(history, self.layers, "LayerStatPanel", self.stat)
        steps = history.steps
        series = [history.extras[key(n, self.stat)] for n, _ in picked]
        title = TITLES[self.stat]
        if self.stat == "saturated":  # what saturated means for the activations shown
            title += ": " + ", ".join(SATURATED[a] for a in dict.fromkeys(a for _, a in picked))
        ax.set_title(self.title or title)
        curves = []
        for (name, act), values in zip(picked, series):
            color, style = layer_style(history, name)
            line, head = history_line(ax, steps, values, color)
            line.set_linestyle(style)
            line.set_label(layer_label(history, name, "" if self.short_labels else act))
            curves.append((line, head, values))
        scale, lo, hi = self.limits or self.value_axis(series)
        ax.set_yscale(scale)
        ax.set_ylim(lo, hi)
        if self.stat in ("saturated", "zero"):
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_ylabel(label.partition(" = ")[0] + " per layer" if self.short_labels else label)
        ax.set_xlabel("step")
        _legend(ax, [c[0] for c in curves])
        return lambda i: grow(curves, steps, i)


def _kind(kind: str, who: str) -> tuple[str, str]:
    if kind not in KINDS:
        raise ValueError(f"{who}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return KINDS[kind]


@dataclass
class LayerHistogramPanel(Panel):
    """The current histogram of every layer, side by side on one value axis: ``kind`` ``"activation"`` (a),
    ``"preactivation"`` (z) or ``"delta"`` (δ = ∂L/∂z), each over the training set on bins fixed for the run.
    The height is the share of the layer's values in a bin; the legend gives the saturated (tanh, sigmoid) or
    zero (ReLU) share at the step shown."""

    kind: str = "activation"
    layers: Sequence[str] | str | None = None
    title: str = ""
    bins: int = 40

    def __post_init__(self) -> None:
        _kind(self.kind, "LayerHistogramPanel")
        _check_layers(self.layers, "LayerHistogramPanel")

    def needs(self, setup):
        return Needs({}, [], LayerStats(frozenset([self.kind]), self.bins))

    def draw(self, ax, history):
        prefix, what = _kind(self.kind, "LayerHistogramPanel")
        picked = chosen_layers(history, self.layers, "LayerHistogramPanel", f"{prefix}_hist")
        hists = [history.extras[key(n, f"{prefix}_hist")] for n, _ in picked]
        edges = [history.static[key(n, f"{prefix}_edges")] for n, _ in picked]
        ax.set_title(self.title or f"{what} per layer")
        lines, shares = [], []
        for (name, act), h, e in zip(picked, hists, edges):
            color, style = layer_style(history, name)
            line, = ax.plot([], [], color=color, linestyle=style, linewidth=1.4, drawstyle="steps-mid",
                            animated=True, label=layer_label(history, name, act))
            lines.append((line, 0.5 * (e[1:] + e[:-1]), h))
            share = None
            if self.kind == "activation":
                for stat, word in (("saturated", "saturated"), ("zero", "at 0")):
                    if key(name, stat) in history.extras:
                        share = (history.extras[key(name, stat)], word)
            shares.append(share)
        ax.set_xlim(min(float(e[0]) for e in edges), max(float(e[-1]) for e in edges))
        top = max(float(np.max(h)) for h in hists) or 1.0
        ax.set_ylim(0, top * 1.05)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_ylabel("share per bin")
        ax.set_xlabel({"activation": "a", "preactivation": "z", "delta": "δ"}[self.kind])
        if self.kind == "delta":
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
        _legend(ax, [line for line, _, _ in lines])
        # The saturated (or zero) share at the step shown, one line per layer in its colour, at the top right.
        texts = []
        for k, ((line, _, _), share) in enumerate(zip(lines, shares)):
            if share is not None:
                text = FrameText(0.98, 0.96, "", transform=ax.transAxes, ha="right", va="top", fontsize=size("legend"),
                                 color=line.get_color(), background="background", offset=(0.0, -12.0 * len(texts)))
                ax.add_artist(text)
                texts.append((text, share))

        def update(i):
            out = []
            for line, centres, h in lines:
                line.set_data(centres, h[i])
                out.append(line)
            for text, (values, word) in texts:
                text.set_text(f"{values[i]:.0%} {word}")
                out.append(text)
            return out
        return update


@dataclass
class LayerHeatmapPanel(Panel):
    """One layer's histogram at every recorded step as a column, the share in each bin coloured on a log
    scale (fastai's "colorful dimension"): ``kind`` as :class:`LayerHistogramPanel`'s; ``layer`` a name (None:
    the first layer). Columns appear as training reaches them."""

    layer: str | None = None
    kind: str = "activation"
    title: str = ""
    bins: int = 40
    colorbar: bool = True

    def __post_init__(self) -> None:
        _kind(self.kind, "LayerHeatmapPanel")

    def needs(self, setup):
        return Needs({}, [], LayerStats(frozenset([self.kind]), self.bins))

    def draw(self, ax, history):
        prefix, what = _kind(self.kind, "LayerHeatmapPanel")
        names = None if self.layer is None else [self.layer]
        picked = chosen_layers(history, names or "all", "LayerHeatmapPanel", f"{prefix}_hist")[:1]
        name, act = picked[0]
        h = history.extras[key(name, f"{prefix}_hist")]  # (rows, bins)
        edges = history.static[key(name, f"{prefix}_edges")]
        steps = history.steps.astype(float)
        mid = 0.5 * (steps[1:] + steps[:-1]) if len(steps) > 1 else np.array([])
        first = steps[0] - (mid[0] - steps[0] if len(mid) else 0.5)
        last = steps[-1] + (steps[-1] - mid[-1] if len(mid) else 0.5)
        x = np.concatenate([[first], mid, [last]])
        positive = h[h > 0]
        lo = max(float(positive.min()) if positive.size else 1e-4, 1e-4)
        hi = max(float(h.max()), lo * 10)
        cmap = colormaps[colours.SEQUENTIAL].with_extremes(bad=colours.BACKGROUND, under=colours.BACKGROUND)
        values = np.ma.masked_less_equal(h.T, 0.0)
        mesh = ax.pcolormesh(x, edges, values, cmap=cmap, norm=LogNorm(lo, hi), shading="flat", animated=True,
                             rasterized=True)
        ax.set_xlim(max(x[0], 0.0), x[-1])
        ax.set_ylim(edges[0], edges[-1])
        ax.xaxis.set_major_formatter(FuncFormatter(lambda s, _pos: f"{s:,.0f}"))
        ax.set_title(self.title or f"{layer_label(history, name, act)}: {what} over training")
        ax.set_xlabel("step")
        ax.set_ylabel({"activation": "a", "preactivation": "z", "delta": "δ"}[self.kind])
        if self.colorbar:  # on an inset, so it stays beside this axes whatever its column's other panels need
            bar = ax.figure.colorbar(mesh, cax=ax.inset_axes([1.03, 0.0, 0.04, 1.0]))
            bar.set_label("share per bin", fontsize=size("label"))
            bar.ax.tick_params(labelsize=size("detail"))
        rows = np.arange(len(steps))

        def update(i):
            shown = np.ma.masked_where(np.broadcast_to(rows > i, values.shape) | values.mask, values.data)
            mesh.set_array(shown)
            return [mesh]
        return update


def layer_stat_panel(layout) -> LayerStatPanel | None:
    """The layout's first :class:`LayerStatPanel`, if it has one."""
    return next((p for p in layout.panels.values() if isinstance(p, LayerStatPanel)), None)


def with_run_layer_stats(layout, scene_layout, history, shape: Sequence[int] | None = None):
    """A comparison's ``layout`` with the scene's first :class:`LayerStatPanel` drawn once per run of the joined
    ``history``, on one value axis, under the runs' panels: each run's own lines, one per layer (``compare vanishing --vary
    activation=sigmoid,relu``: the sigmoid run's ‖δ‖ spread over decades, the ReLU run's close together). The
    layout as it was when the scene has no such panel."""
    import dataclasses

    from ...record.runs import run_history
    from .compare import with_run_row

    panel = layer_stat_panel(scene_layout)
    if panel is None:
        return layout
    runs = len(history.info.runs)
    series, names = [], set()
    for k in range(runs):
        run = run_history(history, k)
        picked = chosen_layers(run, panel.layers, "LayerStatPanel", panel.stat)
        series += [run.extras[key(n, panel.stat)] for n, _ in picked]
        names.add((tuple(n for n, _ in picked), tuple(n for n, _ in layer_order(run))))
    # One value axis for every run, known before any is drawn (so the legend is placed where no run's line goes).
    inner = dataclasses.replace(panel, limits=panel.value_axis(series), short_labels=True)
    # Layers are shaded by their depth in their own network: runs of different depths each get their legend.
    return with_run_row(layout, inner, runs, shape, name="layers", height=1.2,
                        legend=True if len(names) == 1 else "each")


@dataclass
class UpdateRatioPanel(Panel):
    """log10 of the update:data ratio of each layer's weight over training, ‖Δθ‖ / ‖θ‖ per step between
    recorded steps (:func:`~visualizer.record.layerstats.update_ratio`), with a guide line at ``guide`` (−3:
    updates about a thousandth of the weights, Karpathy's rule of thumb). Needs nothing recorded beyond the
    parameters. ``layers``: None or ``"all"`` for every dense layer, or a list of names."""

    layers: Sequence[str] | str | None = None
    guide: float | None = -3.0
    title: str = "update:data ratio per layer"

    def __post_init__(self) -> None:
        _check_layers(self.layers, "UpdateRatioPanel")

    def draw(self, ax, history):
        dense = {lay.name: lay for lay in history.info.layers}
        if self.layers is None or self.layers == "all":
            names = list(dense)
        else:
            missing = [n for n in self.layers if n not in dense]
            if missing:
                raise ValueError(f"UpdateRatioPanel: no dense layer {missing[0]!r}; the network's are {list(dense)}")
            names = list(self.layers)
        if not names:
            raise ValueError("UpdateRatioPanel: the history names no layers (record with a model adapter)")
        steps = history.steps
        series = [update_ratio(history, dense[n].weight) for n in names]
        ax.set_title(self.title)
        curves = []
        for name, values in zip(names, series):
            color, style = layer_style(history, name)
            line, head = history_line(ax, steps, values, color)
            line.set_linestyle(style)
            line.set_label(f"{dense[name].weight}")
            curves.append((line, head, values))
        extra = [] if self.guide is None else [self.guide]
        lo, hi = fixed_limits(*series, *extra)
        ax.set_ylim(lo, hi)
        if self.guide is not None:
            ax.axhline(self.guide, color=colours.REFERENCE, linestyle="--", linewidth=1.0, zorder=0)
            ax.annotate(f"guide {self.guide:g}", (0.0, self.guide), xycoords=("axes fraction", "data"),
                        xytext=(3, 2), textcoords="offset points", fontsize=size("detail"), color=colours.MUTED,
                        va="bottom")
        ax.set_ylabel("log10 ‖Δθ‖ / ‖θ‖ per step")
        ax.set_xlabel("step")
        _legend(ax, [c[0] for c in curves])
        return lambda i: grow(curves, steps, i)


__all__ = ["LayerHeatmapPanel", "LayerHistogramPanel", "LayerStatPanel", "UpdateRatioPanel", "chosen_layers",
           "layer_order", "layer_stat_panel", "layer_style"]
