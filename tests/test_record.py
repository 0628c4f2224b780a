"""The recorder's row convention, every-k recording, and the history file."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import numeric_grad
from visualizer import SGD, Dense, History, Network, Recorder, Trainer, get_loss


def _net(rng):
    return Network([Dense(1, 3, "softplus", name="hidden", rng=rng), Dense(3, 1, name="output", rng=rng)])


def _record(steps, every=1, batch_size=None, lr=0.05, probes=None):
    rng = np.random.default_rng(7)
    net = _net(rng)
    x = np.linspace(0, 1, 6)[:, None]
    y = np.sin(3 * x)
    loss = get_loss("ssr")
    initial = {k: v.copy() for k, v in net.parameters().items()}
    rec = Recorder(every=every, probes=probes, static={"data/x": x})
    trainer = Trainer(net, x, y, loss, SGD(lr), steps, batch_size=batch_size)
    trainer.add_hook("start", rec)
    trainer.add_hook("step", rec)
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


def test_probes_are_recorded_per_row():
    grid = np.linspace(0, 1, 5)[:, None]
    hist, _, net, *_ = _record(steps=2, probes={"curve/pred": lambda n: n.forward(grid)[:, 0]})
    assert hist.extras["curve/pred"].shape == (3, 5)
    net.set_parameters({k: v[1] for k, v in hist.params.items()})
    np.testing.assert_allclose(hist.extras["curve/pred"][1], net.forward(grid)[:, 0])


def test_history_file_loads_with_plain_numpy_and_round_trips(tmp_path):
    hist, *_ = _record(steps=3)
    hist.meta["scene"] = "demo"
    path = hist.save(tmp_path / "sub" / "history.npz")
    with np.load(path) as z:  # no pickle needed
        keys = set(z.files)
        assert {"step", "loss", "param/hidden.weight", "grad/output.bias", "static/data/x", "meta"} <= keys
        assert z["param/hidden.weight"].shape == (4, 1, 3)
        assert z["step"].tolist() == [0, 1, 2, 3]
        assert json.loads(str(z["meta"]))["scene"] == "demo"
    back = History.load(path)
    np.testing.assert_array_equal(back.steps, hist.steps)
    np.testing.assert_array_equal(back.loss, hist.loss)
    for name in hist.params:
        np.testing.assert_array_equal(back.params[name], hist.params[name])
        np.testing.assert_array_equal(back.grads[name], hist.grads[name])
    assert back.meta["scene"] == "demo"
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary left behind


def test_history_file_is_byte_identical_when_saved_twice(tmp_path):
    hist, *_ = _record(steps=3)
    a = hist.save(tmp_path / "a.npz").read_bytes()
    b = hist.save(tmp_path / "b.npz").read_bytes()
    assert a == b


def test_recorder_rejects_bad_every():
    with pytest.raises(ValueError):
        Recorder(every=0)
