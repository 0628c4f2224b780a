"""The slow-motion figure of ``--explain STEP`` as panels: a large network diagram with every sample's values
and a column of notes (the phases, a caption, the loss or the update). Their ``update`` takes an
:class:`~visualizer.draw.explain.ExplainFrame` key: the row it explains and the phase it shows.

Both read what they show from the history: the recorded parameters, and the per-sample arrays that
:func:`~visualizer.draw.explain.explain_analysis` keeps in ``history.static``. The renderer draws
:func:`explain_layout` for explain keys, on a figure of its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Sequence

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba_array
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from ...record.backprop import layer_weight, node_names
from ...record.names import param_name
from ..explain import ExplainFrame, Phase, explain_rows, row_phases
from .. import colours
from ..text import FrameText, box_overlap, size, wrap_lines
from .base import PREDICTION_COLOR, AtLayout, Layout, Panel
from .diagram import (MAX_SHOWN_UNITS, Columns, columns, edge_name_spots, edge_names, edge_segments,
                      magnitude_scale, marker_size, more_marks, signed_norm, units_that_fit)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ...record.history import History
    from ...record.probes import LayerInfo
    from .base import Update

MAX_LISTED_SAMPLES = 4  # beside a neuron: the numbers up to this many samples, a small curve up to MAX_CURVE
MAX_CURVE_SAMPLES = 64
MAX_LABELLED_NEURONS = 24
CURVE_POINTS = (60, 18)  # width and height of a per-sample curve under a neuron, in points
REACHED = colours.REACHED  # a neuron the forward pass has been through
LOSS_FORMULAS = {"ssr": "Σ (ŷ − y)²", "half_ssr": "½ Σ (ŷ − y)²", "mse": "mean of (ŷ − y)²",
                 "bce": "mean of −[y log σ(ŷ) + (1 − y) log(1 − σ(ŷ))]", "softmax_ce": "mean of −log softmax(ŷ)_y",
                 "hinge": "mean of max(0, 1 − y·ŷ)", "multiclass_hinge": "mean of Σ_j max(0, ŷ_j − ŷ_y + 1)"}
PHASE_KINDS = ("forward", "loss", "backward", "update")


def short(v: float) -> str:
    """A value beside a neuron: three significant digits, or one with an exponent."""
    if v == 0:
        return "0"
    if not np.isfinite(v):
        return f"{v:g}"
    return f"{v:.3g}" if 1e-2 <= abs(v) < 1e3 else f"{v:.1e}"


@dataclass(frozen=True)
class ExplainedStep:
    """What the slow-motion frames of one recorded step show. Lists run over the diagram's columns (``a``:
    the inputs, then each layer's activations, samples by units) or over the layers (the rest); ``after`` and
    ``biases``' second values are the next recorded row's, or this row's at the last one (``next`` None);
    ``plan`` the phases its frames go through."""

    step: int
    row: int
    next: int | None
    next_step: int | None
    a: list[np.ndarray]
    delta: list[np.ndarray]
    grads: list[np.ndarray]
    weights: list[np.ndarray]
    after: list[np.ndarray]
    biases: list[tuple[np.ndarray, np.ndarray] | None]
    y: np.ndarray
    loss: float
    plan: list[Phase]
    # Per layer: where the dropout after it dropped a unit at this step (samples × units, bool) or None, and
    # its batch norm's training-mode numbers (mean, var, gamma, beta, eps) or None.
    dropped: list[np.ndarray | None] = field(default_factory=list)
    norms: list[dict | None] = field(default_factory=list)

    def phase(self, key: ExplainFrame) -> Phase:
        """The phase explain frame ``key`` shows."""
        return self.plan[key.phase]


def explained_steps(history: History, steps: Sequence[int]) -> dict[int, ExplainedStep]:
    """Each explained step's :class:`ExplainedStep`, by history row, from ``history.static`` (ValueError
    naming a step whose arrays are not there)."""
    out = {}
    for step, row in zip(steps, explain_rows(history, steps)):
        out[row] = _explained_step(history, row, int(step))
    return out


def _explained_step(history: History, row: int, step: int) -> ExplainedStep:
    static, layers, params = history.static, history.info.layers, history.params
    key = f"explain/{step}"
    if f"{key}/loss" not in static:
        raise ValueError(f"no slow-motion data for step {step} (static {key}/…): compute it with "
                         "explain_analysis (render does)")
    nxt = row + 1 if row + 1 < len(history) else None
    weights = [layer_weight(lay, {lay.weight: params[lay.weight][row]}) for lay in layers]
    after = [layer_weight(lay, {lay.weight: params[lay.weight][nxt]}) for lay in layers] if nxt else weights
    a = [static["data/x"]] + [static[f"{key}/a/{lay.name}"] for lay in layers]
    delta = [static[f"{key}/delta/{lay.name}"] for lay in layers]
    grads = [d_in.T @ d for d_in, d in zip(a[:-1], delta)]  # ∂L/∂W = Σ_n input · δ
    biases = [(params[lay.bias][row], params[lay.bias][nxt] if nxt else params[lay.bias][row]) if lay.bias else None
              for lay in layers]
    dropped = [static.get(f"{key}/dropped/{lay.name}") for lay in layers]
    norms = [{stat: static[f"{key}/norm/{lay.name}/{stat}"] for stat in ("mean", "var", "gamma", "beta", "eps")}
             if f"{key}/norm/{lay.name}/mean" in static else None for lay in layers]
    return ExplainedStep(step=step, row=row, next=nxt, next_step=int(history.steps[nxt]) if nxt else None, a=a,
                         delta=delta, grads=grads, weights=weights, after=after, biases=biases, y=static["data/y"],
                         loss=float(static[f"{key}/loss"]),
                         plan=row_phases(history, row),
                         dropped=dropped, norms=norms)


@dataclass
class ExplainDiagramPanel(Panel):
    """The network of an explained step, large: edges by weight (or, in the backward pass, by ∂L/∂w),
    neurons lit as each pass reaches them, and beside each neuron its value for every sample (numbers up to
    four samples, a small curve up to 64, else the mean) and the δ's sum."""

    steps: Sequence[int] = ()

    def draw(self, ax: Axes, history: History) -> Update:
        layers = list(history.info.layers)
        data = explained_steps(history, self.steps)
        # A wide column as the diagram draws it: the units that changed most (the same ones, under their own
        # names), a "⋮ N more" mark where the rest would be.
        # A neuron, its name over it and its values under it (a small curve and a line of text) each.
        largest = np.sqrt(1.6 * marker_size([MAX_SHOWN_UNITS + 1])) / 2  # a summary's neuron's radius
        fit = units_that_fit(ax, 2 * largest + CURVE_POINTS[1] + 12 + 1.3 * size("detail") + 1.3 * size("label") + 6,
                             share=0.85)
        # a column taller than the panel holds is summarized too (its mark takes the room left spare: one more
        # unit fits whole)
        view = columns(history, fit, whole=fit + 1)
        pos, sizes = view.pos, view.slots
        edges = LineCollection(edge_segments(pos), animated=True, capstyle="round", zorder=1)
        ax.add_collection(edges)
        centres = np.concatenate([np.array(p) for p in pos])
        neurons = ax.scatter(centres[:, 0], centres[:, 1], s=1.6 * marker_size(sizes), facecolor="white",
                             edgecolor=colours.FOREGROUND, linewidths=1.4, zorder=2, animated=True)
        info = history.info
        inputs, units = node_names(layers, None, info.input_names)
        names = [inputs] + [[post for _, post in units[lay.name]] for lay in layers]
        if info.output_names and len(info.output_names) == view.sizes[-1]:
            names[-1] = list(info.output_names)
        names = [[column[i] for i in shown] for column, shown in zip(names, view.shown)]
        radius = np.sqrt(1.6 * marker_size(sizes)) / 2
        # Drawn every frame, after the edges, on a white box: a name never disappears under an edge.
        labels = []
        for column, column_names in zip(pos, names):
            for (x, y), name in zip(column, column_names):
                text = FrameText(x, y, name, transform=ax.transData, ha="center", va="bottom", fontsize=size("label"),
                                 offset=(0, radius + 1), background="background", background_alpha=0.85, pad=0.1)
                ax.add_artist(text)
                labels.append(text)
        weight_names = edge_names(info, layers, view.shown)  # on the edges where they fit, as in the diagram
        reduced = {float(x) for x, _, _ in view.gaps}  # the summaries' columns
        by_summary = {e for e, (start, end) in enumerate(edge_segments(pos)) if {start[0], end[0]} & reduced}
        edge_labels = []
        for e, (x, y) in edge_name_spots(pos).items():
            if e in by_summary:  # unnamed: a name there would sit on the values under the summary's neurons
                continue
            text = FrameText(x, y, weight_names[e], transform=ax.transData, ha="center", va="center",
                             fontsize=size("detail"), background="background", background_alpha=0.9, pad=0.12)
            ax.add_artist(text)
            edge_labels.append(text)
        shown_edges = list(edge_labels)  # those clear of the values under the neurons (decided at the layout)
        ax.set_xlim(-0.6, len(sizes) - 0.35)
        half = (max(sizes) - 1) / 2
        ax.set_ylim(-half - (1.2 if view.reduced else 0.75), half + 0.55)  # a summary's note: two lines
        ax.set_axis_off()
        labels += more_marks(ax, view, "label")  # shorter where the columns stand close (once the limits are set)
        heading = FrameText(0.5, 1.0, "", transform=ax.transAxes, ha="center", va="top", fontsize=size("heading"))
        ax.add_artist(heading)
        n_samples = len(history.static["data/x"])
        show_values = sum(len(column) for column in pos) <= MAX_LABELLED_NEURONS
        mode = "numbers" if n_samples <= MAX_LISTED_SAMPLES else "curve" if n_samples <= MAX_CURVE_SAMPLES else "mean"
        values = _NeuronValues(ax, pos, radius, n_samples, mode if show_values else "")
        # What the values under the neurons are: once the layout is final, written shorter where they do not fit.
        note = ax.text(0.5, 0.0, "", transform=ax.transAxes, ha="center", va="bottom", fontsize=size("detail"),
                       color=colours.MUTED)

        def say_what() -> None:
            note.set_text("\n".join([*([VALUES_NOTE[values.mode]] if values.mode else []),
                                     *([view.note()] if view.reduced else [])]))
        say_what()
        dropped_marks = _DroppedMarks(ax, pos, 1.6 * marker_size(sizes)) if any(
            x is not None for d in data.values() for x in d.dropped) else None
        cmap = colours.signed_cmap()
        n_layers = len(layers)
        # What stays the same through a step's frames, once per step.
        scales = {}
        for row, d in data.items():
            sums = [d.delta[l].sum(axis=0) for l in range(n_layers)]
            w_scale = max(float(np.abs(w).max()) for w in d.weights + d.after) or 1.0
            # scales from every unit; then the shown units' part of the step
            scales[row] = (w_scale, magnitude_scale(*d.grads)[0], [s[view.shown[l + 1]] for l, s in enumerate(sums)],
                           signed_norm(*sums))
            data[row] = _shown_part(d, view)

        def fit_to_layout(renderer) -> None:  # at each full draw: values that fit, edge names clear of them
            busy = values.fit([(step, phase, n_layers) for step in data.values() for phase in step.plan])
            say_what()
            shown_edges[:] = [t for t in edge_labels if not len(busy) or
                              not (box_overlap(np.array(t.get_window_extent(renderer).extents), busy) > 0.5).any()]
            for text in edge_labels:
                text.set_visible(text in shown_edges)
        ax.add_artist(AtLayout(fit_to_layout))

        def update(key: ExplainFrame) -> list:
            d = data[int(key)]
            phase = d.phase(key)
            title = _heading(layers, phase, history.info.other_layers)
            w_scale, grad_width, sums, norm = scales[int(key)]
            # Edges: one block per layer, in edge_segments' order.
            if phase.kind == "update":
                weights = [(1 - key.t) * w + key.t * w2 for w, w2 in zip(d.weights, d.after)]
            else:
                weights = d.weights
            rgba, widths = [], []
            for l in range(1, n_layers + 1):
                w, g = weights[l - 1].ravel(), d.grads[l - 1].ravel()
                if phase.kind == "backward" and l >= phase.layer:
                    colour = colours.sign_colors(g)
                    width = 0.4 + 6.0 * grad_width(g)
                else:
                    colour = colours.sign_colors(w)
                    width = 0.4 + 6.0 * np.abs(w) / w_scale
                alpha = 1.0
                if phase.kind == "forward" and l > phase.layer:
                    alpha = 0.12
                elif phase.kind == "backward" and l < phase.layer:
                    alpha = 0.25
                colour[:, 3] = alpha
                rgba.append(colour)
                widths.append(width)
            edges.set_color(np.concatenate(rgba))
            edges.set_linewidth(np.concatenate(widths))
            fills = []
            for c, column in enumerate(pos):
                for u in range(len(column)):
                    if phase.kind == "forward":
                        colour = colours.REACHING if c == phase.layer else REACHED if c < phase.layer else "white"
                    elif phase.kind == "loss":
                        colour = colours.LOSS_NODE if c == n_layers else REACHED
                    elif phase.kind == "backward" and c >= phase.layer and c > 0:
                        colour = cmap(norm(sums[c - 1][u]))
                    elif phase.kind == "update":
                        colour = "white"
                    else:
                        colour = REACHED
                    fills.append(colour)
            fills = to_rgba_array(fills)
            marks = []
            if dropped_marks is not None:
                marks = dropped_marks.update(d, phase, fills)
            neurons.set_facecolor(fills)
            heading.set_text(title)
            return [edges, neurons, *marks, *labels, *shown_edges, *values.update(d, phase, n_layers), heading]
        return update


