"""The Python API: ``train(scene) -> History`` and ``render(scene or history, ...) -> RenderResult``.

These are what the CLI calls and what a notebook uses. They raise :class:`VisualizerError` for bad input and
never print, except for tqdm progress bars on stderr when ``progress=True``. Keyword options are the command
line's option names (see :mod:`visualizer.run.options`).
"""
from __future__ import annotations

import base64
import copy
import math
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from ..base.errors import DivergenceError, Interrupt, OutputError, VisualizerError, output_problem, user_traceback
from ..outputs.transaction import MANIFEST
from ..record.model import Evaluator, NetworkModel
from ..engine.optim import Optimizer
from .options import RenderOptions
from ..draw.panels import Layout, default_layout
from ..record.history import History, Recorder, RunInfo
from ..record.names import all_param_names
from .scene import NAME_RE, Scene, SceneError
from ..engine.training import Trainer, TrainState, log_full_set

if TYPE_CHECKING:
    from concurrent.futures import Executor


class _NoBar:
    """What a progress bar that is not shown needs to do: nothing (and tqdm is not even imported)."""

    n = 0

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def update(self, n: int = 1) -> None:
        pass


def _tqdm():
    def bar(*args, disable: bool = False, **kwargs):
        if disable:
            return _NoBar()
        return _tqdm_class()(*args, **kwargs)

    return bar


def _tqdm_class():
    # tqdm.auto warns on import in a notebook without ipywidgets; the plain bar works everywhere.
    try:
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm import tqdm
    # Forked render workers must not inherit a half-held lock from tqdm's monitor thread: don't start one.
    tqdm.monitor_interval = 0
    return tqdm


