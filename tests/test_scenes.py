"""Each scene's key claims, checked on the engine (no rendering)."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest

from conftest import ROOT
from visualizer import load_scene, train
from visualizer.record.schedule import RecordSchedule
from visualizer.run.render import select_rows


@pytest.fixture(scope="module")
def softplus_history():
    return train(load_scene(ROOT / "scenes" / "softplus_fit.py"))


@pytest.fixture(scope="module")
def notebook_history():
    return train(load_scene(ROOT / "scenes" / "softplus_notebook.py"))


def _scalars(history, row):
    """The seven scalars of history row ``row`` by the seed's names (b3 is 0 when the network has no output
    bias), from ``params`` or ``grads``."""
    def at(which):
        arrays = getattr(history, which)
        out = {"iw1": arrays["hidden.weight"][row, 0, 0], "iw2": arrays["hidden.weight"][row, 0, 1],
               "b1": arrays["hidden.bias"][row, 0], "b2": arrays["hidden.bias"][row, 1],
               "ow1": arrays["output.weight"][row, 0, 0], "ow2": arrays["output.weight"][row, 1, 0]}
        out["b3"] = arrays["output.bias"][row, 0] if "output.bias" in arrays else 0.0
        return out
    return at("params"), at("grads")


def _ssr(iw1, b1, ow1, iw2, b2, ow2, b3=0.0):
    """The seed's SSR in plain Python (independent of the engine)."""
    def softplus(z):
        return math.log1p(math.exp(z))

    total = 0.0
    for n in range(12):
        x = (n + 1) / 6
        a = softplus(2 * math.sin(math.pi * x))
        p = ow1 * softplus(iw1 * x + b1) + ow2 * softplus(iw2 * x + b2) + b3
        total += (a - p) ** 2
    return total


def _hand_gradients(iw1, b1, ow1, iw2, b2, ow2, b3=0.0):
    """dSSR/dθ from the chain rule, written out per sample in plain Python (independent of the engine)."""
    def softplus(z):
        return math.log1p(math.exp(z))

    def sigmoid(z):  # d softplus / dz
        return 1 / (1 + math.exp(-z))

    g = dict.fromkeys(["iw1", "b1", "ow1", "iw2", "b2", "ow2", "b3"], 0.0)
    for n in range(12):
        x = (n + 1) / 6
        a = softplus(2 * math.sin(math.pi * x))
        z1, z2 = iw1 * x + b1, iw2 * x + b2
        p = ow1 * softplus(z1) + ow2 * softplus(z2) + b3
        d_p = -2 * (a - p)
        g["ow1"] += d_p * softplus(z1)
        g["iw1"] += d_p * ow1 * sigmoid(z1) * x
        g["b1"] += d_p * ow1 * sigmoid(z1)
        g["ow2"] += d_p * softplus(z2)
        g["iw2"] += d_p * ow2 * sigmoid(z2) * x
        g["b2"] += d_p * ow2 * sigmoid(z2)
        g["b3"] += d_p
    return g


# The notebook's exact run: the named variant softplus_notebook.

def test_notebook_initial_values_are_the_seeds_random_draws(notebook_history):
    params, _ = _scalars(notebook_history, 0)
    assert (round(params["iw1"], 4), round(params["ow1"], 4), round(params["b1"], 4)) == (-0.2581, 4.5543, -2.3489)
    # The same six draws the seed makes, in its order iw1, ow1, b1, iw2, ow2, b2; no output bias.
    random.seed(13)
    draws = [random.gauss(0, 3) for _ in range(6)]
    assert [params[k] for k in ("iw1", "ow1", "b1", "iw2", "ow2", "b2")] == draws
    assert "output.bias" not in notebook_history.params


def test_notebook_step0_gradients_match_the_hand_derived_formulas(notebook_history):
    random.seed(13)
    iw1, ow1, b1, iw2, ow2, b2 = (random.gauss(0, 3) for _ in range(6))
    hand = _hand_gradients(iw1, b1, ow1, iw2, b2, ow2)
    _, got = _scalars(notebook_history, 0)
    for name in ("iw1", "b1", "ow1", "iw2", "b2", "ow2"):
        assert got[name] == pytest.approx(hand[name], rel=1e-12), name
    # Pinned values, so a change to the data or initialisation is noticed too.
    pinned = {"iw1": -2.1212082, "b1": -3.13175665, "ow1": -0.71458683,
              "iw2": -0.99688519, "b2": -1.78621865, "ow2": -2.42134782}
    for name, value in pinned.items():
        assert got[name] == pytest.approx(value, abs=1e-7), name


