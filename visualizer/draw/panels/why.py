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
from ..text import FrameText, FrameTextGroup, any_inside, box_inside, points_along, size, stroke
from .. import colours
from .base import CURRENT_MARK, PREDICTION_COLOR, AtLayout, Panel, finite_range
from .curves import scalar_key
from .diagram import short_loss


def path_style(linewidth: float = 2.2) -> dict:
    """Line keywords of a path over the landscape: ``linewidth`` (at the default preset; scaled with the preset's
    lines) in its own colour, cased by a thin dark rim inside a thin light one
    (:data:`~visualizer.draw.colours.PATH_CASING`), so the path's colour stays readable on every shade of the
    sequential map: the light rim on its dark end, the dark rim on its light end, and the colour, wider than
    both rims together, is what the eye reads (a wide white outline made a dark path read white)."""
    width = stroke(linewidth)
    rim = 0.35 * width
    light, dark = colours.PATH_CASING
    return {"linewidth": width, "path_effects": [patheffects.Stroke(linewidth=width + 4 * rim, foreground=light),
                                                 patheffects.Stroke(linewidth=width + 2 * rim, foreground=dark),
                                                 patheffects.Normal()]}


def _row_label(n: int, names: list[str]) -> str:
    return names[n] if n < len(names) else str(n + 1)


TABLE_LINE = 1.32  # a table line's height, in its font's size
TABLE_GAP = 0.9  # the space between two columns, in the table font's size


def _width(text: str, points: float) -> float:
    """``text``'s advance in points at ``points`` size, as the frame's text draws it (each character's own
    advance, no kerning: a :class:`FrameTextGroup` places its glyphs so)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    key = (points,)
    widths = _ADVANCES.setdefault(key, {})
    total = 0.0
    for ch in text:
        if ch not in widths:
            widths[ch] = text_to_path.get_text_width_height_descent(ch, FontProperties(size=points), ismath=False)[0]
        total += widths[ch]
    return total


_ADVANCES: dict[tuple, dict[str, float]] = {}


def _label_width(text: str, points: float) -> float:
    """A static label's width in points, as matplotlib lays it out."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    return text_to_path.get_text_width_height_descent(text, FontProperties(size=points), ismath=False)[0]


