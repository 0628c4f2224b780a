"""Panels that show why the network learns: the chain rule for one weight, and the loss landscape.

:class:`ChainRulePanel` writes ∂L/∂θ for one scalar parameter out as the seed notebooks do by hand, factor by
factor along every path from θ to the loss, with each factor's current value per sample and their products'
sum beside the recorded gradient. :class:`LossLandscapePanel` draws the loss over a plane in parameter space
(computed once after training, see :mod:`visualizer.record.landscape`) with the run's path across it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from matplotlib import patheffects
from matplotlib.colors import LogNorm, Normalize
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ...record.backprop import chain_rule, layer_weight, parse_param
from ...record.names import param_name
from ...record.probes import Needs, Probe
from ..text import FrameText, FrameTextGroup, size
from .. import colours
from .base import CURRENT_MARK, PREDICTION_COLOR, Panel, finite_range
from .curves import scalar_key

# A path over the landscape keeps a white outline: its colour stays readable on any shade of the map.
PATH_OUTLINE = [patheffects.Stroke(linewidth=3.6, foreground="white"), patheffects.Normal()]
from .diagram import short_loss


def _row_label(n: int, names: list[str]) -> str:
    return names[n] if n < len(names) else str(n + 1)


TABLE_LINE = 1.45  # a table line's height, in its font's size
TABLE_EXTRA_LINES = 5  # the formula, the gap under it, the header, the sum and the recorded gradient


def _rows_that_fit(ax, extra: int = TABLE_EXTRA_LINES) -> int:
    """How many sample rows of the chain-rule table fit in ``ax`` at the frame's text size (the layout still to
    come takes the title's band and some margin: 95 % of their height now)."""
    from matplotlib.font_manager import FontProperties

    line = TABLE_LINE * size("detail") * ax.figure.dpi / 72
    return max(1, int(0.95 * ax.bbox.height / line) - extra)


def _number(v: float) -> str:
    """Four significant digits, never wider than about nine characters."""
    if v == 0:
        return "0"  # never "-0"
    if not np.isfinite(v):
        return f"{v:g}"
    return f"{v:.4g}" if 1e-4 <= abs(v) < 1e6 else f"{v:.2e}"


