"""Per-sample SGD on a small dense network, a whole chunk of samples in one call.

The built-in engine (``layers``, ``losses``, ``optim``) pays Python and numpy call overhead on every step, which
dominates when a step is one sample through a [2,6,6,1] network. :class:`PerSampleSGD` does the same updates,
in the same order, for many samples at once, and :func:`plan_for` says when a training run is one it can do:

* compiled with numba when it is installed (:func:`available`): plain loops over samples, layers and units,
  about 20× the engine's speed on the product scene;
* otherwise a fused numpy loop: the engine's own ufuncs in its order, written into buffers made once, so the
  same numbers as the engine's at about 1.3× its speed.

Both are written out by hand, the one copy of the layers' arithmetic outside :mod:`~visualizer.engine.layers`
and :mod:`~visualizer.engine.losses`; the tests hold both to those definitions (tests/test_kernels.py).

The compiled loop agrees with the engine to about 1e-14 after 100,000 steps (its ``exp``, ``log1p`` and
``tanh`` are the C library's, numpy's may differ in the last bit, and it sums in plain order where numpy calls
BLAS); both loops are bit-for-bit reproducible run to run. Compiling takes 1–2 s the first time (numba keeps
the result in its on-disk cache; later processes load it in about 0.2 s, after about 0.2 s to import numba), so
a run should compile only when it is long enough to pay for it: :func:`use_jit` decides from the run's total
steps. Setting the environment variable ``VISUALIZER_NO_JIT=1`` turns the compiled path off everywhere.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import math
import os
from typing import Sequence

import numpy as np

from . import layers as engine_layers
from . import losses as engine_losses
from .optim import SGD

# The index of each name is its code inside the compiled kernel.
ACTIVATIONS = ("identity", "sigmoid", "softplus", "tanh", "relu")
LOSSES = ("ssr", "half_ssr", "mse")
NO_JIT_ENV = "VISUALIZER_NO_JIT"
# Runs shorter than this stay on the numpy loop. At ~45,000 steps/s it breaks even with importing numba and
# loading the cached kernel (~0.35 s) near 15,000 steps, and with a first compile (~1.5-2 s) near 80,000; this
# pays off whenever the cache is filled and costs at most ~1.5 s once per install when it is not
# (benchmarks/train_bench.py prints both break-even points).
JIT_MIN_STEPS = 20_000

_IDENTITY, _SIGMOID, _SOFTPLUS, _TANH, _RELU = range(len(ACTIVATIONS))
_SSR, _HALF_SSR, _MSE = range(len(LOSSES))
# Columns of the compiled kernel's per-layer table: inputs, outputs, where the weights and the bias (-1: none)
# start in the flat parameter vector, activation code, where the layer's input and output units start.
_N_IN, _N_OUT, _W, _B, _ACT, _IN, _OUT = range(7)


def available() -> bool:
    """Whether the compiled path can be used: numba imports and ``VISUALIZER_NO_JIT`` is not set.

    The first call imports numba (a few tenths of a second) unless the variable is set or numba is absent.
    """
    if os.environ.get(NO_JIT_ENV, "").strip() not in ("", "0"):
        return False
    return _numba() is not None


def use_jit(steps: int) -> bool:
    """Whether a run of ``steps`` per-sample steps should use the compiled path: it is available and the run
    is long enough to pay for compiling. Decided by the step count alone, so a run's numbers never depend on
    whether an earlier run in the same process happened to compile the kernel."""
    return steps >= JIT_MIN_STEPS and available()


def plan_for(network: object, loss: object, optimizer: object, penalties: Sequence[object] = (), *,
             batch_size: int | None, steps: int) -> KernelPlan | None:
    """The kernel for a training run it reproduces update for update, prepared on the live arrays; None when
    the run is not one it knows.

    It knows one sample per step (``batch_size=1``) through a :class:`~visualizer.engine.layers.Network` of
    :class:`~visualizer.engine.layers.Dense` layers with built-in activations, a built-in squared-error loss
    (``ssr``, ``half_ssr``, ``mse``) and no penalty, updated by plain :class:`~visualizer.engine.optim.SGD`:
    a fixed rate, no momentum, no weight decay. ``steps``, the run's length, decides whether compiling pays
    (:func:`use_jit`).
    """
    if batch_size != 1 or penalties:
        return None
    if (type(optimizer) is not SGD or optimizer.momentum or optimizer.weight_decay or callable(optimizer.lr)):
        return None
    name = getattr(loss, "name", None)
    if name not in LOSSES or engine_losses.LOSSES.get(name) is not loss:
        return None
    if not isinstance(network, engine_layers.Network):
        return None
    built_in = engine_layers.ACTIVATIONS
    layers = network.layers
    # Plain dense layers only (no batch norm, no dropout), with activations the kernels spell out (not
    # leaky_relu or gelu: those train through the loop).
    if any(type(lay) is not engine_layers.Dense or built_in.get(lay.activation.name) is not lay.activation
           or lay.activation.name not in ACTIVATIONS for lay in layers):
        return None
    kernel = PerSampleSGD([lay.weight for lay in layers], [lay.bias for lay in layers],
                          [lay.activation.name for lay in layers], float(optimizer.lr), name, jit=use_jit(steps))
    return KernelPlan(kernel, optimizer)


class KernelPlan:
    """A kernel prepared for one training run: runs its updates chunk by chunk, and counts them on the
    optimizer as if it had made them itself."""

    def __init__(self, kernel: PerSampleSGD, optimizer: SGD) -> None:
        self.kernel, self.optimizer = kernel, optimizer

    def run(self, xs: np.ndarray, ys: np.ndarray, *, losses: np.ndarray | None = None) -> int:
        """:meth:`PerSampleSGD.run` on the next chunk of samples; returns the number of updates made."""
        done = self.kernel.run(xs, ys, losses=losses)
        self.optimizer.steps_taken += done
        return done

    def __repr__(self) -> str:
        return f"KernelPlan({self.kernel!r})"


def per_sample_sgd(weights: list[np.ndarray], biases: list[np.ndarray | None], activations: list[str],
                   xs: np.ndarray, ys: np.ndarray, lr: float, loss: str, *, jit: bool | None = None,
                   losses: np.ndarray | None = None) -> int:
    """Run one SGD update per row of ``xs``/``ys``, in order, updating ``weights`` and ``biases`` in place.

    A one-call form of :class:`PerSampleSGD` (see there for the arguments and the return value).
    ``jit=None`` compiles when :func:`use_jit` says ``len(xs)`` steps are worth it; a trainer that calls this
    chunk by chunk should pass ``jit=use_jit(total_steps)``, or better, prepare a :class:`PerSampleSGD` once.
    """
    if jit is None:
        jit = use_jit(len(xs))
    return PerSampleSGD(weights, biases, activations, lr, loss, jit=jit).run(xs, ys, losses=losses)


class PerSampleSGD:
    """Per-sample SGD on a fixed set of parameter arrays, prepared once and then run chunk after chunk.

    Layer ``l`` computes ``activations[l](x @ weights[l] + biases[l])`` with ``weights[l]`` of shape
    (inputs, outputs), float64, and ``biases[l]`` of shape (outputs,) or None; activations are named as in
    :mod:`visualizer.engine.layers` (``identity``, ``sigmoid``, ``softplus``, ``tanh``, ``relu``) and ``loss`` as in
    :mod:`visualizer.engine.losses` (``ssr``, ``half_ssr``, ``mse``). Each step is the engine's with
    ``batch_size=1``: forward, d loss / d prediction, every gradient from the weights before the update, then
    ``p -= lr * grad`` for every parameter. The arrays are updated in place: keep training the same arrays
    (reading or overwriting their values between runs is fine). ``jit=True`` uses the compiled kernel when
    :func:`available`, else the numpy loop; :func:`use_jit` says when compiling pays.
    """

    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray | None], activations: list[str],
                 lr: float, loss: str, *, jit: bool = False) -> None:
        self._layers = _check_network(weights, biases, activations)
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; the kernel knows {', '.join(LOSSES)}")
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning rate must be a positive number, got {lr}")
        self.weights, self.biases, self.activations = list(weights), list(biases), list(activations)
        self.lr, self.loss = float(lr), loss
        self.jit = bool(jit) and available()
        self._run = _Compiled(self) if self.jit else _FusedNumpy(self)

    @property
    def n_in(self) -> int:
        """Number of inputs."""
        return self._layers[0][0]

    @property
    def n_out(self) -> int:
        """Number of outputs."""
        return self._layers[-1][1]

    def run(self, xs: np.ndarray, ys: np.ndarray, *, losses: np.ndarray | None = None) -> int:
        """One update per row of ``xs`` (n, inputs) and ``ys`` (n, outputs), in order.

        Returns the number of updates made: ``len(xs)``, or the index of the first sample whose loss is not
        finite (the parameters are left as they were before that sample). ``losses``, a float64 array of
        length n if given, receives each step's loss at the parameters before its update (through the
        returned count, plus the non-finite one).
        """
        # C-contiguous and writeable, as the compiled kernel was compiled for: any other layout would compile
        # it again.
        xs = np.require(xs, dtype=float, requirements=["C", "W"])
        ys = np.require(ys, dtype=float, requirements=["C", "W"])
        if xs.ndim != 2 or xs.shape[1] != self.n_in or ys.shape != (len(xs), self.n_out):
            raise ValueError(f"need inputs of shape (n, {self.n_in}) and targets of shape (n, {self.n_out}), got "
                             f"{xs.shape} and {ys.shape}")
        if losses is not None and (losses.shape != (len(xs),) or losses.dtype != np.float64):
            raise ValueError(f"losses must be a float64 array of shape ({len(xs)},), got {losses.dtype} of "
                             f"shape {losses.shape}")
        if losses is None or (losses.flags.c_contiguous and losses.flags.writeable):
            return self._run(xs, ys, losses)
        into = np.empty(len(xs))
        done = self._run(xs, ys, into)
        losses[:] = into
        return done

    def __repr__(self) -> str:
        sizes = "→".join(str(n) for n in [self.n_in] + [n_out for _, n_out, _ in self._layers])
        how = "compiled" if self.jit else "numpy"
        return f"PerSampleSGD({sizes}, {', '.join(self.activations)}, {self.loss}, lr={self.lr:g}, {how})"


def _check_network(weights, biases, activations) -> list[tuple[int, int, int]]:
    """Validate the layers; returns (inputs, outputs, activation code) per layer."""
    if not weights or not (len(weights) == len(biases) == len(activations)):
        raise ValueError(f"need one weight, bias (or None) and activation per layer, got {len(weights)} weights, "
                         f"{len(biases)} biases and {len(activations)} activations")
    layers: list[tuple[int, int, int]] = []
    for l, (w, b, act) in enumerate(zip(weights, biases, activations)):
        if not isinstance(w, np.ndarray) or w.ndim != 2 or w.dtype != np.float64:
            raise ValueError(f"layer {l}: weights must be a 2-d float64 array (inputs, outputs), got "
                             f"{getattr(w, 'dtype', type(w).__name__)} of shape {np.shape(w)}")
        if layers and layers[-1][1] != w.shape[0]:
            raise ValueError(f"layer {l} takes {w.shape[0]} inputs but layer {l - 1} gives {layers[-1][1]}")
        if b is not None and (not isinstance(b, np.ndarray) or b.shape != (w.shape[1],) or b.dtype != np.float64):
            raise ValueError(f"layer {l}: bias must be None or a float64 array of shape ({w.shape[1]},), got "
                             f"{getattr(b, 'dtype', type(b).__name__)} of shape {np.shape(b)}")
        if act not in ACTIVATIONS:
            raise ValueError(f"layer {l}: unknown activation {act!r}; the kernel knows {', '.join(ACTIVATIONS)}")
        layers.append((w.shape[0], w.shape[1], ACTIVATIONS.index(act)))
    return layers


# --- the fused numpy loop: the engine's ufuncs in its order, on the live arrays, into buffers made once ---

class _FusedNumpy:
    """Bit for bit the engine's arithmetic (same ufuncs, same order), minus its allocations and dispatch."""

    def __init__(self, sgd: PerSampleSGD) -> None:
        self.lr, self.loss = sgd.lr, sgd.loss
        self.x = np.empty((1, sgd.n_in))
        self.forward, self.backward = [], []
        xin = self.x
        # grad[l]: dL/d(output of layer l), turned into dL/dz in place; layer l writes dL/d(input) into grad[l-1].
        grads = [np.empty((1, w.shape[1])) for w in sgd.weights]
        for l, (w, b, (_, n_out, act)) in enumerate(zip(sgd.weights, sgd.biases, sgd._layers)):
            z = np.empty((1, n_out))
            a = z if act == _IDENTITY else np.empty_like(z)
            t = np.empty((1, n_out))
            self.forward.append((w, b, xin, z, a, act))
            below = grads[l - 1] if l > 0 else None
            self.backward.append((w, w.T, b, xin.T, z, a, t, act, grads[l], below, np.empty_like(w),
                                  None if b is None else np.empty_like(b)))
            xin = a
        self.backward.reverse()
        self.pred, self.grad_pred = xin, grads[-1]
        self.r = np.empty_like(xin)

    def __call__(self, xs: np.ndarray, ys: np.ndarray, losses: np.ndarray | None) -> int:
        lr, x, r, pred, g = self.lr, self.x, self.r, self.pred, self.grad_pred
        half, mse, single = self.loss == "half_ssr", self.loss == "mse", r.size == 1
        n_out = r.size
        dot, add, subtract, multiply, negative, logaddexp, exp = (np.dot, np.add, np.subtract, np.multiply,
                                                                  np.negative, np.logaddexp, np.exp)
        for s in range(len(xs)):
            x[0] = xs[s]
            for w, b, xin, z, a, act in self.forward:
                dot(xin, w, out=z)  # the same BLAS call as the engine's x @ w
                if b is not None:
                    add(z, b, out=z)
                if act == _SIGMOID:  # exp(-logaddexp(0, -z))
                    negative(z, out=a)
                    logaddexp(0.0, a, out=a)
                    negative(a, out=a)
                    exp(a, out=a)
                elif act == _SOFTPLUS:
                    logaddexp(0.0, z, out=a)
                elif act == _TANH:
                    np.tanh(z, out=a)
                elif act == _RELU:
                    np.maximum(z, 0.0, out=a)
            subtract(pred, ys[s], out=r)
            if single:  # a one-element sum is the element: skip the reduction's overhead
                value = float(r[0, 0])
                value = value * value  # not ** 2, which raises OverflowError where numpy gives inf
            else:
                value = float((r * r).sum())
            if half:
                value = 0.5 * value
            elif mse:
                value = value / n_out
            if losses is not None:
                losses[s] = value
            if not math.isfinite(value):
                return s
            if half:
                g[...] = r
            else:
                multiply(r, 2.0, out=g)
                if mse:
                    g /= n_out
            for w, w_t, b, x_t, z, a, t, act, ga, below, gw, gb in self.backward:
                if act == _SIGMOID:  # a (1 - a)
                    subtract(1.0, a, out=t)
                    multiply(a, t, out=t)
                    multiply(ga, t, out=ga)
                elif act == _SOFTPLUS:  # sigmoid(z)
                    negative(z, out=t)
                    logaddexp(0.0, t, out=t)
                    negative(t, out=t)
                    exp(t, out=t)
                    multiply(ga, t, out=ga)
                elif act == _TANH:  # 1 - a²
                    multiply(a, a, out=t)
                    subtract(1.0, t, out=t)
                    multiply(ga, t, out=ga)
                elif act == _RELU:  # z > 0 as 0.0 or 1.0, so 0 · inf stays nan as in the engine
                    np.greater(z, 0.0, out=t, casting="unsafe")
                    multiply(ga, t, out=ga)
                if below is not None:
                    dot(ga, w_t, out=below)
                multiply(x_t, ga, out=gw)  # the outer product: one rounding per element, as x.T @ g
                multiply(gw, lr, out=gw)
                subtract(w, gw, out=w)
                if b is not None:
                    multiply(ga[0], lr, out=gb)
                    subtract(b, gb, out=b)
        return len(xs)


