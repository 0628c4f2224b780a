"""Two softplus neurons from the seed notebook's exact start (seed 13, no output bias): stuck in a local minimum.

The seed notebook ``003_8e6ca411fd70b4b4`` as it was: ``random.seed(13)``, six ``random.gauss(0, 3)`` draws for
iw1, ow1, b1, iw2, ow2, b2, prediction ``ow1·softplus(iw1·x + b1) + ow2·softplus(iw2·x + b2)`` without an
output bias, learning rate 0.01, 600 steps. The SSR falls from 5.83 to 2.14 and stays near 1.87 even after
20,000 steps: the neurons sit in a valley of the loss that misses the bump. ``--layout why`` shows that
valley on the loss landscape. It changes nothing else relative to ``softplus_fit`` (the same data, the same
fixed gradients, the same panels; the code is that scene's :func:`notebook_scene`); ``softplus_fit`` is the run
that learns.
"""
from __future__ import annotations

from pathlib import Path

from visualizer.run.scene import import_user_file

_FIT = import_user_file(Path(__file__).with_name("softplus_fit.py"))


def scene():
    """The notebook's run, built by softplus_fit's code."""
    return _FIT.notebook_scene()
