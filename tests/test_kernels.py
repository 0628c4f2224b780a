"""Per-sample SGD kernels: the same updates as the engine's Trainer, on both the numpy and the compiled path."""
from __future__ import annotations

import numpy as np
import pytest

from visualizer import SGD, Dense, Network, Trainer, get_loss, load_scene
from visualizer.engine import kernels

needs_numba = pytest.mark.skipif(not kernels.available(), reason="numba is not installed (or VISUALIZER_NO_JIT)")
PATHS = [pytest.param(False, id="numpy"), pytest.param(True, id="compiled", marks=needs_numba)]


def _network(seed: int, sizes: list[int], acts: list[str], bias: bool, scale: float = 0.5) -> Network:
    rng = np.random.default_rng(seed)
    return Network([Dense(n_in, n_out, act, bias=bias, name=f"l{i}", weight=rng.uniform(-scale, scale, (n_in, n_out)),
                          bias_init=rng.uniform(-scale, scale, n_out) if bias else None)
                    for i, (n_in, n_out, act) in enumerate(zip(sizes, sizes[1:], acts))])


def _product(seed: int) -> tuple[Network, np.ndarray, np.ndarray]:
    scene = load_scene("product")
    xs, ys = scene.sampler(np.random.default_rng(seed), 10_000)
    return scene.network(seed), xs, ys


def _other(sizes: list[int], acts: list[str], bias: bool):
    def make(seed: int) -> tuple[Network, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed + 100)
        xs = rng.uniform(-1, 1, (5000, sizes[0]))
        ys = np.column_stack([np.sin(xs.sum(axis=1) + k) for k in range(sizes[-1])])
        return _network(seed, sizes, acts, bias), xs, ys
    return make


# (name, make(seed) -> (network, xs, ys), lr, loss): together every activation and every loss.
CASES = [
    ("product", _product, 0.1, "mse"),
    ("tanh-softplus", _other([3, 5, 4, 2], ["tanh", "softplus", "identity"], True), 0.05, "ssr"),
    ("relu-sigmoid", _other([2, 8, 3], ["relu", "sigmoid"], True), 0.2, "half_ssr"),
    ("softplus-tanh", _other([1, 4, 1], ["softplus", "tanh"], False), 0.1, "mse"),
]


def _sgd(net: Network, lr: float, loss: str, jit: bool) -> kernels.PerSampleSGD:
    return kernels.PerSampleSGD([layer.weight for layer in net.layers], [layer.bias for layer in net.layers],
                                [layer.activation.name for layer in net.layers], lr, loss, jit=jit)


def _engine(net: Network, xs: np.ndarray, ys: np.ndarray, lr: float, loss: str) -> np.ndarray:
    """Train with the engine, one sample per step in order; returns each step's batch loss."""
    trainer = Trainer(net, xs, ys, get_loss(loss), SGD(lr), len(xs), batch_size=1)
    seen: list[float] = []
    trainer.add_hook("step", lambda state: seen.append(state.batch_loss))
    trainer.run()
    return np.array(seen)


@pytest.fixture(scope="module")
def engine_runs() -> dict[str, tuple[dict[str, np.ndarray], np.ndarray]]:
    """Each case trained once by the engine (10,000 steps on the product network, 5000 on the others): its
    final parameters and per-step losses."""
    runs = {}
    for name, make, lr, loss in CASES:
        net, xs, ys = make(0)
        losses = _engine(net, xs, ys, lr, loss)
        runs[name] = ({k: v.copy() for k, v in net.parameters().items()}, losses)
    return runs