def test_notebook_trains_600_steps_and_gets_stuck_as_its_frames_say(notebook_history):
    h = notebook_history
    assert h.steps.tolist() == list(range(601))
    assert h.info.loss_label == "SSR" and h.info.optimizer == "SGD(lr=0.01)"
    assert h.loss[0] == pytest.approx(5.83342345, abs=1e-7)
    assert h.loss[-1] == pytest.approx(2.1414, abs=1e-3)  # the figure its docstring gives
    assert h.loss[-1] > h.loss[0] / 4  # it never gets near the fit
    # Full batch: each row is the previous one moved by lr times the recorded gradient.
    np.testing.assert_allclose(h.params["hidden.bias"][1],
                               h.params["hidden.bias"][0] - 0.01 * h.grads["hidden.bias"][0])
    scene = load_scene("softplus_notebook")
    assert "local minimum" in scene.title
    for layout in (scene.layout, scene.layouts["why"]):
        assert "local minimum" in layout.panels["fit"].title
    # The why layout's landscape reaches far enough past the path to show the valley's walls.
    assert scene.layouts["why"].panels["land"].margin > load_scene("softplus_fit").layouts["why"].panels["land"].margin


# The default run, which learns the bump.

def test_softplus_starts_from_seed_17s_weights_with_zero_biases(softplus_history):
    params, _ = _scalars(softplus_history, 0)
    rng = random.Random(17)
    draws = dict(zip(("iw1", "ow1", "b1", "iw2", "ow2", "b2"), (rng.gauss(0, 3) for _ in range(6))))
    for name in ("iw1", "ow1", "iw2", "ow2"):
        assert params[name] == draws[name], name
    assert params["b1"] == params["b2"] == params["b3"] == 0.0


def test_softplus_step0_gradients_match_the_hand_derived_formulas_and_finite_differences(softplus_history):
    params, got = _scalars(softplus_history, 0)
    hand = _hand_gradients(**params)
    assert set(got) == set(hand)
    for name in hand:
        assert got[name] == pytest.approx(hand[name], rel=1e-12), name
        h = 1e-6
        up, down = dict(params, **{name: params[name] + h}), dict(params, **{name: params[name] - h})
        assert got[name] == pytest.approx((_ssr(**up) - _ssr(**down)) / (2 * h), rel=1e-6, abs=1e-8), name
    assert softplus_history.loss[0] == pytest.approx(_ssr(**params), rel=1e-12)


def test_softplus_learns_the_bump_in_600_full_batch_steps(softplus_history, notebook_history):
    h = softplus_history
    assert h.steps.tolist() == list(range(601))
    assert h.info.loss_label == "SSR" and h.info.optimizer == "SGD(lr=0.02)"
    assert h.loss[-1] <= h.loss[0] / 4
    assert h.loss[-1] < notebook_history.loss[-1] / 2
    # Full batch, plain gradient descent: each row is the previous one moved by lr times the recorded gradient.
    for name in h.params:
        np.testing.assert_allclose(h.params[name][1], h.params[name][0] - 0.02 * h.grads[name][0])
    # The bump: the prediction at the data's peak (x = 0.5) ends near it, from far below; the notebook's run
    # ends far from it.
    scene, stuck = load_scene("softplus_fit"), load_scene("softplus_notebook")
    peak, top = scene.x[[2]], scene.y[2, 0]
    first, last = (_network_at(scene, h, row).forward(peak)[0, 0] - top for row in (0, -1))
    missed = _network_at(stuck, notebook_history, -1).forward(peak)[0, 0] - top
    assert abs(last) < 0.25 < 1.5 < abs(first)
    assert abs(missed) > 0.5


def test_softplus_panels_cover_every_parameter_including_the_output_bias():
    from visualizer import GradientPanel

    for name, labels in (("softplus_fit", {"iw1", "b1", "ow1", "iw2", "b2", "ow2", "b3"}),
                         ("softplus_notebook", {"iw1", "b1", "ow1", "iw2", "b2", "ow2"})):
        scene = load_scene(name)
        shown = {p.label for p in scene.layout.panels.values() if isinstance(p, GradientPanel)}
        assert shown == labels, name
        assert sum(scene.network(scene.seed).parameters()[k].size for k in scene.network(0).parameters()) == len(labels)


