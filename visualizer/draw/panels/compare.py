"""The comparison frame: every run's losses overlaid, and the scene's main panel once per run, axes shared."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..text import any_inside, points_along, size
from .base import AtLayout, Layout, Panel
from .. import colours
from .curves import grow, history_line, loss_scale
from .maps import SurfacePanel

# Which of a scene's panels is its "main" one, in order of preference (class names, so panels defined in
# modules this one does not import, such as multi-class regions, are found too).
MAIN_PANELS = ("FitPanel", "ClassRegionsPanel", "DecisionBoundaryPanel", "SurfacePanel", "UnitMapPanel")


RUN_MARKERS = ("o", "s", "^", "D")  # the second varied setting's values, beside the first's colours


@dataclass(frozen=True)
class RunStyle:
    """How one run of a comparison is drawn in every panel: its colour (the run role), line style and marker."""

    color: str
    linestyle: str = "-"
    marker: str | None = None


def run_styles(runs: int, shape: Sequence[int] | None = None) -> list[RunStyle]:
    """Each run's :class:`RunStyle`. With two or more varied settings (``shape``: how many values each has, the
    last varying fastest), runs that share the earlier settings share a colour and the last setting's value
    gives the line style and marker, so runs that share a setting stay told apart; with one, a colour each."""
    palette = colours.RUN_COLORS
    inner = int(shape[-1]) if shape is not None and len(shape) > 1 else 1
    if inner > 1 and -(-runs // inner) <= len(palette) and inner <= len(RUN_MARKERS):
        return [RunStyle(palette[k // inner], colours.SERIES_STYLES[k % inner], RUN_MARKERS[k % inner])
                for k in range(runs)]
    out = []
    for k in range(runs):
        color, style = colours.series_style(k)
        out.append(RunStyle(color, style, RUN_MARKERS[k // len(palette) - 1] if k >= len(palette) else None))
    return out


# Where a legend may go inside its axes, in the order tried.
LEGEND_SPOTS = ("upper right", "upper left", "lower left", "lower right", "center right", "center left",
                "upper center", "lower center")


def _axes_points(ax, artists) -> np.ndarray | None:
    """Where ``artists`` put ink, as (points, 2) axes fractions (lines densified between their vertices); None
    when one of them covers the axes (an image, filled contours, a mesh)."""
    from matplotlib.collections import PathCollection
    from matplotlib.image import AxesImage
    from matplotlib.lines import Line2D

    to_axes = ax.transAxes.inverted()
    pieces = [np.zeros((0, 2))]
    for artist in artists:
        if isinstance(artist, AxesImage):
            return None
        if isinstance(artist, Line2D):
            xy = np.asarray(artist.get_xydata(), dtype=float)
            if len(xy):  # densified: a line crossing a corner between its vertices counts
                pieces.append(to_axes.transform(points_along(artist.get_transform().transform(xy))))
        elif isinstance(artist, PathCollection):
            offsets = np.asarray(artist.get_offsets(), dtype=float)
            if len(offsets):
                pieces.append(to_axes.transform(artist.get_offset_transform().transform(offsets)))
        elif hasattr(artist, "get_array") and artist.get_array() is not None:  # contours, meshes: a field
            return None
    xy = np.concatenate(pieces)
    return xy[np.isfinite(xy).all(axis=1)]


def _spot_box(spot: str, w: float, h: float, pad: float = 0.02) -> tuple[float, float, float, float]:
    vertical, horizontal = spot.split()
    x0 = {"left": pad, "right": 1 - pad - w, "center": (1 - w) / 2}[horizontal]
    y0 = {"lower": pad, "upper": 1 - pad - h, "center": (1 - h) / 2}[vertical]
    return x0, y0, x0 + w, y0 + h


def place_legend(ax, points: np.ndarray | None, outside: str = "right", max_width: float | None = None,
                 by_rows: bool = False, **kwargs):
    """A legend where it covers no data: the first of :data:`LEGEND_SPOTS` in ``ax`` that none of ``points``
    (axes fractions, every frame's data; None: the axes are covered) falls in, measured with a margin for
    the layout still to come; else outside the axes: at their ``right``, or ``below`` their tick labels. One
    below wider than ``max_width`` pixels is placed again with a column fewer than ``ncols`` (down to one);
    ``by_rows``: its entries (``handles`` and ``labels``) read row by row in any number of columns."""
    ncols = kwargs.pop("ncols", None)
    while True:
        legend = _placed_legend(ax, points, outside, ncols, by_rows, **kwargs)
        if max_width is None or ncols is None or ncols <= 1 or legend.get_bbox_to_anchor() is ax.bbox or \
                outside != "below" or legend.get_window_extent(ax.figure.canvas.get_renderer()).width <= max_width:
            return legend
        legend.remove()
        ncols -= 1


def _placed_legend(ax, points: np.ndarray | None, outside: str, ncols: int | None, by_rows: bool, **kwargs):
    """:func:`place_legend` at ``ncols`` columns (None: one inside, up to four below)."""
    if ncols is not None:
        kwargs["ncols"] = ncols
        if by_rows:
            order = row_major(len(kwargs["handles"]), ncols)
            kwargs.update({key: [kwargs[key][j] for j in order] for key in ("handles", "labels") if key in kwargs})
    legend = ax.legend(loc="upper right", **kwargs)
    renderer = ax.figure.canvas.get_renderer()
    if points is not None:
        box, axes = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
        # The layout still shrinks the axes around their labels: measured generously.
        w, h = min(1.0, 1.25 * box.width / axes.width), min(1.0, 1.35 * box.height / axes.height)
        for spot in LEGEND_SPOTS:
            if not any_inside(points, _spot_box(spot, w, h)):
                legend.set_loc(spot)
                return legend
    legend.remove()
    from matplotlib.transforms import ScaledTranslation

    if outside == "below":
        # Under the tick labels and the axis label (their depth is text, so it holds after the layout).
        depth = (ax.get_window_extent(renderer).y0 - ax.get_tightbbox(renderer).y0) / ax.figure.dpi + 0.04
        return ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), borderaxespad=0.0,
                         bbox_transform=ax.transAxes + ScaledTranslation(0, -depth, ax.figure.dpi_scale_trans),
                         **{"ncols": min(len(kwargs.get("handles") or ax.get_legend_handles_labels()[0]), 4),
                            **kwargs})
    # Right of the tick labels that overhang the axes' right edge (the last step's, centred on it).
    overhang = max(0.0, ax.get_tightbbox(renderer).x1 - ax.get_window_extent(renderer).x1) / ax.figure.dpi
    return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0),
                     bbox_transform=ax.transAxes + ScaledTranslation(overhang, 0, ax.figure.dpi_scale_trans), **kwargs)


def _keep_off_curves(legend, curves: list[tuple[np.ndarray, np.ndarray]], renderer) -> None:
    """Keeps an inside legend off the curves in its axes' final size (an :class:`AtLayout` fit: the spot chosen
    while the panel was drawn was measured on the axes' size before the layout): moves the legend to the first
    of :data:`LEGEND_SPOTS`, the chosen one first, where none of ``curves`` ((x, y) in data coordinates, every
    frame's) passes."""
    ax = legend.axes
    points = np.concatenate([np.zeros((0, 2))] + [points_along(ax.transData.transform(np.column_stack([x, y])))
                                                  for x, y in curves])
    spots = [legend._get_loc(), *LEGEND_SPOTS]
    for spot in spots:
        legend.set_loc(spot)
        if not any_inside(points, legend.get_window_extent(renderer), margin=2):
            return
    legend.set_loc(spots[0])  # nowhere free: where it was put


@dataclass
class CompareLossPanel(Panel):
    """Each run's training loss (solid) and test loss (dashed, when recorded), one :class:`RunStyle` per run
    (its colour, and the marker of its second varied setting); the legend where no curve passes."""

    title: str = ""
    log_ratio: float = 30.0
    styles: list[RunStyle] | None = None
    legend_outside: str = "right"  # where the legend goes when no spot inside is free: "right" or "below"

    def draw(self, ax, history):
        from matplotlib.lines import Line2D

        steps, labels = history.steps, history.info.runs
        styles = self.styles or run_styles(len(labels))
        test = any(f"run{k}/test" in history.losses for k in range(len(labels)))
        curves, series, handles = [], [], []
        for k, (label, style) in enumerate(zip(labels, styles)):
            for kind, dash in (("train", "-" if test else style.linestyle), ("test", "--")):
                values = history.losses.get(f"run{k}/{kind}")
                if values is None:
                    continue
                line, head = history_line(ax, steps, values, colours.themed(style.color))
                line.set_linestyle(dash)
                if style.marker:
                    line.set(marker=style.marker, markersize=5, markevery=0.12)
                    head.set_marker(style.marker)
                if kind == "train":
                    diverged = history.info.run_diverged[k] if history.info.run_diverged else None
                    handles.append(Line2D([], [], color=colours.themed(style.color), linestyle=dash,
                                          marker=style.marker,
                                          markersize=5, linewidth=line.get_linewidth(),
                                          label=label + (f" (diverged at {diverged:,})" if diverged is not None
                                                         else "")))
                curves.append((line, head, values))
                series.append(values)
        loss_scale(ax, series, self.log_ratio)
        label = history.info.loss_label or "loss"
        ax.set_title(self.title or (f"{label}: training (solid) and test (dashed)" if test else f"{label}"))
        ax.set_xlabel("step")
        # Checked against every curve's whole run, so no frame's curve passes under it.
        full = [Line2D(steps, values, transform=ax.transData) for values in series]
        # Below the axes: no wider than they are (a narrow column beside a tall grid), else one column.
        legend = place_legend(ax, _axes_points(ax, full), self.legend_outside, ax.get_window_extent().width,
                              handles=handles, framealpha=0.85, fontsize=size("label"), handlelength=2.2,
                              ncols=2 if len(handles) > 6 else 1)  # a column beside a grid: one entry a line
        if legend.get_bbox_to_anchor() is ax.bbox:  # inside the axes: checked again once they are laid out
            whole = [(steps, values) for values in series]
            ax.add_artist(AtLayout(lambda renderer: _keep_off_curves(legend, whole, renderer)))
        return lambda i: grow(curves, steps, i)


RUNAWAY = 10.0  # a panel whose range is this many times the typical one does not set the shared limits


def calm_union(limits: np.ndarray) -> tuple[float, float]:
    """The union of (lo, hi) ``limits`` over the panels whose span is at most ``RUNAWAY`` times the (lower) median
    span: a run whose predictions blow up shows its curve leaving the shared axes instead of squashing every
    other run's panel flat."""
    spans = limits[:, 1] - limits[:, 0]
    typical = float(np.percentile(spans, 50, method="lower"))  # of two panels, the calmer one
    calm = limits[spans <= RUNAWAY * typical] if typical > 0 else limits
    return float(calm[:, 0].min()), float(calm[:, 1].max())


@dataclass(eq=False)
class SharedAxes:
    """Small multiples drawn by several panels, given one set of limits and colour scales once all are drawn."""

    count: int
    axes: list = field(default_factory=list)

    def add(self, ax) -> None:
        """One more panel drawn; after the last of a render's, every one gets the union of the limits."""
        self.axes.append(ax)
        if len(self.axes) == self.count:
            self._unify()
            self.axes = []  # ready for the next render of the same layout

    def _unify(self) -> None:
        for get, put in (("get_xlim", "set_xlim"), ("get_ylim", "set_ylim")):
            limits = np.array([getattr(ax, get)() for ax in self.axes])
            lo, hi = calm_union(limits)
            for ax in self.axes:
                getattr(ax, put)(lo, hi)
        images = [im for ax in self.axes for im in ax.get_images()]
        if images:
            clims = np.array([im.get_clim() for im in images], dtype=float)
            for im in images:
                im.set_clim(np.nanmin(clims[:, 0]), np.nanmax(clims[:, 1]))


@dataclass(eq=False)
class SpareLegendPanel(Panel):
    """A spare cell of a comparison's grid showing the legend the runs' panels share (``entries``: (handle,
    label) pairs, handed over by the first run's panel, drawn before this one)."""

    entries: list = field(default_factory=list)

    def draw(self, ax, history):
        ax.set_axis_off()
        if self.entries:
            handles, labels = zip(*self.entries)
            ax.legend(handles, labels, loc="center", fontsize=size("detail"), frameon=False)
        return lambda i: []


def row_major(n: int, ncols: int) -> list[int]:
    """The order to hand ``n`` legend entries to a legend of ``ncols`` columns so they read row by row (a legend
    fills its columns first, the first ``n % ncols`` one entry longer: h1 h3 h5 over h2 h4 otherwise)."""
    rows, extra = divmod(n, ncols)
    return [r * ncols + c for c in range(ncols) for r in range(rows + (c < extra))]


@dataclass(eq=False)
class RunPanel(Panel):
    """``inner`` drawn for run ``k`` of a comparison, titled by what differs, axes shared through ``shared``."""

    inner: Panel = None
    k: int = 0
    shared: SharedAxes | None = None
    colorbar: bool = True
    legend: bool = False
    spare: SpareLegendPanel | None = None  # with ``legend``: the grid's spare cell that shows it

    def draw(self, ax, history):
        from ...record.runs import run_history

        run = run_history(history, self.k)
        update = self.inner.draw(ax, run)
        ax.set_title(history.info.runs[self.k], fontsize=size("heading"))
        legend = ax.get_legend()
        if legend is not None:
            legend.remove()
            handles, labels = legend.legend_handles, [t.get_text() for t in legend.texts]
            if self.legend and self.spare is not None:  # one legend is enough for identical panels: in a spare cell
                self.spare.entries[:] = list(zip(handles, labels))
            elif self.legend:  # or under the first, off its data
                # As many columns as the panel's width holds (the width before the layout, which gives the axes
                # a fifth or so more), up to one row of six, read row by row.
                place_legend(ax, None, "below", 1.2 * ax.get_window_extent().width, by_rows=True,
                             handles=list(handles), labels=labels, ncols=min(len(handles), 6),
                             fontsize=size("detail"), framealpha=0.85)
        if not self.colorbar:  # the colour scales are shared: one bar, at the end of the row, says them all
            for mappable in [*ax.get_images(), *ax.collections]:
                if getattr(mappable, "colorbar", None) is not None:
                    mappable.colorbar.remove()
        if self.shared is not None:
            self.shared.add(ax)
        return update


def main_panel(layout: Layout) -> Panel | None:
    """The scene's main panel: the first of its panels whose kind shows what the network computes."""
    for kind in MAIN_PANELS:
        for panel in layout.panels.values():
            if type(panel).__name__ == kind and not (isinstance(panel, SurfacePanel) and panel.kind == "target"):
                return panel
    return None


def grid_shape(runs: int, shape: Sequence[int] | None = None) -> tuple[int, int]:
    """(rows, columns) of a comparison's small multiples: for two or more varied settings, the last one's
    values across and the others' combinations down (``optimizer=sgd,momentum,adam`` by ``lr=0.01,0.05`` is
    3 × 2); for one, at most four across, the rows as even as they can be."""
    if shape is not None and len(shape) > 1 and 1 < shape[-1] <= 5 and runs // shape[-1] <= 5:
        return runs // int(shape[-1]), int(shape[-1])
    rows = -(-runs // 4)
    return rows, -(-runs // rows)


@dataclass
class ComparisonLayout(Layout):
    """A comparison's layout, saying where its runs' grid is (``runs_at``): ``"beside"`` a column of the losses
    and the landscape (the mosaic is ``[[grid, column]]``), or ``"above"`` the losses' row (the mosaic is rows
    of one grid each, the losses' last); ``""`` when the layout has no runs' grid (the losses alone)."""

    runs_at: str = ""


def comparison_layout(scene_layout: Layout, history, runs: int, landscape: Panel | None = None,
                      shape: Sequence[int] | None = None, brief: bool = False, side: bool = False) -> Layout:
    """Small multiples of the scene's main panel, laid out as :func:`grid_shape` says for the varied
    settings' ``shape`` (how many values each has), above the overlaid losses, with ``landscape`` (every run's
    path on one plane, see :class:`~visualizer.draw.panels.why.CompareLandscapePanel`) beside them; every
    run drawn in its :func:`run_styles` style in both. ``brief``: more rows of the runs' own follow, so the
    main panel leaves out what makes its legend long (a fit's per-neuron lines). ``side``: the losses (and the
    landscape) go in a column beside the runs' panels whatever the grid's height (rows of the runs' own follow,
    which :func:`with_run_row` adds to the grid, so every row keeps its height)."""
    import dataclasses

    main = main_panel(scene_layout)
    if brief and getattr(main, "show_contributions", False):  # more rows follow: a fit without its 8 lines
        main = dataclasses.replace(main, show_contributions=False)
    styles = run_styles(runs, shape)
    panels: dict[str, Panel] = {"loss": CompareLossPanel(styles=styles)}
    rows, cols = grid_shape(runs, shape) if main is not None else (0, 1)
    bottom = ["loss"] * cols
    if landscape is not None:
        panels["landscape"] = dataclasses.replace(landscape, styles=styles) if hasattr(landscape, "styles") \
            else landscape
        cols = max(cols, 2)
        bottom = ["loss"] * (cols - cols // 2) + ["landscape"] * (cols // 2)
    if main is None:
        return ComparisonLayout([bottom], panels)
    shared = SharedAxes(runs)
    spare = SpareLegendPanel() if rows * cols > runs else None  # the runs' legend in the grid's spare cell
    grid = []
    for r in range(rows):
        row = []
        for c in range(cols):
            k = r * cols + c
            if k < runs:
                panels[f"run{k}"] = RunPanel(inner=main, k=k, shared=shared, legend=k == 0, spare=spare,
                                             colorbar=c == cols - 1)  # a short last row: the bar above says it
                row.append(f"run{k}")
            else:
                row.append("legend" if k == runs and spare is not None else ".")
        grid.append(row)
    if spare is not None:
        panels["legend"] = spare  # after the first run's panel, which hands it the entries
    if side or (rows >= 3 and landscape is not None):
        # A tall grid keeps its panels' height: the losses and the landscape in a column beside it.
        column = [["loss"], ["landscape"]] if landscape is not None else [["loss"]]
        panels["loss"] = dataclasses.replace(panels["loss"], legend_outside="below")
        return ComparisonLayout([[grid, column]], panels, width_ratios=[cols, max(1.0, 0.6 * cols)], runs_at="beside")
    # Two grids of their own, one above the other: the bottom row's labels do not widen the columns above.
    return ComparisonLayout([[grid], [[bottom]]], panels,
                            height_ratios=[rows, max(0.8, 0.45 * rows) * (1.4 if landscape else 1)], runs_at="above")


def diagram_panel(layout: Layout) -> Panel | None:
    """The scene's network diagram, if its layout has one."""
    return next((p for p in layout.panels.values() if type(p).__name__ == "NetworkDiagramPanel"), None)


def with_run_diagrams(layout: Layout, diagram: Panel, runs: int, shape: Sequence[int] | None = None) -> Layout:
    """``layout`` with a row of ``diagram`` s below it, one per run, each drawing that run's own network (a
    comparison of architectures, or of initializations, shows what each run is)."""
    return with_run_row(layout, diagram, runs, shape, name="diagram", height=0.75)


def with_run_row(layout: ComparisonLayout, panel: Panel, runs: int, shape: Sequence[int] | None = None, *,
                 name: str, height: float, shared: SharedAxes | None = None,
                 legend: bool | str = False) -> ComparisonLayout:
    """``layout`` (from :func:`comparison_layout`) with ``panel`` drawn once per run (``<name><k>``), in a grid
    as the runs' own, under the runs' panels and above the losses (or below everything); ``height`` is each
    row's share against the layout's rows, ``shared`` gives them one set of limits, ``legend`` one legend (in
    the first run's), or ``"each"`` one under every run's (when their entries differ)."""
    rows, cols = grid_shape(runs, shape)  # as the runs' own grid
    grid = [[f"{name}{r * cols + c}" if r * cols + c < runs else "." for c in range(cols)] for r in range(rows)]
    panels = {**layout.panels, **{f"{name}{k}": RunPanel(inner=panel, k=k, shared=shared, colorbar=False,
                                                        legend=legend == "each" or (bool(legend) and k == 0))
                                     for k in range(runs)}}
    ratios = list(layout.height_ratios or [1.0] * len(layout.mosaic))
    runs_at = getattr(layout, "runs_at", "")
    if runs_at == "beside":  # the new rows join the runs' grid
        runs_grid, column = layout.mosaic[0]
        return ComparisonLayout([[[*runs_grid, *grid], column]], panels, width_ratios=layout.width_ratios,
                                runs_at="beside")
    if runs_at == "above":  # the new row under the runs', above the losses' (the last row)
        return ComparisonLayout([*layout.mosaic[:-1], [grid], layout.mosaic[-1]], panels,
                                height_ratios=[*ratios[:-1], height * rows, ratios[-1]],
                                width_ratios=layout.width_ratios, runs_at="above")
    # No runs' grid: the new row under everything, and a row after it goes in above it, as under the runs'.
    return ComparisonLayout([[layout.mosaic], [grid]], panels, height_ratios=[sum(ratios), height * rows],
                            runs_at="above")


__all__ = ["CompareLossPanel", "ComparisonLayout", "RunPanel", "RunStyle", "SharedAxes", "SpareLegendPanel",
           "comparison_layout", "diagram_panel", "grid_shape", "main_panel", "place_legend", "run_styles", "with_run_diagrams",
           "with_run_row"]
