"""PyTorch support (the extra ``[torch]``): ``from visualizer.torch import TorchRecorder, TorchModel``.

Defined in :mod:`visualizer.record.pytorch`; this module is their public address.
"""
from __future__ import annotations

from .record.pytorch import RecordingTooLarge, TorchModel, TorchModelMismatch, TorchRecorder

__all__ = ["RecordingTooLarge", "TorchModel", "TorchModelMismatch", "TorchRecorder"]
