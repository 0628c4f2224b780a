"""``visualizer check``: a scene's frames laid out as a render would lay them out, and what is wrong with them
(see :mod:`visualizer.draw.check`), without writing anything."""
from __future__ import annotations

from typing import Any

from ..base.errors import VisualizerError
from ..draw.check import Problem
from ..record.history import History
from .options import RenderOptions
from .scene import Scene


def check(scene: Scene, *, layout: str | None = None, preset: str = "default", theme: str = "light",
          size: tuple[int, int] | None = None, steps: int | None = None, explain: tuple[int, ...] | None = None,
          vary: dict[str, Any] | list[str] | None = None, history: History | None = None) -> list[Problem]:
    """What :mod:`visualizer.draw.check` finds on ``scene``'s frames (its ``layout`` by name, or a comparison
    of the ``vary`` settings) at ``preset`` in ``theme`` (light or dark) and ``size`` (default: the preset's,
    else the scene's). The scene is trained (``steps``: fewer than its own for a quicker look; the per-frame
    text is then that run's), or ``history`` is drawn. Raises :class:`VisualizerError` for bad input, as
    ``render`` does."""
    opts = RenderOptions(preset=preset, theme=theme, size=size, steps=steps, explain=explain).checked()
    if vary is not None:
        if explain is not None:
            raise VisualizerError("explain shows one run's step in slow motion: check the scene with it, not a "
                                  "comparison")
        history, chosen, title = compared(scene, vary, steps)
        return check_history(history, chosen, preset=opts.drawn_as, size=opts.frame_size(scene.size), title=title)
    from .render import _scene_layout

    chosen = _scene_layout(scene, layout or "default")
    if history is None:
        from .render import preflight, train

        preflight(scene, scene.steps if steps is None else steps, scene.every, scene.seed, chosen)
        history = train(scene, steps=steps, layout=chosen)
    return check_recorded(history, scene=scene, layout=chosen, preset=preset, theme=theme, size=size, explain=explain)


def check_recorded(history: History, *, scene: Scene | None = None, layout=None, preset: str = "default",
                   theme: str = "light", size: tuple[int, int] | None = None,
                   explain: tuple[int, ...] | None = None) -> list[Problem]:
    """What :mod:`visualizer.draw.check` finds on a recorded ``history`` (a PyTorch loop's, a saved run's)
    drawn as ``render(history, ...)`` would draw it: with ``layout`` (a :class:`Layout`, a ``scene``'s layout by
    name, ``"why"`` built from the history's layers) or else the scene's or the default layout."""
    from ..draw.panels import default_layout
    from .render import named_layout

    opts = RenderOptions(preset=preset, theme=theme, size=size, explain=explain).checked()
    if isinstance(layout, str):
        layout, history = named_layout(scene, history, layout)
    layout = layout or (scene.layout if scene else default_layout(history))  # as render draws a history
    if opts.explain_steps:  # what the slow-motion frames show, as a render computes it
        from .render import _frames

        _frames(history, scene, list(range(len(history))), opts.explain_steps, 30.0, False, opts.stage_seconds)
    title = scene.title if scene else history.info.title
    return check_history(history, layout, preset=opts.drawn_as, size=opts.frame_size(scene.size if scene else None),
                         title=title, explain=opts.explain_steps)


def check_history(history: History, layout, *, preset: str = "default", size: tuple[int, int] = (1280, 720),
                  title: str = "", explain: tuple[int, ...] = ()) -> list[Problem]:
    """What :mod:`visualizer.draw.check` finds on ``history`` drawn with ``layout``."""
    from ..draw.check import check_renderer
    from ..draw.renderer import collector_paused
    from .render import _renderer

    # The figures are built, checked and let go of with the collector held off: it then finds them garbage
    # in its next pass. (Let go of before the collector is back: a pass while they are still held would keep
    # them for the collector's older generation, which it passes over seldom and at length.)
    with collector_paused():
        renderer = _renderer(layout, history, size, None, title, history.info.scene or "run", explain, None,
                             False, preset, pixels=False)
        try:
            return check_renderer(renderer)
        finally:
            renderer.close()
            del renderer


def compared(scene: Scene, vary, steps: int | None = None):
    """(joined history, comparison layout, title) of ``scene`` trained once per combination of ``vary``, in
    this process (a check needs no pool), laid out as ``compare`` lays them out."""
    from .compare import applied, combinations, comparison, label, parse_vary, settled
    from .render import train

    vary = parse_vary(vary)
    runs = combinations(vary)
    histories = [train(applied(scene, settings), steps=steps, allow_divergence=True) for settings in runs]
    return comparison(scene, applied(scene, runs[0]), vary, histories, [label(s, settled(scene)) for s in runs])


__all__ = ["check", "check_history", "check_recorded", "compared"]
