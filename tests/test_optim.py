"""Optimizers: several updates against the written formulas (re-implemented here) and against torch.optim."""
from __future__ import annotations

import math

import numpy as np
import pytest

from visualizer.engine.optim import SGD, Adam, AdamW, LinearDecay, Optimizer, RMSprop, get_optimizer

STEPS = 6
TOL = dict(rtol=1e-12, atol=1e-12)


def _start() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {"0.weight": rng.normal(size=(3, 2)), "0.bias": rng.normal(size=2), "1.weight": rng.normal(size=(2, 1))}


def _grad(p: np.ndarray, k: int) -> np.ndarray:
    """A gradient that depends on the parameter and on the step, so buffers see varied values."""
    return 0.7 * p + np.cos(3 * p + k) - 0.2 * (k % 3)


def _lr(lr, k: int) -> float:
    return lr(k) if callable(lr) else lr


# ---- the formulas of the docstrings, written independently (vectorised per parameter, doc form) ----

def _ref_sgd(lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    params, buf, traj = _start(), {}, []
    for k in range(STEPS):
        for name, p in params.items():
            g = _grad(p, k) + weight_decay * p
            if momentum:
                buf[name] = g if k == 0 else momentum * buf[name] + (1 - dampening) * g
                g = g + momentum * buf[name] if nesterov else buf[name]
            params[name] = p - _lr(lr, k) * g
        traj.append({n: p.copy() for n, p in params.items()})
    return traj, {f"momentum/{n}": b for n, b in buf.items()}


def _ref_rmsprop(lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    params, traj = _start(), []
    v = {n: np.zeros_like(p) for n, p in params.items()}
    gav = {n: np.zeros_like(p) for n, p in params.items()}
    b = {n: np.zeros_like(p) for n, p in params.items()}
    for k in range(STEPS):
        for name, p in params.items():
            g = _grad(p, k) + weight_decay * p
            v[name] = alpha * v[name] + (1 - alpha) * g**2
            vt = v[name]
            if centered:
                gav[name] = gav[name] * alpha + (1 - alpha) * g
                vt = vt - gav[name] ** 2
            if momentum > 0:
                b[name] = momentum * b[name] + g / (np.sqrt(vt) + eps)
                params[name] = p - _lr(lr, k) * b[name]
            else:
                params[name] = p - _lr(lr, k) * g / (np.sqrt(vt) + eps)
        traj.append({n: p.copy() for n, p in params.items()})
    return traj


def _ref_adam(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    b1, b2 = betas
    params, traj = _start(), []
    m = {n: np.zeros_like(p) for n, p in params.items()}
    v = {n: np.zeros_like(p) for n, p in params.items()}
    step = {}
    for k in range(STEPS):
        t = k + 1
        for name, p in params.items():
            g = _grad(p, k)
            theta = p
            if decoupled:
                theta = p * (1 - _lr(lr, k) * weight_decay)
            else:
                g = g + weight_decay * p
            m[name] = b1 * m[name] + (1 - b1) * g
            v[name] = b2 * v[name] + (1 - b2) * g**2
            m_hat = m[name] / (1 - b1**t)
            v_hat = v[name] / (1 - b2**t)
            params[name] = theta - _lr(lr, k) * m_hat / (np.sqrt(v_hat) + eps)
            step[name] = params[name] - p
        traj.append({n: p.copy() for n, p in params.items()})
    state = {**{f"m/{n}": a for n, a in m.items()}, **{f"v/{n}": a for n, a in v.items()},
             **{f"step/{n}": a for n, a in step.items()}}
    return traj, state


def _run(opt: Optimizer) -> list[dict[str, np.ndarray]]:
    params, traj = _start(), []
    for k in range(STEPS):
        opt.step(params, {n: _grad(p, k) for n, p in params.items()})
        traj.append({n: p.copy() for n, p in params.items()})
    return traj


def _assert_same(traj, ref) -> None:
    assert len(traj) == len(ref)
    for got, want in zip(traj, ref):
        assert got.keys() == want.keys()
        for name in got:
            np.testing.assert_allclose(got[name], want[name], **TOL)


def _assert_state(state, ref_state) -> None:
    assert state.keys() == ref_state.keys()
    for key in state:
        np.testing.assert_allclose(state[key], ref_state[key], **TOL)


SCHEDULE = LinearDecay(0.3, 0.03, 4)

SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.1, weight_decay=0.05),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, momentum=0.9, dampening=0.3),
    dict(lr=0.1, momentum=0.5, weight_decay=0.05, dampening=0.1),
    dict(lr=0.1, momentum=0.9, nesterov=True),
    dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.05),
    dict(lr=SCHEDULE, momentum=0.9),
]
RMSPROP_CASES = [
    dict(lr=0.01),
    dict(lr=0.01, alpha=0.9, eps=1e-6),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, centered=True),
    dict(lr=0.01, momentum=0.8),
    dict(lr=0.01, momentum=0.8, centered=True, weight_decay=0.1, alpha=0.95),
    dict(lr=SCHEDULE, centered=True),
]
ADAM_CASES = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=SCHEDULE, weight_decay=0.1),
]
ADAMW_CASES = [dict(lr=0.01), dict(lr=0.01, weight_decay=0.2, betas=(0.85, 0.95)), dict(lr=SCHEDULE)]


