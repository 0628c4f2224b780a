"""The Python API: ``train(scene) -> History`` and ``render(scene or history, ...) -> RenderResult``.

These are what the CLI calls and what a notebook uses. They raise :class:`VisualizerError` for bad input and
never print, except for tqdm progress bars on stderr when ``progress=True``. Keyword options are the command
line's option names (see :mod:`visualizer.options`).
"""
from __future__ import annotations

import base64
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .errors import DivergenceError, VisualizerError
from .files import remove_leftovers
from .model import Evaluator, NetworkModel
from .options import RenderOptions
from .panels import Layout, default_layout
from .record import History, Recorder, RunInfo
from .scene import NAME_RE, Scene
from .training import Trainer, TrainState, log_full_set


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
        from tqdm.auto import tqdm

        # Forked render workers must not inherit a half-held lock from tqdm's monitor thread: don't start one.
        tqdm.monitor_interval = 0
        return tqdm(*args, **kwargs)

    return bar


def train(scene: Scene, *, steps: int | None = None, every: int | None = None, seed: int | None = None,
          progress: bool = False, allow_divergence: bool = False) -> History:
    """Train the scene's network from its seed and return the recorded :class:`History`.

    The recorder is the public :class:`Recorder`; at every recorded step the loss and gradient on the whole
    training set are logged into it, and an :class:`Evaluator` records what the layout's panels need. A
    non-finite loss, parameter or gradient stops training with :class:`DivergenceError`, or with
    ``allow_divergence`` ends it there and returns the rows recorded before it (``info.diverged_at``).
    """
    from . import __version__

    steps = scene.steps if steps is None else steps
    every = scene.every if every is None else every
    seed = scene.seed if seed is None else seed
    for name, value, low in (("steps", steps, 1), ("every", every, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise VisualizerError(f"{name} must be a whole number of at least {low}, got {value!r}")
    network = scene.network(seed)
    model = NetworkModel(network)
    evaluator = Evaluator(model, scene.x, scene.y, scene.layout)
    info = RunInfo(scene=scene.name, title=scene.title, loss=scene.loss.name, loss_label=scene.loss.label,
                   total_steps=int(steps), every=int(every), seed=int(seed), optimizer=repr(scene.optimizer),
                   batch_size=scene.batch_size, layers=model.layers(), input_names=list(scene.input_names),
                   source="scene", version=__version__)
    recorder = Recorder(every=every, total_steps=steps, evaluator=evaluator, info=info)
    try:
        evaluator(network.parameters())  # panels declare their needs now: a misfit fails before training
    except (ValueError, KeyError) as exc:
        raise VisualizerError(f"scene {scene.name!r}: {exc}") from None
    trainer = Trainer(network, scene.x, scene.y, scene.loss, scene.optimizer, steps,
                      batch_size=scene.batch_size, shuffle=scene.shuffle, sampler=scene.sampler,
                      rng=np.random.default_rng(seed), hook_every=every)
    lr = getattr(scene.optimizer, "lr", None)
    lr_hint = f"; try a smaller learning rate than {lr:g}" if isinstance(lr, (int, float)) else \
        "; try a smaller learning rate"
    trainer.add_hook("start", lambda state: log_full_set(recorder, state))
    with _tqdm()(total=steps, desc=f"{scene.name}: training", unit="step", disable=not progress,
                 leave=False, mininterval=0.2) as bar:
        # One hook per step, doing almost nothing on steps that are not recorded: per-sample training runs a
        # million steps, and every call counts.
        def on_step(state: TrainState) -> None:
            if not math.isfinite(state.batch_loss):
                raise DivergenceError(f"training diverged at step {state.step - 1}: the loss became "
                                      f"{state.batch_loss}", step=state.step - 1)
            log_full_set(recorder, state)
            if progress:
                bar.update(state.step - bar.n)

        trainer.add_hook("step", on_step)
        try:
            # Overflow is how divergence starts; the divergence error says so in one line, so numpy need not.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                trainer.run()
        except DivergenceError as exc:
            if not allow_divergence:
                raise DivergenceError(f"{exc}{lr_hint}, or allow divergence to render the steps before it",
                                      step=exc.step) from None
            if not len(recorder):
                raise DivergenceError(f"{exc}; nothing finite is left to render", step=exc.step) from None
            history = recorder.history()
            history.info.diverged_at = exc.step
            return history
    return recorder.history()


def output_dir(out: str | Path, name: str) -> Path:
    """``out/<name>``, refusing an ``out`` that is a file."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise VisualizerError(f"output folder {out} is a file; give a folder path")
    target = out / name
    if target.exists() and not target.is_dir():
        raise VisualizerError(f"{target} is a file; remove it or choose another output folder")
    return target


def select_rows(history: History, *, every: int | None = None, max_frames: int | None = None) -> list[int]:
    """History rows to draw: rows whose step is a multiple of ``every`` (plus the last), then at most
    ``max_frames`` of those, evenly spaced, always keeping the first and the last."""
    rows = np.arange(len(history))
    if every:
        keep = (history.steps % every == 0)
        keep[-1] = True
        rows = rows[keep]
    if max_frames and len(rows) > max_frames:
        picks = np.unique(np.round(np.linspace(0, len(rows) - 1, max_frames)).astype(int))
        rows = rows[picks]
    return [int(r) for r in rows]


class RenderResult(dict):
    """The files a render wrote, by kind (``history``, ``mp4``, ``gif``, ``frames``, ``poster``,
    ``contact_sheet``); in Jupyter it shows the video (or GIF, or poster) inline."""

    def _repr_html_(self) -> str:
        if "mp4" in self:
            data = base64.b64encode(Path(self["mp4"]).read_bytes()).decode()
            return f'<video controls loop autoplay muted style="max-width:100%" src="data:video/mp4;base64,{data}">'
        for kind, mime in (("gif", "image/gif"), ("poster", "image/png")):
            if kind in self:
                data = base64.b64encode(Path(self[kind]).read_bytes()).decode()
                return f'<img style="max-width:100%" src="data:{mime};base64,{data}">'
        return "<pre>" + "\n".join(f"{k}: {v}" for k, v in self.items()) + "</pre>"


def _player(path: Path, video: Path, history: History, rows: list[int], fps: float, hold_frames: int,
            title: str) -> Path:
    from .player import write_player

    steps = [int(history.steps[r]) for r in rows]
    return write_player(path, video=video, title=title, fps=fps, frame_steps=steps + steps[-1:] * hold_frames,
                        table_steps=history.steps, losses=history.losses, params=history.params,
                        grads=history.grads, total_steps=history.total_steps)


class RenderInterrupted(KeyboardInterrupt):
    """Ctrl-C during a render: ``written`` holds the outputs completed before it, ``missing`` the rest."""

    def __init__(self, written: dict[str, Path], missing: list[str]) -> None:
        super().__init__("interrupted")
        self.written, self.missing = written, missing


def render(what: Scene | History, history: History | None = None, *, layout: Layout | None = None,
           name: str | None = None, title: str | None = None, progress: bool = False,
           **options) -> RenderResult:
    """Write a run's outputs under ``out/<name>/``: train a scene first, or draw a given history.

    ``render(scene)`` trains and renders; ``render(scene, history)`` draws a history with the scene's layout;
    ``render(history)`` draws a history on its own, with ``layout`` or a default chosen from what it holds.
    ``name`` (default: the scene's, else ``run``) names the output folder. The other keyword options are the
    command line's (``format="mp4,gif"``, ``size=(1280, 720)``, ``fps``, ``every``, ``max_frames``, ``hold``,
    ``last_frame``, ``gif_fps``, ``gif_width``, ``jobs``, ...; see :class:`RenderOptions`). Options left as
    ``None`` fall back to the scene's own settings, then to the defaults. Every render also writes
    ``poster.png`` (the last frame) and ``contact_sheet.png`` (evenly spaced frames labelled with their step).
    """
    from .encode import Output
    from .pipeline import available_cores, render_outputs
    from .renderer import Renderer
    from .sheet import contact_sheet, save_png

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
    if history is not None and (opts.steps is not None or opts.seed is not None):
        raise VisualizerError("steps and seed change training; a history is already trained")
    name = name or (scene.name if scene else history.info.scene) or "run"
    if not NAME_RE.match(name):
        raise VisualizerError(f"output name {name!r} must be letters, digits, '_', '-' or '.', not starting with '.'")
    size = opts.frame_size(scene.size if scene else None)
    fps = opts.frame_rate(scene.fps if scene else None)
    formats = opts.formats
    target = output_dir(opts.out, name)
    remove_leftovers(target)
    if history is None:
        history = train(scene, steps=opts.steps, every=opts.every, seed=opts.seed, progress=progress,
                        allow_divergence=opts.allow_divergence)
        rows = select_rows(history, max_frames=opts.max_frames)
    else:
        rows = select_rows(history, every=opts.every, max_frames=opts.max_frames)
    if opts.last_frame:
        rows = rows[-1:]
    layout = layout or (scene.layout if scene else default_layout(history))
    title = title if title is not None else (scene.title if scene else history.info.title)
    try:
        renderer = Renderer(layout, history, size=size, dpi=opts.dpi, title=title)
    except (ValueError, KeyError) as exc:
        raise VisualizerError(f"cannot draw {name!r} from this history: {exc}") from None
    target.mkdir(parents=True, exist_ok=True)
    written = RenderResult()
    work = Path(tempfile.mkdtemp(prefix=f".render-{os.getpid()}-", dir=target))
    try:
        written["history"] = history.save(target / "history.npz")
        digits = max(5, len(str(int(history.steps[-1]))))
        from .encode import WRITERS

        frame_formats = [f for f in formats if f in WRITERS]
        if "html" in formats and "mp4" not in frame_formats:
            frame_formats.insert(0, "mp4")  # the player embeds the video: make one, privately
        outputs = [Output(fmt, (target if fmt in formats else work) / WRITERS[fmt].filename(name), digits=digits,
                          gif_fps=opts.gif_rate(fps), gif_width=opts.gif_size_width(size)) for fmt in frame_formats]
        hold_frames = round(opts.hold * fps)
        if outputs:
            with _tqdm()(total=len(rows), desc=f"{name}: rendering", unit="frame", disable=not progress,
                         leave=False, mininterval=0.2) as bar:
                render_outputs(renderer, rows, outputs, work, fps=fps, jobs=opts.jobs or available_cores(),
                               hold_frames=hold_frames, on_frames=bar.update)
            written.update({output.kind: output.path for output in outputs if output.kind in formats})
        if "html" in formats:
            written["html"] = _player(target / f"{name}.html", outputs[0].path, history, rows, fps, hold_frames,
                                      title or name)
        written["poster"] = save_png(renderer.draw(rows[-1]), target / "poster.png")
        if not opts.last_frame:
            written["contact_sheet"] = contact_sheet(renderer, rows, target / "contact_sheet.png")
    except KeyboardInterrupt:
        raise RenderInterrupted(written, [k for k in (*formats, "poster", "contact_sheet") if k not in written])
    finally:
        renderer.close()
        shutil.rmtree(work, ignore_errors=True)
    return written


__all__ = ["RenderInterrupted", "RenderResult", "render", "select_rows", "train"]
