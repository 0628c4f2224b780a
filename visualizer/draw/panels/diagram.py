"""The network itself: neurons by layer, edges coloured by the weight's sign and as thick as its size.

Batch norm and dropout layers are named in small boxes above the gap where they sit (they change no
edge). With ``show="gradients"`` it is the backward pass instead: edges coloured by the sign of ∂L/∂w and as thick
as its size, neurons filled by their error signal δ = ∂L/∂z summed over the training set (which is ∂L/∂b).
Both use the one signed colour map of :mod:`..colours` (red positive, blue negative), so an edge and a weight
heatmap's cell of the same sign have the same colour; the title and legend say what is shown. A column of more
than ten units is drawn as a summary (:class:`Columns`): the units that changed most, numbered as every view
numbers them, and a "⋮ N more" mark.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D
from matplotlib.transforms import Bbox, blended_transform_factory, offset_copy

from ...record.names import input_names, param_name, unit_names
from ...record.probes import Needs, Probe
from .. import colours
from ..text import FrameText, box_overlap, size
from .base import Panel, axes_points, finite_range

SHOWS = ("weights", "gradients")
DECADES = 4  # a log width scale shows this many decades below the largest magnitude
MAX_LABELLED_UNITS = 12  # write the bias or δ next to the neurons up to this many units
MAX_NAMED_UNITS = 12  # name each neuron of a column (h3) up to this many units; a wider one gets one heading
MAX_ALL_EDGES = 10  # a column of more units is drawn as a summary: MAX_SHOWN_UNITS of them and a "⋮ N more" mark
MAX_SHOWN_UNITS = 8  # at most; fewer where a short panel gives a numbered neuron too little room
MAX_EDGE_NAMES = 8  # name the edges of a block of at most this many weights, when the names sit apart
MIN_NAME_GAP = 0.22  # the least vertical gap between two edge names, in units of the neuron spacing
EDGE_NAME_SIZE = "detail"  # the text size role of weight names on edges


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


def marker_size(sizes: list[int], ax=None, numbered: bool = False) -> float:
    """Scatter marker area for neurons: smaller when a column holds many, never too small to see its fill
    (about 9 points across for a column of 16), large enough to hold a two-digit number when ``numbered`` (a
    summary's neurons carry their unit's number inside); on ``ax`` (its limits set), at most four fifths of the
    gap between two neurons across, so a column squeezed into a short panel does not become one bar."""
    area = float(np.clip(1600 / max(sizes) ** 1.05, 80, 260))
    if numbered:
        area = max(area, (2.3 * size("detail")) ** 2)
    return area if ax is None else min(area, (0.8 * points_per_unit(ax)) ** 2)


def _crowded_headings_joined(names: list) -> None:
    """Columns' headings (h1, h2, …) that touch their neighbours in pixels become one heading over the columns,
    ``h1–h6``, centred on them."""
    headings = [t for t in names if getattr(t, "heading", None) and t.get_text()]
    boxes = [t.get_window_extent() for t in headings]
    if len(headings) < 2 or not any(box_overlap(a, b) > 0 for a, b in zip(boxes, boxes[1:])):
        return
    first, last = headings[0], headings[-1]
    (x0, y), (x1, _) = first.get_position(), last.get_position()
    first.set_text(f"{first.heading}–{last.heading}")
    first.set_position((x0 + x1) / 2, y)
    for t in headings[1:]:
        t.set_text("")


def _numbers_overflow(numbers: list, radius: float) -> bool:
    """Whether a unit's number is wider than its circle (``radius`` in pixels) or touches another's."""
    boxes = [number.get_window_extent() for number, _ in numbers]
    return any(b.width > 2 * radius for b in boxes) or \
        any(box_overlap(a, b) > 0 for k, a in enumerate(boxes) for b in boxes[k + 1:])


def edge_blocks(sizes: list[int]) -> list[slice]:
    """Each layer's weights as a slice of :func:`edge_segments`' order."""
    out, start = [], 0
    for n_in, n_out in zip(sizes, sizes[1:]):
        out.append(slice(start, start + n_in * n_out))
        start += n_in * n_out
    return out


@dataclass(frozen=True)
class Columns:
    """Which units a diagram draws. A column of at most ``MAX_ALL_EDGES`` units is drawn whole; a wider one
    shows ``MAX_SHOWN_UNITS`` of them, those whose weights (in and out) and bias changed most over the run,
    in their order, with a "⋮ N more" mark in the middle of the column where the rest would be. ``shown``
    holds each column's true unit indices (so a shown unit keeps its name, h1.37, as in every view);
    ``pos`` the shown units' centres; ``gaps`` (x, y, how many hidden) of each mark."""

    sizes: list[int]
    shown: list[np.ndarray]
    pos: list[list[tuple[float, float]]]
    gaps: list[tuple[float, float, int]]

    @property
    def slots(self) -> list[int]:
        """Each column's height in neuron spacings (a reduced one's mark takes a place)."""
        return [len(idx) + (len(idx) < n) for idx, n in zip(self.shown, self.sizes)]

    @property
    def reduced(self) -> bool:
        return bool(self.gaps)

    def block(self, k: int, values: np.ndarray) -> np.ndarray:
        """The shown part of a (rows, inputs, outputs) array between columns k and k + 1."""
        if not self.reduced:
            return values
        return values[:, self.shown[k]][:, :, self.shown[k + 1]]

    def units(self, k: int, values: np.ndarray) -> np.ndarray:
        """The shown part of a (rows, units) array of column k."""
        return values[:, self.shown[k]] if self.reduced else values

    def note(self) -> str:
        """``8 of 64 units a column drawn, those that changed most`` (empty when every unit is drawn)."""
        cut = [(k, len(idx), n) for k, (idx, n) in enumerate(zip(self.shown, self.sizes)) if len(idx) < n]
        if not cut:
            return ""
        counts = {(k_shown, n) for _, k_shown, n in cut}
        if len(counts) == 1:
            (k_shown, n), = counts
            return f"{k_shown} of {n} units{' a column' if len(cut) > 1 else ''} drawn, those that changed most"
        return "wide columns: the units that changed most drawn"


