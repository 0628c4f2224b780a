"""A tiny headless-Chromium driver for tests: the Chrome DevTools Protocol over a pipe, standard library only.

Chromium started with ``--remote-debugging-pipe`` reads protocol messages from file descriptor 3 and writes
its answers to descriptor 4, each a JSON object ended by a NUL byte. :class:`Browser` starts it with those two
descriptors mapped to pipes, opens one page and talks to it synchronously: every call waits for its own
answer (dropping the events that arrive meanwhile; no domain that sends many is enabled), and every wait is
bounded by a timeout.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    # Without these, an offline machine refuses the browser's own background connections many times over.
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-default-apps", "--disable-breakpad", "--disable-crash-reporter",
    "--mute-audio", "--hide-scrollbars",
]


def find_chromium() -> str | None:
    """The path of a Chromium or Chrome binary on PATH, or ``None``."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


_TRAMPOLINE = """import os, sys
read, write = int(sys.argv[1]), int(sys.argv[2])
os.dup2(read, 3); os.dup2(write, 4); os.close(read); os.close(write)
os.execv(sys.argv[3], sys.argv[3:])
"""


def _above_4(fd: int) -> int:
    """``fd`` moved to a descriptor number of at least 5."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5)
    os.close(fd)
    return moved


class BrowserError(RuntimeError):
    """The browser died, timed out, or answered a command with an error."""


class Browser:
    """One headless Chromium process with one page, driven over ``--remote-debugging-pipe``."""

    def __init__(self, executable: str, *, width: int = 1280, height: int = 860, timeout: float = 20.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="visualizer-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Move the child's ends above 4, so mapping them onto 3 and 4 never overwrites one with the other.
        to_browser_r, from_browser_w = (_above_4(to_browser_r), _above_4(from_browser_w))
        # A two-line Python trampoline puts our two pipe ends on descriptors 3 and 4 and execs the browser (whose
        # launcher script execs the real binary), so the process we hold is the browser itself. (dash, the
        # usual /bin/sh, cannot redirect from descriptors above 9.)
        args = [executable, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self._profile}",
                f"--window-size={width},{height}", "about:blank"]
        try:
            self.process = subprocess.Popen([sys.executable, "-c", _TRAMPOLINE, str(to_browser_r),
                                             str(from_browser_w), *args],
                                            pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            start_new_session=True)
        finally:
            os.close(to_browser_r)
            os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self._session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            self.send("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
            self.send("Emulation.setFocusEmulationEnabled", {"enabled": True})
        except BaseException:
            self.close()
            raise

    # -- protocol ---------------------------------------------------------------------------------------

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send one command (to the browser, or to ``session``) and return its result."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._write(json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read(deadline, f"an answer to {method}")
            if reply.get("id") == message["id"]:  # anything else is an event, and no test needs those
                if "error" in reply:
                    raise BrowserError(f"{method} failed: {reply['error']}")
                return reply.get("result", {})

    def send(self, method: str, params: dict | None = None) -> dict:
        """A command to the page."""
        return self.call(method, params, self._session)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._to_browser, view)
            view = view[written:]

    def _read(self, deadline: float, waiting_for: str) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"timed out after {self.timeout:g} s waiting for {waiting_for}")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise BrowserError(f"the browser closed its pipe while we waited for {waiting_for} "
                                       f"(exit status {self.process.poll()})")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    # -- page helpers -----------------------------------------------------------------------------------

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable values only)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"{expression!r} threw: {details.get('exception', {}).get('description', details)}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float | None = None) -> Any:
        """Evaluate ``expression`` until it is truthy; returns that value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {expression!r} to be true")
            time.sleep(0.02)

    def open(self, url: str) -> None:
        """Load ``url`` as a new document (even when only its #fragment differs from the current one)."""
        for target in ("about:blank", url):
            self.send("Page.navigate", {"url": target})
            # Compared without the fragment: the page may rewrite its own #fragment while it loads.
            document = json.dumps(target.split("#")[0])
            self.wait_for(f"location.href.split('#')[0] === {document} && document.readyState === 'complete'")

    def press(self, key: str) -> None:
        """A real key press (down and up) on the focused element, e.g. ``"ArrowRight"``."""
        codes = {"ArrowLeft": 37, "ArrowUp": 38, "ArrowRight": 39, "ArrowDown": 40, "Home": 36, "End": 35,
                 " ": 32, "Enter": 13, "Tab": 9}
        event = {"key": key, "code": "Space" if key == " " else key, "windowsVirtualKeyCode": codes.get(key, 0)}
        self.send("Input.dispatchKeyEvent", {"type": "keyDown", **event})
        self.send("Input.dispatchKeyEvent", {"type": "keyUp", **event})

    def screenshot(self, path: str | Path) -> Path:
        """Save a PNG of the page's viewport."""
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    # -- lifetime ---------------------------------------------------------------------------------------

    def close(self) -> None:
        """Ask the browser to quit, then kill its process group whatever happened; remove the profile."""
        if self.process.poll() is None:
            try:
                self._write(json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
                self.process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        try:  # the renderer and helper processes share the browser's process group (its own session)
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
