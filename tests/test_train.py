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


def _classifier(seed: int = 0) -> Network:
    rng = np.random.default_rng(seed)
    return Network([Dense(2, 5, "tanh", name="hidden", rng=rng), Dense(5, 3, "identity", name="output", rng=rng)])


def _three_classes(n: int = 12):
    rng = np.random.default_rng(3)
    return rng.normal(size=(n, 2)), (np.arange(n) % 3).astype(float)[:, None]


def test_the_optimizer_follows_data_loss_plus_penalty():
    from visualizer import L2

    x, y = _three_classes()
    loss, penalty = get_loss("softmax_ce"), L2(0.1, half=True)
    net, reference = _classifier(), _classifier()
    Trainer(net, x, y, loss, SGD(0.5), 1, penalties=[penalty]).run()
    # Independently: the data gradient by backprop, plus λ·W for the weights only (0.5·λ·ΣW²).
    pred = reference.forward(x)
    reference.backward(loss.grad(pred, y))
    for name, p in reference.parameters().items():
        g = reference.gradients()[name] + (0.1 * p if name.endswith("weight") else 0.0)
        np.testing.assert_allclose(net.parameters()[name], p - 0.5 * g, rtol=1e-12, atol=1e-15)


def test_per_sample_training_with_a_penalty_never_takes_the_fused_kernel():
    from visualizer import L1

    x = np.linspace(-1, 1, 6)[:, None]
    y = x**2
    nets = []
    for hook_every in (None, 3):  # hook_every makes plain per-sample SGD take the fused kernel
        rng = np.random.default_rng(0)
        net = Network([Dense(1, 3, "tanh", name="h", rng=rng), Dense(3, 1, name="o", rng=rng)])
        Trainer(net, x, y, get_loss("mse"), SGD(0.1), 9, batch_size=1, hook_every=hook_every,
                penalties=[L1(0.01)]).run()
        nets.append(net.parameters())
    for name in nets[0]:
        np.testing.assert_array_equal(nets[0][name], nets[1][name])


def test_log_full_set_records_penalty_test_loss_accuracy_and_optimizer_state():
    from visualizer import L2, Adam, Recorder
    from visualizer.engine.training import log_full_set

    x, y = _three_classes()
    x_test, y_test = _three_classes(6)
    loss, penalty = get_loss("softmax_ce"), L2(0.01)
    recorder = Recorder(every=2, total_steps=4)
    trainer = Trainer(_classifier(), x, y, loss, Adam(0.05), 4, penalties=[penalty])
    trainer.add_hook("start", lambda s: log_full_set(recorder, s, (x_test, y_test)))
    trainer.add_hook("step", lambda s: log_full_set(recorder, s, (x_test, y_test)))
    trainer.run()
    h = recorder.history()
    assert h.steps.tolist() == [0, 2, 4]
    assert set(h.losses) == {"train", "test", "penalty"}
    assert h.extras["accuracy/train"].shape == h.extras["accuracy/test"].shape == (3,)
    net = _classifier()
    net.set_parameters({k: v[2] for k, v in h.params.items()})
    assert h.losses["test"][2] == pytest.approx(loss.value(net.forward(x_test), y_test))
    assert h.losses["penalty"][2] == pytest.approx(0.01 * sum((v[2] ** 2).sum() for k, v in h.params.items()
                                                             if k.endswith("weight")))
    assert h.extras["accuracy/test"][2] == pytest.approx(np.mean(net.forward(x_test).argmax(1) == y_test[:, 0]))
    for kind in ("m", "v", "step"):
        for name, p in h.params.items():
            state = h.extras[f"optim/{kind}/{name}"]
            assert state.shape == p.shape  # the same names and shapes from step 0
            assert not state[0].any() and state[-1].any()


# ---- any model that the objective can differentiate trains; the kernels are chosen beside the kernels

class _Line:
    """A model that is not a Network: y = w·x + b by hand, with forward, backward, parameters, gradients."""

    def __init__(self) -> None:
        self.w, self.b = np.array([[0.5]]), np.array([0.0])
        self.gw, self.gb = np.zeros_like(self.w), np.zeros_like(self.b)

    def parameters(self):
        return {"lin.weight": self.w, "lin.bias": self.b}

    def forward(self, x):
        self.x = x
        return x @ self.w + self.b

    def backward(self, grad_out):
        self.gw[...] = self.x.T @ grad_out
        self.gb[...] = grad_out.sum(axis=0)
        return grad_out @ self.w.T

    def gradients(self):
        return {"lin.weight": self.gw, "lin.bias": self.gb}


@pytest.mark.parametrize("batch_size, hook_every", [(None, None), (1, None), (1, 2)])
def test_a_model_of_ones_own_trains_exactly_as_the_same_network(batch_size, hook_every):
    from visualizer import L2
    from visualizer.engine.objective import Differentiable

    x = np.linspace(-1, 1, 5)[:, None]
    y = 3 * x - 1
    mine, net = _Line(), _linear(None)
    assert isinstance(mine, Differentiable)
    runs = []
    for model in (mine, net):
        trainer = Trainer(model, x, y, get_loss("ssr"), SGD(0.05), 7, batch_size=batch_size, hook_every=hook_every,
                          penalties=[L2(0.01)] if batch_size is None else ())
        seen = {}
        trainer.add_hook("step", lambda s: seen.__setitem__(s.step, s.batch_loss))
        trainer.run()
        runs.append(seen)
    # With hook_every, the network's run takes the fused kernel and its hooks see only the steps they need;
    # a model of one's own has no kernel and goes step by step: the same numbers either way.
    assert Trainer(mine, x, y, get_loss("ssr"), SGD(0.05), 7, batch_size=1, hook_every=2).plan() is None
    assert runs[1] == {step: runs[0][step] for step in runs[1]} and 7 in runs[1]
    for name, value in mine.parameters().items():
        np.testing.assert_array_equal(value, net.parameters()[name])


def test_the_trainer_asks_the_kernels_for_a_plan_only_when_hooks_need_few_steps():
    net = _linear(None)
    x, y = np.ones((3, 1)), np.ones((3, 1))
    assert Trainer(net, x, y, get_loss("mse"), SGD(0.1), 5, batch_size=1).plan() is None  # every step hooked
    plan = Trainer(net, x, y, get_loss("mse"), SGD(0.1), 5, batch_size=1, hook_every=2).plan()
    assert repr(plan) == "KernelPlan(PerSampleSGD(1→1, identity, mse, lr=0.1, numpy))"


def test_trainer_and_state_read_well():
    from visualizer import L2

    trainer = Trainer(_linear(None), np.ones((3, 1)), np.ones((3, 1)), get_loss("mse"), SGD(0.1), 5, batch_size=1,
                      penalties=[L2(0.1)])
    assert repr(trainer) == ("Trainer(Network([Dense(lin: 1→1, identity)]), Objective(mse + L2(0.1)), SGD(lr=0.1), "
                             "5 steps, per sample, 3 samples)")
    assert repr(trainer.run()) == ("TrainState(step 5/5, batch_loss=0.00850628, Objective(mse + L2(0.1)), "
                                   "Network([Dense(lin: 1→1, identity)]))")
