"""The recorder hook and the History it builds: every recorded step's parameters, gradients, loss and extras.

Row ``s`` of a history holds the parameters after ``steps[s]`` updates, the loss at those parameters on the
whole training (evaluation) set, and the gradient of that loss at those parameters. A run of N steps recorded
at every step therefore has rows 0..N; the last row's gradient is computed but never applied.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .files import publish
from .nn import Network
from .train import TrainState

Probe = Callable[[Network], np.ndarray]


@dataclass
class History:
    """Arrays with the recorded step as first axis, plus static arrays (data, grids) and metadata."""

    steps: np.ndarray
    loss: np.ndarray
    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    static: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        last = int(self.steps[-1]) if len(self) else 0
        return f"History({len(self)} rows, steps 0..{last}, params {list(self.params)})"

    def scalar(self, kind: str, name: str, index: tuple[int, ...] = ()) -> np.ndarray:
        """One scalar's series over all rows, e.g. ``scalar("grad", "hidden.weight", (0, 1))``."""
        table = {"param": self.params, "grad": self.grads, "extra": self.extras}[kind]
        if name not in table:
            raise KeyError(f"no {kind} {name!r} in history; it has {sorted(table)}")
        return table[name][(slice(None), *index)]

    def subset(self, rows: np.ndarray | list[int]) -> History:
        """A history of just the given rows (in that order)."""
        rows = np.asarray(rows, dtype=int)
        pick = lambda d: {k: v[rows] for k, v in d.items()}  # noqa: E731
        return History(self.steps[rows], self.loss[rows], pick(self.params), pick(self.grads),
                       pick(self.extras), dict(self.static), dict(self.meta))

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything as flat ``prefix/name`` arrays, the layout of ``history.npz``."""
        out: dict[str, np.ndarray] = {"step": self.steps, "loss": self.loss}
        for prefix, table in (("param", self.params), ("grad", self.grads),
                              ("extra", self.extras), ("static", self.static)):
            out.update({f"{prefix}/{k}": v for k, v in table.items()})
        out["meta"] = np.array(json.dumps(self.meta, sort_keys=True))
        return out

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``history.npz`` atomically and byte-reproducibly (fixed zip timestamps); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:
                for key, value in self.arrays().items():
                    buf = io.BytesIO()
                    np.lib.format.write_array(buf, np.asarray(value), allow_pickle=False)
                    info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                    info.external_attr = 0o644 << 16
                    zf.writestr(info, buf.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
            publish(Path(tmp), path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        """Read a history written by :meth:`save` (or any npz with the same keys)."""
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        tables: dict[str, dict[str, np.ndarray]] = {"param": {}, "grad": {}, "extra": {}, "static": {}}
        for key, value in data.items():
            prefix, _, name = key.partition("/")
            if prefix in tables and name:
                tables[prefix][name] = value
        meta = json.loads(str(data["meta"])) if "meta" in data else {}
        return cls(data["step"].astype(int), data["loss"].astype(float), tables["param"], tables["grad"],
                   tables["extra"], tables["static"], meta)


class Recorder:
    """A training hook that records every ``every``-th step (and always step 0 and the last step).

    ``probes`` are extra per-step arrays computed from the network (for example the prediction over a
    plotting grid), so that rendering never has to run the network again. ``static`` arrays are stored once.
    """

    def __init__(self, every: int = 1, probes: dict[str, Probe] | None = None,
                 static: dict[str, np.ndarray] | None = None, meta: dict | None = None) -> None:
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        self.every = every
        self.probes = dict(probes or {})
        self.static = dict(static or {})
        self.meta = dict(meta or {})
        self._steps: list[int] = []
        self._loss: list[float] = []
        self._params: dict[str, list[np.ndarray]] = {}
        self._grads: dict[str, list[np.ndarray]] = {}
        self._extras: dict[str, list[np.ndarray]] = {k: [] for k in self.probes}

    def __call__(self, state: TrainState) -> None:
        if state.step % self.every == 0 or state.step == state.total_steps:
            if not self._steps or self._steps[-1] != state.step:
                self.record(state)

    def record(self, state: TrainState) -> None:
        """Record the current step unconditionally."""
        net = state.network
        pred = net.forward(state.x)
        loss = state.loss.value(pred, state.y)
        net.backward(state.loss.grad(pred, state.y))
        self._steps.append(state.step)
        self._loss.append(loss)
        for name, value in net.parameters().items():
            self._params.setdefault(name, []).append(value.copy())
        for name, value in net.gradients().items():
            self._grads.setdefault(name, []).append(value.copy())
        for name, probe in self.probes.items():
            self._extras[name].append(np.asarray(probe(net), dtype=float))

    def history(self) -> History:
        """The recorded rows as a :class:`History`."""
        if not self._steps:
            raise RuntimeError("nothing recorded yet: attach the recorder to a trainer and run it")
        stack = lambda d: {k: np.stack(v) for k, v in d.items()}  # noqa: E731
        meta = {"every": self.every, **self.meta}
        return History(np.array(self._steps, dtype=int), np.array(self._loss, dtype=float),
                       stack(self._params), stack(self._grads), stack(self._extras), dict(self.static), meta)
