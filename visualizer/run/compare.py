"""Comparisons: the same scene trained several ways, drawn side by side in one video.

``compare(scene, vary={"optimizer": ["sgd", "momentum", "adam"]})`` trains one run per combination of the
varied settings (at most 16), each a plain task on a :class:`concurrent.futures.Executor` (a local process
pool by default, or a Dask cluster's executor), then joins their histories into one whose rows are the shared
steps and draws the comparison layout: every run's losses overlaid, and the scene's main panel once per run on
identical axes.
"""
from __future__ import annotations

import itertools
import os
import signal
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..base.errors import VisualizerError
from .pipeline import close_executor, dask_executor, executor_for  # noqa: F401 - dask_executor: public here too
from ..record.history import History
from ..record.runs import join_histories, run_history  # noqa: F401 - public here too
from .variations import ARCHITECTURE, SHAPES, VARIATIONS, replaced

MAX_RUNS = 16
DIAGRAM_WIDEST = 32  # a diagram of wider layers is a block of lines: compare draws none of its own for them


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
    "optimizer": (str, lambda scene, v: replaced(scene, optimizer=_optimizer(scene, v))),
    "lr": (float, lambda scene, v: replaced(scene, optimizer=_with_lr(scene, v))),
    "seed": (int, lambda scene, v: replaced(scene, seed=v)),
    "batch_size": (lambda t: None if t.lower() in ("none", "full") else int(t),
                   lambda scene, v: replaced(scene, batch_size=v)),
    # The network's architecture (a scene whose network is an MLP), the penalty and the data's noise (a
    # scene whose data is a Data): see run/variations.py.
    **VARIATIONS,
}


def _positive_lr(value) -> None:
    from ..engine.optim import _check_rate

    _check_rate(value, "")


def _seed_value(value) -> None:
    from .options import _seed

    problem = _seed(value)
    if problem:
        raise ValueError(f"a seed {problem}")


def _batch_value(value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"a batch size must be a whole number of at least 1 (or full), got {value!r}")


# What a varied value must be, on the same rules as render's options and a scene file's settings: name ->
# check raising ValueError (a setting without an entry is checked when it is applied to the scene).
VALUE_RULES: dict[str, Callable[[Any], None]] = {"lr": _positive_lr, "seed": _seed_value, "batch_size": _batch_value}


def check_value(name: str, value: Any) -> None:
    """Refuse a varied value its setting does not take (``lr=nan``, ``seed=2**32``) with :class:`VisualizerError`,
    before any run trains."""
    rule = VALUE_RULES.get(name)
    if rule is None:
        return
    try:
        rule(value)
    except ValueError as exc:
        raise VisualizerError(f"vary {name}: {exc}") from None


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
                # a value given as a number or a bool (the API) is checked as its text would be
                text = str(v) if name in VARIATIONS and isinstance(v, (int, float, bool)) else v
                parsed.append(parse(text) if isinstance(text, str) else text)
            except VisualizerError as exc:  # the setting's own check: its message says what is wrong
                raise VisualizerError(str(exc) if str(exc).startswith(f"vary {name}") else f"vary {name}: {exc}") \
                    from None
            except ValueError:
                raise VisualizerError(f"vary {name}: cannot read {v!r}") from None
            check_value(name, parsed[-1])
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


def label(settings: dict[str, Any], scene=None) -> str:
    """How a run is named in titles and legends: every varied setting, e.g. ``adam lr=0.01`` or ``lr=0.1,
    seed=2``. With the ``scene``, a varied optimizer names the learning rate it runs with (the scene's,
    unless its spec gives one), so ``sgd lr=0.01`` beside ``adam lr=0.05`` shows the comparison's terms."""
    parts = []
    for name, value in settings.items():
        if name == "optimizer":
            text = str(value).replace(":", " ").replace(",", " ")
            if scene is not None and "lr" not in settings and "lr=" not in str(value):
                lr = getattr(_optimizer(scene, str(value)), "lr", None)
                text += f" lr={lr:g}" if isinstance(lr, (int, float)) else ""
            parts.append(text)
        else:
            parts.append(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}")
    return ", ".join(parts)


def settled(scene):
    """The scene with its test data held out once and for all: the settings' changes then keep that split
    (made with the scene's own seed, as a render of it makes it) instead of splitting the already split data
    again, and new data (``noise``) are split by the same fraction (see :func:`.variations.replaced`)."""
    return scene if getattr(scene, "test_fraction", None) is None else replaced(scene)