def drop_order(n: int) -> list[int]:
    """The order in which a chain-rule table too wide for its panel leaves out factor columns (of ``n``): the
    middle of the chain first, outwards, so ∂L/∂ŷ (the error) and the last factor (the input) stay longest;
    the product column is never left out. The formula above the table names every factor."""
    middle = (n - 1) / 2
    return sorted(range(n), key=lambda f: (abs(f - middle), -f))


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
        from matplotlib.lines import Line2D
        from matplotlib.transforms import Affine2D

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
        most = min(self.max_rows, len(terms))  # rows the table may write; how many fit is decided at layout
        candidates = terms[:most]
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        masked = any(f.name.startswith("m·") for f in rule.paths[0])  # m: the unit's dropout mask at the step
        ax.set_title(self.title or f"the chain rule for ∂{loss}/∂{rule.target}" +
                     (" (m: the step's dropout mask, 0 = dropped)" if masked else ""))
        detail, big = size("detail"), size("label")
        factors = [f.name for f in rule.paths[0]]
        several = len(rule.paths) > 1

        # Every row's numbers at once, formatted once: a frame only hands strings over.
        values = rule.values(*self._sources(history, rule, slice(None)))  # (rows, paths, samples, factors)
        products = values.prod(axis=-1)
        paths, samples = (np.array(candidates, dtype=int).T if candidates else (np.zeros(0, int), np.zeros(0, int)))
        cells = np.concatenate([values[:, paths, samples, :], products[:, paths, samples, None]], axis=2)
        columns = [[[_number(v) for v in row[:, c]] for row in cells] for c in range(len(factors) + 1)]
        totals = [_number(v) for v in products.sum(axis=(1, 2))]
        checks = [_number(v) for v in recorded]
        rests = [_number(v) for v in recorded - products.sum(axis=(1, 2))]
        # Each column as wide as its header or its widest number over the whole run.
        widths = [max([_label_width(h, detail)] + [_width(t, detail) for row in col for t in row])
                  for h, col in zip(factors + ["product"], columns)]
        widths[-1] = max([widths[-1]] + [_width(t, detail) for t in totals + checks + (rests if penalty else [])])
        labels = [_row_label(s, self.sample_names) + (f" · path {p + 1}" if several else "") for p, s in candidates]
        label_width = max([_label_width(t, detail) for t in labels + ["sample"]])
        ellipsis_width = _label_width("⋯", detail)
        bottom = [(f"sum = ∂{loss}/∂{rule.target}", "sum")]
        if penalty:
            bottom.append((f"+ the penalty's part ({penalty}): recorded − sum", f"+ {penalty}: recorded − sum"))
        bottom.append(("recorded gradient", "recorded"))
        sigma = "Σₙ Σ paths " if several else "Σₙ "
        formula_parts = [f"∂{loss}/∂{rule.target} = {sigma}{factors[0]}"] + [f"· {f}" for f in factors[1:]]

        # Everything is placed in points from the axes' top-left corner (``place``), y downwards.
        place = Affine2D()
        common = dict(transform=place, fontsize=detail, va="baseline")
        formula = ax.text(0, 0, "", ha="left", va="top", fontsize=big, transform=place, linespacing=1.25)
        heads = [ax.text(0, 0, h, ha="right", color=colours.MUTED, **common) for h in factors + ["product"]]
        sample_head = ax.text(0, 0, "sample", ha="left", color=colours.MUTED, **common)
        ellipsis_head = ax.text(0, 0, "⋯", ha="right", color=colours.MUTED, **common)
        row_labels = [ax.text(0, 0, t, ha="left", **common) for t in labels]
        ellipses = [ax.text(0, 0, "⋯", ha="right", color=colours.MUTED, **common) for _ in labels]
        more = ax.text(0, 0, "", ha="left", color=colours.MUTED, **common)
        bottom_texts = [ax.text(0, 0, long, ha="left", color=colours.MUTED if k else colours.FOREGROUND, **common)
                        for k, (long, _) in enumerate(bottom)]
        rules = [Line2D([0, 1], [0, 0], transform=place, color=colours.RULE, linewidth=0.6) for _ in range(2)]
        for line in rules:
            ax.add_line(line)
        # One artist per column for its numbers (blended into the frame at once), each placed by its own offset.
        offsets = [Affine2D() for _ in columns]
        groups = [FrameTextGroup([(0.0, k * TABLE_LINE * detail) for k in range(most)], transform=offsets[c],
                                 ha="right", va="baseline", fontsize=detail) for c in range(len(columns))]
        values_at = [FrameText(0, 0, "", transform=place, ha="right", va="baseline", fontsize=detail,
                               color=PREDICTION_COLOR if k == 0 else colours.MUTED) for k in range(len(bottom))]
        for artist in [*groups, *values_at]:
            ax.add_artist(artist)
        for text in ax.texts:
            text.set_in_layout(False)
        state = {"rows": most}

        def fit(_renderer) -> None:
            """Which rows and columns fit the axes as laid out now, and where everything goes."""
            dpi, box = ax.figure.dpi, ax.bbox
            W, H = box.width * 72 / dpi, box.height * 72 / dpi
            place.clear().scale(dpi / 72, -dpi / 72).translate(box.x0, box.y1)
            gap, line = TABLE_GAP * detail, TABLE_LINE * detail
            # Columns: factors left out in drop_order until the table fits the width.
            shown = list(range(len(factors)))

            def width(shown):
                dropped = len(shown) < len(factors)
                return (label_width + sum(widths[f] for f in shown) + widths[-1] + dropped * ellipsis_width
                        + gap * (len(shown) + 1 + dropped))
            for f in drop_order(len(factors)):
                if width(shown) <= W:
                    break
                shown.remove(f)
            spare = max(0.0, W - width(shown)) / (len(shown) + 1 + (len(shown) < len(factors)))
            gap += min(spare, 3 * detail)  # spread the table out, up to three letters more between columns
            # Lines: the formula wrapped to the width, then the header, the rows, the sum and the checks.
            lines: list[str] = []
            for part in formula_parts:
                if lines and _label_width(lines[-1] + " " + part, big) <= W:
                    lines[-1] += " " + part
                else:
                    lines.append(part)

            def plan(n_bottom: int) -> tuple[int, int]:
                """(formula lines, sample rows) with ``n_bottom`` lines under the rows."""
                rows_height = line * (1.15 + 0.2 + n_bottom)  # header, the gaps at the rules, the bottom lines

                def rows_that_fit(formula_lines):
                    return int((H - formula_lines * 1.25 * 1.2 * big - (0.4 * line if formula_lines else 0)
                                - rows_height) // line)
                shown_lines = len(lines)
                rows = rows_that_fit(shown_lines)
                if rows < min(2, len(terms)) + (len(terms) > 1):  # too little room: the title says what it is
                    shown_lines, rows = 0, rows_that_fit(0)
                rows = max(0, min(rows, most))
                if rows < len(terms):
                    rows = max(0, min(rows - 1, most))  # the last line says how many more
                return shown_lines, rows
            shown_lines, rows = plan(len(bottom))
            kept = list(range(len(bottom)))
            if penalty and rows < 1 and plan(len(bottom) - 1)[1] > rows:
                # no sample row beside the penalty's line: it goes, and the recorded line says what it holds
                shown_lines, rows = plan(len(bottom) - 1)
                kept = [0, len(bottom) - 1]
            lines = lines[:shown_lines]
            state["rows"] = rows
            formula.set_text("\n".join(lines))
            formula.set_visible(bool(lines))
            y = len(lines) * 1.25 * 1.2 * big + (0.4 * line if lines else 0)  # the top of the header's line
            base = 1.07 * detail  # a line's baseline under its top
            # Column right edges, left to right (the left-out factors' place: one column of ⋯).
            rights, x = {}, label_width
            dropped = [f for f in range(len(factors)) if f not in shown]
            for f in range(len(factors)):
                if f in shown:
                    x += gap + widths[f]
                    rights[f] = x
                elif f == dropped[0]:
                    x += gap + ellipsis_width
                    rights["⋯"] = x
            rights["product"] = x + gap + widths[-1]
            sample_head.set_position((0, y + base))
            for f, head in enumerate(heads[:-1]):
                head.set_visible(f in shown)
                head.set_position((rights.get(f, 0), y + base))
            heads[-1].set_position((rights["product"], y + base))
            ellipsis_head.set_visible(bool(dropped))
            ellipsis_head.set_position((rights.get("⋯", 0), y + base))
            rules[0].set_data([0, rights["product"]], [y + 1.15 * line] * 2)
            top = y + 1.15 * line + 0.05 * line  # the first row's top
            for k, (label, dots) in enumerate(zip(row_labels, ellipses)):
                label.set_visible(k < rows)
                dots.set_visible(k < rows and bool(dropped))
                label.set_position((0, top + k * line + base))
                dots.set_position((rights.get("⋯", 0), top + k * line + base))
            for c, offset in enumerate(offsets):
                right = rights["product"] if c == len(factors) else rights.get(c)
                groups[c].set_visible(right is not None)
                offset.clear().translate(right or 0.0, top + base).scale(dpi / 72, -dpi / 72).translate(box.x0, box.y1)
            y = top + rows * line
            more.set_visible(rows < len(terms))
            more.set_text(f"… {len(terms) - rows} more")
            more.set_position((0, y + base))
            y += line * (rows < len(terms)) + 0.15 * line
            rules[1].set_data([0, rights["product"]], [y] * 2)
            for k, (text, value, (long, short)) in enumerate(zip(bottom_texts, values_at, bottom)):
                text.set_visible(k in kept)
                value.set_visible(k in kept)
                if k not in kept:
                    continue
                if penalty and k == len(bottom) - 1 and len(kept) < len(bottom):
                    long, short = f"recorded gradient (with the penalty's part, {penalty})", "recorded (+ penalty)"
                fits = _label_width(long, detail) + gap + widths[-1] <= rights["product"]
                text.set_text(long if fits else short)
                text.set_position((0, y + base))
                value.set_position(rights["product"], y + base)
                y += line

        ax.add_artist(AtLayout(fit))

        def update(i):
            rows = state["rows"]
            for group, column in zip(groups, columns):
                texts = column[i]
                group.set_texts(texts if rows == most else texts[:rows] + [""] * (most - rows))
            values_at[0].set_text(totals[i])
            if penalty:
                values_at[1].set_text(rests[i])
            values_at[-1].set_text(checks[i])
            return [*groups, *values_at]
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
        # a row at least a line and a third of text high (in points, judged before the layout): a short panel
        # at the lecture preset's text sizes gets rows that fill it, and the note under them only if it fits
        height = max(0.8 * axes_points(ax)[1], 1.0)
        step = max(min(0.1, 0.97 / (len(labels) + 4)), 1.35 * detail / height)
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
        note = [f"x̂ = (z − μ)/σ,  y = γ·x̂ + β{more}", "batch: the step's gradient;", "running: the losses, the maps"]
        room = int((ys[-1] - 1.5 * step) * height / (1.3 * 1.2 * detail))  # lines of the note that fit under the rows
        if room > 0:
            ax.text(0.0, ys[-1] - 1.5 * step, "\n".join(note[:room]), ha="left", va="top", fontsize=detail,
                    color=colours.MUTED, linespacing=1.3)
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
        line, = ax.plot([], [], color=PREDICTION_COLOR, animated=True, **path_style())
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
    label = ax.annotate("start", (path[0, 0], path[0, 1]), xytext=tuple(9 * away), textcoords="offset points",
                        ha="left" if away[0] >= 0 else "right", va="bottom" if away[1] >= 0 else "top",
                        fontsize=size("detail"), color="black",
                        path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")])
    label.set_in_layout(False)
    # Once the axes are laid out: the first direction, nearest ``away`` first, where the word stays inside the
    # axes and off the path.
    angles = np.arctan2(away[1], away[0]) + np.pi / 4 * np.array([0, 1, -1, 2, -2, 3, -3, 4])
    directions = np.column_stack([np.cos(angles), np.sin(angles)])
    finite = path[np.isfinite(path).all(axis=1)].reshape(-1, 2)

    def aim(d) -> None:
        label.xyann = tuple(9 * d)
        label.set_ha("left" if d[0] > 0.3 else "right" if d[0] < -0.3 else "center")
        label.set_va("bottom" if d[1] > 0.3 else "top" if d[1] < -0.3 else "center")

    def fit(_renderer) -> None:
        xy = points_along(ax.transData.transform(finite))
        area = ax.bbox
        for d in directions:
            aim(d)
            box = label.get_window_extent()
            if box_inside(box, area) and not any_inside(xy, box):
                return
        aim(directions[0])
    ax.add_artist(AtLayout(fit))


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
            color = colours.themed(color)  # run styles are chosen before the theme is put in force
            line, = ax.plot([], [], color=color, linestyle=dash, animated=True, **path_style())
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