@dataclass
class ChainRulePanel(Panel):
    """The chain rule for one scalar parameter, e.g. ``ChainRulePanel("hidden.weight", (0, 0), "iw1")``.

    One column per factor along the path from the loss back to the parameter (``∂SSR/∂P · ∂P/∂y1 · ∂y1/∂x1
    · ∂x1/∂iw1`` for softplus_fit's iw1), one row per sample (and per path, when the parameter reaches the
    loss along several), each row's product, their sum, and the recorded gradient, which the sum equals.
    ``names`` maps a layer to its (pre-activation, activation) names, e.g. ``{"hidden": ("x", "y"),
    "output": ("P", "P")}`` for the seed's notation; ``sample_names`` names the rows. At most ``max_rows``
    rows are written out, and no more than fit in the panel at the frame's text size (a last row says how
    many more there are); the sum always covers every sample.
    """

    param: str = ""
    index: tuple[int, ...] = ()
    label: str = ""
    names: dict[str, tuple[str, str]] = field(default_factory=dict)
    sample_names: list[str] = field(default_factory=list)
    title: str = ""
    max_rows: int = 12

    def _rule(self, info):
        label = self.label or param_name(info, self.param, tuple(self.index))  # as every view names it
        return chain_rule(info.layers, self.param, tuple(self.index), label, short_loss(info.loss_label),
                          self.names, info.input_names, info.other_layers)

    def needs(self, setup):
        k, is_bias, _, _ = parse_param(setup.layers, self.param, tuple(self.index))
        probes = [Probe("backprop/output_grad", setup.x, quantity="output_grad")]
        probes += [Probe(f"backprop/slope/{lay.name}", setup.x, lay.name, quantity="slope")
                   for lay in setup.layers[k:]]
        if k and not is_bias:
            below = setup.layers[k - 1].name
            probes.append(Probe(f"act/{below}", setup.x, layer=below))
        return Needs({}, probes)

    def terms(self, history, i: int | slice = slice(None)):
        """(rule, values) of history row ``i`` (paths, samples, factors), or of every row (rows, paths,
        samples, factors); the products' sum over paths and samples is ∂L/∂θ."""
        layers = history.info.layers
        rule = self._rule(history.info)
        return rule, rule.values(*self._sources(history, rule, i))

    def _sources(self, history, rule, i):
        layers = history.info.layers
        names = [lay.name for lay in layers]
        k = names.index(rule.layer.name)
        try:
            output_grad = history.extras["backprop/output_grad"][i]
            slopes = {n: history.extras[f"backprop/slope/{n}"][i] for n in names[k:]}
            inputs = None
            if not rule.is_bias:
                inputs = history.static["data/x"] if k == 0 else history.extras[f"act/{names[k - 1]}"][i]
        except KeyError as exc:
            raise ValueError(f"ChainRulePanel needs the backward pass recorded on the training set ({exc.args[0]} "
                             "is missing): train with this layout") from None
        weights = {lay.name: layer_weight(lay, {lay.weight: history.params[lay.weight][i]}) for lay in layers[k:]}
        return output_grad, slopes, weights, inputs

    def draw(self, ax, history):
        layers = history.info.layers
        if not layers:
            raise ValueError("ChainRulePanel needs the model's layer structure in the history")
        rule = self._rule(history.info)
        loss = short_loss(history.info.loss_label)
        n = len(history.static["data/x"])
        if self.param not in history.grads:
            raise ValueError(f"ChainRulePanel needs the recorded gradient of {self.param!r}")
        recorded = history.grads[self.param][(slice(None), *tuple(self.index))]
        terms = [(p, s) for p in range(len(rule.paths)) for s in range(n)]
        penalty = history.info.penalty  # its part of the recorded gradient is not the chain rule's
        extra = TABLE_EXTRA_LINES + bool(penalty)
        fit = min(self.max_rows, _rows_that_fit(ax, extra))
        shown = terms if len(terms) <= fit else terms[: max(1, fit - 1)]
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        masked = any(f.name.startswith("m·") for f in rule.paths[0])  # m: the unit's dropout mask at the step
        ax.set_title(self.title or f"the chain rule for ∂{loss}/∂{rule.target}" +
                     (" (m: the step's dropout mask, 0 = dropped)" if masked else ""))
        # Columns: the sample, one per factor, the product; numbers right-aligned at each column's right edge,
        # each column as wide as its header or a number (about nine characters), whichever is wider.
        widths = np.array([max(len(f.name), 9) for f in rule.paths[0]] + [9], dtype=float)
        rights = list(0.13 + (0.995 - 0.13) * np.cumsum(widths)[:-1] / widths.sum() - 0.015) + [0.995]
        lines = len(shown) + (len(shown) < len(terms)) + extra
        step = min(0.075, 0.97 / lines)
        top = 0.98
        several = len(rule.paths) > 1
        sigma = "Σₙ Σ paths " if several else "Σₙ "
        formula = f"∂{loss}/∂{rule.target} = {sigma}" + " · ".join(f.name for f in rule.paths[0])
        ax.text(0.0, top, formula, ha="left", va="top", fontsize=size("label"), transform=ax.transAxes)
        head = top - 2.0 * step  # baselines from here: both kinds of text sit on them alike
        ax.text(0.0, head, "sample", ha="left", va="baseline", fontsize=size("detail"), color=colours.MUTED)
        for f, factor in enumerate(rule.paths[0]):
            ax.text(rights[f], head, factor.name, ha="right", va="baseline", fontsize=size("detail"),
                    color=colours.MUTED)
        ax.text(rights[-1], head, "product", ha="right", va="baseline", fontsize=size("detail"), color=colours.MUTED)
        ax.axhline(head - 0.4 * step, xmin=0.0, xmax=1.0, color=colours.RULE, linewidth=0.6)
        # One artist for every number of the table: they are blended into the frame at once.
        ys = [head - step * (k + 1) for k in range(len(shown))]
        for (p, s), y in zip(shown, ys):
            label = _row_label(s, self.sample_names)
            if several:
                label += f" · path {p + 1}"
            ax.text(0.0, y, label, ha="left", va="baseline", fontsize=size("detail"))
        table = FrameTextGroup([(right, y) for y in ys for right in rights], transform=ax.transAxes, ha="right",
                               va="baseline", fontsize=size("detail"))
        ax.add_artist(table)
        y = head - step * (len(shown) + 1)
        if len(shown) < len(terms):
            ax.text(0.0, y, f"… {len(terms) - len(shown)} more", ha="left", va="baseline", fontsize=size("detail"),
                    color=colours.MUTED)
            y -= step
        ax.axhline(y + 0.6 * step, xmin=0.0, xmax=1.0, color=colours.RULE, linewidth=0.6)
        ax.text(0.0, y, f"sum = ∂{loss}/∂{rule.target}", ha="left", va="baseline", fontsize=size("detail"))
        total = FrameText(rights[-1], y, "", transform=ax.transAxes, ha="right", va="baseline", fontsize=size("detail"),
                          color=PREDICTION_COLOR)
        ax.add_artist(total)
        y -= step
        rest = None
        if penalty:
            ax.text(0.0, y, f"+ the penalty's part ({penalty}): recorded − sum", ha="left", va="baseline",
                    fontsize=size("detail"), color=colours.MUTED)
            rest = FrameText(rights[-1], y, "", transform=ax.transAxes, ha="right", va="baseline",
                             fontsize=size("detail"), color=colours.MUTED)
            ax.add_artist(rest)
            y -= step
        ax.text(0.0, y, "recorded gradient", ha="left", va="baseline", fontsize=size("detail"), color=colours.MUTED)
        check = FrameText(rights[-1], y, "", transform=ax.transAxes, ha="right", va="baseline", fontsize=size("detail"),
                          color=colours.MUTED)
        ax.add_artist(check)

        # Every row's numbers at once, formatted once: a frame only hands strings over.
        values = rule.values(*self._sources(history, rule, slice(None)))  # (rows, paths, samples, factors)
        products = values.prod(axis=-1)
        paths, samples = (np.array(shown, dtype=int).T if shown else (np.zeros(0, int), np.zeros(0, int)))
        cells = np.concatenate([values[:, paths, samples, :], products[:, paths, samples, None]], axis=2)
        texts = [[_number(v) for v in row.ravel()] for row in cells]  # per row: table rows, then columns
        totals = [_number(v) for v in products.sum(axis=(1, 2))]
        checks = [_number(v) for v in recorded]
        rests = [_number(v) for v in recorded - products.sum(axis=(1, 2))]

        def update(i):
            table.set_texts(texts[i])
            total.set_text(totals[i])
            check.set_text(checks[i])
            if rest is None:
                return [table, total, check]
            rest.set_text(rests[i])
            return [table, total, check, rest]
        return update


