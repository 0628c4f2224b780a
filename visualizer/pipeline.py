"""Frames to outputs: drawn in one process, or in contiguous chunks by worker processes, then joined.

The renderer is built by the caller before any fork, so workers inherit its finished figure and background.
A worker stops on SIGINT, SIGTERM or SIGHUP (aborting its writers, so its ffmpeg ends too) and reports back
how it ended: done, interrupted, or an error classified by origin (the user's code, the user's input, ours).
The parent notices a worker that died without a word within a second, and stops the others.
"""
from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import pickle
import queue
import signal
import sys
import time
import traceback
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .encode import Output
from .errors import (InternalError, Interrupt, UserCodeError, VisualizerError, WorkerLost, signal_name,
                     user_traceback)
from .files import HELD_SIGNALS, pause_point
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
            step = renderer.frame_step(rows[p])  # an explain frame's step names its PNG apart
            for writer in writers:
                writer.write(frame, step)
            report(1)
            if p == positions.start:
                pause_point("drawing")
        if hold_frames and positions.stop == len(rows) and frame is not None:
            for writer in writers:
                writer.hold(frame, int(steps[rows[-1]]), hold_frames)


def render_outputs(renderer: Renderer, rows: Sequence[int], outputs: list[Output], work: Path, *, fps: float,
                   jobs: int = 1, hold_frames: int = 0, on_frames: Callable[[int], None] | None = None,
                   on_stage: Callable[[str], None] | None = None) -> int:
    """Draw the given history rows once, in order, and build each output from them; returns the chunk count.

    With ``jobs > 1`` (where processes can be forked) contiguous chunks are drawn and encoded in worker
    processes at once, then joined without re-encoding. The frames are the same either way. The renderer is
    built by the caller, before any fork: workers inherit its finished figure and background. The last frame
    is shown ``hold_frames`` more times at the end of videos. ``on_stage`` hears ``"join"`` or ``"gif"`` as
    each output is joined from its pieces.
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
        (on_stage or pause_point)("gif" if output.kind == "gif" else "join")
        output.join()
    return len(chunks)


class WorkerError(InternalError):
    """A render worker failed with a fault of ours; ``details`` is its traceback (kept for compatibility:
    :class:`~visualizer.errors.InternalError` is the general name)."""


def _outcome(k: int, exc: BaseException) -> tuple[str, int, object]:
    """How a worker's exception goes back to the parent, classified by origin."""
    if isinstance(exc, Interrupt):
        return "interrupted", k, exc.signum
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", k, int(signal.SIGINT)
    if not isinstance(exc, VisualizerError):
        details = user_traceback(exc)
        if details is not None:
            return "error", k, UserCodeError(details)
    try:
        pickle.loads(pickle.dumps(exc))
        return "error", k, exc
    except Exception:  # noqa: BLE001 - an exception that cannot travel goes back as its traceback
        return "error", k, WorkerError("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


def _die_with_parent(parent: int) -> None:
    """Linux: have the kernel kill this worker if the parent dies (even by SIGKILL), so no orphan draws on."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before that took effect
        os._exit(0)


def _worker_signals() -> None:
    """SIGINT, SIGTERM and SIGHUP stop a worker once (an :class:`Interrupt` aborts its writers); any later
    signal is ignored, so its report back to the parent is never cut by a second traceback."""
    fired = []

    def stop(signum: int, frame: object) -> None:
        if not fired:
            fired.append(signum)
            raise Interrupt(signum)

    for signum in HELD_SIGNALS:
        signal.signal(signum, stop)


def _chunk_name(k: int, chunks: list[range]) -> str:
    c = chunks[k]
    return f"render worker {k + 1} of {len(chunks)} (frames {c.start + 1}-{c.stop})"


def _lost(k: int, chunks: list[range], exitcode: int | None) -> WorkerLost:
    if exitcode is not None and exitcode < 0:
        how = f"was killed by {signal_name(-exitcode)}"
        if -exitcode == getattr(signal, "SIGKILL", 9):
            how += " (out of memory, or killed by someone)"
    else:
        how = f"ended without finishing (exit status {exitcode})"
    return WorkerLost(f"{_chunk_name(k, chunks)} {how}; the render stopped")


POLL = 0.25  # seconds between checks that every worker is still alive


def _run_workers(chunks: list[range], rows: Sequence[int], renderer: Renderer, outputs: list[Output], fps: float,
                 hold_frames: int, report: Callable[[int], None]) -> None:
    ctx = mp.get_context("fork")
    messages = ctx.Queue()
    parent = os.getpid()

    def work(k: int, positions: range) -> None:
        try:
            _worker_signals()
            _die_with_parent(parent)
            pending = 0

            def tell(n: int) -> None:
                nonlocal pending
                pending += n
                if pending >= 8:
                    messages.put(("frames", k, pending))
                    pending = 0

            try:
                _render_chunk(k, positions, rows, renderer, outputs, fps, hold_frames, tell)
                messages.put(("frames", k, pending))
                outcome = ("done", k, None)
            except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
                outcome = _outcome(k, exc)
        except KeyboardInterrupt as stop:  # a signal before the worker's own handlers, or while it classified
            outcome = ("interrupted", k, getattr(stop, "signum", int(signal.SIGINT)))
        except BaseException as exc:  # noqa: BLE001 - classifying failed: a fault of ours, said as text
            outcome = ("error", k, WorkerError(f"render worker {k + 1} could not report its error: {exc!r}\n"))
        try:
            messages.put(outcome)
            messages.close()
            messages.join_thread()
        finally:
            # No interpreter shutdown: nothing of the parent's (atexit hooks, buffers, the figure) runs twice,
            # and multiprocessing has no exception left to print.
            os._exit(0)

    procs = [ctx.Process(target=work, args=(k, positions), daemon=True) for k, positions in enumerate(chunks)]
    finished = False
    try:
        for proc in procs:
            proc.start()
        done: set[int] = set()

        def handle(kind: str, k: int, payload: object) -> None:
            if kind == "frames":
                report(payload)
            elif kind == "done":
                done.add(k)
            elif kind == "interrupted":
                raise Interrupt(payload)
            else:
                raise payload

        checked = time.monotonic()
        while len(done) < len(procs):
            try:
                message = messages.get(timeout=POLL)
            except queue.Empty:
                message = None
            if message is not None:
                handle(*message)
            if message is None or time.monotonic() - checked >= POLL:
                # A worker killed outright says nothing: look at least every POLL seconds, even while the
                # others keep talking. What an ended worker sent is in the pipe before it ends, so read
                # everything there first; if it still has not said "done", it is lost.
                checked = time.monotonic()
                if any(i not in done and p.exitcode is not None for i, p in enumerate(procs)):
                    while True:
                        try:
                            handle(*messages.get_nowait())
                        except queue.Empty:
                            break
                    for i, proc in enumerate(procs):
                        if i not in done and proc.exitcode is not None:
                            raise _lost(i, chunks, proc.exitcode)
        finished = True
    finally:
        if not finished:  # an error or an interrupt here: stop the others (they abort their writers)
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():  # did not stop on SIGTERM within 5 s
                proc.kill()
                proc.join()
        messages.close()