def _shown_part(d: ExplainedStep, view: Columns) -> ExplainedStep:
    """The part of an explained step a diagram of ``view``'s shown units draws (the step itself when every
    unit is shown)."""
    if not view.reduced:
        return d
    shown = view.shown
    pick = [lambda m, k=k: m[shown[k]][:, shown[k + 1]] for k in range(len(shown) - 1)]  # a block's weights
    y = d.y[:, shown[-1]] if d.y.ndim == 2 and d.y.shape[1] == view.sizes[-1] else d.y
    return replace(d, a=[a[:, idx] for a, idx in zip(d.a, shown)],
                   delta=[x[:, idx] for x, idx in zip(d.delta, shown[1:])],
                   grads=[f(g) for f, g in zip(pick, d.grads)], weights=[f(w) for f, w in zip(pick, d.weights)],
                   after=[f(w) for f, w in zip(pick, d.after)], y=y,
                   dropped=[m if m is None else m[:, idx] for m, idx in zip(d.dropped, shown[1:])])


class _DroppedMarks:
    """A cross over each unit that dropout dropped at the explained step, once the forward pass has reached
    its layer: as dark as the share of samples that dropped it (each sample drops its own units), and a unit
    dropped for every sample is filled grey, as its edges and δ carry nothing."""

    def __init__(self, ax: Axes, pos: list[list[tuple[float, float]]], area: float) -> None:
        self.columns = [len(column) for column in pos]
        centres = np.concatenate([np.array(column) for column in pos[1:]])
        self.crosses = ax.scatter(centres[:, 0], centres[:, 1], s=0.55 * area, marker="x", linewidths=1.6,
                                  color=colours.MUTED, zorder=3, animated=True)
        self.grey = to_rgba_array(colours.DROPPED)
        self.cache: dict = {}

    def update(self, d: ExplainedStep, phase: Phase, fills: np.ndarray) -> list:
        """Set the crosses' darkness for ``phase``, and grey the fills (rows of RGBA, every column's units)
        of units dropped for every sample."""
        reach = phase.layer if phase.kind == "forward" else len(self.columns)  # the last column reached
        if (d.step, reach) not in self.cache:  # a step's phases repeat over many frames: worked out once
            rgba = np.tile(to_rgba_array(colours.MUTED), (sum(self.columns[1:]), 1))
            rgba[:, 3] = 0.0
            grey, start = [], 0
            for c, n in enumerate(self.columns[1:], start=1):
                mask = d.dropped[c - 1] if c - 1 < len(d.dropped) else None
                if mask is not None and c <= reach:
                    share = np.asarray(mask, dtype=bool).mean(axis=0)
                    rgba[start:start + n, 3] = np.where(share > 0, 0.25 + 0.75 * share, 0.0)
                    grey.append(self.columns[0] + start + np.flatnonzero(share == 1))
                start += n
            self.cache[d.step, reach] = rgba, np.concatenate(grey) if grey else np.zeros(0, dtype=int)
        rgba, grey = self.cache[d.step, reach]
        fills[grey] = self.grey
        self.crosses.set_color(rgba)
        return [self.crosses]


