"""The network itself: neurons by layer, edges coloured by the weight's sign and as thick as its size.

Batch norm and dropout layers are named in small boxes above the gap where they sit (they change no
edge). With ``show="gradients"`` it is the backward pass instead: edges coloured by the sign of ∂L/∂w and as thick
as its size, neurons filled by their error signal δ = ∂L/∂z summed over the training set (which is ∂L/∂b).
Both use the one signed colour map of :mod:`..colours` (red positive, blue negative), so an edge and a weight
heatmap's cell of the same sign have the same colour; the title and legend say what is shown.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D

from ...record.probes import Needs, Probe
from .. import colours
from ..text import FrameText, size
from .base import Panel, finite_range

SHOWS = ("weights", "gradients")
DECADES = 4  # a log width scale shows this many decades below the largest magnitude
MAX_LABELLED_UNITS = 12  # write the bias or δ next to the neurons up to this many units


def column_positions(sizes: list[int]) -> list[list[tuple[float, float]]]:
    """Neuron centres, one column per layer at x = 0, 1, …, each column centred on y = 0."""
    return [[(float(k), (n - 1) / 2 - i) for i in range(n)] for k, n in enumerate(sizes)]


def edge_segments(pos: list[list[tuple[float, float]]]) -> list[list[tuple[float, float]]]:
    """One segment per weight, layer by layer, inputs outer and units inner (a weight matrix's ravel order)."""
    return [[pos[k][a], pos[k + 1][b]] for k in range(len(pos) - 1) for a in range(len(pos[k]))
            for b in range(len(pos[k + 1]))]


def marker_size(sizes: list[int]) -> float:
    """Scatter marker area for neurons: smaller when a column holds many."""
    return float(np.clip(900 / max(sizes) ** 1.2, 30, 260))


def magnitude_range(*arrays: np.ndarray) -> tuple[float, float]:
    """(smallest non-zero, largest) finite magnitude over ``arrays``; (1, 1) when there is none."""
    mags = [np.abs(np.asarray(a, dtype=float)) for a in arrays]
    found = finite_range(*mags)
    hi = found[1] if found and found[1] > 0 else 1.0
    nonzero = [m[(m > 0) & np.isfinite(m)] for m in mags]
    return min((float(m.min()) for m in nonzero if m.size), default=hi), hi


def magnitude_scale(*arrays: np.ndarray, log_ratio: float = 100.0):
    """``f(|v|) -> 0..1`` fixed from every value of ``arrays``: linear, or logarithmic over ``DECADES``
    decades below the largest magnitude when the magnitudes span more than ``log_ratio``."""
    lo, hi = magnitude_range(*arrays)
    if hi / lo <= log_ratio:
        return (lambda v: np.clip(np.abs(v) / hi, 0.0, 1.0)), False
    floor = max(lo, hi * 10.0 ** -DECADES)
    span = np.log10(hi / floor)

    def log_scale(v):
        with np.errstate(divide="ignore"):
            return np.clip((np.log10(np.abs(v)) - np.log10(floor)) / span, 0.0, 1.0)
    return log_scale, True


def signed_norm(*arrays: np.ndarray, log_ratio: float = 100.0):
    """A colour norm symmetric about 0 fixed from ``arrays``: symmetric-log when they span decades."""
    return colours.symmetric_norm(*arrays, log_ratio=log_ratio, decades=DECADES)


def scale_note(norm) -> str:
    """How a fill's colour reads as a number: ``±2.3 at full colour`` (``, log scale`` when it is one)."""
    log = "" if type(norm) is Normalize else " (log scale)"
    return f"±{value_text(float(norm.vmax))} at full colour{log}"


def value_text(v: float) -> str:
    """A short signed number for a label: ``-0.0123``, ``4.6e-05``, ``12.3``."""
    if v == 0 or not np.isfinite(v):
        return f"{v:g}"
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.1e}"


