"""Dropout's masks and batch norm's statistics in the history, and the views that draw a step through them
(the why layout's chain rule and backward pass, --explain): the numbers are the training step's own."""
from __future__ import annotations

import numpy as np
import pytest

from visualizer import MLP, SGD, DecisionBoundaryPanel, History, Layout, LossPanel, Scene, render, train
from visualizer.draw.explain import ExplainFrame, explain_analysis, explain_frames, norm_columns, phases
from visualizer.draw.panels.explain import ExplainNotesPanel, explained_steps
from visualizer.engine.losses import get_loss
from visualizer.engine.training import Trainer
from visualizer.record.modes import history_step_pass, mask_key, norm_key, step_pass

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [0.5, 0.2], [0.3, 0.9]], dtype=float)
Y = np.array([[0], [1], [1], [0], [1], [0]], dtype=float)
LR = 0.3


def _scene(name: str, network: MLP) -> Scene:
    layout = Layout([["map", "loss"]], {"map": DecisionBoundaryPanel(resolution=12), "loss": LossPanel()})
    return Scene(name=name, title=name, network=network, x=X, y=Y, loss="bce", optimizer=SGD(LR), steps=4, every=1,
                 seed=3, layout=layout)


DROP = _scene("drop", MLP((2, 4, 3, 1), "tanh", output="identity", dropout=0.5))
NORM = _scene("norm", MLP((2, 4, 3, 1), "tanh", output="identity", batchnorm=True))
PLAIN = _scene("plain", MLP((2, 4, 3, 1), "tanh", output="identity"))


@pytest.fixture(scope="module")
def runs():
    """Each scene trained with its why layout (the backward pass and the chain rule recorded), every step."""
    return {s.name: (s, train(s, layout="why", pace="steps")) for s in (DROP, NORM)}


def test_masks_and_batch_statistics_are_recorded_only_for_the_layers_that_have_them(runs, tmp_path):
    drop, norm = runs["drop"][1], runs["norm"][1]
    plain = train(PLAIN, pace="steps")
    assert not any(k.startswith(("dropout/", "batchnorm/")) for k in plain.extras)
    masks = [k for k in drop.extras if k.startswith("dropout/")]
    assert masks == [mask_key("drop1"), mask_key("drop2")]
    assert drop.extras[mask_key("drop1")].dtype == bool and drop.extras[mask_key("drop1")].shape == (5, 6, 4)
    assert 0.2 < drop.extras[mask_key("drop1")].mean() < 0.8  # p = 0.5: about half kept
    assert not any(k.startswith("batchnorm/") for k in drop.extras)
    for stat in ("mean", "var", "running_mean", "running_var"):
        assert norm.extras[norm_key("bn1", stat)].shape == (5, 4)
    # The running statistics at row 0 are the initial ones; the recorded batch mean moves them as PyTorch does.
    np.testing.assert_array_equal(norm.extras[norm_key("bn1", "running_mean")][0], np.zeros(4))
    np.testing.assert_allclose(norm.extras[norm_key("bn1", "running_mean")][1],
                               0.1 * norm.extras[norm_key("bn1", "mean")][0], rtol=1e-12)
    # A saved history holds them as plain numpy arrays, the masks one byte each.
    with np.load(drop.save(tmp_path / "h.npz")) as z:
        assert z[f"extra/{mask_key('drop2')}"].dtype == bool
        np.testing.assert_array_equal(z[f"extra/{mask_key('drop2')}"], drop.extras[mask_key("drop2")])
    assert History.load(tmp_path / "h.npz").extras[mask_key("drop1")].dtype == bool


