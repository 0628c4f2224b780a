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

The model must be built from ``torch.nn.Linear`` layers and activation modules (``ReLU``, ``Sigmoid``,
``Tanh``, ``Softplus``, ``Identity``), in a ``Sequential`` or called in order from your own ``forward``:
the adapter finds the layers by watching one forward pass. Parameters keep PyTorch's names (``0.weight``)
and shapes (a ``Linear`` weight is (outputs, inputs); the layer info says so, and panels turn it round).
"""
from __future__ import annotations

from typing import Any

import numpy as np

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("visualizer.torch needs PyTorch: pip install 'backprop-visualizer[torch]' (or torch itself)") from exc

from .model import Evaluator, LayerInfo
from .history import Recorder, RunInfo

ACTIVATIONS = {torch.nn.ReLU: "relu", torch.nn.Sigmoid: "sigmoid", torch.nn.Tanh: "tanh",
               torch.nn.Softplus: "softplus", torch.nn.Identity: "identity"}


class TorchModel:
    """The :class:`~visualizer.record.model.Model` adapter for a PyTorch module of ``Linear`` layers and activations.

    Evaluations run under ``torch.no_grad()`` in the parameters' dtype; results come back as float64 numpy.
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
        self._layers, self._watch = self._trace()

    def _trace(self) -> tuple[list[LayerInfo], list[tuple[str, torch.nn.Module]]]:
        names = {m: n for n, m in self.module.named_modules()}
        linears = [m for m in self.module.modules() if isinstance(m, torch.nn.Linear)]
        if not linears:
            raise ValueError("the module has no torch.nn.Linear layer; visualizer.torch draws dense networks")
        for name, m in self.module.named_modules():
            if next(m.children(), None) is None and not isinstance(m, (torch.nn.Linear, *ACTIVATIONS)):
                raise ValueError(f"module {name!r} is a {type(m).__name__}; visualizer.torch supports modules "
                                 f"built from Linear layers and {', '.join(c.__name__ for c in ACTIVATIONS)}")
        calls: list[torch.nn.Module] = []
        hooks = [m.register_forward_hook(lambda mod, inp, out: calls.append(mod))
                 for m in self.module.modules() if next(m.children(), None) is None]
        try:
            with torch.no_grad():
                self.module(torch.zeros(1, linears[0].in_features, dtype=self.dtype, device=self.device))
        finally:
            for h in hooks:
                h.remove()
        layers, watch = [], []
        for k, mod in enumerate(calls):
            if not isinstance(mod, torch.nn.Linear):
                continue
            nxt = calls[k + 1] if k + 1 < len(calls) else None
            act = ACTIVATIONS.get(type(nxt)) if nxt is not None else None
            if isinstance(nxt, torch.nn.Softplus) and (nxt.beta != 1 or nxt.threshold < 20):
                act = None  # a scaled softplus is not ours: treat it as unknown
            name = names[mod]
            layers.append(LayerInfo(name, mod.in_features, mod.out_features, act or "identity", f"{name}.weight",
                                    f"{name}.bias" if mod.bias is not None else None, transposed=True))
            watch.append((name, nxt if act is not None else mod))
        return layers, watch

    def layers(self) -> list[LayerInfo]:
        return list(self._layers)

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

    def _run(self, x: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        outs: dict[str, torch.Tensor] = {}
        hooks = [mod.register_forward_hook(lambda m, i, o, name=name: outs.__setitem__(name, o))
                 for name, mod in self._watch]
        try:
            with torch.no_grad():
                result = self.module(torch.as_tensor(np.asarray(x, dtype=float), dtype=self.dtype,
                                                     device=self.device))
        finally:
            for h in hooks:
                h.remove()
        return ({n: o.detach().cpu().numpy().astype(float) for n, o in outs.items()},
                result.detach().cpu().numpy().astype(float))

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._run(x)[1]

    def activations(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return self._run(x)[0]

    def __repr__(self) -> str:
        inner = ", ".join(f"{lay.name}: {lay.n_in}→{lay.n_out} {lay.activation}" for lay in self._layers)
        return f"TorchModel([{inner}])"


class TorchRecorder:
    """Records a PyTorch training loop: ``log(step, loss)`` after ``loss.backward()`` and before
    ``optimizer.step()`` reads every parameter and its ``.grad``.

    With ``x`` and ``y`` (the training data), panels that need the model's outputs (the fit curve, the
    output over the input plane, the layout's own probes) are evaluated at every kept step. ``total_steps``
    makes steps off the ``every`` grid free; ``title``, ``loss_label``, ``input_names`` describe the run.
    """

    def __init__(self, model: torch.nn.Module, every: int = 1, *, total_steps: int | None = None,
                 x: Any = None, y: Any = None, layout=None, title: str = "", loss_label: str = "loss",
                 input_names: list[str] | None = None, optimizer: Any = None) -> None:
        self.model = TorchModel(model)
        evaluator = None
        if x is not None:
            if y is None:
                raise ValueError("give y (the targets) with x")
            evaluator = Evaluator(self.model, _numpy(x), _numpy(y), layout)
        info = RunInfo(title=title, loss_label=loss_label, layers=self.model.layers(), source="torch",
                       input_names=list(input_names or []), optimizer=_describe(optimizer))
        self.recorder = Recorder(every, total_steps=total_steps, evaluator=evaluator, info=info)
        self._named = list(model.named_parameters())
        sizes = [p.numel() for _, p in self._named] * 2
        ends = np.cumsum(sizes).tolist()
        self._slices = [(e - n, e, tuple(p.shape)) for e, n, (_, p) in zip(ends, sizes, self._named * 2)]
        if x is not None and evaluator is not None:
            evaluator.static.update({"data/x": evaluator.x, "data/y": evaluator.y})

    def log(self, step: int, loss: Any, *, losses: dict[str, Any] | None = None,
            extras: dict[str, Any] | None = None) -> bool:
        """Log ``step``: the parameters now, their ``.grad`` and ``loss``; returns whether it was kept."""
        rec = self.recorder
        if rec.total_steps is not None and not rec.due(int(step)):
            return self._skip(step)
        for name, p in self._named:
            if p.grad is None:
                raise ValueError(f"TorchRecorder.log at step {step}: parameter {name!r} has no gradient yet; "
                                 "call loss.backward() before log() (and log() before optimizer.step())")
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

    def __repr__(self) -> str:
        return f"TorchRecorder({self.model!r}, every={self.recorder.every}, {len(self.recorder)} rows)"

    def _skip(self, step: int) -> bool:
        # Off the grid with the end known: the recorder only checks the step order and reads nothing.
        return self.recorder.log(step, {"_": None}, loss=None)

    def history(self):
        """The recorded :class:`~visualizer.record.history.History`."""
        return self.recorder.history()


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


__all__ = ["TorchModel", "TorchRecorder"]