def applied(scene, settings: dict[str, Any]):
    """The scene with a run's settings applied (``SETTINGS``' changes, on the settled scene)."""
    return varied(settled(scene), settings)


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
        return train(applied(scene, settings), steps=steps, every=every, allow_divergence=True, pace=pace)
    except Exception as exc:  # noqa: BLE001 - classified as a render worker's are: the user's code, or ours
        raise worker_outcome(0, exc)[2] from None


def local_executor(runs: int) -> Executor:
    """A process pool sized to the cores: forked on Linux (nothing to import again), spawned where fork is
    not safe."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from .pipeline import available_cores, can_fork

    return ProcessPoolExecutor(max_workers=max(1, min(runs, available_cores())),
                               mp_context=mp.get_context("fork" if can_fork() else "spawn"),
                               initializer=_training_worker, initargs=(os.getpid(),))


def _training_worker(parent: int) -> None:
    """A local pool's training process: the signals are the main process's to handle (it stops the pool at
    once: SIGTERM, whose default ends a process that keeps no files), and the kernel ends it if the main
    process dies, even by SIGKILL (Linux), so no run trains on as an orphan."""
    from .pipeline import _die_with_parent

    for name in ("SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent, signal.SIGKILL)


def stop_training(pool: Executor, futures: list, owned: bool) -> None:
    """Stop a comparison's training now, not when its runs finish: the futures cancelled (a cluster's tasks
    are cancelled there), and the processes of a local pool of ours (``owned``) ended."""
    from .pipeline import stop_pool

    for future in futures:
        future.cancel()
    if owned and getattr(pool, "_processes", None) is not None:
        manager = getattr(pool, "_executor_manager_thread", None)  # the pool offers no public way
        stop_pool(pool)
        if manager is not None:  # it sees its processes gone and ends: no thread is left behind
            manager.join(timeout=5)


def _result(future, what: str) -> History:
    """A run's history; a worker that died (killed, out of memory) is one clear error, not a traceback."""
    from concurrent.futures.process import BrokenProcessPool

    from .pipeline import lost_by_cluster, spawn_hint

    try:
        return future.result()
    except BrokenProcessPool:
        raise VisualizerError(f"the process training run {what!r} stopped unexpectedly (killed, or out of "
                              f"memory{spawn_hint()}); nothing was written") from None
    except Exception as exc:
        lost = lost_by_cluster(exc, f"run {what!r}", "nothing was written")
        if lost is None:
            raise
        raise lost from None


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