@pytest.mark.parametrize("name", ["drop", "norm"])
def test_recording_leaves_training_alone_and_records_the_next_updates_own_gradient(runs, name):
    scene, h = runs[name]
    net = scene.network(scene.seed)
    Trainer(net, X, Y, scene.loss, SGD(LR), 4).run()  # nothing recorded
    for k, v in net.parameters().items():
        np.testing.assert_array_equal(h.params[k][-1], v)
    # Full-batch SGD: θ(s+1) = θ(s) − η·g(s), so the recorded gradient is the one the update applied (with
    # that update's masks and batch statistics), exactly.
    for k in h.params:
        np.testing.assert_allclose(h.params[k][1:], h.params[k][:-1] - LR * h.grads[k][:-1], rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", ["drop", "norm"])
def test_the_step_pass_from_the_history_is_the_recorded_gradient_and_finite_differences_agree(runs, name):
    scene, h = runs[name]
    for row in range(len(h)):
        sp = history_step_pass(h, row, scene.loss)
        for lay in h.info.layers:
            np.testing.assert_allclose(sp.weight_grad(lay.name), h.grads[lay.weight][row], rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(sp.bias_grad(lay.name), h.grads[lay.bias][row], rtol=1e-12, atol=1e-15)
            # The why layout's δ's, slopes and outputs were read from the training step the recorder took (lent
            # to the evaluator); computed again from the history they are the same numbers, bit for bit.
            np.testing.assert_array_equal(h.extras[f"delta/{lay.name}"][row], sp.delta[lay.name].sum(axis=0))
        slopes = [k for k in h.extras if k.startswith("backprop/slope/")]  # the layers with an activation
        for k in slopes:
            np.testing.assert_array_equal(h.extras[k][row], sp.slope[k.rsplit("/", 1)[1]])
        np.testing.assert_array_equal(h.extras["backprop/output_grad"][row], sp.output_grad)
        for st in sp.norms.values():
            np.testing.assert_allclose(st.grad_gamma, h.grads[f"{st.name}.weight"][row], rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(st.mean, h.extras[norm_key(st.name, "mean")][row], rtol=1e-12)
    assert slopes or name == "norm"
    # Central differences of the training-mode loss, masks held, for a first-layer weight.
    row = 2
    params = {k: v[row].copy() for k, v in h.params.items()}
    masks = {d["name"]: h.extras[mask_key(d["name"])][row] for d in h.info.other_layers if d["kind"] == "dropout"}

    def loss_at(eps):
        p = dict(params)
        p["hidden1.weight"] = params["hidden1.weight"].copy()
        p["hidden1.weight"][1, 2] += eps
        return step_pass(h.info.layers, h.info.other_layers, p, X, Y, scene.loss, masks).loss

    e = 1e-6
    fd = (loss_at(e) - loss_at(-e)) / (2 * e)
    assert fd == pytest.approx(h.grads["hidden1.weight"][row][1, 2], rel=1e-6, abs=1e-9)


def test_the_chain_rule_runs_through_the_masks_and_sums_to_the_recorded_gradient(runs):
    from visualizer.draw.panels.defaults import why_layout

    scene, h = runs["drop"]
    chain = why_layout(h.info.layers).panels["chain"]
    rule, values = chain.terms(h)
    names = [f.name for f in rule.paths[0]]
    assert any(n.startswith("m·∂") for n in names), names  # the slope through the mask
    recorded = h.grads[chain.param][(slice(None), *chain.index)]
    np.testing.assert_allclose(values.prod(axis=-1).sum(axis=(1, 2)), recorded, rtol=1e-10, atol=1e-14)
    # A sample for which the unit was dropped contributes nothing.
    lay = rule.layer.name
    below = [d["name"] for d in h.info.other_layers if d["after"] == lay][0]
    dropped = ~h.extras[mask_key(below)][:, :, rule.unit]
    assert dropped.any()
    assert np.all(values.prod(axis=-1)[:, 0][dropped] == 0)
    # The backward diagram's δ's are the step's: Σδ over the samples is the recorded ∂L/∂b.
    for L in h.info.layers:
        np.testing.assert_allclose(h.extras[f"delta/{L.name}"], h.grads[L.bias], rtol=1e-10, atol=1e-14)


def test_the_chain_rule_refuses_a_path_through_batch_norm(runs):
    from visualizer.draw.panels.why import ChainRulePanel

    _, h = runs["norm"]
    with pytest.raises(ValueError, match="runs through batch norm 'bn1'"):
        ChainRulePanel("hidden1.weight", (0, 0)).terms(h, 0)


def test_an_explained_step_shows_the_dropped_units_and_batch_norm_as_its_own_stage(runs):
    loss = get_loss("bce")
    _, drop = runs["drop"]
    drop.static.update(explain_analysis(drop, [2], loss=loss))
    d = explained_steps(drop, [2])[2]
    for k, lay in enumerate(drop.info.layers[:2]):
        dropped = ~drop.extras[mask_key(f"drop{k + 1}")][2]
        np.testing.assert_array_equal(d.dropped[k], dropped)
        assert np.all(d.a[k + 1][dropped] == 0) and np.all(d.delta[k][dropped] == 0)
    for grad, lay in zip(d.grads, drop.info.layers):  # ∂L/∂W = Σ input · δ: the recorded gradient
        np.testing.assert_allclose(grad, drop.grads[lay.weight][2], rtol=1e-12, atol=1e-15)

    _, norm = runs["norm"]
    norm.static.update(explain_analysis(norm, [2], loss=loss))
    assert norm_columns(norm) == [1, 2]
    plan = phases(3, norms=[1, 2])
    # backward, a batch norm's δ's are those of the layer after it
    assert [(p.kind, p.layer, p.stage) for p in plan if p.stage] == [("forward", 1, "norm"), ("forward", 2, "norm"),
                                                                     ("backward", 3, "norm"), ("backward", 2, "norm")]
    assert [p.norm_after for p in plan if p.stage] == [1, 2, 2, 1]
    n = explained_steps(norm, [2])[2]
    np.testing.assert_allclose(n.norms[0]["mean"], norm.extras[norm_key("bn1", "mean")][2], rtol=1e-12)
    np.testing.assert_array_equal(n.norms[0]["gamma"], norm.params["bn1.weight"][2])
    for grad, lay in zip(n.grads, norm.info.layers):
        np.testing.assert_allclose(grad, norm.grads[lay.weight][2], rtol=1e-12, atol=1e-15)
    # Its phase writes the step's numbers: μ of the first unit as the notes write numbers.
    frames = [k for k in explain_frames(norm, [0, 1, 2], [2], fps=2, seconds=1.0) if isinstance(k, ExplainFrame)]
    stage = next(k for k in frames if plan[k.phase].stage == "norm" and plan[k.phase].kind == "forward")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 8))  # room for the whole caption (a short panel ends it with "…")
    try:
        texts = ExplainNotesPanel([2]).draw(ax, norm)(stage)
        from visualizer.draw.panels.explain import short

        body = "\n".join(t.get_text() for t in texts)
        assert "x̂ = (z − μ) / √(σ² + ε)" in body
        assert f"μ {short(float(n.norms[0]['mean'][0]))}" in body
    finally:
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(4, 3))  # too short for it: the caption ends in "…" above the legend
    try:
        texts = ExplainNotesPanel([2]).draw(ax, norm)(stage)
        fig.canvas.draw()
        caption = texts[-1]
        assert caption.get_text().endswith("\n…") and "x̂ = (z − μ) / √(σ² + ε)" in caption.get_text()
        assert caption.get_window_extent().y0 >= ax.get_legend().get_window_extent().y1 - 1
    finally:
        plt.close(fig)


