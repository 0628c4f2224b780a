"""The recorder hook and the History it builds: every recorded step's parameters, gradients, loss and extras.

Row ``s`` of a history holds the parameters after ``steps[s]`` updates, the loss at those parameters on the
whole training (evaluation) set, and the gradient of that loss at those parameters. A run of N steps recorded
at every step therefore has rows 0..N; the last row's gradient is computed but never applied.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .files import publish, temp_path
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
        tmp = temp_path(path, ".npz")
        try:
            with open(tmp, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:
                for key, value in self.arrays().items():
                    info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                    info.external_attr = 0o644 << 16
                    # Stored, not deflated: float arrays barely compress (about 8 %) and load faster as they are.
                    # Streamed into the zip: no second in-memory copy of a large array.
                    with zf.open(info, "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)
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
        self._rows = 0
        self._steps: np.ndarray | None = None
        self._loss: np.ndarray | None = None
        self._params: dict[str, np.ndarray] = {}
        self._grads: dict[str, np.ndarray] = {}
        self._extras: dict[str, np.ndarray] = {}

    def __call__(self, state: TrainState) -> bool:
        """Record ``state`` if its step is due (every k-th, and the last); return whether it did."""
        if state.step % self.every == 0 or state.step == state.total_steps:
            if not self._rows or self._steps[self._rows - 1] != state.step:
                self.record(state)
                return True
        return False

    def rows_for(self, total_steps: int) -> int:
        """How many rows a run of ``total_steps`` records: steps 0, k, 2k, … and the last."""
        return total_steps // self.every + 1 + (total_steps % self.every != 0)

    def record(self, state: TrainState) -> None:
        """Record the current step unconditionally."""
        net = state.network
        pred = net.forward(state.x)
        loss = state.loss.value(pred, state.y)
        net.backward(state.loss.grad(pred, state.y))
        row = {f"param/{k}": v for k, v in net.parameters().items()}
        row.update({f"grad/{k}": v for k, v in net.gradients().items()})
        row.update({f"extra/{k}": np.asarray(probe(net), dtype=float) for k, probe in self.probes.items()})
        if self._steps is None or self._rows == len(self._steps):
            self._grow(state.total_steps, row)
        r = self._rows
        self._steps[r], self._loss[r] = state.step, loss
        for key, value in row.items():
            prefix, name = key.split("/", 1)
            {"param": self._params, "grad": self._grads, "extra": self._extras}[prefix][name][r] = value
        self._rows += 1

    def _grow(self, total_steps: int, row: dict[str, np.ndarray]) -> None:
        # Rows are allocated up front (their number is known from the step count), so recording a long run
        # never holds a list of small arrays and a stacked copy at once. More rows only if asked to record more.
        n = max(self.rows_for(total_steps), 2 * self._rows, 1)

        def grown(old: np.ndarray | None, like: np.ndarray, dtype=float) -> np.ndarray:
            new = np.zeros((n, *np.shape(like)), dtype=dtype)
            if old is not None:
                new[: self._rows] = old[: self._rows]
            return new

        self._steps = grown(self._steps, 0, int)
        self._loss = grown(self._loss, 0.0)
        for key, value in row.items():
            prefix, name = key.split("/", 1)
            table = {"param": self._params, "grad": self._grads, "extra": self._extras}[prefix]
            table[name] = grown(table.get(name), value)

    def history(self) -> History:
        """The recorded rows as a :class:`History`."""
        if not self._rows:
            raise RuntimeError("nothing recorded yet: attach the recorder to a trainer and run it")
        n = self._rows
        trim = lambda d: {k: v[:n] for k, v in d.items()}  # noqa: E731  (views, no copies)
        meta = {"every": self.every, **self.meta}
        return History(self._steps[:n], self._loss[:n], trim(self._params), trim(self._grads), trim(self._extras),
                       dict(self.static), meta)
