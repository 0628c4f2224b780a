"""Every render option once: its default, how it is checked, and its help text (the CLI and the API share it).

An option left at ``None`` is "not given": the scene's own setting applies, then the default written here.
The API's keyword names are the command line's option names (``format=`` is ``--format``, ``gif_fps=`` is
``--gif-fps``).
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable

from ..base.errors import VisualizerError
from ..draw import MIN_SIZE, STAGE_SECONDS, TITLE_SECONDS
from ..draw.presets import PRESETS, THEMES
from ..outputs.formats import choosable, format_help, in_all
from ..outputs.handout import HANDOUT_PAGES
from ..record.pace import PACES
from ..record.schedule import RecordSchedule, every_that_fits

QUALITY = {"low": (854, 480), "medium": (1280, 720), "high": (1920, 1080)}
DEFAULT_SIZE = (1280, 720)
DEFAULT_FPS = 30.0
DEFAULT_GIF_FPS = 15.0
DEFAULT_GIF_WIDTH = 960  # the cap for the default frame size; other sizes keep their width
MAX_SIZE = (7680, 4320)
LIMITS = {"fps": 240.0, "hold": 600.0, "explain_seconds": 600.0, "dpi": 1200.0, "steps": 100_000_000,
          "max_frames": 1_000_000}
MIN_FPS = 0.1  # a frame every ten seconds: slower is no video a player or ffmpeg takes
MIN_DPI = 10.0  # below it the text is under two pixels tall (and the font engine refuses sizes under one)
MAX_HISTORY_BYTES = 4 * 1024**3  # the recorded history is held in memory whole
MIN_FIGURE_INCHES = (2.0, 1.0)  # a smaller figure cannot hold its titles and tick labels


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` → (1280, 720)."""
    m = re.fullmatch(r"\s*(\d+)\s*[x×X]\s*(\d+)\s*", str(text))
    if not m:
        raise ValueError(f"expected WIDTHxHEIGHT such as 1280x720, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def parse_formats(formats: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"mp4,gif"`` or ``["mp4", "gif"]`` or ``"all"`` → names of formats the user may ask for (the
    registry's: :mod:`visualizer.outputs.formats`), in the registry's order. ``"all"`` is every format but
    those asked for by name only (the handout): ``"all,pdf"`` adds it."""
    known = choosable()
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    items = [str(f).strip().lower() for f in items if str(f).strip()]
    if "all" in items:
        items = [f for f in items if f != "all"] + list(in_all())
    unknown = [f for f in items if f not in known]
    if unknown or not items:
        raise VisualizerError(f"unknown format {', '.join(unknown) or '(none)'}; use any of {', '.join(known)} "
                              "(comma-separated) or all")
    return tuple(f for f in known if f in items)


def parse_steps(text: str | int | list | tuple) -> tuple[int, ...]:
    """``"300,600"`` (or 300, or [300, 600]) → (300, 600): steps to explain, in order, each once."""
    items = list(text) if isinstance(text, (list, tuple)) else str(text).split(",")
    steps = []
    for item in items:
        if isinstance(item, bool) or not str(item).strip().lstrip("+").isdigit():
            raise ValueError(f"expected recorded steps such as 300 or 0,300 (whole numbers, comma-separated), "
                             f"got {text!r}")
        steps.append(int(str(item).strip()))
        if steps[-1] > LIMITS["steps"]:
            raise ValueError(f"expected recorded steps, at most {LIMITS['steps']:,} (the most a run takes), got "
                             f"{str(item).strip()}")
    if not steps:
        raise ValueError("give at least one step to explain, such as 300")
    return tuple(sorted(set(steps)))


def _steps(v) -> str | None:
    try:
        parse_steps(v)
    except (ValueError, TypeError) as exc:
        return f"must be {exc}" if "expected" not in str(exc) else str(exc).replace("expected", "must be", 1)
    return None


def _whole(low: int, high: float = math.inf) -> Callable[[Any], str | None]:
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int) and not (isinstance(v, float) and v.is_integer()):
            return f"must be a whole number, got {v!r}"
        if not low <= v <= high:
            return f"must be between {low:,} and {high:,}, got {v:,}" if high < math.inf else \
                f"must be at least {low}, got {v}"
        return None
    return check


def _number(low: float, high: float, low_open: bool = True) -> Callable[[Any], str | None]:
    def check(v):
        try:
            v = float(v)
        except (TypeError, ValueError):
            return f"must be a number, got {v!r}"
        if not math.isfinite(v) or (v <= low if low_open else v < low) or v > high:
            lo = f"above {low:g}" if low_open else f"at least {low:g}"
            return f"must be {lo} and at most {high:g}, got {v:g}"
        return None
    return check


def _seed(v) -> str | None:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**32:
        return f"must be a whole number from 0 to {2**32 - 1}, got {v!r}"
    return None


NAME_MAX, PATH_MAX = 255, 4096  # the longest name and path most file systems take (Linux's limits)
OWN_NAMES = 120  # what the render adds below OUT: <scene>/.staging-<pid>-<random>/frames/frame_<step>.png


def _out(v) -> str | None:
    """The output folder's path must leave room for the render's own names below it."""
    text = os.fspath(v) if isinstance(v, (str, os.PathLike)) else None
    if not text:
        return f"must be a folder path, got {v!r}"
    long = [part for part in Path(text).parts if len(os.fsencode(part)) > NAME_MAX]
    if long:
        part = long[0]
        return (f"has a name of {len(os.fsencode(part))} bytes ({part[:12]}…{part[-6:]}); a file system takes "
                f"names of at most {NAME_MAX}")
    whole = len(os.fsencode(os.path.abspath(text)))
    if whole + OWN_NAMES > PATH_MAX:
        return (f"is {whole:,} bytes long as a full path; with the render's own names below it that passes the "
                f"{PATH_MAX:,} a path may have: give a shorter one")
    return None


def _moment(v) -> str | None:
    from .moments import parse_moment

    try:
        for item in [v] if isinstance(v, str) else v:
            if isinstance(item, str):
                parse_moment(item, repr(item if len(item) <= 40 else item[:37] + "..."))
    except VisualizerError as exc:
        return str(exc)
    return None


def _opt(default: Any, help: str | Callable[[], str], metavar: str | None = None, check=None, parse=None, flag: bool = False,
         short: str | None = None, choices=None, many: bool = False) -> Any:
    return field(default=default, metadata=dict(help=help, metavar=metavar, check=check, parse=parse, flag=flag,
                                                short=short, choices=choices, many=many))


@dataclass(frozen=True)
class RenderOptions:
    """The options of a render; ``None`` means "not given" (the scene's setting, then the default)."""

    out: str = _opt("output", "output folder; files go to OUT/<scene>/", "DIR", _out)
    format: str = _opt("all", format_help, "LIST")  # the help names the formats registered when it is shown
    steps: int | None = _opt(None, "training steps (default: the scene's)", "N", _whole(1, LIMITS["steps"]), int)
    every: int | None = _opt(None, "record every K-th step, plus the last, and draw at most as many frames "
                             "as that makes (default: the scene's)", "K",
                             _whole(1), int)
    max_frames: int | None = _opt(None, "at most M frames, spaced by the pace, always the first and the last",
                                  "M", _whole(2, LIMITS["max_frames"]), int)
    pace: str = _opt("change", "which steps become frames: change (evenly along how much the network and its "
                     "losses change, so fast learning gets many frames and a still network few), log (evenly in "
                     "log steps) or steps (evenly in steps); the built-in trainer records extra early steps for "
                     "change and log", None, None, None, choices=list(PACES))
    seed: int | None = _opt(None, "initialisation seed (default: the scene's)", "S", _seed, int)
    size: tuple[int, int] | None = _opt(None, f"frame size in pixels (default: {DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]})",
                                        "WxH", None, parse_size)
    quality: str | None = _opt(None, "size preset: " + ", ".join(f"{k} {w}x{h}" for k, (w, h) in QUALITY.items()),
                               None, None, None, choices=list(QUALITY))
    preset: str = _opt("default", "how the frames are drawn: default, or lecture (1920x1080 unless a size or "
                       "quality is given; text and titles large enough for the back row, thicker lines, bigger "
                       "markers, the layout's secondary panels left out)", None, None, None, choices=list(PRESETS))
    theme: str = _opt("light", "the frames' colours: light, or dark for a dark lecture hall (the same colour "
                      "roles on a dark background)", None, None, None, choices=list(THEMES))
    fps: float | None = _opt(None, f"video frame rate (default: {DEFAULT_FPS:g})", "N",
                             _number(MIN_FPS, LIMITS["fps"], low_open=False), float)
    dpi: float | None = _opt(None, "text and line scale: larger makes them bigger at the same pixel size "
                             "(default: 100 at 1280x720, scaled with the frame so every size looks alike)", "N",
                             _number(MIN_DPI, LIMITS["dpi"], low_open=False), float)
    hold: float = _opt(0.0, "show the last frame this long at the end of the MP4 and GIF (default: 0)", "SECONDS",
                       _number(0, LIMITS["hold"], low_open=False), float)
    last_frame: bool = _opt(False, "write only the final frame, as poster.png", flag=True)
    gif_fps: float | None = _opt(None, f"GIF frame rate, at most the video's and 50 (default: "
                                 f"{DEFAULT_GIF_FPS:g})", "N", _number(MIN_FPS, LIMITS["fps"], low_open=False), float)
    gif_width: int | None = _opt(None, f"GIF width in pixels, at most the frame width (default: the frame "
                                 f"width, capped at {DEFAULT_GIF_WIDTH} for the default size)", "PX",
                                 _whole(16, MAX_SIZE[0]), int)
    jobs: int | None = _opt(None, "worker processes drawing and encoding frames at once (default: every core)",
                            "N", _whole(1, 256), int)
    allow_divergence: bool = _opt(False, "if training diverges, render the steps before it instead of stopping",
                                  flag=True)
    explain: tuple[int, ...] | None = _opt(None, "before each of these recorded steps, show that step in slow "
                                           "motion on the network diagram: forward pass, loss, backward pass, "
                                           "update; the outputs go to OUT/<scene>-explain/", "STEP[,STEP]", _steps,
                                           parse_steps)
    explain_seconds: float | None = _opt(None, "with --explain: how long each of the four stages lasts, its last "
                                         f"third held still (default: {STAGE_SECONDS:g})", "SECONDS",
                                         _number(0, LIMITS["explain_seconds"]), float)
    moment: tuple | None = _opt(None, "a moment to talk over: the video slows down around STEP, holds there and "
                                "shows TEXT as a caption (repeatable; adds to the scene's moments)", "STEP:TEXT",
                                _moment, str, many=True)
    captions: str | None = _opt(None, "a captions file: one moment per line, 'STEP: text'; '#' starts a "
                                "comment line", "FILE", None, str)
    moment_hold: float = _opt(3.0, "seconds the video holds on each moment's frame", "SECONDS",
                              _number(0, LIMITS["hold"], low_open=False), float)
    burn_captions: bool = _opt(False, "draw the captions into the frames (and so into the GIF and PNGs) in a "
                               "band under the panels", flag=True)
    title_card: bool = _opt(False, "start the MP4, GIF and player with a title card: the scene's title, the "
                            "network, the loss, the optimizer and the data", flag=True)
    title_seconds: float | None = _opt(None, f"with --title-card: how long the card is shown (default: "
                                       f"{TITLE_SECONDS:g})", "SECONDS", _number(0, LIMITS["hold"]), float)
    pages: int | None = _opt(None, f"the handout's pages (--format pdf): the first frame, the moments, and "
                             f"frames evenly spaced, {HANDOUT_PAGES} in all by default (moments beyond that add "
                             "pages)", "N", _whole(1, 500), int)

    def checked(self) -> RenderOptions:
        """Validate every option; raise :class:`VisualizerError` naming the first bad one. An option given as
        ``None`` whose default is not ``None`` (``pace=None``) takes its default, as "not given" means."""
        given_none = {f.name: f.default for f in fields(self)
                      if getattr(self, f.name) is None and f.default is not None}
        if given_none:
            return replace(self, **given_none).checked()
        for f in fields(self):
            value, check = getattr(self, f.name), f.metadata["check"]
            if value is not None and check is not None:
                problem = check(value)
                if problem:
                    raise VisualizerError(f"{f.name.replace('_', ' ')} {problem}")
        if self.pace not in PACES:
            raise VisualizerError(f"unknown pace {self.pace!r}; use one of {', '.join(PACES)}")
        if self.preset not in PRESETS:
            raise VisualizerError(f"unknown preset {self.preset!r}; use one of {', '.join(PRESETS)}")
        if self.theme not in THEMES:
            raise VisualizerError(f"unknown theme {self.theme!r}; use one of {', '.join(THEMES)}")
        if self.quality is not None and self.quality not in QUALITY:
            raise VisualizerError(f"unknown quality {self.quality!r}; use one of {', '.join(QUALITY)}")
        if self.size is not None and self.quality is not None:
            raise VisualizerError("give a size or a quality, not both")
        if self.size is not None:
            check_size(self.size)
        if self.dpi is not None and (self.size is not None or self.quality is not None):
            check_dpi(self.dpi, self.frame_size())
        parse_formats(self.format)
        self.moments({})  # a bad --moment or captions file line fails here, before training
        if self.last_frame and self.explain is not None:
            raise VisualizerError("last frame writes only the poster; explain shows steps in the videos: give one")
        if self.explain_seconds is not None and self.explain is None:
            raise VisualizerError("explain seconds goes with explain: give the steps to show in slow motion")
        if self.title_seconds is not None and not self.title_card:
            raise VisualizerError("title seconds goes with title card: ask for the card")
        if self.pages is not None and "pdf" not in self.formats:
            raise VisualizerError("pages sets the handout's length; ask for the handout: format pdf (all leaves "
                                  "it out)")
        if self.last_frame and self.format != "all":
            raise VisualizerError("last frame writes only the poster; leave the format out (the player and "
                                  "videos need every frame)")
        return self

    @property
    def drawn_as(self) -> str:
        """The preset to draw with, in the theme (``"lecture:dark"``; the preset's name alone in the light one)."""
        return self.preset if self.theme == "light" else f"{self.preset}:{self.theme}"

    @property
    def explain_steps(self) -> tuple[int, ...]:
        """The steps to explain, sorted (none if not given)."""
        return () if self.explain is None else parse_steps(self.explain)

    def moments(self, scene_moments: dict[int, str] | None) -> dict[int, str]:
        """Every moment by step: the scene's, the captions file's, then the ``moment`` option's."""
        from .moments import gather

        return gather(scene_moments, self.moment, self.captions)

    def title_frames(self, fps: float) -> int:
        """How many video frames show the title card (none without it, or with only the last frame)."""
        if not self.title_card or self.last_frame:
            return 0
        return max(1, round((TITLE_SECONDS if self.title_seconds is None else self.title_seconds) * fps))

    @property
    def stage_seconds(self) -> float:
        """How long each stage of an explained step lasts."""
        return STAGE_SECONDS if self.explain_seconds is None else float(self.explain_seconds)

    @property
    def formats(self) -> tuple[str, ...]:
        """The requested formats as a tuple of names (none for ``last_frame``)."""
        return () if self.last_frame else parse_formats(self.format)

    def frame_size(self, scene_size: tuple[int, int] | None = None) -> tuple[int, int]:
        """The size given, or the quality preset, or a preset's own size (lecture), or the scene's, or the
        default."""
        own = PRESETS[self.preset].size if self.preset in PRESETS and self.preset != "default" else None
        size = tuple(self.size or (QUALITY[self.quality] if self.quality else None) or own or scene_size
                     or DEFAULT_SIZE)
        return check_size(size)

    def frame_rate(self, scene_fps: float | None = None) -> float:
        """The fps given, or the scene's, or the default."""
        return float(self.fps or scene_fps or DEFAULT_FPS)

    def gif_size_width(self, size: tuple[int, int]) -> int:
        """The GIF's width: as given (at most the frame's), else the frame's, capped for the default size."""
        if self.gif_width:
            return min(self.gif_width, size[0])
        return min(DEFAULT_GIF_WIDTH, size[0]) if tuple(size) == DEFAULT_SIZE else size[0]

    def gif_rate(self, fps: float) -> float:
        """The GIF's frame rate: as given or the default, at most the video's and 50."""
        from ..outputs.gif import gif_rate

        return gif_rate(self.gif_fps or DEFAULT_GIF_FPS, fps)


def check_size(size) -> tuple[int, int]:
    """A (width, height) inside the supported range, or :class:`VisualizerError` saying the range."""
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise VisualizerError(f"size must be two whole numbers (width, height), got {size!r}") from None
    if not (MIN_SIZE[0] <= w <= MAX_SIZE[0] and MIN_SIZE[1] <= h <= MAX_SIZE[1]):
        raise VisualizerError(f"frame size {w}x{h} is outside {MIN_SIZE[0]}x{MIN_SIZE[1]} … "
                              f"{MAX_SIZE[0]}x{MAX_SIZE[1]}")
    return w, h


def check_dpi(dpi: float | None, size: tuple[int, int]) -> None:
    """Refuse a dpi that makes the figure smaller than 2x1 inches at this frame size: its text would not fit."""
    if dpi is None:
        return
    w, h = size
    if w / dpi < MIN_FIGURE_INCHES[0] or h / dpi < MIN_FIGURE_INCHES[1]:
        most = min(w / MIN_FIGURE_INCHES[0], h / MIN_FIGURE_INCHES[1])
        raise VisualizerError(f"dpi {dpi:g} makes a {w}x{h} frame {w / dpi:.2g}x{h / dpi:.2g} inches, too small "
                              f"for its text; use a dpi of at most {most:g} at this size")


class HistoryTooLarge(VisualizerError):
    """The history a run would record does not fit the memory limit; ``every`` is a recording interval that
    would fit."""

    def __init__(self, message: str, every: int) -> None:
        super().__init__(message)
        self.every = every

    def __reduce__(self):
        return (type(self), (str(self), self.every))


def record_schedule(total_steps: int, every: int, pace: str = "steps", values_per_row: int | None = None,
                    limit: int = MAX_HISTORY_BYTES) -> RecordSchedule:
    """The steps the built-in trainer records for a render paced by ``pace``: the grid of ``every``, with
    log-spaced early steps for ``change`` and ``log`` (:meth:`RecordSchedule.paced`), as many as fit the
    memory ``limit`` beside the grid at ``values_per_row`` numbers a row: pacing never makes a run too large
    that fits without it."""
    max_rows = None if values_per_row is None else limit // (max(1, int(values_per_row)) * 8)
    return RecordSchedule.paced(every, total_steps, dense=pace != "steps", max_rows=max_rows)


def recorded_rows(total_steps: int, every: int, pace: str = "steps", values_per_row: int | None = None,
                  limit: int = MAX_HISTORY_BYTES) -> int:
    """Rows a run of ``total_steps`` recorded every ``every`` steps holds: steps 0, k, 2k, … and the last,
    and for ``pace`` change or log the log-spaced steps of :func:`record_schedule`."""
    return record_schedule(total_steps, every, pace, values_per_row, limit).rows()


def check_history_size(total_steps: int, every: int, values_per_row: int,
                       limit: int = MAX_HISTORY_BYTES, pace: str = "steps") -> int:
    """The bytes a run's history will take (8 per recorded value; with ``pace``'s log-spaced steps, which
    shrink to fit); :class:`HistoryTooLarge` when the grid of ``every`` alone is past ``limit``, saying how
    often to record instead. Checked before training: a run must not fail at its end."""
    values_per_row = max(1, int(values_per_row))
    size = recorded_rows(total_steps, every) * values_per_row * 8
    if size <= limit:
        return recorded_rows(total_steps, every, pace, values_per_row, limit) * values_per_row * 8
    max_rows = limit // (values_per_row * 8)
    gb = 1024**3
    if max_rows < 2:  # not even the first and the last step fit
        raise HistoryTooLarge(f"one recorded step holds {values_per_row:,} numbers ({values_per_row * 8 / gb:.1f} "
                              f"GB): too large to record within the {limit / gb:g} GB limit", every=total_steps)
    fits = every_that_fits(total_steps, every, max_rows)
    raise HistoryTooLarge(f"recording {recorded_rows(total_steps, every):,} steps of {values_per_row:,} numbers "
                          f"each takes {size / gb:.1f} GB, more than the {limit / gb:g} GB limit; record less "
                          f"often: every={fits} fits", every=fits)


def option_help(f) -> str:
    """An option's help text as of now: the format option's names the formats registered now."""
    text = f.metadata["help"]
    return text() if callable(text) else text


def option_fields():
    """The options with their metadata, in order (for the command line)."""
    return fields(RenderOptions)


__all__ = ["DEFAULT_FPS", "DEFAULT_SIZE", "HistoryTooLarge", "MAX_HISTORY_BYTES", "QUALITY", "RenderOptions",
           "check_dpi", "check_history_size", "check_size", "option_fields", "option_help", "parse_formats",
           "parse_size", "parse_steps", "record_schedule", "recorded_rows"]
