"""Comparisons: the same scene trained several ways, drawn side by side in one video.

``compare(scene, vary={"optimizer": ["sgd", "momentum", "adam"]})`` trains one run per combination of the
varied settings (at most 16), each a plain task on a :class:`concurrent.futures.Executor` (a local process
pool by default, or a Dask cluster's executor), then joins their histories into one whose rows are the shared
steps and draws the comparison layout: every run's losses overlaid, and the scene's main panel once per run on
identical axes.
"""
from __future__ import annotations

import dataclasses
import itertools
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..base.errors import VisualizerError
from .pipeline import close_executor, dask_executor, executor_for  # noqa: F401 - dask_executor: public here too
from ..record.history import History
from ..record.runs import join_histories, run_history  # noqa: F401 - public here too

MAX_RUNS = 16


def _optimizer(scene, text: str):
    from ..engine.optim import get_optimizer

    lr = getattr(scene.optimizer, "lr", None)
    return get_optimizer(text, lr=lr if isinstance(lr, (int, float)) else None)


def _with_lr(scene, value: float):
    import copy

    opt = copy.deepcopy(scene.optimizer)
    opt.lr = value
    return opt


# Settings a comparison may vary: name -> (parse the command line's text, apply to a scene). Settings that
# change the time axis (steps, every) are not among them: the runs share one.
SETTINGS: dict[str, tuple[Callable[[str], Any], Callable]] = {
    "optimizer": (str, lambda scene, v: dataclasses.replace(scene, optimizer=_optimizer(scene, v))),
    "lr": (float, lambda scene, v: dataclasses.replace(scene, optimizer=_with_lr(scene, v))),
    "seed": (int, lambda scene, v: dataclasses.replace(scene, seed=v)),
    "batch_size": (lambda t: None if t.lower() in ("none", "full") else int(t),
                   lambda scene, v: dataclasses.replace(scene, batch_size=v)),
}


def split_values(text: str) -> list[str]:
    """``"sgd,adam:lr=0.01,betas=0.9/0.99"`` → ``["sgd", "adam:lr=0.01,betas=0.9/0.99"]``: a piece that is
    only ``key=value`` continues the optimizer spec before it."""
    values: list[str] = []
    for piece in (p.strip() for p in text.split(",")):
        if values and "=" in piece and ":" not in piece:
            values[-1] += "," + piece
        elif piece:
            values.append(piece)
    return values


def parse_vary(items: list[str] | dict[str, Any]) -> dict[str, list[Any]]:
    """``["optimizer=sgd,adam", "lr=0.1,1"]`` (or a dict of lists) → ``{"optimizer": [...], "lr": [...]}``,
    parsed and checked; at most 16 combinations."""
    if isinstance(items, dict):
        pairs = [(k, v if isinstance(v, (list, tuple)) else [v]) for k, v in items.items()]
    else:
        pairs = []
        for item in items:
            name, eq, text = item.partition("=")
            if not eq or not text.strip():
                raise VisualizerError(f"vary {item!r}: write SETTING=VALUE,VALUE,... e.g. optimizer=sgd,adam")
            pairs.append((name.strip(), split_values(text)))
    vary: dict[str, list[Any]] = {}
    for name, values in pairs:
        if name not in SETTINGS:
            raise VisualizerError(f"cannot vary {name!r}; settings that can be varied: {', '.join(SETTINGS)}")
        if name in vary:
            raise VisualizerError(f"{name!r} is varied twice; give all its values at once")
        parse = SETTINGS[name][0]
        parsed = []
        for v in values:
            try:
                parsed.append(parse(v) if isinstance(v, str) else v)
            except ValueError:
                raise VisualizerError(f"vary {name}: cannot read {v!r}") from None
        if len(set(map(repr, parsed))) != len(parsed):
            raise VisualizerError(f"vary {name}: a value is given twice")
        vary[name] = parsed
    if not vary:
        raise VisualizerError("give at least one setting to vary, e.g. optimizer=sgd,momentum,adam")
    runs = int(np.prod([len(v) for v in vary.values()]))
    if runs > MAX_RUNS:
        raise VisualizerError(f"{runs} runs is too many for one comparison video; at most {MAX_RUNS}")
    if runs < 2:
        raise VisualizerError("a comparison needs at least two runs")
    return vary