NORM_CELL = 8  # characters of a number in the batch norm panel ("-1.2e-03"), for how many layers fit across


@dataclass
class BatchNormPanel(Panel):
    """Batch norm as its own stage, with its numbers at each recorded step: for unit ``unit`` of each batch
    norm layer (one column each, as many as fit), the batch's μ and σ = √(σ² + ε) that the training step
    normalizes by (its gradient is the recorded one), the running μ and σ that evaluation normalizes by (the
    losses and the maps over the input plane), and the learnt γ and β: x̂ = (z − μ)/σ, y = γ·x̂ + β. Reads
    the recorded ``batchnorm/<L>/…`` extras (:mod:`visualizer.record.modes`) and the parameters
    ``<L>.weight`` (γ) and ``<L>.bias`` (β)."""

    unit: int = 0
    title: str = ""
    eps: float = 1e-5

    def draw(self, ax, history):
        from ...record.modes import norm_key
        from .base import axes_points
        from .explain import short

        norms = [d for d in history.info.other_layers if d.get("kind") == "batchnorm"]
        if not norms or norm_key(norms[0]["name"], "mean") not in history.extras:
            raise ValueError("BatchNormPanel needs a network with batch norm and its recorded statistics "
                             "(batchnorm/<layer>/mean …): train with a scene whose network has batch norm")
        u = self.unit
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(self.title or f"batch norm, unit {u + 1} of each layer")
        detail = size("detail")
        labels = ["μ batch", "σ batch", "μ running", "σ running", "γ", "β"]
        left = 0.6 * detail * max(map(len, labels)) / max(axes_points(ax)[0], 1.0) + 0.02  # the labels' column
        cell = (0.6 * NORM_CELL + 1.2) * detail / max(axes_points(ax)[0], 1.0)
        shown = norms[:max(1, int((1.0 - left) / cell))]
        rights = [left + (1.0 - left) * (k + 1) / len(shown) for k in range(len(shown))]
        step = min(0.1, 0.97 / (len(labels) + 4))
        top = 0.98
        for right, d in zip(rights, shown):
            ax.text(right, top, d["name"], ha="right", va="top", fontsize=detail, color=colours.MUTED)
        ax.axhline(top - 1.05 * step, color=colours.RULE, linewidth=0.6)
        ys = [top - step * (k + 1.3) for k in range(len(labels))]
        for label, y in zip(labels, ys):
            ax.text(0.0, y, label, ha="left", va="top", fontsize=detail)
        series = []
        for d in shown:
            name = d["name"]
            series.append([history.extras[norm_key(name, "mean")][:, u],
                           np.sqrt(history.extras[norm_key(name, "var")][:, u] + d.get("eps", self.eps)),
                           history.extras[norm_key(name, "running_mean")][:, u],
                           np.sqrt(history.extras[norm_key(name, "running_var")][:, u] + d.get("eps", self.eps)),
                           history.params[f"{name}.weight"][:, u], history.params[f"{name}.bias"][:, u]])
        table = FrameTextGroup([(right, y) for y in ys for right in rights], transform=ax.transAxes, ha="right",
                               va="top", fontsize=detail)
        ax.add_artist(table)
        more = f" ({len(norms) - len(shown)} more layers)" if len(shown) < len(norms) else ""
        ax.text(0.0, ys[-1] - 1.5 * step, f"x̂ = (z − μ)/σ,  y = γ·x̂ + β{more}\nbatch: the step's gradient;\n"
                "running: the losses, the maps", ha="left", va="top", fontsize=detail, color=colours.MUTED,
                linespacing=1.3)
        cells = np.stack([series[c][r] for r in range(len(labels)) for c in range(len(shown))], axis=1)
        texts = [[short(float(v)) for v in row] for row in cells]  # every row's numbers formatted once

        def update(i):
            table.set_texts(texts[i])
            return [table]
        return update


