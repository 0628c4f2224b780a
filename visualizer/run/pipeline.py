"""Frames to outputs' pieces: drawn in one process, or in contiguous chunks by other processes (the render
then finishes each output: its pieces joined).

Three ways to draw chunks, all giving the same frames:

- on Linux, forked workers that inherit the caller's finished renderer (figure, background, warm caches):
  the fast path for one machine;
- tasks on a :class:`concurrent.futures.Executor`: :func:`draw_piece` is a plain function of its inputs (how
  to build the renderer, the rows, the outputs' settings) that builds its own figure and returns its encoded
  pieces, so it runs in spawned processes (macOS, Windows, notebooks, ``multiprocessing.set_start_method
  ("spawn")``) or on a Dask cluster's workers; the pieces are joined here without re-encoding;
- one process, for short renders.

A forked worker stops on SIGINT, SIGTERM or SIGHUP (aborting its writers, so its ffmpeg ends too) and reports
back how it ended: done, interrupted, or an error classified by origin (the user's code, the user's input,
ours). The parent notices a worker that died without a word within a second, and stops the others.
"""
from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import pickle
import queue
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import Executor, as_completed
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..outputs.output import Output
from ..base.errors import (InternalError, Interrupt, UserCodeError, VisualizerError, WorkerLost, signal_name,
                     user_traceback)
from ..base.signals import SignalStop
from ..outputs.transaction import HELD_SIGNALS, pause_point
from ..draw.renderer import Renderer
from ..draw.titlecard import TitleCard, leading_cards

MIN_CHUNK = 24  # below this many frames per worker, a process and an ffmpeg more cost more than they save
# A task's pieces come back in memory (a chunk's PNG frames too): long renders on an executor are cut into
# tasks of at most this many frames, so memory stays flat in the frame count (about 60 MB of PNGs at 720p).
TASK_FRAMES = 600


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity in containers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def one_blas_thread():
    """A context in which numpy's BLAS uses one thread. The networks trained and the arrays drawn here are
    small: a second BLAS thread only adds hand-offs (on a busy 2-core machine a 3600x100 @ 100x3 product took
    20 ms with two threads against 0.3 ms with one, and the spiral scene trained twice as fast with one), and
    it spins on another core after each product: in render workers, which keep every core busy already."""
    from contextlib import nullcontext

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a declared dependency; without it, numpy's own threads
        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def can_fork() -> bool:
    """Whether chunks may be drawn by forked workers, which inherit the finished renderer (figure, background,
    history) as it is: on Linux, unless this program chose ``spawn`` (``multiprocessing.set_start_method``).
    Elsewhere fork is missing (Windows) or unsafe with the system's libraries (macOS)."""
    return (sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods()
            and mp.get_start_method(allow_none=True) != "spawn")


def spawn_hint() -> str:
    """Where processes are spawned, a new process imports the main script again: one that calls render or
    compare at its top level, not under ``if __name__ == "__main__":``, breaks the pool. Said in the error."""
    if can_fork():
        return ""
    return ", or the script calling this lacks the line 'if __name__ == \"__main__\":' before it"


def executor_size(executor: Executor) -> int | None:
    """How many tasks ``executor`` runs at once, where it says: a process pool's workers, a Dask cluster's
    worker processes (as :func:`dask_executor` notes them)."""
    for name in ("_visualizer_workers", "_max_workers"):
        size = getattr(executor, name, None)
        if isinstance(size, int) and size > 0:
            return size
    return None


def dask_executor(address: str) -> Executor:
    """The executor of the Dask cluster at ``address`` (``tcp://HOST:PORT``), checked to answer within 10 s
    and to have visualizer installed on its workers."""
    try:
        from distributed import Client
    except ImportError:
        raise VisualizerError("a scheduler address needs Dask: pip install 'backprop-visualizer[dask]'") from None
    greet_scheduler(address)
    try:
        client = Client(address, timeout=10)
    except (OSError, TimeoutError) as exc:
        raise VisualizerError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        versions = client.run(_version_probe())
    except Exception as exc:  # noqa: BLE001 - any failure here means the workers cannot run our tasks
        client.close()
        raise VisualizerError(f"the Dask workers at {address} cannot run visualizer: {exc}") from None
    from ..base import __version__

    missing = [w for w, v in versions.items() if v is None]
    if not versions or missing:
        client.close()
        raise VisualizerError(f"the Dask workers at {address} lack the visualizer package"
                              + (f" ({', '.join(missing)})" if missing else " (no workers)")
                              + ": install backprop-visualizer there")
    other = {w: v for w, v in versions.items() if v != __version__}
    if other:
        client.close()
        raise VisualizerError(f"the Dask workers run visualizer {sorted(set(other.values()))}, this is "
                              f"{__version__}: install the same version there")
    executor = client.get_executor()
    executor._visualizer_client = client  # closed with the executor, see close_executor()
    executor._visualizer_workers = len(versions)  # worker processes: render chunks run one at a time in each
    return executor