@pytest.mark.parametrize("kw", SGD_CASES)
def test_sgd_matches_its_formula(kw):
    opt = SGD(**kw)
    ref, ref_state = _ref_sgd(**kw)
    _assert_same(_run(opt), ref)
    _assert_state(opt.state(), ref_state)


@pytest.mark.parametrize("kw", RMSPROP_CASES)
def test_rmsprop_matches_its_formula(kw):
    _assert_same(_run(RMSprop(**kw)), _ref_rmsprop(**kw))


@pytest.mark.parametrize("kw", ADAM_CASES)
def test_adam_matches_its_formula(kw):
    opt = Adam(**kw)
    ref, ref_state = _ref_adam(**kw)
    _assert_same(_run(opt), ref)
    _assert_state(opt.state(), ref_state)


@pytest.mark.parametrize("kw", ADAMW_CASES)
def test_adamw_matches_its_formula(kw):
    opt = AdamW(**kw)
    ref, ref_state = _ref_adam(decoupled=True, **{"weight_decay": 0.01, **kw})
    _assert_same(_run(opt), ref)
    _assert_state(opt.state(), ref_state)


# ---- against torch.optim on the same float64 tensors ----

def _torch_run(torch_cls, kw):
    torch = pytest.importorskip("torch")
    lr = kw.get("lr")
    kw = {**kw, "lr": _lr(lr, 0)}
    tensors = {n: torch.tensor(p, dtype=torch.float64, requires_grad=True) for n, p in _start().items()}
    opt = torch_cls(list(tensors.values()), foreach=False, **kw)
    traj = []
    for k in range(STEPS):
        for group in opt.param_groups:
            group["lr"] = _lr(lr, k)
        for t in tensors.values():
            t.grad = torch.tensor(_grad(t.detach().numpy(), k), dtype=torch.float64)
        opt.step()
        traj.append({n: t.detach().numpy().copy() for n, t in tensors.items()})
    return traj


@pytest.mark.parametrize(("ours", "theirs", "cases"), [
    (SGD, "SGD", SGD_CASES), (RMSprop, "RMSprop", RMSPROP_CASES), (Adam, "Adam", ADAM_CASES),
    (AdamW, "AdamW", ADAMW_CASES)])
def test_every_case_matches_torch_optim(ours, theirs, cases):
    torch = pytest.importorskip("torch")
    for kw in cases:
        _assert_same(_run(ours(**kw)), _torch_run(getattr(torch.optim, theirs), kw))


def test_torch_momentum_buffer_and_adam_moments_match_the_recorded_state():
    torch = pytest.importorskip("torch")
    for ours, theirs, keys in [(SGD(0.1, momentum=0.9, dampening=0.2), torch.optim.SGD,
                                {"momentum": "momentum_buffer"}),
                               (Adam(0.01), torch.optim.Adam, {"m": "exp_avg", "v": "exp_avg_sq"}),
                               (RMSprop(0.01, centered=True, momentum=0.5), torch.optim.RMSprop,
                                {"v": "square_avg", "g_avg": "grad_avg", "momentum": "momentum_buffer"})]:
        tensors = {n: torch.tensor(p, dtype=torch.float64, requires_grad=True) for n, p in _start().items()}
        kw = {k: getattr(ours, k) for k in ("momentum", "dampening", "betas", "centered") if hasattr(ours, k)}
        opt = theirs(list(tensors.values()), lr=ours.lr, foreach=False, **kw)
        _run(ours)
        for k in range(STEPS):
            for t in tensors.values():
                t.grad = torch.tensor(_grad(t.detach().numpy(), k), dtype=torch.float64)
            opt.step()
        state = ours.state()
        for name, t in tensors.items():
            for kind, torch_key in keys.items():
                np.testing.assert_allclose(state[f"{kind}/{name}"], opt.state[t][torch_key].numpy(), **TOL)