def test_softplus_docstring_says_what_it_fixed_and_changed():
    doc = load_scene("softplus_fit").description
    assert doc.startswith("Two softplus neurons")
    source = (ROOT / "scenes" / "softplus_fit.py").read_text()
    for fixed in ("sample index", "sigmoid of the pre-activation", "wrong lists", "output bias", "local minimum",
                  "softplus_notebook"):
        assert fixed in source


def _network_at(scene, history, row):
    net = scene.network(scene.seed)
    net.set_parameters({k: v[row] for k, v in history.params.items()})
    return net


def test_xor_is_the_seeds_own_computation():
    scene = load_scene("xor")
    history = train(scene)
    # A row every 50 steps, and log-spaced ones between where the run is fast (frames are paced by change).
    assert history.steps[-1] == 10_000 and set(range(0, 10_001, 50)) < set(history.steps.tolist())
    assert len(history) == RecordSchedule.paced(50, 10_000).rows()
    expected = {0: 0.4964100319, 1000: 0.0429846478, 9000: 0.0091295242}
    for step, value in expected.items():
        row = int(np.flatnonzero(history.steps == step)[0])
        net = _network_at(scene, history, row)
        assert np.mean(np.abs(scene.y - net.forward(scene.x))) == pytest.approx(value, abs=5e-11), step


def test_xor_weights_are_the_seeds_draws():
    net = load_scene("xor").network(1)
    np.random.seed(1)  # the seed notebook's own calls, checked against the scene's RandomState
    w0 = 2 * np.random.random((3, 4)) - 1
    w1 = 2 * np.random.random((4, 1)) - 1
    np.testing.assert_array_equal(net.parameters()["hidden.weight"], w0)
    np.testing.assert_array_equal(net.parameters()["output.weight"], w1)


def test_gender_ends_with_every_prediction_within_005_of_its_label():
    scene = load_scene("gender")
    history = train(scene)
    assert len(select_rows(history, pace="steps")) == 1001  # a row per epoch of four per-sample steps, and more
    assert len(history) == RecordSchedule.paced(4, 4000).rows()
    pred = _network_at(scene, history, -1).forward(scene.x)
    assert np.all(np.abs(pred - scene.y) < 0.05), pred.ravel()
    assert set(history.params) == {"hidden.weight", "hidden.bias", "output.weight", "output.bias"}


def test_product_learns_x0_times_x1_at_04_02():
    scene = load_scene("product")
    history = train(scene, every=250_000)
    assert history.steps.tolist() == [0, 250_000, 500_000, 750_000, 1_000_000]
    value = _network_at(scene, history, -1).forward(np.array([[0.4, 0.2]]))[0, 0]
    assert value == pytest.approx(0.08, abs=0.01)
    assert history.loss[-1] < 0.05 * history.loss[0]  # MSE on the evaluation grid


def test_autoencoder_reconstructs_every_pattern():
    scene = load_scene("autoencoder")
    history = train(scene, every=100)
    out = _network_at(scene, history, -1).forward(scene.x)
    assert (out.argmax(axis=1) == np.arange(8)).all()
    first = _network_at(scene, history, 0).forward(scene.x)
    assert not (first.argmax(axis=1) == np.arange(8)).all()  # it really had something to learn
    assert scene.network(0).layers[0].activation.name == "expit(z+1)"


@pytest.mark.parametrize("name", ["softplus_fit", "softplus_notebook", "xor", "gender", "product", "autoencoder"])
def test_every_scene_docstring_names_its_seed_and_what_it_changed(name):
    source = (ROOT / "scenes" / f"{name}.py").read_text()
    doc = source.split('"""')[1]
    assert "seed notebook" in doc and ("fixes" in doc or "changes" in doc)


def test_spiral_reaches_the_case_studys_98_percent_training_accuracy():
    scene = load_scene("spiral")
    history = train(scene, every=1000)  # all 10,000 steps; fewer rows recorded keeps the test quick
    assert history.steps[-1] == 10_000
    accuracy = history.extras["accuracy/train"]
    assert accuracy[0] < 0.5 and accuracy[-1] >= 0.98
    assert history.loss[0] == pytest.approx(math.log(3), abs=1e-3)  # the case study's first printed loss
    # 0.5·λ·ΣW² over the weights only (CS231n's convention), recorded apart from the data loss.
    weights = sum((history.params[k][-1] ** 2).sum() for k in ("hidden.weight", "output.weight"))
    assert history.losses["penalty"][-1] == pytest.approx(0.5 * 1e-3 * weights)


