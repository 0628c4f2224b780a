"""Command line: ``python -m visualizer render SCENE`` and ``python -m visualizer list``.

The only module that prints or exits. Errors are reported by origin: a mistake in the user's input is one
line on stderr with exit status 2; an exception from the user's own code (scene, network, panel, activation,
in this process or a render worker) shows their traceback from their first frame on and exits 1; a render
worker that was killed is one line, exit 1; only a fault of ours says "internal error". Ctrl-C, SIGTERM and
SIGHUP stop a render the same way (workers and ffmpeg end, temporaries go, nothing half-published) with one
line saying what was published, and exit 130, 143 and 129; further signals while it stops are ignored.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .base import __version__
from .base.errors import (DivergenceError, InternalError, UserCodeError, VisualizerError, signal_name,
                     user_traceback)
from .base.signals import SignalStop

EXAMPLES = """\
examples:
  python -m visualizer render scenes/softplus_fit.py
  python -m visualizer render softplus_fit xor --quality low --format mp4,gif
  python -m visualizer render softplus_fit --steps 100 --hold 2 --max-frames 60
  python -m visualizer render --from-history output/softplus_fit/history.npz --size 1920x1080 --format gif
  python -m visualizer render --from-history run.npz --layout my_layout.py
  python -m visualizer render softplus_fit --layout why --explain 0,300
  python -m visualizer render xor --moment "400: the hidden units split the plane" --burn-captions
  python -m visualizer render overfit --captions lecture3.txt --moment-hold 5
  python -m visualizer render product --last-frame
  python -m visualizer compare softplus_fit --vary optimizer=sgd,momentum,adam
  python -m visualizer compare xor --vary lr=0.5,1,2 --format mp4
  python -m visualizer check overfit --preset lecture
  python -m visualizer check xor --layout why --size 854x480
  python -m visualizer list
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        raise VisualizerError(f"{message} (see '{self.prog} --help')")


def _cli_type(f):
    """An argparse type from an option's parser and check: one clear message for a bad value."""
    parse, check = f.metadata["parse"], f.metadata["check"]

    def convert(text: str):
        try:
            value = parse(text)
        except ValueError as exc:
            if parse not in (int, float):
                raise argparse.ArgumentTypeError(str(exc)) from None
            kind = "a whole number" if parse is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        problem = check(value) if check else None
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value
    return convert


def _add_render_options(parser: argparse.ArgumentParser) -> None:
    """One argument per :class:`RenderOptions` field: same name, help and checks as the API's keyword."""
    from .run.options import option_fields

    for f in option_fields():
        _add_option(parser, f)


def _add_option(parser: argparse.ArgumentParser, f) -> None:
    """The argument of one :class:`RenderOptions` field."""
    from .run.options import option_help

    meta = f.metadata
    flag = "--" + f.name.replace("_", "-")
    help_text = option_help(f)
    if f.default not in (None, False) and "default" not in help_text:
        help_text += f" (default: {f.default})"
    names = [flag] + ([meta["short"]] if meta["short"] else [])
    if meta["many"]:
        parser.add_argument(*names, dest=f.name, action="append", type=_cli_type(f), metavar=meta["metavar"],
                            default=None, help=help_text)
    elif meta["flag"]:
        parser.add_argument(*names, dest=f.name, action="store_true", default=None, help=help_text)
    elif meta["choices"]:
        parser.add_argument(*names, dest=f.name, choices=meta["choices"], default=None, help=help_text)
    else:
        kwargs = {"type": _cli_type(f)} if meta["parse"] else {}
        parser.add_argument(*names, dest=f.name, metavar=meta["metavar"], default=None, help=help_text, **kwargs)