def landscape_key(params, at_step) -> str:
    """The static key prefix of a landscape: ``landscape/pca`` or ``landscape/<p1>~<p2>@<step|last>``."""
    if params is None:
        return "landscape/pca"
    (p1, i1), (p2, i2) = params
    where = "last" if at_step is None else str(int(at_step))
    return f"landscape/{scalar_key(p1, tuple(i1))}~{scalar_key(p2, tuple(i2))}@{where}"


@dataclass
class LossLandscapePanel(Panel):
    """The training loss over a plane in parameter space, with the run's path and its current point.

    ``params=None`` takes the plane of the trajectory's first two principal directions through its final
    point (Li et al. 2018); ``params=(("hidden.weight", (0, 0)), ("output.weight", (0, 0)))`` takes those two
    scalars, every other parameter held at its value at ``at_step`` (default: the last recorded step), and
    ``labels`` names them. Computed once after training on a ``resolution``² grid reaching ``margin`` of the
    path's extent beyond it; filled contours on a log colour scale when the loss spans more than
    ``log_ratio``. On the PCA plane the path is the trajectory's projection: the contours under it are the
    loss in the plane, which is the run's own loss only where the trajectory lies in the plane.
    """

    params: tuple | None = None
    labels: tuple[str, str] = ("", "")
    at_step: int | None = None
    resolution: int = 60
    margin: float = 0.25
    title: str = ""
    log_ratio: float = 30.0
    levels: int = 16

    def __post_init__(self) -> None:
        if self.params is not None:
            if len(self.params) != 2:
                raise ValueError("LossLandscapePanel params: give two (name, index) pairs, or None for the PCA plane")
            self.params = tuple((str(name), tuple(int(i) for i in index)) for name, index in self.params)
        if self.resolution < 4:
            raise ValueError(f"LossLandscapePanel resolution must be at least 4, got {self.resolution}")

    @property
    def key(self) -> str:
        """Where this landscape lives in ``history.static``."""
        return landscape_key(self.params, self.at_step)

    def analyse(self, history, model, data):
        from ...record.landscape import landscape_for

        arrays = landscape_for(history, model, data, params=self.params, at_step=self.at_step,
                               resolution=self.resolution, margin=self.margin)
        return {f"{self.key}/{k}": v for k, v in arrays.items()}

    def draw(self, ax, history):
        a, b = self._field(ax, history, "the path")
        path = history.static[f"{self.key}/path"]
        _mark_start(ax, path, a, b)
        line, = ax.plot([], [], color=PREDICTION_COLOR, linewidth=2.2, animated=True, path_effects=PATH_OUTLINE)
        head, = ax.plot([], [], color=PREDICTION_COLOR, markeredgecolor="white", animated=True,
                        **{**CURRENT_MARK, "markersize": 7})

        def update(i):
            line.set_data(path[: i + 1, 0], path[: i + 1, 1])
            head.set_data(path[i : i + 1, 0], path[i : i + 1, 1])
            return [line, head]
        return update

    def _field(self, ax, history, whose: str) -> tuple[np.ndarray, np.ndarray]:
        """The loss over the plane (filled contours, colour bar, axis labels, title); returns the grid axes."""
        key = self.key
        if f"{key}/loss" not in history.static:
            raise ValueError(f"{type(self).__name__} needs its landscape ({key}), computed once after training: "
                             "train with this layout")
        a, b = history.static[f"{key}/a"], history.static[f"{key}/b"]
        grid = history.static[f"{key}/loss"]
        found = finite_range(grid)
        lo, hi = found if found else (0.0, 1.0)
        log = lo > 0 and hi / lo > self.log_ratio
        if log:
            levels = np.geomspace(lo, hi * 1.0001, self.levels)
            norm = LogNorm(lo, hi)
        else:
            levels = np.linspace(lo, hi + 1e-12 * max(1.0, abs(hi)), self.levels)
            norm = Normalize(lo, hi)
        filled = ax.contourf(a, b, grid, levels=levels, norm=norm, cmap=colours.SEQUENTIAL, extend="neither")
        ax.contour(a, b, grid, levels=levels, colors="white", linewidths=0.3, alpha=0.5)
        cbar = ax.figure.colorbar(filled, ax=ax, fraction=0.05, pad=0.02)
        ticks = _colorbar_ticks(lo, hi, log)
        cbar.set_ticks(ticks, labels=[f"{t:.3g}" for t in ticks])
        cbar.ax.tick_params(labelsize=size("detail"))
        cbar.ax.minorticks_off()
        label = history.info.loss_label or "loss"
        cbar.set_label(label + (" (log scale)" if log else ""), fontsize=size("detail"))
        ax.grid(False)
        for axis in (ax.xaxis, ax.yaxis):  # coordinates of any size (a run that diverged) without an offset
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))  # written apart from its ticks
        if self.params is None:
            explained = history.static.get(f"{key}/explained", np.zeros(2))
            ax.set_xlabel(f"1st principal direction ({100 * explained[0]:.0f} % of {whose})")
            ax.set_ylabel(f"2nd ({100 * explained[1]:.0f} %)")
            ax.set_title(self.title or f"{label} over the plane of {whose} (PCA)")
        else:
            names = [self.labels[j] or param_name(history.info, *self.params[j]) for j in range(2)]
            ax.set_xlabel(names[0])
            ax.set_ylabel(names[1])
            where = "last step" if self.at_step is None else f"step {self.at_step:,}"
            first = "first run's " if history.info.runs else ""
            ax.set_title(self.title or f"{label} over ({names[0]}, {names[1]}), the rest at the {first}{where}")
        ax.tick_params(labelsize=size("detail"))
        ax.set_xlim(a[0], a[-1])
        ax.set_ylim(b[0], b[-1])
        return a, b


