"""The Python API: ``train(scene) -> History`` and ``render(scene, ...) -> {format: path}``.

These are what the CLI calls and what a notebook uses. They raise :class:`VisualizerError` for bad input and
never print, except for tqdm progress bars on stderr when ``progress=True``.
"""
from __future__ import annotations

import base64
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont
from tqdm.auto import tqdm

from . import __version__
from .encode import Output
from .files import publish, remove_leftovers, temp_path
from .errors import DivergenceError, VisualizerError
from .record import History, Recorder
from .render import MAX_SIZE, MIN_SIZE, Renderer, available_cores, render_outputs
from .scene import Scene
from .train import Trainer, TrainState

# Forked render workers must not inherit a half-held lock from tqdm's monitor thread: don't start one.
tqdm.monitor_interval = 0

FORMATS = ("mp4", "gif", "frames")
DEFAULT_SIZE = (1280, 720)
DEFAULT_FPS = 30


def train(scene: Scene, *, steps: int | None = None, every: int | None = None, seed: int | None = None,
          progress: bool = False, allow_divergence: bool = False) -> History:
    """Train the scene's network from its seed and return the recorded :class:`History`.

    A non-finite loss, parameter or gradient stops training with :class:`DivergenceError`, or with
    ``allow_divergence`` ends it there and returns the rows recorded before it (``meta["diverged_at"]``).
    """
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
    guard = _DivergenceGuard(scene.optimizer.lr)

    def record(state: TrainState) -> None:
        if recorder(state):
            guard.check_recorded(state)

    trainer.add_hook("start", record)
    with tqdm(total=steps, desc=f"{scene.name}: training", unit="step", disable=not progress,
              leave=False, mininterval=0.2) as bar:
        # One hook per step, doing almost nothing on steps that are not recorded: per-sample training runs a
        # million steps, and every call counts.
        def on_step(state: TrainState) -> None:
            if not math.isfinite(state.batch_loss):
                guard.loss_failed(state)
            record(state)
            if progress:
                bar.update(1)

        trainer.add_hook("step", on_step)
        try:
            # Overflow is how divergence starts; the guard reports it in one clear line, so numpy need not.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                trainer.run()
        except DivergenceError as exc:
            if not allow_divergence:
                raise
            history = recorder.history()
            good = _finite_prefix(history)
            if good == 0:
                raise DivergenceError(f"{exc}; nothing finite is left to render") from None
            history = history.subset(range(good))
            history.meta["diverged_at"] = exc.step
            return history
    return recorder.history()


class _DivergenceGuard:
    """Stops training at the first non-finite loss (checked every step, cheaply) or parameter or gradient
    (checked at every recorded step, where the recorder has just computed them)."""

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def loss_failed(self, state: TrainState) -> None:
        """The batch loss is not finite: it was computed at the parameters after ``step - 1`` updates."""
        self._fail(state.step - 1, state, f"the loss became {state.batch_loss}")

    def check_recorded(self, state: TrainState) -> None:
        """Just recorded: the network's parameters and gradients are those of this step."""
        for kind, table in (("", state.network.parameters()), ("the gradient of ", state.network.gradients())):
            for name, value in table.items():
                if not np.isfinite(value).all():
                    bad = value[~np.isfinite(value)].flat[0]
                    self._fail(state.step, state, f"{kind}{name} became {bad}")

    def _fail(self, step: int, state: TrainState, what: str) -> None:
        raise DivergenceError(f"training diverged at step {step}: {what}; try a smaller learning rate than "
                              f"{self.lr:g}, or pass --allow-divergence to render the steps before it", step=step)


def _finite_prefix(history: History) -> int:
    """How many leading rows have a finite loss and finite parameters and gradients."""
    ok = np.isfinite(history.loss)
    for table in (history.params, history.grads):
        for values in table.values():
            ok &= np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    bad = np.flatnonzero(~ok)
    return int(bad[0]) if bad.size else len(ok)


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


QUALITY = {"low": (854, 480), "medium": (1280, 720), "high": (1920, 1080)}


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


