"""What every stage may use: the package's version, its errors (:mod:`.errors`) and writing a file whole
(:mod:`.files`). Imports nothing else of the package."""
from __future__ import annotations

__version__ = "0.2.0"
