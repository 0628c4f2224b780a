"""``python -m visualizer``: the same as the ``visualizer`` command."""
from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