@dataclass
class NetworkDiagramPanel(Panel):
    """Neurons as circles by layer, edges coloured by the sign of the weight and thickened by its magnitude,
    neuron fill showing its bias (white: none). Line widths use one scale fixed from the whole history.

    ``show="gradients"`` draws the backward pass: edges by the sign and size of ∂L/∂w (the recorded
    gradients), neurons filled by δ = ∂L/∂z summed over the training set, with its value written beside
    small networks; scales fixed over the run, logarithmic where magnitudes span decades.
    """

    title: str = ""
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    max_width: float = 5.0
    show: str = "weights"

    def __post_init__(self) -> None:
        if self.show not in SHOWS:
            raise ValueError(f"NetworkDiagramPanel show must be one of {', '.join(SHOWS)}, got {self.show!r}")

    def needs(self, setup):
        if self.show != "gradients":
            return Needs({}, [])
        return Needs({}, [Probe(f"delta/{lay.name}", setup.x, lay.name, quantity="delta", reduce="sum")
                          for lay in setup.layers])

    def draw(self, ax, history):
        layers = history.info.layers
        if not layers:
            raise ValueError("NetworkDiagramPanel needs the model's layer structure in the history (the "
                             "recorder gets it from a model adapter)")
        sizes = [layers[0].n_in] + [lay.n_out for lay in layers]
        pos = column_positions(sizes)
        edges = LineCollection(edge_segments(pos), animated=True, capstyle="round", zorder=1)
        ax.add_collection(edges)
        # Neurons: inputs have no bias (drawn white, static); every layer's units are one animated scatter.
        inputs = np.array(pos[0])
        ax.scatter(inputs[:, 0], inputs[:, 1], s=marker_size(sizes), facecolor="white", edgecolor="black",
                   zorder=2, linewidths=1.2)
        units = np.concatenate([np.array(p) for p in pos[1:]])
        self._label_column(ax, pos[0], self.input_names or history.info.input_names, "right")
        self._label_column(ax, pos[-1], self.output_names or history.info.output_names, "left")
        ax.set_xlim(-0.45, len(sizes) - 0.55)
        half = (max(sizes) - 1) / 2  # columns are centred on y = 0
        marks = self._other_layers(ax, history, layers, half)
        ax.set_ylim(-half - 0.6, half + 0.6 + 0.5 * marks)
        ax.set_axis_off()
        if self.show == "gradients":
            update = self._gradients(ax, history, layers, units, sizes, edges)
        else:
            update = self._weights(ax, history, layers, units, sizes, edges)
        return update

    def _weights(self, ax, history, layers, units, sizes, edges):
        weights = [history.layer_weight(lay) for lay in layers]  # (rows, inputs, outputs) each
        biases = [history.params[lay.bias] if lay.bias else None for lay in layers]
        scale = max(float(np.nanmax(np.abs(w))) for w in weights) or 1.0
        bias_values = [b for b in biases if b is not None]
        norm = colours.symmetric_norm(*bias_values)
        # Fill from the bias through the signed colour map; units without a bias are NaN, drawn white.
        neurons = ax.scatter(units[:, 0], units[:, 1], s=marker_size(sizes), c=np.zeros(len(units)),
                             cmap=colours.signed_cmap(), norm=norm, edgecolor="black",
                             zorder=2, linewidths=1.2, animated=True, plotnonfinite=True)
        ax.set_title(self.title or "network")
        handles = [Line2D([], [], color=colours.POSITIVE, lw=2, label="weight > 0"),
                   Line2D([], [], color=colours.NEGATIVE, lw=2, label="weight < 0")]
        note = f"widths: |w| up to {value_text(scale)}"
        labels = []
        if bias_values:
            handles.append(_fill_handle("fill: bias"))
            note += f"; fill: bias, {scale_note(norm)}"
            if len(units) <= MAX_LABELLED_UNITS:
                labels = self._unit_labels(ax, units, sizes)
        self._legend(ax, handles, note)
        no_bias = [np.full(w.shape[2], np.nan) for w in weights]

        def update(i):
            w = np.concatenate([w[i].ravel() for w in weights])
            edges.set_color(colours.sign_colors(w))  # RGBA rows
            edges.set_linewidth(0.3 + self.max_width * np.abs(w) / scale)
            b = np.concatenate([b[i] if b is not None else nb for b, nb in zip(biases, no_bias)])
            neurons.set_array(b)
            for label, v in zip(labels, b):
                label.set_text("" if np.isnan(v) else f"b {value_text(float(v))}")
            return [edges, neurons, *labels]
        return update

    def _gradients(self, ax, history, layers, units, sizes, edges):
        missing = [lay.weight for lay in layers if lay.weight not in history.grads]
        if missing:
            raise ValueError(f"NetworkDiagramPanel(show='gradients') needs the recorded gradients; this history "
                             f"has none for {missing[0]!r}")
        grads = [history.layer_weight_grad(lay) for lay in layers]
        deltas = []
        for lay in layers:
            key = f"delta/{lay.name}"
            if key in history.extras:
                deltas.append(history.extras[key])
            elif lay.bias is not None and lay.bias in history.grads:
                deltas.append(history.grads[lay.bias])  # Σ δ is ∂L/∂b: the same numbers
            else:
                raise ValueError(f"NetworkDiagramPanel(show='gradients') needs the δ's of layer {lay.name!r} "
                                 f"(extra {key!r}), recorded when training with this layout")
        width_of, log_widths = magnitude_scale(*grads)
        norm = signed_norm(*deltas)
        # Every row's edge colours and widths at once (small networks: a few hundred edges at most per row).
        g_all = np.concatenate([g.reshape(len(g), -1) for g in grads], axis=1)  # (rows, edges)
        edge_colors = colours.sign_colors(g_all)
        edge_widths = 0.3 + self.max_width * width_of(g_all)
        # Every row's fill colours at once: no colour mapping per frame.
        fills = colours.signed_cmap()(norm(np.concatenate(deltas, axis=1)))  # (rows, units, 4)
        neurons = ax.scatter(units[:, 0], units[:, 1], s=marker_size(sizes), facecolor=fills[0], edgecolor="black",
                             zorder=2, linewidths=1.2, animated=True)
        labels = self._unit_labels(ax, units, sizes) if len(units) <= MAX_LABELLED_UNITS else []
        loss = short_loss(history.info.loss_label)
        ax.set_title(self.title or f"backward pass: ∂{loss}/∂w and δ = ∂{loss}/∂z")
        fill = f"fill: Σδ = ∂{loss}/∂b" if all(lay.bias for lay in layers) else "fill: Σδ over the samples"
        handles = [Line2D([], [], color=colours.POSITIVE, lw=2, label=f"∂{loss}/∂w > 0"),
                   Line2D([], [], color=colours.NEGATIVE, lw=2, label=f"∂{loss}/∂w < 0"),
                   _fill_handle(fill)]
        note = ("widths: log scale" if log_widths else "widths: |∂w|") + f"; fill: {scale_note(norm)}"
        self._legend(ax, handles, note)

        def update(i):
            edges.set_color(edge_colors[i])
            edges.set_linewidth(edge_widths[i])
            d = np.concatenate([d[i] for d in deltas])
            neurons.set_facecolor(fills[i])
            for label, v in zip(labels, d):
                label.set_text(f"δ {value_text(float(v))}")
            return [edges, neurons, *labels]
        return update

    @staticmethod
    def _unit_labels(ax, units: np.ndarray, sizes: list[int]) -> list:
        """An empty label under each unit's circle, for its bias or δ."""
        radius = np.sqrt(marker_size(sizes)) / 2  # points
        labels = []
        for x, y in units:
            label = FrameText(x, y, "", transform=ax.transData, ha="center", va="top", fontsize=size("detail"),
                              offset=(0, -radius - 2), background="white", background_alpha=0.8, pad=0.1)
            ax.add_artist(label)
            labels.append(label)
        return labels

    @staticmethod
    def _legend(ax, handles, note: str = "") -> None:
        # As many entries to a row as fit the panel's width (judged before the layout).
        room = ax.get_position().width * ax.figure.get_size_inches()[0] * 72
        wide = sorted((0.6 * size("detail") * len(h.get_label()) + 3.4 * size("detail") for h in handles),
                      reverse=True)
        ncol = next((n for n in range(len(handles), 1, -1) if sum(wide[:n]) <= 0.9 * room), 1)
        legend = ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                           ncol=ncol, frameon=False, fontsize=size("detail"),
                           handlelength=1.2, columnspacing=1.0, title=note.replace("; ", "\n") or None,
                           title_fontsize=size("detail"))
        legend.set_in_layout(True)

    @staticmethod
    def _other_layers(ax, history, layers, half: float) -> int:
        """Batch norm and dropout are not drawn as columns: each is named in a small box above the gap
        between the dense layers where it sits (``batch norm``, ``dropout p=0.5``). Returns the most boxes
        stacked in one gap."""
        column = {lay.name: k + 1 for k, lay in enumerate(layers)}  # the dense layer's output column
        gaps: dict[float, list[str]] = {}
        for d in history.info.other_layers:
            k = column.get(d.get("after", ""), 0)
            x = k + 0.5 if k < len(layers) else float(len(layers))  # after the output: over its column
            gaps.setdefault(x, []).append(f"dropout p={d.get('p', 0):g}" if d.get("kind") == "dropout"
                                          else " → ".join(["batch norm", *([d["activation"]] if
                                                                          d.get("activation") else [])]))
        for x, names in gaps.items():
            ax.text(x, half + 0.5, "\n".join(names), ha="center", va="bottom", fontsize=size("label"), zorder=3,
                    linespacing=1.1, bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="0.5",
                                               linewidth=0.6))
        return max((len(n) for n in gaps.values()), default=0)

    @staticmethod
    def _label_column(ax, positions, names, side: str) -> None:
        offset = -0.18 if side == "right" else 0.18
        for (x, y), name in zip(positions, names):
            ax.text(x + offset, y, name, ha=side, va="center", fontsize=size("label"))


def _fill_handle(label: str) -> Line2D:
    """A legend entry for a neuron's fill: half red, half blue (the signed map's two ends)."""
    return Line2D([], [], marker="o", linestyle="none", markersize=8, markerfacecolor=colours.POSITIVE,
                  markerfacecoloralt=colours.NEGATIVE, fillstyle="left", markeredgecolor="black", label=label)


def short_loss(label: str) -> str:
    """The loss's label if it is one word (SSR, MSE), else L: ∂½·SSR/∂w does not read."""
    return label if label and label.isalnum() else "L"