def comparison(scene, first, vary: dict[str, list[Any]], histories: list[History], labels: list[str]):
    """(joined history, layout, title) of a comparison's trained runs: the small multiples as rows × columns
    of the varied settings, each run's own diagram when an architecture setting varies, the joint landscape
    where the runs share one parameter space (``first``: the first run's scene, whose data it is computed on).
    What ``compare`` renders and ``visualizer check`` lays out."""
    from ..draw.panels.compare import comparison_layout, diagram_panel, with_run_diagrams
    from ..record.runs import same_parameters

    joined = join_histories(histories, labels)
    # Runs with different parameters share no parameter space, and a landscape goes through dense layers
    # only: no landscape for them.
    plain = all(not h.info.other_layers for h in histories)
    landscape = landscape_panel(scene) if plain and same_parameters(histories) else None
    from ..draw.panels.layers import layer_stat_panel, with_run_layer_stats

    shape = [len(v) for v in vary.values()]
    # Each run shows its own network when an architecture setting varies: in the scene's diagram, or in a
    # plain one when the networks differ and the scene draws none (unless a layer is too wide to draw).
    diagram = diagram_panel(scene.layout)
    if diagram is None and joined.info.run_layers and max(
            (d["n_out"] for net in joined.info.run_layers for d in net["layers"]), default=0) <= DIAGRAM_WIDEST:
        from ..draw.panels import NetworkDiagramPanel

        diagram = NetworkDiagramPanel()
    # A scene with per-layer lines shows them once per run; they say what a diagram of the same shape would
    # (how each layer learns), so the diagrams stay only when the networks' shapes differ.
    stats = layer_stat_panel(scene.layout) is not None
    diagrams = diagram is not None and any(n in (SHAPES if stats else ARCHITECTURE) for n in vary)
    # Under a row of their own, the runs' main panels leave out what makes their legend long (a fit's
    # per-neuron lines), so they keep the height to be read.
    layout = comparison_layout(scene.layout, joined, len(histories), landscape, shape=shape,
                               brief=diagrams or stats, side=stats)
    if diagrams:
        # One width scale for every run's edges, so a thick edge is as large a weight in each diagram.
        # (a run that diverged keeps its own: its weights would shrink every other run's edges to hairs)
        if getattr(diagram, "show", None) == "weights":
            calm = [h for h in histories if h.info.diverged_at is None] or histories
            scale = max((float(np.max(np.abs(w[np.isfinite(w)]), initial=0.0)) for h in calm
                         for w in (h.layer_weight(lay) for lay in h.info.layers)), default=0.0)
            if scale > 0:
                import dataclasses

                diagram = dataclasses.replace(diagram, weight_scale=scale)
        layout = with_run_diagrams(layout, diagram, len(histories), shape)
    layout = with_run_layer_stats(layout, scene.layout, joined, shape)
    if landscape is not None:
        joined = _with_landscape(first, joined, layout)
    head, versus = scene.title or scene.name, " vs ".join(labels)  # the runs by name when that fits the line
    title = f"{head}: " + (versus if len(labels) <= 4 and len(head) + len(versus) <= 100 else
                           "varying " + ", ".join(vary))
    return joined, layout, title


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
    scene = settled(scene)
    # Resolved before the scene's code runs again (its network, in the checks below): see render().
    from .options import RenderOptions

    given, cwd = os.fspath(options.get("out") or RenderOptions.out), os.getcwd()
    options["out"] = os.path.join(cwd, given)
    if seed is not None:
        if "seed" in vary:
            raise VisualizerError("seed is varied; do not also give one seed")
        scene = replaced(scene, seed=seed)
    runs = combinations(vary)
    variants = [varied(scene, settings) for settings in runs]  # every run's settings checked before any training
    # The first run is checked as render checks a scene (its network, data, loss and layout, on a dry run),
    # so a mistake in the scene reads the same here, at once, not from inside a training process.
    from .render import preflight

    first = variants[0]
    preflight(first, first.steps if steps is None else steps, first.every if every is None else every, first.seed,
               first.layout, options.get("pace") or "change")
    labels = [label(s, scene) for s in runs]
    name = f"{scene.name}-compare-{'-'.join(vary)}"
    free_folder(options["out"], name)  # another comparison writing there: refused now, not after training
    source = Path(scene.source).read_bytes()
    with executor_for(executor, lambda: local_executor(len(runs))) as pool:
        base = {} if seed is None else {"seed": seed}
        futures = []
        try:
            futures.extend(pool.submit(train_run, str(scene.source), source, {**base, **s}, steps, every,
                                       options.get("pace") or "change") for s in runs)
            histories = [_result(f, lab) for f, lab in zip(futures, labels)]
        except BaseException:  # a signal, a lost run: the others stop now, not when they finish training
            stop_training(pool, futures, owned=executor is None)
            raise
        if executor is None:  # the local pool trained; the render draws its own way (forked on Linux)
            close_executor(pool)
        joined, layout, title = comparison(scene, first, vary, histories, labels)
        # Each run's own history goes to runs/, published with the video in one transaction: the folder never
        # holds one comparison's video beside another's runs.
        files = [f"{k:02d}-{''.join(c if c.isalnum() or c in '._=-' else '_' for c in lab)}.npz"
                 for k, lab in enumerate(labels)]
        # A cluster (or an executor of the caller's) draws the comparison's chunks too.
        result = render(joined, layout=layout, name=name, title=title,
                        progress=progress, executor=None if executor is None else pool,
                        runs=list(zip(files, histories)), **options)
    for k, file in enumerate(files):
        result[f"run{k}"] = result["runs"] / file
    if not os.path.isabs(given):  # the paths as the caller gave the folder: relative to where it was then
        for kind, path in result.items():
            result[kind] = Path(os.path.relpath(path, cwd))
        result.kept = {kind: Path(os.path.relpath(path, cwd)) for kind, path in result.kept.items()}
        result.manifest = Path(os.path.relpath(result.manifest, cwd))
    return result


def free_folder(out: str, name: str) -> None:
    """Refuse at once (:class:`~visualizer.base.errors.BusyError`) an output folder another render or
    comparison holds; the render takes the lock again to publish."""
    from .render import output_dir
    from ..outputs.transaction import OutputFolder

    with OutputFolder(output_dir(out, name), name):
        pass


__all__ = ["MAX_RUNS", "SETTINGS", "close_executor", "combinations", "compare", "comparison", "dask_executor",
           "join_histories", "parse_vary", "run_history", "train_run"]