def render(scene: Scene, history: History | None = None, *, out: str | Path = "output",
           formats: str | tuple[str, ...] = FORMATS, size: tuple[int, int] | None = None,
           quality: str | None = None, fps: float | None = None, dpi: float | None = None,
           steps: int | None = None, every: int | None = None, max_frames: int | None = None,
           seed: int | None = None, hold: float = 0.0, last_frame: bool = False,
           gif_fps: float | None = 15, gif_width: int | None = 960, jobs: int | None = None,
           allow_divergence: bool = False, progress: bool = False) -> RenderResult:
    """Train (unless ``history`` is given), then write the requested outputs under ``out/<scene>/``.

    Options left as ``None`` fall back to the scene's own settings, then to the defaults (1280x720, 30 fps).
    ``quality`` picks a size preset (``low`` 854x480, ``medium`` 1280x720, ``high`` 1920x1080); ``every``
    and ``max_frames`` choose which recorded steps become frames; ``hold`` shows the last frame that many
    more seconds; ``last_frame`` writes only ``poster.png``. ``jobs`` worker processes draw and encode
    chunks of frames at once (default: every core). Every render also writes ``poster.png`` (the last frame)
    and ``contact_sheet.png`` (evenly spaced frames labelled with their step).
    """
    formats = () if last_frame else parse_formats(formats)
    size, fps = _check_options(scene, size, quality, fps, dpi, jobs, hold, max_frames, every)
    target = output_dir(out, scene.name)
    remove_leftovers(target)
    if history is None:
        history = train(scene, steps=steps, every=every, seed=seed, progress=progress,
                        allow_divergence=allow_divergence)
        rows = select_rows(history, max_frames=max_frames)
    else:
        rows = select_rows(history, every=every, max_frames=max_frames)
    if last_frame:
        rows = rows[-1:]
    try:
        renderer = Renderer(scene.layout, history, size=size, dpi=dpi, title=scene.title)
    except (ValueError, KeyError) as exc:
        raise VisualizerError(f"cannot draw scene {scene.name!r} from this history: {exc}") from None
    target.mkdir(parents=True, exist_ok=True)
    written = RenderResult()
    work = Path(tempfile.mkdtemp(prefix=f".render-{os.getpid()}-", dir=target))
    try:
        written["history"] = history.save(target / "history.npz")
        digits = max(5, len(str(int(history.steps[-1]))))
        names = {"mp4": f"{scene.name}.mp4", "gif": f"{scene.name}.gif", "frames": "frames"}
        outputs = [Output(fmt, target / names[fmt], digits=digits, gif_fps=gif_fps, gif_width=gif_width)
                   for fmt in formats]
        if outputs:
            with tqdm(total=len(rows), desc=f"{scene.name}: rendering", unit="frame", disable=not progress,
                      leave=False, mininterval=0.2) as bar:
                render_outputs(renderer, rows, outputs, work, fps=fps, jobs=jobs or available_cores(),
                               hold_frames=round(hold * fps), on_frames=bar.update)
            written.update({output.kind: output.path for output in outputs})
        written["poster"] = save_png(renderer.draw(rows[-1]), target / "poster.png")
        if not last_frame:
            written["contact_sheet"] = contact_sheet(renderer, rows, target / "contact_sheet.png")
    except KeyboardInterrupt:
        raise RenderInterrupted(written, [k for k in (*formats, "poster", "contact_sheet") if k not in written])
    finally:
        renderer.close()
        shutil.rmtree(work, ignore_errors=True)
    return written


class RenderInterrupted(KeyboardInterrupt):
    """Ctrl-C during a render: ``written`` holds the outputs completed before it, ``missing`` the rest."""

    def __init__(self, written: dict[str, Path], missing: list[str]) -> None:
        super().__init__("interrupted")
        self.written, self.missing = written, missing


def _check_options(scene: Scene, size, quality, fps, dpi, jobs, hold, max_frames, every):
    if quality is not None and quality not in QUALITY:
        raise VisualizerError(f"unknown quality {quality!r}; use one of {', '.join(QUALITY)}")
    if size is not None and quality is not None:
        raise VisualizerError("give --size or --quality, not both")
    size = tuple(size or (QUALITY[quality] if quality else None) or scene.size or DEFAULT_SIZE)
    fps = fps or scene.fps or DEFAULT_FPS
    if len(size) != 2 or min(size) < 1:
        raise VisualizerError(f"size must be two positive numbers WIDTHxHEIGHT, got {size}")
    if not (MIN_SIZE[0] <= size[0] <= MAX_SIZE[0] and MIN_SIZE[1] <= size[1] <= MAX_SIZE[1]):
        raise VisualizerError(f"frame size {size[0]}x{size[1]} is outside {MIN_SIZE[0]}x{MIN_SIZE[1]} … "
                              f"{MAX_SIZE[0]}x{MAX_SIZE[1]}")
    checks = [(fps, fps > 0, "fps must be positive"), (jobs, jobs is None or jobs >= 1, "jobs must be at least 1"),
              (dpi, dpi is None or dpi > 0, "dpi must be positive"), (hold, hold >= 0, "hold must be 0 or more"),
              (max_frames, max_frames is None or max_frames >= 2, "max-frames must be at least 2"),
              (every, every is None or every >= 1, "every must be at least 1")]
    for value, ok, message in checks:
        if not ok:
            raise VisualizerError(f"{message}, got {value}")
    return size, fps


def save_png(frame: np.ndarray, path: Path) -> Path:
    """Write one frame as a PNG, atomically."""
    tmp = temp_path(path, ".png")
    try:
        Image.fromarray(frame).save(tmp, compress_level=3)  # plots compress well even at a fast level
        publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def contact_sheet(renderer: Renderer, rows: list[int], path: Path, count: int = 12, columns: int = 4) -> Path:
    """A grid of ``count`` evenly spaced frames, each labelled with its step, for handouts and a quick look."""
    picks = [rows[i] for i in np.unique(np.round(np.linspace(0, len(rows) - 1, min(count, len(rows)))).astype(int))]
    width, height = renderer.size
    thumb_w = min(480, width // 2)
    thumb_h = round(height * thumb_w / width)
    label_h, gap = max(18, thumb_h // 9), 8
    n_rows = -(-len(picks) // columns)
    cols = min(columns, len(picks))
    sheet = Image.new("RGB", (cols * (thumb_w + gap) + gap, n_rows * (thumb_h + label_h + gap) + gap), "white")
    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size=round(label_h * 0.75))
    draw = ImageDraw.Draw(sheet)
    for n, row in enumerate(picks):
        x = gap + (n % columns) * (thumb_w + gap)
        y = gap + (n // columns) * (thumb_h + label_h + gap)
        # reducing_gap: a fast box reduction by whole factors first, then Lanczos for the rest (4x faster).
        thumb = Image.fromarray(renderer.draw(row)).resize((thumb_w, thumb_h), Image.LANCZOS, reducing_gap=1.0)
        draw.text((x, y), f"step {int(renderer.history.steps[row]):,}", fill="black", font=font)
        sheet.paste(thumb, (x, y + label_h))
    return save_png(np.asarray(sheet), path)


__all__ = ["FORMATS", "QUALITY", "RenderInterrupted", "RenderResult", "parse_formats", "render", "select_rows",
           "train"]