def test_a_dropout_scene_renders_its_why_layout_and_an_explained_step_again_from_its_history(tmp_path):
    written = render(DROP, layout="why", explain=[2], explain_seconds=0.3, format="frames", size=(320, 180), fps=4,
                     out=tmp_path, jobs=1, pace="steps", max_frames=2)
    names = sorted(p.name for p in written["frames"].iterdir())
    assert any(n.startswith("frame_00002.e") for n in names) and "frame_00004.png" in names
    # A saved history re-computes the explained step from its recorded masks: the same numbers.
    saved = History.load(written["history"])
    kept = {k: v for k, v in saved.static.items() if k.startswith("explain/2/")}
    assert "explain/2/dropped/hidden1" in kept
    for k in kept:
        del saved.static[k]
    again = explain_analysis(saved, [2], loss=get_loss("bce"))
    assert set(again) == set(kept)
    for k in kept:
        np.testing.assert_array_equal(again[k], kept[k])


def _stats_layout():
    from visualizer import LayerHistogramPanel, LayerStatPanel

    return Layout([["act", "pre"], ["delta", "norm"]],
                  {"act": LayerHistogramPanel("activation", layers="all"), "pre": LayerHistogramPanel("preactivation"),
                   "delta": LayerHistogramPanel("delta"), "norm": LayerStatPanel("delta_norm")})