# --- the compiled loop ------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _numba():
    """The numba module, or None when it is not installed or does not import (e.g. too new a numpy)."""
    if importlib.util.find_spec("numba") is None:
        return None
    try:
        return importlib.import_module("numba")
    except ImportError:
        return None


@functools.lru_cache(maxsize=None)
def _kernel():
    # cache=True: numba keeps the machine code beside this file (or in its user cache when that is read-only),
    # so later processes load it instead of compiling. With nowhere writable it refuses to cache at all.
    njit = _numba().njit
    try:
        return njit(cache=True, nogil=True)(_sgd_loop)
    except RuntimeError:
        return njit(nogil=True)(_sgd_loop)


class _Compiled:
    """The live arrays packed into one flat vector per run, and a table of where each layer's pieces are:
    a single kernel signature serves every architecture, so it compiles (or loads from the cache) once."""

    def __init__(self, sgd: PerSampleSGD) -> None:
        self.sgd, self.kernel = sgd, _kernel()
        self.table = np.empty((len(sgd._layers), 7), dtype=np.int64)
        offset, unit = 0, sgd.n_in
        self.slices = []
        for l, ((n_in, n_out, act), b) in enumerate(zip(sgd._layers, sgd.biases)):
            w_at, offset = offset, offset + n_in * n_out
            b_at, offset = (-1, offset) if b is None else (offset, offset + n_out)
            self.table[l] = (n_in, n_out, w_at, b_at, act, unit - n_in, unit)
            self.slices.append((slice(w_at, w_at + n_in * n_out), None if b is None else slice(b_at, b_at + n_out)))
            unit += n_out
        self.params = np.empty(offset)
        self.no_losses = np.empty(0)

    def __call__(self, xs: np.ndarray, ys: np.ndarray, losses: np.ndarray | None) -> int:
        sgd, params = self.sgd, self.params
        for (ws, bs), w, b in zip(self.slices, sgd.weights, sgd.biases):
            params[ws] = w.ravel()
            if b is not None:
                params[bs] = b
        done = self.kernel(params, self.table, xs, ys, sgd.lr, LOSSES.index(sgd.loss),
                           self.no_losses if losses is None else losses)
        for (ws, bs), w, b in zip(self.slices, sgd.weights, sgd.biases):
            w[...] = params[ws].reshape(w.shape)
            if b is not None:
                b[...] = params[bs]
        return int(done)