def test_spiral_starts_as_the_case_study_does():
    net = load_scene("spiral").network(0)
    params = net.parameters()
    assert not params["hidden.bias"].any() and not params["output.bias"].any()
    assert 0.005 < params["hidden.weight"].std() < 0.015  # 0.01·randn
    scene = load_scene("spiral")
    assert scene.x.shape == (300, 2) and np.bincount(scene.y[:, 0].astype(int)).tolist() == [100, 100, 100]


def test_moons_reaches_100_percent_with_micrograds_schedule_and_penalty():
    scene = load_scene("moons")
    history = train(scene)
    assert len(history) == 101 and history.extras["accuracy/train"][-1] == 1.0
    # Full batch: each update is lr(k) = 1 − 0.9·k/100 times the recorded gradient, which includes the
    # penalty's 2·1e-4·p on every parameter (micrograd's α·Σp², biases too).
    for k in (0, 50, 99):
        for name, p in history.params.items():
            np.testing.assert_allclose(p[k + 1], p[k] - (1.0 - 0.9 * k / 100) * history.grads[name][k],
                                       rtol=1e-12, atol=1e-15)
    net = _network_at(scene, history, 50)
    pred = net.forward(scene.x)
    net.backward(scene.loss.grad(pred, scene.y))
    for name, p in net.parameters().items():
        np.testing.assert_allclose(history.grads[name][50], net.gradients()[name] + 2e-4 * p, rtol=1e-10,
                                   atol=1e-15)


def test_moons_draws_weights_as_micrograd_does():
    net = load_scene("moons").network(1337)
    rng = random.Random(1337)
    first = [[rng.uniform(-1, 1) for _ in range(2)] for _ in range(16)]  # neuron by neuron
    np.testing.assert_array_equal(net.parameters()["hidden1.weight"], np.array(first).T)
    assert not any(p.any() for name, p in net.parameters().items() if name.endswith("bias"))


@pytest.fixture(scope="module")
def overfit_scene_module():
    from visualizer.run.scene import find_scene_file, import_user_file

    return import_user_file(find_scene_file("overfit"))


def test_overfit_test_loss_turns_up_while_the_training_loss_keeps_falling(overfit_scene_module):
    scene = overfit_scene_module.scene()
    history = train(scene, every=20)  # rows enough to find the minimum; the plane probes are what costs
    assert (len(scene.x), len(scene.test[0])) == (60, 90)
    train_loss, test_loss = history.losses["train"], history.losses["test"]
    best = int(np.argmin(test_loss))
    assert history.steps[best] < 0.4 * history.steps[-1]  # the minimum is well before the end
    assert test_loss[-1] > 2 * test_loss[best]  # and the test loss climbs far above it
    assert train_loss[-1] < 0.25 * train_loss[best]  # while the training loss keeps falling
    assert history.extras["accuracy/train"][-1] == 1.0
    assert history.extras["accuracy/test"][-1] < history.extras["accuracy/test"].max()


def test_overfit_l2_switch_keeps_the_test_loss_down(overfit_scene_module):
    plain = train(overfit_scene_module.scene(), every=20)
    regularized = train(overfit_scene_module.scene(l2=0.01), every=20)
    assert "penalty" in regularized.losses and "penalty" not in plain.losses
    test_loss = regularized.losses["test"]
    assert test_loss[-1] < 1.05 * test_loss.min()  # no turn up
    assert test_loss[-1] < 0.5 * plain.losses["test"][-1]


@pytest.mark.parametrize("name, lesson", [("spiral", "CS231n"), ("moons", "micrograd"),
                                          ("overfit", "generalization")])
def test_lesson_scene_docstrings_name_the_lesson_and_the_figure_reached(name, lesson):
    doc = (ROOT / "scenes" / f"{name}.py").read_text().split('"""')[1]
    assert lesson in doc and ("Reproduces" in doc or "lesson" in doc)
    assert "%" in doc or "turns up" in doc


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "scenes").glob("*.py") if not p.stem.startswith("_")))
def test_every_bundled_scene_and_layout_passes_the_checks_a_render_makes_before_training(name):
    from visualizer.run.render import preflight

    scene = load_scene(name)
    for layout in [scene.layout, *scene.layouts.values()]:
        preflight(scene, scene.steps, scene.every, scene.seed, layout)
