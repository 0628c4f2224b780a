"""The why layout for a history drawn on its own (your own loop, PyTorch, a scene's saved history): built from
the layers it recorded, and what its panels need that the loop did not record (the backward pass on the
training set, the loss landscape) computed from its parameters, its data and the loss it names, before drawing.
Through dropout and batch norm the backward pass is each recorded step's training pass, with the masks and
the batch statistics the history holds (:mod:`visualizer.record.modes`).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..base.errors import VisualizerError
from ..draw.panels import Layout, default_layout, why_layout
from ..draw.panels.compare import main_panel
from ..engine.layers import dense_forward
from ..engine.losses import LOSSES, get_loss
from ..engine.norm import BatchNorm, norm_key, unrecorded
from ..record.backprop import activation_functions, layer_weight, stages
from ..record.history import History
from ..record.model import Evaluator, refuse_other_layers
from ..record.modes import recorded_masks, step_pass

# What loss labels a loop may give (TorchRecorder(loss_label=...)) mean, beside the losses' own names.
LOSS_LABELS = {"ssr": "ssr", "sse": "ssr", "mse": "mse", "bce": "bce", "cross-entropy": "softmax_ce",
               "cross entropy": "softmax_ce", "ce": "softmax_ce", "hinge": "hinge"}


class LayersModel:
    """A network read from a history's layers (``LayerInfo``, PyTorch's transposed weights too), and the
    dropout and batch norm layers between them (``other_layers``, the run information's), with the parameters
    loaded into it: what the evaluator needs to work out a why layout's probes after the fact. Through dropout
    and batch norm it needs the recorded row's state (:meth:`use_row`): its outputs are evaluation mode's
    (batch norm by the running statistics at that row, dropout passing everything), its :meth:`step_pass` the
    training pass with the row's masks; its batch statistics are worked out again from the full set, the batch
    the recorded ones were taken on (they are required in the history, not read)."""

    def __init__(self, layers, other_layers=()) -> None:
        self._layers = list(layers)
        self._other = [dict(d) for d in other_layers]
        self._after = stages(self._layers, self._other)
        self._acts = activation_functions(self._layers)
        self._values: dict[str, np.ndarray] = {}
        self._masks: dict[str, np.ndarray] = {}
        self._running: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def layers(self):
        return list(self._layers)

    def other_layers(self) -> list[dict]:
        return [dict(d) for d in self._other]

    def parameters(self) -> dict[str, np.ndarray]:
        return dict(self._values)

    def set_parameters(self, values) -> None:
        self._values.update({k: np.asarray(v, dtype=float) for k, v in values.items()})

    def use_row(self, history: History, row: int) -> None:
        """Take row ``row``'s parameters, dropout masks and batch norm running statistics from ``history``."""
        self.set_parameters({name: values[row] for name, values in history.params.items()})
        self._masks = recorded_masks(history, row)
        self._running = {d["name"]: (history.extras[norm_key(d["name"], "running_mean")][row],
                                     history.extras[norm_key(d["name"], "running_var")][row])
                         for d in self._other if d.get("kind") == "batchnorm"}

    def activations(self, x: np.ndarray) -> dict[str, np.ndarray]:
        a, out = np.asarray(x, dtype=float), {}
        for lay in self._layers:
            bias = None if lay.bias is None else self._values[lay.bias]
            a = out[lay.name] = dense_forward(a, layer_weight(lay, self._values), bias, self._acts[lay.name]).a
            for d in self._after[lay.name]:  # evaluation mode: dropout passes everything
                if d.get("kind") == "batchnorm":
                    bn = BatchNorm(a.shape[1], d.get("activation", "identity"), name=d["name"],
                                   eps=float(d.get("eps", 1e-5)))
                    bn.weight[...], bn.bias[...] = self._values[f"{d['name']}.weight"], self._values[f"{d['name']}.bias"]
                    bn.running_mean[...], bn.running_var[...] = self._running[d["name"]]
                    bn.training = False
                    a = bn.forward(a)
                out[d["name"]] = a
        return out

    def forward(self, x: np.ndarray) -> np.ndarray:
        return list(self.activations(x).values())[-1]

    def activation_functions(self):
        refuse_other_layers(self._other, allow=("dropout",))  # the dense layers alone are not batch norm's net
        return dict(self._acts)

    def step_pass(self, x: np.ndarray, y: np.ndarray, loss):
        """The training pass of the row taken by :meth:`use_row`: its masks, the batch's statistics."""
        return step_pass(self._layers, self._other, self._values, x, y, loss, self._masks, self._acts)


def _check_recorded(history: History) -> None:
    """A clear VisualizerError when ``history`` lacks what its training passes through dropout and batch norm
    need: each dropout layer's masks, each batch norm's statistics and its γ and β."""
    for d in history.info.other_layers:
        missing = unrecorded(d, history.extras, history.params)
        if missing:
            raise VisualizerError(f"no why layout for this history: it has {d.get('kind')} {d.get('name')!r} but not "
                                  f"{', '.join(missing)}, which the training step through it needs (a scene's "
                                  "history records them)")


def history_loss(history: History):
    """The loss a history's run minimised, from its name (or its label: ``MSE``, ``SSR``, ``BCE`` …)."""
    for text in (history.info.loss, history.info.loss_label):
        key = (text or "").strip().lower()
        name = key if key in LOSSES else LOSS_LABELS.get(key)
        if name:
            return get_loss(name)
    raise VisualizerError(f"the why layout needs the loss the run minimised, and this history names none it knows "
                          f"(its label: {history.info.loss_label!r}); record it with loss_label set to one of "
                          f"{', '.join(LOSSES)}")


def why_for_history(history: History) -> tuple[Layout, History]:
    """(the why layout for ``history``, the history with what that layout needs added): the layout is built
    from the recorded layers around the main panel its default layout would have; the backward pass and the
    landscape are computed from each recorded row's parameters, on the recorded training data, with the loss
    it names, and checked against the recorded gradients."""
    info = history.info
    if not info.layers:
        raise VisualizerError("the why layout needs the model's layers, and this history does not record them "
                              "(record from a Network, DenseModel or TorchRecorder)")
    try:
        stages(info.layers, info.other_layers)  # a layer on the inputs has no place in the diagrams
    except ValueError as exc:
        raise VisualizerError(f"no why layout for this history: {exc}") from None
    _check_recorded(history)
    if "data/x" not in history.static or "data/y" not in history.static:
        raise VisualizerError("the why layout needs the training data, and this history does not hold it: record "
                              "with x= and y= (TorchRecorder(model, x=x, y=y, ...))")
    if info.runs:
        raise VisualizerError("the why layout shows one run; this history joins a comparison's runs")
    loss = history_loss(history)
    layout = why_layout(info.layers, main_panel(default_layout(history)), info.other_layers)
    chain = layout.panels["chain"]
    if chain.param in history.grads:  # a weight that carries gradient through the run, not a dead unit's
        layout = carrying(layout, history.grads[chain.param])
    try:
        model = LayersModel(info.layers, info.other_layers)
        evaluator = Evaluator(model, history.static["data/x"], history.static["data/y"], layout, loss=loss)
        rows = []
        for i in range(len(history)):
            model.use_row(history, i)
            rows.append(evaluator(model.parameters()))
    except (KeyError, ValueError) as exc:
        raise VisualizerError(f"the why layout cannot be worked out from this history: {exc}") from None
    extras = dict(history.extras)
    for key in rows[0] if rows else ():
        extras.setdefault(key, np.stack([r[key] for r in rows]))
    static = {**evaluator.static, **history.static}
    done = dataclasses.replace(history, extras=extras, static=static)
    _check_gradient(layout, done, loss)
    done.static.update({k: v for k, v in evaluator.analyse(done).items() if k not in done.static})
    return layout, done


def carrying(layout: Layout, grads: np.ndarray) -> Layout:
    """``layout`` with its chain-rule panel (key ``chain``) moved to the entry of its parameter whose gradient
    is non-zero at the most of ``grads``' rows (rows × the parameter's shape), when the entry it has (the first,
    as :func:`~visualizer.draw.panels.defaults.chain_parameter` picks it) carries none at half of them or
    more: a dead ReLU's weight, whose table would be zeros. The first such entry, so a live [0,0] stays."""
    chain = layout.panels.get("chain")
    grads = np.asarray(grads, dtype=float)
    if chain is None or grads.ndim < 2 or not len(grads):
        return layout
    shape = grads.shape[1:]
    live = (np.abs(grads.reshape(len(grads), -1)) > 0).mean(axis=0)  # the share of rows with a gradient
    own = int(np.ravel_multi_index(tuple(chain.index), shape))
    best = int(np.argmax(live))
    if live[own] >= 0.5 or live[best] <= live[own]:
        return layout
    index = tuple(int(v) for v in np.unravel_index(best, shape))
    panels = {**layout.panels, "chain": dataclasses.replace(chain, index=index)}
    return dataclasses.replace(layout, panels=panels)


def carrying_at_start(layout: Layout, network, x: np.ndarray, y: np.ndarray, loss) -> Layout:
    """:func:`carrying` for a scene's built why layout, before training: the gradient of the chain-rule
    panel's parameter at the initial ``network`` (a :class:`~visualizer.record.model.NetworkModel`) on the
    training data. A network the backward pass does not go through is left as it is."""
    from ..record.backprop import backward_pass

    chain = layout.panels.get("chain")
    try:
        layers = network.layers()
        k = [lay.weight for lay in layers].index(chain.param)
        bp = backward_pass(layers, network.parameters(), x, y, loss, activation_functions(layers, network))
    except (AttributeError, ValueError, KeyError, TypeError):
        return layout
    lay = layers[k]
    grad = bp.weight_grad(lay.name)  # (inputs, units)
    return carrying(layout, (grad.T if lay.transposed else grad)[None])


def _check_gradient(layout: Layout, history: History, loss) -> None:
    """The chain rule's sum against the recorded gradient at the first and last rows: a loss that is not the
    one the loop minimised (a mean against a sum, say) is said at once, not drawn as a table that disagrees."""
    chain = layout.panels["chain"]
    recorded = history.grads.get(chain.param)
    if recorded is None:
        raise VisualizerError(f"the why layout needs the recorded gradient of {chain.param!r}")
    if history.info.penalty:  # a penalty's part of the gradient is not the chain rule's: nothing to compare
        return
    for i in sorted({0, len(history) - 1}):
        rule, values = chain.terms(history, i)
        total = float(values.prod(axis=-1).sum())
        want = float(recorded[(i, *chain.index)])
        if not np.isclose(total, want, rtol=1e-4, atol=1e-9 * max(1.0, abs(want))):
            raise VisualizerError(f"the loss {loss.name!r} does not give this history's recorded gradients "
                                  f"(∂/∂{chain.param}{list(chain.index)} at step {int(history.steps[i])}: "
                                  f"{total:.6g} against {want:.6g}); record with loss_label naming the loss your "
                                  f"loop minimised, one of {', '.join(LOSSES)}")


__all__ = ["LayersModel", "carrying", "carrying_at_start", "history_loss", "why_for_history"]
