"""The Recorder (a passive sink any training loop logs into) and the History it builds.

Row ``s`` of a history holds the parameters after ``steps[s]`` updates, the losses at those parameters and
the gradient there. A run of N steps recorded at every step therefore has rows 0..N; the last row's gradient
is computed but never applied. The history is the one contract between training and drawing: panels read
nothing else, and ``history.npz`` (schema 2, plain numpy) re-renders without training.
"""
from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..base.errors import DivergenceError, HistoryError
from ..base.files import NotAFile, open_regular, publish, temp_path
from .model import LayerInfo
from .schedule import RecordSchedule, grid_rows

SCHEMA = 2
TABLES = ("param", "grad", "extra")

# A history file is untrusted data: what loading it may unpack is bounded before anything is decompressed.
MAX_LOAD_BYTES = 4 * 1024**3  # all its arrays together, as declared; the same 4 GB a recorded run may take
MAX_EXPANSION = 50  # a compressed member may unpack to at most this many times its packed size ...
EXPANSION_FREE = 64 * 1024**2  # ... once it is larger than this (float arrays barely compress: about 8 %)
_KEYS = ("schema", "step", "info", "meta", "loss")  # the plain keys of schemas 1 and 2
_PREFIXES = ("loss", *TABLES, "static")  # and the tables, "<prefix>/<name>"
_CHUNK = 16 * 1024**2