VALUES_NOTE = {"numbers": "numbers under a neuron: its value for each sample, in the data's order",
               "curve": "curve under a neuron: its value for each sample, in the data's order",
               "mean": "under a neuron: its mean over the samples",
               "bare": "under a neuron: its mean over the samples; in the backward pass Σδ"}
# What the values under the neurons become where they do not fit: each mode, the next ones to try (the
# bare numbers of the mean and Σδ, then none: the fills still say it).
FALLBACK = {"numbers": ("mean", "bare", ""), "curve": ("mean", "bare", ""), "mean": ("bare", "")}


class _NeuronValues:
    """The texts (and, for 5 to 64 samples, small curves) under each neuron of the explain diagram; ``mode``
    numbers, curve or mean, or empty to show none."""

    def __init__(self, ax: Axes, pos: list[list[tuple[float, float]]], radius: float, n_samples: int,
                 mode: str) -> None:
        self.ax, self.pos, self.radius, self.n_samples, self.mode = ax, pos, radius, n_samples, mode
        self.first = mode  # what :meth:`fit` starts from
        # Beside each neuron: a line of values (or a small curve) and below it a line for a total.
        self.value_texts, self.total_texts = [], []
        # (the total's line under the values' line and its box: a line and a little at the text's size)
        below = CURVE_POINTS[1] + 9 if mode == "curve" else 4 + 1.6 * size("detail")
        for column in pos:
            row_v, row_t = [], []
            for x, y in column:
                v = FrameText(x, y, "", transform=ax.transData, ha="center", va="top", fontsize=size("detail"),
                              offset=(0, -radius - 2), background="background", background_alpha=0.85, pad=0.15)
                t = FrameText(x, y, "", transform=ax.transData, ha="center", va="top", fontsize=size("detail"),
                              offset=(0, -radius - below), background="background", background_alpha=0.85, pad=0.15)
                ax.add_artist(v)
                ax.add_artist(t)
                row_v.append(v)
                row_t.append(t)
            self.value_texts.append(row_v)
            self.total_texts.append(row_t)
        self.curves: list[list] = []

    def _place_curves(self) -> None:
        """Make the small curves, sized in points and so placed from the axes' pixel scale, which is final
        only once the renderer has laid the figure out: hence here, at the first update, not in ``draw``."""
        ax = self.ax
        px = ax.transData.transform([(0, 0), (1, 1)])
        per_x, per_y = px[1] - px[0]
        dpi_scale = ax.figure.dpi / 72  # sizes in points, as the texts' offsets
        width, height = CURVE_POINTS[0] * dpi_scale / per_x, CURVE_POINTS[1] * dpi_scale / per_y
        gap = (self.radius + 6) * dpi_scale / per_y  # clear of the circle and its outline
        for column in self.pos:
            row = []
            for x, y in column:
                xs = np.linspace(x - width / 2, x + width / 2, self.n_samples)
                base = y - gap - height / 2
                line = Line2D(xs, np.full_like(xs, base), color=colours.INK, linewidth=1.1, marker="o",
                              markersize=1.6, animated=True, zorder=4)
                pad_x, pad_y = 3 * dpi_scale / per_x, 2 * dpi_scale / per_y
                back = Rectangle((x - width / 2 - pad_x, base - height / 2 - pad_y), width + 2 * pad_x,
                                 height + 2 * pad_y, facecolor=colours.BACKGROUND, edgecolor="#cccccc", linewidth=0.5,
                                 alpha=0.9, animated=True, zorder=3)
                target = Line2D(xs, np.full_like(xs, base), color=PREDICTION_COLOR, linestyle="none", marker="o",
                                markersize=2.2, animated=True, zorder=5)
                ax.add_patch(back)
                ax.add_line(line)
                ax.add_line(target)
                row.append((line, back, target, base, height / 2))
            self.curves.append(row)

    def fit(self, frames: list[tuple]) -> np.ndarray:
        """Write the values shorter where, at their widest over ``frames`` (``update``'s arguments), the texts
        of one neuron would run into another's (the numbers or the curves become the mean, then the bare mean
        or Σδ, then nothing: the fills still say it); call once the layout is final (again from the mode it
        started in). Returns the texts' boxes at their widest, (n, 4) extents."""
        for mode in (self.first, *FALLBACK.get(self.first, ())):
            self.mode = mode
            extents: dict[int, np.ndarray] = {}
            for args in frames:
                for text in self.update(*args):
                    if isinstance(text, FrameText) and text.get_text():
                        e = np.array(text.get_window_extent().extents)
                        was = extents.get(id(text))
                        extents[id(text)] = e if was is None else np.r_[np.minimum(was[:2], e[:2]),
                                                                         np.maximum(was[2:], e[2:])]
            boxes = np.array(list(extents.values())).reshape(-1, 4)
            hit = box_overlap(boxes[:, None], boxes[None, :]) > 0.5
            np.fill_diagonal(hit, False)
            if not hit.any():  # (nothing, the last fallback, always fits)
                return boxes
        return np.zeros((0, 4))

    def update(self, d: ExplainedStep, phase: Phase, n_layers: int) -> list:
        """Per-sample values (numbers, a curve or the mean) and a total beside the neurons, as the phase asks."""
        if self.mode == "curve" and not self.curves:
            self._place_curves()
        out = []
        for c, column in enumerate(self.pos):
            values, grey, total, targets = None, False, None, None
            if phase.kind == "forward" and c <= phase.layer:
                values = d.a[c]
            elif phase.kind == "loss":
                values = d.a[c]
                if c == n_layers:
                    targets = d.y
            elif phase.kind == "backward":
                if c >= phase.layer and c > 0:
                    values = d.delta[c - 1]
                    total = [f"Σδ = {short(float(v))}" for v in d.delta[c - 1].sum(axis=0)]
                else:
                    values, grey = d.a[c], True
            for u in range(len(column)):
                v_text, t_text = self.value_texts[c][u], self.total_texts[c][u]
                v_text.set_text("")
                t_text.set_text("")
                out += [v_text, t_text]
                if values is None or not self.mode:
                    continue
                mine = values[:, u]
                colour = "#888888" if grey else colours.FOREGROUND
                target = targets[:, u] if targets is not None and targets.shape[1] == values.shape[1] else None
                if self.mode == "curve":
                    line, back, dots, base, half = self.curves[c][u]
                    both = [mine] if target is None else [mine, target]
                    scale = max(float(np.abs(v).max()) for v in both) or 1.0
                    line.set_ydata(base + half * mine / scale)
                    line.set_color(colour)
                    out += [back, line]
                    if target is not None:
                        dots.set_ydata(base + half * target / scale)
                        out.append(dots)
                    t_text.set_text(total[u] if total else f"{short(float(mine.min()))} … {short(float(mine.max()))}")
                    t_text.set_color(colour)
                    if target is not None:
                        t_text.set_text("line: ŷ, dots: y")
                        t_text.set_color(PREDICTION_COLOR)
                    continue
                if self.mode == "numbers":
                    v_text.set_text("  ".join(short(float(v)) for v in mine))
                    if target is not None:
                        t_text.set_text("y  " + "  ".join(short(float(v)) for v in target))
                        t_text.set_color(PREDICTION_COLOR)
                elif self.mode == "bare":  # the mean, or the δ's sum, alone
                    v_text.set_text(short(float(mine.sum() if total else mine.mean())))
                else:  # the mean; of the δ's their sum, which says more, in its place
                    v_text.set_text(total[u] if total else f"mean {short(float(mine.mean()))}")
                v_text.set_color(colour)
                if total and self.mode == "numbers":
                    t_text.set_text(total[u])
                    t_text.set_color(colours.FOREGROUND)
        return out