def combinations(vary: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the varied values, the last setting varying fastest."""
    names = list(vary)
    return [dict(zip(names, values)) for values in itertools.product(*vary.values())]


def varied(scene, settings: dict[str, Any]):
    """``scene`` with ``settings`` applied (a bad value is one line naming the setting)."""
    for name, value in settings.items():
        try:
            scene = SETTINGS[name][1](scene, value)
        except ValueError as exc:
            raise VisualizerError(f"vary {name}={value}: {exc}") from None
    return scene


def label(settings: dict[str, Any]) -> str:
    """How a run is named in legends: what differs, e.g. ``adam lr=0.01`` or ``lr=0.1, seed=2``."""
    parts = []
    for name, value in settings.items():
        if name == "optimizer":
            parts.append(str(value).replace(":", " ").replace(",", " "))
        else:
            parts.append(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}")
    return ", ".join(parts)


def train_run(scene_file: str, scene_source: str | bytes, settings: dict[str, Any], steps: int | None,
              every: int | None, pace: str = "change") -> History:
    """One run of a comparison, as a task: load the scene (from its source text, so a worker on another
    machine needs only the package), apply the settings, train. Returns the history (divergence allowed:
    a diverged run is drawn up to where it stopped)."""
    import re

    from .render import train
    from .scene import import_source, scene_of

    from .pipeline import worker_outcome

    try:
        source = scene_source.encode() if isinstance(scene_source, str) else scene_source
        stem = re.sub(r"[^0-9A-Za-z_]", "_", Path(scene_file).stem)
        scene = scene_of(import_source(f"visualizer_scene_{stem}", scene_file, source), Path(scene_file))
        for name, value in settings.items():
            scene = SETTINGS[name][1](scene, value)
        return train(scene, steps=steps, every=every, allow_divergence=True, pace=pace)
    except Exception as exc:  # noqa: BLE001 - classified as a render worker's are: the user's code, or ours
        raise worker_outcome(0, exc)[2] from None


def local_executor(runs: int) -> Executor:
    """A process pool sized to the cores: forked on Linux (nothing to import again), spawned where fork is
    not safe."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from .pipeline import available_cores, can_fork

    return ProcessPoolExecutor(max_workers=max(1, min(runs, available_cores())),
                               mp_context=mp.get_context("fork" if can_fork() else "spawn"))


def _result(future, what: str) -> History:
    """A run's history; a worker that died (killed, out of memory) is one clear error, not a traceback."""
    from concurrent.futures.process import BrokenProcessPool

    from .pipeline import spawn_hint

    try:
        return future.result()
    except BrokenProcessPool:
        raise VisualizerError(f"the process training run {what!r} stopped unexpectedly (killed, or out of "
                              f"memory{spawn_hint()}); nothing was written") from None


def landscape_panel(scene):
    """The comparison's loss landscape, on the plane the scene's own landscape panel uses (if it has one in
    any layout; else the PCA plane of every run's path)."""
    from ..draw.panels.why import CompareLandscapePanel, LossLandscapePanel

    for layout in (scene.layout, *scene.layouts.values()):
        for panel in layout.panels.values():
            if isinstance(panel, LossLandscapePanel):
                return CompareLandscapePanel(params=panel.params, labels=panel.labels, at_step=panel.at_step)
    return CompareLandscapePanel()


def _with_landscape(scene, joined: History, layout) -> History:
    """The comparison's post-training analyses (its landscape), with the scene's model and training data."""
    from .render import analysed
    from ..record.model import Evaluator, NetworkModel

    evaluator = Evaluator(NetworkModel(scene.network(scene.seed)), scene.x, scene.y, layout, loss=scene.loss)
    return analysed(joined, evaluator)


def compare(scene, vary: dict[str, Any] | list[str], *, executor: Executor | str | None = None,
            steps: int | None = None, every: int | None = None, seed: int | None = None, progress: bool = False,
            **options):
    """Train ``scene`` once per combination of ``vary`` and render them side by side.

    ``vary`` maps settings to values: ``{"optimizer": ["sgd", "adam:lr=0.01"]}``, ``{"lr": [0.01, 0.1]}``,
    ``{"seed": [0, 1, 2]}`` (several make a grid, at most 16 runs). Runs train as tasks on ``executor``: a
    local process pool by default, a :class:`concurrent.futures.Executor` of your own, or a Dask scheduler
    address ``"tcp://HOST:PORT"``. Outputs go to ``out/<scene>-compare-<what>/`` with each run's history under
    ``runs/``; the other keyword options are :func:`render`'s.
    """
    from .render import render
    from ..draw.panels.compare import comparison_layout
    from .scene import Scene

    if not isinstance(scene, Scene):
        raise VisualizerError(f"compare() takes a Scene, got {type(scene).__name__}")
    if scene.source is None:
        raise VisualizerError("compare() needs a scene loaded from a file (load_scene), so runs can load it "
                              "in other processes")
    if options.get("explain") is not None:
        raise VisualizerError("explain shows one run's step in slow motion: render the scene with it, not a "
                              "comparison")
    vary = parse_vary(vary)
    if seed is not None:
        if "seed" in vary:
            raise VisualizerError("seed is varied; do not also give one seed")
        scene = dataclasses.replace(scene, seed=seed)
    runs = combinations(vary)
    variants = [varied(scene, settings) for settings in runs]  # every run's settings checked before any training
    # The first run is checked as render checks a scene (its network, data, loss and layout, on a dry run),
    # so a mistake in the scene reads the same here, at once, not from inside a training process.
    from .render import preflight

    first = variants[0]
    preflight(first, first.steps if steps is None else steps, first.every if every is None else every, first.seed,
               first.layout, options.get("pace") or "change")
    labels = [label(s) for s in runs]
    name = f"{scene.name}-compare-{'-'.join(vary)}"
    source = Path(scene.source).read_bytes()
    with executor_for(executor, lambda: local_executor(len(runs))) as pool:
        base = {} if seed is None else {"seed": seed}
        futures = [pool.submit(train_run, str(scene.source), source, {**base, **s}, steps, every,
                               options.get("pace") or "change") for s in runs]
        histories = [_result(f, lab) for f, lab in zip(futures, labels)]
        if executor is None:  # the local pool trained; the render draws its own way (forked on Linux)
            close_executor(pool)
        joined = join_histories(histories, labels)
        layout = comparison_layout(scene.layout, joined, len(runs), landscape_panel(scene))
        joined = _with_landscape(scene, joined, layout)
        # A cluster (or an executor of the caller's) draws the comparison's chunks too.
        result = render(joined, layout=layout, name=name, title=f"{scene.title or scene.name}: "
                        f"{' vs '.join(labels) if len(labels) <= 4 else 'varying ' + ', '.join(vary)}",
                        progress=progress, executor=None if executor is None else pool, **options)
    # Each run's own history, in runs/: built aside and swapped in whole, so no run of an earlier comparison
    # stays beside this one's.
    import tempfile

    from ..outputs.png import swap_folder

    final = Path(result["history"]).parent / "runs"
    built = Path(tempfile.mkdtemp(prefix=".runs-", dir=final.parent))
    for k, (h, lab) in enumerate(zip(histories, labels)):
        safe = "".join(c if c.isalnum() or c in "._=-" else "_" for c in lab)
        h.save(built / f"{k:02d}-{safe}.npz")
        result[f"run{k}"] = final / f"{k:02d}-{safe}.npz"
    swap_folder(built, final)
    return result


__all__ = ["MAX_RUNS", "SETTINGS", "close_executor", "combinations", "compare", "dask_executor", "join_histories",
           "parse_vary", "run_history", "train_run"]
