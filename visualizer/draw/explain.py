"""One training step in slow motion: the forward pass layer by layer, the loss, the backward pass layer by
layer from the output, then the update, drawn on a large network diagram with captions (``--explain STEP``).

The frame stream stays a list of history rows: an explain frame is an :class:`ExplainFrame`, an ``int`` (the
row it explains, so anything that looks up the row's step keeps working) that also says which phase it shows.
The renderer draws such keys with an :class:`Explainer`, its own figure of the same size. What the frames show
for every sample (activations, δ's) is computed once from the recorded parameters (:func:`explain_analysis`)
and kept in ``history.static``, so a saved history re-renders its explained steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..record.backprop import activation_functions, backward_pass, layer_weight

if TYPE_CHECKING:
    from ..engine.losses import Loss
    from ..record.history import History

SECONDS = {"forward": 1.3, "loss": 0.5, "backward": 1.2, "update": 0.8}  # about 3.8 s per explained step
MAX_LISTED_SAMPLES = 4  # beside a neuron: the numbers up to this many samples, a small curve up to MAX_CURVE
MAX_CURVE_SAMPLES = 64
MAX_LABELLED_NEURONS = 24
PREDICTION_COLOR_TEXT = "#c2187a"
CURVE_POINTS = (60, 18)  # width and height of a per-sample curve under a neuron, in points
LOSS_FORMULAS = {"ssr": "Σ (ŷ − y)²", "half_ssr": "½ Σ (ŷ − y)²", "mse": "mean of (ŷ − y)²",
                 "bce": "mean of −[y log σ(ŷ) + (1 − y) log(1 − σ(ŷ))]", "softmax_ce": "mean of −log softmax(ŷ)_y",
                 "hinge": "mean of max(0, 1 − y·ŷ)", "multiclass_hinge": "mean of Σ_j max(0, ŷ_j − ŷ_y + 1)"}


class ExplainFrame(int):
    """A frame of the slow-motion sequence shown before history row ``int(self)``: ``phase`` (an index into
    :func:`phases`) at progress ``t`` (0..1), the ``index``-th frame of its sequence."""

    phase: int
    t: float
    index: int

    def __new__(cls, row: int, phase: int, t: float, index: int) -> ExplainFrame:
        key = super().__new__(cls, row)
        key.phase, key.t, key.index = int(phase), float(t), int(index)
        return key

    def __repr__(self) -> str:
        return f"ExplainFrame(row={int(self)}, phase={self.phase}, t={self.t:.2f})"

    def __reduce__(self):  # frame keys travel to render tasks in other processes
        return ExplainFrame, (int(self), self.phase, self.t, self.index)


class FrameStep(int):
    """The step an explain frame shows, for writers: the explained step as an ``int``, formatted with its
    frame number (``frame_00300.e017.png``) so explain frames never overwrite the step's own frame and sort
    just before it."""

    index: int

    def __new__(cls, step: int, index: int) -> FrameStep:
        value = super().__new__(cls, step)
        value.index = int(index)
        return value

    def __format__(self, spec: str) -> str:
        text = int.__format__(int(self), spec)
        return f"{text}.e{self.index:03d}" if spec.endswith("d") else text


@dataclass(frozen=True)
class Phase:
    """One part of the sequence: ``kind`` forward/loss/backward/update; ``layer`` the column being computed
    (forward: 0 = the inputs, 1… = layers; backward: the layer whose δ's appear; else -1)."""

    kind: str
    layer: int
    seconds: float


def phases(n_layers: int, update: bool = True) -> list[Phase]:
    """The sequence for a network of ``n_layers`` layers (without the update for the last recorded step)."""
    out = [Phase("forward", k, SECONDS["forward"] / (n_layers + 1)) for k in range(n_layers + 1)]
    out.append(Phase("loss", -1, SECONDS["loss"]))
    out += [Phase("backward", k, SECONDS["backward"] / n_layers) for k in range(n_layers, 0, -1)]
    if update:
        out.append(Phase("update", -1, SECONDS["update"]))
    return out


def explain_rows(history: History, steps: Sequence[int]) -> list[int]:
    """The history rows of the steps to explain, or ValueError saying which steps were recorded."""
    rows = []
    for step in steps:
        found = np.flatnonzero(history.steps == int(step))
        if not found.size:
            every = history.info.every
            near = history.steps[np.argsort(np.abs(history.steps - int(step)))[:2]]
            raise ValueError(f"step {step} was not recorded, so it cannot be explained; this run recorded steps "
                             f"{int(history.steps[0]):,}…{int(history.steps[-1]):,} every {every:,} (nearest: "
                             f"{', '.join(f'{int(s):,}' for s in sorted(near))})")
        rows.append(int(found[0]))
    return rows


def explain_frames(history: History, rows: Sequence[int], steps: Sequence[int], fps: float) -> list[int]:
    """``rows`` with each explained step's sequence inserted before its row (the row is added if the frame
    selection skipped it): about 3.8 s of :class:`ExplainFrame` keys at ``fps``."""
    if not steps:
        return list(rows)
    n_layers = len(history.info.layers)
    if not n_layers:
        raise ValueError("explaining a step needs the model's layer structure in the history")
    targets = explain_rows(history, steps)
    out = sorted(set(int(r) for r in rows) | set(targets))
    frames: list[int] = []
    for row in out:
        if row in targets:
            index = 0
            for p, phase in enumerate(phases(n_layers, row + 1 < len(history))):
                n = max(1, round(phase.seconds * fps))
                for j in range(n):
                    t = j / (n - 1) if n > 1 else 1.0
                    frames.append(ExplainFrame(row, p, t, index))
                    index += 1
        frames.append(row)
    return frames


def explain_analysis(history: History, steps: Sequence[int], model: object = None,
                     loss: Loss | None = None) -> dict[str, np.ndarray]:
    """Per-sample activations, δ's and ∂L/∂ŷ at each explained step, from the recorded parameters, as static
    arrays ``explain/<step>/…``. Activation functions come from ``model`` when given (a scene's own), else by
    name; the loss is ``loss``, else the one the history names."""
    from ..engine.losses import get_loss

    layers = history.info.layers
    if "data/x" not in history.static or "data/y" not in history.static:
        raise ValueError("explaining a step needs the training data in the history (static data/x, data/y)")
    if loss is None:
        try:
            loss = get_loss(history.info.loss)
        except ValueError:
            raise ValueError(f"explaining a step needs the loss; this history names {history.info.loss!r}, "
                             "which is not built in: render it with its scene") from None
    acts = activation_functions(layers, model)
    x, y = history.static["data/x"], history.static["data/y"]
    out = {}
    for step, row in zip(steps, explain_rows(history, steps)):
        bp = backward_pass(layers, {k: v[row] for k, v in history.params.items()}, x, y, loss, acts)
        key = f"explain/{int(step)}"
        out[f"{key}/loss"] = np.array(bp.loss)
        out[f"{key}/output_grad"] = bp.output_grad
        for lay in layers:
            out[f"{key}/a/{lay.name}"] = bp.a[lay.name]
            out[f"{key}/delta/{lay.name}"] = bp.delta[lay.name]
    return out


def missing_steps(history: History, steps: Sequence[int]) -> list[int]:
    """The explained steps whose arrays are not in ``history.static`` yet."""
    return [int(s) for s in steps if f"explain/{int(s)}/loss" not in history.static]


def short(v: float) -> str:
    """A value beside a neuron: three significant digits, or one with an exponent."""
    if v == 0:
        return "0"
    if not np.isfinite(v):
        return f"{v:g}"
    return f"{v:.3g}" if 1e-2 <= abs(v) < 1e3 else f"{v:.1e}"


class Explainer:
    """The slow-motion figure: a large network diagram and a column of notes, ``size`` pixels like the
    renderer's frames. ``draw(key)`` draws an :class:`ExplainFrame` onto :attr:`canvas`."""

    def __init__(self, history: History, size: tuple[int, int], dpi: float, title: str, steps: Sequence[int],
                 style: dict, extra_static: dict[str, np.ndarray] | None = None) -> None:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.history = history
        self.size = size
        static = {**(extra_static or {}), **history.static}
        self.layers = list(history.info.layers)
        self._steps = {row: int(step) for step, row in zip(steps, explain_rows(history, steps))}
        self._data = {row: self._step_data(static, row, step) for row, step in self._steps.items()}
        with matplotlib.rc_context(style):
            self.figure = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi, layout="constrained")
            self.canvas = FigureCanvasAgg(self.figure)
            grid = self.figure.add_gridspec(1, 2, width_ratios=[1.9, 1.1])
            self.ax = self.figure.add_subplot(grid[0])
            self.notes = self.figure.add_subplot(grid[1])
            self.figure.suptitle(title or " ")
            self._build()
            self.canvas.draw()
            self.figure.set_layout_engine("none")
            self._build_curves()
            self._background = self.canvas.copy_from_bbox(self.figure.bbox)
            # Every phase of the first explained step once: a problem shows now, in this process.
            if self._steps:
                row = next(iter(self._steps))
                for p in range(len(phases(len(self.layers), row + 1 < len(history)))):
                    self.draw(ExplainFrame(row, p, 1.0, 0))

    def explains(self, row: int) -> bool:
        """Whether history row ``row`` is one of the explained steps."""
        return row in self._steps

    # ---- data

    def _step_data(self, static, row: int, step: int) -> dict:
        h = self.history
        key = f"explain/{step}"
        if f"{key}/loss" not in static:
            raise ValueError(f"no slow-motion data for step {step} (static {key}/…): compute it with "
                             "explain_analysis (render does)")
        nxt = row + 1 if row + 1 < len(h) else None
        weights = [layer_weight(lay, {lay.weight: h.params[lay.weight][row]}) for lay in self.layers]
        after = [layer_weight(lay, {lay.weight: h.params[lay.weight][nxt]}) for lay in self.layers] if nxt else weights
        a = [static["data/x"]] + [static[f"{key}/a/{lay.name}"] for lay in self.layers]
        delta = [static[f"{key}/delta/{lay.name}"] for lay in self.layers]
        grads = [d_in.T @ d for d_in, d in zip(a[:-1], delta)]  # ∂L/∂W = Σ_n input · δ
        biases = [(h.params[lay.bias][row], h.params[lay.bias][nxt] if nxt else h.params[lay.bias][row])
                  if lay.bias else None for lay in self.layers]
        return dict(step=step, row=row, next=nxt, a=a, delta=delta, grads=grads, weights=weights, after=after,
                    biases=biases, y=static["data/y"], loss=float(static[f"{key}/loss"]),
                    next_step=int(h.steps[nxt]) if nxt else None)

    # ---- static parts

    def _build(self) -> None:
        from matplotlib.collections import LineCollection

        from .panels.diagram import column_positions, edge_segments, marker_size
        from .text import FrameText

        ax, notes = self.ax, self.notes
        sizes = [self.layers[0].n_in] + [lay.n_out for lay in self.layers]
        self.sizes = sizes
        self.pos = column_positions(sizes)
        self.edges = LineCollection(edge_segments(self.pos), animated=True, capstyle="round", zorder=1)
        ax.add_collection(self.edges)
        centres = np.concatenate([np.array(p) for p in self.pos])
        self.neurons = ax.scatter(centres[:, 0], centres[:, 1], s=1.6 * marker_size(sizes), facecolor="white",
                                  edgecolor="black", linewidths=1.4, zorder=2, animated=True)
        from ..record.backprop import node_names

        info = self.history.info
        inputs, units = node_names(self.layers, None, info.input_names)
        names = [inputs] + [[post for _, post in units[lay.name]] for lay in self.layers]
        if info.output_names and len(info.output_names) == sizes[-1]:
            names[-1] = list(info.output_names)
        radius = np.sqrt(1.6 * marker_size(sizes)) / 2
        # Drawn every frame, after the edges, on a white box: a name never disappears under an edge.
        self.names = []
        for column, column_names in zip(self.pos, names):
            for (x, y), name in zip(column, column_names):
                text = FrameText(x, y, name, transform=ax.transData, ha="center", va="bottom", fontsize="small",
                                 offset=(0, radius + 1), background="white", background_alpha=0.85, pad=0.1)
                ax.add_artist(text)
                self.names.append(text)
        ax.set_xlim(-0.6, len(sizes) - 0.35)
        half = (max(sizes) - 1) / 2
        ax.set_ylim(-half - 0.75, half + 0.55)
        ax.set_axis_off()
        self.heading = FrameText(0.5, 1.0, "", transform=ax.transAxes, ha="center", va="top", fontsize="large")
        ax.add_artist(self.heading)
        n_samples = len(self.history.static["data/x"])
        self.n_samples = n_samples
        self.show_values = sum(sizes) <= MAX_LABELLED_NEURONS
        self.mode = ("numbers" if n_samples <= MAX_LISTED_SAMPLES else
                     "curve" if n_samples <= MAX_CURVE_SAMPLES else "mean")
        # Beside each neuron: a line of values (or a small curve) and below it a line for a total.
        self.value_texts, self.total_texts = [], []
        below = CURVE_POINTS[1] + 6 if self.mode == "curve" else 13
        for column in self.pos:
            row_v, row_t = [], []
            for x, y in column:
                v = FrameText(x, y, "", transform=ax.transData, ha="center", va="top", fontsize="x-small",
                              offset=(0, -radius - 2), background="white", background_alpha=0.85, pad=0.15)
                t = FrameText(x, y, "", transform=ax.transData, ha="center", va="top", fontsize="x-small",
                              offset=(0, -radius - below), background="white", background_alpha=0.85, pad=0.15)
                ax.add_artist(v)
                ax.add_artist(t)
                row_v.append(v)
                row_t.append(t)
            self.value_texts.append(row_v)
            self.total_texts.append(row_t)
        self._radius = radius
        if self.show_values:
            what = {"numbers": "numbers under a neuron: its value for each sample, in the data's order",
                    "curve": "curve under a neuron: its value for each sample, in the data's order",
                    "mean": "under a neuron: its mean over the samples"}[self.mode]
            ax.text(0.5, 0.0, what, transform=ax.transAxes, ha="center", va="bottom", fontsize="x-small",
                    color="#555555")
        notes.set_axis_off()
        notes.set_xlim(0, 1)
        notes.set_ylim(0, 1)
        self.phase_texts = []
        labels = ["1  forward pass", "2  loss", "3  backward pass", "4  update"]
        for k, label in enumerate(labels):
            text = notes.text(0.02, 0.93 - 0.075 * k, label, ha="left", va="top", fontsize="medium", animated=True)
            self.phase_texts.append(text)
        self.body = notes.text(0.02, 0.6, "", ha="left", va="top", fontsize="medium", animated=True,
                               linespacing=1.5, wrap=False)
        self.title_text = notes.text(0.02, 1.0, "", ha="left", va="top", fontsize="large", animated=True)
        from matplotlib.lines import Line2D

        from .panels.diagram import GRAD_NEGATIVE, GRAD_POSITIVE, NEGATIVE, POSITIVE

        handles = [Line2D([], [], color=POSITIVE, lw=2, label="weight > 0"),
                   Line2D([], [], color=NEGATIVE, lw=2, label="weight < 0"),
                   Line2D([], [], color=GRAD_POSITIVE, lw=2, label="∂L/∂w > 0"),
                   Line2D([], [], color=GRAD_NEGATIVE, lw=2, label="∂L/∂w < 0")]
        notes.legend(handles=handles, loc="lower left", ncol=2, frameon=False, fontsize="x-small",
                     handlelength=1.4, columnspacing=1.0)

    def _build_curves(self) -> None:
        """Small per-sample curves beside the neurons (for 5 to 64 samples), sized in pixels now that the
        layout is final."""
        from matplotlib.lines import Line2D
        from matplotlib.patches import Rectangle

        from .panels.base import PREDICTION_COLOR

        self.curves: list[list] = []
        if not self.show_values or self.mode != "curve":
            return
        px = self.ax.transData.transform([(0, 0), (1, 1)])
        per_x, per_y = px[1] - px[0]
        dpi_scale = self.figure.dpi / 72  # sizes in points, as the texts' offsets
        width, height = CURVE_POINTS[0] * dpi_scale / per_x, CURVE_POINTS[1] * dpi_scale / per_y
        gap = (self._radius + 3) * dpi_scale / per_y
        for column in self.pos:
            row = []
            for x, y in column:
                xs = np.linspace(x - width / 2, x + width / 2, self.n_samples)
                base = y - gap - height / 2
                line = Line2D(xs, np.full_like(xs, base), color="#333333", linewidth=1.1, marker="o",
                              markersize=1.6, animated=True, zorder=4)
                pad_x, pad_y = 3 * dpi_scale / per_x, 2 * dpi_scale / per_y
                back = Rectangle((x - width / 2 - pad_x, base - height / 2 - pad_y), width + 2 * pad_x,
                                 height + 2 * pad_y, facecolor="white", edgecolor="#cccccc", linewidth=0.5,
                                 alpha=0.9, animated=True, zorder=3)
                target = Line2D(xs, np.full_like(xs, base), color=PREDICTION_COLOR, linestyle="none", marker="o",
                                markersize=2.2, animated=True, zorder=5)
                self.ax.add_patch(back)
                self.ax.add_line(line)
                self.ax.add_line(target)
                row.append((line, back, target, base, height / 2))
            self.curves.append(row)

    def close(self) -> None:
        """Let go of the saved background (see :meth:`visualizer.draw.renderer.Renderer.close`)."""
        self._background = None

    # ---- per frame

    def draw(self, key: ExplainFrame) -> None:
        """Draw explain frame ``key`` onto the canvas."""
        self.canvas.restore_region(self._background)
        for artist in self._update(key):
            self.figure.draw_artist(artist)

    def _update(self, key: ExplainFrame) -> list:
        from matplotlib.colors import to_rgba_array

        from .panels.base import PREDICTION_COLOR
        from .panels.diagram import (DELTA_CMAP, GRAD_NEGATIVE, GRAD_POSITIVE, NEGATIVE, POSITIVE, magnitude_scale,
                                     signed_norm)

        d = self._data[int(key)]
        plan = phases(len(self.layers), d["next"] is not None)
        phase = plan[key.phase]
        n_layers = len(self.layers)
        # Edges: one block per layer, in edge_segments' order.
        if phase.kind == "update":
            weights = [(1 - key.t) * w + key.t * w2 for w, w2 in zip(d["weights"], d["after"])]
        else:
            weights = d["weights"]
        w_scale = max(float(np.abs(w).max()) for w in d["weights"] + d["after"]) or 1.0
        grad_width, _ = magnitude_scale(*d["grads"])
        rgba = []
        widths = []
        pos_w, neg_w, pos_g, neg_g = to_rgba_array([POSITIVE, NEGATIVE, GRAD_POSITIVE, GRAD_NEGATIVE])
        for l in range(1, n_layers + 1):
            w, g = weights[l - 1].ravel(), d["grads"][l - 1].ravel()
            as_grad = phase.kind == "backward" and l >= phase.layer
            if as_grad:
                colour = np.where((g >= 0)[:, None], pos_g, neg_g)
                width = 0.4 + 6.0 * grad_width(g)
            else:
                colour = np.where((w >= 0)[:, None], pos_w, neg_w)
                width = 0.4 + 6.0 * np.abs(w) / w_scale
            alpha = 1.0
            if phase.kind == "forward" and l > phase.layer:
                alpha = 0.12
            elif phase.kind == "backward" and l < phase.layer:
                alpha = 0.25
            colour = colour.copy()
            colour[:, 3] = alpha
            rgba.append(colour)
            widths.append(width)
        self.edges.set_color(np.concatenate(rgba))
        self.edges.set_linewidth(np.concatenate(widths))
        # Neurons.
        reached = "#ffe9a8"
        fills = []
        sums = [d["delta"][l].sum(axis=0) for l in range(n_layers)]
        norm = signed_norm(*sums)
        from matplotlib import colormaps

        cmap = colormaps[DELTA_CMAP]
        for c, column in enumerate(self.pos):
            for u in range(len(column)):
                if phase.kind == "forward":
                    colour = "#ffc94d" if c == phase.layer else reached if c < phase.layer else "white"
                elif phase.kind == "loss":
                    colour = "#f7a8cf" if c == n_layers else reached
                elif phase.kind == "backward" and c >= phase.layer and c > 0:
                    colour = cmap(norm(sums[c - 1][u]))
                elif phase.kind == "update":
                    colour = "white"
                else:
                    colour = reached
                fills.append(colour)
        self.neurons.set_facecolor(to_rgba_array(fills))
        artists = [self.edges, self.neurons, *self.names]
        artists += self._values(d, phase, n_layers)
        # Notes.
        order = ["forward", "loss", "backward", "update"]
        for k, text in enumerate(self.phase_texts):
            current = order[k] == phase.kind
            text.set_color(PREDICTION_COLOR if current else ("#999999" if k == 3 and d["next"] is None else "black"))
            text.set_fontweight("bold" if current else "normal")
        self.title_text.set_text(f"step {d['step']:,} in slow motion")
        self.body.set_text(self._caption(d, phase, key.t))
        self.heading.set_text(self._heading(phase))
        return artists + [*self.phase_texts, self.title_text, self.body, self.heading]

    def _values(self, d: dict, phase: Phase, n_layers: int) -> list:
        """Per-sample values (numbers, a curve or the mean) and a total beside the neurons, as the phase asks."""
        out = []
        for c, column in enumerate(self.pos):
            values, grey, total, targets = None, False, None, None
            if phase.kind == "forward" and c <= phase.layer:
                values = d["a"][c]
            elif phase.kind == "loss":
                values = d["a"][c]
                if c == n_layers:
                    targets = d["y"]
            elif phase.kind == "backward":
                if c >= phase.layer and c > 0:
                    values = d["delta"][c - 1]
                    total = [f"Σδ = {short(float(v))}" for v in d["delta"][c - 1].sum(axis=0)]
                else:
                    values, grey = d["a"][c], True
            for u in range(len(column)):
                v_text, t_text = self.value_texts[c][u], self.total_texts[c][u]
                v_text.set_text("")
                t_text.set_text("")
                out += [v_text, t_text]
                if values is None or not self.show_values:
                    continue
                mine = values[:, u]
                colour = "#888888" if grey else "black"
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
                        t_text.set_color(PREDICTION_COLOR_TEXT)
                    continue
                if self.mode == "numbers":
                    v_text.set_text("  ".join(short(float(v)) for v in mine))
                    if target is not None:
                        t_text.set_text("y  " + "  ".join(short(float(v)) for v in target))
                        t_text.set_color(PREDICTION_COLOR_TEXT)
                elif not total:  # the mean of the δ's says less than their sum, written below
                    v_text.set_text(f"mean {short(float(mine.mean()))}")
                v_text.set_color(colour)
                if total:
                    t_text.set_text(total[u])
                    t_text.set_color("black")
        return out

    def _heading(self, phase: Phase) -> str:
        if phase.kind == "forward":
            if phase.layer == 0:
                return "forward pass: the inputs"
            lay = self.layers[phase.layer - 1]
            return f"forward pass: layer {phase.layer} ({lay.name})"
        if phase.kind == "loss":
            return "the loss: how far the outputs are from the targets"
        if phase.kind == "backward":
            lay = self.layers[phase.layer - 1]
            return f"backward pass: layer {phase.layer} ({lay.name})"
        return "the update: every weight steps down its gradient"

    def _caption(self, d: dict, phase: Phase, t: float) -> str:
        info = self.history.info
        loss = info.loss_label if info.loss_label and info.loss_label.isalnum() else "L"
        n = self.n_samples
        if phase.kind == "forward":
            if phase.layer == 0:
                return f"All {n} training samples go in at once:\nthe whole set is one batch for the\n" \
                       "loss and its gradient."
            lay = self.layers[phase.layer - 1]
            act = lay.activation
            z = "z = Σ w · input" + (" + b" if lay.bias else "")
            a = "a = z" if act == "identity" else f"a = {act}(z)"
            return f"For every sample, each neuron of\n{lay.name} computes\n    {z}\n    {a}\nfrom the layer before."
        if phase.kind == "loss":
            formula = LOSS_FORMULAS.get(info.loss, info.loss_label or "the loss")
            return f"{info.loss_label or 'loss'} = {formula}\n      = {d['loss']:.6g}\n\nŷ: the outputs, y: the targets."
        if phase.kind == "backward":
            lay = self.layers[phase.layer - 1]
            slope = "" if lay.activation == "identity" else f" · {lay.activation}′(z)"
            if phase.layer == len(self.layers):
                first = f"δ = ∂{loss}/∂z = ∂{loss}/∂ŷ{slope}"
            else:
                first = f"δ = (Σ w · δ of the next layer){slope}"
            total = f"Σδ under a neuron is ∂{loss}/∂b." if lay.bias else "Σδ: the δ's summed over the samples."
            return f"{first}\nfor every sample: the error signal.\n∂{loss}/∂w = Σ over samples of input · δ\n" \
                   f"colours and widths the edges;\n{total}"
        lines = [f"w ← w − η · ∂{loss}/∂w", f"with {info.optimizer}" if info.optimizer else ""]
        gap = d["next_step"] - d["step"] if d["next_step"] is not None else 0
        if gap > 1:
            lines.append(f"to the next recorded step, {d['next_step']:,}\n({gap:,} updates later)")
        else:
            lines.append(f"to step {d['next_step']:,}")
        if info.batch_size and info.batch_size < n:
            lines.append(f"(this run updates on {info.batch_size} sample{'s' if info.batch_size > 1 else ''}\n"
                         "at a time; shown: the whole set's gradient)")
        changes = self._largest_changes(d, t)
        if changes:
            lines += ["", "the largest moves:"] + changes
        return "\n".join(x for x in lines if x is not None)

    def _largest_changes(self, d: dict, t: float, count: int = 4) -> list[str]:
        moves = []
        for lay, w, w2, b in zip(self.layers, d["weights"], d["after"], d["biases"]):
            for (i, j), v in np.ndenumerate(w):
                moves.append((abs(w2[i, j] - v), f"{lay.weight}[{i},{j}]", v, w2[i, j]))
            if b is not None:
                for j, (v, v2) in enumerate(zip(*b)):
                    moves.append((abs(v2 - v), f"{lay.bias}[{j}]", v, v2))
        moves.sort(key=lambda m: -m[0])
        return [f"{name}: {v:.4g} → {v2:.4g} (Δ {v2 - v:+.2g})" for size, name, v, v2 in moves[:count] if size > 0]


__all__ = ["ExplainFrame", "Explainer", "FrameStep", "Phase", "explain_analysis", "explain_frames", "explain_rows",
           "missing_steps", "phases", "short"]