def scheduler_host(address: str) -> tuple[str, int]:
    """``tcp://HOST:PORT`` (``tcp://[::1]:8786`` for an IPv6 address, ``HOST:PORT`` alone too) → (host, port),
    or :class:`VisualizerError` saying how to write it."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    host, _, port = rest.rstrip("/").rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:  # an IPv6 address without its brackets: the port cannot be told apart
        host = ""
    if scheme.lower() != "tcp" or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise VisualizerError(f"cannot read the Dask scheduler address {address!r}; write tcp://HOST:PORT, such as "
                              "tcp://10.0.0.5:8786 or tcp://[::1]:8786")
    return host, int(port)


ANSWER_SECONDS = 8.0  # the most a scheduler address may keep the command waiting before it says why (< 10 s)
GREETING_SECONDS = 3.0  # a scheduler greets a connection within milliseconds; after this, ask as HTTP would


def greet_scheduler(address: str, seconds: float | None = None) -> None:
    """Refuse at once, in one line, an address where no Dask scheduler answers: none listening, a server that
    speaks another protocol (a web page such as Dask's own dashboard, at :8787) or a server that says nothing.
    A Dask scheduler greets every connection first (its handshake), so one read tells; Dask's own client
    would retry for minutes, or read an HTTP reply as the length of a message."""
    host, port = scheduler_host(address)
    seconds = ANSWER_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + seconds
    try:  # a closed port answers at once
        sock = socket.create_connection((host, port), timeout=seconds / 2)
    except OSError as exc:
        raise VisualizerError(f"cannot reach the Dask scheduler at {address}: {exc.strerror or exc}") from None
    with sock:
        try:
            sock.settimeout(max(0.1, min(GREETING_SECONDS, (deadline - time.monotonic()) / 2)))
            first = sock.recv(16)
        except socket.timeout:
            first = None
        except OSError as exc:
            raise VisualizerError(f"the server at {address} is not a Dask scheduler: {exc.strerror or exc}") \
                from None
        if first is None:  # nothing said: perhaps a server that waits for a request (HTTP): ask it one
            try:
                sock.settimeout(max(0.1, deadline - time.monotonic()))
                sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
                reply = sock.recv(16)
            except (socket.timeout, OSError):
                reply = None
            if reply is None:
                raise VisualizerError(f"the server at {address} did not answer within {seconds:g} s; it is not a "
                                      "Dask scheduler, or one too busy to serve")
            first = reply
    if len(first) < 8 or first.startswith(b"HTTP/") or int.from_bytes(first[:8], "little") > 2**20:
        what = " (it answers HTTP: a web page, such as Dask's dashboard)" if first.startswith(b"HTTP/") else ""
        raise VisualizerError(f"the server at {address} is not a Dask scheduler{what}; give the scheduler's "
                              "address, tcp://HOST:PORT (port 8786 by default)")


_PROBE = """
def probe():
    try:
        import visualizer
    except ImportError:
        return None
    return visualizer.__version__
"""


def _version_probe():
    """A function reporting a worker's visualizer version (``None`` without it), made from source text so
    it travels by value: a function of this package could not even be loaded where the package is missing."""
    namespace: dict = {"__name__": "visualizer_probe"}
    exec(_PROBE, namespace)  # noqa: S102 - our own constant text
    return namespace["probe"]


def close_executor(executor: Executor) -> None:
    """Shut down an executor this package made (a local pool, or a Dask client's)."""
    client = getattr(executor, "_visualizer_client", None)
    if client is not None:
        executor.shutdown(wait=True)
        client.close()
    else:
        executor.shutdown(wait=True, cancel_futures=True)


@contextmanager
def executor_for(spec: Executor | str | None, default: Callable[[], Executor] | None = None):
    """The executor ``spec`` names: the caller's own (left open), a Dask cluster's by address
    ``"tcp://HOST:PORT"`` (connected and checked first, closed after), or for ``None`` the one ``default``
    makes (closed after; ``None`` without a default)."""
    if spec is not None and not isinstance(spec, str):
        yield spec
        return
    pool = dask_executor(spec) if isinstance(spec, str) else default() if default else None
    try:
        yield pool
    finally:
        if pool is not None:
            close_executor(pool)


def plan_chunks(n_frames: int, jobs: int, lead: int = 0) -> list[range]:
    """Split frames 0..n-1 into at most ``jobs`` contiguous, nearly equal chunks of useful size. The first
    ``lead`` frames (the title card's hold: one picture) go with the first chunk and are not counted."""
    lead = min(lead, n_frames - 1) if n_frames else 0
    jobs = max(1, min(jobs, (n_frames - lead) // MIN_CHUNK or 1))
    bounds = np.linspace(lead, n_frames, jobs + 1).round().astype(int)
    bounds[0] = 0
    return [range(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _render_chunk(k: int, positions: range, rows: Sequence[int], renderer: Renderer, outputs: list[Output],
                  fps: float, hold_frames: int, report: Callable[[int], None]) -> None:
    with ExitStack() as stack:
        stack.enter_context(one_blas_thread())  # every core already draws and encodes a chunk
        writers = []
        for output in outputs:
            writer = output.piece(k, positions.start)
            stack.enter_context(writer)  # entered first, so a failing setup still cleans up
            writer.setup(renderer.size, fps, channels=4)
            writers.append(writer)
        steps = renderer.history.steps
        frame = None
        for p in positions:
            if frame is not None and same_frame(rows[p], rows[p - 1]):
                for writer in writers:  # a held frame: shown again by the videos, one PNG in a folder of frames
                    writer.hold(frame, step, 1)
                report(1)
                continue
            frame = renderer.draw_rgba(rows[p])
            step = renderer.frame_step(rows[p])  # an explain frame's step names its PNG apart
            for writer in writers:  # the title card is shown by the videos as a hold: no PNG of its own
                (writer.hold(frame, step, 1) if isinstance(rows[p], TitleCard) else writer.write(frame, step))
            report(1)
            if p == positions.start:
                pause_point("drawing")
        if hold_frames and positions.stop == len(rows) and frame is not None:
            for writer in writers:
                writer.hold(frame, int(steps[rows[-1]]), hold_frames)


def same_frame(a: int, b: int) -> bool:
    """Whether frame keys ``a`` and ``b`` are the same picture (a frame held: a moment's): the same row, or
    the same frame of an explained step's sequence (an ``int`` subclass equal to its row)."""
    return type(a) is type(b) and a == b and getattr(a, "index", None) == getattr(b, "index", None)


def render_outputs(renderer: Renderer, rows: Sequence[int], outputs: list[Output], work: Path, *, fps: float,
                   jobs: int = 1, hold_frames: int = 0, on_frames: Callable[[int], None] | None = None,
                   executor: Executor | None = None) -> list[tuple[str, int]]:
    """Draw the given history rows once, in order, into the pieces of each output (the caller then finishes
    each: :meth:`Output.finish`); returns the processes that drew frames, as sorted ``(host, pid)`` pairs.

    With ``jobs > 1`` contiguous chunks are drawn and encoded at once, then joined without re-encoding: by
    forked workers on Linux (they inherit the caller's finished renderer), else as :func:`draw_piece` tasks
    on a local pool of spawned processes. With ``executor``, every chunk is a task on it (a Dask cluster's,
    say). The frames are the same every way. The last frame is shown ``hold_frames`` more times at the end of
    videos.
    """
    report = on_frames or (lambda n: None)
    chunks = plan_chunks(len(rows), jobs, leading_cards(rows))
    drawing = None
    if executor is not None or (len(chunks) > 1 and not can_fork()):
        from . import portable

        try:
            drawing = portable.dumps(renderer.recipe)
            chunks = plan_chunks(len(rows), max(jobs, -(-len(rows) // TASK_FRAMES)), leading_cards(rows))
        except VisualizerError:
            if executor is not None:
                raise
            chunks = plan_chunks(len(rows), 1)  # what cannot travel is drawn here, in one process
    # A local pool's processes start, import and build their figures while the GIF's palette is made.
    owned = local_pool(min(jobs, len(chunks)), drawing) if drawing is not None and executor is None else None
    try:
        if owned is not None:
            for _ in range(min(jobs, len(chunks))):
                owned.submit(os.getpid)  # starts the processes now (the pool starts one per task queued)
        for output in outputs:
            output.begin(work, len(chunks))
            # Held frames repeat the last row. Drawn here, before any fork: the GIF's palette needs the whole clip.
            output.prepare(lambda p: renderer.draw_rgba(rows[min(p, len(rows) - 1)]), len(rows) + hold_frames, fps)
        if drawing is not None:
            processes = _run_tasks(owned or executor, drawing, chunks, rows, outputs, fps, hold_frames, report)
        elif len(chunks) == 1:
            _render_chunk(0, chunks[0], rows, renderer, outputs, fps, hold_frames, report)
            processes = {(socket.gethostname(), os.getpid())}
        else:
            processes = _run_workers(chunks, rows, renderer, outputs, fps, hold_frames, report)
    except BaseException:
        if owned is not None:
            stop_pool(owned)
        raise
    if owned is not None:
        owned.shutdown()
    return sorted(processes)


# ---- chunks as tasks on an executor

_DRAWING = threading.Lock()  # one chunk at a time per process: matplotlib is not thread-safe
_CACHED: list = []  # [(drawing, renderer)]: the chunks of one render in one process share its renderer
_TASK = {"running": False, "stopped": False}


def draw_piece(drawing: bytes, k: int, positions: range, rows: Sequence[int], outputs: list[dict], fps: float,
               hold_frames: int) -> dict:
    """Draw and encode chunk ``k`` (``positions`` of the frame keys ``rows``) in this process, wherever it
    is, and return its pieces: ``{"pieces": {kind: data}, "process": (host, pid)}``.

    ``drawing`` says how to build the renderer (:func:`visualizer.run.portable.dumps` of its recipe; the figure
    is built once per process and render); ``outputs`` are :meth:`Output.travelling` settings. Errors come
    back classified as in a forked worker: the user's code as :class:`UserCodeError` with their traceback.
    """
    with _DRAWING:
        _TASK["running"] = True
        try:
            renderer = _renderer_for(drawing)
            with tempfile.TemporaryDirectory(prefix="visualizer-piece-") as tmp:
                made = [Output.elsewhere(settings, Path(tmp)) for settings in outputs]
                _render_chunk(k, positions, rows, renderer, made, fps, hold_frames, lambda n: None)
                return {"pieces": {o.kind: o.pack(k) for o in made}, "process": (socket.gethostname(), os.getpid())}
        except BaseException as exc:  # noqa: BLE001 - classified, so it travels back and reads as in a fork
            kind, _, payload = worker_outcome(k, exc)
            if kind == "interrupted":
                raise Interrupt(payload) from None
            raise payload from None
        finally:
            _TASK["running"] = False
            if _TASK["stopped"]:  # the pool is being stopped: the piece's files are cleaned up, now end
                os._exit(0)


def _renderer_for(drawing: bytes) -> Renderer:
    if _CACHED and _CACHED[0][0] == drawing:
        return _CACHED[0][1]
    from . import portable

    while _CACHED:
        _CACHED.pop()[1].close()
    layout, history, size, dpi, title, explain, explain_static, captions, title_card, preset = portable.loads(drawing)
    renderer = Renderer(layout, history, size=size, dpi=dpi, title=title, explain=explain,
                        explain_static=explain_static, captions=captions, title_card=title_card, preset=preset)
    _CACHED.append((drawing, renderer))
    return renderer


class _WorkerStop(SignalStop):
    """SIGTERM in a pool's process (once: a second signal must not cut the clean-up short): a running task
    stops as on Ctrl-C, an idle process ends at once."""

    def stop(self, signum: int) -> None:
        _TASK["stopped"] = True
        if _TASK["running"]:
            raise Interrupt(signum)
        os._exit(0)


def _pool_worker(parent: int, drawing: bytes | None, ready) -> None:
    """A local pool's process: Ctrl-C is the parent's to handle (it stops the pool); SIGTERM ends a task
    cleanly (its writers abort, its temporary files go) and an idle process at once, without a traceback.
    It builds the render's figure before taking a task, and waits until every process of the pool has (so
    the chunks spread over all of them, however slowly each one starts)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = _WorkerStop()
    signal.signal(signal.SIGTERM, stop)
    sys.unraisablehook = stop.unraisable  # a stop that lands in the collector's work is not lost
    _die_with_parent(parent, signal.SIGTERM)  # SIGTERM, not SIGKILL: the task still removes its files
    if drawing is not None:
        try:
            with _DRAWING:
                _renderer_for(drawing)
        except Exception:  # noqa: BLE001 - the chunk's own task meets it again and reports it
            pass
    if ready is not None:
        try:
            ready.wait(timeout=60)
        except threading.BrokenBarrierError:  # a process that never came: the others go on
            pass


def local_pool(jobs: int, drawing: bytes | None = None) -> Executor:
    """A pool of ``jobs`` spawned processes (safe where fork is not) for :func:`draw_piece` tasks of the
    render ``drawing`` describes."""
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context("spawn")
    ready = ctx.Barrier(jobs) if jobs > 1 else None
    return ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_pool_worker,
                               initargs=(os.getpid(), drawing, ready))


def stop_pool(pool: Executor) -> None:
    """Stop a local pool now: running tasks end (their files cleaned up), the processes are gone on return.

    The processes are stopped first and the pool shut down after: waiting on the pool's own shutdown while
    its processes are being stopped can hang (its manager thread and the processes wait on each other)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # the pool offers no public way
    for process in processes:
        process.terminate()  # SIGTERM: a task aborts its writers and removes its files, then the process ends
    deadline = time.monotonic() + 5
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
    pool.shutdown(wait=False, cancel_futures=True)


def _run_tasks(executor: Executor, drawing: bytes, chunks: list[range], rows: Sequence[int], outputs: list[Output],
               fps: float, hold_frames: int, report: Callable[[int], None]) -> set[tuple[str, int]]:
    settings = [output.travelling() for output in outputs]
    rows = list(rows)
    client = getattr(executor, "_visualizer_client", None)
    if client is not None:  # a Dask cluster: the history crosses the network once per worker, not per chunk
        drawing = client.scatter(drawing, broadcast=True)
    futures = {executor.submit(draw_piece, drawing, k, positions, rows, settings, fps, hold_frames): k
               for k, positions in enumerate(chunks)}
    processes = set()
    try:
        for future in as_completed(futures):
            k = futures[future]
            piece = _piece(future, k, chunks)
            for output in outputs:
                output.unpack(k, piece["pieces"].get(output.kind))
            processes.add(tuple(piece["process"]))
            report(len(chunks[k]))
    finally:
        for future in futures:
            future.cancel()
    return processes


def _piece(future, k: int, chunks: list[range]) -> dict:
    """A chunk's pieces; a process that died (killed, out of memory) or a cluster that lost the task is one
    clear error."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        return future.result()
    except BrokenProcessPool:
        # The pool cannot say whose process it was: every pending chunk fails alike.
        raise WorkerLost(f"a process drawing frames stopped unexpectedly (killed, or out of memory"
                         f"{spawn_hint()}); the render stopped") from None
    except Exception as exc:
        lost = lost_by_cluster(exc, _chunk_name(k, chunks), "the render stopped")
        if lost is None:
            raise
        raise lost from None


# How Dask says a task was lost: its worker died (KilledWorker), the connection closed, or the scheduler went
# away (every pending future is then cancelled: CancelledError, FutureCancelledError).
_LOST = ("KilledWorker", "CommClosedError", "FutureCancelledError", "CancelledError")


def lost_by_cluster(exc: BaseException, what: str, then: str) -> WorkerLost | None:
    """One line for a task a cluster lost (its workers or its scheduler gone), or ``None`` for any other
    failure. ``what`` names the task, ``then`` says what became of the command."""
    from concurrent.futures import CancelledError

    name = type(exc).__name__
    if not (isinstance(exc, CancelledError) or name in _LOST):
        return None
    why = {"KilledWorker": "the workers running it died", "CommClosedError": "the connection to the cluster closed"
           }.get(name, "the cluster cancelled it (its scheduler stopped, or lost every worker)")
    return WorkerLost(f"{what} was lost by the cluster: {why}; {then}")


class WorkerError(InternalError):
    """A render worker failed with a fault of ours; ``details`` is its traceback (kept for compatibility:
    :class:`~visualizer.base.errors.InternalError` is the general name)."""


def worker_outcome(k: int, exc: BaseException) -> tuple[str, int, object]:
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


def _die_with_parent(parent: int, signum: int = signal.SIGKILL) -> None:
    """Linux: have the kernel send ``signum`` to this worker if the parent dies (even by SIGKILL), so no orphan
    draws on."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signum), 0, 0, 0)  # PR_SET_PDEATHSIG
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
                 hold_frames: int, report: Callable[[int], None]) -> set[tuple[str, int]]:
    ctx = mp.get_context("fork")
    messages = ctx.Queue()
    parent = os.getpid()

    def work(k: int, positions: range) -> None:
        try:
            _worker_signals()
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a signal held since the fork arrives now
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
                outcome = worker_outcome(k, exc)
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
        # Signals wait while the workers start: one landing in a worker before its own handlers are in place
        # would run the parent's handler there, in the middle of multiprocessing's start-up (a traceback).
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
        try:
            for proc in procs:
                proc.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
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
    return {(socket.gethostname(), proc.pid) for proc in procs}
