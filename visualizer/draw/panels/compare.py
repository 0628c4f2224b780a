"""The comparison frame: every run's losses overlaid, and the scene's main panel once per run, axes shared."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..text import size
from .base import Layout, Panel
from .curves import grow, history_line, loss_scale, matplotlib_line, run_colors
from .maps import SurfacePanel

# Which of a scene's panels is its "main" one, in order of preference (class names, so panels defined in
# modules this one does not import, such as multi-class regions, are found too).
MAIN_PANELS = ("FitPanel", "ClassRegionsPanel", "DecisionBoundaryPanel", "SurfacePanel", "UnitMapPanel")


@dataclass
class CompareLossPanel(Panel):
    """Each run's training loss (solid) and test loss (dashed, when recorded), one colour per run."""

    title: str = ""
    log_ratio: float = 30.0

    def draw(self, ax, history):
        steps, labels = history.steps, history.info.runs
        colors = run_colors(len(labels))
        curves, series, handles = [], [], []
        for k, (label, color) in enumerate(zip(labels, colors)):
            for kind, style in (("train", "-"), ("test", "--")):
                values = history.losses.get(f"run{k}/{kind}")
                if values is None:
                    continue
                line, head = history_line(ax, steps, values, color)
                line.set_linestyle(style)
                if kind == "train":
                    diverged = history.info.run_diverged[k] if history.info.run_diverged else None
                    line.set_label(label + (f" (diverged at {diverged:,})" if diverged is not None else ""))
                    handles.append(matplotlib_line(line))
                curves.append((line, head, values))
                series.append(values)
        loss_scale(ax, series, self.log_ratio)
        test = any(f"run{k}/test" in history.losses for k in range(len(labels)))
        label = history.info.loss_label or "loss"
        ax.set_title(self.title or (f"{label}: training (solid) and test (dashed)" if test else f"{label}"))
        ax.set_xlabel("step")
        # Inside, where falling losses leave room: outside, it would widen its column in every row above.
        ax.legend(handles=handles, loc="upper right", framealpha=0.85, fontsize=size("label"), handlelength=1.6,
                  ncols=1 if len(handles) <= 6 else 2)
        return lambda i: grow(curves, steps, i)


RUNAWAY = 10.0  # a panel whose range is this many times the typical one does not set the shared limits


def calm_union(limits: np.ndarray) -> tuple[float, float]:
    """The union of (lo, hi) ``limits`` over the panels whose span is at most ``RUNAWAY`` times the median
    span: a run whose predictions blow up shows its curve leaving the shared axes instead of squashing every
    other run's panel flat."""
    spans = limits[:, 1] - limits[:, 0]
    typical = float(np.median(spans))
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
class RunPanel(Panel):
    """``inner`` drawn for run ``k`` of a comparison, titled by what differs, axes shared through ``shared``."""

    inner: Panel = None
    k: int = 0
    shared: SharedAxes | None = None
    colorbar: bool = True

    def draw(self, ax, history):
        from ...record.runs import run_history

        update = self.inner.draw(ax, run_history(history, self.k))
        ax.set_title(history.info.runs[self.k], fontsize=size("heading"))
        legend = ax.get_legend()
        if legend is not None:
            legend.remove()
            if not self.k:  # one legend is enough for identical panels; inside, so the columns stay alike
                ax.legend(handles=legend.legend_handles, labels=[t.get_text() for t in legend.texts],
                          loc="best", fontsize=size("detail"), framealpha=0.85)
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


def comparison_layout(scene_layout: Layout, history, runs: int, landscape: Panel | None = None) -> Layout:
    """Small multiples of the scene's main panel (at most four a row) above the overlaid losses, with
    ``landscape`` (every run's path on one plane, see :class:`~visualizer.draw.panels.why.CompareLandscapePanel`)
    beside them."""
    main = main_panel(scene_layout)
    panels: dict[str, Panel] = {"loss": CompareLossPanel()}
    cols = min(runs, 4) if main is not None else 1
    bottom = ["loss"] * cols
    if landscape is not None:
        panels["landscape"] = landscape
        cols = max(cols, 2)
        bottom = ["loss"] * (cols - cols // 2) + ["landscape"] * (cols // 2)
    if main is None:
        return Layout([bottom], panels)
    rows = -(-runs // cols)
    shared = SharedAxes(runs)
    grid = []
    for r in range(rows):
        row = []
        for c in range(cols):
            k = r * cols + c
            if k < runs:
                panels[f"run{k}"] = RunPanel(inner=main, k=k, shared=shared,
                                             colorbar=c == cols - 1)  # a short last row: the bar above says it
                row.append(f"run{k}")
            else:
                row.append(".")
        grid.append(row)
    # Two grids of their own, one above the other: the bottom row's labels do not widen the columns above.
    return Layout([[grid], [[bottom]]], panels,
                  height_ratios=[rows, max(0.8, 0.45 * rows) * (1.4 if landscape else 1)])


__all__ = ["CompareLossPanel", "RunPanel", "SharedAxes", "comparison_layout", "main_panel"]
