"""The Python API as a notebook uses it: build a scene in a cell, train, render, show inline."""
from __future__ import annotations

import numpy as np

from visualizer import SGD, Dense, FitPanel, Layout, LossPanel, Network, RenderResult, Scene, render, train


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
    made = render(scene, history, out=tmp_path, size=(320, 180), formats="mp4,gif,html")
    assert set(made) == {"history", "mp4", "gif", "html", "poster", "contact_sheet"}
    shown = made._repr_html_()  # what Jupyter calls to show the cell's result: the player, when made
    assert shown.startswith("<iframe srcdoc=") and "&lt;video" in shown

    def only(*kinds):  # the result of a render that wrote just these (the same files)
        return RenderResult({k: v for k, v in made.items() if k in {"history", "poster", "contact_sheet", *kinds}})

    result = only("mp4")
    html = result._repr_html_()
    assert html.startswith("<video") and "data:video/mp4;base64," in html
    assert only("gif")._repr_html_().startswith('<img style="max-width:100%" src="data:image/gif;base64,')
    # Front ends that drop HTML get the poster.
    bundle = result._repr_mimebundle_()
    assert bundle["image/png"] and bundle["text/html"] == html


def test_inline_output_beyond_the_limit_is_a_link(tmp_path, monkeypatch):
    scene = notebook_scene()
    result = render(scene, out=tmp_path, size=(320, 180), format="mp4")
    monkeypatch.setattr(type(result), "embed_limit", 100)
    html = result._repr_html_()
    assert "over the inline limit" in html and f'href="{result["mp4"]}"' in html and "base64" not in html


def test_without_ipywidgets_the_plain_bar_is_used_so_nothing_warns():
    import sys

    import tqdm.std

    from visualizer.run.render import _tqdm_class

    saved = sys.modules.get("ipywidgets")
    sys.modules["ipywidgets"] = None  # as in a notebook without ipywidgets: importing it fails
    try:
        assert _tqdm_class() is tqdm.std.tqdm  # tqdm.auto would warn "IProgress not found" there
    finally:
        if saved is None:
            del sys.modules["ipywidgets"]
        else:
            sys.modules["ipywidgets"] = saved


def classifier_scene(**changes) -> Scene:
    from visualizer import AccuracyPanel, Adam, L2

    def network(seed: int) -> Network:
        rng = np.random.default_rng(seed)
        return Network([Dense(2, 6, "relu", name="hidden", rng=rng), Dense(6, 3, name="output", rng=rng)])

    rng = np.random.default_rng(5)
    x = rng.normal(size=(30, 2))
    y = np.arange(30) % 3
    settings = dict(name="three", network=network, x=x, y=y, loss="softmax_ce", optimizer=Adam(0.05),
                    penalty=L2(1e-3), test_fraction=0.3, steps=6, every=2,
                    layout=Layout([["loss", "acc"]], {"loss": LossPanel(), "acc": AccuracyPanel()}))
    return Scene(**{**settings, **changes})


def test_a_classifier_records_test_loss_penalty_accuracy_and_adams_state():
    scene = classifier_scene()
    history = train(scene)
    assert set(history.losses) == {"train", "test", "penalty"}
    assert {"accuracy/train", "accuracy/test"} <= set(history.extras)
    assert history.info.loss_kind == "multiclass" and history.info.classes == 3
    assert history.info.penalty == "L2 0.001·Σw²" and history.info.optimizer == "Adam(lr=0.05)"
    x_test, y_test = scene.test
    np.testing.assert_array_equal(history.static["data/x_test"], x_test)
    np.testing.assert_array_equal(history.static["data/y_test"], y_test)
    # Adam's first update from zero moments: m = (1 − β₁)·g, v = (1 − β₂)·g², with g the recorded gradient
    # of the objective at step 0 (full batch); every=1 to see step 1.
    history = train(scene, every=1)
    for name, g in history.grads.items():
        np.testing.assert_allclose(history.extras[f"optim/m/{name}"][1], 0.1 * g[0], rtol=1e-12)
        np.testing.assert_allclose(history.extras[f"optim/v/{name}"][1], 0.001 * g[0] ** 2, rtol=1e-12)
        np.testing.assert_allclose(history.params[name][1] - history.params[name][0],
                                   history.extras[f"optim/step/{name}"][1], rtol=1e-9, atol=1e-15)


def test_a_scene_with_a_stateful_optimizer_trains_from_the_same_start_every_time():
    scene = classifier_scene()
    first, second = train(scene), train(scene)
    for name in first.params:
        np.testing.assert_array_equal(first.params[name], second.params[name])
    assert scene.optimizer.steps_taken == 0  # the scene's own optimizer was copied, never stepped