def _add_run_options(parser: argparse.ArgumentParser, scheduler_help: str) -> None:
    """What render and compare share: --scheduler, every render option, --quiet."""
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT", help=scheduler_help)
    _add_render_options(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (public so the README's reference can be checked against it)."""
    parser = _Parser(prog="visualizer", description="Watch a tiny neural network learn: render its training "
                     "to PNG frames, an MP4 and a GIF.", epilog=EXAMPLES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"visualizer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    render = sub.add_parser("render", help="train a scene and render it", epilog=EXAMPLES,
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            description="Train each SCENE (a path to a .py file, or a bare name from scenes/) "
                            "and write OUT/<scene>/: frames/frame_<step>.png, <scene>.mp4, <scene>.gif and "
                            "history.npz. Options not given keep the scene's own settings.")
    render.add_argument("scenes", nargs="*", metavar="SCENE", help="scene file path or bare scene name")
    render.add_argument("--from-history", metavar="FILE", type=Path,
                        help="render a saved history.npz (from a scene, your own loop or PyTorch) without "
                        "training; its layout: --layout, else --scene, else the scene it names if that is "
                        "one of your scenes, else a default chosen from what it recorded")
    render.add_argument("--layout", metavar="NAME|FILE",
                        help="one of the scene's layouts by name (such as why), or a Python file defining "
                        "'layout' (a Layout)")
    render.add_argument("--scene", metavar="SCENE", dest="layout_scene",
                        help="with --from-history: take the layout (and name) from this scene file or name")
    render.add_argument("--name", metavar="NAME", help="with --from-history: the output folder's name "
                        "(default: the history's scene, else 'run')")
    _add_run_options(render, "draw the frames' chunks as tasks on this Dask cluster (pip install "
                     "'backprop-visualizer[dask]'); the encoded pieces come back and are joined here")

    compare = sub.add_parser("compare", help="train a scene several ways and render the runs side by side",
                             epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
                             description="Train SCENE once per combination of the --vary settings (at most 16 "
                             "runs) and write OUT/<scene>-compare-<settings>/: one video with every run's losses "
                             "overlaid and the scene's main panel once per run, plus each run's history.")
    compare.add_argument("scene", metavar="SCENE", help="scene file path or bare scene name")
    compare.add_argument("--vary", action="append", required=True, metavar="SETTING=V1,V2,...",
                         help="a setting and its values: optimizer=sgd,momentum,adam (specs such as "
                         "adam:lr=0.01), lr=0.01,0.1,1, seed=0,1,2, batch_size=1,full; several make a grid")
    _add_run_options(compare, "train the runs and draw the video's chunks on this Dask cluster instead of "
                     "local processes")

    from .run.options import option_fields

    check = sub.add_parser("check", help="lay a scene's frames out and report overlapping, cut or too small "
                           "text", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
                           description="Train SCENE (--steps N for a quicker look), lay its frames out as a "
                           "render would, and report one line per problem, naming the panel: text over text, "
                           "text or a legend off the frame or in another panel, a legend over data, text under "
                           "the preset's smallest size, colour for numbers with no colour bar or values. "
                           "Exit status 1 when anything is found, 0 when the frames are clean. Nothing is "
                           "written.")
    check.add_argument("scene", metavar="SCENE", nargs="?", help="scene file path or bare scene name")
    check.add_argument("--from-history", metavar="FILE", type=Path, help="check a saved history (history.npz, or one a "
                       "PyTorch loop recorded) as render --from-history draws it")
    check.add_argument("--layout", metavar="NAME", help="one of the scene's layouts by name (such as why), or a "
                       "layout file with --from-history")
    check.add_argument("--scene", dest="layout_scene", metavar="SCENE",
                       help="with --from-history: the scene whose layout draws it")
    check.add_argument("--vary", action="append", metavar="SETTING=V1,V2,...",
                       help="check the comparison of these settings (as compare's --vary)")
    for f in option_fields():
        if f.name in ("preset", "theme", "size", "steps", "explain"):
            _add_option(check, f)

    sub.add_parser("list", help="list the scenes in scenes/ with their descriptions", epilog=EXAMPLES,
                   formatter_class=argparse.RawDescriptionHelpFormatter,
                   description="List every scene in ./scenes (and the bundled scenes) with its one-line "
                   "description.")
    return parser


def _cmd_list() -> int:
    from .run.scene import describe_scene_file, scene_dirs

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


RENDER_ONLY = ("from_history", "layout", "layout_scene", "name", "scenes", "quiet", "command", "scene", "vary",
               "scheduler")


class _Out:
    """The output folder resolved before any scene's code runs (a scene calling ``os.chdir`` cannot move it),
    and its paths shown as the user gave them: relative to the folder the command started in."""

    def __init__(self, options: dict) -> None:
        given = os.fspath(options.get("out", "output"))
        self.cwd, self.relative = os.getcwd(), not os.path.isabs(given)
        options["out"] = os.path.join(self.cwd, given)

    def shown(self, path: Path) -> Path:
        """``path`` as the summary shows it; the command's folder is made current again first (a scene may
        have left another), so the summary reads the files it names."""
        try:
            os.chdir(self.cwd)
        except OSError:  # the command's folder itself is gone: the paths are shown from the root
            return Path(path)
        return Path(os.path.relpath(path, self.cwd)) if self.relative else Path(path)


def _quiet_cluster(address: str | None) -> None:
    """With a Dask scheduler: its client's own log (connection retries, lost workers, a scheduler gone) is not
    shown; what went wrong is said in the command's one line."""
    if address is not None:
        import logging

        logging.getLogger("distributed").setLevel(logging.CRITICAL + 1)


def _cmd_compare(args: argparse.Namespace) -> int:
    from .run.compare import compare, parse_vary
    from .run.options import RenderOptions
    from .run.scene import load_scene

    options = {k: v for k, v in vars(args).items() if k not in RENDER_ONLY and v is not None}
    RenderOptions(**options).checked()
    parse_vary(args.vary)  # a bad --vary fails before the scene runs
    out = _Out(options)
    _quiet_cluster(args.scheduler)
    scene = load_scene(args.scene)
    written = compare(scene, args.vary, executor=args.scheduler, progress=not args.quiet and sys.stderr.isatty(),
                      **options)
    if not args.quiet:
        for kind, path in written.items():
            print(_summary(kind, out.shown(path)), file=_stream("stdout"))
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from .run.check import check
    from .run.options import RenderOptions
    from .run.scene import load_scene

    preset = args.preset or "default"
    theme = args.theme or "light"
    RenderOptions(preset=preset, theme=theme, size=args.size, steps=args.steps, explain=args.explain).checked()
    if args.from_history is not None:
        return _check_history_file(args, preset, theme)
    if args.layout_scene is not None:
        raise VisualizerError("--scene goes with --from-history")
    if args.scene is None:
        raise VisualizerError("name a SCENE, or give --from-history FILE")
    if args.vary is not None:
        from .run.compare import parse_vary

        parse_vary(args.vary)  # a bad --vary fails before the scene runs
        if args.layout is not None:
            raise VisualizerError("--layout and --vary: a comparison has its own layout; give one")
    scene = load_scene(args.scene)
    if args.layout is not None:
        scene.layout_named(args.layout)  # an unknown name fails here, saying the scene's layouts
    problems = check(scene, layout=args.layout, preset=preset, theme=theme, size=args.size, steps=args.steps,
                     explain=args.explain, vary=args.vary)
    return _problems(problems, scene.name)


def _check_history_file(args: argparse.Namespace, preset: str, theme: str) -> int:
    from .run.check import check_recorded

    if args.scene is not None:
        raise VisualizerError("give a SCENE or --from-history, not both (--scene SCENE names its layout's scene)")
    if args.steps is not None or args.vary is not None:
        raise VisualizerError(f"{'--steps' if args.steps is not None else '--vary'} changes training; a history is "
                              "already trained")
    history = _load_history(args.from_history)
    scene, layout = _history_layout(args, history)
    problems = check_recorded(history, scene=scene, layout=layout, preset=preset, theme=theme, size=args.size,
                              explain=args.explain)
    return _problems(problems, history.info.scene or args.from_history.name)


def _problems(problems: list, name: str) -> int:
    """Print ``check``'s findings, one line each (or that there are none); its exit status."""
    out = _stream("stdout")
    for problem in problems:
        print(problem, file=out)
    if not problems:
        print(f"{name}: no problems found", file=out)
    return 1 if problems else 0


def _cmd_render(args: argparse.Namespace) -> int:
    from .outputs.formats import output_order
    from .run.options import HistoryTooLarge, RenderOptions
    from .run.render import render
    from .run.scene import NAME_RE, load_scene

    options = {k: v for k, v in vars(args).items() if k not in RENDER_ONLY and v is not None}
    RenderOptions(**options).checked()  # every bad option fails here, before any scene runs
    progress = not args.quiet and sys.stderr.isatty()
    out = _Out(options)
    _quiet_cluster(args.scheduler)
    jobs = []
    if args.from_history is not None:
        if args.scenes:
            raise VisualizerError("give scenes or --from-history, not both")
        if args.steps is not None or args.seed is not None:
            raise VisualizerError("--steps and --seed change training; a history is already trained")
        history = _load_history(args.from_history)
        scene, layout = _history_layout(args, history)
        named = history.info.scene or "run"
        if args.name is None and scene is None and not NAME_RE.match(named):
            raise VisualizerError(f"the history names its scene {named!r}, which is not a valid output name; give "
                                  "--name NAME for its output folder")
        jobs.append(((scene, layout), history))
    elif args.layout_scene or args.name:
        raise VisualizerError("--scene and --name go with --from-history")
    elif not args.scenes:
        raise VisualizerError("name at least one SCENE, or give --from-history FILE")
    else:
        jobs.extend((load_scene(spec), None) for spec in args.scenes)  # all loaded first: a bad name fails early
    finished: list[Path] = []
    for what, history in jobs:
        extra = {}
        if history is None and args.layout is not None:
            extra = {"layout": _layout_file(args.layout) if _is_file(args.layout) else args.layout}
        if history is not None:
            scene, layout = what
            extra = {"layout": layout, "name": args.name}
            what, history = (scene, history) if scene is not None else (history, None)
        try:
            try:
                written = render(what, history, progress=progress, executor=args.scheduler, **extra, **options)
            except DivergenceError as exc:
                raise DivergenceError(str(exc).replace("or allow divergence to", "or pass --allow-divergence to"),
                                      step=exc.step) from None
            except HistoryTooLarge as exc:
                raise VisualizerError(str(exc).replace(f"every={exc.every}", f"--every {exc.every}")) from None
            finished.append(out.shown(written.manifest.parent))
            for note in written.notes:  # what the render changed of what was asked: said even when quiet
                _stream("stderr").write(f"visualizer: note: {note}\n")
            if not args.quiet:
                for kind, path in written.items():
                    print(_summary(kind, out.shown(path)), file=_stream("stdout"))
                print(_summary("manifest", out.shown(written.manifest)), file=_stream("stdout"))
                if written.kept:  # left in place: the manifest vouches they were drawn from this same history
                    order = output_order()  # as the summary lists what it wrote
                    kept = sorted(written.kept.items(), key=lambda item: order.index(item[0]) if item[0] in order
                                  else len(order))
                    names = ", ".join(path.name + ("/" if path.is_dir() else "") for _, path in kept)
                    print(f"{'kept':>13}  {names} (made earlier from this same history)", file=_stream("stdout"))
                for name in written.retired:
                    print(f"{'removed':>13}  {name} (made from an older history)", file=_stream("stdout"))
        except KeyboardInterrupt as exc:
            exc.finished = finished  # the scenes rendered before it (or this one, its summary cut short) are complete
            raise
    return 0


def _history_layout(args: argparse.Namespace, history):
    """(scene or None, layout or None) for --from-history. A path is never taken from the history itself:
    only a scene *name* it records, looked up among the user's scenes like a name on the command line."""
    from .run.scene import NAME_RE, SceneError, find_scene_file, load_layout, load_scene

    if args.layout is not None and _is_file(args.layout):
        return None, load_layout(Path(args.layout), history)
    if args.layout is not None:  # a layout by name: the scene's, from --scene or the one the history names
        spec = args.layout_scene or history.info.scene
        if args.layout == "why" and not args.layout_scene and not _user_scene(spec):
            return None, "why"  # built from the history's own layers
        if not spec:
            raise VisualizerError(f"--layout {args.layout} names a scene's layout, and this history names no "
                                  "scene: add --scene SCENE")
        if not args.layout_scene and (not NAME_RE.match(spec) or "." in spec):
            # Only a bare name from the file, looked up among the user's scenes: never a path to import.
            raise VisualizerError(f"the history names its scene {spec!r}, which is not a scene name: add "
                                  "--scene SCENE")
        scene = load_scene(spec)
        scene.layout_named(args.layout)  # an unknown name fails here, saying the scene's layouts
        return scene, args.layout
    if args.layout_scene is not None:
        return load_scene(args.layout_scene), None
    name = history.info.scene
    if name and NAME_RE.match(name) and "." not in name:
        try:
            find_scene_file(name)
        except SceneError:
            return None, None  # not one of the user's scenes: the default layout
        return load_scene(name), None
    return None, None


def _user_scene(name: str) -> bool:
    """Whether ``name`` (a bare name a history records) is one of the user's scenes."""
    from .run.scene import NAME_RE, SceneError, find_scene_file

    if not name or not NAME_RE.match(name) or "." in name:
        return False
    try:
        find_scene_file(name)
    except SceneError:
        return False
    return True


def _is_file(layout: str) -> bool:
    """A --layout that is a path (a .py file) rather than a scene's layout name."""
    return layout.endswith(".py") or "/" in layout or "\\" in layout


def _layout_file(path: str):
    from .run.scene import load_layout

    return load_layout(Path(path))


def _load_history(path: Path):
    from .record.history import History

    if not (path.exists() or path.is_symlink()):
        raise VisualizerError(f"no history file at {path}")
    return History.load(path)  # which refuses a folder, a named pipe or a device in one line


def _summary(kind: str, path: Path) -> str:
    """One line per written output, as its format describes it: its path, size, and a video's dimensions (a
    GIF too big for slides and READMEs gets a hint on a second line)."""
    from .outputs.formats import summary

    return summary(kind, path)


def _report_exception(exc: BaseException) -> int:
    """The user's own traceback if their code raised (here or in a render worker); otherwise a fault of ours."""
    if isinstance(exc, UserCodeError):
        details = exc.details
    elif isinstance(exc, InternalError):
        details = None
    else:
        details = user_traceback(exc)
    if details is not None:
        _stream("stderr").write("visualizer: your scene code raised an error:\n" + details)
        return 1
    if isinstance(exc, MemoryError):
        _stream("stderr").write("visualizer: error: out of memory; record fewer steps (--every) or use a smaller --size\n")
        return 1
    if isinstance(exc, InternalError):
        _stream("stderr").write(exc.details)
    else:
        _stream("stderr").write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    _stream("stderr").write("visualizer: internal error (a bug in visualizer, not in your code); please report it\n")
    return 1


def _interrupted_message(exc: KeyboardInterrupt) -> str:
    """One line: which signal, what the render was doing, and exactly what was published."""
    signum = getattr(exc, "signum", signal.SIGINT)
    head = "visualizer: interrupted" if signum == signal.SIGINT else f"visualizer: stopped by {signal_name(signum)}"
    finished = [f"{p}/" for p in getattr(exc, "finished", [])]
    before = f"; finished before it: {', '.join(finished)}" if finished else ""
    folder = getattr(exc, "folder", None)
    if folder is None:
        if finished:
            return f"{head}{before}"
        return f"{head} before anything was written"
    from .run.render import stage_doing  # a render raised this: imported already

    published = getattr(exc, "published", None) or {}
    stage = stage_doing(getattr(exc, "stage", ""))
    if published:
        names = ", ".join(Path(p).name for p in published.values())
        return f"{head} as the render finished; published in {folder}/: {names}, manifest.json{before}"
    if not Path(folder).exists():  # a first render into it: the folder was never made
        return f"{head} while {stage}; nothing was published ({folder}/ was not created){before}"
    return f"{head} while {stage}; nothing was published: {folder}/ is as it was{before}"


@contextmanager
def _signals_stop() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stop, previous = SignalStop(), {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is None or signal.getsignal(signum) == signal.SIG_IGN:  # e.g. nohup: keep ignoring
            continue
        previous[signum] = signal.signal(signum, stop)
    sys.unraisablehook = stop.unraisable
    try:
        yield
    finally:
        sys.unraisablehook = stop.hook
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _program_imports() -> None:
    """In the program alone (:func:`run`), the modules a render or a compare runs on, imported in a way a
    Python session that imports visualizer is spared:

    - matplotlib writes out the property tables of its artists' docstrings while it imports (the ``set``
      method's of every artist class, and the ``%(Line2D:kwdoc)s`` kind in ``Axes.plot`` and others), from
      ``matplotlib.artist.kwdoc``, which inspects each class's setters: a quarter of its import time (0.12 s
      here), for text only ``help()`` shows. The program never shows it, so in its process ``kwdoc`` returns
      nothing and those tables are empty; signatures, setters, aliases and behaviour are as they were.
    - Imports make thousands of objects and no garbage, yet they set off the collector's full passes over all
      of them (0.05 s): it waits until they are done, then the imported objects are set aside for good
      (``gc.freeze``), so later collections, here, in the forked render workers and in the interpreter's
      clean-up at exit (0.15 s before, 0.05 s now), pass over only what the render makes.
    """
    import gc

    gc.disable()
    try:
        if "matplotlib.artist" not in sys.modules:  # else its docstrings are written already
            try:
                import matplotlib.artist

                if callable(getattr(matplotlib.artist, "kwdoc", None)):
                    matplotlib.artist.kwdoc = lambda artist: ""
            except ImportError:
                pass  # the import that needs it says so
        try:
            # compare imports the pipeline; the pipeline, the renderer and the writers (api imports them
            # when a render starts).
            from .run import compare, pipeline, render  # noqa: F401 - imported for the command that follows
        except ImportError:
            pass  # the command's own import says so
    finally:
        gc.freeze()
        gc.enable()


def run() -> int:
    """The ``visualizer`` program (the console script, and ``python -m visualizer``): :func:`main` in a process
    of its own, which may skip what only an interactive session uses (:func:`_program_imports`)."""
    status = main(program=True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the work is over: a late Ctrl-C must not print a traceback
    # A scene's own thread that is not a daemon would keep the program alive after its work is published (and
    # deaf to Ctrl-C): the program ends anyway, and says so.
    left = [t.name for t in threading.enumerate()
            if t is not threading.main_thread() and t.is_alive() and not t.daemon]
    if left:
        _stream("stderr").write(f"visualizer: note: ending the program with {len(left)} thread(s) still running "
                                f"that the scene started ({', '.join(left[:3])})\n")
        for name in ("stdout", "stderr"):
            try:
                _stream(name).flush()
            except (OSError, ValueError):
                pass
        os._exit(status)
    return status


def _stream(name: str):
    """``sys.stdout`` or ``sys.stderr``; when a scene closed it, a new stream on the same descriptor takes its
    place (once: later writes and the interpreter's flush at exit use it), so what the command says still
    reaches the terminal or the pipe."""
    stream = getattr(sys, name)
    if stream is None or stream.closed:
        stream = open(1 if name == "stdout" else 2, "w", encoding="utf-8", errors="replace", closefd=False)
        setattr(sys, name, stream)
    return stream


def main(argv: list[str] | None = None, *, program: bool = False) -> int:
    """Run the command line; returns the exit status. ``program``: this process is the ``visualizer`` program
    (see :func:`run`), not a Python session that called this."""
    try:
        with _signals_stop():
            return _main(argv, program)
    except KeyboardInterrupt as exc:  # between the handlers' install and _main's own handling
        _stream("stderr").write(_interrupted_message(exc) + "\n")
        return 128 + getattr(exc, "signum", signal.SIGINT)


def _main(argv: list[str] | None, program: bool) -> int:
    try:
        parser = build_parser()
        argv = sys.argv[1:] if argv is None else argv
        if not argv:  # no command: say what there is
            parser.print_help()
            return 0
        args = parser.parse_args(argv)
        if args.command == "list":
            return _cmd_list()
        if args.command is None:
            raise VisualizerError("give a command: render, compare or list (see 'visualizer --help')")
        if program:
            _program_imports()
        if args.command == "compare":
            return _cmd_compare(args)
        if args.command == "check":
            return _cmd_check(args)
        return _cmd_render(args)
    except VisualizerError as exc:
        _stream("stderr").write(f"visualizer: error: {exc}\n")
        return exc.exit_status
    except KeyboardInterrupt as exc:
        _stream("stderr").write(_interrupted_message(exc) + "\n")
        return 128 + getattr(exc, "signum", signal.SIGINT)
    except Exception as exc:  # noqa: BLE001 - the one place that turns any failure into a message
        return _report_exception(exc)