def train(scene: Scene, *, steps: int | None = None, every: int | None = None, seed: int | None = None,
          progress: bool = False, allow_divergence: bool = False, layout: Layout | str | None = None,
          pace: str = "change") -> History:
    """Train the scene's network from its seed and return the recorded :class:`History`.

    The recorder is the public :class:`Recorder`; at every recorded step the data loss and the objective's
    gradient on the whole training set are logged into it (with the penalty, the test loss, accuracies and
    the optimizer's state when the scene has them: see :func:`~visualizer.engine.training.log_full_set`), and an
    :class:`Evaluator` records what the layout's panels need (the scene's layout, or ``layout``: a
    :class:`Layout` or the name of one of the scene's ``layouts``); after training, the layout's analyses (a
    loss landscape) run once and go into ``history.static``. The scene's optimizer is copied first, so a
    scene trains from the same start every time. A non-finite loss, parameter or gradient stops training
    with :class:`DivergenceError`, or with ``allow_divergence`` ends it there and returns the rows recorded
    before it (``info.diverged_at``).

    Steps 0, ``every``, 2·``every``, … and the last are recorded; for ``pace`` ``"change"`` or ``"log"`` (the
    frames a render will pick, see :mod:`visualizer.record.pace`) also as many log-spaced steps, so the first,
    fast steps of learning have rows for frames to be spaced by (:func:`~visualizer.run.options.record_schedule`).
    """
    from ..base import __version__
    from .options import record_schedule

    steps = scene.steps if steps is None else steps
    every = scene.every if every is None else every
    seed = scene.seed if seed is None else seed
    for name, value, low in (("steps", steps, 1), ("every", every, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise VisualizerError(f"{name} must be a whole number of at least {low}, got {value!r}")
    pace = _pace(pace)
    network = scene.network(seed)
    optimizer = copy.deepcopy(scene.optimizer)
    _check_objective(scene, network, optimizer, steps)
    model = NetworkModel(network)
    evaluator = Evaluator(model, scene.x, scene.y, _scene_layout(scene, layout), loss=scene.loss)
    info = RunInfo(scene=scene.name, title=scene.title, loss=scene.loss.name, loss_label=scene.loss.label,
                   loss_kind=scene.loss.kind, classes=scene.loss.n_classes(network.n_out),
                   penalty=" + ".join(p.describe() for p in scene.penalty),
                   total_steps=int(steps), every=int(every), seed=int(seed), optimizer=repr(optimizer),
                   batch_size=scene.batch_size, layers=model.layers(), other_layers=model.other_layers(),
                   input_names=list(scene.input_names), param_names=dict(scene.param_names), source="scene",
                   version=__version__)
    static = {} if scene.test is None else {"data/x_test": scene.test[0], "data/y_test": scene.test[1]}
    try:
        computed = evaluator(network.parameters())  # panels declare their needs now: a misfit fails before training
    except (ValueError, KeyError) as exc:
        raise VisualizerError(f"scene {scene.name!r}: {exc}") from None
    # The log-spaced steps take only the memory left beside the grid: pacing never makes a run too large.
    schedule = record_schedule(int(steps), int(every), pace, _values_per_row(network.parameters(), computed,
                                                                              optimizer, network, len(scene.x)))
    recorder = Recorder(schedule=schedule, total_steps=steps, evaluator=evaluator, info=info, static=static)
    trainer = Trainer(network, scene.x, scene.y, scene.loss, optimizer, steps,
                      batch_size=scene.batch_size, shuffle=scene.shuffle, sampler=scene.sampler,
                      rng=np.random.default_rng(seed), hook_every=every, penalties=scene.penalty,
                      hook_due=schedule.next_due if schedule.extra else None)
    lr = getattr(optimizer, "lr", None)
    lr_hint = f"; try a smaller learning rate than {lr:g}" if isinstance(lr, (int, float)) else \
        "; try a smaller learning rate"

    test = scene.test
    trainer.add_hook("start", lambda state: log_full_set(recorder, state, test))
    with _tqdm()(total=steps, desc=f"{scene.name}: training", unit="step", disable=not progress,
                 leave=False, mininterval=0.2) as bar:
        # One hook per step, doing almost nothing on steps that are not recorded: per-sample training runs a
        # million steps, and every call counts.
        def on_step(state: TrainState) -> None:
            if not math.isfinite(state.batch_loss):
                raise DivergenceError(f"training diverged at step {state.step - 1}: the loss became "
                                      f"{state.batch_loss}", step=state.step - 1)
            log_full_set(recorder, state, test)
            if progress:
                bar.update(state.step - bar.n)

        trainer.add_hook("step", on_step)
        from .pipeline import one_blas_thread

        try:
            # Overflow is how divergence starts; the divergence error says so in one line, so numpy need not.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"), one_blas_thread():
                trainer.run()
        except DivergenceError as exc:
            if not allow_divergence:
                raise DivergenceError(f"{exc}{lr_hint}, or allow divergence to render the steps before it",
                                      step=exc.step) from None
            if not len(recorder):
                raise DivergenceError(f"{exc}; nothing finite is left to render", step=exc.step) from None
            history = recorder.history()
            history.info.diverged_at = exc.step
            return analysed(history, evaluator)
    return analysed(recorder.history(), evaluator)


def _values_per_row(params: dict[str, np.ndarray], computed: dict[str, np.ndarray], optimizer,
                    network=None, samples: int = 0) -> int:
    """About how many numbers (of 8 bytes) a row of the history holds: the parameters and their gradients,
    what the panels asked for, the optimizer's state, a few losses and accuracies, and for a network with
    dropout or batch norm its masks (one byte per sample and unit) and batch statistics
    (:func:`~visualizer.engine.training.step_record_bytes`)."""
    from ..engine.training import step_record_bytes

    state = getattr(optimizer, "state", None)
    kept = state(params) if callable(state) else {}
    modes = 0 if network is None else step_record_bytes(network, samples)
    return (2 * sum(np.size(p) for p in params.values()) + _numbers(computed.values()) + _numbers(kept.values())
            + -(-modes // 8) + 8)


def _numbers(arrays: Iterable) -> int:
    """The arrays' bytes in numbers of 8 bytes (rounded up): a mask of bools is an eighth of its size."""
    return -(-sum(np.asarray(v).nbytes for v in arrays) // 8)


def _scene_layout(scene: Scene, layout: Layout | str | None) -> Layout:
    """``layout`` itself, or the scene's layout of that name, or the scene's own."""
    if isinstance(layout, str):
        try:
            return scene.layout_named(layout)
        except SceneError as exc:
            raise VisualizerError(str(exc)) from None
    return layout or scene.layout


def named_layout(scene: Scene | None, history: History | None, layout: str) -> tuple[Layout, History | None]:
    """(layout, history) for a layout given by name: the scene's layout of that name, or without a scene the
    why layout built from the history's layers (the history with what it lacks computed)."""
    if scene is None and layout == "why":
        from .why import why_for_history

        return why_for_history(history)
    if scene is None:
        raise VisualizerError(f"layout {layout!r} is a scene's layout by name: give the scene too")
    return _scene_layout(scene, layout), history


def analysed(history: History, evaluator: Evaluator) -> History:
    """The layout's post-training analyses (a loss landscape), run once with the model at hand."""
    try:
        history.static.update(evaluator.analyse(history))
    except (ValueError, KeyError) as exc:
        raise VisualizerError(f"scene {history.info.scene!r}: after training: {exc}") from None
    return history


def _check_objective(scene: Scene, network, optimizer, steps: int) -> None:
    """Refuse, before training, what would fail during it: targets that do not suit the loss on this
    network, penalties naming parameters it lacks, a learning-rate schedule with a bad value."""
    try:
        scene.loss.check_targets(scene.y, network.n_out)
        if scene.test is not None:
            try:
                scene.loss.check_targets(scene.test[1], network.n_out)
            except ValueError as exc:
                raise ValueError(f"test data: {exc}") from None
        params = network.parameters()
        for penalty in scene.penalty:
            penalty.names(params)
        if isinstance(optimizer, Optimizer) and callable(optimizer.lr):
            for k in range(optimizer.steps_taken, optimizer.steps_taken + steps):
                optimizer.lr_at(k)  # a schedule is a cheap function of the step: check every value now
    except ValueError as exc:
        raise SceneError(f"scene {scene.name!r}: {exc}") from None


def output_dir(out: str | Path, name: str) -> Path:
    """``out/<name>``, refusing an ``out`` that is a file."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise VisualizerError(f"output folder {out} is a file; give a folder path")
    target = out / name
    if target.exists() and not target.is_dir():
        raise VisualizerError(f"{target} is a file; remove it or choose another output folder")
    return target


def select_rows(history: History, *, every: int | None = None, max_frames: int | None = None,
                pace: str = "change", keep: Iterable[int] = ()) -> list[int]:
    """History rows to draw: as many as the rows on the grid of ``every`` (default: the run's recording
    interval), at most ``max_frames``, always the first and the last and the rows of the ``keep`` steps;
    spaced by ``pace``: along how much the run changes, in log steps, or evenly in steps
    (:func:`visualizer.record.pace.select_rows`)."""
    from ..record.pace import select_rows as paced

    return paced(history, pace=_pace(pace), every=every, max_frames=max_frames, keep=keep)


def _pace(pace: str) -> str:
    from ..record.pace import PACES

    if pace not in PACES:
        raise VisualizerError(f"unknown pace {pace!r}; use one of {', '.join(PACES)}")
    return pace


class RenderResult(dict):
    """The files a render wrote, by kind (``history``, ``mp4``, ``gif``, ``frames``, ``html``, ``pdf``, ``poster``,
    ``contact_sheet``). In Jupyter it shows the player (or the video, the GIF, the poster) inline, up to
    ``embed_limit`` bytes (beyond it, a link to the file), with the poster as a PNG for front ends that
    drop HTML. ``kept`` (kind → path) are outputs of the same history left from an earlier render,
    ``retired`` the names of outputs of an older history this render removed, ``manifest`` the folder's
    manifest, ``notes`` what the render changed of what was asked (a moment moved to the nearest recorded
    step, or left out), ``drawn_by`` the processes that drew its frames as ``(host, pid)`` pairs (a Dask
    cluster's workers, say) and ``processes`` how many they were."""

    embed_limit = 20 * 1024 * 1024  # as matplotlib's animation.embed_limit: 20 MB
    kept: dict[str, Path] = {}
    retired: list[str] = []
    manifest: Path | None = None
    notes: list[str] = []  # what the render changed of what was asked (a moment moved to a recorded step)
    drawn_by: list[tuple[str, int]] = []  # (host, pid) of each process that drew frames
    processes = 0

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        from ..outputs.formats import picture

        bundle = {"text/plain": "\n".join(f"{k}: {v}" for k, v in self.items())}
        png = picture({**self.kept, **self})
        if png:
            bundle["image/png"] = base64.b64encode(png).decode()
        html = self._repr_html_()
        if html:
            bundle["text/html"] = html
        return bundle

    def _repr_html_(self) -> str:
        from ..outputs.formats import notebook_view

        return notebook_view({**self.kept, **self}, self.embed_limit)


def _explained(history: History, scene: Scene | None, rows: list[int], steps: tuple[int, ...],
               fps: float, seconds: float) -> list[int]:
    """The frame keys: ``rows``, with the slow-motion sequence of each of ``steps`` before its row. What the
    sequences show for every sample is computed from the recorded parameters (with the scene's own
    activation functions and loss when there is a scene) and kept in ``history.static``."""
    if not steps:
        return rows
    from ..draw.explain import explain_analysis, explain_frames, missing_steps

    missing = missing_steps(history, steps)
    if missing:
        model = NetworkModel(scene.network(history.info.seed if history.info.seed is not None else scene.seed)) \
            if scene is not None else None
        history.static.update(explain_analysis(history, missing, model, scene.loss if scene else None))
    return explain_frames(history, rows, steps, fps, seconds)


class RenderInterrupted(Interrupt):
    """A signal (Ctrl-C, SIGTERM, SIGHUP) stopped a render. A render publishes all its outputs or none:
    ``published`` (kind → path) holds them all if the signal came as they were being published, else it is
    empty and ``folder`` is as it was. ``missing`` lists the outputs not published, ``stage`` what the render
    was doing, ``signum`` the signal. (``written`` is ``published``, its name before 0.3.)"""

    def __init__(self, published: dict[str, Path], missing: list[str], *, stage: str = "",
                 folder: Path | None = None, signum: int = signal.SIGINT) -> None:
        super().__init__(signum)
        self.published, self.missing, self.stage, self.folder = published, missing, stage, folder
        self.written = published

    def __reduce__(self):
        return (type(self), (self.published, self.missing), {"stage": self.stage, "folder": self.folder,
                                                              "signum": self.signum})


def preflight(scene: Scene, steps: int, every: int, seed: int, layout: Layout, pace: str = "change") -> None:
    """Everything about a scene that can fail, checked before training: the data against the network and
    the loss, the layout against what is recorded (a dry run of the renderer on step 0), and the memory the
    history will take. The scene's own code raising propagates as it is (the user's traceback)."""
    from .options import check_history_size

    for what, value, low in (("steps", steps, 1), ("every", every, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise VisualizerError(f"{what} must be a whole number of at least {low}, got {value!r}")
    network = scene.network(seed)
    model = NetworkModel(network)
    layers = model.layers()
    try:
        if layers:
            scene.loss.check_targets(scene.y, layers[-1].n_out)
        evaluator = Evaluator(model, scene.x, scene.y, layout, loss=scene.loss)
        evaluator.prepare()  # the data against the first layer, and what the panels ask for
        recorder = Recorder(every=1, total_steps=1, evaluator=evaluator,
                            info=RunInfo(scene=scene.name, loss=scene.loss.name, loss_label=scene.loss.label,
                                         total_steps=1, layers=layers, other_layers=model.other_layers(),
                                         input_names=list(scene.input_names),
                                         param_names=dict(scene.param_names)))
        # Two rows logged exactly as training logs them (penalty, test loss, accuracy, optimizer state),
        # so every panel is checked against what the run will really record.
        state = TrainState(0, 1, network, scene.loss, scene.x, scene.y, penalties=tuple(scene.penalty),
                           optimizer=copy.deepcopy(scene.optimizer))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for step in (0, 1):
                state.step = step
                log_full_set(recorder, state, scene.test)
    except DivergenceError:
        return  # non-finite from the start: training says so, with its hint
    except (ValueError, KeyError) as exc:
        raise _input_error(exc, f"scene {scene.name!r}: ") from None
    history = recorder.history()
    values = _numbers(v[0] for table in (history.params, history.grads, history.extras) for v in table.values())
    check_history_size(steps, every, values + len(history.losses), pace=_pace(pace))
    try:
        _dry_draw(layout, history)
    except (ValueError, KeyError) as exc:
        raise _input_error(exc, f"scene {scene.name!r}: its layout does not fit what the run records: ") from None


def _dry_draw(layout: Layout, history: History) -> None:
    """Have every panel set itself up on the history and update for its first and last rows, on a figure
    never drawn (the layout engine is what costs): a panel naming a parameter or layer the run does not
    record fails here."""
    from matplotlib.figure import Figure

    from ..draw.panels import Panel

    # Left to the collector afterwards, as the renderer's figure is (emptying it first only costs time).
    axes = Figure().subplot_mosaic(layout.mosaic, empty_sentinel=".", height_ratios=layout.height_ratios,
                                   width_ratios=layout.width_ratios)
    for key, panel in layout.panels.items():
        if type(panel).analyse is not Panel.analyse:
            continue  # it draws what is computed after training (a landscape): checked then
        update = panel.draw(axes[key], history)
        update(0)
        update(len(history) - 1)


def render(what: Scene | History, history: History | None = None, *, layout: Layout | str | None = None,
           name: str | None = None, title: str | None = None, progress: bool = False,
           executor: Executor | str | None = None, runs: list[tuple[str, History]] | None = None,
           **options) -> RenderResult:
    """Write a run's outputs under ``out/<name>/``: train a scene first, or draw a given history.

    ``render(scene)`` trains and renders; ``render(scene, history)`` draws a history with the scene's layout;
    ``render(history)`` draws a history on its own, with ``layout`` or a default chosen from what it holds.
    ``layout`` may name one of the scene's layouts (``layout="why"``; a history on its own gets a why layout
    built from its layers, what it did not record computed from its parameters and data). ``name`` (default: the scene's, with
    ``-<layout>`` for a named layout, else ``run``; see :func:`output_name`) names the output folder.
    ``explain=[300]`` shows those recorded steps in slow motion before their frames (``explain_seconds`` per
    stage), in a folder of its own: ``<scene>-explain``, ``<scene>-why-explain`` with ``layout="why"``.
    ``moment=["250: it separates"]`` (or ``{250: "..."}``, with the scene's ``moments`` and a ``captions``
    file) slows the video down around those steps, holds there ``moment_hold`` seconds and captions them
    (``<name>.vtt``, a subtitle track in the MP4, the player's captions and chapters; ``burn_captions=True``
    draws them into the frames); ``result.notes`` says which moments moved to the nearest recorded step or
    were left out. The other keyword options are the command line's (``format="mp4,gif"``, ``size=(1280,
    720)``, ``fps``, ``every``, ``max_frames``, ``pace``, ``hold``,
    ``last_frame``, ``gif_fps``, ``gif_width``, ``jobs``, ...; see :class:`RenderOptions`). Options left as
    ``None`` fall back to the scene's own settings, then to the defaults. Every render also writes
    ``poster.png`` (the last frame) and ``contact_sheet.png`` (evenly spaced frames labelled with their step).

    A render is one transaction (see :mod:`visualizer.outputs.transaction`): everything, the history included, is built in
    a private staging folder and published together only when complete, so the folder holds one run's
    outputs; ``manifest.json`` says which history and options made each. The same history rendered in
    another format keeps the other outputs; a new history retires them. Another render of the same folder at
    the same time is refused (:class:`~visualizer.base.errors.BusyError`); a signal raises
    :class:`RenderInterrupted` saying what was published (everything, or nothing).

    Frames are drawn in ``jobs`` chunks at once (default: one per core): by forked processes on Linux, by
    spawned ones elsewhere. ``executor`` (a :class:`concurrent.futures.Executor`, or a Dask scheduler's
    address ``"tcp://HOST:PORT"``) draws every chunk as a task there instead; the encoded pieces come back
    and are joined here. ``result.processes`` says how many processes drew frames.

    ``runs`` (a comparison's, from :func:`~visualizer.run.compare.compare`: (file name, history) each) are
    published in ``runs/`` with the rest, in the same transaction.
    """
    from .options import check_dpi

    if "formats" in options:  # the keyword before 0.2 (the CLI's name is --format)
        options["format"] = options.pop("formats")
    try:
        opts = RenderOptions(**options).checked()
    except TypeError as exc:
        raise VisualizerError(f"render() got an unknown option: {exc}") from None
    scene = what if isinstance(what, Scene) else None
    if scene is None:
        if not isinstance(what, History):
            raise VisualizerError(f"render() takes a Scene or a History, got {type(what).__name__}")
        if history is not None:
            raise VisualizerError("give render() one history")
        history = what
    if history is not None:
        history.check()
    if history is not None and (opts.steps is not None or opts.seed is not None):
        raise VisualizerError("steps and seed change training; a history is already trained")
    named = layout if isinstance(layout, str) and layout != "default" else None
    if isinstance(layout, str):
        layout, history = named_layout(scene, history, layout)
    name = name or output_name(scene, history, named, bool(opts.explain_steps))
    if not NAME_RE.match(name):
        raise VisualizerError(f"output name {name!r} must be letters, digits, '_', '-' or '.', not starting with '.'")
    size = opts.frame_size(scene.size if scene else None)
    check_dpi(opts.dpi, size)
    from .pipeline import executor_for

    with executor_for(executor) as pool:
        return _render(scene, history, layout, named, name, title, progress, opts, size, pool, runs or [])


def output_name(scene: Scene | None, history: History | None, layout: str | None, explain: bool) -> str:
    """The output folder's name when none is given: the scene's (else the one its history names, else
    ``run``), then ``-<layout>`` for a layout by name and ``-explain`` when steps are explained, so
    ``softplus_fit-why-explain`` never touches the plain render's ``softplus_fit``."""
    base = (scene.name if scene else history.info.scene or "run") + (f"-{layout}" if layout else "")
    return base + ("-explain" if explain else "")


def _render(scene: Scene | None, history: History | None, layout: Layout | None, named: str | None, name: str,
            title: str | None, progress: bool, opts: RenderOptions, size: tuple[int, int],
            executor: Executor | None, runs: list[tuple[str, History]] = ()) -> RenderResult:
    from ..base.files import sha256_file
    from ..draw.explain import ExplainFrame
    from ..draw.titlecard import TitleCard
    from ..outputs.formats import finishing, known_outputs, making
    from ..outputs.handout import HANDOUT_PAGES
    from ..outputs.output import Job, Output
    from ..outputs.transaction import OutputFolder, pause_point
    from .pipeline import available_cores, executor_size, render_outputs

    fps = opts.frame_rate(scene.fps if scene else None)
    target = output_dir(opts.out, name)
    # The folder's full path is fixed now, before the scene's code runs (its network, in the checks and in
    # training): a scene that changes the working folder (os.chdir) does not move the outputs.
    folder = OutputFolder(target, name)
    title = title if title is not None else (scene.title if scene else history.info.title)
    files = known_outputs(name)
    if runs and "runs" not in files:
        raise VisualizerError(f"only a comparison publishes runs; {name!r} is not a comparison's folder")
    # (format, published): what was asked for, what every render makes, what they need
    plan = making(opts.formats + (("runs",) if runs else ()))
    # What the frames will show is known once the history is: filled in then.
    job = Job(name=name, title=title, size=size, dpi=opts.dpi, fps=fps, hold=opts.hold,
              hold_frames=round(opts.hold * fps), every=opts.every, max_frames=opts.max_frames,
              gif_fps=opts.gif_rate(fps), gif_width=opts.gif_size_width(size), last_frame=opts.last_frame,
              pace=opts.pace, pages=opts.pages or HANDOUT_PAGES, title_card=opts.title_frames(fps) / fps,
              runs=list(runs), preset=opts.drawn_as)
    kinds = [kind for fmt, public in plan if public for kind in fmt.kinds(job)]
    renderer = None
    explain = opts.explain_steps
    moments = {} if opts.last_frame else opts.moments(scene.moments if scene else None)
    notes: list[str] = []
    if history is None:
        layout = layout or scene.layout
        preflight(scene, scene.steps if opts.steps is None else opts.steps,
                   scene.every if opts.every is None else opts.every, scene.seed if opts.seed is None else opts.seed,
                   layout, opts.pace)
    else:
        layout = layout or (scene.layout if scene else default_layout(history))
        rows = select_rows(history, every=opts.every, max_frames=opts.max_frames, pace=opts.pace, keep=moments)
        rows, frames, marks, notes = _timeline(history, scene, rows, explain, fps, opts, moments)
        renderer = _renderer(layout, history, size, opts.dpi, title, name, explain,
                             _burned(history, frames, marks, job, opts), opts.title_card, opts.drawn_as)
    stage = "starting"
    stages = StageBar(name, progress, [fmt.stage for fmt, _ in plan if fmt.stage is not None])

    def at(now: str) -> None:
        nonlocal stage
        stage = now
        stages.show(now)
        pause_point(now)

    try:
        try:
            with folder:
                folder.check_names([files[k] for k in kinds])
                if history is None:
                    at("training")
                    history = train(scene, steps=opts.steps, every=opts.every, seed=opts.seed, progress=progress,
                                    allow_divergence=opts.allow_divergence, layout=layout, pace=opts.pace)
                    rows = select_rows(history, max_frames=opts.max_frames, pace=opts.pace, keep=moments)
                    rows, frames, marks, notes = _timeline(history, scene, rows, explain, fps, opts, moments)
                    renderer = _renderer(layout, history, size, opts.dpi, title, name, explain,
                                         _burned(history, frames, marks, job, opts), opts.title_card, opts.drawn_as)
                if opts.last_frame:
                    rows = rows[-1:]
                stage = "drawing"
                # A row's place among the frames: explain frames come before their row, and an explained step
                # the selection skipped comes in as a row of its own.
                at_row: dict[int, int] = {}
                for p, key in enumerate(frames):
                    if not isinstance(key, (ExplainFrame, TitleCard)):
                        at_row.setdefault(int(key), p)  # a held row: its first frame
                job.history, job.frame_steps = history, [int(history.steps[key]) for key in frames]
                job.param_names = all_param_names(history)
                job.row_positions = [at_row[r] for r in rows]
                job.handout = handout_drawer(renderer, history, name)
                outputs: dict[str, Output] = {}
                for fmt, public in plan:  # unpublished (the player's video when no MP4 was asked for): in work/
                    paths = {kind: folder.staged(file) if public else folder.work / file
                             for kind, file in fmt.files(name).items()}
                    outputs[fmt.name] = Output(fmt, paths.get(fmt.name, folder.work / fmt.name), fmt.settings(job),
                                               paths)
                for output in outputs.values():
                    if output.format.first:  # the history: written before any frame
                        output.finish(job, outputs)
                drawing = [o for o in outputs.values() if o.format.draws]
                drawn, hold = only_needed(drawing, frames), job.hold_frames
                if drawn is not frames:  # no video: only the frames the stills keep, no hold
                    hold = 0
                with _tqdm()(total=len(drawn), desc=f"{name}: drawing and encoding frames", unit="frame",
                             disable=not progress, leave=False, mininterval=0.2) as bar:
                    jobs = opts.jobs or (executor and executor_size(executor)) or available_cores()
                    # The poster alone (--last-frame) is drawn here, never sent to an executor.
                    processes = render_outputs(renderer, drawn, drawing, folder.work, fps=fps, jobs=jobs,
                                               hold_frames=hold, on_frames=bar.update,
                                               executor=None if opts.last_frame else executor)
                for output in finishing([o for o in outputs.values() if not o.format.first]):
                    if output.format.stage is not None and output.format.stage.name != stage:
                        at(output.format.stage.name)
                    output.finish(job, outputs)
                stage = "publishing"
                stages.show(stage)
                made = {kind: (files[kind], fmt.manifest(kind, job)) for fmt, public in plan if public
                        for kind in fmt.kinds(job)}
                published = folder.commit(made, sha256_file(folder.staged(files["history"])))
                stages.close()
        finally:
            stages.close()
            if renderer is not None:
                renderer.close()
        result = RenderResult(published.written)
        result.kept, result.retired, result.manifest = published.kept, published.retired, target / MANIFEST
        result.drawn_by = processes
        result.processes = len(processes)
        result.notes = notes
    except KeyboardInterrupt as exc:
        done = folder.result.written if folder.published else {}
        raise RenderInterrupted(done, [k for k in kinds if k not in done], stage=stage, folder=target,
                                signum=getattr(exc, "signum", signal.SIGINT)) from None
    except OSError as exc:
        problem = output_problem(exc, target)
        if problem is None:
            raise
        if folder.committed and not folder.published:
            problem = OutputError(f"{problem}; the publish stopped half-way: the next render into this folder "
                                  "completes it")
        raise problem from None
    return result


RENDER_STAGES = {"starting": "starting", "training": "training", "drawing": "drawing frames",
                 "publishing": "publishing"}  # a render's own stages, around its formats' (what each is doing)


def stage_doing(stage: str) -> str:
    """What a render at ``stage`` is doing, as "interrupted while ..." says it."""
    from ..outputs.formats import stages

    return {**RENDER_STAGES, **{s.name: s.doing for s in stages()}}.get(stage, stage)


class StageBar:
    """On a terminal, after the frames' own bar: a bar naming each later stage of a render (its formats'
    stages, such as joining the video pieces, the GIF, the player, the stills; then publishing) as it starts,
    so nothing sits silently at 100 %."""

    def __init__(self, name: str, progress: bool, stages: list = ()) -> None:
        ordered = sorted(set(stages), key=lambda s: s.order)
        self.names = {**{s.name: s.shown for s in ordered}, "publishing": "publishing"}
        self.name, self.progress, self.bar = name, progress, None

    def show(self, stage: str) -> None:
        """``stage`` has started (training and drawing have bars of their own)."""
        if not self.progress or stage not in self.names:
            return
        if self.bar is None:
            self.bar = _tqdm()(total=len(self.names), leave=False, mininterval=0,
                               bar_format="{desc}: stage {n_fmt}/{total_fmt} |{bar}| {elapsed}")
        self.bar.set_description_str(f"{self.name}: {self.names[stage]}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        """The render is published."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _frames(history: History, scene: Scene | None, rows: list[int], explain: tuple[int, ...], fps: float,
            last_frame: bool, seconds: float) -> list[int]:
    """The frame keys to draw: the rows, with slow-motion sequences before the explained steps."""
    if last_frame:
        return rows[-1:]
    try:
        return _explained(history, scene, rows, explain, fps, seconds)
    except (ValueError, KeyError) as exc:
        raise _input_error(exc, "cannot explain: ") from None


def _timeline(history: History, scene: Scene | None, rows: list[int], explain: tuple[int, ...], fps: float,
              opts: RenderOptions, moments: dict[int, str]) -> tuple[list[int], list[int], dict[int, str], list[str]]:
    """(rows, frame keys, moment rows → caption, notes): the title card held, then the rows slowed down around
    the moments, the explained steps' sequences, the moments held (see :mod:`visualizer.run.moments`)."""
    from ..draw.titlecard import TitleCard
    from .moments import held, moment_rows, slowed

    card = [TitleCard()] * opts.title_frames(fps)  # the title card first, held (--title-card)
    if opts.last_frame or not moments:
        return rows, card + _frames(history, scene, rows, explain, fps, opts.last_frame, opts.stage_seconds), {}, []
    marks, notes = moment_rows(history.steps, moments)
    rows = slowed(rows, history.steps, marks, opts.max_frames)
    frames = held(_frames(history, scene, rows, explain, fps, False, opts.stage_seconds), marks,
                  round(opts.moment_hold * fps))
    return rows, card + frames, marks, notes


STAGE_NAMES = {"forward": "forward pass", "loss": "loss", "backward": "backward pass", "update": "update"}


def _captions(history: History, frames: list[int], marks: dict[int, str], job, opts: RenderOptions) -> list:
    """The cues of the video: the moments' captions and the explained steps' stage names."""
    from ..draw.explain import norm_columns, phases
    from .moments import cues, stage_cues

    steps = [int(history.steps[key]) for key in frames]
    kinds = phases(len(history.info.layers), norms=norm_columns(history)) if opts.explain_steps else []
    stages = stage_cues(frames, steps, lambda key: STAGE_NAMES.get(kinds[key.phase].kind, kinds[key.phase].kind))
    return cues(frames, marks, job.fps, round(opts.moment_hold * job.fps), len(frames) + job.hold_frames, stages)


def _burned(history: History, frames: list[int], marks: dict[int, str], job, opts: RenderOptions) -> dict:
    """The render's captions on its ``job`` (:attr:`Job.moments`, :attr:`Job.cues`), and what the frames
    show of them with ``burn_captions``: frame identity (row, explain frame index) → caption."""
    job.moments = [(int(history.steps[row]), text) for row, text in marks.items()]
    job.cues = [] if opts.last_frame else _captions(history, frames, marks, job, opts)
    if not opts.burn_captions:
        return {}
    shown = {}
    for cue in job.cues:
        for key in frames[cue.start:cue.end]:
            shown.setdefault((int(key), getattr(key, "index", -1)), cue.text)
    return shown


def only_needed(drawing: list, frames: list) -> list:
    """The frames to draw for the ``drawing`` outputs: ``frames`` itself when one of them needs every frame
    (a video, the PNG frames), else only those they need (a handout with the stills alone), each output told
    where its frames sit in the whole (``settings["drawn_at"]``)."""
    wanted = [output.format.positions(output) for output in drawing]
    if not drawing or any(w is None for w in wanted):
        return frames
    shown = sorted(set().union(*wanted))
    for output in drawing:
        output.settings["drawn_at"] = shown
    return [frames[p] for p in shown]


def handout_drawer(renderer, history: History, name: str):
    """What draws a render's handout for its format (outputs draw no figures): pages given as (recorded
    step, caption), drawn as vector pages by :func:`visualizer.draw.handout.write_handout`."""
    def draw(pages: list[tuple[int, str]], path: Path) -> None:
        from ..draw.handout import write_handout

        rows = np.searchsorted(history.steps, [step for step, _ in pages])
        write_handout(renderer, [(int(row), caption) for row, (_, caption) in zip(rows, pages)], path, footer=name)

    return draw


def _renderer(layout: Layout, history: History, size: tuple[int, int], dpi: float | None, title: str, name: str,
              explain: tuple[int, ...] = (), captions: dict | None = None, title_card: bool = False,
              preset: str = "default", pixels: bool = True):
    from ..draw.renderer import Renderer

    for key, values in history.losses.items():
        if np.ndim(values) != 1:  # a foreign file: panels read one number per recorded step
            raise VisualizerError(f"cannot draw {name!r} from this history: its loss {key!r} has shape "
                                  f"{np.shape(values)}, not one number per recorded step")
    try:
        return Renderer(layout, history, size=size, dpi=dpi, title=title, explain=explain, captions=captions,
                        title_card=title_card, preset=preset, pixels=pixels)
    except KeyError as exc:
        if user_traceback(exc) is not None:
            raise
        raise VisualizerError(f"cannot draw {name!r} from this history: {_missing(layout, history, exc)}") from None
    except ValueError as exc:
        raise _input_error(exc, f"cannot draw {name!r} from this history: ") from None


def _missing(layout: Layout, history: History, exc: KeyError) -> str:
    """What a history lacks, in the user's terms: the record (a bare key means nothing to them) and which of
    the layout's panels needed it (found by setting each up alone, on a figure never drawn)."""
    from matplotlib.figure import Figure

    key = str(exc.args[0]) if exc.args else "?"
    if " " in key:  # a message of ours already ("no param 'x' in history; it has [...]")
        return key
    needed = ""
    for panel_key, panel in layout.panels.items():
        try:
            panel.draw(Figure().add_subplot(), history)
        except KeyError as again:
            if again.args[:1] == exc.args[:1]:
                needed = f", which the layout's panel {panel_key!r} ({type(panel).__name__}) draws from"
                break
        except Exception:  # noqa: BLE001 - only the panel that lacks this key is looked for
            continue
    return (f"it has no {key!r} record{needed}; it was recorded for another layout, or is incomplete: draw it with the layout "
            "it was recorded with, or with none (a default layout chosen from what it holds)")


def _input_error(exc: Exception, prefix: str) -> VisualizerError:
    """A ValueError or KeyError met while checking the user's input, as one line; raised by the user's own
    code (a panel, an activation), it stays as it is, so they see their traceback."""
    if user_traceback(exc) is not None:
        raise exc
    reason = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)  # no KeyError quotes
    return VisualizerError(prefix + reason)


__all__ = ["RenderInterrupted", "RenderResult", "render", "select_rows", "train"]
