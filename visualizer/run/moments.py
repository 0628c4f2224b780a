"""Moments: training steps a teacher talks over, each with a caption. Around a moment the video slows down
and holds on the moment's frame; its caption, and the name of each stage of an explained step, become cues
(:class:`~visualizer.outputs.captions.Cue`) for the WebVTT file, the MP4's subtitle track, the player and
burned-in captions.

Moments come from a scene's ``moments`` (step → caption), ``--moment STEP:TEXT`` (repeatable) and a
captions file (``--captions FILE``): one moment per line, ``STEP: text`` or ``STEP  text``, blank lines and
lines starting with ``#`` ignored. A step the run did not record is moved to the nearest recorded step,
with a note saying so; one outside the recorded steps is left out, with a note.

The steps of a render's frames, in order: the rows chosen (:func:`~visualizer.run.render.select_rows`), then
:func:`slowed` (more recorded rows near each moment), the explained steps' sequences, then :func:`held` (the
moment's frame repeated for the hold, and its neighbours repeated a little, easing in and out of it).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from ..base.errors import VisualizerError
from ..outputs.captions import Cue

SLOW_SPAN = 8  # frames on each side of a moment that slow down
SLOW_DENSITY = 3  # near a moment, up to this many times the frames, from the recorded rows
SLOW_REPEAT = 3  # the frames next to a moment are shown this many times, easing back to once
CAPTION_AFTER = 2.0  # seconds a moment's caption stays after its hold
MAX_CAPTION = 200  # characters: a caption is a line under the picture, not a paragraph

_MOMENT = re.compile(r"\s*\+?(\d[\d_,]*)\s*(?::|\s)\s*(.*?)\s*")


def parse_moment(text: str, where: str = "moment") -> tuple[int, str]:
    """``"300: here it separates"`` (or ``"300 here it separates"``) → (300, "here it separates"); a
    :class:`VisualizerError` naming ``where`` otherwise."""
    m = _MOMENT.fullmatch(str(text))
    if not m or not m.group(2):
        raise VisualizerError(f"{where}: expected STEP: TEXT such as '300: here it separates', got {text!r}")
    caption = m.group(2)
    if len(caption) > MAX_CAPTION:
        raise VisualizerError(f"{where}: a caption is at most {MAX_CAPTION} characters, got {len(caption)}")
    return int(m.group(1).replace("_", "").replace(",", "")), caption


def read_captions(path: str | Path) -> list[tuple[int, str]]:
    """The moments of a captions file (see the module's docstring); a bad line raises a
    :class:`VisualizerError` naming the file and the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VisualizerError(f"no captions file at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise VisualizerError(f"cannot read captions file {path}: {exc}") from None
    moments = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            moments.append(parse_moment(line, f"{path} line {n}"))
    return moments


def gather(scene_moments: Mapping[int, str] | None, given: Iterable | Mapping | None = None,
           captions: str | Path | None = None) -> dict[int, str]:
    """Every moment of a render, by step: the scene's, then a captions file's, then those ``given``
    (``"STEP: TEXT"`` strings, (step, text) pairs or a mapping); a later one at the same step wins."""
    moments = {}
    for step, text in dict(scene_moments or {}).items():
        moments.update([parse_moment(f"{step}: {text}", f"scene moment at step {step}")])
    if captions is not None:
        moments.update(read_captions(captions))
    items = given.items() if isinstance(given, Mapping) else [given] if isinstance(given, str) else (given or ())
    for item in items:
        if isinstance(item, str):
            moments.update([parse_moment(item, f"moment {item!r}")])
        else:
            try:
                step, text = item
            except (TypeError, ValueError):
                raise VisualizerError(f"moment {item!r}: give 'STEP: TEXT' or a (step, text) pair") from None
            moments.update([parse_moment(f"{step}: {text}", f"moment {item!r}")])
    return dict(sorted(moments.items()))


def moment_rows(steps: np.ndarray, moments: Mapping[int, str]) -> tuple[dict[int, str], list[str]]:
    """The history row of each moment (row → caption; the nearest recorded step for one the run did not
    record) and a note for each moved; a moment outside the recorded steps (a shorter run than the scene's)
    is left out, with a note."""
    rows: dict[int, str] = {}
    notes = []
    steps = np.asarray(steps)
    for step, text in moments.items():
        if not steps[0] <= step <= steps[-1]:
            notes.append(f"moment at step {step:,} is left out: this run recorded steps {int(steps[0]):,} to "
                         f"{int(steps[-1]):,}")
            continue
        row = int(np.argmin(np.abs(steps - step)))
        if int(steps[row]) != step:
            notes.append(f"moment at step {step:,} is shown at step {int(steps[row]):,}, the nearest recorded step")
        rows[row] = f"{rows[row]} / {text}" if row in rows else text
    return rows, notes


def slowed(rows: Sequence[int], history_steps: np.ndarray, moment_rows: Iterable[int],
           limit: int | None = None) -> list[int]:
    """``rows`` (the chosen history rows, in order) with each moment's row added, and near each moment up to
    :data:`SLOW_DENSITY` times the frames, taken from the recorded rows between the chosen ones.

    At most ``limit`` rows (``--max-frames``): the frames near a moment then take up to a third of them,
    the chosen rows giving way evenly (never the first, the last or a moment's), the ones nearest a moment
    kept first."""
    out = set(int(r) for r in rows)
    marks = sorted(set(int(m) for m in moment_rows))
    out.update(marks)
    chosen = sorted(out)
    n_recorded = len(history_steps)
    for m in marks:
        i = chosen.index(m)
        lo, hi = chosen[max(0, i - SLOW_SPAN)], chosen[min(len(chosen) - 1, i + SLOW_SPAN)]
        between = np.arange(lo, min(hi, n_recorded - 1) + 1)
        want = SLOW_DENSITY * (min(i, SLOW_SPAN) + min(len(chosen) - 1 - i, SLOW_SPAN)) + 1
        if len(between) > want:
            between = between[np.unique(np.round(np.linspace(0, len(between) - 1, want)).astype(int))]
        out.update(int(r) for r in between)
    if limit is None or len(out) <= limit:
        return sorted(out)
    added = sorted(out - set(chosen), key=lambda r: (min(abs(r - m) for m in marks), r))
    protected = {chosen[0], chosen[-1], *marks}
    free = [r for r in chosen if r not in protected]
    keep = max(0, min(len(free), limit - len(protected) - min(len(added), limit // 3)))
    base = protected | {free[int(k)] for k in np.round(np.linspace(0, len(free) - 1, keep)).astype(int)} \
        if keep else protected
    return sorted(base | set(added[:max(0, limit - len(base))]))


def held(frames: Sequence[int], moment_rows: Iterable[int], hold_frames: int) -> list[int]:
    """The frame keys with each moment's row shown ``1 + hold_frames`` times and the :data:`SLOW_SPAN` row
    frames on each side of it repeated, up to :data:`SLOW_REPEAT` times next to it. A repeated key is the
    same frame shown again (drawn once, one PNG)."""
    marks = set(int(m) for m in moment_rows)
    plain = [p for p, key in enumerate(frames) if _is_row(key)]  # the rows' own frames, not explain frames
    repeats = [1] * len(frames)
    for order, p in enumerate(plain):
        if frames[p] not in marks:
            continue
        repeats[p] = max(repeats[p], 1 + hold_frames)
        for d in range(1, SLOW_SPAN + 1):
            ease = 1 + round((SLOW_REPEAT - 1) * (1 - (d - 1) / SLOW_SPAN))
            for q in (order - d, order + d):
                if 0 <= q < len(plain):
                    repeats[plain[q]] = max(repeats[plain[q]], ease)
    return [key for key, n in zip(frames, repeats) for _ in range(n)]


def cues(frames: Sequence[int], moments: Mapping[int, str], fps: float, hold_frames: int, end: int,
         stages: Sequence[tuple[int, int, str, str]] = ()) -> list[Cue]:
    """The captions of a video of ``end`` frames whose frame keys are ``frames``: each moment's (row →
    caption) from its frame for the hold and :data:`CAPTION_AFTER` seconds more, never into the next cue;
    and ``stages`` as they are: (start, stop, text, chapter) of each stage of an explained step."""
    found = [(start, stop, text, chapter) for start, stop, text, chapter in stages]
    seen = set()
    linger = 1 + hold_frames + round(CAPTION_AFTER * fps)
    for p, key in enumerate(frames):
        if _is_row(key) and key in moments and key not in seen:
            seen.add(key)
            found.append((p, p + linger, moments[key], moments[key]))
    found.sort()
    return [Cue(start, max(start + 1, min(stop, end, *(s for s, *_ in found[k + 1:k + 2]))), text, chapter)
            for k, (start, stop, text, chapter) in enumerate(found)]


def stage_cues(frames: Sequence[int], steps: Sequence[int], name: Callable[[int], str]) -> list[tuple]:
    """(start, stop, text, chapter) of each stage of every explained step among the frame keys: a run of
    explain frames whose ``name(key)`` is the same; the first stage of a step starts its chapter."""
    out: list[tuple] = []
    for p, key in enumerate(frames):
        if _is_row(key) or not hasattr(key, "phase"):  # a row's frame, the title card
            continue
        text = f"Step {steps[p]:,}: {name(key)}"
        if out and out[-1][1] == p and out[-1][2] == text:
            out[-1] = (out[-1][0], p + 1, text, out[-1][3])
        else:
            first = not out or out[-1][1] != p or not out[-1][2].startswith(f"Step {steps[p]:,}:")
            out.append((p, p + 1, text, f"Step {steps[p]:,} in slow motion" if first else ""))
    return out


def _is_row(key: int) -> bool:
    """A history row's own frame (not an explained step's slow-motion frame, an ``int`` subclass)."""
    return type(key) is int or isinstance(key, np.integer)


__all__ = ["CAPTION_AFTER", "cues", "gather", "held", "moment_rows", "parse_moment", "read_captions", "slowed", "stage_cues"]