def _norm_of(other_layers: Sequence[dict], layer: str) -> dict:
    """The batch norm after dense layer ``layer`` (as the run information lists it), or {}."""
    return next((d for d in other_layers if d.get("kind") == "batchnorm" and d.get("after") == layer), {})


def _dropout_of(other_layers: Sequence[dict], layer: str) -> dict:
    """The dropout after dense layer ``layer`` (as the run information lists it), or {}."""
    return next((d for d in other_layers if d.get("kind") == "dropout" and d.get("after") == layer), {})


def _heading(layers: list[LayerInfo], phase: Phase, other_layers: Sequence[dict] = ()) -> str:
    if phase.stage == "norm":
        lay = layers[phase.norm_after - 1]
        name = _norm_of(other_layers, lay.name).get("name", "batch norm")
        if phase.kind == "forward":
            return f"forward pass: batch norm {name} (after {lay.name})"
        return f"backward pass: through batch norm {name}"
    if phase.kind == "forward":
        if phase.layer == 0:
            return "forward pass: the inputs"
        lay = layers[phase.layer - 1]
        return f"forward pass: layer {phase.layer} ({lay.name})"
    if phase.kind == "loss":
        return "the loss: how far the outputs are from the targets"
    if phase.kind == "backward":
        lay = layers[phase.layer - 1]
        return f"backward pass: layer {phase.layer} ({lay.name})"
    return "the update: every weight steps down its gradient"


