"""``python -m visualizer``: the same as the ``visualizer`` command."""
from __future__ import annotations

import signal
import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while Python is still importing: nothing was started or written
    sys.stderr.write("visualizer: interrupted before anything was written\n")
    sys.exit(130)

status = main()
signal.signal(signal.SIGINT, signal.SIG_IGN)  # the work is over: a late Ctrl-C must not print a traceback
sys.exit(status)