def test_layer_statistics_and_outputs_read_from_the_recorded_evaluation_pass_are_those_of_a_pass_of_their_own():
    from visualizer.engine.training import TrainState, log_full_set
    from visualizer.record.history import Recorder
    from visualizer.record.model import Evaluator, NetworkModel
    from visualizer.record.probes import Probe

    net = MLP((2, 4, 3, 1), "tanh", output="identity", dropout=0.5, batchnorm=True)(3)
    loss = get_loss("bce")
    Trainer(net, X, Y, loss, SGD(LR), 3).run()  # running statistics off their start
    model = NetworkModel(net)
    # The layers' outputs on the training set too (inputs equal to it, not the same array), and the output.
    probes = [Probe(f"out/{name}", X.copy(), name) for name in ("hidden1", "bn1", "drop1", "bn2")] + \
        [Probe("out/net", X.copy())]
    recorder = Recorder(every=1, total_steps=1,
                        evaluator=Evaluator(model, X, Y, _stats_layout(), probes=probes, loss=loss))
    log_full_set(recorder, TrainState(0, 1, net, loss, X, Y))  # the evaluator reads the pass the log lent it
    lent = recorder.history()
    # Nothing lent: its own passes.
    own = Evaluator(model, X, Y, _stats_layout(), probes=probes, loss=loss)(net.parameters())
    keys = [k for k in own if not k.endswith("_level")]
    assert any(k.endswith("delta_hist") for k in keys) and any("/bn" in k for k in keys) and "out/net" in keys
    for k in keys:
        np.testing.assert_array_equal(lent.extras[k][0], own[k])


def test_the_memory_estimated_before_training_counts_the_masks_and_batch_statistics_recorded():
    from visualizer.record.model import Evaluator, NetworkModel
    from visualizer.run.render import _values_per_row

    scene = Scene(name="both", network=MLP((2, 4, 3, 1), "tanh", output="identity", dropout=0.5, batchnorm=True),
                  x=X, y=Y, loss="bce", optimizer=SGD(LR), steps=2, every=1, seed=3, layout=_stats_layout())
    net = scene.network(scene.seed)
    computed = Evaluator(NetworkModel(net), X, Y, scene.layout, loss=scene.loss)(net.parameters())
    estimate = 8 * _values_per_row(net.parameters(), computed, scene.optimizer, net, len(X))
    h = train(scene, pace="steps")
    recorded = {(t, k): v[0].nbytes for t, table in (("param", h.params), ("grad", h.grads), ("extra", h.extras))
                for k, v in table.items()}
    modes = sum(v for (t, k), v in recorded.items() if k.startswith(("dropout/", "batchnorm/")))
    assert modes == 2 * (6 * 4 + 6 * 3) // 2 + 4 * 8 * (4 + 3)  # masks one byte per sample and unit
    actual = sum(recorded.values()) + 8 * len(h.losses)
    # The estimate holds what is recorded, and is over it by at most its slack: 8 numbers for the losses and
    # accuracies, one for each histogram's level (kept while recording, dropped at the end), and rounding.
    levels = sum(1 for k in computed if k.endswith("_level"))
    assert actual <= estimate <= actual + 8 * (8 + levels) + 3 * 7
    # Without the masks and the batch statistics it would fall short.
    assert estimate - modes < actual