def _sgd_loop(params, table, xs, ys, lr, loss_code, losses):  # pragma: no cover - runs compiled
    """The compiled kernel: plain loops over samples, layers and units, on a flat parameter vector."""
    n_layers = table.shape[0]
    n_units = table[n_layers - 1, _OUT] + table[n_layers - 1, _N_OUT]
    width = 0
    for l in range(n_layers):
        width = max(width, table[l, _N_IN], table[l, _N_OUT])
    z = np.empty(n_units)
    a = np.empty(n_units)  # the input first, then every layer's output
    grad = np.empty(width)  # dL/d(output) of the layer being differentiated, then dL/dz in place
    below = np.empty(width)  # dL/d(input) of that layer
    n_out, out = table[n_layers - 1, _N_OUT], table[n_layers - 1, _OUT]
    for s in range(xs.shape[0]):
        for i in range(xs.shape[1]):
            a[i] = xs[s, i]
        for l in range(n_layers):
            n_i, n_o, w0, b0 = table[l, _N_IN], table[l, _N_OUT], table[l, _W], table[l, _B]
            act, u_in, u_out = table[l, _ACT], table[l, _IN], table[l, _OUT]
            for j in range(n_o):
                acc = 0.0
                for i in range(n_i):
                    acc += a[u_in + i] * params[w0 + i * n_o + j]
                if b0 >= 0:
                    acc = acc + params[b0 + j]
                z[u_out + j] = acc
                # logaddexp(0, y) = max(y, 0) + log1p(exp(-|y|)), numpy's formula branch for branch.
                if act == _SIGMOID:
                    y = -acc
                    a[u_out + j] = math.exp(-((y if y > 0.0 else 0.0) + math.log1p(math.exp(-abs(y)))))
                elif act == _SOFTPLUS:
                    a[u_out + j] = (acc if acc > 0.0 else 0.0) + math.log1p(math.exp(-abs(acc)))
                elif act == _TANH:
                    a[u_out + j] = math.tanh(acc)
                elif act == _RELU:
                    a[u_out + j] = acc if (acc > 0.0 or acc != acc) else 0.0
                else:
                    a[u_out + j] = acc
        total = 0.0
        for j in range(n_out):
            r = a[out + j] - ys[s, j]
            total += r * r
        if loss_code == _HALF_SSR:
            total = 0.5 * total
        elif loss_code == _MSE:
            total = total / n_out
        if losses.shape[0] > 0:
            losses[s] = total
        if not math.isfinite(total):
            return s
        for j in range(n_out):
            r = a[out + j] - ys[s, j]
            if loss_code == _HALF_SSR:
                grad[j] = r
            elif loss_code == _MSE:
                grad[j] = 2.0 * r / n_out
            else:
                grad[j] = 2.0 * r
        for l in range(n_layers - 1, -1, -1):
            n_i, n_o, w0, b0 = table[l, _N_IN], table[l, _N_OUT], table[l, _W], table[l, _B]
            act, u_in, u_out = table[l, _ACT], table[l, _IN], table[l, _OUT]
            for j in range(n_o):
                if act == _SIGMOID:
                    v = a[u_out + j]
                    grad[j] = grad[j] * (v * (1.0 - v))
                elif act == _SOFTPLUS:
                    y = -z[u_out + j]
                    grad[j] = grad[j] * math.exp(-((y if y > 0.0 else 0.0) + math.log1p(math.exp(-abs(y)))))
                elif act == _TANH:
                    v = a[u_out + j]
                    grad[j] = grad[j] * (1.0 - v * v)
                elif act == _RELU:
                    grad[j] = grad[j] * (1.0 if z[u_out + j] > 0.0 else 0.0)
            if l > 0:  # the input's gradient, from the weights before this step's update
                for i in range(n_i):
                    acc = 0.0
                    for j in range(n_o):
                        acc += grad[j] * params[w0 + i * n_o + j]
                    below[i] = acc
            for i in range(n_i):
                v = a[u_in + i]
                for j in range(n_o):
                    params[w0 + i * n_o + j] -= lr * (v * grad[j])
            if b0 >= 0:
                for j in range(n_o):
                    params[b0 + j] -= lr * grad[j]
            for i in range(n_i):
                grad[i] = below[i]
    return xs.shape[0]
