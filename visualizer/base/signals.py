"""Stopping the work on a signal: :class:`SignalStop`, the handler the program and its drawing processes
install for SIGINT, SIGTERM and SIGHUP."""
from __future__ import annotations

import os
import signal
import sys
import threading

from .errors import Interrupt


class SignalStop:
    """A signal's handler: the first signal stops the work (:meth:`stop`: raises :class:`Interrupt`, which
    every stage cleans up on as on Ctrl-C); later ones are ignored while that clean-up runs, so a second
    Ctrl-C cannot cut it short and leave workers, ffmpeg or temporaries behind.

    A signal's handler runs wherever the main thread is, and Python swallows what is raised inside a finalizer
    or a weak reference's callback (the garbage collector's work, at any moment): it would print "Exception
    ignored in …" with a traceback, and the stop would be lost. Installed as ``sys.unraisablehook``,
    :meth:`unraisable` takes such a swallowed :class:`Interrupt` silently and sends the signal again a moment
    later, so it is raised in the work's own code."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.swallowed = False
        self.hook = sys.unraisablehook

    def __call__(self, signum: int, frame: object) -> None:
        if self.signum is None or self.swallowed:
            self.signum, self.swallowed = signum, False
            self.stop(signum)

    def stop(self, signum: int) -> None:
        raise Interrupt(signum)

    def unraisable(self, unraisable: object) -> None:
        if isinstance(getattr(unraisable, "exc_value", None), Interrupt) and self.signum is not None:
            # Sent again a moment later from another thread, so that it is handled once this callback is left
            # (raised here, or sent from here, it would be handled and swallowed inside the callback again).
            # Only while this handler still stands: work that ended meanwhile gets no late signal.
            self.swallowed = True
            again = threading.Timer(0.01, self._again, (self.signum,))
            again.daemon = True
            again.start()
            return
        self.hook(unraisable)

    def _again(self, signum: int) -> None:
        if self.swallowed and signal.getsignal(signum) is self:
            os.kill(os.getpid(), signum)
