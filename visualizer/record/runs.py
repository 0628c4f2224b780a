"""A comparison's runs in one history: every run's arrays under ``run<k>/`` names (:func:`join_histories`),
and one run back out of it (:func:`run_history`)."""
from __future__ import annotations

import numpy as np

from ..base.errors import VisualizerError
from .history import History, RunInfo
from .probes import LayerInfo


def join_histories(histories: list[History], labels: list[str]) -> History:
    """One history holding every run under ``run<k>/`` names, rows on the steps of the longest run (a run
    that diverged earlier has NaN past its end). Static arrays shared by all runs (the data, grids) once."""
    longest = max(histories, key=len)
    steps = longest.steps
    n = len(steps)
    losses, params, grads, extras, static = {}, {}, {}, {}, {}

    def padded(a: np.ndarray) -> np.ndarray:
        if len(a) == n:
            return a
        out = np.full((n, *a.shape[1:]), np.nan)
        out[: len(a)] = a
        return out

    for k, h in enumerate(histories):
        if not np.array_equal(h.steps, steps[: len(h)]):
            raise VisualizerError("the runs did not record the same steps; they cannot share a time axis")
        for table, out in ((h.losses, losses), (h.params, params), (h.grads, grads), (h.extras, extras)):
            out.update({f"run{k}/{name}": padded(v) for name, v in table.items()})
        for name, v in h.static.items():
            if name in static and np.array_equal(static[name], v):
                continue
            if name in static or any(name in o.static and not np.array_equal(o.static[name], v)
                                     for o in histories[:k]):
                static[f"run{k}/{name}"] = v
            else:
                static[name] = v
    base = longest.info
    info = RunInfo.from_json(base.to_json())
    info.runs = list(labels)
    info.diverged_at = None
    info.run_diverged = [h.info.diverged_at for h in histories]
    networks = [{"layers": [lay.to_dict() for lay in h.info.layers], "other_layers": h.info.other_layers}
                for h in histories]
    if any(n != networks[0] for n in networks):  # each run draws its own network
        info.run_layers = networks
    return History(steps, losses, params, grads, extras, static, info)


def same_parameters(histories: list[History]) -> bool:
    """Whether every run has the same parameters (names and shapes): one parameter space for them all."""
    shapes = [{name: v.shape[1:] for name, v in h.params.items()} for h in histories]
    return all(s == shapes[0] for s in shapes)


def run_history(history: History, k: int) -> History:
    """Run ``k``'s own history back out of a joined one."""
    prefix = f"run{k}/"
    pick = lambda d: {name[len(prefix):]: v for name, v in d.items() if name.startswith(prefix)}  # noqa: E731
    static = {name: v for name, v in history.static.items() if not name.startswith("run")}
    static.update(pick(history.static))
    info = RunInfo.from_json(history.info.to_json())
    info.runs = []
    info.diverged_at = history.info.run_diverged[k] if history.info.run_diverged else None
    if history.info.run_layers:
        own = history.info.run_layers[k]
        info.layers = [LayerInfo.from_dict(d) for d in own["layers"]]
        info.other_layers = list(own["other_layers"])
    info.run_layers = []
    return History(history.steps, pick(history.losses), pick(history.params), pick(history.grads),
                   pick(history.extras), static, info)


__all__ = ["join_histories", "run_history", "same_parameters"]