def _mark_start(ax, path: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """A white dot where ``path`` starts, labelled on the side away from where it sets off, so the word never
    sits on the path."""
    ax.plot(path[0, 0], path[0, 1], "o", color="white", markeredgecolor="black", markersize=6, zorder=3)
    ahead = path[min(len(path) - 1, max(1, len(path) // 20))] - path[0]
    span = np.array([a[-1] - a[0], b[-1] - b[0]])
    away = -ahead / span if np.all(np.isfinite(ahead)) and np.any(ahead) else np.array([1.0, 1.0])
    away = away / (np.linalg.norm(away) or 1.0)
    ax.annotate("start", (path[0, 0], path[0, 1]), xytext=tuple(9 * away), textcoords="offset points",
                ha="left" if away[0] >= 0 else "right", va="bottom" if away[1] >= 0 else "top",
                fontsize=size("detail"), color="black",
                path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")])


@dataclass
class CompareLandscapePanel(LossLandscapePanel):
    """A comparison's loss landscape: one plane for every run (the PCA plane of all their paths together, or
    two named scalars with the rest held at the first run's step), each run's path in its legend colour, and
    with ``styles`` (a :class:`~visualizer.draw.panels.compare.RunStyle` per run) its line style and marker."""

    styles: list | None = None

    @property
    def key(self) -> str:
        return "compare-" + landscape_key(self.params, self.at_step)

    def draw(self, ax, history):
        from .curves import run_colors

        a, b = self._field(ax, history, "every run's path")
        paths = history.static[f"{self.key}/paths"]
        starts = {tuple(np.round(p[0], 12)) for p in paths}
        if len(starts) == 1:  # the same start (same seed): one dot, labelled
            _mark_start(ax, paths[0], a, b)
        else:
            for p in paths:
                ax.plot(p[0, 0], p[0, 1], "o", color="white", markeredgecolor="black", markersize=5, zorder=3)
        styles = self.styles or [(c, "-", None) for c in run_colors(len(paths))]
        artists = []
        for path, style in zip(paths, styles):
            color, dash, marker = (style.color, style.linestyle, style.marker) if hasattr(style, "color") else style
            line, = ax.plot([], [], color=color, linewidth=2.2, linestyle=dash, animated=True,
                            path_effects=PATH_OUTLINE)
            head, = ax.plot([], [], color=color, markeredgecolor="white", animated=True,
                            **{**CURRENT_MARK, "markersize": 7 if marker else 6, "marker": marker or "o"})
            # Each row's last finite point, found once: a diverged run's head stays where it stopped.
            rows = np.arange(len(path))
            last = np.maximum.accumulate(np.where(np.isfinite(path).all(axis=1), rows, 0))
            artists.append((line, head, path, last))

        def update(i):
            out = []
            for line, head, path, last in artists:
                line.set_data(path[: i + 1, 0], path[: i + 1, 1])
                head.set_data(path[last[i] : last[i] + 1, 0], path[last[i] : last[i] + 1, 1])
                out += [line, head]
            return out
        return update


def _colorbar_ticks(lo: float, hi: float, log: bool) -> np.ndarray:
    """A few readable ticks inside [lo, hi]: the decades on a log scale (or three spread ones if fewer)."""
    if log:
        decades = 10.0 ** np.arange(np.ceil(np.log10(lo)), np.floor(np.log10(hi)) + 1)
        if len(decades) >= 2:
            return decades[:: max(1, -(-len(decades) // 6))]
        return np.array([float(f"{t:.2g}") for t in np.geomspace(lo, hi, 3)])
    ticks = MaxNLocator(5).tick_values(lo, hi)
    return ticks[(ticks >= lo) & (ticks <= hi)]


__all__ = ["BatchNormPanel", "ChainRulePanel", "CompareLandscapePanel", "LossLandscapePanel", "landscape_key"]