def units_that_fit(ax, unit: float, taken: float = 0.0, share: float = 0.8) -> int:
    """How many units of a wide column a diagram shows on ``ax``: at most ``MAX_SHOWN_UNITS``, fewer (not under
    4) where ``share`` of the panel's height (about what the layout leaves it), less ``taken`` points, gives
    each unit less than ``unit`` points (one unit's room spared)."""
    return int(np.clip((share * axes_points(ax)[1] - taken) // unit - 1, 4, MAX_SHOWN_UNITS))


def more_marks(ax, view: Columns, role: str = "detail", shorten: bool = True) -> list:
    """``⋮ 56 more`` where a wide column's hidden units would be, over the edges that pass it (drawn each frame
    with the names, after the edges), in text size ``role``; ``shorten``: ``⋮ +56`` or ``⋮`` alone between
    close columns (read once the axes' width limits are set; the legend says how many a column draws)."""
    words = "{} more"
    if shorten:
        lo, hi = ax.get_xlim()
        spacing = 0.8 * axes_points(ax)[0] / max(hi - lo, 1e-9)  # points between two columns once laid out, about
        width = 0.62 * size(role)  # points per character, about
        words = "{} more" if width * 9 + 10 <= spacing else "+{}" if width * 5 + 10 <= spacing else ""
    marks = [FrameText(x, y, f"⋮ {words.format(hidden)}".strip(), transform=ax.transData, ha="center",
                       va="center", fontsize=size(role), color=colours.MUTED, background="background",
                       background_alpha=0.9, pad=0.1) for x, y, hidden in view.gaps]
    for mark in marks:
        ax.add_artist(mark)
    return marks


def columns(history, most: int = MAX_SHOWN_UNITS, whole: int = MAX_ALL_EDGES) -> Columns:
    """The :class:`Columns` a diagram of ``history`` draws: every unit of a column of at most ``whole``, and
    of a wider one the ``most`` units that moved most, ranked by how far their incoming and outgoing weights
    and their bias moved from the first recorded row to the last (ties: the lower index). Every diagram of the
    run (the weights, the backward pass, the explain figure) ranks alike, so one with room for fewer units
    shows the first of the same ones."""
    layers = history.info.layers
    sizes = [layers[0].n_in] + [lay.n_out for lay in layers]
    if max(sizes) <= whole:
        return Columns(sizes, [np.arange(n) for n in sizes], column_positions(sizes), [])
    moved_in, moved_out = [np.zeros(n) for n in sizes], [np.zeros(n) for n in sizes]
    for k, lay in enumerate(layers):
        w = np.nan_to_num(history.layer_weight(lay)[[0, -1]].astype(float))  # first and last rows only
        change = (w[1] - w[0]) ** 2
        moved_out[k] += change.sum(axis=1)
        moved_in[k + 1] += change.sum(axis=0)
        if lay.bias is not None and lay.bias in history.params:
            b = np.nan_to_num(history.params[lay.bias][[0, -1]].astype(float))
            moved_in[k + 1] += (b[1] - b[0]) ** 2
    shown, pos, gaps = [], [], []
    for x, n in enumerate(sizes):
        if n <= whole:
            shown.append(np.arange(n))
            pos.append([(float(x), (n - 1) / 2 - i) for i in range(n)])
            continue
        keep = np.sort(np.argsort(-(moved_in[x] + moved_out[x]), kind="stable")[:most])
        gap = (len(keep) + 1) // 2  # the mark's place: after the first half of the shown units
        ys = [len(keep) / 2 - i for i in range(len(keep) + 1)]
        shown.append(keep)
        pos.append([(float(x), y) for i, y in enumerate(ys) if i != gap])
        gaps.append((float(x), ys[gap], n - len(keep)))
    return Columns(sizes, shown, pos, gaps)


def edge_names(info, layers, shown: list[np.ndarray] | None = None) -> list[str]:
    """Each edge's weight named as every view names it (``w5``, ``w2[3,1]``), in :func:`edge_segments`' order;
    with ``shown`` (each column's drawn units, :class:`Columns`) the edges among those only."""
    if shown is None:
        shown = [np.arange(layers[0].n_in)] + [np.arange(lay.n_out) for lay in layers]
    return [param_name(info, lay.weight, (int(j), int(i)) if lay.transposed else (int(i), int(j)))
            for lay, ins, outs in zip(layers, shown, shown[1:]) for i in ins for j in outs]


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
            return Needs({}, [])
        return Needs({}, [Probe(f"delta/{lay.name}", setup.x, lay.name, quantity="delta", reduce="sum")
                          for lay in setup.layers])

    def draw(self, ax, history):
        layers = history.info.layers
        if not layers:
            raise ValueError("NetworkDiagramPanel needs the model's layer structure in the history (the "
                             "recorder gets it from a model adapter)")
        # A numbered neuron about two and a half lines of text, under the title, the names over the top neuron
        # and the boxes of other layers over them.
        boxes = bool(history.info.other_layers)
        view = columns(history, units_that_fit(ax, 2.6 * size("detail"), 1.5 * size("heading") + 3 * size("detail")
                                               + 2.5 * size("label") * boxes))
        pos, sizes = view.pos, view.slots  # what is drawn: a wide column's shown units and its mark's place
        numbered = view.reduced  # a summary's neurons hold their numbers
        edges = LineCollection(edge_segments(pos), animated=True, capstyle="round", zorder=1)
        ax.add_collection(edges)
        # Neurons: inputs have no bias (drawn white, static); every layer's units are one animated scatter.
        inputs = np.array(pos[0])
        sources = ax.scatter(inputs[:, 0], inputs[:, 1], s=marker_size(sizes, numbered=numbered),
                             facecolor="white", edgecolor=colours.FOREGROUND, zorder=2, linewidths=1.2)
        units = np.concatenate([np.array(p) for p in pos[1:]])
        info = history.info
        # Inputs, units and weights named as every view names them (visualizer.record.names).
        ax.set_xlim(-0.45, len(sizes) - 0.55)
        half = (max(sizes) - 1) / 2  # columns are centred on y = 0
        marks = self._other_layers(ax, history, layers, half, sizes, numbered)
        heading = any(n > MAX_NAMED_UNITS for n in sizes[1:-1])  # a wide column's name over it

        def place(reserve: float) -> None:
            """The height's limits, once the legend under the diagram (``reserve`` points of the panel's height)
            is known: room in points over the top neuron for the boxes of the other layers and the hidden
            units' names, whatever the data's height is worth in points."""
            # points left to the diagram once laid out: less the legend and the title (a line and a half)
            height = max(axes_points(ax)[1] - reserve - 1.5 * size("heading"), 1.0)
            low, top = -half - 0.6, half + 0.6 + 0.9 * heading
            if marks:  # the boxes sit over the top neuron's name (see _other_layers)
                share = min(0.7, (over_names(sizes, numbered) + marks * 1.25 * size("label") + 8) / height)
                top = max(top, (half - share * low) / (1 - share))
            if len(sizes) > 2:  # the hidden units' names over the top neuron stay inside the panel, under its title
                named_top = (max(sizes[1:-1]) - 1) / 2
                radius = np.sqrt(marker_size(sizes, numbered=numbered)) / 2
                share = min(0.5, (radius + 1 + 1.5 * size("detail")) / height)
                top = max(top, (named_top - share * low) / (1 - share))
            ax.set_ylim(low, top)

        ax.set_ylim(-half - 0.6, half + 0.6)
        ax.set_axis_off()
        generated = [input_names(info), info.output_names or unit_names(layers)[layers[-1].name]]
        # names given for fewer inputs or outputs than the network has: the rest keep their generated names
        ends = [list(given or ())[:len(own)] + list(own[len(given or ()):])
                for given, own in zip((self.input_names, self.output_names), generated)]
        # points the outputs' names take right of their neurons (a summary's legend beside the diagram clears them)
        beside = np.sqrt(marker_size(sizes, numbered=numbered)) / 2 + 8 + 0.62 * size("label") * max(
            (len(ends[1][i]) for i in view.shown[-1]), default=0)
        if self.show == "gradients":
            update = self._gradients(ax, history, layers, units, view, edges, place, beside)
        else:
            update = self._weights(ax, history, layers, units, view, edges, place, beside)
        sources.set_sizes([marker_size(sizes, ax, numbered)])
        clear = np.sqrt(marker_size(sizes, ax, numbered)) / 2 if view.reduced else 0.0  # a summary's large neurons
        end_names = self._label_column(ax, pos[0], [ends[0][i] for i in view.shown[0]], "right", clear) + \
            self._label_column(ax, pos[-1], [ends[1][i] for i in view.shown[-1]], "left", clear)
        names, blocks, numbers = self._names(ax, info, layers, view)
        names += more_marks(ax, view)  # once the legend has set the width's limits
        shown: list = []
        measured: list = []  # once (``shown`` may stay empty: a network with no names to show)
        number_colours: dict[int, list[str]] = {}  # row → each shown unit's number colour
        edge_points = size(EDGE_NAME_SIZE)  # read now, while the preset's style is in force

        def named(i):
            if not measured:  # the layout is final at the first frame: keep the edge names that fit in pixels
                measured.append(True)
                # bias/δ labels that fit at their widest, off the names of the units and the inputs and outputs
                widest = labels_fit(ax, update.labels, update.widest, names + end_names, units, sizes)
                fitting = [t for texts, words, ys in blocks if names_fit(ax, words, ys, edge_points) for t in texts]
                # and no edge name on a unit's name or on its bias or δ written under it (at its widest over the
                # run), nor on other text at any row of the run
                busy = [t.get_window_extent() for t in names if t.get_text()] + widest
                for row in np.unique(np.linspace(0, len(history) - 1, 24).round().astype(int)):
                    busy += [a.get_window_extent() for a in update(int(row))
                             if isinstance(a, FrameText) and a.get_visible() and a.get_text()]
                shown.extend(names + [t for t in fitting
                                      if not any(box_overlap(t.get_window_extent(), b) > 1.0 for b in busy)])
                _crowded_headings_joined(names)
                radius = np.sqrt(marker_size(sizes, ax, numbered)) / 2 * ax.figure.dpi / 72  # pixels
                if numbers and _numbers_overflow(numbers, radius):
                    numbers.clear()  # a circle too small for its number: the legend says which units are drawn
            if numbers:  # a unit's number in its circle, black or white against the circle's fill (once a row)
                if i not in number_colours:
                    fills = update.fills(i)
                    number_colours[i] = [colours.text_on(fills[u][:3]) for _, u in numbers]
                for (number, _), colour in zip(numbers, number_colours[i]):
                    number.set_color(colour)
            return [*update(i), *shown, *(number for number, _ in numbers)]  # a name never under an edge
        return named

    @staticmethod
    def _names(ax, info, layers, view: Columns) -> tuple[list, list[tuple]]:
        """The hidden units' names above them (one heading over a column too tall to name each), and each
        weight's name on its edge where the names sit apart, by block of weights."""
        pos, sizes = view.pos, view.slots
        radius = np.sqrt(marker_size(sizes, ax, view.reduced)) / 2  # points
        units = unit_names(layers)
        texts, numbers = [], []
        first = 0  # the column's first unit in the units' scatter (every column after the inputs, in order)
        for column, lay, shown in zip(pos[1:-1], layers[:-1], view.shown[1:-1]):
            every = units[lay.name]
            names = [every[u] for u in shown]
            # each unit named over its circle where a name and the bias under the next circle fit between
            # them, else one heading over the column
            roomy = points_per_unit(ax) >= 2 * radius + 2.6 * size("detail") + 4
            # (a deep net's column by its layer's name, h2 for h2.1 … h2.16; a single hidden layer's as h1–h16)
            heading = every[0].rpartition(".")[0] if "." in every[0] else f"{every[0]}–{every[-1]}"
            if len(shown) < len(every):  # a summary: the heading over it, each shown unit's number in its circle
                spots = [(column[0], heading)]
                for (x, y), name, u in zip(column, names, range(first, first + len(column))):
                    numbers.append((FrameText(x, y, name.rpartition(".")[2] if "." in name else name.lstrip("h"),
                                              transform=ax.transData, ha="center", va="center",
                                              fontsize=size("detail")), u))
            else:
                spots = list(zip(column, names)) if len(names) <= MAX_NAMED_UNITS and roomy else \
                    [(column[0], heading)]
            first += len(column)
            lift = max(radius, 0.75 * size("detail")) if len(shown) < len(every) else radius  # clear of a number
            for (x, y), name in spots:
                texts.append(FrameText(x, y, name, transform=ax.transData, ha="center", va="bottom",
                                       fontsize=size("detail"), offset=(0, lift + 1), background="background",
                                       background_alpha=0.85, pad=0.1))
                if len(spots) == 1 and name == heading:
                    texts[-1].heading = name
        for number, _ in numbers:
            ax.add_artist(number)
        weights = edge_names(info, layers, view.shown)
        blocks = []  # (texts, names, heights) of each block of weights whose names sit apart
        spots = edge_name_spots(pos)
        for block in edge_blocks([len(column) for column in pos]):
            mine = [(e, spots[e]) for e in range(block.start, block.stop) if e in spots]
            if mine:
                blocks.append(([FrameText(x, y, weights[e], transform=ax.transData, ha="center", va="center",
                                          fontsize=size(EDGE_NAME_SIZE), background="background", background_alpha=0.9,
                                          pad=0.12) for e, (x, y) in mine],
                               [weights[e] for e, _ in mine], [y for _, (_, y) in mine]))
        for text in texts + [t for block in blocks for t in block[0]]:
            ax.add_artist(text)
        return texts, blocks, numbers

    def _weights(self, ax, history, layers, units, view, edges, place, beside):
        weights = [history.layer_weight(lay) for lay in layers]  # (rows, inputs, outputs) each
        biases = [history.params[lay.bias] if lay.bias else None for lay in layers]
        scale = self.weight_scale or max(float(np.nanmax(np.abs(w))) for w in weights) or 1.0
        bias_values = [b for b in biases if b is not None]
        norm = colours.symmetric_norm(*bias_values)  # scales from every unit, shown or not
        weights = [view.block(k, w) for k, w in enumerate(weights)]
        biases = [view.units(k + 1, b) if b is not None else None for k, b in enumerate(biases)]
        sizes = view.slots
        ax.set_title(self.title or "network")
        handles = [Line2D([], [], color=colours.POSITIVE, lw=2, label="weight > 0"),
                   Line2D([], [], color=colours.NEGATIVE, lw=2, label="weight < 0")]
        note = f"widths: |w| up to {value_text(scale)}"
        if bias_values:
            handles.append(_fill_handle("fill: bias"))
            note += f"; fill: bias, {scale_note(norm)}"
        no_bias = [np.full(w.shape[2], np.nan) for w in weights]
        info = history.info
        place(self._legend(ax, handles, note, view.note(), beside))
        # Fill from the bias through the signed colour map; units without a bias are NaN, drawn white.
        neurons = ax.scatter(units[:, 0], units[:, 1], s=marker_size(sizes, ax, view.reduced), c=np.zeros(len(units)),
                             cmap=colours.signed_cmap(), norm=norm, edgecolor=colours.FOREGROUND,
                             zorder=2, linewidths=1.2, animated=True, plotnonfinite=True)
        labels = self._unit_labels(ax, units, sizes) if bias_values and len(units) <= MAX_LABELLED_UNITS and \
            not view.reduced else []  # a summary's neurons hold their numbers; the fill and legend say the rest
        bias_names = [param_name(info, lay.bias, (int(u),)) if lay.bias else "" for lay, shown in
                      zip(layers, view.shown[1:]) for u in shown]

        def update(i):
            w = np.concatenate([w[i].ravel() for w in weights])
            rgba = colours.sign_colors(w)  # RGBA rows
            widths = 0.3 + self.max_width * np.minimum(np.abs(w) / scale, 1.0)  # a shared scale: at most full
            edges.set_color(rgba)
            edges.set_linewidth(widths)
            b = np.concatenate([b[i] if b is not None else nb for b, nb in zip(biases, no_bias)])
            neurons.set_array(b)
            for label, name, v in zip(labels, bias_names, b):
                label.set_text("" if np.isnan(v) else f"{name} {value_text(float(v))}")
            return [edges, neurons, *labels]
        update.labels = labels  # what labels_fit measures: each label at its widest over the run
        cmap = colours.signed_cmap()

        def fills(i):  # each unit's fill at row i (white where it has no bias)
            b = np.concatenate([b[i] if b is not None else nb for b, nb in zip(biases, no_bias)])
            rgba = cmap(norm(np.nan_to_num(b)))
            rgba[np.isnan(b)] = (1.0, 1.0, 1.0, 1.0)
            return rgba
        update.fills = fills
        every = np.concatenate([b if b is not None else np.full((len(history), nb.size), np.nan)
                                for b, nb in zip(biases, no_bias)], axis=1).T if labels else []
        update.widest = [max((f"{name} {value_text(float(v))}" for v in values if np.isfinite(v)), key=len, default="")
                         for name, values in zip(bias_names, every)]
        return update

    def _gradients(self, ax, history, layers, units, view, edges, place, beside):
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
        norm = signed_norm(*deltas)  # scales from every unit, shown or not
        grads = [view.block(k, g) for k, g in enumerate(grads)]
        deltas = [view.units(k + 1, d) for k, d in enumerate(deltas)]
        sizes = view.slots
        # Every row's edge colours and widths at once (small networks: a few hundred edges at most per row).
        g_all = np.concatenate([g.reshape(len(g), -1) for g in grads], axis=1)  # (rows, edges)
        edge_colors = colours.sign_colors(g_all)
        edge_widths = 0.3 + self.max_width * width_of(g_all)
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
        place(self._legend(ax, handles, note, view.note(), beside))
        neurons = ax.scatter(units[:, 0], units[:, 1], s=marker_size(sizes, ax, view.reduced), facecolor=fills[0],
                             edgecolor=colours.FOREGROUND, zorder=2, linewidths=1.2, animated=True)
        labels = self._unit_labels(ax, units, sizes) if len(units) <= MAX_LABELLED_UNITS and not view.reduced else []

        def update(i):
            edges.set_color(edge_colors[i])
            edges.set_linewidth(edge_widths[i])
            d = np.concatenate([d[i] for d in deltas])
            neurons.set_facecolor(fills[i])
            for label, v in zip(labels, d):
                label.set_text(f"δ {value_text(float(v))}")
            return [edges, neurons, *labels]
        update.labels = labels
        update.fills = lambda i: fills[i]
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
                              offset=(0, -radius - 2), background="background", background_alpha=0.8, pad=0.1)
            ax.add_artist(label)
            labels.append(label)
        return labels

    @staticmethod
    def _legend(ax, handles, note: str = "", wide: str = "", beside: float = 0.0) -> float:
        """The legend under the diagram (beside a summary's, ``wide`` its note, in a wide panel); returns about
        how many points of the panel's height it takes."""
        # As many entries to a row, and as many of the note's parts to a line, as fit the panel's width (judged
        # before the layout): a legend wider than the panel squeezes the diagram, a tall one squeezes it too.
        room, tall = axes_points(ax)
        parts = [*(note.split("; ") if note else []), *([wide] if wide else [])]
        chars = max(int(0.9 * room / (0.58 * size("detail"))), 20)
        lines: list[str] = []
        for part in note.split("; ") if note else []:
            if lines and len(lines[-1]) + 2 + len(part) <= chars:
                lines[-1] += "; " + part
            else:
                lines.append(part)
        if wide and lines and len(lines[-1]) + 2 + len(wide) <= chars:  # a summary's note: on the last line if
            lines[-1] += "; " + wide                                     # it fits, else on lines of its own
        else:
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
        reserve = (1.2 * len(lines) + 1.5 * rows + 1.0) * size("detail")
        if wide and reserve > 0.25 * tall and room > tall:  # a summary's legend would squeeze it: beside it instead,
            legend.remove()                                   # a part of the note a line, in the axes' right
            lines = [line for part in parts for line in textwrap.wrap(part, 24)]  # part, the diagram left of it
            words = max(len(text) for text in lines + [h.get_label() for h in handles])
            # (the axes are about a fifth narrower once laid out)
            share = min(0.55, ((0.6 * words + 2) * size("detail") + beside) / (0.8 * room))
            lo, hi = ax.get_xlim()
            last = hi - 0.45  # the output column
            ax.set_xlim(lo, lo + (last - lo) / (1 - share))
            anchor = offset_copy(blended_transform_factory(ax.transData, ax.transAxes), fig=ax.figure, x=beside,
                                 units="points")  # right of the outputs' names
            ax.legend(handles=handles, loc="center left", bbox_to_anchor=(last, 0.5), bbox_transform=anchor,
                      frameon=False, fontsize=size("detail"), handlelength=1.2, title="\n".join(lines),
                      title_fontsize=size("detail"), alignment="left", borderaxespad=0.0)
            return 0.0
        return reserve

    @staticmethod
    def _other_layers(ax, history, layers, half: float, sizes: list[int], numbered: bool) -> int:
        """Batch norm and dropout are not drawn as columns: each is named in a small box above the gap
        between the dense layers where it sits (``batch norm``, ``dropout p=0.5``), over the names over the top
        neuron (``numbered``: a summary's). Returns the most boxes stacked in one gap."""
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
        # Too narrow even for that (a comparison's diagrams of a deep network at lecture size), and every gap holds
        # the same layers: one box over the middle gap says so for all of them.
        def shortened(name: str) -> str:
            return name.replace("batch norm", "BN").replace(" → ", "\n").replace("dropout p=", "drop\n")

        if short and len(gaps) > 1 and len({tuple(n) for n in gaps.values()}) == 1 and 0.6 * size("detail") * max(
                len(w) for names in gaps.values() for n in names for w in shortened(n).split("\n")) + 8 > 0.8 * room:
            names = next(iter(gaps.values()))
            gaps = {float(np.median(list(gaps))): [*names[:-1], names[-1] + ",", "after every hidden layer"]}
            short = False
        if short:
            gaps = {x: [shortened(n) for n in names] for x, names in gaps.items()}
        for x, names in gaps.items():  # over the row of the hidden units' names, whatever a unit is worth in points
            ax.annotate("\n".join(names), (x, half), xytext=(0, over_names(sizes, numbered)),
                        textcoords="offset points",
                        ha="center", va="bottom", fontsize=size("detail") if short else size("label"), zorder=3,
                        linespacing=1.1, bbox=dict(boxstyle="round,pad=0.2", facecolor=colours.BACKGROUND,
                                                   edgecolor="0.5",
                                                   linewidth=0.6))
        return max((sum(1 + name.count("\n") for name in n) for n in gaps.values()), default=0)

    @staticmethod
    def _label_column(ax, positions, names, side: str, clear: float = 0.0) -> list:
        """The inputs' or outputs' names beside their column: 0.18 of a column's gap away, or ``clear`` points
        (a neuron's radius) and a little when given."""
        offset, shift = (-0.18 if side == "right" else 0.18), {}
        if clear:
            offset, shift = 0.0, dict(transform=offset_copy(ax.transData, fig=ax.figure, units="points",
                                                            x=(clear + 4) * (1 if side == "left" else -1)))
        spots = list(zip(positions, names))
        if len(spots) > 1 and points_per_unit(ax) < 1.3 * size("label"):  # too close to stand apart: one line
            (x, _), ys = positions[0], [y for _, y in positions]
            spots = [((x, (min(ys) + max(ys)) / 2), ", ".join(names[:len(positions)]))]
        return [ax.text(x + offset, y, name, ha=side, va="center", fontsize=size("label"), **shift)
                for (x, y), name in spots]


def labels_fit(ax, labels: list, widest: list[str], names: list, units=(), sizes=()) -> list:
    """Hide the value labels under the neurons (the bias or δ: the fill and the legend's scale still say it)
    when, at their widest over the run, one would run off the frame or onto another label, a name or a
    neuron of ``units`` (their centres, drawn at :func:`marker_size` of ``sizes``); call once the layout is
    final. Returns the labels' boxes at their widest when they are kept (else none)."""
    if not labels:
        return []
    figure = ax.figure.bbox
    boxes = []
    for label, text in zip(labels, widest):
        label.set_text(text)
        boxes.append(label.get_window_extent())
        label.set_text("")
    boxes += [name.get_window_extent() for name in names]
    if len(units):
        radius = np.sqrt(marker_size(sizes, ax)) / 2 * ax.figure.dpi / 72 - 1  # pixels, less a pixel
        boxes += [Bbox.from_extents(x - radius, y - radius, x + radius, y + radius)
                  for x, y in ax.transData.transform(np.asarray(units))]
    fits = all(b.x0 >= figure.x0 and b.x1 <= figure.x1 and b.y0 >= figure.y0 for b in boxes[:len(labels)])
    for k, a in enumerate(boxes[:len(labels)]):
        for b in boxes[k + 1:]:
            if box_overlap(a, b) > 0:
                fits = False
    for label in labels:
        label.set_visible(fits)
    return [box for box, text in zip(boxes, widest) if text] if fits else []


def over_names(sizes: list[int], numbered: bool = False) -> float:
    """Points from the top neuron's centre to above the names written over it (the most a circle's radius
    can be, a gap, a line of detail text)."""
    return np.sqrt(marker_size(sizes, numbered=numbered)) / 2 + 3 + 1.6 * size("detail")


def _fill_handle(label: str) -> Line2D:
    """A legend entry for a neuron's fill: half red, half blue (the signed map's two ends)."""
    return Line2D([], [], marker="o", linestyle="none", markersize=8, markerfacecolor=colours.POSITIVE,
                  markerfacecoloralt=colours.NEGATIVE, fillstyle="left", markeredgecolor=colours.FOREGROUND,
                  label=label)


def short_loss(label: str) -> str:
    """The loss's label if it is one word (SSR, MSE), else L: ∂½·SSR/∂w does not read."""
    return label if label and label.isalnum() else "L"
