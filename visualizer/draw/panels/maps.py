"""Panels that draw heatmaps: the output over a 2-D input plane, hidden units, activations, weight matrices.

Every colour scale is fixed from the whole history before the first frame, so colours mean the same value in
every frame. Heatmaps are ``imshow`` images whose data is swapped per frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from contourpy import contour_generator
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize, SymLogNorm
from matplotlib.lines import Line2D

from ..image import frame_imshow
from ...record.names import input_name, unit_name
from ...record.probes import Needs, Probe, plane, plane_key, plane_needs
from .. import colours
from ..text import FrameText, any_inside, box_inside, box_overlap, mark, size, stroke
from .base import Panel, class_probabilities, finite_range, fixed_limits

DIVERGING = colours.SIGNED_CMAP
SEQUENTIAL = colours.SEQUENTIAL


class _PlanePanel(Panel):
    """Shared by panels that show a quantity over a 2-D input plane."""

    inputs: tuple[int, int]
    resolution: int

    def _plane(self, setup):
        return plane(setup, self.inputs, self.resolution, type(self).__name__)

    def _heatmap(self, ax, history, values0: np.ndarray, cmap, vmin: float, vmax: float):
        key = plane_key(self.inputs, self.resolution)
        g0, g1 = history.static[f"{key}/x0"], history.static[f"{key}/x1"]
        extent = (g0[0], g0[-1], g1[0], g1[-1])
        image = frame_imshow(ax, values0, cmap=cmap, norm=Normalize(vmin, vmax), interpolation="bilinear",
                             extent=extent, origin="lower")
        ax.grid(False)  # a grid would show on a static map and be painted over on a changing one
        ax.set_xlabel(input_name(history.info, self.inputs[0]))  # as every view names the inputs
        ax.set_ylabel(input_name(history.info, self.inputs[1]))
        return image, (g0, g1)


@dataclass
class DecisionBoundaryPanel(_PlanePanel):
    """The network's output over the input plane, the 0.5 contour, and the training points by label (test
    points, when the run has them, with a thick dark edge instead of a white one).

    For a binary classifier trained on its logit (``bce``, ``hinge``) the map shows the probability of class
    1, σ(output), not the raw score. A probability is drawn in the two class colours (white at 0.5) and the
    points in their class's colour; any other output in the signed map when it crosses 0, else the sequential.
    """

    title: str = "output over the input plane"
    inputs: tuple[int, int] = (0, 1)
    output: int = 0
    resolution: int = 80
    names: list[str] = field(default_factory=list)
    level: float = 0.5
    colorbar: bool = True

    def needs(self, setup):
        return plane_needs(setup, self.inputs, self.resolution, self.output)

    def draw(self, ax, history):
        key = plane_key(self.inputs, self.resolution)
        values = history.extras[f"{key}/output{self.output}"]
        if history.info.loss_kind == "binary":
            values = class_probabilities(history, values[..., None])[..., 1]
        # Sigmoid outputs live in [0, 1]: keep that scale so 0.5 is the white middle of the colour map.
        lo, hi = finite_range(values) or (0.0, 1.0)
        probability = lo >= 0 and hi <= 1
        if probability:
            vmin, vmax, cmap = 0.0, 1.0, colours.class_probability_cmap()
        else:
            cmap, vmin, vmax = colours.value_map(*fixed_limits(values, pad=0.0))
        image, (g0, g1) = self._heatmap(ax, history, values[0], cmap, vmin, vmax)
        grid = np.meshgrid(g0, g1)
        contour = LineCollection([], colors="black", linewidths=stroke(1.4), animated=True)
        ax.add_collection(contour)
        # The heatmap is redrawn every frame, so whatever lies on it must be redrawn after it.
        x, y = history.static["data/x"], history.static["data/y"]
        px, py = x[:, self.inputs[0]], x[:, self.inputs[1]]
        norm = Normalize(vmin, vmax)
        sets = [(x, y, False)]
        if "data/x_test" in history.static:
            sets.append((history.static["data/x_test"], history.static["data/y_test"], True))
        overlays = []
        for xs, ys, test in sets:
            target = ys[:, min(self.output, ys.shape[1] - 1)]
            if probability:  # the class's own colour: a point stands out where the map is the other class's
                fill = colours.class_colors(2)[(target >= 0.5).astype(int)]
            else:
                fill = image.cmap(norm(target))
            overlays.append(ax.scatter(xs[:, self.inputs[0]], xs[:, self.inputs[1]], c=fill,
                                       s=mark(8.0 if test else 7.75) ** 2,
                                       zorder=3, animated=True, **_point_edge(test)))
        cx, cy = float(np.mean(g0)), float(np.mean(g1))
        options = []  # per named point: its label at each corner, the one leaning to the plane's middle first
        for name, qx, qy in zip(self.names, px, py):
            # Labels lean towards the middle of the plane so points at its edges keep theirs inside.
            lean = ((-8 if qx > cx else 8), (-8 if qy > cy else 8))
            # the corners, then beside and over or under the point (where a corner would cover a neighbour)
            corners = [lean, (lean[0], -lean[1]), (-lean[0], lean[1]), (-lean[0], -lean[1]),
                       (lean[0] * 1.25, 0), (-lean[0] * 1.25, 0), (0, lean[1] * 1.25), (0, -lean[1] * 1.25)]
            options.append([FrameText(qx, qy, name, transform=ax.transData, offset=(dx, dy), fontsize=size("label"),
                                      ha="right" if dx < 0 else "left" if dx > 0 else "center",
                                      va="top" if dy < 0 else "bottom" if dy > 0 else "center",
                                      background="background", pad=0.15) for dx, dy in corners])
            for label in options[-1]:
                ax.add_artist(label)
        named = len(overlays)
        points = np.column_stack([px, py])
        radius = mark(7.75) / 2
        ax.set_title(self.title)
        if self.colorbar:
            ax.figure.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
        if len(sets) > 1:  # which points were held out: told by their edge, not by their colour
            ax.legend(handles=[point_handle("train", False), point_handle("test", True)], loc="lower left",
                      fontsize=size("detail"), framealpha=0.85, handletextpad=0.2, borderpad=0.3)

        def update(i):
            if len(overlays) == named and options:  # the layout is final at the first frame: place the names
                overlays.extend(_placed_labels(ax, options, points, radius))
            z = values[i]
            image.set_data(z)
            contour.set_segments(contour_generator(grid[0], grid[1], z).lines(self.level))
            return [image, contour, *overlays]
        return update


def _placed_labels(ax, options: list[list[FrameText]], points: np.ndarray, radius: float) -> list[FrameText]:
    """One label per point, from its ``options`` the first that stays inside the axes and covers neither a
    label placed before it nor a point (``radius`` points: a label that overlaps its mark by more than a pixel
    covers it); when none does, the one that covers least (a point counting thrice a label, running out of the
    axes most of all)."""
    from matplotlib.transforms import Bbox

    reach = radius * (ax.figure.dpi / 72)
    pixels = ax.transData.transform(points)
    marks = [Bbox([[x - reach, y - reach], [x + reach, y + reach]]) for x, y in pixels]
    area = ax.bbox
    chosen, placed = [], []
    for own, labels in enumerate(options):
        others = np.delete(pixels, own, axis=0)

        def clear(box) -> bool:
            return box_inside(box, area) and not any_inside(others, box, reach - 1) and \
                not any(box_overlap(box, b) > 1 for b in placed)
        pick = next((t for t in labels if clear(t.get_window_extent())), None)
        if pick is None:
            def covered(box) -> float:
                outside = sum(max(0.0, v) for v in (area.x0 - box.x0, box.x1 - area.x1, area.y0 - box.y0,
                                                    box.y1 - area.y1))
                return 10 * outside + sum([3 * box_overlap(box, b) for k, b in enumerate(marks) if k != own]
                                          + [box_overlap(box, b) for b in placed])
            pick = min(labels, key=lambda t: covered(t.get_window_extent()))
        for t in labels:  # the corners not taken leave the axes
            if t is not pick:
                t.remove()
        chosen.append(pick)
        placed.append(pick.get_window_extent())
    return chosen


@dataclass
class SurfacePanel(_PlanePanel):
    """``kind`` = ``"target"``, ``"prediction"`` or ``"error"`` (prediction − target) over the input plane.

    ``target`` is the function being learnt, called on the grid's input rows (shape (n, inputs)).
    """

    kind: str = "prediction"
    target: object = None
    title: str = ""
    inputs: tuple[int, int] = (0, 1)
    resolution: int = 60
    colorbar: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("target", "prediction", "error"):
            raise ValueError(f"SurfacePanel kind must be target, prediction or error, got {self.kind!r}")
        if self.target is None and self.kind != "prediction":
            raise ValueError("SurfacePanel needs target= (the function being learnt) to show the target or error")

    def needs(self, setup):
        key, static, rows = self._plane(setup)
        n = self.resolution
        if self.target is not None:
            static[f"{key}/target"] = np.asarray(self.target(rows), dtype=float).reshape(n, n)
        return Needs(static, [Probe(f"{key}/output0", rows, columns=0, shape=(n, n))])

    def draw(self, ax, history):
        key = plane_key(self.inputs, self.resolution)
        pred = history.extras[f"{key}/output0"]
        target = history.static.get(f"{key}/target")
        norm = None
        if self.kind == "error":
            values = pred - target
            lo, hi = fixed_limits(values, pad=0.0, symmetric=True)
            cmap = DIVERGING
            # Errors shrink by orders of magnitude; a symmetric log scale (fixed for the run) keeps the
            # late, small ones visible where a linear scale would show white.
            norm = SymLogNorm(linthresh=hi / 100, vmin=lo, vmax=hi)
        else:
            values = pred if self.kind == "prediction" else target[None]
            # Target and prediction share one scale so their colours compare directly.
            lo, hi = fixed_limits(pred, *([] if target is None else [target]), pad=0.0)
            cmap = SEQUENTIAL
        image, _ = self._heatmap(ax, history, values[0], cmap, lo, hi)
        if norm is not None:
            image.set_norm(norm)
        image.set_animated(self.kind != "target")  # the target never changes: part of the background
        ax.set_title(self.title or {"target": "target", "prediction": "prediction",
                                    "error": "error (prediction − target), log scale"}[self.kind])
        if self.colorbar:
            ax.figure.colorbar(image, ax=ax, fraction=0.05, pad=0.02)

        def update(i):
            if self.kind == "target":
                return []
            image.set_data(values[i])
            return [image]
        return update


@dataclass
class UnitMapPanel(_PlanePanel):
    """One hidden neuron's activation over the input plane: what that unit responds to (one scale for every
    unit of the layer, given by a colour bar)."""

    layer: str = ""
    unit: int = 0
    title: str = ""
    inputs: tuple[int, int] = (0, 1)
    resolution: int = 40
    show_points: bool = True
    colorbar: bool = True

    def needs(self, setup):
        key, static, rows = self._plane(setup)
        layer = setup.layer(self.layer)
        if not 0 <= self.unit < layer.n_out:
            raise ValueError(f"layer {self.layer!r} has {layer.n_out} units, no unit {self.unit}")
        n = self.resolution
        # One probe per layer records every unit, so the panels of a layer's units share it.
        return Needs(static, [Probe(f"{key}/{self.layer}", rows, layer=self.layer, shape=(n, n, layer.n_out))])

    def draw(self, ax, history):
        key = plane_key(self.inputs, self.resolution)
        values = history.extras[f"{key}/{self.layer}"][..., self.unit]
        # One scale for every unit of the layer; a unit that can be negative (tanh) on the signed map.
        cmap, lo, hi = colours.value_map(*fixed_limits(history.extras[f"{key}/{self.layer}"], pad=0.0))
        image, _ = self._heatmap(ax, history, values[0], cmap, lo, hi)
        overlays = []
        if self.show_points:  # redrawn after the image, which is redrawn every frame
            x = history.static["data/x"]
            overlays.append(ax.scatter(x[:, self.inputs[0]], x[:, self.inputs[1]], s=14, facecolors="none",
                                       edgecolors="white", linewidths=1.0, zorder=3, animated=True))
        unit = unit_name(history.info.layers, self.layer, self.unit)  # the diagram's label of this neuron
        ax.set_title(self.title or f"unit {unit}")
        ax.tick_params(labelsize=size("detail"))
        ax.set_xlabel("")
        ax.set_ylabel("")
        if self.colorbar:
            ax.figure.colorbar(image, ax=ax, fraction=0.08, pad=0.03).ax.tick_params(labelsize=size("detail"))

        def update(i):
            image.set_data(values[i])
            return [image, *overlays]
        return update


def _point_edge(test: bool) -> dict:
    """Scatter keywords for a data point's outline: white for training points (they keep their identity on a
    background of their own colour), a thick dark edge for test points."""
    if test:
        return dict(edgecolors=colours.TEST_EDGE, linewidths=1.5)
    return dict(edgecolors=colours.POINT_EDGE, linewidths=1.0)


def point_handle(label: str, test: bool, color: str = "#999999", marker: str = "o") -> Line2D:
    """A legend entry drawn like a training (``test=False``) or test point."""
    edge = _point_edge(test)
    return Line2D([], [], marker=marker, linestyle="none", markersize=7, markerfacecolor=color,
                  markeredgecolor=edge["edgecolors"] if test else "#444444",
                  markeredgewidth=edge["linewidths"] if test else 0.8, label=label)


def _values_fit(ax, shape: tuple[int, int], fmt: str) -> bool:
    """Whether a value such as ``-0.00`` fits a cell at the style's smallest text: the cells' room is judged
    from the panel's grid cell (the layout takes some of it for titles and labels: four fifths are counted)."""
    box = ax.get_position()
    fig_w, fig_h = ax.get_figure(root=True).get_size_inches()
    cell = 72 * 0.8 * min(box.width * fig_w / shape[1], box.height * fig_h / shape[0])  # points, square cells
    digits = len(format(-0.0001 if fmt == ".2f" else -10.0, fmt))
    return cell >= 0.6 * digits * size("detail") + 0.2 * size("detail")


