"""A renderer's set-up shortcuts give what matplotlib gives without them: the remembered font heights, the
ticks worked out once per state, the texts' remembered layouts and the collector held off while a figure is
built (visualizer.draw.renderer)."""
from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from visualizer.draw.renderer import STYLE, FontHeights, TextLayouts, TicksOnce, collector_paused


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


def test_ticks_are_kept_while_the_axes_grows_within_their_room_and_their_boxes_follow_it():
    figure = Figure(figsize=(4, 3), dpi=50)
    canvas = FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.plot([0, 10], [0, 10])
    renderer = canvas.get_renderer()

    def boxes(axis):
        return [tuple(np.round(b.bounds, 6)) for b in axis._get_ticklabel_bboxes(axis._update_ticks(), renderer)[0]]

    locator = ax.yaxis.get_major_locator()
    asked = []
    original = type(locator).__call__

    class Counted(type(locator)):
        def __call__(self):
            asked.append(1)
            return original(self)

    ax.yaxis.set_major_locator(Counted())
    with TicksOnce(figure):
        first = ax.yaxis._update_ticks()
        where = boxes(ax.yaxis)
        room = ax.yaxis.get_tick_space()
        worked_out = len(asked)
        ax.set_position([0.2, 0.1, 0.7, 0.8])  # 0.77 to 0.8 of the height: the same room for ticks
        assert ax.yaxis.get_tick_space() == room
        assert ax.yaxis._update_ticks() == first
        assert len(asked) == worked_out  # the ticks kept, not worked out again
        moved = boxes(ax.yaxis)
        assert moved != where
        ax.set_position([0.2, 0.1, 0.7, 0.08])  # a tenth of the height: room for fewer ticks
        fewer = ax.yaxis._update_ticks()
        squeezed = boxes(ax.yaxis)
    assert len(fewer) < len(first)
    ax.set_position([0.2, 0.1, 0.7, 0.8])
    assert boxes(ax.yaxis) == moved  # matplotlib's own boxes where the axes moved to
    ax.set_position([0.2, 0.1, 0.7, 0.08])
    assert boxes(ax.yaxis) == squeezed


def test_remembered_text_layouts_are_matplotlib_s_and_follow_every_change_of_look():
    import copy
    import pickle

    changes = {"text": lambda t: t.set_text(t.get_text() + " more"), "size": lambda t: t.set_fontsize(21),
               "weight": lambda t: t.set_fontweight("bold"), "rotation": lambda t: t.set_rotation(90),
               "ha": lambda t: t.set_horizontalalignment("center"),
               "va": lambda t: t.set_verticalalignment("baseline"), "linespacing": lambda t: t.set_linespacing(2.0),
               "multialignment": lambda t: t.set_multialignment("right"),
               "rotation_mode": lambda t: t.set_rotation_mode("anchor"), "dpi": lambda t: t.figure.set_dpi(144)}
    looks = [dict(s="one line", size=7), dict(s="two\nlines, the second longer", size=13, rotation=30),
             dict(s=r"$\times10^{-3}$ and text", size=9.5, rotation=30)]
    with matplotlib.rc_context(STYLE):
        for name, change in changes.items():
            mattered = False
            for look in looks:
                figure, apart = Figure(dpi=72), Figure(dpi=72)  # the text remembered, and one laid out as ever
                renderer = FigureCanvasAgg(figure).get_renderer()
                text, plain = (f.text(0, 0, ha="right", va="top", multialignment="left", **look)
                               for f in (figure, apart))
                with TextLayouts(figure) as layouts:
                    assert "_get_layout" in text.__dict__ and "_get_layout" not in plain.__dict__
                    before = str(plain._get_layout(renderer))
                    assert str(text._get_layout(renderer)) == before
                    assert str(text._get_layout(renderer)) == before  # from what it remembered
                    assert len(layouts.known) == 1
                    for t in (text, plain):
                        change(t)
                    after = str(plain._get_layout(renderer))
                    mattered |= after != before
                    assert str(text._get_layout(renderer)) == after, (name, look["s"])
                assert "_get_layout" not in text.__dict__  # as it was: copied and pickled as before
                twin = copy.copy(text)
                twin.set_text(twin.get_text() + " and a longer end")
                assert str(twin._get_layout(renderer)) != str(text._get_layout(renderer))
                pickle.dumps(figure)
            assert mattered, name  # a change that matters to the layout of one of the looks at least
    assert TextLayouts.usable()


def test_the_collector_is_held_off_while_a_figure_is_checked_and_frees_it_afterwards(tmp_path):
    import gc
    import weakref

    from conftest import ROOT
    from visualizer.run.check import check_history
    from visualizer.run.render import train
    from visualizer.run.scene import load_scene

    import threading

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    inside, leave = threading.Event(), threading.Event()

    def other_thread() -> None:
        with collector_paused():
            inside.set()
            leave.wait(10)

    helper = threading.Thread(target=other_thread)
    helper.start()
    inside.wait(10)
    with collector_paused():
        pass
    assert not gc.isenabled()  # the other thread still holds it off
    leave.set()
    helper.join()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # one the caller turned off stays off
    finally:
        gc.enable()

    scene = load_scene(str(ROOT / "tests" / "data" / "tiny_fit.py"))
    history = train(scene, steps=3)
    figures = []
    original = Figure.__init__

    def noted(self, *args, **kwargs):
        original(self, *args, **kwargs)
        figures.append(weakref.ref(self))
        assert not gc.isenabled()  # built with the collector held off

    Figure.__init__ = noted
    try:
        check_history(history, scene.layout_named("default"), size=(640, 360), title="tiny")
    finally:
        Figure.__init__ = original
    assert gc.isenabled() and figures
    gc.collect(0)
    # let go of before the collector was back, so freed by its next pass over its youngest objects (held
    # a moment longer, they would have waited for a pass over the older ones)
    assert all(ref() is None for ref in figures)
