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