def _annotate_cells(ax, shape: tuple[int, int], fontsize: float | None = None) -> list:
    texts = []
    for r in range(shape[0]):
        for c in range(shape[1]):
            text = FrameText(c, r, "", transform=ax.transData, ha="center", va="center",
                             fontsize=fontsize or size("detail"))
            ax.add_artist(text)
            texts.append(text)
    return texts


def cell_format(scale: float) -> str:
    """Digits that fit a small cell: ``-12``, ``-4.6``, ``0.94``."""
    return ".0f" if scale >= 10 else ".1f" if scale > 1 else ".2f"


def _cell_inks(values: np.ndarray, image) -> np.ndarray:
    """For every row of ``values`` (rows, *cells), each cell's text colour: black or white by the luminance
    of the cell's colour in ``image`` (whose norm is fixed for the run), worked out for the whole run at once."""
    return colours.texts_on(image.cmap(image.norm(values.reshape(len(values), -1))))


def _set_cell_texts(texts: list, values: np.ndarray, inks: np.ndarray, fmt: str) -> None:
    """Write each cell's value in its colour from :func:`_cell_inks` (that row's)."""
    for text, v, ink in zip(texts, values.ravel(), inks):
        text.set_text(format(v, fmt))
        text.set_color(ink)


def _matrix_axes(ax, image, texts: list, colorbar: bool | None) -> None:
    """Square cells, and a colour bar unless every cell's value is written (or ``colorbar`` says otherwise)."""
    ax.set_aspect("equal", adjustable="box")
    if colorbar or (colorbar is None and not texts):
        ax.figure.colorbar(image, ax=ax, fraction=0.05, pad=0.02)


