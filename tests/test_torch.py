"""The PyTorch adapter against our own engine: same losses, gradients, activations and grid outputs."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny tensors: threads only wait for each other on a shared two-core machine

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


# ---- batch norm and dropout read from PyTorch, and the adapter proving what it draws (issues 25 and 26)

import copy  # noqa: E402

import torch.nn.functional as F  # noqa: E402

from visualizer.record.schedule import grid_rows  # noqa: E402
from visualizer.torch import RecordingTooLarge, TorchModelMismatch  # noqa: E402


class _InOrder(torch.nn.Module):
    """Modules called in order from forward(), not a Sequential: dropout on the inputs, batch norm without
    γ and β and with a cumulative average, leaky ReLU and GELU."""

    def __init__(self):
        super().__init__()
        self.drop_in = torch.nn.Dropout(0.1)
        self.hidden = torch.nn.Linear(2, 5)
        self.norm = torch.nn.BatchNorm1d(5, affine=False, momentum=None, eps=1e-3)
        self.act = torch.nn.LeakyReLU(0.2)
        self.more = torch.nn.Linear(5, 4, bias=False)
        self.gelu = torch.nn.GELU()
        self.drop = torch.nn.Dropout(0.3)
        self.out = torch.nn.Linear(4, 1)

    def forward(self, x):
        h = self.act(self.norm(self.hidden(self.drop_in(x))))
        return self.out(self.drop(self.gelu(self.more(h))))


def _bn_sequential():
    return torch.nn.Sequential(torch.nn.Linear(2, 6), torch.nn.BatchNorm1d(6, momentum=0.3), torch.nn.Tanh(),
                               torch.nn.Dropout(0.25), torch.nn.Linear(6, 6), torch.nn.ReLU(inplace=True),
                               torch.nn.BatchNorm1d(6), torch.nn.Linear(6, 1))


BN_MODELS = {
    "sequential": (_bn_sequential, [("0", "identity"), ("4", "relu"), ("7", "identity")],
                   [{"kind": "batchnorm", "name": "1", "after": "0", "activation": "tanh"},
                    {"kind": "dropout", "name": "3", "after": "0", "p": 0.25},
                    {"kind": "batchnorm", "name": "6", "after": "4"}]),
    "in-order": (_InOrder, [("hidden", "identity"), ("more", "gelu"), ("out", "identity")],
                 [{"kind": "dropout", "name": "drop_in", "after": "", "p": 0.1},
                  {"kind": "batchnorm", "name": "norm", "after": "hidden", "activation": "leaky_relu:0.2",
                   "eps": 1e-3},  # not PyTorch's default, so the run information keeps it
                  {"kind": "dropout", "name": "drop", "after": "more", "p": 0.3}]),
}


def _train_bn(factory, steps=5, recorder=True, **kwargs):
    """A few Adam steps in training mode on a 2-D regression; returns (model, recorder, the model as it was at
    each logged step, data)."""
    torch.manual_seed(7)
    model = factory().double()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(24, 2, dtype=torch.float64, generator=gen) * 2
    y = torch.sin(x[:, :1]) * x[:, 1:]
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    rec = TorchRecorder(model, total_steps=steps, x=x, y=y, **kwargs) if recorder else None
    states = []
    torch.manual_seed(3)  # the dropout masks
    for step in range(steps + 1):
        model.train()
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        if rec is not None:
            rec.log(step, loss)
        states.append(copy.deepcopy(model))
        if step < steps:
            opt.step()
    return model, rec, states, (x, y)


@pytest.mark.parametrize("kind", sorted(BN_MODELS))
def test_batch_norm_and_dropout_models_are_read_and_their_curves_are_torchs_in_eval_mode(kind):
    factory, dense, other = BN_MODELS[kind]
    model, rec, states, (x, y) = _train_bn(factory)
    h = rec.history()
    assert [(lay.name, lay.activation) for lay in h.info.layers] == dense
    assert h.info.other_layers == other
    assert h.steps.tolist() == list(range(6))
    key = next(k for k in h.extras if k.endswith("/output0"))  # the output over the input plane
    rows = np.column_stack([g.ravel() for g in np.meshgrid(h.static[key + "/x0"] if key + "/x0" in h.static else
                                                            h.static[key.rsplit("/", 1)[0] + "/x0"],
                                                            h.static[key.rsplit("/", 1)[0] + "/x1"])])
    for row, state in enumerate(states):
        state.eval()  # the model as it was at that step, running statistics too
        with torch.no_grad():
            theirs = state(torch.tensor(rows)).numpy()[:, 0].reshape(h.extras[key][row].shape)
        np.testing.assert_allclose(h.extras[key][row], theirs, rtol=0, atol=1e-10)
        for name, p in state.named_parameters():  # γ and β are recorded as parameters, under torch's names
            np.testing.assert_array_equal(h.params[name][row], p.detach().numpy())
    # Recording evaluates in evaluation mode and changes nothing: the same run without a recorder ends the same.
    plain, _, _, _ = _train_bn(factory, recorder=False)
    assert model.training and all(m.training for m in model.modules())
    for (name, a), b in zip(model.state_dict().items(), plain.state_dict().values()):
        assert torch.equal(a, b), name


def test_layer_outputs_give_each_layers_pre_activation_and_activation_as_torch_computes_them():
    model, rec, states, (x, y) = _train_bn(_bn_sequential, steps=2)
    seen = {}
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, o.detach().clone()))
             for n, m in model.named_children()]
    model.eval()
    with torch.no_grad():
        model(x)
    for hk in hooks:
        hk.remove()
    params = {k: v.detach().numpy().copy() for k, v in model.named_parameters()}
    outputs = rec.model.layer_outputs(params, x.numpy())
    # (layer, the module giving its pre-activation, the one giving its activation); dropout has none.
    expected = [("0", "0", "0"), ("1", "1", "2"), ("4", "4", "5"), ("6", "6", "6"), ("7", "7", "7")]
    assert [name for name, _, _ in outputs] == [name for name, _, _ in expected]
    for (name, z, a), (_, pre, post) in zip(outputs, expected):
        np.testing.assert_allclose(z, seen[pre].numpy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(a, seen[post].numpy(), rtol=0, atol=1e-12)
    acts = rec.model.activations(x.numpy())
    assert list(acts) == ["0", "1", "3", "4", "6", "7"]
    np.testing.assert_allclose(acts["1"], seen["2"].numpy(), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"batch norm '1' \(tanh\) after '0'.*cannot be drawn"):
        rec.model.activation_functions()  # the dense-only backward pass refuses, rather than skipping batch norm


class _Functional(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Linear(1, 8), torch.nn.Linear(8, 1)
        self.clip = False  # set mid-run: forward() changes without any module changing

    def forward(self, x):
        h = self.a(x)
        return self.b(F.relu(h) if not self.clip else h.clamp(-0.5, 0.5))


def test_a_functional_activation_is_refused_naming_where_forward_leaves_the_modules():
    with pytest.raises(TorchModelMismatch, match=r"when it was read: the input of 'b' \(Linear\) is not the output "
                                                 r"of 'a' \(Linear\): forward\(\) computes something between them .*F\.relu.*"
                                                 r"nn\.ReLU\(\) \(the model gives 0 where the layers read give -"):
        TorchRecorder(_Functional().double(), x=np.zeros((3, 1)), y=np.zeros((3, 1)))
    residual = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh())
    residual.forward = lambda x: x + torch.tanh(residual[0](x))  # noqa: E731
    with pytest.raises(TorchModelMismatch, match=r"output after its last layer '0' \(Linear\)"):
        TorchModel(residual.double())
    with pytest.raises(ValueError, match=r"activation '2' \(ReLU\) comes after '1' \(Dropout\)"):
        TorchModel(torch.nn.Sequential(torch.nn.Linear(1, 2), torch.nn.Dropout(0.5), torch.nn.ReLU()))


@pytest.mark.parametrize("total_steps", [2, None], ids=["known-end", "unknown-end"])
def test_a_model_whose_forward_changes_mid_run_is_refused_at_the_last_step(total_steps):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)[:, None]
    rec = TorchRecorder(model, x=x, y=x, total_steps=total_steps)
    mismatch = pytest.raises(TorchModelMismatch, match=r"at step 2: the input of '2' \(Linear\) is not the output "
                                                       r"of '1' \(Tanh\)")
    for step in range(3):
        if step == 2:  # forward() now scales what the tanh layer gives: no module changed
            model.forward = lambda t: model[2](model[1](model[0](t)) * 0.5)  # noqa: E731
        model.zero_grad()
        F.mse_loss(model(x), x).backward()
        if step == total_steps:
            with mismatch:
                rec.log(step, 0.0)
            return
        rec.log(step, 0.0)
    with mismatch:
        rec.history()  # the last step logged is known now


@pytest.mark.parametrize("replace, message", [
    (lambda m: m.__setitem__(2, torch.nn.Linear(8, 1).double()),
     r"at step 2: the model changed since recording began: parameter '2.weight' is a new tensor: layer '2' was "
     r"replaced; record a changed model with a new TorchRecorder"),
    (lambda m: m.__setitem__(1, torch.nn.ReLU()), r"layer '1' was replaced: it was a Tanh and is now a ReLU"),
])
def test_a_layer_replaced_mid_run_is_refused(replace, message):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)[:, None]
    rec = TorchRecorder(model, x=x, y=x)
    for step in range(3):
        if step == 2:
            replace(model)
        model.zero_grad()
        F.mse_loss(model(x), x).backward()
        if step < 2:
            rec.log(step, 0.0)
    with pytest.raises(TorchModelMismatch, match=message):
        rec.log(2, 0.0)


def _row_numbers(model, x, y):
    """The numbers one recorded row holds, counted from a real one-step recording."""
    rec = TorchRecorder(model, x=x, y=y, total_steps=0)
    F.mse_loss(model(x), y).backward()
    rec.log(0, 0.0)
    h = rec.history()
    return sum(a[0].size for table in (h.params, h.grads, h.extras, h.losses) for a in table.values())


def test_a_recording_past_its_memory_limit_is_refused_before_training_with_an_every_that_fits():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    x, y = torch.randn(20, 2, dtype=torch.float64), torch.randn(20, 1, dtype=torch.float64)
    numbers = _row_numbers(model, x, y)
    assert numbers > 6400  # the output over the input plane dominates, as the 25 KB a step
    limit, steps = 10 * 1024**2, 50_000
    fits = next(e for e in range(1, steps) if grid_rows(steps, e) * numbers * 8 <= limit)
    with pytest.raises(RecordingTooLarge, match=rf"recording 50,001 steps of {numbers:,} numbers each takes "
                                                rf"[\d.]+ GB, more than the 10.0 MB limit; record less often: "
                                                rf"every={fits} fits$") as err:
        TorchRecorder(model, x=x, y=y, total_steps=steps, memory_limit=limit)
    assert err.value.every == fits
    TorchRecorder(model, fits, x=x, y=y, total_steps=steps, memory_limit=limit)  # the hint does fit
    # Without the run's length: refused at the first step that would not fit, nothing past the limit kept.
    rec = TorchRecorder(model, x=x, y=y, memory_limit=20 * numbers * 8 + 7)
    with pytest.raises(RecordingTooLarge, match=r"keeping step 20 would take the history past the [\d.]+ MB limit "
                                                r"\(21 steps of .* record less often \(every=\d+ fits twice these "
                                                r"steps\), and give total_steps= to have the size checked before "
                                                r"training"):
        for step in range(100):
            model.zero_grad()
            F.mse_loss(model(x), y).backward()
            rec.log(step, 0.0)
    assert len(rec.recorder) == 20 and rec.history().steps[-1] == 19


def test_a_torch_script_with_batch_norm_records_a_history_the_command_line_renders(tmp_path, cli):
    script = tmp_path / "bn_loop.py"
    script.write_text(f'''
import torch
from visualizer.torch import TorchRecorder

torch.manual_seed(0)
x = torch.linspace(-3, 3, 30, dtype=torch.float64).unsqueeze(1)
y = torch.sin(x)
model = torch.nn.Sequential(torch.nn.Linear(1, 6), torch.nn.BatchNorm1d(6), torch.nn.Tanh(),
                            torch.nn.Dropout(0.1), torch.nn.Linear(6, 1)).double()
opt = torch.optim.Adam(model.parameters(), lr=0.05)
rec = TorchRecorder(model, every=2, total_steps=6, x=x, y=y, title="batch norm in torch")
for step in range(7):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    rec.log(step, loss)
    if step < 6:
        opt.step()
rec.history().save({str(tmp_path / "bn.npz")!r})
''')
    import runpy

    runpy.run_path(str(script))
    code, _, err = cli("render", "--from-history", str(tmp_path / "bn.npz"), "--size", "320x180", "--dpi", "50",
                       "--format", "frames", "--out", str(tmp_path / "out"))
    assert code == 0, err
    frames = sorted(p.name for p in (tmp_path / "out" / "run" / "frames").iterdir())
    assert frames == ["frame_00000.png", "frame_00002.png", "frame_00004.png", "frame_00006.png"]


@pytest.mark.parametrize("norm", [False, True], ids=["dropout", "batchnorm"])
def test_the_fit_panels_neurons_add_up_to_the_curve_or_are_not_drawn(norm):
    # Each last-hidden neuron's curve times its weight, plus the output bias, is the prediction; with batch
    # norm between that layer and the output the products would not be, so the panel leaves them out.
    from visualizer.draw.panels.curves import _contributions

    torch.manual_seed(0)
    mods = [torch.nn.Linear(1, 5), torch.nn.Tanh(), *([torch.nn.BatchNorm1d(5)] if norm else []),
            torch.nn.Dropout(0.5), torch.nn.Linear(5, 1)]
    model = torch.nn.Sequential(*mods).double()
    x = torch.linspace(-2, 2, 10, dtype=torch.float64)[:, None]
    rec = TorchRecorder(model, x=x, y=torch.sin(x))
    model.train()
    F.mse_loss(model(x), torch.sin(x)).backward()
    rec.log(0, 0.0)
    h = rec.history()
    found = _contributions(h)
    if norm:
        assert found is None
        return
    products, _ = found
    np.testing.assert_allclose(products(0).sum(axis=1) + h.params[h.info.layers[-1].bias][0], h.extras["fit/prediction"][0],
                               rtol=0, atol=1e-12)


def _torch_deltas(module, x, y, names):
    """Each named module's output z and its δ = ∂L/∂z of the mean squared error, by autograd, in eval mode."""
    kept = {}
    hooks = [dict(module.named_modules())[n].register_forward_hook(lambda m, i, out, n=n: kept.__setitem__(n, out))
             for n in names]
    module.eval()
    try:
        pred = module(torch.tensor(x))
        for z in kept.values():
            z.retain_grad()
        module.zero_grad()
        torch.nn.functional.mse_loss(pred, torch.tensor(y)).backward()
    finally:
        module.train()
        for h in hooks:
            h.remove()
    return {n: (kept[n].detach().numpy(), kept[n].grad.numpy()) for n in names}


