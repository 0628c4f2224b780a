"""What every stage may use: the package's version, its errors (:mod:`.errors`), writing a file whole
(:mod:`.files`) and stopping on a signal (:mod:`.signals`). Imports nothing else of the package."""
from __future__ import annotations

__version__ = "0.2.0"
