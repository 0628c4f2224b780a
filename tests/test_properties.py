"""Property tests: for random networks, losses and batch modes, gradients match finite differences and a
recorded history always has consistent shapes and step numbers."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import numeric_grad
from visualizer import SGD, Dense, Evaluator, Network, NetworkModel, Probe, Recorder, Trainer, get_loss
from visualizer.engine.training import log_full_set
from visualizer.engine.layers import ACTIVATIONS

# relu's and leaky relu's kinks have no derivative, so a finite difference across it is meaningless: smooth ones only here.
SMOOTH = ["sigmoid", "softplus", "tanh", "identity", "gelu"]


@st.composite
def networks(draw):
    sizes = draw(st.lists(st.integers(1, 5), min_size=2, max_size=4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    layers = [Dense(a, b, draw(st.sampled_from(SMOOTH)), bias=draw(st.booleans()), name=f"l{i}", rng=rng)
              for i, (a, b) in enumerate(zip(sizes, sizes[1:]))]
    return Network(layers), rng


@settings(max_examples=40, deadline=None)
@given(networks(), st.sampled_from(["ssr", "half_ssr", "mse"]), st.integers(1, 6))
def test_backprop_matches_central_finite_differences(net_rng, loss_name, batch):
    net, rng = net_rng
    loss = get_loss(loss_name)
    x = rng.normal(size=(batch, net.n_in))
    y = rng.normal(size=(batch, net.n_out))
    net.backward(loss.grad(net.forward(x), y))
    grads = {k: v.copy() for k, v in net.gradients().items()}
    for name, p in net.parameters().items():
        numeric = numeric_grad(lambda: loss.value(net.forward(x), y), p)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-4, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(networks(), st.integers(1, 25), st.integers(1, 7), st.sampled_from([None, 1, 2, 3]), st.booleans())
def test_history_shapes_and_steps_are_consistent(net_rng, steps, every, batch_size, shuffle):
    net, rng = net_rng
    x = rng.normal(size=(5, net.n_in))
    y = rng.normal(size=(5, net.n_out))
    shapes = {k: v.shape for k, v in net.parameters().items()}
    recorder = Recorder(every=every, total_steps=steps,
                        evaluator=Evaluator(NetworkModel(net), x, y, probes=[Probe("out", x)]))
    trainer = Trainer(net, x, y, get_loss("mse"), SGD(0.01), steps, batch_size=batch_size, shuffle=shuffle,
                      rng=np.random.default_rng(0))
    trainer.add_hook("start", lambda s: log_full_set(recorder, s))
    trainer.add_hook("step", lambda s: log_full_set(recorder, s))
    trainer.run()
    h = recorder.history()
    expected = sorted({0, steps, *range(0, steps + 1, every)})
    assert h.steps.tolist() == expected
    assert len(h) == recorder.rows_for(steps)
    assert h.loss.shape == (len(expected),)
    for name, shape in shapes.items():
        assert h.params[name].shape == h.grads[name].shape == (len(expected), *shape)
    assert h.extras["out"].shape == (len(expected), 5, net.n_out)
    # The last row is the trained network itself.
    for name, value in net.parameters().items():
        np.testing.assert_array_equal(h.params[name][-1], value)


def test_every_built_in_activation_is_covered():
    assert set(SMOOTH) | {"relu", "leaky_relu"} == set(ACTIVATIONS)
