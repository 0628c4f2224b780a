"""Command line: ``python -m visualizer render SCENE`` and ``python -m visualizer list``.

The only module that prints or exits. User errors are one line on stderr with exit status 2; an exception
from the user's own scene code shows their traceback and exits 1; Ctrl-C exits 130.
"""
from __future__ import annotations

import argparse
import re
import sys
import traceback
from pathlib import Path

from . import __version__
from .errors import VisualizerError
from .scene import describe_scene_file, scene_dirs

EXAMPLES = """\
examples:
  python -m visualizer render scenes/softplus_fit.py
  python -m visualizer render softplus_fit xor --quality low --format mp4,gif
  python -m visualizer render softplus_fit --steps 100 --hold 2 --max-frames 60
  python -m visualizer render --from-history output/softplus_fit/history.npz --size 1920x1080 --format gif
  python -m visualizer render product --last-frame
  python -m visualizer list
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        raise VisualizerError(f"{message} (see '{self.prog} --help')")


def _number(kind: type, low: float, low_allowed: bool, words: str):
    """An argparse type for a finite number of ``kind`` at least (or above) ``low``."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'a whole number' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
        if not (value >= low if low_allowed else value > low) or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be {words}, got {text}")
        return value
    return parse


_positive_int = _number(int, 1, True, "at least 1")
_positive_float = _number(float, 0, False, "a positive number")
_non_negative_float = _number(float, 0, True, "0 or more")


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[x×X]\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x720, got {text!r}")
    return int(m.group(1)), int(m.group(2))  # the allowed range is checked by render(), for the API too


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (public so the README's reference can be checked against it)."""
    parser = _Parser(prog="visualizer", description="Watch a tiny neural network learn: render its training "
                     "to PNG frames, an MP4 and a GIF.", epilog=EXAMPLES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"visualizer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    render = sub.add_parser("render", help="train a scene and render it", epilog=EXAMPLES,
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            description="Train each SCENE (a path to a .py file, or a bare name from scenes/) "
                            "and write OUT/<scene>/: frames/frame_<step>.png, <scene>.mp4, <scene>.gif and "
                            "history.npz. Options not given keep the scene's own settings.")
    render.add_argument("scenes", nargs="*", metavar="SCENE", help="scene file path or bare scene name")
    render.add_argument("--from-history", metavar="FILE", type=Path,
                        help="re-render a saved history.npz (other size, fps, format, range) without training")
    render.add_argument("--out", default="output", metavar="DIR", help="output folder (default: output)")
    render.add_argument("--format", default="all", metavar="LIST",
                        help="comma-separated: mp4, gif, frames; or all (default: all)")
    render.add_argument("--steps", type=_positive_int, metavar="N", help="training steps (default: the scene's)")
    render.add_argument("--every", type=_positive_int, metavar="K",
                        help="record and draw every K-th step, plus the last (default: the scene's, usually 1)")
    render.add_argument("--seed", type=int, metavar="S", help="initialisation seed (default: the scene's)")
    render.add_argument("--size", type=_size, metavar="WxH", help="frame size in pixels (default: 1280x720)")
    render.add_argument("--quality", choices=["low", "medium", "high"],
                        help="size preset: low 854x480, medium 1280x720, high 1920x1080")
    render.add_argument("--max-frames", type=_positive_int, metavar="M",
                        help="at most M frames, evenly spaced over the run, always the first and the last")
    render.add_argument("--hold", type=_non_negative_float, default=0.0, metavar="SECONDS",
                        help="show the last frame this long at the end of the MP4 and GIF (default: 0)")
    render.add_argument("--last-frame", action="store_true", help="write only the final frame, as poster.png")
    render.add_argument("--allow-divergence", action="store_true",
                        help="if training diverges, render the steps before it instead of stopping")
    render.add_argument("--fps", type=_positive_float, metavar="N", help="video frame rate (default: 30)")
    render.add_argument("--dpi", type=_positive_float, metavar="N",
                        help="text and line scale: larger makes them bigger at the same pixel size "
                        "(default: 100 at 1280x720, scaled with the frame so every size looks alike)")
    render.add_argument("--gif-fps", type=_positive_float, default=15.0, metavar="N",
                        help="GIF frame rate, at most --fps (default: 15)")
    render.add_argument("--gif-width", type=_positive_int, default=960, metavar="PX",
                        help="GIF width in pixels, at most the frame width (default: 960)")
    render.add_argument("--jobs", type=_positive_int, metavar="N",
                        help="worker processes drawing and encoding frames at once (default: every core)")
    render.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")

    sub.add_parser("list", help="list the scenes in scenes/ with their descriptions", epilog=EXAMPLES,
                   formatter_class=argparse.RawDescriptionHelpFormatter,
                   description="List every scene in ./scenes (and the project's scenes/) with its one-line "
                   "description.")
    return parser


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _cmd_list() -> int:
    rows = []
    for d in scene_dirs():
        for path in sorted(d.glob("*.py")):
            if not path.name.startswith("_") and path.stem not in {r[0] for r in rows}:
                rows.append((path.stem, describe_scene_file(path)))
    if not rows:
        raise VisualizerError("no scenes found; put scene files in ./scenes")
    width = max(len(name) for name, _ in rows)
    for name, desc in rows:
        print(f"{name:<{width}}  {desc}")
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from .api import parse_formats, render
    from .scene import load_scene

    formats = parse_formats(args.format)
    progress = not args.quiet and sys.stderr.isatty()
    jobs = []
    if args.from_history is not None:
        if args.scenes:
            raise VisualizerError("give scenes or --from-history, not both")
        if args.steps is not None or args.seed is not None:
            raise VisualizerError("--steps and --seed change training; a history is already trained")
        history = _load_history(args.from_history)
        scene_name = history.meta.get("scene")
        if not scene_name:
            raise VisualizerError(f"{args.from_history} does not say which scene it belongs to")
        jobs.append((load_scene(scene_name), history))
    elif not args.scenes:
        raise VisualizerError("name at least one SCENE, or give --from-history FILE")
    else:
        jobs.extend((load_scene(spec), None) for spec in args.scenes)  # all loaded first: a bad name fails early
    for scene, history in jobs:
        written = render(scene, history, out=args.out, formats=formats, size=args.size, quality=args.quality,
                         fps=args.fps, dpi=args.dpi, steps=args.steps, every=args.every, max_frames=args.max_frames,
                         seed=args.seed, hold=args.hold, last_frame=args.last_frame, gif_fps=args.gif_fps,
                         gif_width=args.gif_width, jobs=args.jobs, allow_divergence=args.allow_divergence,
                         progress=progress)
        if not args.quiet:
            for kind, path in written.items():
                print(_summary(kind, path))
    return 0


def _load_history(path: Path):
    from .record import History

    if not path.is_file():
        raise VisualizerError(f"no history file at {path}")
    try:
        return History.load(path)
    except (OSError, ValueError, KeyError) as exc:
        raise VisualizerError(f"{path} is not a history.npz written by visualizer ({exc.__class__.__name__})") from None


def _summary(kind: str, path: Path) -> str:
    if path.is_dir():
        files = list(path.glob("*.png"))
        size = sum(f.stat().st_size for f in files)
        return f"{kind:>13}  {path}/ ({len(files)} PNG files, {_human(size)})"
    return f"{kind:>13}  {path} ({_human(path.stat().st_size)})"


def _scene_files() -> set[str]:
    mods = [m for name, m in sys.modules.items() if name.startswith("visualizer_scene_")]
    return {str(Path(m.__file__).resolve()) for m in mods if getattr(m, "__file__", None)}


def _report_exception(exc: BaseException) -> int:
    """Show the user's own traceback if their scene code raised; otherwise report a bug in visualizer."""
    user_files = _scene_files()
    tb = exc.__traceback__
    frames = []
    while tb is not None:
        frames.append(tb)
        tb = tb.tb_next
    first_user = next((t for t in frames if str(Path(t.tb_frame.f_code.co_filename).resolve()) in user_files), None)
    if first_user is not None:
        sys.stderr.write("visualizer: your scene code raised an error:\n")
        sys.stderr.write("Traceback (most recent call last):\n")
        sys.stderr.write("".join(traceback.format_tb(first_user)))
        sys.stderr.write("".join(traceback.format_exception_only(type(exc), exc)))
        return 1
    sys.stderr.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    sys.stderr.write("visualizer: internal error (a bug in visualizer, not in your scene); please report it\n")
    return 1


def _interrupted_message(exc: KeyboardInterrupt) -> str:
    written = getattr(exc, "written", None)
    missing = getattr(exc, "missing", None)
    if written is None:
        return "visualizer: interrupted before anything was written"
    done = ", ".join(Path(p).name for p in written.values()) or "nothing"
    left = ", ".join(missing) or "nothing"
    return f"visualizer: interrupted; written: {done}; not written (earlier versions kept): {left}"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        if args.command == "list":
            return _cmd_list()
        return _cmd_render(args)
    except VisualizerError as exc:
        sys.stderr.write(f"visualizer: error: {exc}\n")
        return 2
    except KeyboardInterrupt as exc:
        sys.stderr.write(_interrupted_message(exc) + "\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns any failure into a message
        return _report_exception(exc)
