"""The network itself: neurons by layer, edges coloured by the weight's sign and as thick as its size.

Batch norm and dropout layers are named in small boxes above the gap where they sit (they change no
edge). With ``show="gradients"`` it is the backward pass instead: edges coloured by the sign of ∂L/∂w and as thick
as its size, neurons filled by their error signal δ = ∂L/∂z summed over the training set (which is ∂L/∂b).
Both use the one signed colour map of :mod:`..colours` (red positive, blue negative), so an edge and a weight
heatmap's cell of the same sign have the same colour; the title and legend say what is shown.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D
from matplotlib.transforms import Bbox

from ...record.names import input_names, param_name, unit_names
from ...record.probes import Needs, Probe
from .. import colours
from ..text import FrameText, box_overlap, size
from .base import Panel, axes_points, finite_range

SHOWS = ("weights", "gradients")
DECADES = 4  # a log width scale shows this many decades below the largest magnitude
MAX_LABELLED_UNITS = 12  # write the bias or δ next to the neurons up to this many units
MAX_NAMED_UNITS = 12  # name each neuron of a column (h3) up to this many units; a wider one gets one heading
MAX_ALL_EDGES = 10  # past this many units in either layer, a block of weights shows only its strongest edges:
STRONGEST_PER_UNIT = 2  # this many per unit of the wider layer (the rest are faint hairlines)
MAX_EDGE_NAMES = 8  # name the edges of a block of at most this many weights, when the names sit apart
MIN_NAME_GAP = 0.22  # the least vertical gap between two edge names, in units of the neuron spacing
FAINT = (0.55, 0.55, 0.55, 0.18)
EDGE_NAME_SIZE = "detail"  # the text size role of weight names on edges
MAX_SIGNAL_SAMPLES = 512  # a wide block's signal is measured on at most this many training samples  # a weight left out of a wide block: a hairline, no sign, no size


def column_positions(sizes: list[int]) -> list[list[tuple[float, float]]]:
    """Neuron centres, one column per layer at x = 0, 1, …, each column centred on y = 0."""
    return [[(float(k), (n - 1) / 2 - i) for i in range(n)] for k, n in enumerate(sizes)]


def edge_segments(pos: list[list[tuple[float, float]]]) -> list[list[tuple[float, float]]]:
    """One segment per weight, layer by layer, inputs outer and units inner (a weight matrix's ravel order)."""
    return [[pos[k][a], pos[k + 1][b]] for k in range(len(pos) - 1) for a in range(len(pos[k]))
            for b in range(len(pos[k + 1]))]


def points_per_unit(ax) -> float:
    """About how many points one unit of the diagram's height (the gap between two neurons) takes once the
    figure is laid out (judged from the axes' place before the layout, which shrinks it by about a fifth)."""
    lo, hi = ax.get_ylim()
    return 0.8 * axes_points(ax)[1] / max(hi - lo, 1e-9)


def marker_size(sizes: list[int], ax=None) -> float:
    """Scatter marker area for neurons: smaller when a column holds many, never too small to see its fill
    (about 9 points across for a column of 16); on ``ax`` (its limits set), at most four fifths of the gap
    between two neurons across, so a column squeezed into a short panel does not become one bar."""
    area = float(np.clip(1600 / max(sizes) ** 1.05, 80, 260))
    return area if ax is None else min(area, (0.8 * points_per_unit(ax)) ** 2)


def edge_blocks(sizes: list[int]) -> list[slice]:
    """Each layer's weights as a slice of :func:`edge_segments`' order."""
    out, start = [], 0
    for n_in, n_out in zip(sizes, sizes[1:]):
        out.append(slice(start, start + n_in * n_out))
        start += n_in * n_out
    return out


def wide_blocks(sizes: list[int]) -> list[tuple[int, slice, int]]:
    """(layer gap k, slice, how many to keep) of each block of weights between columns k and k+1 of which one
    has more than ``MAX_ALL_EDGES`` units, when it has more weights than that keeps."""
    out = []
    for k, (block, n_in, n_out) in enumerate(zip(edge_blocks(sizes), sizes, sizes[1:])):
        keep = STRONGEST_PER_UNIT * max(n_in, n_out)
        if max(n_in, n_out) > MAX_ALL_EDGES and n_in * n_out > keep:
            out.append((k, block, keep))
    return out


def strongest(values: np.ndarray, wide: list[tuple[int, slice, int]]) -> np.ndarray:
    """Which edges to draw: in each wide block the ``keep`` largest magnitudes of ``values`` (edges on the
    last axis, any rows before), every edge elsewhere."""
    shown = np.ones(values.shape, dtype=bool)
    for _, block, keep in wide:
        mags = np.abs(values[..., block])
        mags = np.where(np.isfinite(mags), mags, -1.0)
        cut = np.partition(mags, -keep, axis=-1)[..., -keep, None]
        shown[..., block] = mags >= cut
    return shown


def wide_note(sizes: list[int], what: str) -> str:
    """``16→16: the 32 largest |w| of 256 (the rest grey)`` for the wide blocks (empty when there is none)."""
    blocks = {(sizes[k], sizes[k + 1], keep) for k, _, keep in wide_blocks(sizes)}
    if not blocks:
        return ""
    if len(blocks) == 1:  # one kind of block (a deep net's 16→16 layers alike): said once
        (a, b, keep), = blocks
        many = sum(1 for _ in wide_blocks(sizes)) > 1
        return f"{'each ' if many else ''}{a}→{b}: the {keep} largest {what} of {a * b} drawn (the rest grey)"
    return f"wide layers: the largest {what} drawn (2 per unit; the rest grey)"


def edge_names(info, layers) -> list[str]:
    """Each edge's weight named as every view names it (``w5``, ``w2[3,1]``), in :func:`edge_segments`' order."""
    return [param_name(info, lay.weight, (j, i) if lay.transposed else (i, j))
            for lay in layers for i in range(lay.n_in) for j in range(lay.n_out)]


def names_fit(ax, names: list[str], ys: list[float], points: float) -> bool:
    """Whether one block's edge names, written at heights ``ys``, fit on the laid-out axes: each narrower than
    half the gap between two columns, and a line and a half apart from each other (text of ``points``)."""
    if not names:
        return False
    (x0, y0), (x1, y1) = ax.transData.transform([(0.0, 0.0), (1.0, 1.0)])
    column_px, unit_px = abs(x1 - x0), abs(y1 - y0)
    size_px = points * ax.figure.dpi / 72
    widest = max(0.62 * size_px * len(name) for name in names)  # about the font's average advance
    ys = np.sort(ys)
    gap = float(np.min(np.diff(ys))) * unit_px if len(ys) > 1 else np.inf
    return widest <= 0.5 * column_px and gap >= 1.5 * size_px


def edge_name_spots(pos: list[list[tuple[float, float]]]) -> dict[int, tuple[float, float]]:
    """Where to write each weight's name, by edge number, for the blocks whose names fit: at most
    ``MAX_EDGE_NAMES`` weights, at the point along the edges (the same fraction for the block) nearest their
    middle where the names sit at least ``MIN_NAME_GAP`` apart (none if nowhere from 0.3 to 0.7)."""
    spots: dict[int, tuple[float, float]] = {}
    segments = edge_segments(pos)
    for block in edge_blocks([len(p) for p in pos]):
        seg = np.array(segments[block])  # (edges, 2 ends, xy)
        if not 0 < len(seg) <= MAX_EDGE_NAMES:
            continue
        best = None
        for t in sorted(np.linspace(0.3, 0.7, 9), key=lambda t: (abs(t - 0.5), t)):  # mid-edge first
            ys = np.sort(seg[:, 0, 1] + t * (seg[:, 1, 1] - seg[:, 0, 1]))
            if len(ys) < 2 or np.min(np.diff(ys)) >= MIN_NAME_GAP:
                best = t
                break
        if best is None:
            continue
        for e, (a, b) in zip(range(block.start, block.stop), seg):
            spots[e] = (a[0] + best * (b[0] - a[0]), a[1] + best * (b[1] - a[1]))
    return spots


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
    weight_scale: float | None = None  # |w| drawn at max_width (default: the run's largest)

    def __post_init__(self) -> None:
        if self.show not in SHOWS:
            raise ValueError(f"NetworkDiagramPanel show must be one of {', '.join(SHOWS)}, got {self.show!r}")

    def needs(self, setup):
        if self.show != "gradients":
            # A wide block shows the weights carrying the most signal: each source unit's activations.
            sizes = [setup.layers[0].n_in] + [lay.n_out for lay in setup.layers] if setup.layers else []
            sources = sorted({k for k, _, _ in wide_blocks(sizes) if k > 0})
            x = setup.x[:MAX_SIGNAL_SAMPLES]
            return Needs({}, [Probe(f"diagram/act/{setup.layers[k - 1].name}", x, setup.layers[k - 1].name)
                              for k in sources])
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
        sources = ax.scatter(inputs[:, 0], inputs[:, 1], s=marker_size(sizes), facecolor="white",
                             edgecolor="black", zorder=2, linewidths=1.2)
        units = np.concatenate([np.array(p) for p in pos[1:]])
        info = history.info
        # Inputs, units and weights named as every view names them (visualizer.record.names).
        ax.set_xlim(-0.45, len(sizes) - 0.55)
        half = (max(sizes) - 1) / 2  # columns are centred on y = 0
        marks = self._other_layers(ax, history, layers, half, sizes)
        heading = any(n > MAX_NAMED_UNITS for n in sizes[1:-1])  # a wide column's name over it

        def place(reserve: float) -> None:
            """The height's limits, once the legend under the diagram (``reserve`` points of the panel's height)
            is known: room in points over the top neuron for the boxes of the other layers and the hidden
            units' names, whatever the data's height is worth in points."""
            # points left to the diagram once laid out: less the legend and the title (a line and a half)
            height = max(axes_points(ax)[1] - reserve - 1.5 * size("heading"), 1.0)
            low, top = -half - 0.6, half + 0.6 + 0.9 * heading
            if marks:  # the boxes sit over the top neuron's name (see _other_layers)
                share = min(0.7, (over_names(sizes) + marks * 1.25 * size("label") + 8) / height)
                top = max(top, (half - share * low) / (1 - share))
            if len(sizes) > 2:  # the hidden units' names over the top neuron stay inside the panel, under its title
                named_top = (max(sizes[1:-1]) - 1) / 2
                share = min(0.5, (np.sqrt(marker_size(sizes)) / 2 + 1 + 1.5 * size("detail")) / height)
                top = max(top, (named_top - share * low) / (1 - share))
            ax.set_ylim(low, top)

        ax.set_ylim(-half - 0.6, half + 0.6)
        ax.set_axis_off()
        wide = wide_blocks(sizes)
        if self.show == "gradients":
            update = self._gradients(ax, history, layers, units, sizes, edges, wide, place)
        else:
            update = self._weights(ax, history, layers, units, sizes, edges, wide, place)
        sources.set_sizes([marker_size(sizes, ax)])
        columns = self._label_column(ax, pos[0], self.input_names or input_names(info), "right") + \
            self._label_column(ax, pos[-1], self.output_names or info.output_names or
                               unit_names(layers)[layers[-1].name], "left")
        names, blocks = self._names(ax, info, layers, pos, sizes)
        shown: list = []
        measured: list = []  # once (``shown`` may stay empty: a network with no names to show)
        edge_points = size(EDGE_NAME_SIZE)  # read now, while the preset's style is in force

        def named(i):
            if not measured:  # the layout is final at the first frame: keep the edge names that fit in pixels
                measured.append(True)
                # bias/δ labels that fit at their widest, off the names of the units and the inputs and outputs
                labels_fit(ax, update.labels, update.widest, names + columns, units, sizes)
                fitting = [t for texts, words, ys in blocks if names_fit(ax, words, ys, edge_points) for t in texts]
                # and no edge name on a unit's name or on its bias or δ written under it, at any row of the run
                busy = [t.get_window_extent() for t in names if t.get_text()]
                for row in np.unique(np.linspace(0, len(history) - 1, 24).round().astype(int)):
                    busy += [a.get_window_extent() for a in update(int(row))
                             if isinstance(a, FrameText) and a.get_visible() and a.get_text()]
                shown.extend(names + [t for t in fitting
                                      if not any(box_overlap(t.get_window_extent(), b) > 1.0 for b in busy)])
            return [*update(i), *shown]  # last: a name is never under an edge or a neuron
        return named

    @staticmethod
    def _signal(history, layers, sizes, wide) -> tuple[np.ndarray | None, str]:
        """(rows × edges factors, what the largest are of): the wide blocks rank their weights by the signal
        they carry, |w| times the mean |activation| of the unit they come from on the training set, so units
        that fall silent lose their edges as the network trains; |w| alone when that was not recorded."""
        if not wide:
            return None, "|w|"
        factor = np.ones((len(history), sum(a * b for a, b in zip(sizes, sizes[1:]))))
        for k, block, _ in wide:
            if k == 0:
                if "data/x" not in history.static:
                    return None, "|w|"
                source = np.abs(history.static["data/x"][:MAX_SIGNAL_SAMPLES]).mean(axis=0)[None, :]
            else:
                key = f"diagram/act/{layers[k - 1].name}"
                if key not in history.extras:
                    return None, "|w|"
                source = np.abs(history.extras[key]).mean(axis=1)  # (rows, units)
            factor[:, block] = np.repeat(source, sizes[k + 1], axis=1)  # inputs outer, units inner
        return factor, "|w|·mean|a|"

    @staticmethod
    def _names(ax, info, layers, pos, sizes) -> tuple[list, list[tuple]]:
        """The hidden units' names above them (one heading over a column too tall to name each), and each
        weight's name on its edge where the names sit apart, by block of weights."""
        radius = np.sqrt(marker_size(sizes, ax)) / 2  # points
        units = unit_names(layers)
        texts = []
        for column, lay in zip(pos[1:-1], layers[:-1]):
            names = units[lay.name]
            # each unit named over its circle where a name and the bias under the next circle fit between
            # them, else one heading over the column
            roomy = points_per_unit(ax) >= 2 * radius + 2.6 * size("detail") + 4
            # (a deep net's column by its layer's name, h2 for h2.1 … h2.16; a single hidden layer's as h1–h16)
            heading = names[0].rpartition(".")[0] if "." in names[0] else f"{names[0]}–{names[-1]}"
            spots = list(zip(column, names)) if len(names) <= MAX_NAMED_UNITS and roomy else [(column[0], heading)]
            for (x, y), name in spots:
                texts.append(FrameText(x, y, name, transform=ax.transData, ha="center", va="bottom",
                                       fontsize=size("detail"), offset=(0, radius + 1), background="white",
                                       background_alpha=0.85, pad=0.1))
        weights = edge_names(info, layers)
        blocks = []  # (texts, names, heights) of each block of weights whose names sit apart
        spots = edge_name_spots(pos)
        for block in edge_blocks(sizes):
            mine = [(e, spots[e]) for e in range(block.start, block.stop) if e in spots]
            if mine:
                blocks.append(([FrameText(x, y, weights[e], transform=ax.transData, ha="center", va="center",
                                          fontsize=size(EDGE_NAME_SIZE), background="white", background_alpha=0.9,
                                          pad=0.12) for e, (x, y) in mine],
                               [weights[e] for e, _ in mine], [y for _, (_, y) in mine]))
        for text in texts + [t for block in blocks for t in block[0]]:
            ax.add_artist(text)
        return texts, blocks

    def _weights(self, ax, history, layers, units, sizes, edges, wide, place):
        weights = [history.layer_weight(lay) for lay in layers]  # (rows, inputs, outputs) each
        biases = [history.params[lay.bias] if lay.bias else None for lay in layers]
        scale = self.weight_scale or max(float(np.nanmax(np.abs(w))) for w in weights) or 1.0
        bias_values = [b for b in biases if b is not None]
        norm = colours.symmetric_norm(*bias_values)
        ax.set_title(self.title or "network")
        handles = [Line2D([], [], color=colours.POSITIVE, lw=2, label="weight > 0"),
                   Line2D([], [], color=colours.NEGATIVE, lw=2, label="weight < 0")]
        note = f"widths: |w| up to {value_text(scale)}"
        if bias_values:
            handles.append(_fill_handle("fill: bias"))
            note += f"; fill: bias, {scale_note(norm)}"
        no_bias = [np.full(w.shape[2], np.nan) for w in weights]
        info = history.info
        signal, what = self._signal(history, layers, sizes, wide)
        place(self._legend(ax, handles, note, wide_note(sizes, what)))
        # Fill from the bias through the signed colour map; units without a bias are NaN, drawn white.
        neurons = ax.scatter(units[:, 0], units[:, 1], s=marker_size(sizes, ax), c=np.zeros(len(units)),
                             cmap=colours.signed_cmap(), norm=norm, edgecolor="black",
                             zorder=2, linewidths=1.2, animated=True, plotnonfinite=True)
        labels = self._unit_labels(ax, units, sizes) if bias_values and len(units) <= MAX_LABELLED_UNITS else []
        bias_names = [param_name(info, lay.bias, (u,)) if lay.bias else "" for lay in layers for u in range(lay.n_out)]

        def update(i):
            w = np.concatenate([w[i].ravel() for w in weights])
            rgba = colours.sign_colors(w)  # RGBA rows
            widths = 0.3 + self.max_width * np.minimum(np.abs(w) / scale, 1.0)  # a shared scale: at most full
            if wide:
                faint = ~strongest(w if signal is None else np.abs(w) * signal[i], wide)
                rgba[faint], widths[faint] = FAINT, 0.3
            edges.set_color(rgba)
            edges.set_linewidth(widths)
            b = np.concatenate([b[i] if b is not None else nb for b, nb in zip(biases, no_bias)])
            neurons.set_array(b)
            for label, name, v in zip(labels, bias_names, b):
                label.set_text("" if np.isnan(v) else f"{name} {value_text(float(v))}")
            return [edges, neurons, *labels]
        update.labels = labels  # what labels_fit measures: each label at its widest over the run
        every = np.concatenate([b if b is not None else np.full((len(history), nb.size), np.nan)
                                for b, nb in zip(biases, no_bias)], axis=1).T if labels else []
        update.widest = [max((f"{name} {value_text(float(v))}" for v in values if np.isfinite(v)), key=len, default="")
                         for name, values in zip(bias_names, every)]
        return update

    def _gradients(self, ax, history, layers, units, sizes, edges, wide, place):
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
        if wide:
            faint = ~strongest(g_all, wide)
            edge_colors[faint], edge_widths[faint] = FAINT, 0.3
        # Every row's fill colours at once: no colour mapping per frame.
        fills = colours.signed_cmap()(norm(np.concatenate(deltas, axis=1)))  # (rows, units, 4)
        loss = short_loss(history.info.loss_label)
        # A short title (a long one wraps at lecture size and crowds the names over the top neuron); δ is
        # defined in the note under the diagram.
        ax.set_title(self.title or "the backward pass")
        fill = f"fill: Σδ = ∂{loss}/∂b" if all(lay.bias for lay in layers) else "fill: Σδ over the samples"
        handles = [Line2D([], [], color=colours.POSITIVE, lw=2, label=f"∂{loss}/∂w > 0"),
                   Line2D([], [], color=colours.NEGATIVE, lw=2, label=f"∂{loss}/∂w < 0"),
                   _fill_handle(fill)]
        note = f"δ = ∂{loss}/∂z; " + ("widths: log scale" if log_widths else "widths: |∂w|") + \
            f"; fill: {scale_note(norm)}"
        place(self._legend(ax, handles, note, wide_note(sizes, f"|∂{loss}/∂w|")))
        neurons = ax.scatter(units[:, 0], units[:, 1], s=marker_size(sizes, ax), facecolor=fills[0], edgecolor="black",
                             zorder=2, linewidths=1.2, animated=True)
        labels = self._unit_labels(ax, units, sizes) if len(units) <= MAX_LABELLED_UNITS else []

        def update(i):
            edges.set_color(edge_colors[i])
            edges.set_linewidth(edge_widths[i])
            d = np.concatenate([d[i] for d in deltas])
            neurons.set_facecolor(fills[i])
            for label, v in zip(labels, d):
                label.set_text(f"δ {value_text(float(v))}")
            return [edges, neurons, *labels]
        update.labels = labels
        update.widest = [max((f"δ {value_text(float(v))}" for v in values), key=len, default="")
                         for values in np.concatenate(deltas, axis=1).T] if labels else []
        return update

    @staticmethod
    def _unit_labels(ax, units: np.ndarray, sizes: list[int]) -> list:
        """An empty label under each unit's circle, for its bias or δ."""
        radius = np.sqrt(marker_size(sizes, ax)) / 2  # points
        labels = []
        for x, y in units:
            label = FrameText(x, y, "", transform=ax.transData, ha="center", va="top", fontsize=size("detail"),
                              offset=(0, -radius - 2), background="white", background_alpha=0.8, pad=0.1)
            ax.add_artist(label)
            labels.append(label)
        return labels

    @staticmethod
    def _legend(ax, handles, note: str = "", wide: str = "") -> float:
        """The legend under the diagram; returns about how many points of the panel's height it takes."""
        # As many entries to a row, and as many of the note's parts to a line, as fit the panel's width (judged
        # before the layout): a legend wider than the panel squeezes the diagram, a tall one squeezes it too.
        room = axes_points(ax)[0]
        chars = max(int(0.9 * room / (0.58 * size("detail"))), 20)
        lines: list[str] = []
        for part in note.split("; ") if note else []:
            if lines and len(lines[-1]) + 2 + len(part) <= chars:
                lines[-1] += "; " + part
            else:
                lines.append(part)
        lines += textwrap.wrap(wide, chars) if wide else []
        note = "\n".join(lines)
        widths = sorted((0.6 * size("detail") * len(h.get_label()) + 3.4 * size("detail") for h in handles),
                        reverse=True)
        ncol = next((n for n in range(len(handles), 1, -1) if sum(widths[:n]) <= 0.9 * room), 1)
        legend = ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                           ncol=ncol, frameon=False, fontsize=size("detail"),
                           handlelength=1.2, columnspacing=1.0, title=note or None,
                           title_fontsize=size("detail"))
        legend.set_in_layout(True)
        rows = -(-len(handles) // ncol)
        return (1.2 * len(lines) + 1.5 * rows + 1.0) * size("detail")

    @staticmethod
    def _other_layers(ax, history, layers, half: float, sizes: list[int]) -> int:
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
        # The names in full where they fit between the columns, else short and smaller (BN over its activation,
        # drop over its rate), so that neighbouring boxes do not overlap.
        points = size("label")
        room = axes_points(ax)[0] / (len(layers) + 1)  # points per column
        short = any(0.6 * points * len(n) + 8 > room for names in gaps.values() for n in names)
        if short:
            gaps = {x: [n.replace("batch norm", "BN").replace(" → ", "\n").replace("dropout p=", "drop\n")
                        for n in names] for x, names in gaps.items()}
        for x, names in gaps.items():  # over the row of the hidden units' names, whatever a unit is worth in points
            ax.annotate("\n".join(names), (x, half), xytext=(0, over_names(sizes)), textcoords="offset points",
                        ha="center", va="bottom", fontsize=size("detail") if short else size("label"), zorder=3,
                        linespacing=1.1, bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="0.5",
                                                   linewidth=0.6))
        return max((sum(1 + name.count("\n") for name in n) for n in gaps.values()), default=0)

    @staticmethod
    def _label_column(ax, positions, names, side: str) -> list:
        offset = -0.18 if side == "right" else 0.18
        spots = list(zip(positions, names))
        if len(spots) > 1 and points_per_unit(ax) < 1.3 * size("label"):  # too close to stand apart: one line
            (x, _), ys = positions[0], [y for _, y in positions]
            spots = [((x, (min(ys) + max(ys)) / 2), ", ".join(names[:len(positions)]))]
        return [ax.text(x + offset, y, name, ha=side, va="center", fontsize=size("label")) for (x, y), name in spots]


