"""The PyTorch adapter against our own engine: same losses, gradients, activations and grid outputs."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visualizer import Dense, Network, NetworkModel, get_loss  # noqa: E402
from visualizer.torch import TorchModel, TorchRecorder  # noqa: E402

TORCH_ACT = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "softplus": torch.nn.Softplus,
             "identity": torch.nn.Identity}
ARCHITECTURES = [
    [(1, 2, "softplus"), (2, 1, "identity")],
    [(2, 5, "tanh"), (5, 3, "sigmoid"), (3, 1, "identity")],
    [(3, 4, "relu"), (4, 4, "sigmoid"), (4, 2, "tanh")],
    [(2, 6, "sigmoid"), (6, 6, "sigmoid"), (6, 1, "identity")],
]


def _pair(arch, seed):
    """The same network twice: a torch Sequential (float64) and our Network, sharing the weights."""
    torch.manual_seed(seed)
    mods = []
    for n_in, n_out, act in arch:
        mods += [torch.nn.Linear(n_in, n_out), TORCH_ACT[act]()]
    module = torch.nn.Sequential(*mods).double()
    layers = []
    for k, (n_in, n_out, act) in enumerate(arch):
        lin = module[2 * k]
        layers.append(Dense(n_in, n_out, act, name=str(2 * k), weight=lin.weight.detach().numpy().T.copy(),
                            bias_init=lin.bias.detach().numpy().copy()))
    return module, Network(layers)


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=lambda a: "-".join(f"{i}{act[0]}" for i, _, act in a))
def test_the_torch_and_network_adapters_agree_to_1e_12(arch):
    module, net = _pair(arch, seed=len(arch))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, arch[0][0]))
    y = rng.normal(size=(9, arch[-1][1]))
    ours, theirs = NetworkModel(net), TorchModel(module)
    assert [(l.n_in, l.n_out, l.activation) for l in theirs.layers()] == [(a, b, c) for a, b, c in arch]
    grid = rng.uniform(-3, 3, size=(50, arch[0][0]))
    np.testing.assert_allclose(theirs.forward(grid), ours.forward(grid), rtol=0, atol=1e-12)
    acts_ours, acts_theirs = ours.activations(x), theirs.activations(x)
    assert list(acts_ours) == list(acts_theirs)
    for name in acts_ours:
        np.testing.assert_allclose(acts_theirs[name], acts_ours[name], rtol=0, atol=1e-12)
    # Loss and gradients: our backward against torch's autograd, same mean squared error.
    loss = get_loss("mse")
    pred = net.forward(x)
    ours_loss = loss.value(pred, y)
    net.backward(loss.grad(pred, y))
    module.zero_grad()
    t_loss = torch.nn.functional.mse_loss(module(torch.tensor(x)), torch.tensor(y))
    t_loss.backward()
    assert float(t_loss.detach()) == pytest.approx(ours_loss, rel=1e-12)
    grads = net.gradients()
    for name, p in module.named_parameters():
        ours_g = grads[name]
        theirs_g = p.grad.numpy().T if name.endswith("weight") else p.grad.numpy()
        np.testing.assert_allclose(theirs_g, ours_g, rtol=1e-12, atol=1e-14)


def test_torch_recorder_reads_parameters_and_grads_and_evaluates_panels():
    module, net = _pair(ARCHITECTURES[0], seed=3)
    x = np.linspace(0, 1, 12)[:, None]
    y = np.sin(3 * x)
    xt, yt = torch.tensor(x), torch.tensor(y)
    opt = torch.optim.SGD(module.parameters(), lr=0.05)
    rec = TorchRecorder(module, every=3, total_steps=7, x=x, y=y, optimizer=opt)
    for step in range(8):
        opt.zero_grad()
        loss = ((module(xt) - yt) ** 2).sum()
        loss.backward()
        rec.log(step, loss)
        if step < 7:
            opt.step()
    h = rec.history()
    assert h.steps.tolist() == [0, 3, 6, 7]
    assert h.params["0.weight"].shape == (4, 2, 1) and h.info.layers[0].transposed
    assert h.info.optimizer == "SGD(lr=0.05)" and h.info.source == "torch"
    # The same run through our engine: same losses and gradients at every recorded step.
    ssr = get_loss("ssr")
    for row, step in enumerate(h.steps):
        net.set_parameters({"0.weight": h.params["0.weight"][row].T, "0.bias": h.params["0.bias"][row],
                            "2.weight": h.params["2.weight"][row].T, "2.bias": h.params["2.bias"][row]})
        pred = net.forward(x)
        assert h.loss[row] == pytest.approx(ssr.value(pred, y), rel=1e-12)
        net.backward(ssr.grad(pred, y))
        np.testing.assert_allclose(h.grads["0.weight"][row].T, net.gradients()["0.weight"], rtol=1e-10)
        # The fit panel's probe: the output on its grid.
        np.testing.assert_allclose(h.extras["fit/prediction"][row], net.forward(h.static["fit/x"][:, None])[:, 0],
                                   atol=1e-12)


def test_torch_recorder_before_backward_is_a_clear_error():
    module, _ = _pair(ARCHITECTURES[0], seed=0)
    rec = TorchRecorder(module)
    with pytest.raises(ValueError, match=r"step 0: parameter '0.weight' has no gradient yet; call loss.backward\(\)"):
        rec.log(0, 1.0)


def test_modules_that_are_not_dense_networks_are_refused():
    with pytest.raises(ValueError, match="Conv1d"):
        TorchModel(torch.nn.Sequential(torch.nn.Conv1d(1, 1, 3), torch.nn.Linear(3, 1)))
    with pytest.raises(ValueError, match="no torch.nn.Linear"):
        TorchModel(torch.nn.PReLU())


# ---- the engine's single definitions against PyTorch's: activations, the dense layer, losses, penalties

@pytest.mark.parametrize("name", sorted(TORCH_ACT))
def test_each_activation_and_its_backward_match_torch(name):
    from visualizer import get_activation

    act = get_activation(name)
    rng = np.random.default_rng(1)
    z = rng.normal(0, 4, size=(8, 3))
    upstream = rng.normal(size=z.shape)
    zt = torch.tensor(z, requires_grad=True)
    out = TORCH_ACT[name]()(zt)
    (out * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(act.forward(z), out.detach().numpy(), rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(act.backward(upstream, z, act.forward(z)), zt.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(TORCH_ACT))
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_the_dense_definitions_match_torch_linear(name, bias):
    from visualizer import get_activation
    from visualizer.engine.layers import dense_backward, dense_forward

    torch.manual_seed(2)
    linear = torch.nn.Linear(3, 4, bias=bias).double()
    rng = np.random.default_rng(2)
    x, upstream = rng.normal(size=(6, 3)), rng.normal(size=(6, 4))
    xt = torch.tensor(x, requires_grad=True)
    out = TORCH_ACT[name]()(linear(xt))
    (out * torch.tensor(upstream)).sum().backward()
    w = linear.weight.detach().numpy().T.copy()  # ours is (inputs, outputs)
    b = linear.bias.detach().numpy().copy() if bias else None
    cache = dense_forward(x, w, b, get_activation(name))
    np.testing.assert_allclose(cache.a, out.detach().numpy(), rtol=1e-13, atol=1e-15)
    grads = {"weight": np.empty_like(w), **({"bias": np.empty_like(b)} if bias else {})}
    _, grad_x = dense_backward(upstream, cache, w, grads=grads)
    np.testing.assert_allclose(grads["weight"], linear.weight.grad.numpy().T, rtol=1e-12, atol=1e-14)
    if bias:
        np.testing.assert_allclose(grads["bias"], linear.bias.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name, torch_loss", [
    ("ssr", lambda p, t: torch.nn.functional.mse_loss(p, t, reduction="sum")),
    ("half_ssr", lambda p, t: 0.5 * torch.nn.functional.mse_loss(p, t, reduction="sum")),
    ("mse", lambda p, t: torch.nn.functional.mse_loss(p, t)),
])
def test_the_regression_losses_match_torch(name, torch_loss):
    rng = np.random.default_rng(3)
    p, t = rng.normal(size=(7, 2)), rng.normal(size=(7, 2))
    pt = torch.tensor(p, requires_grad=True)
    value = torch_loss(pt, torch.tensor(t))
    value.backward()
    loss = get_loss(name)
    assert loss.value(p, t) == pytest.approx(value.item(), rel=1e-13)
    np.testing.assert_allclose(loss.grad(p, t), pt.grad.numpy(), rtol=1e-13, atol=1e-15)
    stacked = np.stack([p, p + 1.0])
    np.testing.assert_allclose(loss.values(stacked, t), [loss.value(s, t) for s in stacked], rtol=1e-13)


def test_an_l2_half_penalty_is_torch_weight_decay():
    # PyTorch's weight_decay=λ adds λ·θ to every gradient: the objective mse + L2(λ, half=True, params="all").
    from visualizer import L2, SGD, Trainer

    module, net = _pair([(2, 3, "tanh"), (3, 1, "identity")], seed=4)
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(10, 2)), rng.normal(size=(10, 1))
    opt = torch.optim.SGD(module.parameters(), lr=0.1, weight_decay=0.05)
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.mse_loss(module(torch.tensor(x)), torch.tensor(y)).backward()
        opt.step()
    Trainer(net, x, y, get_loss("mse"), SGD(0.1), 3, penalties=[L2(0.05, half=True, params="all")]).run()
    for name, p in module.named_parameters():
        theirs = p.detach().numpy().T if name.endswith("weight") else p.detach().numpy()
        np.testing.assert_allclose(net.parameters()[name], theirs, rtol=1e-12, atol=1e-14)


def test_torch_recorder_reads_well():
    module, _ = _pair(ARCHITECTURES[0], seed=0)
    assert repr(TorchRecorder(module, every=5)) == \
        "TorchRecorder(TorchModel([0: 1→2 softplus, 2: 2→1 identity]), every=5, 0 rows)"
