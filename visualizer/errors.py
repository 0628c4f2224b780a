"""Exceptions a user can act on; the CLI turns them into one line on stderr and exit status 2."""
from __future__ import annotations


class VisualizerError(Exception):
    """A problem with the user's input (scene, options, paths) with a message saying what to do."""


class SceneError(VisualizerError):
    """A scene file or name that cannot be loaded or does not describe a scene."""


class DivergenceError(VisualizerError):
    """Training produced a non-finite loss, parameter or gradient; ``step`` is the first bad one."""

    def __init__(self, message: str, step: int = -1) -> None:
        super().__init__(message)
        self.step = step


class EncodeError(VisualizerError):
    """ffmpeg failed to write a video or GIF."""


class HistoryError(VisualizerError):
    """A history file that cannot be read: not a history, truncated, or from a newer schema."""