@dataclass
class RunInfo:
    """What a history says about its run, typed (schema 2's ``info``; 0.1.0's free ``meta`` is converted).

    ``loss_kind`` is the loss's kind (``regression``, ``binary``, ``multiclass``; empty when unknown) and
    ``classes`` how many classes a classifier tells apart, so panels can turn recorded outputs into class
    probabilities; ``penalty`` describes the regularization added to the data loss (empty for none).
    """

    scene: str = ""
    title: str = ""
    loss: str = ""
    loss_label: str = "loss"
    loss_kind: str = ""
    classes: int | None = None
    penalty: str = ""
    total_steps: int | None = None
    every: int = 1
    seed: int | None = None
    optimizer: str = ""
    batch_size: int | None = None
    layers: list[LayerInfo] = field(default_factory=list)
    # Layers between the dense ones (batch norm, dropout), as NetworkModel.other_layers describes them:
    # {"kind", "name", "after": the dense layer before, "p": dropout's rate}.
    other_layers: list[dict] = field(default_factory=list)
    input_names: list[str] = field(default_factory=list)
    # The scene's own short names of scalar parameters, "hidden.weight[0,0]" → "w1" (see record/names.py).
    param_names: dict[str, str] = field(default_factory=dict)
    output_names: list[str] = field(default_factory=list)
    source: str = ""
    diverged_at: int | None = None
    version: str = ""
    runs: list[str] = field(default_factory=list)  # a comparison: each run's label (its names are run<k>/...)
    run_diverged: list = field(default_factory=list)
    # A comparison whose runs' networks differ: each run's {"layers": [...], "other_layers": [...]}.
    run_layers: list = field(default_factory=list)

    def to_json(self) -> str:
        """Sorted-key JSON, so equal runs give byte-identical files."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["layers"] = [lay.to_dict() for lay in self.layers]
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunInfo:
        """The inverse of :meth:`to_json`; unknown keys (from newer minor versions) are ignored."""
        d = json.loads(text)
        if not isinstance(d, dict):
            raise HistoryError("its run information is not a JSON object")
        known = {f.name for f in fields(cls)}
        info = cls(**{k: v for k, v in d.items() if k in known and k != "layers"})
        info.layers = [LayerInfo.from_dict(x) for x in d.get("layers", [])]
        return info

    @classmethod
    def from_meta_v1(cls, meta: dict) -> RunInfo:
        """0.1.0's ``meta``: the layers are read back from the network's repr ``Dense(name: 2→4, sigmoid)``."""
        import re

        layers = []
        for name, n_in, n_out, act, rest in re.findall(r"Dense\(([^:]+): (\d+)→(\d+), ([^,)]+)((?:, no bias)?)\)",
                                                       str(meta.get("network", ""))):
            layers.append(LayerInfo(name, int(n_in), int(n_out), act, f"{name}.weight",
                                    None if rest else f"{name}.bias"))
        lr = meta.get("lr")
        return cls(scene=str(meta.get("scene", "")), title=str(meta.get("title", "")), loss=str(meta.get("loss", "")),
                   loss_label=str(meta.get("loss_label", "loss")), total_steps=meta.get("total_steps"),
                   every=int(meta.get("every", 1)), seed=meta.get("seed"),
                   optimizer=f"SGD(lr={lr:g})" if isinstance(lr, (int, float)) else "",
                   batch_size=meta.get("batch_size"), layers=layers, input_names=list(meta.get("input_names", [])),
                   source="scene", diverged_at=meta.get("diverged_at"), version=str(meta.get("version", "0.1.0")))


@dataclass
class History:
    """Arrays with the recorded step as first axis, plus static arrays (data, grids) and the run's info.

    ``losses`` holds named losses: ``train`` always, ``test`` and ``penalty`` when recorded.
    """

    steps: np.ndarray
    losses: dict[str, np.ndarray]
    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    static: dict[str, np.ndarray] = field(default_factory=dict)
    info: RunInfo = field(default_factory=RunInfo)

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        last = int(self.steps[-1]) if len(self) else 0
        return f"History({len(self)} rows, steps 0..{last}, losses {list(self.losses)}, params {list(self.params)})"

    @property
    def loss(self) -> np.ndarray:
        """The training loss per row."""
        return self.losses["train"]

    @property
    def total_steps(self) -> int:
        """Steps the run was meant to take (the last recorded step if not said)."""
        return int(self.info.total_steps if self.info.total_steps is not None else self.steps[-1])

    def scalar(self, kind: str, name: str, index: tuple[int, ...] = ()) -> np.ndarray:
        """One scalar's series over all rows, e.g. ``scalar("grad", "hidden.weight", (0, 1))``."""
        table = {"param": self.params, "grad": self.grads, "extra": self.extras}[kind]
        if name not in table:
            raise KeyError(f"no {kind} {name!r} in history; it has {sorted(table)}")
        shape = np.shape(table[name])[1:]
        try:
            index = tuple(int(i) for i in index)
        except (TypeError, ValueError):
            raise ValueError(f"{name}{list(index)}: an index is whole numbers, one per axis") from None
        if len(index) > len(shape) or not all(-n <= i < n for i, n in zip(index, shape)):
            what = f"shape {shape}" if shape else "a single number (index ())"
            raise ValueError(f"{name}{list(index)} is not one of its numbers: {kind} {name!r} has {what}")
        return table[name][(slice(None), *index)]

    def layer_weight(self, layer: LayerInfo) -> np.ndarray:
        """A layer's weight over all rows as (rows, inputs, outputs), whichever way it is stored."""
        w = self.params[layer.weight]
        return np.swapaxes(w, 1, 2) if layer.transposed else w

    def layer_weight_grad(self, layer: LayerInfo) -> np.ndarray:
        """A layer's weight gradient over all rows as (rows, inputs, outputs)."""
        g = self.grads[layer.weight]
        return np.swapaxes(g, 1, 2) if layer.transposed else g

    def recorded(self) -> str:
        """Which steps the rows hold, in words, for messages: ``0…10,000 every 50`` (and how many steps off that
        grid were recorded too, such as the log-spaced early ones a paced run adds)."""
        if not len(self):
            return "no steps"
        every = max(1, int(self.info.every or 1))
        off = int(np.count_nonzero(self.steps % every)) - (int(self.steps[-1]) % every != 0)
        extra = f", and {off:,} more between them" if off > 0 else ""
        return f"{int(self.steps[0]):,}…{int(self.steps[-1]):,} every {every:,}{extra}"

    def subset(self, rows: np.ndarray | list[int]) -> History:
        """A history of just the given rows (in that order)."""
        rows = np.asarray(rows, dtype=int)
        pick = lambda d: {k: v[rows] for k, v in d.items()}  # noqa: E731
        return History(self.steps[rows], pick(self.losses), pick(self.params), pick(self.grads), pick(self.extras),
                       dict(self.static), RunInfo.from_json(self.info.to_json()))

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything as flat ``prefix/name`` arrays, the layout of ``history.npz``."""
        out: dict[str, np.ndarray] = {"schema": np.array(SCHEMA), "step": self.steps}
        for prefix, table in (("loss", self.losses), ("param", self.params), ("grad", self.grads),
                              ("extra", self.extras), ("static", self.static)):
            out.update({f"{prefix}/{k}": v for k, v in table.items()})
        out["info"] = np.array(self.info.to_json())
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
    def load(cls, path: str | os.PathLike, *, limit: int | None = None) -> History:
        """Read a history written by :meth:`save`, by 0.1.0 (schema 1), or any npz with the same keys.

        Raises :class:`HistoryError` for a file that is not a history, is truncated, or comes from a newer
        schema than this version reads.

        Reading is bounded (see the README's trust model): every member's size is checked from the zip's
        directory and its npy header before anything is decompressed, against :data:`MAX_LOAD_BYTES` in all
        (or ``limit`` bytes) in all and :data:`MAX_EXPANSION` for a compressed member, so a small file cannot
        unpack into gigabytes.
        Members that are not part of the schema are not read at all (and so never reach a new output); a
        named pipe is refused, not waited on.
        """
        where = str(path)
        try:
            fd = open_regular(path)
        except NotAFile as exc:
            raise HistoryError(str(exc).replace("give another path", "give a history.npz")) from None
        except OSError as exc:
            raise HistoryError(f"cannot read {where}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "rb") as fh:
            try:
                data = _read_members(fh, where, MAX_LOAD_BYTES if limit is None else limit)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
                raise HistoryError(f"{where} is not a visualizer history: it is not a complete npz archive "
                                   f"({exc})") from None
            except (OSError, ValueError) as exc:
                raise HistoryError(f"{where} is not a readable history.npz ({exc.__class__.__name__}: {exc})") \
                    from None
        return cls.from_arrays(data, where)

    @classmethod
    def from_arrays(cls, data: dict[str, np.ndarray], where: str = "history") -> History:
        """Build a history from the flat arrays of a ``history.npz`` (schema 1 or 2), checking them."""
        schema = int(data["schema"]) if "schema" in data else 1
        if schema > SCHEMA:
            raise HistoryError(f"{where} was written by a newer visualizer (history schema {schema}); this "
                               f"version reads schemas 1 to {SCHEMA}: upgrade visualizer to read it")
        if "step" not in data:
            raise HistoryError(f"{where} is not a visualizer history (it has no 'step' array)")
        tables: dict[str, dict[str, np.ndarray]] = {p: {} for p in ("loss", *TABLES, "static")}
        for key, value in data.items():
            prefix, _, name = key.partition("/")
            if prefix in tables and name:
                tables[prefix][name] = value
        try:
            if schema == 1:
                tables["loss"] = {"train": data["loss"]}
                info = RunInfo.from_meta_v1(json.loads(str(data["meta"])) if "meta" in data else {})
            else:
                info = RunInfo.from_json(str(data["info"])) if "info" in data else RunInfo()
        except (KeyError, ValueError, TypeError) as exc:
            raise HistoryError(f"{where} has broken run information ({exc.__class__.__name__}: {exc})") from None
        steps = np.asarray(data["step"])
        if steps.ndim != 1 or not len(steps) or not np.issubdtype(steps.dtype, np.number):
            raise HistoryError(f"{where} has no recorded steps")
        if "train" not in tables["loss"] and not info.runs:  # a comparison has run<k>/train instead
            raise HistoryError(f"{where} has no training loss ('loss/train')")
        for prefix in ("loss", *TABLES):
            for name, value in tables[prefix].items():
                numbers = np.issubdtype(value.dtype, np.number) or value.dtype == bool  # masks are yes/no
                if value.ndim < 1 or len(value) != len(steps) or not numbers:
                    raise HistoryError(f"{where}: {prefix}/{name} has {len(value) if value.ndim else 0} rows for "
                                       f"{len(steps)} steps (a truncated or foreign file?)")
        if not np.all(np.isfinite(steps)) or np.any(steps != np.round(steps)):
            raise HistoryError(f"{where}: its steps are not whole numbers")
        history = cls(steps.astype(np.int64), {k: v.astype(float) for k, v in tables["loss"].items()},
                      tables["param"], tables["grad"], tables["extra"], tables["static"], info)
        history.check(where)
        return history

    def check(self, where: str = "the history") -> None:
        """Refuse, with :class:`HistoryError` naming the problem, a history whose parts contradict each other:
        steps not increasing from 0 or more, a total below its last step, a gradient shaped unlike its
        parameter. (A loaded file is checked as it is read; :func:`~visualizer.render` checks a history it is
        given.)"""
        steps, total = np.asarray(self.steps), self.info.total_steps
        if steps.ndim != 1 or not len(steps):
            raise HistoryError(f"{where} has no recorded steps")
        if steps[0] < 0:
            raise HistoryError(f"{where}: its first recorded step is {int(steps[0])}; steps count from 0")
        back = np.flatnonzero(np.diff(steps) <= 0)
        if len(back):
            k = int(back[0])
            how = "twice" if steps[k] == steps[k + 1] else f"after step {int(steps[k])}"
            raise HistoryError(f"{where} records step {int(steps[k + 1])} {how}; a history's steps must increase")
        for what, value, low in (("total_steps", total, 0), ("every", self.info.every, 1),
                                 ("diverged_at", self.info.diverged_at, 0)):
            whole = isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer())
            if value is not None and (isinstance(value, bool) or not whole or value < low):
                raise HistoryError(f"{where}: its run information gives {what} {value!r}; it must be a whole "
                                   f"number, {low} or more")
        if total is not None:
            if steps[-1] > total:
                raise HistoryError(f"{where} records step {int(steps[-1])}, beyond the {int(total)} steps its run "
                                   "information says the run took")
        for name, grad in self.grads.items():
            param = self.params.get(name)
            if param is not None and np.shape(grad)[1:] != np.shape(param)[1:]:
                raise HistoryError(f"{where}: the gradient of {name!r} has shape {np.shape(grad)[1:]}, its "
                                   f"parameter {np.shape(param)[1:]}; they must match")


def byte_size(n: int) -> str:
    """``1.5 GB`` or ``12.0 MB``: a size as the refusals say it."""
    return f"{n / 1024**3:.1f} GB" if n >= 1024**3 else f"{n / 1024**2:.1f} MB"


def _read_members(fh, where: str, limit: int) -> dict[str, np.ndarray]:
    """The schema's arrays in the npz open as ``fh``, each checked for size before it is decompressed."""
    try:
        zf = zipfile.ZipFile(fh)
    except zipfile.BadZipFile:
        raise HistoryError(f"{where} is not a visualizer history (not an npz archive)") from None
    with zf:
        members: dict[str, zipfile.ZipInfo] = {}
        for info in zf.infolist():
            key = info.filename[:-4] if info.filename.endswith(".npy") else ""
            prefix, _, name = key.partition("/")
            if key in _KEYS or (prefix in _PREFIXES and name):
                if key in members:
                    raise HistoryError(f"{where} is not a visualizer history: it holds {key!r} twice")
                members[key] = info
        total = sum(info.file_size for info in members.values())
        if total > limit:
            raise HistoryError(f"{where} declares {byte_size(total)} of arrays, more than the {byte_size(limit)} a history "
                               "may hold; visualizer does not load it")
        for key, info in members.items():
            if info.compress_type != zipfile.ZIP_STORED and info.file_size > EXPANSION_FREE and \
                    info.file_size > MAX_EXPANSION * max(1, info.compress_size):
                raise HistoryError(f"{where} is not a visualizer history: its {key!r} would unpack from "
                                   f"{byte_size(info.compress_size)} to {byte_size(info.file_size)} (more than "
                                   f"{MAX_EXPANSION}x); visualizer does not load it")
        return {key: _read_npy(zf, info, f"{where}: {key!r}") for key, info in members.items()}


def _read_npy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, what: str) -> np.ndarray:
    """One npy member: its header read first, its declared size checked against the zip's, then the data."""
    fmt = np.lib.format
    with zf.open(info) as member:
        try:
            version = fmt.read_magic(member)
            read_header = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
            if read_header is None:
                raise ValueError(f"npy format version {version}")
            shape, fortran, dtype = read_header(member)
        except ValueError as exc:
            raise HistoryError(f"{what} is not a plain numpy array ({exc})") from None
        if dtype.hasobject or dtype.fields is not None or dtype.kind not in "biufU":
            raise HistoryError(f"{what} holds {dtype} values, not numbers; a history holds plain numbers")
        count = math.prod(shape)
        declared = count * dtype.itemsize
        if member.tell() + declared != info.file_size:
            raise HistoryError(f"{what} declares {declared:,} bytes of data but holds "
                               f"{info.file_size - member.tell():,} (a truncated or foreign file?)")
        array = np.empty(count, dtype)
        view = memoryview(array).cast("B") if declared else memoryview(b"")
        done = 0
        while done < declared:  # in chunks: no second copy of a large array
            chunk = member.read(min(_CHUNK, declared - done))
            if not chunk:
                raise HistoryError(f"{what} ends early (a truncated file?)")
            view[done:done + len(chunk)] = chunk
            done += len(chunk)
    return array.reshape(shape, order="F" if fortran else "C")