def test_a_history_alone_gets_the_why_layout_through_its_recorded_masks_and_batch_statistics(runs, tmp_path):
    from visualizer.base.errors import VisualizerError
    from visualizer.run.why import why_for_history

    for name, scene in (("drop", DROP), ("norm", NORM)):
        saved = History.load(train(scene, pace="steps").save(tmp_path / f"{name}.npz"))  # its default layout
        layout, done = why_for_history(saved)
        assert {d["name"] for d in saved.info.other_layers} <= {d["name"] for d in done.info.other_layers}
        # The backward pass worked out from the history is the one the scene's why layout recorded in training.
        _, why = runs[name]
        keys = [k for k in why.extras if k.startswith(("delta/", "backprop/")) and k in done.extras]
        assert len(keys) >= 4
        for k in keys:
            np.testing.assert_array_equal(done.extras[k], why.extras[k])
        assert ("BatchNormPanel" if name == "norm" else "LossLandscapePanel") == type(layout.panels["land"]).__name__
    written = render(saved, layout="why", last_frame=True, size=(320, 180), jobs=1, out=tmp_path / "out")
    assert written["poster"].stat().st_size > 0
    del saved.extras[norm_key("bn2", "var")]
    with pytest.raises(VisualizerError, match=r"^no why layout for this history: it has batchnorm 'bn2' but not "
                                              r"batchnorm/bn2/var, which"):
        why_for_history(saved)


def test_the_explain_figure_of_a_wide_layer_shows_a_summary_with_true_names_and_the_shown_units_masks():
    from matplotlib.figure import Figure

    from visualizer.draw.panels.diagram import MAX_SHOWN_UNITS, columns
    from visualizer.draw.panels.explain import ExplainDiagramPanel
    from visualizer.draw.text import FrameText
    from visualizer.record.names import unit_names

    wide = _scene("wide", MLP((2, 14, 1), "tanh", output="identity", dropout=0.5))
    history = train(wide, layout="why", pace="steps")
    history.static.update(explain_analysis(history, [2], loss=get_loss("bce")))
    ax = Figure(figsize=(6, 4.5), dpi=40).add_subplot()
    update = ExplainDiagramPanel([2]).draw(ax, history)
    plan = next(iter(explained_steps(history, [2]).values())).plan
    frames = [k for k in explain_frames(history, [0, 1, 2], [2], fps=2, seconds=1.0) if isinstance(k, ExplainFrame)]
    backward = next(k for k in frames if plan[k.phase].kind == "backward")
    texts = [a.get_text() for a in update(backward) if isinstance(a, FrameText)]
    neurons, crosses = ax.collections[1], ax.collections[2]
    k = len(neurons.get_offsets()) - 3  # the two inputs, the output and the hidden units shown
    assert 4 <= k <= MAX_SHOWN_UNITS < 14
    assert f"⋮ {14 - k} more" in texts
    shown = columns(history, k).shown[1]
    names = unit_names(history.info.layers)[history.info.layers[0].name]
    assert [names[u] for u in shown] == [t for t in texts if t in names]  # the shown units under their own names
    # a shown unit's cross is as dark as the share of samples that dropped that unit (its true index)
    share = np.asarray(history.static["explain/2/dropped/hidden1"], dtype=bool).mean(axis=0)[shown]
    alpha = np.asarray(crosses.get_facecolor() if len(crosses.get_facecolor()) else crosses.get_edgecolor())[:k, 3]
    np.testing.assert_allclose(alpha, np.where(share > 0, 0.25 + 0.75 * share, 0.0))
