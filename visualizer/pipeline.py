"""Frames to outputs: drawn in one process, or in contiguous chunks by worker processes, then joined.

The renderer is built by the caller before any fork, so workers inherit its finished figure and background.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import queue
import signal
import traceback
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .encode import Output
from .renderer import Renderer

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
        # Held frames repeat the last row. Drawn here, before any fork: the GIF's palette needs the whole clip.
        output.prepare(lambda p: renderer.draw_rgba(rows[min(p, len(rows) - 1)]), len(rows) + hold_frames, fps)
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
