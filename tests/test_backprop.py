"""The backward pass over the layer structure: δ's, weight gradients and chain-rule products against central
finite differences and against the engine's own backpropagation."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import numeric_grad
from visualizer import SGD, Dense, DenseModel, Evaluator, Layout, LossPanel, Network, NetworkModel, Probe, Scene, train
from visualizer.record.backprop import (activation_functions, backward_pass, batched_outputs, chain_rule, layer_weight,
                                 node_names, parse_param)
from visualizer.engine.losses import get_loss
from visualizer.record.model import LayerInfo

CASES = [  # (sizes, activations, loss, bias)
    ([2, 3, 1], ["tanh", "identity"], "mse", True),
    ([1, 2, 1], ["softplus", "identity"], "ssr", True),
    ([3, 4, 1], ["sigmoid", "sigmoid"], "half_ssr", False),
    ([2, 3, 2, 1], ["tanh", "relu", "identity"], "bce", True),
    ([2, 4, 3], ["sigmoid", "identity"], "softmax_ce", True),
]


def _network(sizes, acts, bias, rng):
    return Network([Dense(a, b, act, bias=bias, name=f"l{k}", rng=rng, **({"bias_init": rng.normal(size=b)}
                                                                          if bias else {}))
                    for k, (a, b, act) in enumerate(zip(sizes, sizes[1:], acts))])


def _data(sizes, loss, rng, n=5):
    x = rng.normal(size=(n, sizes[0]))
    if loss == "bce":
        y = rng.integers(0, 2, size=(n, 1)).astype(float)
    elif loss == "softmax_ce":
        y = rng.integers(0, sizes[-1], size=(n, 1)).astype(float)
    else:
        y = rng.normal(size=(n, sizes[-1]))
    return x, y


def _loss_with_shift(net, loss, x, y, layer, shift):
    """The loss with ``shift`` (samples, units) added to ``layer``'s pre-activations."""
    a = x
    for lay in net.layers:
        z = a @ lay.weight + (lay.bias if lay.bias is not None else 0.0)
        if lay.name == layer:
            z = z + shift
        a = lay.activation.fn(z)
    return loss.value(a, y)