def labels_fit(ax, labels: list, widest: list[str], names: list, units=(), sizes=()) -> None:
    """Hide the value labels under the neurons (the bias or δ: the fill and the legend's scale still say it)
    when, at their widest over the run, one would run off the frame or onto another label, a name or a
    neuron of ``units`` (their centres, drawn at :func:`marker_size` of ``sizes``); call once the layout is
    final."""
    if not labels:
        return
    figure = ax.figure.bbox
    boxes = []
    for label, text in zip(labels, widest):
        label.set_text(text)
        boxes.append(label.get_window_extent())
        label.set_text("")
    boxes += [name.get_window_extent() for name in names]
    if len(units):
        radius = np.sqrt(marker_size(list(sizes), ax)) / 2 * ax.figure.dpi / 72 - 1  # pixels, less a pixel
        boxes += [Bbox.from_extents(x - radius, y - radius, x + radius, y + radius)
                  for x, y in ax.transData.transform(np.asarray(units))]
    fits = all(b.x0 >= figure.x0 and b.x1 <= figure.x1 and b.y0 >= figure.y0 for b in boxes[:len(labels)])
    for k, a in enumerate(boxes[:len(labels)]):
        for b in boxes[k + 1:]:
            if box_overlap(a, b) > 0:
                fits = False
    for label in labels:
        label.set_visible(fits)


def over_names(sizes: list[int]) -> float:
    """Points from the top neuron's centre to above the names written over it (the most a circle's radius
    can be, a gap, a line of detail text)."""
    return np.sqrt(marker_size(sizes)) / 2 + 3 + 1.6 * size("detail")


def _fill_handle(label: str) -> Line2D:
    """A legend entry for a neuron's fill: half red, half blue (the signed map's two ends)."""
    return Line2D([], [], marker="o", linestyle="none", markersize=8, markerfacecolor=colours.POSITIVE,
                  markerfacecoloralt=colours.NEGATIVE, fillstyle="left", markeredgecolor="black", label=label)


def short_loss(label: str) -> str:
    """The loss's label if it is one word (SSR, MSE), else L: ∂½·SSR/∂w does not read."""
    return label if label and label.isalnum() else "L"
