"""The lessons' toy data sets, deterministic from a seed (``from visualizer.datasets import spiral``).

They are made in :mod:`visualizer.engine.datasets`; this module is their public address.
"""
from __future__ import annotations

from .engine.datasets import *  # noqa: F401,F403 - the public face of the engine's data sets
from .engine.datasets import __all__  # noqa: F401
