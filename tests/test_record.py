"""The recorder as a passive sink: row convention, every-k, bad input, and the history file (schema 2 and 1)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import numeric_grad
from visualizer import (SGD, Dense, DivergenceError, Evaluator, History, HistoryError, Network, NetworkModel, Probe,
                        Recorder, Trainer, get_loss)
from visualizer.engine.training import log_full_set

DATA = Path(__file__).parent / "data"


def _net(rng):
    return Network([Dense(1, 3, "softplus", name="hidden", rng=rng), Dense(3, 1, name="output", rng=rng)])


def _record(steps, every=1, batch_size=None, lr=0.05, probes=()):
    rng = np.random.default_rng(7)
    net = _net(rng)
    x = np.linspace(0, 1, 6)[:, None]
    y = np.sin(3 * x)
    loss = get_loss("ssr")
    initial = {k: v.copy() for k, v in net.parameters().items()}
    rec = Recorder(every=every, total_steps=steps, evaluator=Evaluator(NetworkModel(net), x, y, probes=probes))
    trainer = Trainer(net, x, y, loss, SGD(lr), steps, batch_size=batch_size)
    trainer.add_hook("start", lambda s: log_full_set(rec, s))
    trainer.add_hook("step", lambda s: log_full_set(rec, s))
    trainer.run()
    return rec.history(), initial, net, x, y, loss, lr


def test_row_s_holds_params_after_s_updates_and_the_loss_and_gradient_there():
    hist, initial, net, x, y, loss, lr = _record(steps=4)
    assert hist.steps.tolist() == [0, 1, 2, 3, 4]  # N steps -> rows 0..N
    for name, value in initial.items():
        np.testing.assert_array_equal(hist.params[name][0], value)
    for s in range(len(hist)):
        net.set_parameters({k: v[s] for k, v in hist.params.items()})
        assert hist.loss[s] == pytest.approx(loss.value(net.forward(x), y), rel=1e-12)
        for name, p in net.parameters().items():
            numeric = numeric_grad(lambda: loss.value(net.forward(x), y), p)
            np.testing.assert_allclose(hist.grads[name][s], numeric, rtol=1e-5, atol=1e-8)
    # Full batch: row s+1 is row s moved against row s's gradient; the last row's gradient is never applied.
    for s in range(len(hist) - 1):
        for name in hist.params:
            np.testing.assert_allclose(hist.params[name][s + 1], hist.params[name][s] - lr * hist.grads[name][s],
                                       rtol=1e-12, atol=1e-14)


def test_per_sample_rows_record_the_whole_set_loss_not_the_sample_loss():
    hist, _, net, x, y, loss, _ = _record(steps=3, batch_size=1)
    net.set_parameters({k: v[2] for k, v in hist.params.items()})
    assert hist.loss[2] == pytest.approx(loss.value(net.forward(x), y))


def test_every_k_keeps_multiples_of_k_and_always_the_last_step():
    hist, *_ = _record(steps=7, every=3)
    assert hist.steps.tolist() == [0, 3, 6, 7]
    hist, *_ = _record(steps=6, every=3)
    assert hist.steps.tolist() == [0, 3, 6]


def test_probes_are_evaluated_per_row_and_the_layers_are_recorded():
    grid = np.linspace(0, 1, 5)[:, None]
    hist, _, net, *_ = _record(steps=2, probes=[Probe("curve/pred", grid, columns=0),
                                                Probe("curve/hidden", grid, layer="hidden")])
    assert hist.extras["curve/pred"].shape == (3, 5)
    assert hist.extras["curve/hidden"].shape == (3, 5, 3)
    net.set_parameters({k: v[1] for k, v in hist.params.items()})
    np.testing.assert_allclose(hist.extras["curve/pred"][1], net.forward(grid)[:, 0])
    assert [(lay.name, lay.n_in, lay.n_out, lay.activation) for lay in hist.info.layers] == [
        ("hidden", 1, 3, "softplus"), ("output", 3, 1, "identity")]


def test_log_accepts_arrays_floats_lists_and_array_likes_and_copies_them():
    class ArrayLike:
        def __init__(self, a):
            self.a = np.asarray(a)

        def __array__(self, dtype=None, copy=None):
            return self.a.astype(dtype or float)

    w = np.array([[1.0, 2.0]])
    rec = Recorder()
    rec.log(0, params={"w": w, "b": [[0.5]], "c": 3.0}, grads={"w": ArrayLike([[0.1, 0.2]])}, loss=np.float32(2.5),
            losses={"test": 2.75})
    w += 10  # the user's own update, in place
    rec.log(1, params={"w": w, "b": [[0.25]], "c": 2}, grads={"w": [[0.3, 0.4]]}, loss=1.5,
            losses={"test": 1.75})
    h = rec.history()
    np.testing.assert_array_equal(h.params["w"], [[[1.0, 2.0]], [[11.0, 12.0]]])
    np.testing.assert_array_equal(h.params["c"], [3.0, 2.0])
    np.testing.assert_array_equal(h.grads["w"][0], [[0.1, 0.2]])
    assert h.losses["train"].tolist() == [2.5, 1.5] and h.losses["test"].tolist() == [2.75, 1.75]


@pytest.mark.parametrize("second, message", [
    (dict(params={"w": [1.0, 2.0]}), "missing now"),
    (dict(params={"w": [1.0, 2.0], "b": 1.0, "c": 0.0}), "'c' appears for the first time"),
    (dict(params={"w": [1.0, 2.0, 3.0], "b": 1.0}), "'w' changed shape from (2,) to (3,)"),
    (dict(params={"w": [1.0, 2.0], "b": 1.0}, grads={"w": [1.0]}), "gradient of 'w' has shape (1,)"),
    (dict(params={"w": [1.0, 2.0], "b": 1.0}, grads={"v": [1.0]}), "gradient for 'v'"),
    (dict(params={"w": ["a", "b"], "b": 1.0}), "parameter 'w' at step 1 is not numeric"),
])
def test_log_rejects_changing_or_inconsistent_input_naming_parameter_and_step(second, message):
    rec = Recorder()
    rec.log(0, params={"w": [1.0, 2.0], "b": 1.0}, loss=1.0)
    with pytest.raises(ValueError, match="step 1") as info:
        rec.log(1, loss=1.0, **second)
    assert message in str(info.value)


def test_log_rejects_steps_that_do_not_increase_and_a_missing_loss():
    rec = Recorder()
    rec.log(3, params={"w": 1.0}, loss=1.0)
    with pytest.raises(ValueError, match="step 3 logged after step 3"):
        rec.log(3, params={"w": 1.0}, loss=1.0)
    with pytest.raises(ValueError, match="training loss"):
        rec.log(4, params={"w": 1.0})


def test_non_finite_values_stop_with_the_step_and_name_and_keep_earlier_rows():
    rec = Recorder()
    rec.log(0, params={"w": [1.0]}, grads={"w": [0.5]}, loss=1.0)
    with pytest.raises(DivergenceError, match="step 1: the gradient of w became nan") as info:
        rec.log(1, params={"w": [1.0]}, grads={"w": [np.nan]}, loss=1.0)
    assert info.value.step == 1
    with pytest.raises(DivergenceError, match="step 2: the loss became inf"):
        rec.log(2, params={"w": [1.0]}, grads={"w": [0.5]}, loss=np.inf)
    assert rec.history().steps.tolist() == [0]


def test_the_last_step_logged_is_kept_even_off_the_grid():
    rec = Recorder(every=4)
    for step in range(7):
        kept = rec.log(step, params={"w": [float(step)]}, loss=float(step))
        assert kept == (step % 4 == 0)
    h = rec.history()
    assert h.steps.tolist() == [0, 4, 6]
    assert h.params["w"][:, 0].tolist() == [0.0, 4.0, 6.0]
    # With total_steps known, steps off the grid are not even converted.
    rec = Recorder(every=4, total_steps=6)
    for step in range(7):
        rec.log(step, params={"w": [float(step)]} if step % 4 == 0 or step == 6 else {"w": object()}, loss=1.0)
    assert rec.history().steps.tolist() == [0, 4, 6]


def test_history_file_loads_with_plain_numpy_and_round_trips(tmp_path):
    hist, *_ = _record(steps=3)
    hist.info.scene = "demo"
    path = hist.save(tmp_path / "sub" / "history.npz")
    with np.load(path) as z:  # no pickle needed
        keys = set(z.files)
        assert {"schema", "step", "loss/train", "param/hidden.weight", "grad/output.bias", "static/data/x",
                "info"} <= keys
        assert int(z["schema"]) == 2
        assert z["param/hidden.weight"].shape == (4, 1, 3)
        assert z["step"].tolist() == [0, 1, 2, 3]
        info = json.loads(str(z["info"]))
        assert info["scene"] == "demo" and info["layers"][0]["name"] == "hidden"
    back = History.load(path)
    np.testing.assert_array_equal(back.steps, hist.steps)
    np.testing.assert_array_equal(back.loss, hist.loss)
    for name in hist.params:
        np.testing.assert_array_equal(back.params[name], hist.params[name])
        np.testing.assert_array_equal(back.grads[name], hist.grads[name])
    assert back.info == hist.info
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary left behind


def test_history_file_is_byte_identical_when_saved_twice(tmp_path):
    hist, *_ = _record(steps=3)
    a = hist.save(tmp_path / "a.npz").read_bytes()
    b = hist.save(tmp_path / "b.npz").read_bytes()
    assert a == b


@pytest.mark.parametrize("name", ["softplus_fit", "xor"])
def test_histories_written_by_0_1_0_load_with_their_layers(name):
    h = History.load(DATA / f"history_v1_{name}.npz")
    assert h.info.scene == name and h.info.version == "0.1.0"
    assert h.loss.shape == h.steps.shape and len(h) >= 3
    layers = h.info.layers
    assert layers[0].name == "hidden" and layers[-1].name == "output"
    assert layers[0].weight == "hidden.weight" and (layers[0].bias is None) == (name == "xor")
    assert h.total_steps == int(h.steps[-1])


def test_unknown_future_schema_and_foreign_files_are_clear_errors(tmp_path):
    hist, *_ = _record(steps=2)
    arrays = hist.arrays()
    arrays["schema"] = np.array(99)
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(HistoryError, match="newer visualizer .*schema 99"):
        History.load(tmp_path / "future.npz")
    np.savez(tmp_path / "foreign.npz", weights=np.ones(3))
    with pytest.raises(HistoryError, match="not a visualizer history"):
        History.load(tmp_path / "foreign.npz")
    arrays = hist.arrays()
    arrays["param/hidden.weight"] = arrays["param/hidden.weight"][:1]
    np.savez(tmp_path / "short.npz", **arrays)
    with pytest.raises(HistoryError, match="param/hidden.weight has 1 rows for 3 steps"):
        History.load(tmp_path / "short.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(HistoryError, match=r"text.npz is not a visualizer history \(not an npz archive\)"):
        History.load(tmp_path / "text.npz")


def test_recorder_rejects_bad_every():
    with pytest.raises(ValueError):
        Recorder(every=0)


def test_what_a_reader_meets_reads_well():
    from visualizer.record.model import Needs, Setup, TrainingData

    rng = np.random.default_rng(0)
    net = _net(rng)
    x, y = np.linspace(0, 1, 6)[:, None], np.zeros((6, 1))
    rec = Recorder(every=2, total_steps=4)
    assert repr(rec) == "Recorder(every=2, total_steps=4, 0 rows)"
    rec.log(0, net.parameters(), net.parameters(), 1.0)
    assert repr(rec) == "Recorder(every=2, total_steps=4, 1 rows)"
    evaluator = Evaluator(NetworkModel(net), x, y, loss="ssr")
    assert repr(evaluator) == ("Evaluator(NetworkModel(Network([Dense(hidden: 1→3, softplus), Dense(output: 3→1, "
                               "identity)])), 6 samples, loss=ssr, probes not worked out yet)")
    evaluator.prepare()
    assert repr(evaluator).endswith("6 samples, loss=ssr, 2 probes)")
    assert repr(TrainingData(x, y, None)) == "TrainingData(6 samples, no loss)"
    probe = Probe("d/hidden", x, "hidden", quantity="delta", reduce="sum")
    assert repr(probe) == "Probe('d/hidden': delta of layer 'hidden' on 6×1 inputs, reduce='sum')"
    assert repr(Probe("g", x, quantity="output_grad", columns=0)) == "Probe('g': ∂L/∂ŷ on 6×1 inputs, columns=0)"
    assert repr(Needs({"fit/x": x}, [probe])) == "Needs(static ['fit/x'], probes ['d/hidden'])"
    assert repr(Setup(x, y, NetworkModel(net).layers())) == "Setup(6 samples, 1→3→1)"