@pytest.mark.parametrize("jit", PATHS)
@pytest.mark.parametrize("name, make, lr, loss", CASES, ids=[c[0] for c in CASES])
def test_thousands_of_steps_end_where_the_engine_ends(engine_runs, name, make, lr, loss, jit):
    net, xs, ys = make(0)
    losses = np.full(len(xs), np.nan)
    assert _sgd(net, lr, loss, jit).run(xs, ys, losses=losses) == len(xs)
    params, engine_losses = engine_runs[name]
    for key, value in net.parameters().items():
        np.testing.assert_allclose(value, params[key], rtol=0, atol=1e-12, err_msg=key)
        assert not np.array_equal(value, make(0)[0].parameters()[key])  # it did train
    np.testing.assert_allclose(losses, engine_losses, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("jit", PATHS)
def test_runs_are_bit_for_bit_reproducible_and_independent_of_chunking(jit):
    name, make, lr, loss = CASES[1]
    finals = []
    for chunks in ([3000], [3000], [1, 999, 1500, 500]):
        net, xs, ys = make(3)
        sgd = _sgd(net, lr, loss, jit)
        start = 0
        for n in chunks:
            assert sgd.run(xs[start : start + n], ys[start : start + n]) == n
            start += n
        finals.append(net.parameters())
    for other in finals[1:]:
        for key in finals[0]:
            assert np.array_equal(finals[0][key], other[key]), key


@pytest.mark.parametrize("jit", PATHS)
def test_stops_at_the_first_non_finite_loss_before_updating_with_it(jit):
    # Far too large a rate for inputs this big: every step overshoots, and the loss overflows within ten
    # steps. Linear layers of one unit make every operation a single rounding, the same on every path,
    # so the comparison can be exact even though the growth magnifies any difference.
    rng = np.random.default_rng(7)
    xs, ys = rng.uniform(1, 2, (2000, 1)), rng.uniform(-1, 1, (2000, 1))
    net = _network(0, [1, 1, 1], ["identity", "identity"], True)
    losses = np.zeros(len(xs))
    with np.errstate(over="ignore", invalid="ignore"):
        done = _sgd(net, 1.5, "ssr", jit).run(xs, ys, losses=losses)
    assert 0 < done < len(xs)
    assert np.isfinite(losses[:done]).all() and not np.isfinite(losses[done])

    reference = _network(0, [1, 1, 1], ["identity", "identity"], True)
    with np.errstate(over="ignore", invalid="ignore"):
        engine_losses = _engine(reference, xs[:done], ys[:done], 1.5, "ssr")
        next_loss = get_loss("ssr").value(reference.forward(xs[done : done + 1]), ys[done : done + 1])
    assert np.array_equal(losses[:done], engine_losses) and not np.isfinite(next_loss)
    for key, value in net.parameters().items():
        assert np.isfinite(value).all() and np.array_equal(value, reference.parameters()[key]), key


def test_one_call_form_picks_the_same_updates_as_the_prepared_form():
    name, make, lr, loss = CASES[2]
    a, xs, ys = make(1)
    b, _, _ = make(1)
    layers = a.layers
    done = kernels.per_sample_sgd([layer.weight for layer in layers], [layer.bias for layer in layers],
                                  [layer.activation.name for layer in layers], xs[:500], ys[:500], lr, loss,
                                  jit=False)
    assert done == 500
    _sgd(b, lr, loss, jit=False).run(xs[:500], ys[:500])
    for key, value in a.parameters().items():
        assert np.array_equal(value, b.parameters()[key])


def test_without_numba_the_numpy_loop_runs(monkeypatch):
    monkeypatch.setenv(kernels.NO_JIT_ENV, "1")
    assert not kernels.available()
    assert not kernels.use_jit(10**9)
    name, make, lr, loss = CASES[0]
    a, xs, ys = make(2)
    b, _, _ = make(2)
    asked = _sgd(a, lr, loss, jit=True)
    assert not asked.jit and "numpy" in repr(asked)
    assert asked.run(xs[:300], ys[:300]) == 300
    _sgd(b, lr, loss, jit=False).run(xs[:300], ys[:300])
    for key, value in a.parameters().items():
        assert np.array_equal(value, b.parameters()[key])


def test_compiling_is_left_to_long_runs(monkeypatch):
    monkeypatch.delenv(kernels.NO_JIT_ENV, raising=False)
    assert not kernels.use_jit(kernels.JIT_MIN_STEPS - 1)
    assert kernels.use_jit(kernels.JIT_MIN_STEPS) == kernels.available()


def test_an_empty_chunk_changes_nothing():
    net, xs, ys = CASES[1][1](0)
    before = {k: v.copy() for k, v in net.parameters().items()}
    assert _sgd(net, 0.1, "ssr", jit=False).run(xs[:0], ys[:0]) == 0
    for key, value in net.parameters().items():
        assert np.array_equal(value, before[key])


def test_repr_names_the_architecture():
    net = _network(0, [2, 6, 6, 1], ["sigmoid", "sigmoid", "identity"], False)
    assert repr(_sgd(net, 0.1, "mse", jit=False)) == \
        "PerSampleSGD(2→6→6→1, sigmoid, sigmoid, identity, mse, lr=0.1, numpy)"


def test_rejects_what_it_cannot_train():
    w, b = np.zeros((2, 3)), np.zeros(3)
    bad = [
        (([w], [b], ["swish"], 0.1, "mse"), "unknown activation 'swish'"),
        (([w], [b], ["tanh"], 0.1, "cross_entropy"), "unknown loss"),
        (([w], [b], ["tanh"], 0.0, "mse"), "learning rate"),
        (([w, np.zeros((2, 1))], [b, None], ["tanh", "identity"], 0.1, "mse"), "takes 2 inputs but layer 0 gives 3"),
        (([w.astype(np.float32)], [b], ["tanh"], 0.1, "mse"), "float64"),
        (([w], [np.zeros(2)], ["tanh"], 0.1, "mse"), "bias must be None"),
        (([w], [b, b], ["tanh"], 0.1, "mse"), "one weight, bias"),
    ]
    for args, message in bad:
        with pytest.raises(ValueError, match=message):
            kernels.PerSampleSGD(*args)
    sgd = kernels.PerSampleSGD([w], [b], ["tanh"], 0.1, "mse")
    with pytest.raises(ValueError, match=r"inputs of shape \(n, 2\) and targets of shape \(n, 3\)"):
        sgd.run(np.zeros((4, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="losses must be"):
        sgd.run(np.zeros((4, 2)), np.zeros((4, 3)), losses=np.zeros(3))


# ---- held to the single definitions of the layers and losses

def _definitions_step(weights, biases, acts, x, y, lr, loss_name):
    """One per-sample SGD step written from the engine's definitions (dense_forward, dense_backward, the
    loss's value and gradient): the reference both kernels must reproduce. Returns the loss before it."""
    from visualizer.engine.layers import dense_backward, dense_forward, get_activation

    loss = get_loss(loss_name)
    caches, a = [], x
    for w, b, act in zip(weights, biases, acts):
        caches.append(dense_forward(a, w, b, get_activation(act)))
        a = caches[-1].a
    value = loss.value(a, y)
    g = loss.grad(a, y)
    grads = []
    for k in range(len(weights) - 1, -1, -1):
        out = {"weight": np.empty_like(weights[k])}
        if biases[k] is not None:
            out["bias"] = np.empty_like(biases[k])
        _, g = dense_backward(g, caches[k], weights[k], grads=out)
        grads.append(out)
    for w, b, out in zip(weights, biases, reversed(grads)):
        w -= lr * out["weight"]
        if b is not None:
            b -= lr * out["bias"]
    return value


@pytest.mark.parametrize("jit", PATHS)
@pytest.mark.parametrize("name, make, lr, loss", CASES, ids=[c[0] for c in CASES])
def test_each_step_is_the_layer_and_loss_definitions(name, make, lr, loss, jit):
    net, xs, ys = make(5)
    ref, _, _ = make(5)
    weights = [layer.weight for layer in ref.layers]
    biases = [layer.bias for layer in ref.layers]
    acts = [layer.activation.name for layer in ref.layers]
    n = 300
    expected = np.array([_definitions_step(weights, biases, acts, xs[s : s + 1], ys[s : s + 1], lr, loss)
                         for s in range(n)])
    losses = np.empty(n)
    assert _sgd(net, lr, loss, jit).run(xs[:n], ys[:n], losses=losses) == n
    tolerance = {"rtol": 1e-12, "atol": 1e-14} if jit else {"rtol": 0, "atol": 0}  # the numpy loop: bit for bit
    np.testing.assert_allclose(losses, expected, **tolerance)
    for key, value in net.parameters().items():
        np.testing.assert_allclose(value, ref.parameters()[key], **tolerance, err_msg=key)


def test_the_numpy_loop_ends_exactly_where_the_engine_ends(engine_runs):
    # The engine's per-step loop trains through the layer definitions; the fused numpy loop uses the same
    # ufuncs in the same order, so thousands of steps later not one bit differs.
    for name, make, lr, loss in CASES:
        net, xs, ys = make(0)
        losses = np.empty(len(xs))
        _sgd(net, lr, loss, jit=False).run(xs, ys, losses=losses)
        params, engine_losses = engine_runs[name]
        assert np.array_equal(losses, engine_losses), name
        for key, value in net.parameters().items():
            assert np.array_equal(value, params[key]), (name, key)


# ---- which runs the kernels take: the plan

def _plain(loss="mse", acts=("tanh", "identity")) -> Network:
    return _network(0, [2, 3, 1], list(acts), True)


def test_a_plain_per_sample_sgd_run_gets_a_plan_that_counts_its_steps():
    opt = SGD(0.1)
    plan = kernels.plan_for(_plain(), get_loss("mse"), opt, batch_size=1, steps=100)
    assert isinstance(plan, kernels.KernelPlan) and not plan.kernel.jit  # too short to compile
    assert repr(plan) == "KernelPlan(PerSampleSGD(2→3→1, tanh, identity, mse, lr=0.1, numpy))"
    rng = np.random.default_rng(0)
    assert plan.run(rng.normal(size=(7, 2)), rng.normal(size=(7, 1))) == 7
    assert opt.steps_taken == 7


@pytest.mark.parametrize("why, kwargs", [
    ("mini-batches", {"batch_size": 4}),
    ("full batch", {"batch_size": None}),
    ("a penalty", {"penalties": ["L2"]}),
    ("momentum", {"optimizer": SGD(0.1, momentum=0.9)}),
    ("weight decay", {"optimizer": SGD(0.1, weight_decay=0.01)}),
    ("a schedule", {"optimizer": SGD(lambda step: 0.1)}),
    ("another optimizer", {"optimizer": "adam"}),
    ("a classification loss", {"loss": get_loss("bce")}),
    ("a user's loss", {"loss": "custom"}),
    ("a user's activation", {"network": "custom-activation"}),
    ("not a Network", {"network": "other"}),
])
def test_runs_the_kernels_do_not_know_get_no_plan(why, kwargs):
    from visualizer import L2, Activation, Adam
    from visualizer.engine.losses import Loss

    mse = get_loss("mse")
    args = {"network": _plain(), "loss": mse, "optimizer": SGD(0.1), "penalties": (), "batch_size": 1}
    args.update(kwargs)
    if args["penalties"]:
        args["penalties"] = [L2(0.1)]
    if args["optimizer"] == "adam":
        args["optimizer"] = Adam(0.1)
    if args["loss"] == "custom":
        args["loss"] = Loss("mse", "MSE", mse.value, mse.grad)  # named like a built-in, but not it
    if args["network"] == "custom-activation":
        args["network"] = Network([Dense(2, 1, Activation("tanh", np.tanh, lambda z: 1 - np.tanh(z) ** 2),
                                         name="l0", weight=np.ones((2, 1)))])
    elif args["network"] == "other":
        args["network"] = object()
    assert kernels.plan_for(args.pop("network"), args.pop("loss"), args.pop("optimizer"), args.pop("penalties"),
                            steps=100, **args) is None, why
