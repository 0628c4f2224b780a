"""The Python API as a notebook uses it: build a scene in a cell, train, render, show inline."""
from __future__ import annotations

import numpy as np

from visualizer import SGD, Dense, FitPanel, Layout, LossPanel, Network, Scene, render, train


def notebook_scene() -> Scene:
    def network(seed: int) -> Network:
        rng = np.random.default_rng(seed)
        return Network([Dense(1, 3, "tanh", name="hidden", rng=rng), Dense(3, 1, name="output", rng=rng)])

    x = np.linspace(-1, 1, 9)
    return Scene(name="cell", network=network, x=x, y=x**2, loss="mse", optimizer=SGD(0.2), steps=8,
                 layout=Layout([["fit", "loss"]], {"fit": FitPanel(), "loss": LossPanel()}))


def test_a_scene_built_in_a_cell_trains_renders_and_shows_inline(tmp_path):
    scene = notebook_scene()
    history = train(scene)
    assert len(history) == 9 and history.loss[-1] < history.loss[0]
    result = render(scene, history, out=tmp_path, size=(320, 180), formats="mp4")
    assert set(result) == {"history", "mp4", "poster", "contact_sheet"}
    html = result._repr_html_()  # what Jupyter calls to show the cell's result
    assert html.startswith("<video") and "data:video/mp4;base64," in html
    gif_only = render(scene, history, out=tmp_path / "g", size=(320, 180), format="gif")
    assert gif_only._repr_html_().startswith('<img style="max-width:100%" src="data:image/gif;base64,')
    # Front ends that drop HTML get the poster; the player, when made, is what shows.
    bundle = result._repr_mimebundle_()
    assert bundle["image/png"] and bundle["text/html"] == html
    player = render(scene, history, out=tmp_path / "p", size=(320, 180), format="html")
    shown = player._repr_html_()
    assert shown.startswith("<iframe srcdoc=") and "&lt;video" in shown


def test_inline_output_beyond_the_limit_is_a_link(tmp_path, monkeypatch):
    scene = notebook_scene()
    result = render(scene, out=tmp_path, size=(320, 180), format="mp4")
    monkeypatch.setattr(type(result), "embed_limit", 100)
    html = result._repr_html_()
    assert "over the inline limit" in html and f'href="{result["mp4"]}"' in html and "base64" not in html


def test_without_ipywidgets_the_plain_bar_is_used_so_nothing_warns():
    import sys

    import tqdm.std

    from visualizer.api import _tqdm

    saved = sys.modules.get("ipywidgets")
    sys.modules["ipywidgets"] = None  # as in a notebook without ipywidgets: importing it fails
    try:
        assert _tqdm() is tqdm.std.tqdm  # tqdm.auto would warn "IProgress not found" there
    finally:
        if saved is None:
            del sys.modules["ipywidgets"]
        else:
            sys.modules["ipywidgets"] = saved