@dataclass
class ActivationsPanel(Panel):
    """A layer's activations for every training example (one row each); ``layer=""`` shows the inputs.

    Rows can be named (``row_names``); values are written in the cells when the matrix has at most
    ``annotate_max`` entries, else a colour bar gives the scale (``colorbar`` True or False forces it either way).
    """

    layer: str = ""
    title: str = ""
    row_names: list[str] = field(default_factory=list)
    annotate_max: int = 24
    cmap: str | None = None  # default: the signed map when the values cross 0, else the sequential one
    colorbar: bool | None = None

    def needs(self, setup):
        if not self.layer:
            return Needs({}, [])
        setup.layer(self.layer)
        return Needs({}, [Probe(f"act/{self.layer}", setup.x, layer=self.layer)])

    def draw(self, ax, history):
        if self.layer:
            values = history.extras[f"act/{self.layer}"]
        else:
            values = history.static["data/x"][None]
        lo, hi = fixed_limits(values, pad=0.0)
        if lo >= 0 and hi <= 1:
            lo, hi = 0.0, 1.0
        fmt = cell_format(max(abs(lo), abs(hi)))
        cmap, lo, hi = colours.value_map(lo, hi) if self.cmap is None else (self.cmap, lo, hi)
        image = frame_imshow(ax, values[0], cmap=cmap, norm=Normalize(lo, hi), interpolation="nearest",
                             animated=bool(self.layer))
        rows, cols = values.shape[1:]
        ax.set_title(self.title or (f"{self.layer} activations" if self.layer else "inputs"))
        ax.set_yticks(range(rows), self.row_names or [str(r + 1) for r in range(rows)])
        ax.set_xticks(range(cols), [str(c + 1) for c in range(cols)])
        ax.grid(False)
        texts = _annotate_cells(ax, (rows, cols)) if rows * cols <= self.annotate_max and \
            _values_fit(ax, (rows, cols), fmt) else []
        inks = _cell_inks(values, image) if texts else None
        if texts and not self.layer:  # the inputs never change: their numbers are drawn every frame
            _set_cell_texts(texts, values[0], inks[0], fmt)
        _matrix_axes(ax, image, texts, self.colorbar)

        def update(i):
            if not self.layer:
                return texts  # FrameText is drawn per frame only, never into the background
            image.set_data(values[i])
            if texts:
                _set_cell_texts(texts, values[i], inks[i], fmt)
            return [image, *texts]
        return update


