"""Captions and chapters of a render's video: cues placed by frame position, written as WebVTT.

A :class:`Cue` is text shown from one video frame up to (not including) another; the render places them (at
its moments, and at the stages of explained steps) and the MP4 format writes them as ``<name>.vtt`` beside
the video and muxes them into it as a soft subtitle track; the player shows them and marks chapters on its
slider. Times come from frame positions and the frame rate only, so the file, the track and the player agree.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..base.files import written

LANGUAGE = "eng"  # ISO 639-2, as MP4 tracks are tagged
TRACK_TITLE = "Captions"


@dataclass(frozen=True)
class Cue:
    """``text`` shown from video frame ``start`` to frame ``end`` (exclusive); ``chapter`` names the
    chapter it starts (a moment, an explained stage) or is empty."""

    start: int
    end: int
    text: str
    chapter: str = ""


def timestamp(seconds: float) -> str:
    """``seconds`` as WebVTT's ``HH:MM:SS.mmm``."""
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def cue_text(text: str) -> str:
    """``text`` safe inside a WebVTT cue: ``&``, ``<`` and ``>`` as character references (a caption is never
    markup), and no blank line (which would end the cue) nor ``-->``."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "\n".join(lines) or " "


def vtt_text(cues: list[Cue], fps: float) -> str:
    """The WebVTT file of ``cues`` in a video of ``fps`` frames per second."""
    parts = ["WEBVTT", ""]
    for n, cue in enumerate(cues, 1):
        parts += [str(n), f"{timestamp(cue.start / fps)} --> {timestamp(cue.end / fps)}", cue_text(cue.text), ""]
    return "\n".join(parts)


def write_vtt(path: Path, cues: list[Cue], fps: float) -> Path:
    """Write the cues' WebVTT file to ``path`` whole; returns ``path``."""
    with written(Path(path), ".vtt") as tmp:
        Path(tmp).write_text(vtt_text(cues, fps), encoding="utf-8")
    return Path(path)


def cue_count(path: Path) -> int:
    """How many cues a WebVTT file holds (the lines with a ``-->``)."""
    return sum("-->" in line for line in Path(path).read_text(encoding="utf-8").splitlines())


__all__ = ["Cue", "LANGUAGE", "TRACK_TITLE", "cue_count", "cue_text", "timestamp", "vtt_text", "write_vtt"]