def _as_array(name: str, value: Any) -> np.ndarray:
    # Numeric arrays pass as they are (the row store casts them to float64 as it copies them in).
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        return value
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError, RuntimeError):
        detach = getattr(value, "detach", None)  # a tensor that requires grad
        if detach is not None:
            return np.asarray(detach().cpu(), dtype=float)
        raise ValueError(f"{name} is not numeric: cannot make an array of {type(value).__name__}") from None


Evaluate = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


class Recorder:
    """A passive sink: any training loop logs its step, and the recorder keeps every ``every``-th step.

    ::

        rec = Recorder(every=10)
        for step in range(n + 1):
            ...                                            # your forward, loss, backward
            rec.log(step, params={"w": w}, grads={"w": g}, loss=loss)
            ...                                            # your update
        history = rec.history()

    The last step logged is always kept, even off the grid of ``every``: give ``total_steps`` when it is
    known and steps off the grid cost nothing; without it, the latest one is copied in case it is the last.
    ``schedule`` (a :class:`~visualizer.record.schedule.RecordSchedule`, instead of ``every``) keeps uneven
    steps, such as log-spaced ones that make the record dense where learning is fast.

    ``evaluator`` (an :class:`~visualizer.record.model.Evaluator`) computes, at every kept step, what the panels
    need from the model (outputs over a grid, activations); its static arrays and the model's layers go into
    the history. ``info`` describes the run. A non-finite loss, parameter or gradient raises
    :class:`DivergenceError` naming the step and the parameter (rows before it stay in the history).
    """

    def __init__(self, every: int = 1, *, total_steps: int | None = None, evaluator: Evaluate | None = None,
                 info: RunInfo | None = None, static: dict[str, np.ndarray] | None = None,
                 schedule: RecordSchedule | None = None) -> None:
        if schedule is None:
            schedule = RecordSchedule(every, total_steps)
        elif total_steps is None:
            total_steps = schedule.total_steps
        elif schedule.total_steps not in (None, total_steps):
            raise ValueError(f"the schedule is for {schedule.total_steps} steps, not total_steps={total_steps}")
        self.schedule = schedule
        self.every = schedule.every
        self.total_steps = total_steps
        self.evaluator = evaluator
        self.info = info or RunInfo()
        self.static = dict(static or {})
        self._n = 0
        self._cap = 0
        self._last_step: int | None = None
        self._shapes: dict[str, dict[str, tuple[int, ...]]] | None = None
        self._signature: tuple | None = None
        self._steps = np.zeros(0, dtype=int)
        self._tables: dict[str, dict[str, np.ndarray]] = {"loss": {}, "param": {}, "grad": {}, "extra": {}}
        self._pending: tuple | None = None

    def __repr__(self) -> str:
        end = "" if self.total_steps is None else f", total_steps={self.total_steps}"
        return f"Recorder(every={self.every}{end}, {len(self)} rows)"

    def due(self, step: int) -> bool:
        """Whether ``step`` is on the schedule of kept steps (or the announced last one)."""
        return self.schedule.due(step) or step == self.total_steps

    def log(self, step: int, params: dict[str, Any], grads: dict[str, Any] | None = None, loss: Any = None, *,
            losses: dict[str, Any] | None = None, extras: dict[str, Any] | None = None) -> bool:
        """Log one step: the parameters after ``step`` updates, the gradient and loss there; returns whether
        the step was kept as a row. Values are copied (arrays, floats, nested lists, anything with
        ``__array__``, tensors). ``loss`` is the training loss; ``losses`` adds named ones (``test``, ...)."""
        step = int(step)
        if self._last_step is not None and step <= self._last_step:
            raise ValueError(f"step {step} logged after step {self._last_step}: steps must increase")
        due = self.due(step)
        if not due and self.total_steps is not None:
            if step > self.total_steps:
                raise ValueError(f"step {step} is past total_steps={self.total_steps}")
            self._last_step = step
            return False
        row = self._row(step, params, grads, loss, losses, extras)
        self._last_step = step
        if due:
            self._pending = None
            self._append(step, row, evaluate=True)
        else:
            # Kept only if no later step comes; copied now, as the loop will change its arrays in place.
            self._pending = (step, {t: {k: np.array(v, copy=True) for k, v in vals.items()} for t, vals in row.items()})
        return due

    def _row(self, step, params, grads, loss, losses, extras) -> dict[str, dict[str, np.ndarray]]:
        if not isinstance(params, dict) or not params:
            raise ValueError(f"step {step}: params must be a non-empty dict of name → array")
        named = dict(losses or {})
        if loss is not None:
            named["train"] = loss
        if "train" not in named:
            raise ValueError(f"step {step}: give the training loss (loss=...)")
        row = {"loss": {k: _as_array(f"loss {k!r} at step {step}", v) for k, v in named.items()},
               "param": {k: _as_array(f"parameter {k!r} at step {step}", v) for k, v in params.items()},
               "grad": {k: _as_array(f"gradient of {k!r} at step {step}", v) for k, v in (grads or {}).items()},
               "extra": {k: _as_array(f"extra {k!r} at step {step}", v) for k, v in (extras or {}).items()}}
        for k, v in row["loss"].items():
            if v.size != 1:
                raise ValueError(f"step {step}: loss {k!r} must be one number, got shape {v.shape}")
        for k, g in row["grad"].items():
            if k not in row["param"]:
                raise ValueError(f"step {step}: gradient for {k!r}, which is not among the parameters "
                                 f"{sorted(row['param'])}")
            if g.shape != row["param"][k].shape:
                raise ValueError(f"step {step}: the gradient of {k!r} has shape {g.shape} but the parameter has "
                                 f"{row['param'][k].shape}")
        self._check_same_shape(step, row)
        self._check_finite(step, row)
        return row

    def _check_same_shape(self, step: int, row: dict) -> None:
        signature = tuple((t, k, v.shape) for t in row for k, v in row[t].items())
        if signature == self._signature:
            return  # the same names and shapes as the first row: nothing to explain
        shapes = {t: {k: v.shape for k, v in row[t].items()} for t in row}
        if self._shapes is None:
            self._shapes, self._signature = shapes, signature
            return
        for table, what in (("param", "parameter"), ("grad", "gradient of"), ("loss", "loss"), ("extra", "extra")):
            before, now = self._shapes[table], shapes[table]
            for name in before.keys() - now.keys():
                raise ValueError(f"step {step}: {what} {name!r} was logged before but is missing now")
            for name in now.keys() - before.keys():
                raise ValueError(f"step {step}: {what} {name!r} appears for the first time; log the same names "
                                 "at every step")
            for name, shape in now.items():
                if shape != before[name]:
                    raise ValueError(f"step {step}: {what} {name!r} changed shape from {before[name]} to {shape}")

    @staticmethod
    def _check_finite(step: int, row: dict) -> None:
        # Parameters first: a non-finite parameter is the cause, the loss it gives only the symptom.
        for table, what in (("param", ""), ("grad", "the gradient of ")):
            for name, v in row[table].items():
                # One reduction: a non-finite element makes the sum non-finite (a finite sum past the float
                # range is checked element by element).
                if not math.isfinite(v.sum()) and not np.isfinite(v).all():
                    bad = v[~np.isfinite(v)].flat[0]
                    raise DivergenceError(f"training diverged at step {step}: {what}{name} became {bad}", step=step)
        for name, v in row["loss"].items():
            if not math.isfinite(float(v)):
                what = "the loss" if name == "train" else f"the {name} loss"
                raise DivergenceError(f"training diverged at step {step}: {what} became {float(v)}", step=step)

    def _append(self, step: int, row: dict, evaluate: bool, detached: bool = False) -> None:
        if self.evaluator is not None and evaluate:
            ev = self.evaluator.detached if detached else self.evaluator
            computed = ev(row["param"])
            row["extra"] = {**{k: np.asarray(v, dtype=float) for k, v in computed.items()}, **row["extra"]}
        if self._n == self._cap:
            self.grow(row)
        r = self._n
        self._steps[r] = step
        for table, values in row.items():
            store = self._tables[table]
            for name, value in values.items():
                if name not in store:
                    if r:
                        raise ValueError(f"step {step}: {table} {name!r} appears for the first time")
                    # Yes/no values (dropout's masks) stay one byte each; every other number is a float.
                    store[name] = np.zeros((self._cap, *value.shape), dtype=bool if value.dtype == bool else float)
                store[name][r] = value
        self._n += 1

    def grow(self, row: dict) -> None:
        # Rows are allocated up front when the step count is known, so recording a long run never holds a
        # list of small arrays and a stacked copy at once; otherwise the capacity doubles.
        known = self.rows_for(self.total_steps) if self.total_steps is not None else 0
        cap = max(known, 2 * self._cap, 16)
        steps = np.zeros(cap, dtype=int)
        steps[: self._n] = self._steps[: self._n]
        self._steps = steps
        for store in self._tables.values():
            for name, old in store.items():
                new = np.zeros((cap, *old.shape[1:]), dtype=old.dtype)
                new[: self._n] = old[: self._n]
                store[name] = new
        self._cap = cap

    def rows_for(self, total_steps: int) -> int:
        """How many rows a run of ``total_steps`` records: steps 0, k, 2k, … and the last (and the schedule's
        log-spaced steps)."""
        if self.schedule.extra:
            return self.schedule.rows(total_steps)
        return grid_rows(total_steps, self.every)

    def __len__(self) -> int:
        return self._n + (self._pending is not None)

    def history(self) -> History:
        """The kept rows (and the last step logged, if it was off the grid) as a :class:`History`."""
        if self._pending is not None:
            step, row = self._pending
            self._pending = None
            self._append(step, row, evaluate=True, detached=True)
        if not self._n:
            raise RuntimeError("nothing recorded yet: call log() at least once")
        n = self._n
        trim = lambda d: {k: v[:n] for k, v in d.items()}  # noqa: E731  (views, no copies)
        info = RunInfo.from_json(self.info.to_json())
        info.every = self.every
        if info.total_steps is None:
            info.total_steps = int(self._steps[n - 1]) if self.total_steps is None else self.total_steps
        static = dict(self.static)
        layers = getattr(self.evaluator, "layers", None)
        if layers and not info.layers:
            info.layers = list(layers)
        static = {**getattr(self.evaluator, "static", {}), **static}
        history = History(self._steps[:n], trim(self._tables["loss"]), trim(self._tables["param"]),
                          trim(self._tables["grad"]), trim(self._tables["extra"]), static, info)
        finish = getattr(self.evaluator, "finish", None)  # rows the evaluator completes at the end (histogram bins)
        return history if finish is None else finish(history)


__all__ = ["History", "Recorder", "RunInfo", "SCHEMA"]