def test_a_torch_loop_records_each_layers_delta_as_the_engine_and_autograd_compute_it():
    from visualizer import Evaluator, LayerHistogramPanel, LayerStatPanel, Layout

    layout = Layout([["d", "h"]], {"d": LayerStatPanel("delta_norm", layers="all"), "h": LayerHistogramPanel("delta")})
    x = np.linspace(-1, 1, 16)[:, None] * np.array([[1.0, -0.7]]) + np.array([[0.1, 0.2]])
    y = np.sin(2 * x[:, :1]) + 0.3 * x[:, 1:]
    torch.manual_seed(0)
    plain = torch.nn.Sequential(torch.nn.Linear(2, 6), torch.nn.Tanh(), torch.nn.Linear(6, 4), torch.nn.Sigmoid(),
                                torch.nn.Linear(4, 1)).double()
    normed = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.BatchNorm1d(5), torch.nn.Tanh(), torch.nn.Dropout(0.3),
                                 torch.nn.Linear(5, 1)).double()
    for module, names in ((plain, ["0", "2", "4"]), (normed, ["0", "1", "4"])):
        opt = torch.optim.SGD(module.parameters(), lr=0.3)
        rec = TorchRecorder(module, every=2, total_steps=4, x=x, y=y, layout=layout, loss="mse")
        for step in range(5):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(module(torch.tensor(x)), torch.tensor(y))
            loss.backward()
            rec.log(step, loss)
            if step < 4:
                opt.step()
        history = rec.history()
        assert list(history.static["layers/names"]) == names
        # At the last step (the module's own parameters now), each layer's δ as autograd computes it.
        for name, (z, delta) in _torch_deltas(module, x, y, names).items():
            np.testing.assert_allclose(history.extras[f"layer/{name}/delta_norm"][-1], np.abs(delta).mean(),
                                       rtol=1e-10)
            edges = history.static[f"layer/{name}/delta_edges"]
            counts = np.histogram(np.clip(delta, edges[0], edges[-1]), edges)[0]
            np.testing.assert_allclose(history.extras[f"layer/{name}/delta_hist"][-1] * delta.size, counts, atol=1e-9)
        if module is plain:  # and at every step, as the engine computes them on the same weights
            for r in range(len(history)):
                net = Network([Dense(a, b, act, name=n, weight=history.params[f"{n}.weight"][r].T,
                                     bias_init=history.params[f"{n}.bias"][r])
                               for (a, b, act), n in zip([(2, 6, "tanh"), (6, 4, "sigmoid"), (4, 1, "identity")],
                                                         names)])
                ours = Evaluator(NetworkModel(net), x, y, layout, loss="mse")(net.parameters())
                for n in names:
                    np.testing.assert_allclose(history.extras[f"layer/{n}/delta_norm"][r], ours[f"layer/{n}/delta_norm"],
                                               rtol=1e-12)
    with pytest.raises(ValueError, match="loss="):
        TorchRecorder(plain, x=x, y=y, layout=layout)