@dataclass
class WeightMatrixPanel(Panel):
    """A weight matrix (rows: inputs, columns: units) on the signed colour map (red positive, blue negative),
    symmetric about 0 and fixed from the whole run; square cells.

    Values are written in the cells when the matrix has at most ``annotate_max`` entries, else a colour bar
    gives the scale (``colorbar`` True or False forces it either way).
    """

    param: str = ""
    title: str = ""
    annotate_max: int = 24
    colorbar: bool | None = None

    def draw(self, ax, history):
        if self.param not in history.params:
            raise ValueError(f"no parameter {self.param!r}; recorded: {sorted(history.params)}")
        values = history.params[self.param]
        layer = next((lay for lay in history.info.layers if lay.weight == self.param), None)
        if layer is not None:
            values = history.layer_weight(layer)  # rows: inputs, columns: units, however it is stored
        if values.ndim == 1:
            values = values[:, None, None]
        values = values if values.ndim == 3 else values[:, None, :]  # a bias vector as one row
        lo, hi = fixed_limits(values, pad=0.0, symmetric=True)
        fmt = cell_format(hi)
        image = frame_imshow(ax, values[0], cmap=DIVERGING, norm=Normalize(lo, hi), interpolation="nearest")
        rows, cols = values.shape[1:]
        ax.set_title(self.title or self.param)
        ax.set_yticks(range(rows), [str(r + 1) for r in range(rows)] if rows > 1 else [""])
        ax.set_xticks(range(cols), [str(c + 1) for c in range(cols)])
        ax.set_ylabel("from" if rows > 1 else "")
        ax.set_xlabel("to unit")
        ax.grid(False)
        texts = _annotate_cells(ax, (rows, cols)) if rows * cols <= self.annotate_max and \
            _values_fit(ax, (rows, cols), fmt) else []
        _matrix_axes(ax, image, texts, self.colorbar)
        inks = _cell_inks(values, image) if texts else None

        def update(i):
            image.set_data(values[i])
            if texts:
                _set_cell_texts(texts, values[i], inks[i], fmt)
            return [image, *texts]
        return update