# ---- plain SGD is today's SGD, bit for bit ----

def test_sgd_without_momentum_is_exactly_p_minus_lr_times_grad():
    for lr in (0.1, 1e-3, LinearDecay(1.0, 0.1, 100)):
        opt, params = SGD(lr), _start()
        expected = {n: p.copy() for n, p in params.items()}
        for k in range(STEPS):
            grads = {n: _grad(p, k) for n, p in params.items()}
            rate = 1.0 - 0.9 * k / 100 if callable(lr) else lr
            for name in expected:
                expected[name] -= rate * grads[name]
            opt.step(params, grads)
            for name in params:
                assert np.array_equal(params[name], expected[name])
        assert opt.state(params) == {}


def test_linear_decay_is_micrograds_schedule_exactly_then_flat():
    decay = LinearDecay(1.0, 0.1, 100)
    assert [decay(k) for k in range(100)] == [1.0 - 0.9 * k / 100 for k in range(100)]
    assert decay(100) == pytest.approx(0.1) and decay(5000) == decay(100)


# ---- state for recording ----

def test_state_before_the_first_step_is_zeros_with_the_names_and_shapes_of_later_steps():
    params = _start()
    for opt in (SGD(0.1, momentum=0.9), RMSprop(centered=True, momentum=0.5), Adam(), AdamW()):
        before = opt.state(params)
        assert all(not a.any() for a in before.values())
        assert opt.state() == {}  # no parameters given, none seen yet
        _run(opt)
        after = opt.state()
        assert list(after) == list(before)
        assert all(after[k].shape == before[k].shape for k in after)


def test_state_names_say_kind_then_parameter():
    names = set(Adam().state(_start()))
    assert names == {f"{kind}/{p}" for kind in ("m", "v", "step") for p in ("0.weight", "0.bias", "1.weight")}
    assert set(RMSprop().state(_start())) == {f"v/{p}" for p in _start()}
    assert SGD(0.1).state(_start()) == {}


def test_state_arrays_are_copies_the_caller_may_keep():
    opt, params = SGD(0.1, momentum=0.9), _start()
    opt.step(params, {n: np.ones_like(p) for n, p in params.items()})
    kept = opt.state()
    opt.step(params, {n: np.ones_like(p) for n, p in params.items()})
    assert np.all(kept["momentum/0.bias"] == 1.0)
    assert np.all(opt.state()["momentum/0.bias"] == 1.9)


def test_adam_step_state_is_the_change_the_update_applied():
    for opt in (Adam(0.05, weight_decay=0.1), AdamW(0.05, weight_decay=0.3)):
        params = _start()
        for k in range(3):
            before = {n: p.copy() for n, p in params.items()}
            opt.step(params, {n: _grad(p, k) for n, p in params.items()})
            for name in params:
                np.testing.assert_allclose(opt.state()[f"step/{name}"], params[name] - before[name], **TOL)


# ---- learning-rate schedules: called with the number of updates done, checked at every use ----

def test_schedule_is_called_with_the_number_of_updates_already_applied():
    seen = []

    def schedule(step):
        seen.append(step)
        return 0.1

    opt = Adam(schedule)
    _run(opt)
    assert seen == list(range(STEPS))
    assert opt.steps_taken == STEPS


@pytest.mark.parametrize("bad", [0.0, -0.5, math.nan, math.inf, "fast", None])
def test_a_schedule_returning_a_bad_rate_names_the_step_and_value(bad):
    opt, params = SGD(lambda k: 0.1 if k < 2 else bad), _start()
    for _ in range(2):
        opt.step(params, {n: np.ones_like(p) for n, p in params.items()})
    with pytest.raises(ValueError, match=rf"step 2 .*{bad!r}"):
        opt.step(params, {n: np.ones_like(p) for n, p in params.items()})


def test_a_schedule_that_raises_is_reported_with_its_step():
    opt = RMSprop(lambda k: [0.1][k])
    opt.step({"w": np.ones(1)}, {"w": np.ones(1)})
    with pytest.raises(ValueError, match="schedule .*step 1"):
        opt.step({"w": np.ones(1)}, {"w": np.ones(1)})


