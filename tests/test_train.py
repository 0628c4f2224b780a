"""The training loop: batch modes, hook events, and that it is model-agnostic."""
from __future__ import annotations

import numpy as np
import pytest

from visualizer import SGD, Dense, Network, Trainer, get_loss


def _linear(rng) -> Network:
    return Network([Dense(1, 1, "identity", name="lin", weight=[[0.5]], bias_init=[0.0])])


def _seen_batches(batch_size, steps, n=5, shuffle=False):
    x = np.arange(n, dtype=float)[:, None]
    y = np.zeros((n, 1))
    seen = []
    net = _linear(None)
    trainer = Trainer(net, x, y, get_loss("mse"), SGD(1e-9), steps, batch_size=batch_size, shuffle=shuffle,
                      rng=np.random.default_rng(0))
    original = net.forward

    def spy(xb):
        seen.append(xb[:, 0].tolist())
        return original(xb)

    net.forward = spy
    trainer.run()
    return seen


def test_full_batch_uses_all_data_every_step():
    assert _seen_batches(None, 3) == [[0, 1, 2, 3, 4]] * 3


def test_per_sample_walks_the_data_in_order_and_wraps():
    assert _seen_batches(1, 7) == [[0], [1], [2], [3], [4], [0], [1]]


def test_mini_batches_cover_each_epoch_with_a_short_last_batch():
    assert _seen_batches(2, 4) == [[0, 1], [2, 3], [4], [0, 1]]


def test_shuffled_mini_batches_cover_each_epoch_once():
    seen = _seen_batches(2, 6, shuffle=True)
    first_epoch = sorted(v for batch in seen[:3] for v in batch)
    second_epoch = sorted(v for batch in seen[3:] for v in batch)
    assert first_epoch == second_epoch == [0, 1, 2, 3, 4]


def test_hooks_see_step_zero_then_every_update_then_end():
    events = []
    net = _linear(None)
    trainer = Trainer(net, np.ones((2, 1)), np.ones((2, 1)), get_loss("ssr"), SGD(0.1), 3)
    trainer.add_hook("start", lambda s: events.append(("start", s.step)))
    trainer.add_hook("step", lambda s: events.append(("step", s.step)))
    trainer.add_hook("end", lambda s: events.append(("end", s.step)))
    trainer.run()
    assert events == [("start", 0), ("step", 1), ("step", 2), ("step", 3), ("end", 3)]
    with pytest.raises(ValueError, match="unknown event"):
        trainer.add_hook("epoch", print)


def test_sgd_step_is_plain_gradient_descent():
    # One full-batch step on SSR for y = w*x: dSSR/dw = sum 2(wx - y) x.
    net = _linear(None)
    x, y = np.array([[1.0], [2.0]]), np.array([[1.0], [3.0]])
    Trainer(net, x, y, get_loss("ssr"), SGD(0.1), 1).run()
    expected_w = 0.5 - 0.1 * (2 * (0.5 - 1) * 1 + 2 * (1.0 - 3) * 2)
    expected_b = 0.0 - 0.1 * (2 * (0.5 - 1) + 2 * (1.0 - 3))
    assert net.parameters()["lin.weight"][0, 0] == pytest.approx(expected_w)
    assert net.parameters()["lin.bias"][0] == pytest.approx(expected_b)


def test_sgd_rejects_bad_learning_rates():
    for lr in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="learning rate"):
            SGD(lr)
