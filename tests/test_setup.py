"""A renderer's set-up shortcuts give what matplotlib gives without them: the remembered font heights and the
ticks worked out once per state (visualizer.draw.renderer)."""
from __future__ import annotations

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from visualizer.draw.renderer import STYLE, FontHeights, TicksOnce


def test_remembered_font_heights_lay_text_out_as_matplotlib_does():
    with matplotlib.rc_context(STYLE):
        figure = Figure(dpi=72)
        texts = [figure.text(0, 0, "one line", size=7), figure.text(0, 0, "two\nlines", size=13, weight="bold"),
                 figure.text(0, 0, "serif\nrotated", family="serif", rotation=90, linespacing="normal"),
                 figure.text(0, 0, r"$\times10^{-3}$ and text", size=9.5)]
        plain, ours = RendererAgg(200, 100, 72), RendererAgg(200, 100, 72)
        FontHeights.install(ours)
        assert isinstance(ours.__dict__.get("_get_font_height_metrics"), FontHeights)  # this matplotlib asks for them
        for text in texts * 2:  # the second time from what it remembered
            assert str(text._get_layout(plain)) == str(text._get_layout(ours)), text.get_text()
        FontHeights.install(ours)  # once only
        assert len(ours._get_font_height_metrics.known) == len({t.get_fontproperties() for t in texts})


def test_a_locator_changed_in_place_is_worked_out_again_and_only_its_axis():
    figure = Figure(figsize=(4, 3), dpi=50)
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    for ax in (left, right):
        ax.plot([0, 10], [0, 10])
        ax.yaxis.set_major_locator(MaxNLocator(nbins=10))
    with TicksOnce(figure) as ticks:
        before = {ax: ax.yaxis._update_ticks() for ax in (left, right)}
        for ax in (left, right):
            ax.yaxis.get_major_locator().set_params(nbins=2)
        ticks.forget(left.yaxis)
        assert len(left.yaxis._update_ticks()) < len(before[left])  # worked out again
        assert right.yaxis._update_ticks() == before[right]  # still as remembered
    assert len(right.yaxis._update_ticks()) < len(before[right])  # matplotlib's own again
