"""``python -m visualizer``: the same as the ``visualizer`` command."""
from __future__ import annotations

import sys

try:
    from .cli import run
except KeyboardInterrupt:  # Ctrl-C while Python is still importing: nothing was started or written
    sys.stderr.write("visualizer: interrupted before anything was written\n")
    sys.exit(130)

sys.exit(run())