@pytest.mark.parametrize("sizes,acts,loss_name,bias", CASES)
def test_deltas_and_weight_gradients_match_finite_differences(sizes, acts, loss_name, bias, rng):
    net = _network(sizes, acts, bias, rng)
    loss = get_loss(loss_name)
    x, y = _data(sizes, loss_name, rng)
    model = NetworkModel(net)
    bp = backward_pass(model.layers(), net.parameters(), x, y, loss, activation_functions(model.layers(), model))
    assert bp.loss == pytest.approx(loss.value(net.forward(x), y), abs=1e-12)
    for lay in net.layers:
        shift = np.zeros((len(x), lay.n_out))
        per_sample = numeric_grad(lambda: _loss_with_shift(net, loss, x, y, lay.name, shift), shift)
        np.testing.assert_allclose(bp.delta[lay.name], per_sample, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(bp.weight_grad(lay.name),
                                   numeric_grad(lambda: loss.value(net.forward(x), y), lay.weight),
                                   rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("sizes,acts,loss_name,bias", CASES)
def test_the_backward_pass_is_the_engines_backpropagation(sizes, acts, loss_name, bias, rng):
    net = _network(sizes, acts, bias, rng)
    loss = get_loss(loss_name)
    x, y = _data(sizes, loss_name, rng)
    pred = net.forward(x)
    net.backward(loss.grad(pred, y))
    grads = {k: v.copy() for k, v in net.gradients().items()}
    bp = backward_pass(NetworkModel(net).layers(), net.parameters(), x, y, loss)
    for lay in net.layers:
        np.testing.assert_allclose(bp.weight_grad(lay.name), grads[f"{lay.name}.weight"], rtol=1e-12, atol=1e-15)
        if bias:
            np.testing.assert_allclose(bp.bias_grad(lay.name), grads[f"{lay.name}.bias"], rtol=1e-12, atol=1e-15)


def test_transposed_weights_are_turned_round(rng):
    layers = [LayerInfo("0", 2, 3, "tanh", "0.weight", "0.bias", transposed=True),
              LayerInfo("2", 3, 1, "identity", "2.weight", None, transposed=True)]
    params = {"0.weight": rng.normal(size=(3, 2)), "0.bias": rng.normal(size=3), "2.weight": rng.normal(size=(1, 3))}
    x, y = rng.normal(size=(4, 2)), rng.normal(size=(4, 1))
    loss = get_loss("mse")
    bp = backward_pass(layers, params, x, y, loss)

    def value():
        h = np.tanh(x @ params["0.weight"].T + params["0.bias"])
        return loss.value(h @ params["2.weight"].T, y)
    np.testing.assert_allclose(bp.weight_grad("0"), numeric_grad(value, params["0.weight"]).T, rtol=1e-6)
    assert layer_weight(layers[0], params).shape == (2, 3)


def test_batched_outputs_match_one_forward_per_parameter_set(rng):
    net = _network([2, 3, 1], ["tanh", "sigmoid"], True, rng)
    model = NetworkModel(net)
    x = rng.normal(size=(6, 2))
    sets = [{k: v + rng.normal(scale=0.3, size=v.shape) for k, v in net.parameters().items()} for _ in range(4)]
    stacked = {k: np.stack([s[k] for s in sets]) for k in sets[0]}
    out = batched_outputs(model.layers(), stacked, x, activation_functions(model.layers(), model))
    for s, got in zip(sets, out):
        net.set_parameters(s)
        np.testing.assert_allclose(got, net.forward(x), rtol=1e-13)


def test_a_custom_activation_needs_the_model_or_is_named_in_the_error():
    from visualizer import Activation

    odd = Activation("cube", lambda z: z ** 3, lambda z: 3 * z ** 2)
    net = Network([Dense(1, 1, odd, name="only", weight=[[0.5]])])
    model = NetworkModel(net)
    assert activation_functions(model.layers(), model)["only"] is odd
    with pytest.raises(ValueError, match="'cube', which is not built in"):
        activation_functions(model.layers())


# ---- the evaluator records the backward pass

def _tiny_scene(layout, loss="mse", bias=True):
    def network(seed):
        rng = np.random.default_rng(seed)
        return Network([Dense(2, 3, "tanh", name="hidden", rng=rng, bias=bias),
                        Dense(3, 1, "sigmoid", name="output", rng=rng, bias=bias)])
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    return Scene(name="tiny", network=network, x=x, y=y, loss=loss, optimizer=SGD(2.0), steps=6, seed=0,
                 layout=layout)


class _Probes(LossPanel):
    """A panel asking for every backward quantity (summed and per sample)."""

    def needs(self, setup):
        from visualizer.record.model import Needs

        probes = [Probe("t/out_grad", setup.x, quantity="output_grad")]
        for lay in setup.layers:
            probes += [Probe(f"t/delta/{lay.name}", setup.x, lay.name, quantity="delta"),
                       Probe(f"t/sum/{lay.name}", setup.x, lay.name, quantity="delta", reduce="sum"),
                       Probe(f"t/z/{lay.name}", setup.x, lay.name, quantity="preactivation"),
                       Probe(f"t/slope/{lay.name}", setup.x, lay.name, quantity="slope", columns=0)]
        return Needs({}, probes)


@pytest.mark.parametrize("bias", [True, False])
def test_recorded_deltas_match_finite_differences_and_the_recorded_gradients(bias):
    scene = _tiny_scene(Layout([["p"]], {"p": _Probes()}), bias=bias)
    history = train(scene)
    net = scene.network(scene.seed)
    for row in (0, 3, len(history) - 1):
        net.set_parameters({k: v[row] for k, v in history.params.items()})
        for lay in net.layers:
            delta = history.extras[f"t/delta/{lay.name}"][row]
            shift = np.zeros_like(delta)
            fd = numeric_grad(lambda: _loss_with_shift(net, scene.loss, scene.x, scene.y, lay.name, shift), shift)
            np.testing.assert_allclose(delta, fd, rtol=1e-6, atol=1e-9)
            np.testing.assert_allclose(history.extras[f"t/sum/{lay.name}"][row], delta.sum(axis=0), rtol=1e-12)
            inputs = scene.x if lay.name == "hidden" else np.tanh(history.extras["t/z/hidden"][row])
            # The edge gradients the diagram draws are the recorded ones: the δ's give them back.
            np.testing.assert_allclose(inputs.T @ delta, history.grads[f"{lay.name}.weight"][row], rtol=1e-9,
                                       atol=1e-14)
            if bias:
                np.testing.assert_allclose(delta.sum(axis=0), history.grads[f"{lay.name}.bias"][row], rtol=1e-9,
                                           atol=1e-14)
    assert history.extras["t/slope/hidden"].shape == (len(history), 4)


def test_backward_probes_need_the_loss_and_the_training_inputs(rng):
    model = DenseModel([("w", "tanh")])
    x, y = rng.normal(size=(3, 2)), rng.normal(size=(3, 1))
    with pytest.raises(ValueError, match="needs the training loss"):
        Evaluator(model, x, y, probes=[Probe("d", x, "layer1", quantity="delta")])({"w": np.ones((2, 1))})
    with pytest.raises(ValueError, match="computed on the training data"):
        Evaluator(model, x, y, probes=[Probe("d", x[:2], "layer1", quantity="delta")],
                  loss="mse")({"w": np.ones((2, 1))})
    with pytest.raises(ValueError, match="quantity must be one of"):
        Probe("d", x, "layer1", quantity="gradient")
    out = Evaluator(model, x, y, probes=[Probe("d", x, "layer1", quantity="delta", reduce="sum")],
                    loss="mse")({"w": np.ones((2, 1))})
    assert out["d"].shape == (1,)


# ---- the chain rule, path by path

def test_chain_rule_reads_like_the_seed_for_softplus_fit():
    layers = [LayerInfo("hidden", 1, 2, "softplus", "hidden.weight", "hidden.bias"),
              LayerInfo("output", 2, 1, "identity", "output.weight", None)]
    names = {"hidden": ("x", "y"), "output": ("P", "P")}
    rule = chain_rule(layers, "hidden.weight", (0, 0), "iw1", "SSR", names)
    assert [[f.name for f in p] for p in rule.paths] == [["∂SSR/∂P", "∂P/∂y1", "∂y1/∂x1", "∂x1/∂iw1"]]
    rule = chain_rule(layers, "hidden.bias", (1,), "b2", "SSR", names)
    assert [f.name for f in rule.paths[0]] == ["∂SSR/∂P", "∂P/∂y2", "∂y2/∂x2", "∂x2/∂b2"]
    rule = chain_rule(layers, "output.weight", (0, 0), "ow1", "SSR", names)
    assert [f.name for f in rule.paths[0]] == ["∂SSR/∂P", "∂P/∂ow1"]


def test_chain_rule_has_one_path_per_route_and_sums_to_the_gradient(rng):
    net = _network([2, 3, 2, 2], ["tanh", "sigmoid", "identity"], True, rng)
    loss = get_loss("mse")
    x, y = _data([2, 3, 2, 2], "mse", rng)
    layers = NetworkModel(net).layers()
    bp = backward_pass(layers, net.parameters(), x, y, loss)
    weights = {lay.name: layer_weight(lay, net.parameters()) for lay in layers}
    for param, index in [("l0.weight", (1, 2)), ("l0.bias", (0,)), ("l1.weight", (2, 1)), ("l2.bias", (1,))]:
        rule = chain_rule(layers, param, index)
        k, is_bias, unit, source = parse_param(layers, param, index)
        assert len(rule.paths) == int(np.prod([lay.n_out for lay in layers[k + 1:]]))
        inputs = None if is_bias else bp.inputs_of(layers[k].name)
        total = rule.values(bp.output_grad, bp.slope, weights, inputs).prod(axis=2).sum()
        expected = bp.bias_grad(layers[k].name)[unit] if is_bias else bp.weight_grad(layers[k].name)[source, unit]
        assert total == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_parameter_names_are_checked():
    layers = [LayerInfo("h", 2, 2, "tanh", "h.weight", "h.bias")]
    with pytest.raises(ValueError, match="outside the layer's 2×2 weights"):
        parse_param(layers, "h.weight", (2, 0))
    with pytest.raises(ValueError, match="no parameter 'h.w'"):
        parse_param(layers, "h.w", (0, 0))
    with pytest.raises(ValueError, match="one index below 2"):
        parse_param(layers, "h.bias", (0, 0))


def test_default_node_names():
    layers = [LayerInfo("a", 2, 2, "tanh", "a.w"), LayerInfo("b", 2, 2, "tanh", "b.w"),
              LayerInfo("c", 2, 1, "identity", "c.w")]
    inputs, units = node_names(layers)
    assert inputs == ["x1", "x2"]
    # Hidden units as the diagram names them (layer 1, unit 2: h1.2), their pre-activations z1.2.
    assert units["a"] == [("z1.1", "h1.1"), ("z1.2", "h1.2")]
    assert units["b"] == [("z2.1", "h2.1"), ("z2.2", "h2.2")]
    assert units["c"] == [("ŷ", "ŷ")]


def test_the_backward_pass_chain_rule_and_plane_read_well(rng):
    from visualizer.record.landscape import pca_plane

    net = _network([2, 3, 1], ["tanh", "identity"], True, rng)
    layers = NetworkModel(net).layers()
    x, y = _data([2, 3, 1], "mse", rng)
    bp = backward_pass(layers, net.parameters(), x, y, get_loss("mse"))
    assert repr(bp) == f"BackwardPass(2→3→1, 5 samples, loss={bp.loss:g})"
    assert repr(chain_rule(layers, "l0.weight", (1, 2), "w")) == "ChainRule(w in layer 'l0': 1 path of 4 factors)"
    assert repr(chain_rule(layers, "l1.bias", (0,))) == "ChainRule(l1.bias[0] in layer 'l1': 1 path of 2 factors)"
    history = train(_tiny_scene(Layout([["loss"]], {"loss": LossPanel()})))
    plane = pca_plane(history)
    assert repr(plane).startswith("Plane(13 parameters in hidden.weight, hidden.bias, output.weight, output.bias, "
                                  "explained ")
