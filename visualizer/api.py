"""The Python API: ``train(scene) -> History`` and ``render(scene, ...) -> {format: path}``.

These are what the CLI calls and what a notebook uses. They raise :class:`VisualizerError` for bad input and
never print, except for tqdm progress bars on stderr when ``progress=True``.
"""
from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import __version__
from .encode import Output
from .errors import DivergenceError, VisualizerError
from .record import History, Recorder
from .render import Renderer, available_cores, render_outputs
from .scene import Scene
from .train import Trainer, TrainState

# Forked render workers must not inherit a half-held lock from tqdm's monitor thread: don't start one.
tqdm.monitor_interval = 0

FORMATS = ("mp4", "gif", "frames")
DEFAULT_SIZE = (1280, 720)
DEFAULT_FPS = 30


def train(scene: Scene, *, steps: int | None = None, every: int | None = None, seed: int | None = None,
          progress: bool = False) -> History:
    """Train the scene's network from its seed and return the recorded :class:`History`."""
    steps = scene.steps if steps is None else steps
    every = scene.every if every is None else every
    seed = scene.seed if seed is None else seed
    if steps < 1:
        raise VisualizerError(f"steps must be at least 1, got {steps}")
    if every < 1:
        raise VisualizerError(f"every must be at least 1, got {every}")
    network = scene.network(seed)
    static, probes = scene.layout.probes(scene.x, scene.y, network)
    static = {"data/x": scene.x, "data/y": scene.y, **static}
    meta = {"scene": scene.name, "title": scene.title, "loss": scene.loss.name, "loss_label": scene.loss.label,
            "total_steps": steps, "seed": seed, "lr": scene.optimizer.lr, "batch_size": scene.batch_size,
            "network": repr(network), "input_names": list(scene.input_names), "version": __version__}
    recorder = Recorder(every=every, probes=probes, static=static, meta=meta)
    trainer = Trainer(network, scene.x, scene.y, scene.loss, scene.optimizer, steps,
                      batch_size=scene.batch_size, shuffle=scene.shuffle, sampler=scene.sampler,
                      rng=np.random.default_rng(seed))
    trainer.add_hook("start", recorder)
    trainer.add_hook("step", _check_finite)
    trainer.add_hook("step", recorder)
    with tqdm(total=steps, desc=f"{scene.name}: training", unit="step", disable=not progress,
              leave=False, mininterval=0.2) as bar:
        trainer.add_hook("step", lambda state: bar.update(1))
        trainer.run()
    return recorder.history()


def _check_finite(state: TrainState) -> None:
    if not math.isfinite(state.batch_loss):
        raise DivergenceError(f"training diverged at step {state.step}: the loss became {state.batch_loss}; "
                              "try a smaller learning rate")


def parse_formats(formats: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"mp4,gif"`` or ``["mp4", "gif"]`` or ``"all"`` → a tuple of known format names, in canonical order."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    items = [f.strip().lower() for f in items if f.strip()]
    if "all" in items:
        return FORMATS
    unknown = [f for f in items if f not in FORMATS]
    if unknown or not items:
        raise VisualizerError(f"unknown format {', '.join(unknown) or '(none)'}; use any of {', '.join(FORMATS)} "
                              "(comma-separated) or all")
    return tuple(f for f in FORMATS if f in items)


def output_dir(out: str | Path, scene_name: str) -> Path:
    """``out/<scene>``, refusing an ``out`` that is a file."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise VisualizerError(f"output folder {out} is a file; pass --out with a folder path")
    target = out / scene_name
    if target.exists() and not target.is_dir():
        raise VisualizerError(f"{target} is a file; remove it or pass another --out")
    return target


def render(scene: Scene, history: History | None = None, *, out: str | Path = "output",
           formats: str | tuple[str, ...] = FORMATS, size: tuple[int, int] | None = None, fps: float | None = None,
           dpi: float | None = None, steps: int | None = None, every: int | None = None, seed: int | None = None,
           gif_fps: float | None = 15, gif_width: int | None = 960, jobs: int | None = None,
           progress: bool = False) -> dict[str, Path]:
    """Train (unless ``history`` is given), then write the requested formats under ``out/<scene>/``.

    Returns the written paths by kind: ``history``, ``mp4``, ``gif``, ``frames``. Options left as ``None``
    fall back to the scene's own settings, then to the defaults (1280x720, 30 fps). ``jobs`` worker processes
    draw and encode chunks of frames at once (default: every core).
    """
    formats = parse_formats(formats)
    size = tuple(size or scene.size or DEFAULT_SIZE)
    fps = fps or scene.fps or DEFAULT_FPS
    if len(size) != 2 or min(size) < 1:
        raise VisualizerError(f"size must be two positive numbers WIDTHxHEIGHT, got {size}")
    if fps <= 0:
        raise VisualizerError(f"fps must be positive, got {fps}")
    if jobs is not None and jobs < 1:
        raise VisualizerError(f"jobs must be at least 1, got {jobs}")
    if dpi is not None and dpi <= 0:
        raise VisualizerError(f"dpi must be positive, got {dpi}")
    target = output_dir(out, scene.name)
    if history is None:
        history = train(scene, steps=steps, every=every, seed=seed, progress=progress)
    try:
        renderer = Renderer(scene.layout, history, size=size, dpi=dpi, title=scene.title)
    except ValueError as exc:
        raise VisualizerError(str(exc)) from None
    target.mkdir(parents=True, exist_ok=True)
    written = {"history": history.save(target / "history.npz")}
    digits = max(5, len(str(int(history.steps[-1]))))
    names = {"mp4": f"{scene.name}.mp4", "gif": f"{scene.name}.gif", "frames": "frames"}
    outputs = [Output(fmt, target / names[fmt], digits=digits, gif_fps=gif_fps, gif_width=gif_width)
               for fmt in formats]
    work = Path(tempfile.mkdtemp(prefix=".render-", dir=target))
    try:
        with tqdm(total=len(history), desc=f"{scene.name}: rendering", unit="frame", disable=not progress,
                  leave=False, mininterval=0.2) as bar:
            render_outputs(scene.layout, history, outputs, work, size=size, fps=fps, dpi=dpi, title=scene.title,
                           jobs=jobs or available_cores(), on_frames=bar.update)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    written.update({output.kind: output.path for output in outputs})
    return written


__all__ = ["FORMATS", "parse_formats", "render", "train"]