@dataclass
class ExplainNotesPanel(Panel):
    """The notes beside the explain diagram: which step, the four phases with the current one lit, a caption
    for the phase (the formula, the loss's value, the largest moves of the update) and the edges' legend."""

    steps: Sequence[int] = ()

    def draw(self, ax: Axes, history: History) -> Update:
        data = explained_steps(history, self.steps)
        layers = list(history.info.layers)
        n_samples = len(history.static["data/x"])
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        labels = ["1  forward pass", "2  loss", "3  backward pass", "4  update"]
        phase_texts = [ax.text(0.02, 0.93 - 0.075 * k, label, ha="left", va="top", fontsize=size("body"), animated=True)
                       for k, label in enumerate(labels)]
        body = ax.text(0.02, 0.6, "", ha="left", va="top", fontsize=size("body"), animated=True, linespacing=1.5,
                       wrap=False)
        title = ax.text(0.02, 1.0, "", ha="left", va="top", fontsize=size("heading"), animated=True)
        # One signed map for weights, ∂L/∂w and δ: the pass being shown says which.
        handles = [Line2D([], [], color=colours.POSITIVE, lw=2, label="> 0"),
                   Line2D([], [], color=colours.NEGATIVE, lw=2, label="< 0")]
        ax.legend(handles=handles, loc="lower left", ncol=2, frameon=False, fontsize=size("detail"), handlelength=1.4,
                  columnspacing=1.0, title=f"weights; ∂{_loss_name(history)}/∂w and δ in the backward pass",
                  title_fontsize=size("detail"),
                  alignment="left")

        captions: dict = {}  # (row, phase) → its caption: a step's phases repeat over many frames

        def fits(line: str) -> bool:  # within the panel, from the body's left edge (the layout is final here)
            canvas = ax.figure.canvas  # Agg's in a render, which measures as it paints
            renderer = canvas.get_renderer() if hasattr(canvas, "get_renderer") else ax.figure._get_renderer()
            width = renderer.get_text_width_height_descent(line, body.get_fontproperties(), ismath=False)[0]
            return width <= ax.bbox.width * (0.98 - 0.02)

        room: list[int] = []

        def lines_above_legend() -> int:  # the body's lines between its top and the legend's (layout final)
            if room:
                return room[0]
            top = ax.transAxes.transform((0, 0.6))[1]
            bottom = ax.get_legend().get_window_extent().y1
            heights = []
            for probe in ("Ag", "Ag\nAg"):  # a line and the step to the next, as matplotlib lays them out
                body.set_text(probe)
                heights.append(body.get_window_extent().height)
            body.set_text("")
            room.append(max(2, int((top - bottom - heights[0]) // (heights[1] - heights[0])) + 1))
            return room[0]

        def update(key: ExplainFrame) -> list:
            d = data[int(key)]
            phase = d.phase(key)
            if (int(key), phase) not in captions:  # lines wider than the panel (a long formula) wrap in it, and
                lines = wrap_lines(_caption(history, layers, n_samples, d, phase), fits).split("\n")
                room = lines_above_legend()  # lines past the legend's top give way to an ellipsis
                captions[int(key), phase] = "\n".join(lines if len(lines) <= room else lines[:room - 1] + ["…"])
            for k, text in enumerate(phase_texts):
                current = PHASE_KINDS[k] == phase.kind
                text.set_color(PREDICTION_COLOR if current else
                               ("#999999" if k == 3 and d.next is None else colours.FOREGROUND))
                text.set_fontweight("bold" if current else "normal")
            title.set_text(f"step {d.step:,} in slow motion")
            body.set_text(captions[int(key), phase])
            return [*phase_texts, title, body]
        return update


def _loss_name(history: History) -> str:
    """The loss as the notes write it in ∂L/∂w: its label when that is one word (SSR), else L."""
    label = history.info.loss_label
    return label if label and label.isalnum() else "L"


def _caption(history: History, layers: list[LayerInfo], n: int, d: ExplainedStep, phase: Phase) -> str:
    info = history.info
    loss = _loss_name(history)
    if phase.stage == "norm":
        return _norm_caption(info, layers[phase.norm_after - 1], d.norms[phase.norm_after - 1], phase, loss, n)
    if phase.kind == "forward":
        if phase.layer == 0:
            return f"All {n} training samples go in at once:\nthe whole set is one batch for the\n" \
                   "loss and its gradient."
        lay = layers[phase.layer - 1]
        act = lay.activation
        z = "z = Σ w · input" + (" + b" if lay.bias else "")
        a = "a = z" if act == "identity" else f"a = {act}(z)"
        return f"For every sample, each neuron of\n{lay.name} computes\n    {z}\n    {a}\nfrom the layer before." + \
            _dropout_caption(info, lay, d.dropped[phase.layer - 1] if d.dropped else None, "forward")
    if phase.kind == "loss":
        formula = LOSS_FORMULAS.get(info.loss, info.loss_label or "the loss")
        return f"{info.loss_label or 'loss'} = {formula}\n      = {d.loss:.6g}\n\nŷ: the outputs, y: the targets."
    if phase.kind == "backward":
        lay = layers[phase.layer - 1]
        slope = "" if lay.activation == "identity" else f" · {lay.activation}′(z)"
        if d.dropped and d.dropped[phase.layer - 1] is not None:
            slope += " · m"  # the unit's dropout mask at this step: 0, or 1/(1 − p) where kept
        if phase.layer == len(layers):
            first = f"δ = ∂{loss}/∂z = ∂{loss}/∂ŷ{slope}"
        else:
            first = f"δ = (Σ w · δ of the next layer){slope}"
        total = f"Σδ under a neuron is ∂{loss}/∂b." if lay.bias else "Σδ: the δ's summed over the samples."
        return f"{first}\nfor every sample: the error signal.\n∂{loss}/∂w = Σ over samples of input · δ:\n" \
               f"the edges' colour and width.\n{total}" + \
            _dropout_caption(info, lay, d.dropped[phase.layer - 1] if d.dropped else None, "backward")
    lines = [f"w ← w − η · ∂{loss}/∂w", f"with {info.optimizer}" if info.optimizer else ""]
    gap = d.next_step - d.step if d.next_step is not None else 0
    if gap > 1:
        lines.append(f"to the next recorded step, {d.next_step:,}\n({gap:,} updates later)")
    else:
        lines.append(f"to step {d.next_step:,}")
    if info.batch_size and info.batch_size < n:
        lines.append(f"(this run updates on {info.batch_size} sample{'s' if info.batch_size > 1 else ''}\n"
                     "at a time; shown: the whole set's gradient)")
    changes = _largest_changes(info, layers, d)
    if changes:
        lines += ["", "the largest moves:"] + changes
    return "\n".join(lines)


def _dropout_caption(info, lay: LayerInfo, dropped: np.ndarray | None, kind: str) -> str:
    """The lines a layer followed by dropout adds to its caption: what the step's masks did (empty without)."""
    if dropped is None:
        return ""
    p = float(_dropout_of(info.other_layers, lay.name).get("p", 0.0))
    share = 100 * float(np.mean(dropped))
    if kind == "forward":
        return (f"\nThen dropout (p = {p:g}): each sample\ndrops its own units, {share:.0f} % of them at\n"
                f"this step (crossed: darker, more often);\nthe kept ones are scaled by {1 / (1 - p):.3g}.")
    return (f"\nm: the unit's dropout mask for the sample\n(0 where dropped, {1 / (1 - p):.3g} where kept): a dropped\n"
            "unit passes no δ back, its δ there is 0.")


def _norm_caption(info, lay: LayerInfo, numbers: dict | None, phase: Phase, loss: str, n: int) -> str:
    """The batch norm stage after ``lay``: its formula and, in training mode, this step's μ, σ, γ, β of the
    first units."""
    bn = _norm_of(info.other_layers, lay.name)
    act = bn.get("activation", "")
    if phase.kind == "backward":
        return (f"Through batch norm: with g = ∂{loss}/∂y,\n"
                f"∂{loss}/∂z = γ/(n·√(σ²+ε)) ·\n      (n·g − Σg − x̂·Σ(g·x̂))\n"
                "so each sample's δ depends on the\nwhole batch (through μ and σ);\n"
                f"∂{loss}/∂γ = Σ g·x̂,  ∂{loss}/∂β = Σ g.\n"
                "Σδ over the batch is 0: batch norm\nundoes a shift of z" +
                (f", so {lay.name}'s bias\ngets no gradient." if lay.bias else "."))
    lines = [f"Batch norm {bn.get('name', '')}, training mode:",
             f"over the batch of {n}, per unit",
             "    x̂ = (z − μ) / √(σ² + ε)",
             "    y = γ · x̂ + β" + (f",  a = {act}(y)" if act else "")]
    if numbers is not None:
        shown = min(3, len(numbers["mean"]))
        lines.append("this step, σ = √(σ² + ε):")
        for u in range(shown):
            sigma = float(np.sqrt(numbers["var"][u] + float(numbers["eps"])))
            lines.append(f"unit {u + 1}: " + ", ".join(f"{k} {short(float(v))}" for k, v in
                                                      (("μ", numbers["mean"][u]), ("σ", sigma),
                                                       ("γ", numbers["gamma"][u]), ("β", numbers["beta"][u]))))
        if len(numbers["mean"]) > shown:
            lines.append(f"(and {len(numbers['mean']) - shown} more units)")
    return "\n".join(lines)


def _largest_changes(info, layers: list[LayerInfo], d: ExplainedStep, count: int = 4) -> list[str]:
    """The ``count`` parameter entries the step moved most, each under the one name it has in every view (the
    scene's ``iw1``, else ``w2[1,3]``; :func:`~visualizer.record.names.param_name`)."""
    moves = []
    for lay, w, w2, b in zip(layers, d.weights, d.after, d.biases):
        for (i, j), v in np.ndenumerate(w):  # rows inputs, columns units; stored the other way when transposed
            stored = (j, i) if lay.transposed else (i, j)
            moves.append((abs(w2[i, j] - v), param_name(info, lay.weight, stored), v, w2[i, j]))
        if b is not None:
            for j, (v, v2) in enumerate(zip(*b)):
                moves.append((abs(v2 - v), param_name(info, lay.bias, (j,)), v, v2))
    moves.sort(key=lambda m: -m[0])
    return [f"{name}: {v:.4g} → {v2:.4g} (Δ {v2 - v:+.2g})" for size, name, v, v2 in moves[:count] if size > 0]


def explain_layout(steps: Sequence[int]) -> Layout:
    """The slow-motion figure of the recorded ``steps``: the diagram and, beside it, the notes."""
    steps = tuple(int(s) for s in steps)
    # Panels draw in this order: the notes go last, so a long name running past the diagram's axes (labels,
    # the phase heading) lies under them rather than over the captions.
    return Layout([["diagram", "notes"]], {"diagram": ExplainDiagramPanel(steps), "notes": ExplainNotesPanel(steps)},
                  width_ratios=[1.7, 1.3])


__all__ = ["ExplainDiagramPanel", "ExplainNotesPanel", "ExplainedStep", "explain_layout", "explained_steps", "short"]
