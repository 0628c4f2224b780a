"""One figure, panels on a grid, axes fixed from the whole history; frames come out as uint8 pixel arrays.

The figure is laid out and drawn once without its changing ("animated") artists; that picture is kept and,
for every frame, restored and only the changing artists are drawn on top (blitting).
"""
from __future__ import annotations

import copy
import multiprocessing as mp
import os
import pickle
import queue
import signal
import traceback
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from .encode import Output
from .panels import Layout
from .record import History
from .text import FrameText

STYLE = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 9,
    "figure.titlesize": 13,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.6,
    "figure.facecolor": "white",
    "axes.formatter.limits": (-3, 4),
    "axes.formatter.use_mathtext": True,
}

MIN_SIZE = (160, 90)
MAX_SIZE = (7680, 4320)


class Renderer:
    """Draws frames of a :class:`History` with a :class:`Layout` at ``size`` = (width, height) pixels."""

    def __init__(self, layout: Layout, history: History, size: tuple[int, int] = (1280, 720),
                 dpi: float | None = None, title: str = "") -> None:
        width, height = size
        # The same picture at any size: text and lines scale with the frame (1280x720 = 100 dpi); the
        # smaller ratio wins so a narrow or short frame still fits its text.
        dpi = dpi or min(width / 12.8, height / 7.2)
        if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
            raise ValueError(f"frame size {width}x{height} is too small; use at least {MIN_SIZE[0]}x{MIN_SIZE[1]}")
        if len(history) == 0:
            raise ValueError("the history has no recorded steps")
        self.history = history
        self.size = (int(width), int(height))
        self.title = title
        self._total = int(history.meta.get("total_steps", history.steps[-1]))
        diverged = history.meta.get("diverged_at")
        self._counter_note = f" (diverged at {diverged:,})" if diverged is not None else ""
        with matplotlib.rc_context(STYLE):
            self.figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")
            self.canvas = FigureCanvasAgg(self.figure)
            self.axes = self.figure.subplot_mosaic(
                layout.mosaic, empty_sentinel=".",
                height_ratios=layout.height_ratios, width_ratios=layout.width_ratios)
            # Each renderer owns fresh panel objects: panels keep per-render state.
            self.panels = {key: copy.deepcopy(panel) for key, panel in layout.panels.items()}
            for key, panel in self.panels.items():
                panel.setup(self.axes[key], history)
            # Only the step counter changes; the title is static and drawn once with the background. It also
            # reserves the top band in the layout for the counter; with no title, a blank one does.
            self.figure.suptitle(title or " ")
            where = dict(x=0.995, ha="right") if title else dict(x=0.5, ha="center")
            self._counter = FrameText(where["x"], 0.995, "", transform=self.figure.transFigure, ha=where["ha"],
                                      va="top", fontsize=STYLE["figure.titlesize"])
            self.figure.add_artist(self._counter)
            self.canvas.draw()
            # The layout is final: freeze it so nothing is re-measured per frame.
            self.figure.set_layout_engine("none")
            self._background = self.canvas.copy_from_bbox(self.figure.bbox)
            # Draw the first and last rows once here: forked workers then inherit a warm glyph cache, and a
            # panel that cannot draw fails now, in this process, with its own error.
            for i in {0, len(history) - 1}:
                self._draw(i)
        got = (self.canvas.get_width_height()[0], self.canvas.get_width_height()[1])
        if got != self.size:  # float figsize rounding; never seen at common sizes but cheap to guard
            raise RuntimeError(f"canvas is {got[0]}x{got[1]}, expected {width}x{height}; try another --dpi")

    def _counter_text(self, step: int) -> str:
        return f"step {step:,} / {self._total:,}{self._counter_note}"

    def draw(self, i: int) -> np.ndarray:
        """Render history row ``i`` and return it as a new (height, width, 3) uint8 array."""
        self._draw(i)
        # Pillow drops the alpha channel about twice as fast as a strided numpy copy.
        rgba = Image.frombuffer("RGBA", self.size, self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        return np.asarray(rgba.convert("RGB"))

    def draw_rgba(self, i: int) -> np.ndarray:
        """Render row ``i`` and return the canvas itself as (height, width, 4) RGBA: no copy, so it is
        valid only until the next draw."""
        self._draw(i)
        return np.asarray(self.canvas.buffer_rgba())

    def _draw(self, i: int) -> None:
        self.canvas.restore_region(self._background)
        for panel in self.panels.values():
            for artist in panel.update(i):
                self.figure.draw_artist(artist)
        self._counter.set_text(self._counter_text(int(self.history.steps[i])))
        self.figure.draw_artist(self._counter)

    def close(self) -> None:
        """Release the figure."""
        self.figure.clear()


# --- Frames to outputs, in one process or in contiguous chunks on every core ------------------------------

MIN_CHUNK = 24  # below this many frames per worker, a process and an ffmpeg more cost more than they save


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity in containers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def can_fork() -> bool:
    """Workers are forked so they inherit the finished renderer (figure, background, history) as it is."""
    return "fork" in mp.get_all_start_methods()


def plan_chunks(n_frames: int, jobs: int) -> list[range]:
    """Split frames 0..n-1 into at most ``jobs`` contiguous, nearly equal chunks of useful size."""
    jobs = max(1, min(jobs, n_frames // MIN_CHUNK or 1))
    bounds = np.linspace(0, n_frames, jobs + 1).round().astype(int)
    return [range(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _render_chunk(k: int, positions: range, rows: Sequence[int], renderer: Renderer, outputs: list[Output],
                  fps: float, hold_frames: int, report: Callable[[int], None]) -> None:
    with ExitStack() as stack:
        writers = []
        for output in outputs:
            writer = output.piece(k, positions.start)
            stack.enter_context(writer)  # entered first, so a failing setup still cleans up
            writer.setup(renderer.size, fps, channels=4)
            writers.append(writer)
        steps = renderer.history.steps
        frame = None
        for p in positions:
            frame = renderer.draw_rgba(rows[p])
            for writer in writers:
                writer.write(frame, int(steps[rows[p]]))
            report(1)
        if hold_frames and positions.stop == len(rows) and frame is not None:
            for writer in writers:
                writer.hold(frame, int(steps[rows[-1]]), hold_frames)


def render_outputs(renderer: Renderer, rows: Sequence[int], outputs: list[Output], work: Path, *, fps: float,
                   jobs: int = 1, hold_frames: int = 0, on_frames: Callable[[int], None] | None = None) -> int:
    """Draw the given history rows once, in order, and build each output from them; returns the chunk count.

    With ``jobs > 1`` (where processes can be forked) contiguous chunks are drawn and encoded in worker
    processes at once, then joined without re-encoding. The frames are the same either way. The renderer is
    built by the caller, before any fork: workers inherit its finished figure and background. The last frame
    is shown ``hold_frames`` more times at the end of videos.
    """
    report = on_frames or (lambda n: None)
    chunks = plan_chunks(len(rows), jobs if can_fork() else 1)
    for output in outputs:
        output.begin(work, len(chunks))
    if len(chunks) == 1:
        _render_chunk(0, chunks[0], rows, renderer, outputs, fps, hold_frames, report)
    else:
        _run_workers(chunks, rows, renderer, outputs, fps, hold_frames, report)
    for output in outputs:
        output.join()
    return len(chunks)


class WorkerError(RuntimeError):
    """A render worker failed with an exception that could not be passed back as itself."""


def _stop_on_terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so a terminated worker still aborts its writers and ends its ffmpeg


def _run_workers(chunks: list[range], rows: Sequence[int], renderer: Renderer, outputs: list[Output], fps: float,
                 hold_frames: int, report: Callable[[int], None]) -> None:
    ctx = mp.get_context("fork")
    messages = ctx.Queue()

    def work(k: int, positions: range) -> None:
        signal.signal(signal.SIGTERM, _stop_on_terminate)
        pending = 0

        def tell(n: int) -> None:
            nonlocal pending
            pending += n
            if pending >= 8:
                messages.put(("frames", k, pending))
                pending = 0

        try:
            _render_chunk(k, positions, rows, renderer, outputs, fps, hold_frames, tell)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # done: nothing left to abort
            messages.put(("frames", k, pending))
            messages.put(("done", k, None))
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
            try:
                pickle.dumps(exc)
                payload = exc
            except Exception:  # noqa: BLE001
                payload = WorkerError("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
            messages.put(("error", k, payload))
        finally:
            messages.close()
            messages.join_thread()

    procs = [ctx.Process(target=work, args=(k, positions), daemon=True) for k, positions in enumerate(chunks)]
    finished = False
    try:
        for proc in procs:
            proc.start()
        done: set[int] = set()
        while len(done) < len(procs):
            try:
                kind, k, payload = messages.get(timeout=0.5)
            except queue.Empty:
                dead = [i for i, p in enumerate(procs) if i not in done and p.exitcode not in (None, 0)]
                if dead:
                    raise WorkerError(f"render worker {dead[0]} stopped unexpectedly "
                                      f"(exit code {procs[dead[0]].exitcode})") from None
                continue
            if kind == "frames":
                report(payload)
            elif kind == "done":
                done.add(k)
            else:
                raise payload
        finished = True
    finally:
        if not finished:  # an error or Ctrl-C here: stop the others (they abort their writers)
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():  # did not stop on SIGTERM within 5 s
                proc.kill()
                proc.join()
        messages.close()