@pytest.mark.parametrize("cls", [SGD, RMSprop, Adam, AdamW])
def test_bad_constant_learning_rates_are_refused_at_construction(cls):
    for lr in (0, -1, math.nan, math.inf):
        with pytest.raises(ValueError, match="learning rate"):
            cls(lr)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: SGD(0.1, nesterov=True), "Nesterov"),
    (lambda: SGD(0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (lambda: SGD(0.1, momentum=-0.1), "momentum"),
    (lambda: SGD(0.1, dampening=1.5), "dampening"),
    (lambda: RMSprop(alpha=1.0), "alpha"),
    (lambda: Adam(betas=(0.9, 1.0)), "beta2"),
    (lambda: Adam(betas=0.9), "betas"),
    (lambda: AdamW(weight_decay=-1), "weight_decay"),
    (lambda: LinearDecay(1.0, 0.1, 0), "steps"),
    (lambda: LinearDecay(1.0, 0.0, 10), "learning rate"),
])
def test_bad_options_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ---- text ----

def test_repr_shows_only_changed_options_and_describe_is_one_short_line():
    assert repr(SGD(0.1)) == "SGD(lr=0.1)"
    assert repr(Adam(lr=0.01)) == "Adam(lr=0.01)"
    assert repr(SGD(0.1, momentum=0.9, nesterov=True)) == "SGD(lr=0.1, momentum=0.9, nesterov=True)"
    assert repr(RMSprop(centered=True)) == "RMSprop(lr=0.01, centered=True)"
    assert repr(AdamW(weight_decay=0.1)) == "AdamW(lr=0.001, weight_decay=0.1)"
    assert repr(SGD(LinearDecay(1.0, 0.1, 100))) == "SGD(lr=LinearDecay(start=1, end=0.1, steps=100))"
    assert repr(SGD(lambda k: 0.1)) == "SGD(lr=schedule)"
    assert Adam(lr=0.01).describe() == "Adam lr=0.01"
    assert SGD(0.1, momentum=0.9, nesterov=True).describe() == "SGD lr=0.1 momentum=0.9 nesterov"
    assert SGD(LinearDecay(1.0, 0.1, 100)).describe() == "SGD lr=1→0.1"


# ---- get_optimizer ----

@pytest.mark.parametrize(("spec", "cls", "attrs"), [
    ("sgd:lr=0.1", SGD, dict(lr=0.1, momentum=0.0, nesterov=False)),
    ("sgd:lr=0.1,momentum=0.5", SGD, dict(lr=0.1, momentum=0.5)),
    ("momentum:lr=0.2", SGD, dict(momentum=0.9, nesterov=False)),
    ("nesterov:lr=0.2", SGD, dict(momentum=0.9, nesterov=True)),
    ("rmsprop", RMSprop, dict(lr=0.01, alpha=0.99, centered=False)),
    ("rmsprop:centered=true,momentum=0.3", RMSprop, dict(centered=True, momentum=0.3)),
    ("adam", Adam, dict(lr=0.001, betas=(0.9, 0.999))),
    ("adam:lr=0.01,betas=0.9/0.99", Adam, dict(lr=0.01, betas=(0.9, 0.99))),
    ("AdamW: weight_decay=0.1 ", AdamW, dict(weight_decay=0.1)),
])
def test_get_optimizer_parses_names_and_options(spec, cls, attrs):
    opt = get_optimizer(spec)
    assert type(opt) is cls
    for key, value in attrs.items():
        assert getattr(opt, key) == value


def test_get_optimizer_default_lr_is_used_unless_the_spec_names_one():
    assert get_optimizer("sgd", lr=0.3).lr == 0.3
    assert get_optimizer("adam", lr=0.3).lr == 0.3
    assert get_optimizer("adam:lr=0.02", lr=0.3).lr == 0.02
    opt = Adam()
    assert get_optimizer(opt) is opt


@pytest.mark.parametrize(("spec", "message"), [
    ("adagrad", "unknown optimizer 'adagrad'; use one of sgd, momentum, nesterov, rmsprop, adam, adamw"),
    ("adam:momentum=0.9", "unknown option 'momentum' for optimizer 'adam'; use lr, betas, eps, weight_decay"),
    ("sgd", "needs a learning rate"),
    ("sgd:lr", "key=value"),
    ("sgd:lr=fast", "lr takes a number"),
    ("adam:betas=0.9", "beta1/beta2"),
    ("nesterov:lr=0.1,nesterov=maybe", "true or false"),
    ("sgd:lr=-1", "learning rate"),
])
def test_get_optimizer_errors_say_what_is_known(spec, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        get_optimizer(spec)
