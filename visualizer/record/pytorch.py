"""PyTorch support (the optional extra ``[torch]``): a model adapter and a recorder for a PyTorch loop.

::

    rec = TorchRecorder(model, every=10, total_steps=n, x=x, y=y)
    for step in range(n + 1):
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        rec.log(step, loss)              # after backward(), before opt.step()
        if step < n:
            opt.step()
    history = rec.history()

The model must be built from ``torch.nn.Linear`` layers, activation modules (``ReLU``, ``Sigmoid``, ``Tanh``,
``Softplus``, ``LeakyReLU``, ``GELU``, ``Identity``), ``BatchNorm1d`` and ``Dropout``, in a ``Sequential`` or
called in order from your own ``forward``: the adapter finds the layers by watching one forward pass and maps
each onto the engine's own (:class:`~visualizer.engine.layers.Dense`, :class:`~visualizer.engine.norm.BatchNorm`
with the module's γ, β, running statistics, momentum and eps, :class:`~visualizer.engine.norm.Dropout`).
Parameters keep PyTorch's names (``0.weight``) and shapes (a ``Linear`` weight is (outputs, inputs); the layer
info says so, and panels turn it round).

**The adapter proves what it draws.** The engine's forward pass through the layers as read is compared with
the module's own output, module by module (in evaluation mode): when the model is read, and by the recorder
on the recorded inputs (the training data and every input the panels evaluate) at the first and the last
logged step. Anything ``forward`` computes outside the modules (``F.relu``, a residual sum, a custom
operation, a module whose own ``forward`` differs from its class's) is one :class:`TorchModelMismatch` naming
the first place where the two differ, never a diagram of a different network. A parameter or layer replaced
while recording is one too.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Iterator

import numpy as np

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("visualizer.torch needs PyTorch: pip install 'backprop-visualizer[torch]' (or torch itself)") from exc

from ..base.errors import VisualizerError
from ..engine.layers import Dense, Network, dense_forward, get_activation
from ..engine.norm import BatchNorm, Dropout
from .history import MAX_LOAD_BYTES, Recorder, RunInfo, byte_size
from .model import Evaluator, LayerInfo, NetworkModel
from .schedule import every_that_fits

# The history a recording may grow to: the 4 GB the scene path refuses beyond (and a history may load).
MAX_RECORDING_BYTES = MAX_LOAD_BYTES


class TorchModelMismatch(VisualizerError, ValueError):
    """The PyTorch model computes something else than the layers the adapter read from it, or it changed
    while recording (a layer replaced): what would be drawn is not the model that is trained."""


class RecordingTooLarge(VisualizerError, ValueError):
    """A :class:`TorchRecorder` would hold more than its memory limit; ``every`` is a recording interval
    that fits (when the run's length is known)."""

    def __init__(self, message: str, every: int | None = None) -> None:
        super().__init__(message)
        self.every = every

    def __reduce__(self):
        return (type(self), (str(self), self.every))


def _activation(mod: torch.nn.Module, name: str):
    """The engine's activation for an activation module, or None for a module that is not one."""
    simple = {torch.nn.ReLU: "relu", torch.nn.Sigmoid: "sigmoid", torch.nn.Tanh: "tanh"}
    if type(mod) in simple:
        return get_activation(simple[type(mod)])
    if isinstance(mod, torch.nn.Softplus):
        if mod.beta != 1 or mod.threshold < 20:
            raise ValueError(f"module {name!r} is Softplus(beta={mod.beta:g}, threshold={mod.threshold:g}); "
                             "visualizer's softplus is log(1 + eˣ), PyTorch's Softplus() with its defaults")
        return get_activation("softplus")
    if isinstance(mod, torch.nn.LeakyReLU):
        return get_activation(f"leaky_relu:{mod.negative_slope!r}")
    if isinstance(mod, torch.nn.GELU):
        if mod.approximate != "none":
            raise ValueError(f"module {name!r} is GELU(approximate={mod.approximate!r}); visualizer's gelu is the "
                             "exact x·Φ(x), PyTorch's GELU() with its defaults")
        return get_activation("gelu")
    return None


ACTIVATION_MODULES = (torch.nn.ReLU, torch.nn.Sigmoid, torch.nn.Tanh, torch.nn.Softplus, torch.nn.LeakyReLU,
                      torch.nn.GELU)
LAYER_MODULES = (torch.nn.Linear, torch.nn.BatchNorm1d, torch.nn.Dropout, torch.nn.Identity)
SUPPORTED = (*LAYER_MODULES, *ACTIVATION_MODULES)


@contextmanager
def evaluating(module: torch.nn.Module) -> Iterator[None]:
    """The block runs with every submodule in evaluation mode; each one's own mode is put back afterwards."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode


class _Stage:
    """One engine layer read from the modules: its main module (``Linear``, ``BatchNorm1d`` or ``Dropout``)
    and the activation module after it, if any."""

    def __init__(self, layer, main: torch.nn.Module, act: torch.nn.Module | None, names: dict) -> None:
        self.layer, self.main, self.act = layer, main, act
        self.modules = [main] + ([act] if act is not None else [])
        self.names = [names[m] for m in self.modules]

    def forward(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(pre-activation, activation) of the engine's layer in evaluation mode, for inputs ``a``."""
        layer = self.layer
        if isinstance(layer, Dense):
            cache = dense_forward(a, layer.weight, layer.bias, layer.activation)
            return cache.z, cache.a
        if isinstance(layer, BatchNorm):
            x_hat, _ = layer.normalize(a)  # the mirror stays in evaluation mode: the running statistics
            z = x_hat * layer.weight + layer.bias
            return z, layer.activation.fn(z)
        return a, a  # dropout passes everything while evaluating


class TorchModel:
    """The :class:`~visualizer.record.model.Model` adapter for a PyTorch module of ``Linear`` layers,
    activations, ``BatchNorm1d`` and ``Dropout``.

    ``forward`` runs the module itself in evaluation mode (batch norm by its running statistics, no dropout),
    under ``torch.no_grad()``, in the parameters' dtype; per-layer values (``activations``,
    ``layer_outputs``) come from the engine's layers loaded with the module's current values, which
    :meth:`prove` shows compute the same. Results come back as float64 numpy. The module's own training or
    evaluation mode is left as it was.
    """

    def __init__(self, module: torch.nn.Module) -> None:
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"TorchModel needs a torch.nn.Module, got {type(module).__name__}")
        self.module = module
        self._params = dict(module.named_parameters())
        if not self._params:
            raise ValueError("the module has no parameters")
        first = next(p for p in self._params.values())
        self.dtype, self.device = first.dtype, first.device
        self._stages = self._trace()
        layers = [s.layer for s in self._stages]
        if isinstance(layers[0], Dropout):
            layers[0].attach(self.n_in)
        try:
            self._mirror = Network(layers).eval()
        except ValueError as exc:
            raise TorchModelMismatch(f"the layers as forward() calls them do not chain up: {exc}") from None
        self._view = NetworkModel(self._mirror)
        self._modules_read = {name: m for s in self._stages for name, m in zip(s.names, s.modules)}
        self.prove(np.random.default_rng(0).normal(0.0, 2.0, size=(64, self.n_in)), when=" when it was read")

    # ---- reading the structure

    def _trace(self) -> list[_Stage]:
        names = {m: n for n, m in self.module.named_modules()}
        leaves = [(n, m) for n, m in self.module.named_modules() if next(m.children(), None) is None]
        sized = [m for _, m in leaves if isinstance(m, (torch.nn.Linear, torch.nn.BatchNorm1d))]
        if not any(isinstance(m, torch.nn.Linear) for m in sized):
            raise ValueError("the module has no torch.nn.Linear layer; visualizer.torch draws dense networks")
        for name, m in leaves:
            if not isinstance(m, SUPPORTED):
                raise ValueError(f"{f'module {name!r}' if name else 'the model'} is a {type(m).__name__}; visualizer.torch "
                                 f"supports modules built from {', '.join(c.__name__ for c in SUPPORTED)}")
        self.n_in = sized[0].in_features if isinstance(sized[0], torch.nn.Linear) else sized[0].num_features
        calls: list[torch.nn.Module] = []
        hooks = [m.register_forward_hook(lambda mod, inp, out: calls.append(mod)) for _, m in leaves]
        try:
            with torch.no_grad(), evaluating(self.module):
                self.module(torch.zeros(2, self.n_in, dtype=self.dtype, device=self.device))
        except Exception as exc:  # the user's forward on a batch of the first layer's width
            raise ValueError(f"the module cannot run on a batch of {self.n_in} inputs (its first layer's "
                             f"width): {type(exc).__name__}: {exc}") from None
        finally:
            for h in hooks:
                h.remove()
        seen = set()
        for m in calls:
            if id(m) in seen:
                raise ValueError(f"module {names[m]!r} is called more than once in forward(); visualizer draws "
                                 "each layer once")
            seen.add(id(m))
        calls = [m for m in calls if not isinstance(m, torch.nn.Identity)]
        stages: list[_Stage] = []
        k = 0
        while k < len(calls):
            mod, name = calls[k], names[calls[k]]
            act_mod = calls[k + 1] if k + 1 < len(calls) else None
            act = _activation(act_mod, names[act_mod]) if act_mod is not None else None
            if isinstance(mod, torch.nn.Dropout):
                stages.append(_Stage(Dropout(mod.p, rng=np.random.default_rng(0), name=name), mod, None, names))
                k += 1
                continue
            if not isinstance(mod, (torch.nn.Linear, torch.nn.BatchNorm1d)):
                before = f"after {names[calls[k - 1]]!r} ({type(calls[k - 1]).__name__})" if k else "on the inputs"
                raise ValueError(f"activation {name!r} ({type(mod).__name__}) comes {before}; visualizer draws an "
                                 "activation as part of the Linear or BatchNorm1d layer just before it")
            act_name = act or "identity"
            if isinstance(mod, torch.nn.Linear):
                layer = Dense(mod.in_features, mod.out_features, act_name, bias=mod.bias is not None, name=name,
                              weight=np.zeros((mod.in_features, mod.out_features)))
            else:
                if not mod.track_running_stats:
                    raise ValueError(f"BatchNorm1d {name!r} has track_running_stats=False: it normalizes by each "
                                     "batch even when evaluating, so its output at one input depends on the "
                                     "others; visualizer evaluates on grids of inputs")
                # momentum=None (a cumulative average) only changes training; the adapter evaluates.
                momentum = 0.1 if mod.momentum is None else float(mod.momentum)
                layer = BatchNorm(mod.num_features, act_name, name=name, momentum=momentum, eps=float(mod.eps))
            stages.append(_Stage(layer, mod, act_mod if act is not None else None, names))
            k += 2 if act is not None else 1
        return stages

    def layers(self) -> list[LayerInfo]:
        """The dense layers (``Linear`` with the activation after it), weights stored as (outputs, inputs)."""
        return [replace(info, transposed=True) for info in self._view.layers()]

    def other_layers(self) -> list[dict]:
        """``BatchNorm1d`` and ``Dropout`` modules, as :meth:`~visualizer.record.model.NetworkModel.other_layers`
        describes them (for the history's run information and the diagram)."""
        return self._view.other_layers()

    # ---- values

    def parameters(self) -> dict[str, np.ndarray]:
        # CPU tensors share their memory with these arrays: live values, no copy.
        return {n: p.detach().cpu().numpy() for n, p in self._params.items()}

    def set_parameters(self, values: dict[str, Any]) -> None:
        with torch.no_grad():
            for name, value in values.items():
                if name not in self._params:
                    raise KeyError(f"no parameter {name!r}; the module has {list(self._params)}")
                p = self._params[name]
                if p.device.type == "cpu" and isinstance(value, np.ndarray) and \
                        np.shares_memory(value, p.detach().numpy()):
                    continue  # already the live values
                p.copy_(torch.as_tensor(np.asarray(value), dtype=p.dtype, device=p.device))

    def _sync(self) -> None:
        """Load the module's current parameters and running statistics into the engine's layers."""
        def numpy(t):
            return t.detach().cpu().numpy()
        for s in self._stages:
            layer, mod = s.layer, s.main
            if isinstance(layer, Dense):
                layer.weight[...] = numpy(mod.weight).T
                if layer.bias is not None:
                    layer.bias[...] = numpy(mod.bias)
            elif isinstance(layer, BatchNorm):
                if mod.affine:
                    layer.weight[...] = numpy(mod.weight)
                    layer.bias[...] = numpy(mod.bias)
                layer.running_mean[...] = numpy(mod.running_mean)
                layer.running_var[...] = numpy(mod.running_var)

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=float), dtype=self.dtype, device=self.device)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The module's own output in evaluation mode."""
        with torch.no_grad(), evaluating(self.module):
            return self.module(self._tensor(x)).detach().cpu().numpy().astype(float)

    def activations(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every layer's output in evaluation mode by layer name (the ``Linear``'s name for a layer and its
        activation), batch norm and dropout layers too."""
        self._sync()
        return self._view.activations(x)

    def layer_outputs(self, params: dict[str, np.ndarray], x: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """``(name, pre-activation, activation)`` of every layer that has an activation (the dense layers and
        batch norm; dropout has none), input side first, at ``params`` on inputs ``x``, in evaluation mode."""
        self.set_parameters(params)
        self._sync()
        out, a = [], np.asarray(x, dtype=float)
        for s in self._stages:
            z, a = s.forward(a)
            if not isinstance(s.layer, Dropout):
                out.append((s.layer.name, z, a))
        return out

    def layer_pass(self, x: np.ndarray, y: np.ndarray | None = None, loss=None):
        """Each ``Linear`` and ``BatchNorm1d`` layer's pre-activation z, output a and (with ``loss``, the
        engine's loss the loop minimises) δ = ∂L/∂z on ``(x, y)``, in evaluation mode, by the engine's layers
        loaded with the module's current values (:meth:`prove` shows they compute what it computes): the
        per-layer statistics of :mod:`visualizer.record.layerstats`, batch norm and dropout included."""
        self._sync()
        return self._view.layer_pass(x, y, loss)

    def activation_functions(self):
        """Each dense layer's activation (with its derivative), by layer name, for the backward pass, which
        computes through dense layers only: a model with batch norm or dropout is refused clearly."""
        return self._view.activation_functions()

    # ---- proving it

    def changed(self) -> str | None:
        """What was replaced in the module since it was read (a parameter or a layer), in words, or None."""
        now = dict(self.module.named_parameters())
        for name, p in self._params.items():
            if name not in now:
                return f"parameter {name!r} is gone from the model (a layer removed or replaced?)"
            if now[name] is not p:
                owner = name.rpartition(".")[0]
                return f"parameter {name!r} is a new tensor: layer {owner!r} was replaced"
        for name in now.keys() - self._params.keys():
            return f"parameter {name!r} appeared in the model (a layer added or replaced?)"
        modules = dict(self.module.named_modules())
        for name, m in self._modules_read.items():
            if modules.get(name) is not m:
                now_is = "gone" if name not in modules else f"now a {type(modules[name]).__name__}"
                return f"layer {name!r} was replaced: it was a {type(m).__name__} and is {now_is}"
        return None

    def prove(self, x: np.ndarray, *, when: str = "") -> None:
        """Check that the engine's layers as read compute what the module computes on inputs ``x``, module
        by module, in evaluation mode; :class:`TorchModelMismatch` names the first place they differ."""
        x = np.asarray(x, dtype=float)
        seen: dict[tuple[int, str], np.ndarray] = {}

        def keep(which):  # copies, the input before the module runs: an in-place module (ReLU(inplace=True))
            def hook(mod, inp, out=None):  # changes its input, and a later one the output kept here
                seen[id(mod), which] = (inp[0] if out is None else out).detach().cpu().numpy().astype(float)
            return hook

        hooks = [h for s in self._stages for m in s.modules
                 for h in (m.register_forward_pre_hook(keep("input")), m.register_forward_hook(keep("output")))]
        try:
            with torch.no_grad(), evaluating(self.module):
                result = self.module(self._tensor(x)).detach().cpu().numpy().astype(float)
        finally:
            for h in hooks:
                h.remove()
        self._sync()
        tol = max(1e-9, min(0.05, 1e4 * torch.finfo(self.dtype).eps))
        prefix = f"the PyTorch model computes something else than the layers visualizer read from it{when}"
        a, before = x, None
        for s in self._stages:
            z, out = s.forward(a)
            checks = [(s.main, "input", a), (s.main, "output", z if s.act is not None else out)]
            if s.act is not None:
                checks += [(s.act, "input", z), (s.act, "output", out)]
            for mod, which, ours in checks:
                theirs = seen[id(mod), which]
                worst = _difference(theirs, ours, tol)
                if worst is None:
                    if which == "output":
                        before = mod
                    continue
                name = self._describe(mod)
                if which == "output":
                    why = (f"{name} does not compute what a {type(mod).__name__} does (a module with its own "
                           "forward() cannot be drawn as one)")
                elif before is None:
                    why = f"forward() changes the inputs before {name}"
                else:
                    why = (f"the input of {name} is not the output of {self._describe(before)}: forward() computes "
                           "something between them that is not a module (a functional activation such as "
                           "F.relu, or another operation); write it as a module, e.g. nn.ReLU()")
                raise TorchModelMismatch(f"{prefix}: {why} ({worst})")
            a = out
        worst = _difference(result, a, tol)
        if worst is not None:
            raise TorchModelMismatch(f"{prefix}: forward() changes the output after its last layer "
                                     f"{self._describe(before)} ({worst})")

    def _describe(self, mod) -> str:
        """``'2' (Linear)``: a module by its name and class."""
        return f"{next(n for n, m in self._modules_read.items() if m is mod)!r} ({type(mod).__name__})"

    def __repr__(self) -> str:
        inner = ", ".join(f"{lay.name}: {lay.n_in}→{lay.n_out} {lay.activation}" for lay in self.layers())
        other = "".join(f", {d['kind']} {d['name']}" for d in self.other_layers())
        return f"TorchModel([{inner}]{other})"


def _difference(theirs: np.ndarray, ours: np.ndarray, tol: float) -> str | None:
    """None where the model's values match ours (to ``tol`` of their scale), else the largest difference in
    words: ``the model gives 1.744, the layers read give 1.652``."""
    if theirs.size != ours.size:
        return f"the model's values have shape {tuple(theirs.shape)}, the layers read give {tuple(ours.shape)}"
    theirs = theirs.reshape(ours.shape)
    gap = np.abs(theirs - ours)
    if not np.any(gap > tol * (1.0 + np.abs(ours).max(initial=0.0))):
        return None
    k = np.unravel_index(int(np.argmax(gap)), gap.shape)
    return f"the model gives {theirs[k]:.4g} where the layers read give {ours[k]:.4g}"


class TorchRecorder:
    """Records a PyTorch training loop: ``log(step, loss)`` after ``loss.backward()`` and before
    ``optimizer.step()`` reads every parameter and its ``.grad``.

    With ``x`` and ``y`` (the training data), panels that need the model's outputs (the fit curve, the
    output over the input plane, the layout's own probes) are evaluated at every kept step; with ``loss`` too
    (the loss the loop minimises, as the engine names it: ``"mse"`` for ``F.mse_loss``, ``"softmax_ce"`` for
    ``F.cross_entropy``, or a :class:`~visualizer.engine.losses.Loss`), so are those that need the backward
    pass: each layer's δ = ∂L/∂z for the per-layer statistics, the backward-pass panels. ``total_steps``
    makes steps off the ``every`` grid free; ``title``, ``loss_label``, ``input_names`` describe the run.

    The model is read once (:class:`TorchModel`) and proved at the first and the last logged step on the
    recorded inputs; a layer replaced while recording is a :class:`TorchModelMismatch`. The history is held in
    memory: past ``memory_limit`` bytes (4 GB, the scene path's limit) it is a :class:`RecordingTooLarge`
    saying how often to record instead, before training when ``total_steps`` is given.
    """

    def __init__(self, model: torch.nn.Module, every: int = 1, *, total_steps: int | None = None,
                 x: Any = None, y: Any = None, layout=None, title: str = "", loss_label: str = "loss",
                 input_names: list[str] | None = None, optimizer: Any = None,
                 memory_limit: int = MAX_RECORDING_BYTES, loss: Any = None) -> None:
        self.model = TorchModel(model)
        evaluator = None
        if loss is not None and x is None:
            raise ValueError("loss= is for evaluating the model on the training data: give x and y too")
        if x is not None:
            if y is None:
                raise ValueError("give y (the targets) with x")
            evaluator = Evaluator(self.model, _numpy(x), _numpy(y), layout, loss=loss)
        info = RunInfo(title=title, loss_label=loss_label, layers=self.model.layers(), source="torch",
                       other_layers=self.model.other_layers(), input_names=list(input_names or []),
                       optimizer=_describe(optimizer))
        self.recorder = Recorder(every, total_steps=total_steps, evaluator=evaluator, info=info)
        self._named = list(model.named_parameters())
        sizes = [p.numel() for _, p in self._named] * 2
        ends = np.cumsum(sizes).tolist()
        self._slices = [(e - n, e, tuple(p.shape)) for e, n, (_, p) in zip(ends, sizes, self._named * 2)]
        self.memory_limit = int(memory_limit)
        # The numbers one row holds: parameters, gradients, the loss, and what the panels evaluate (worked
        # out now, at the initial parameters: a misfit between the layout and the model fails before training).
        self._row_numbers = sum(sizes) + 1
        self._proof_inputs = np.random.default_rng(0).normal(0.0, 2.0, size=(64, self.model.n_in))
        if evaluator is not None:
            computed = evaluator.detached(self.model.parameters())
            self._row_numbers += sum(np.size(v) for v in computed.values())
            inputs = {id(p.inputs): p.inputs for p in evaluator.probes}
            self._proof_inputs = np.vstack([evaluator.x, *(a for a in inputs.values() if a is not evaluator.x)])
            evaluator.static.update({"data/x": evaluator.x, "data/y": evaluator.y})
        self._proved_step: int | None = None
        if total_steps is not None:
            self._guard(0, self._row_numbers)

    def log(self, step: int, loss: Any, *, losses: dict[str, Any] | None = None,
            extras: dict[str, Any] | None = None) -> bool:
        """Log ``step``: the parameters now, their ``.grad`` and ``loss``; returns whether it was kept."""
        rec = self.recorder
        if rec.total_steps is not None and not rec.due(int(step)):
            return self._skip(step)
        changed = self.model.changed()
        if changed is not None:
            raise TorchModelMismatch(f"TorchRecorder.log at step {step}: the model changed since recording began: "
                                     f"{changed}; record a changed model with a new TorchRecorder")
        for name, p in self._named:
            if p.grad is None:
                raise ValueError(f"TorchRecorder.log at step {step}: parameter {name!r} has no gradient yet; "
                                 "call loss.backward() before log() (and log() before optimizer.step())")
        numbers = self._row_numbers + len(losses or {}) + sum(np.size(v) for v in (extras or {}).values())
        self._guard(int(step), numbers)
        if not len(rec) or step == rec.total_steps:
            self.model.prove(self._proof_inputs, when=f" at step {step}")
            self._proved_step = int(step)
        # One copy of all parameters and one of all gradients (a concatenation each), then numpy views of it:
        # about what one named_parameters() copy costs.
        with torch.no_grad():
            flat = torch.cat([p.detach().reshape(-1) for _, p in self._named] +
                             [p.grad.detach().reshape(-1) for _, p in self._named]).cpu().numpy()
        views = [flat[a:b].reshape(shape) for a, b, shape in self._slices]
        n = len(self._named)
        params = {name: v for (name, _), v in zip(self._named, views[:n])}
        grads = {name: v for (name, _), v in zip(self._named, views[n:])}
        return rec.log(step, params, grads, _scalar(loss), losses={k: _scalar(v) for k, v in (losses or {}).items()},
                       extras=extras)

    def _guard(self, step: int, numbers: int) -> None:
        """:class:`RecordingTooLarge` when keeping ``step`` (or, with the run's length known, the whole run)
        would hold more than ``memory_limit`` bytes."""
        rec, row = self.recorder, numbers * 8
        known = rec.total_steps is not None
        rows = rec.rows_for(rec.total_steps) if known else len(rec) + 1
        if rows * row <= self.memory_limit:
            return
        max_rows = self.memory_limit // row
        if max_rows < 2:  # not even the first and the last step fit
            raise RecordingTooLarge(f"TorchRecorder: one recorded step holds {numbers:,} numbers ({byte_size(row)}): "
                                    f"too large to record within the {byte_size(self.memory_limit)} limit")
        total = rec.total_steps if known else 2 * max(step, 1)  # unknown: fit a run twice as long as this one
        fits = every_that_fits(total, rec.every, max_rows)
        if known:
            raise RecordingTooLarge(f"TorchRecorder: recording {rows:,} steps of {numbers:,} numbers each takes "
                                    f"{byte_size(rows * row)}, more than the {byte_size(self.memory_limit)} limit; record "
                                    f"less often: every={fits} fits", every=fits)
        raise RecordingTooLarge(f"TorchRecorder: keeping step {step:,} would take the history past the "
                                f"{byte_size(self.memory_limit)} limit ({rows:,} steps of {numbers:,} numbers each); "
                                f"record less often (every={fits} fits twice these steps), and give total_steps= "
                                "to have the size checked before training", every=fits)

    def __repr__(self) -> str:
        return f"TorchRecorder({self.model!r}, every={self.recorder.every}, {len(self.recorder)} rows)"

    def _skip(self, step: int) -> bool:
        # Off the grid with the end known: the recorder only checks the step order and reads nothing.
        return self.recorder.log(step, {"_": None}, loss=None)

    def history(self):
        """The recorded :class:`~visualizer.record.history.History` (the model proved at its last step)."""
        history = self.recorder.history()
        last = int(history.steps[-1])
        if self._proved_step != last:
            keep = {k: np.array(v, copy=True) for k, v in self.model.parameters().items()}
            try:
                self.model.set_parameters({k: history.params[k][-1] for k in keep})
                self.model.prove(self._proof_inputs, when=f" at step {last}")
            finally:
                self.model.set_parameters(keep)
            self._proved_step = last
        return history


def _numpy(a: Any) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy().astype(float)
    return np.asarray(a, dtype=float)


def _scalar(v: Any) -> float:
    if isinstance(v, torch.Tensor):
        if v.numel() != 1:
            raise ValueError(f"a loss must be one number, got a tensor of shape {tuple(v.shape)}")
        return float(v.detach().cpu())
    return v


def _describe(optimizer: Any) -> str:
    if optimizer is None:
        return ""
    group = optimizer.param_groups[0] if hasattr(optimizer, "param_groups") else {}
    lr = group.get("lr")
    return f"{type(optimizer).__name__}(lr={lr:g})" if isinstance(lr, (int, float)) else type(optimizer).__name__


__all__ = ["RecordingTooLarge", "TorchModel", "TorchModelMismatch", "TorchRecorder", "evaluating"]
