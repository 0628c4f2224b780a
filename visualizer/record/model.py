"""The model adapter: what the recorder's evaluator and the panels may ask of any model.

A model, whatever computes it (our :class:`~visualizer.engine.layers.Network`, a PyTorch module, a user's own numpy
arrays), is seen through the small :class:`Model` protocol: parameters by name, forward on any inputs,
activations by layer name, and the layer structure (for diagrams). Panels never touch a model: they declare
:class:`Probe` s ("layer L's outputs on these inputs"), and one :class:`Evaluator` computes every probe from
the adapter at each recorded step. A probe may also ask for what the backward pass computes on the training
set (pre-activations, slopes, error signals δ = ∂L/∂z, ∂L/∂ŷ): the evaluator then needs the loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Sequence, runtime_checkable

import numpy as np

from ..engine.layers import Dense, DenseCache, dense_backward, dense_forward
from ..engine.objective import evaluation_mode
from .probes import BACKWARD, LayerInfo, Needs, Probe, Setup, default_needs

if TYPE_CHECKING:
    from ..engine.losses import Loss
    from ..engine.layers import Activation, Network


@runtime_checkable
class Model(Protocol):
    """What the evaluator needs from a model. Arrays are numpy, float64, inputs of shape (batch, inputs)."""

    def layers(self) -> list[LayerInfo]:
        """The dense layers, input side first."""

    def parameters(self) -> dict[str, np.ndarray]:
        """Current parameter values by name (may be live arrays: copy to keep)."""

    def set_parameters(self, values: dict[str, np.ndarray]) -> None:
        """Load parameter values by name (for evaluating at recorded or hypothetical points)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The model's output for inputs ``x``."""

    def activations(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every layer's output (after its activation) for inputs ``x``, by layer name, input side first."""

    # Optional, for per-layer statistics of models with layers that are not dense (batch norm, dropout):
    # ``layer_pass(x, y, loss)`` returns a :class:`~visualizer.record.layerstats.LayerPass` (each layer's z, a,
    # and δ = ∂L/∂z when ``loss`` is given, in evaluation mode). Without it the dense layers are gone through
    # with the engine's own forward and backward pass (record/layerstats.py's ``layer_pass``).


class NetworkModel:
    """The adapter for our own :class:`~visualizer.engine.layers.Network` (the live network: no copies)."""

    def __init__(self, network: Network) -> None:
        self.network = network

    def layers(self) -> list[LayerInfo]:
        """The dense layers (batch norm and dropout keep the width, so the dense ones still chain up; they
        are described by :meth:`other_layers`)."""
        return [LayerInfo(lay.name, lay.n_in, lay.n_out, lay.activation.name, f"{lay.name}.weight",
                          f"{lay.name}.bias" if lay.bias is not None else None)
                for lay in self.network.layers if isinstance(lay, Dense)]

    def other_layers(self) -> list[dict]:
        """The layers that are not dense, in order, each as ``{"kind": "batchnorm" or "dropout", "name": …,
        "after": the dense layer before it ("" for the inputs), "p": dropout's rate, "activation": batch
        norm's, unless identity, and its "eps" unless 1e-5}`` (plain JSON, for the history's run information)."""
        out, before = [], ""
        for lay in self.network.layers:
            if isinstance(lay, Dense):
                before = lay.name
            elif hasattr(lay, "p"):
                out.append({"kind": "dropout", "name": lay.name, "after": before, "p": lay.p})
            else:
                act = getattr(lay, "activation", None)
                out.append({"kind": "batchnorm", "name": lay.name, "after": before,
                            **({"activation": act.name} if act is not None and act.name != "identity" else {}),
                            **({"eps": lay.eps} if getattr(lay, "eps", 1e-5) != 1e-5 else {})})
        return out

    def parameters(self) -> dict[str, np.ndarray]:
        return self.network.parameters()

    def set_parameters(self, values: dict[str, np.ndarray]) -> None:
        live = self.network.parameters()
        for name, value in values.items():
            if live.get(name) is not value:  # the live arrays themselves need no copy
                self.network.set_parameters({name: value})
                self.network.full_pass = None  # a pass lent for the parameters before is not for these

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The output in evaluation mode (batch norm by its running statistics, no dropout)."""
        lent = self._lent_outputs(x)
        if lent is not None:
            return lent[-1]
        with evaluation_mode(self.network):
            return self.network.forward(np.asarray(x, dtype=float))

    def activation_functions(self) -> dict[str, Activation]:
        """Each layer's activation object (with its derivative), by layer name: for computations through the
        dense layers only in evaluation mode (the loss landscape), which dropout leaves as they are (it passes
        everything when evaluating) but batch norm does not (so a network with it is refused clearly)."""
        refuse_other_layers(self.other_layers(), allow=("dropout",))
        return {lay.name: lay.activation for lay in self.network.layers if isinstance(lay, Dense)}

    def step_pass(self, x: np.ndarray, y: np.ndarray, loss: Loss):
        """The training step's forward and backward pass on ``(x, y)`` at the current parameters
        (:func:`~visualizer.record.modes.step_pass`), with the dropout masks the next update draws (the
        recorder records the same ones; the generators are put back) and the batch's statistics. At a
        recorded step of training it is the pass the step itself went through, lent to the network
        (:class:`~visualizer.engine.training.TrainingPass`): read, not computed again."""
        from ..engine.norm import Dropout, looking_ahead
        from ..engine.objective import set_mode
        from .modes import lent_step_pass, stages, step_pass

        net = self.network
        layers, other = self.layers(), self.other_layers()
        stages(layers, other)  # a layer on the inputs, before any dense layer, is refused
        lent = getattr(getattr(net, "full_pass", None), "training", None)
        if lent is not None and lent.loss is loss and np.shape(lent.x) == np.shape(x) and \
                np.shape(lent.y) == np.shape(y) and np.array_equal(lent.x, x) and np.array_equal(lent.y, y):
            return lent_step_pass(layers, net.layers, lent)
        drops = [lay for lay in net.layers if isinstance(lay, Dropout) and lay.p > 0]
        masks = {}
        if drops:
            before = set_mode(net, True)
            try:
                with looking_ahead(net):
                    net.forward(np.asarray(x, dtype=float))
                    masks = {lay.name: lay.mask != 0 for lay in drops}
            finally:
                set_mode(net, bool(before))
        acts = {lay.name: lay.activation for lay in net.layers if isinstance(lay, Dense)}
        return step_pass(layers, other, self.parameters(), x, y, loss, masks, acts)

    def activations(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every layer's output in evaluation mode, batch norm and dropout layers too."""
        outs = self._lent_outputs(x)
        if outs is None:
            with evaluation_mode(self.network):
                outs = self.network.activations(np.asarray(x, dtype=float))
        return {lay.name: a for lay, a in zip(self.network.layers, outs)}

    def _lent_outputs(self, x: np.ndarray) -> list[np.ndarray] | None:
        """Each layer's output read from the evaluation-mode pass a recorded training step lent the network
        (:class:`~visualizer.engine.training.FullPass`) when it went through these inputs (a layer's outputs on
        the training set are its forward pass's own: not computed again); else None."""
        lent = getattr(self.network, "full_pass", None)
        if lent is None or not (np.shape(lent.x) == np.shape(x) and np.array_equal(lent.x, x)):
            return None
        outs, prev = [], np.asarray(lent.x, dtype=float)
        for lay, state in zip(self.network.layers, lent.caches):
            if not hasattr(lay, "_cache"):  # dropout: passing everything when evaluating (no mask)
                if state is not None:
                    return None
            elif isinstance(state, DenseCache):
                prev = state.a
            elif isinstance(state, tuple) and len(state) == 5 and not state[2]:  # batch norm's, evaluating
                prev = state[4]
            else:
                return None
            outs.append(prev)
        return outs

    def layer_pass(self, x: np.ndarray, y: np.ndarray | None = None, loss: Loss | None = None):
        """Each dense and batch-norm layer's pre-activation z, output a and (with ``loss``) δ = ∂L/∂z on
        ``(x, y)``, through the network's own layers in evaluation mode (dropout passes everything). The
        gradients the network keeps for its optimizer are left as they were. At a recorded step of training
        the evaluation-mode pass the step made is read (lent to the network), not made again."""
        from ..engine.norm import BatchNorm
        from ..engine.objective import Objective
        from ..engine.training import layer_state
        from .layerstats import LayerPass

        net = self.network
        lent = self._lent_pass(x, y, loss)
        if isinstance(lent, LayerPass):
            return lent
        measured = [lay for lay in net.layers if isinstance(lay, (Dense, BatchNorm))]
        if lent is None:
            with evaluation_mode(net):
                net.activations(np.asarray(x, dtype=float))
                states = [layer_state(lay) for lay in net.layers]
        else:
            states = lent
        cached = dict(zip([lay.name for lay in net.layers], states))
        z = {lay.name: cached[lay.name].z if isinstance(lay, Dense) else cached[lay.name][3] for lay in measured}
        a = {lay.name: cached[lay.name].a if isinstance(lay, Dense) else cached[lay.name][4] for lay in measured}
        delta = None
        if loss is not None:
            delta = {}
            out = _output(net.layers, states, x)
            g = np.asarray(Objective(loss).output_grad(out, y), dtype=float).reshape(out.shape)
            for k in range(len(net.layers) - 1, -1, -1):
                lay = net.layers[k]
                if isinstance(lay, Dense):  # δ and ∂L/∂x only: no parameter gradients
                    delta[lay.name], g = dense_backward(g, states[k], lay.weight, input_grad=k > 0)
                    continue
                if lay.name in z:
                    delta[lay.name] = lay.activation.backward(g, z[lay.name], a[lay.name])
                g = _backward_aside(lay, g, states[k])
        return LayerPass([lay.name for lay in measured], {lay.name: lay.activation.name for lay in measured},
                         z, a, delta)

    def _lent_pass(self, x: np.ndarray, y: np.ndarray | None, loss: Loss | None):
        """The full-set pass a recorded training step lent the network
        (:class:`~visualizer.engine.training.FullPass`) when it is on these data (and, with ``loss``, these
        targets and this loss): for a network of dense layers whose pass went backward, the layer pass read
        from it (a :class:`~visualizer.record.layerstats.LayerPass`: the same numbers, without computing them
        again); else each layer's state after its evaluation-mode forward pass (a list), to go backward from.
        None otherwise."""
        from .layerstats import LayerPass

        lent = getattr(self.network, "full_pass", None)
        if lent is None or not (np.shape(lent.x) == np.shape(x) and np.array_equal(lent.x, x)):
            return None
        layers, caches = self.network.layers, lent.caches
        if any(c is None for lay, c in zip(layers, caches) if hasattr(lay, "_cache")):
            return None
        if not all(isinstance(lay, Dense) for lay in layers):
            return caches  # forward only: δ is worked out from them with this loss and these targets
        if loss is not None and (lent.loss is not loss or y is None or any(c.delta is None for c in caches) or
                                 not (np.size(lent.y) == np.size(y) and np.array_equal(np.ravel(lent.y), np.ravel(y)))):
            return None
        names = [lay.name for lay in layers]
        return LayerPass(names, {lay.name: lay.activation.name for lay in layers},
                         {n: c.z for n, c in zip(names, caches)}, {n: c.a for n, c in zip(names, caches)},
                         None if loss is None else {n: c.delta for n, c in zip(names, caches)})

    def __repr__(self) -> str:
        return f"NetworkModel({self.network!r})"


def _backward_aside(layer, grad: np.ndarray, state) -> np.ndarray:
    """``layer.backward(grad)`` from ``state`` (what its forward pass left, as
    :func:`~visualizer.engine.training.layer_state` takes it), with its parameter gradients written to scratch
    arrays: the network's own gradient arrays (which a recorder may be about to copy) and the layer's own
    cache keep their values."""
    attr = "_cache" if hasattr(layer, "_cache") else "mask"
    kept, kept_state = layer.grads, getattr(layer, attr)
    layer.grads = {k: np.empty_like(v) for k, v in kept.items()}
    setattr(layer, attr, state)
    try:
        return layer.backward(grad)
    finally:
        layer.grads = kept
        setattr(layer, attr, kept_state)


def _output(layers, states, x: np.ndarray) -> np.ndarray:
    """The network's output from each layer's state after an evaluation-mode pass on ``x`` (dropout passes
    what it takes in)."""
    for lay, state in zip(reversed(layers), reversed(states)):
        if hasattr(lay, "_cache"):
            return state.a if hasattr(state, "a") else state[4]
    return np.asarray(x, dtype=float)


class DenseModel:
    """A dense network described by the names of its weights, for a from-scratch loop's own arrays.

    ``DenseModel([("syn0", "sigmoid"), ("syn1", "sigmoid")])`` is ``sigmoid(sigmoid(x @ syn0) @ syn1)``; a
    layer may name a bias too: ``("w1", "relu", "b1")``. Layer names default to ``layer1``, ``layer2``, …
    or are given as a fourth item. Values come from the recorded parameters (:meth:`set_parameters`), so the
    evaluator can compute what panels need from any logged step; each layer is the engine's own
    (:func:`~visualizer.engine.layers.dense_forward`).
    """

    def __init__(self, layers: Sequence[tuple], *, input_names: Sequence[str] = ()) -> None:
        from ..engine.layers import get_activation

        if not layers:
            raise ValueError("DenseModel needs at least one layer, e.g. [('w0', 'sigmoid'), ('w1', 'identity')]")
        self._spec = []
        for k, item in enumerate(layers, 1):
            if not 2 <= len(item) <= 4:
                raise ValueError(f"layer {k}: give (weight name, activation[, bias name[, layer name]]), got {item!r}")
            weight, act = item[0], get_activation(item[1])
            bias = item[2] if len(item) > 2 else None
            name = item[3] if len(item) > 3 else f"layer{k}"
            self._spec.append((name, weight, act, bias))
        self._values: dict[str, np.ndarray] = {}

    def layers(self) -> list[LayerInfo]:
        out = []
        for name, weight, act, bias in self._spec:
            if weight not in self._values:
                raise ValueError(f"DenseModel: no values for weight {weight!r} yet; log it first")
            n_in, n_out = np.shape(self._values[weight])
            out.append(LayerInfo(name, int(n_in), int(n_out), act.name, weight, bias))
        return out

    def parameters(self) -> dict[str, np.ndarray]:
        return dict(self._values)

    def set_parameters(self, values: dict[str, np.ndarray]) -> None:
        for _, weight, _, bias in self._spec:
            for pname in (weight, bias):
                if pname is None:
                    continue
                if pname not in values:
                    raise ValueError(f"DenseModel: parameter {pname!r} was not logged; logged: {sorted(values)}")
                value = np.asarray(values[pname], dtype=float)
                if pname == weight and value.ndim != 2:
                    raise ValueError(f"DenseModel: weight {pname!r} must be 2-D (inputs, outputs), got {value.shape}")
                self._values[pname] = value

    def activations(self, x: np.ndarray) -> dict[str, np.ndarray]:
        a = np.asarray(x, dtype=float)
        outs = {}
        for name, weight, act, bias in self._spec:
            a = dense_forward(a, self._values[weight], None if bias is None else self._values[bias], act).a
            outs[name] = a
        return outs

    def forward(self, x: np.ndarray) -> np.ndarray:
        return list(self.activations(x).values())[-1]

    def activation_functions(self) -> dict[str, Activation]:
        """Each layer's activation object (with its derivative), by layer name: for the backward pass."""
        return {name: act for name, _, act, _ in self._spec}

    def __repr__(self) -> str:
        return "DenseModel([" + ", ".join(f"{w}: {a.name}" for _, w, a, _ in self._spec) + "])"


class Evaluator:
    """Computes what panels need from a model at each recorded step: one forward pass per distinct input set.

    ``Evaluator(model, x, y, layout=None, probes=(), loss=None)``: the layout's panels declare their probes
    (without a layout, the probes of the default layout: the fit curve for one input and one output, the
    output over the input plane for two or more inputs); ``probes`` adds your own. Probes of the backward pass
    (δ's, slopes, ∂L/∂ŷ) need the training ``loss`` (a :class:`~visualizer.engine.losses.Loss` or its name). The
    needs are worked out at the first call, when the parameters (and so the layer sizes) are known. Each call
    loads the logged parameters into the model first (free for live arrays), so it works alike for a live
    network and for a from-scratch loop's arrays seen through :class:`DenseModel`. After training,
    :meth:`analyse` runs the layout's post-training analyses (a loss landscape) with the model at hand.
    """

    def __init__(self, model: Model, x: np.ndarray, y: np.ndarray, layout=None,
                 probes: Sequence[Probe] = (), loss: Loss | str | None = None) -> None:
        self.model = model
        self.extra_probes = list(probes)
        self.x = _as_rows(x, "x")
        self.y = _as_rows(y, "y")
        if len(self.x) != len(self.y):
            raise ValueError(f"x and y need the same number of rows, got {len(self.x)} and {len(self.y)}")
        self.layout = layout
        if isinstance(loss, str):
            from ..engine.losses import get_loss

            loss = get_loss(loss)
        self.loss = loss
        self.probes: list[Probe] | None = None
        self.static: dict[str, np.ndarray] = {}
        self.layers: list[LayerInfo] = []

    def __repr__(self) -> str:
        loss = "no loss" if self.loss is None else f"loss={getattr(self.loss, 'name', self.loss)}"
        probes = "probes not worked out yet" if self.probes is None else f"{len(self.probes)} probes"
        return f"Evaluator({self.model!r}, {len(self.x)} samples, {loss}, {probes})"

    def prepare(self) -> None:
        """Work out the probes from the model's current layer structure (done once, at the first call)."""
        self.layers = self.model.layers()
        setup = Setup(self.x, self.y, self.layers)
        if self.layers and self.x.shape[1] != self.layers[0].n_in:
            columns = "column" if self.x.shape[1] == 1 else "columns"
            raise ValueError(f"the data has {self.x.shape[1]} input {columns} but the model's first layer "
                             f"{self.layers[0].name!r} takes {self.layers[0].n_in}")
        if self.layout is None:
            needs = default_needs(setup)
        else:
            needs = self.layout.needs(setup)
        self.static = {"data/x": self.x, "data/y": self.y, **needs.static}
        probes = needs.merge(Needs({}, self.extra_probes)).probes
        backward = [p for p in probes if p.quantity in BACKWARD]
        for p in backward:
            if p.inputs is not self.x and not np.array_equal(p.inputs, self.x):
                raise ValueError(f"probe {p.key!r} asks for the backward pass ({p.quantity}), which is computed "
                                 "on the training data: give the setup's x as its inputs")
            if p.layer is not None:
                setup.layer(p.layer)
        if backward and self.loss is None:
            raise ValueError(f"the panels need the backward pass ({backward[0].key}), which needs the training "
                             "loss: give loss=... (to the Evaluator or TorchRecorder: the loss your loop minimises)")
        self._backward = backward
        self._stats = None
        if needs.layer_stats is not None:
            from .layerstats import LayerStatsRecorder

            if "delta" in needs.layer_stats.kinds and self.loss is None:
                raise ValueError("the panels need each layer's δ = ∂L/∂z, which needs the training loss: give "
                                 "loss=... (to the Evaluator or TorchRecorder: the loss your loop minimises)")
            self._stats = LayerStatsRecorder(needs.layer_stats)
        self._activations = None
        self._step = None
        if backward and getattr(self.model, "step_pass", None) is not None and self.model.other_layers():
            self._step = self.model.step_pass  # the training step's pass, through dropout and batch norm
        elif backward:
            from .backprop import activation_functions

            self._activations = activation_functions(self.layers, self.model)
        groups: dict[int, list[Probe]] = {}
        for probe in probes:
            if probe.quantity not in BACKWARD:
                groups.setdefault(id(probe.inputs), []).append(probe)
        self._groups = [(g[0].inputs, g) for g in groups.values()]
        self.probes = probes

    def __call__(self, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.model.set_parameters(params)
        if self.probes is None:
            self.prepare()
        return self.evaluate()

    def evaluate(self) -> dict[str, np.ndarray]:
        """Every probe at the model's current parameters."""
        out: dict[str, np.ndarray] = {}
        if self._stats is not None:  # first: the layers may still hold the training step's full-set pass
            from .layerstats import layer_pass

            loss = self.loss if "delta" in self._stats.request.kinds else None
            out.update(self._stats(layer_pass(self.model, self.layers, self.x, self.y, loss)))
            self.static.update(self._stats.static)
        for inputs, probes in self._groups:
            acts = self.model.activations(inputs) if any(p.layer is not None for p in probes) else None
            output = self.model.forward(inputs) if any(p.layer is None for p in probes) else None
            for p in probes:
                out[p.key] = _shaped(p, output if p.layer is None else acts[p.layer])
        if self._backward:
            from .backprop import backward_pass

            if self._step is not None:
                bp = self._step(self.x, self.y, self.loss)
            else:
                bp = backward_pass(self.layers, self.model.parameters(), self.x, self.y, self.loss,
                                   self._activations)
            table = {"preactivation": bp.z, "slope": bp.slope, "delta": bp.delta}
            for p in self._backward:
                out[p.key] = _shaped(p, bp.output_grad if p.quantity == "output_grad" else table[p.quantity][p.layer])
            if self._step is not None:
                # Beside the training step's δ's and slopes, a dense layer's outputs on the training set are
                # the step's too (after its batch norm and dropout: what the next layer takes in), so that the
                # chain rule's inputs and its other factors come from one pass.
                for inputs, probes in self._groups:
                    if inputs is self.x:
                        out.update({p.key: _shaped(p, bp.a[p.layer]) for p in probes if p.layer in bp.a})
        return out

    def finish(self, history: Any) -> Any:
        """``history``, recorded with this evaluator, made whole (the recorder calls it when it hands a history
        out): the per-layer histograms of every row on the run's final bins, which grew as values left them."""
        if self.probes is not None and self._stats is not None:
            self._stats.finish(history)
        return history

    def detached(self, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Evaluate at ``params`` and put the model's own parameters back afterwards."""
        keep = {k: np.array(v, copy=True) for k, v in self.model.parameters().items()}
        try:
            return self(params)
        finally:
            self.model.set_parameters(keep)

    def analyse(self, history: Any) -> dict[str, np.ndarray]:
        """Run the layout's post-training analyses on ``history`` (each panel's ``analyse``) with this model
        and data; returns the static arrays to add to the history. The model's parameters are restored."""
        if self.layout is None or not hasattr(self.layout, "analyse"):
            return {}
        if self.probes is None:
            self.prepare()
        keep = {k: np.array(v, copy=True) for k, v in self.model.parameters().items()}
        try:
            return self.layout.analyse(history, self.model, TrainingData(self.x, self.y, self.loss))
        finally:
            self.model.set_parameters(keep)


def describe_other_layer(d: dict) -> str:
    """``batch norm 'bn1' after 'hidden1'``, ``dropout 'drop' (p=0.5) on the inputs``: one of
    :meth:`NetworkModel.other_layers` in words."""
    what = f"dropout {d['name']!r} (p={d.get('p', 0):g})" if d.get("kind") == "dropout" else \
        f"batch norm {d['name']!r}" + (f" ({d['activation']})" if d.get("activation") else "")
    return what + (f" after {d['after']!r}" if d.get("after") else " on the inputs")


def refuse_other_layers(other: Sequence[dict], allow: Sequence[str] = ()) -> None:
    """A clear ValueError if a network has layers the dense-only computations cannot go through (those of a
    kind in ``allow`` pass)."""
    other = [d for d in other if d.get("kind") not in allow]
    if other:
        raise ValueError(f"this network has {', '.join(map(describe_other_layer, other))}; the loss landscape "
                         "goes through dense layers only, so it cannot be drawn for it (the why layout and "
                         "explained steps can, through the recorded masks and batch statistics)")


@dataclass
class TrainingData:
    """What a post-training analysis evaluates the model on: the training set and the loss minimised."""

    x: np.ndarray
    y: np.ndarray
    loss: Loss | None

    def __repr__(self) -> str:
        loss = "no loss" if self.loss is None else f"loss={getattr(self.loss, 'name', self.loss)}"
        return f"TrainingData({len(self.x)} samples, {loss})"


def _shaped(p: Probe, value) -> np.ndarray:
    value = np.asarray(value, dtype=float)
    if p.columns is not None:
        value = value[:, p.columns]
    if p.reduce == "sum":
        value = value.sum(axis=0)
    return value.reshape(p.shape) if p.shape is not None else value


def _as_rows(a, what: str) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or len(a) == 0:
        raise ValueError(f"{what} must be a non-empty (rows, columns) array, got shape {a.shape}")
    return a


__all__ = ["DenseModel", "Evaluator", "LayerInfo", "Model", "Needs", "NetworkModel", "Probe", "Setup", "TrainingData",
           "describe_other_layer", "refuse_other_layers"]
