"""The output formats this package ships, and the registry of every format (:func:`register_format`).

The render, the options (``format=`` and ``--format``), the manifest, the command line's summary, the
progress stages and the notebook view all read the registry; what one format declares is in
:class:`~visualizer.outputs.output.Format`. Imports nothing heavy (the writers are imported as a format is
used), so ``--help`` lists the formats at once.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .output import (GIF, JOIN, PLAYER, STILLS, FolderFormat, Format, Job, Output, Stage, encoded,  # noqa: F401
                     human_size, summary_line, too_big, total_size)
from .handout import HandoutFormat
from .runs import RunsFormat


# ---- the formats this package ships

class HistoryFormat(Format):
    """The recorded run itself, written before any frame: what every other output was drawn from."""

    name, choosable, always, draws, first = "history", False, True, False, True

    def filename(self, name: str) -> str:
        """Always history.npz."""
        return "history.npz"

    def make(self, output: Output, job: Job, made: dict[str, Output]) -> None:
        """Save the history."""
        job.history.save(output.path)

    def manifest(self, kind: str, job: Job) -> dict[str, Any]:
        """Which run it is."""
        h = job.history
        return {"scene": h.info.scene, "steps": h.total_steps, "every": h.info.every, "seed": h.info.seed,
                "rows": len(h)}


class MP4Format(Format):
    """H.264 in MP4, pieces joined without re-encoding; with captions, ``<name>.vtt`` beside it and the same
    cues muxed into it as a soft subtitle track."""

    name, piece_suffix, stage, view = "mp4", ".mp4", JOIN, 1
    outputs = ("mp4", "vtt")

    def files(self, name: str) -> dict[str, str]:
        """<name>.mp4 and <name>.vtt"""
        return {"mp4": f"{name}.mp4", "vtt": f"{name}.vtt"}

    def kinds(self, job):
        """The video, and its captions when it has any."""
        return ["mp4", "vtt"] if job.cues else ["mp4"]

    def settings(self, job):
        """The captions (muxed in as the pieces join) and the frame rate that times them."""
        return {"cues": list(job.cues), "fps": job.fps}

    def prepare(self, output, draw, n_frames, fps):
        """Find ffmpeg."""
        from .mp4 import ffmpeg_exe

        ffmpeg_exe()  # found once here, before the workers fork (finding it runs ffmpeg), not once in each

    def piece(self, output, k, start_index):
        """An MP4 of the chunk's frames."""
        from .mp4 import MP4Writer

        # Chunks already keep every core busy; one x264 thread each wastes less on coordination.
        return MP4Writer(output.piece_path(k), threads=1 if output.chunks > 1 else None)

    def join(self, output, pieces):
        """Concatenated by ffmpeg, stream copied; the captions written first and muxed in the same pass."""
        from .captions import LANGUAGE, TRACK_TITLE, write_vtt
        from .mp4 import join_mp4

        cues = output.settings.get("cues")
        subtitles = write_vtt(output.files["vtt"], cues, output.settings["fps"]) if cues else None
        return join_mp4(pieces, output.path, subtitles, language=LANGUAGE, title=TRACK_TITLE)

    def manifest(self, kind, job):
        """The frames', with the frame rate and the hold (the captions: their count too)."""
        return {**job.video(), "cues": len(job.cues)} if kind == "vtt" else job.video()

    def summary(self, kind, path):
        """Its size, frame size and frame count (the captions: how many)."""
        from .player import mp4_video_track

        if kind == "vtt":
            from .captions import cue_count

            return summary_line(kind, path, f"{human_size(path.stat().st_size)}, {cue_count(path)} captions")

        w, h, n = mp4_video_track(path)
        return summary_line(kind, path, human_size(path.stat().st_size) + (f", {w}x{h}, {n} frames"
                                                                           if w and h and n else ""))

    def notebook(self, kind, path, limit):
        """A looping video."""
        return too_big(kind, path, limit) or ('<video controls loop autoplay muted style="max-width:100%" '
                                              f'src="data:video/mp4;base64,{encoded(path)}">')


class GIFFormat(Format):
    """A looping GIF in one palette made from a sample of the whole clip before the chunks start."""

    name, piece_suffix, stage, view = "gif", ".gif", GIF, 2
    warn_bytes = 10 * 1024 * 1024  # a GIF past this is too big for a README or many slide tools

    def filename(self, name: str) -> str:
        """<name>.gif"""
        return f"{name}.gif"

    def settings(self, job):
        """Its frame rate and width."""
        return {"gif_fps": job.gif_fps, "gif_width": job.gif_width}

    def prepare(self, output, draw, n_frames, fps):
        """The palette, from frames spread over the clip."""
        import numpy as np

        from .gif import GIF_PALETTE_SAMPLE, GIFScaler, gif_palette, gif_rate, gif_size
        from .pixels import sample_positions

        # One palette for the whole clip, from a sample of its frames drawn before the chunks start: every
        # chunk then writes its part of the GIF at once, and the parts join by copying bytes.
        rate = gif_rate(output.settings["gif_fps"], fps)
        index = np.arange(n_frames)
        ticks = (index * rate / fps).astype(np.int64)  # as gif_keeps: float products, truncated
        keep = np.concatenate(([True], ticks[1:] != ticks[:-1])) if rate < fps else np.ones(n_frames, bool)
        keep[-1] = True
        kept = [int(i) for i in index[keep]]

        def sample():
            scale = None
            for i in sample_positions(kept, GIF_PALETTE_SAMPLE):
                frame = draw(i)
                if scale is None:
                    size = (frame.shape[1], frame.shape[0])
                    scale = GIFScaler(size, gif_size(size, output.settings["gif_width"]), frame.shape[2])
                yield scale(frame)

        palette = gif_palette(sample(), self._palette(output))
        output.state = {"frames": n_frames, "palette": palette.read_bytes()}

    def _palette(self, output: Output) -> Path:
        return output.work / "gif_palette.png"

    def piece(self, output, k, start_index):
        """The chunk's part of the GIF, in the clip's palette."""
        from .gif import GIFFramesWriter

        palette = self._palette(output)
        if not palette.exists():  # a chunk drawn in another process: the palette came with the settings
            palette.write_bytes(output.state["palette"])
        return GIFFramesWriter(output.piece_path(k), palette, output.settings["gif_fps"],
                               output.settings["gif_width"], start_index=start_index, total=output.state["frames"])

    def join(self, output, pieces):
        """The parts' frames copied one after the other."""
        from .gif import make_gif

        return make_gif(pieces, output.path)

    def manifest(self, kind, job):
        """The video's, with the GIF's own rate and width."""
        return {**job.video(), "gif_fps": job.gif_fps, "gif_width": job.gif_width}

    def summary(self, kind, path):
        """Its size, frame size and frame count; a hint when it is too big to share."""
        from PIL import Image

        size = path.stat().st_size
        with Image.open(path) as gif:
            line = summary_line(kind, path, f"{human_size(size)}, {gif.width}x{gif.height}, {gif.n_frames} frames")
        if size > self.warn_bytes:
            line += (f"\n{'':>13}  warning: a GIF over {human_size(self.warn_bytes)} is too big for a README or "
                     "many slide tools; try --gif-width 640, --gif-fps 10 or --max-frames 150")
        return line

    def notebook(self, kind, path, limit):
        """The GIF itself."""
        return too_big(kind, path, limit) or f'<img style="max-width:100%" src="data:image/gif;base64,{encoded(path)}">'


class FramesFormat(FolderFormat):
    """One lossless PNG per frame, named by its step, in frames/."""

    name, stage = "frames", JOIN

    def filename(self, name: str) -> str:
        """frames (a folder)"""
        return "frames"

    def settings(self, job):
        """Digits enough for the last step, at least five."""
        return {"digits": max(5, len(str(int(job.history.steps[-1]))))}

    def piece(self, output, k, start_index):
        """PNGs straight into the chunks' folder."""
        from .png import PNGFramesWriter

        return PNGFramesWriter(output.path, output.settings["digits"], into=self.folder(output))

    def summary(self, kind, path):
        """How many PNG files, and their size."""
        files = list(path.glob("*.png"))
        return summary_line(kind, f"{path}/", f"{len(files)} PNG files, {human_size(total_size(files))}")


class PlayerFormat(Format):
    """The step-by-step player: one offline HTML page holding the MP4 and the numbers each step shows."""

    name, help, needs, draws, stage, view = "html", "the step-by-step player", ("mp4",), False, PLAYER, 0

    def filename(self, name: str) -> str:
        """<name>.html"""
        return f"{name}.html"

    def make(self, output, job, made):
        """The page, around the MP4 made for it (or asked for)."""
        from .player import write_player

        h = job.history
        steps = job.frame_steps
        write_player(output.path, video=made["mp4"].path, title=job.title or job.name, fps=job.fps,
                     frame_steps=steps + steps[-1:] * job.hold_frames, table_steps=h.steps, losses=h.losses,
                     params=h.params, grads=h.grads, total_steps=h.total_steps, names=job.param_names,
                     cues=[(c.start, c.end, c.text, c.chapter) for c in job.cues])

    def manifest(self, kind, job):
        """The video's."""
        return job.video()

    def notebook(self, kind, path, limit):
        """The page in a sandboxed frame, marked as embedded: it opens at the last step (the trained network)
        and keeps its table in a scrolling box beside the video."""
        import html

        link = too_big(kind, path, limit, factor=1)
        if link:  # over the limit: the link
            return link
        text = path.read_text(encoding="utf-8").replace('<html lang="en">', '<html lang="en" data-embedded>', 1)
        page = html.escape(text, quote=True)
        return f'<iframe srcdoc="{page}" style="width:100%;height:640px;border:0" sandbox="allow-scripts"></iframe>'


class StillsFormat(FolderFormat):
    """The poster (the last frame) and the contact sheet (frames evenly spaced, labelled with their step):
    the chunks keep their parts as they draw them, and the render composes them."""

    name, choosable, always, stage, view = "stills", False, True, STILLS, 3
    outputs = ("poster", "contact_sheet")

    def files(self, name: str) -> dict[str, str]:
        """poster.png and contact_sheet.png"""
        return {"poster": "poster.png", "contact_sheet": "contact_sheet.png"}

    def is_folder(self, kind: str) -> bool:
        """Two pictures."""
        return False

    def kinds(self, job):
        """The poster alone for the last frame."""
        return ["poster"] if job.last_frame else ["poster", "contact_sheet"]

    def settings(self, job):
        """Which frames the poster and the sheet's thumbnails are, and the thumbnails' size."""
        from .pixels import sample_positions
        from .stills import SHEET_FRAMES, thumbnail_size

        picks = [] if job.last_frame else sample_positions(job.row_positions, SHEET_FRAMES)
        return {"poster_at": job.row_positions[-1], "thumbs_at": picks, "thumb_size": thumbnail_size(job.size)}

    def positions(self, output):
        """The poster's and the thumbnails' frames only."""
        return sorted({output.settings["poster_at"], *output.settings["thumbs_at"]})

    def piece(self, output, k, start_index):
        """A writer keeping the poster's frame and the thumbnails."""
        from .stills import StillsWriter

        return StillsWriter(self.folder(output), start_index, **output.settings)

    def join(self, output, pieces):
        """The parts stay where the chunks left them."""
        return self.folder(output)

    def make(self, output, job, made):
        """The poster moved into place, the sheet composed of the thumbnails."""
        from .stills import compose_sheet, read_png

        parts = self.folder(output)
        os.replace(parts / "poster.png", output.files["poster"])
        picks = output.settings["thumbs_at"]
        if picks:
            compose_sheet([(job.frame_steps[p], read_png(parts / f"thumb_{p:07d}.png")) for p in picks],
                          output.files["contact_sheet"])

    def manifest(self, kind, job):
        """The poster: the frames' size and its step; the sheet: the frames'."""
        if kind == "poster":
            return {"size": list(job.size), "dpi": job.dpi, "title": job.title,
                    "step": job.frame_steps[job.row_positions[-1]], **job.look()}
        return job.drawn()

    def notebook(self, kind, path, limit):
        """The poster as a picture."""
        if kind != "poster":
            return None
        return too_big(kind, path, limit) or f'<img style="max-width:100%" src="data:image/png;base64,{encoded(path)}">'

    def picture(self, kind, path):
        """The poster."""
        return path.read_bytes() if kind == "poster" else None


# ---- the registry

_REGISTRY: dict[str, Format] = {}


def register_format(fmt: Format) -> Format:
    """Add an output format (or replace the one of its name); returns it. Registered in every process that
    renders: formats travel to worker processes by their class, so a format defined in an importable module
    works everywhere, one defined in ``__main__`` or a notebook only where chunks are forked (Linux)."""
    if not isinstance(fmt, Format) or not fmt.name:
        raise TypeError(f"register_format takes a Format instance with a name, got {fmt!r}")
    for other in _REGISTRY.values():
        clash = set(other.outputs) & set(fmt.outputs)
        if other.name != fmt.name and clash:
            raise ValueError(f"format {fmt.name!r} publishes {', '.join(sorted(clash))}, which format "
                             f"{other.name!r} publishes already")
    missing = [n for n in fmt.needs if n not in _REGISTRY and n != fmt.name]
    if missing:
        raise ValueError(f"format {fmt.name!r} needs {', '.join(missing)}: register that first")
    _REGISTRY[fmt.name] = fmt
    return fmt


def unregister_format(name: str) -> Format:
    """Remove a registered format; returns it."""
    needed = [f.name for f in _REGISTRY.values() if name in f.needs]
    if needed:
        raise ValueError(f"format {name!r} is needed by {', '.join(needed)}")
    try:
        return _REGISTRY.pop(name)
    except KeyError:
        raise KeyError(f"no format {name!r} is registered") from None


def formats() -> list[Format]:
    """Every registered format, in the order they were registered (the order outputs are listed in)."""
    return list(_REGISTRY.values())


def get_format(name: str) -> Format:
    """The registered format of that name."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown output format {name!r}; known: {', '.join(_REGISTRY)}") from None


def choosable() -> tuple[str, ...]:
    """The formats the user may ask for by name, in order."""
    return tuple(f.name for f in _REGISTRY.values() if f.choosable)


def in_all() -> tuple[str, ...]:
    """The formats "all" asks for, in order: those the user may ask for, less the ones asked for by name only."""
    return tuple(f.name for f in _REGISTRY.values() if f.choosable and f.in_all)


def format_help() -> str:
    """The --format option's help: the formats the user may ask for, and "all"."""
    named = [f.name + (f" ({f.help})" if f.help else "") for f in _REGISTRY.values() if f.choosable]
    return f"comma-separated: {', '.join(named)}; or all"


def making(requested: tuple[str, ...] | list[str]) -> list[tuple[Format, bool]]:
    """The formats a render asking for ``requested`` makes, in registry order, each with whether it is
    published: those asked for and those every render makes, plus (unpublished) what they need."""
    wanted = {f.name for f in _REGISTRY.values() if f.always} | {get_format(n).name for n in requested}
    needed, todo = set(), list(wanted)
    while todo:
        for dep in get_format(todo.pop()).needs:
            if dep not in wanted | needed:
                needed.add(dep)
                todo.append(dep)
    return [(f, f.name in wanted) for f in _REGISTRY.values() if f.name in wanted | needed]


def finishing(outputs: list[Output]) -> list[Output]:
    """``outputs`` in the order a render finishes them: stage by stage (in registry order within one), each
    after the outputs it needs; a format without a stage of its own comes with the last of what it needs."""
    def order(fmt: Format) -> int:
        if fmt.stage is not None:
            return fmt.stage.order
        return max((order(get_format(n)) for n in fmt.needs), default=0)

    by_name = {o.kind: o for o in outputs}
    done: list[Output] = []

    def visit(output: Output) -> None:
        if output not in done:
            for need in output.format.needs:
                if need in by_name:
                    visit(by_name[need])
            done.append(output)

    for output in sorted(outputs, key=lambda o: order(o.format)):
        visit(output)
    return done


def known_outputs(name: str) -> dict[str, str]:
    """The file name of every output a render named ``name`` can publish, by kind."""
    return {kind: file for f in _REGISTRY.values() for kind, file in f.files(name).items()}


def folder_outputs(name: str) -> set[str]:
    """The file names of the outputs that are folders, for a render named ``name``."""
    return {file for f in _REGISTRY.values() for kind, file in f.files(name).items() if f.is_folder(kind)}


def owner(kind: str) -> Format | None:
    """The format that publishes outputs of ``kind``, if one does."""
    return next((f for f in _REGISTRY.values() if kind in f.outputs), None)


def output_order() -> list[str]:
    """Every output kind, in the order a summary lists them."""
    return [kind for f in _REGISTRY.values() for kind in f.outputs]


def stages() -> list[Stage]:
    """The stages of the registered formats, in order."""
    return sorted({f.stage for f in _REGISTRY.values() if f.stage is not None}, key=lambda s: s.order)


def summary(kind: str, path: Path) -> str:
    """The command line's line for output ``kind`` at ``path`` (a manifest, a run's history: plain)."""
    return (owner(kind) or Format()).summary(kind, Path(path))


def notebook_view(shown: dict[str, Path], limit: float) -> str:
    """How a notebook shows a render's outputs (kind → path): the first a format can show, by its view."""
    for fmt in sorted((f for f in _REGISTRY.values() if f.view is not None), key=lambda f: f.view):
        for kind in fmt.outputs:
            path = Path(shown[kind]) if kind in shown else None
            if path is not None and path.is_file():
                view = fmt.notebook(kind, path, limit)
                if view:
                    return view
    return ""


def picture(shown: dict[str, Path]) -> bytes | None:
    """A PNG standing for a render's outputs (kind → path), for front ends that drop HTML, if one has one."""
    for fmt in _REGISTRY.values():
        for kind in fmt.outputs:
            if kind in shown and Path(shown[kind]).is_file():
                png = fmt.picture(kind, Path(shown[kind]))
                if png:
                    return png
    return None


for _builtin in (HistoryFormat(), MP4Format(), GIFFormat(), FramesFormat(), PlayerFormat(), StillsFormat(),
                 HandoutFormat(), RunsFormat()):
    register_format(_builtin)
del _builtin


__all__ = ["FolderFormat", "Format", "FramesFormat", "GIFFormat", "HandoutFormat", "HistoryFormat", "MP4Format",
           "Output", "PlayerFormat", "Stage", "StillsFormat", "choosable", "format_help", "formats", "get_format",
           "finishing", "folder_outputs", "in_all", "known_outputs", "making", "notebook_view", "output_order", "owner", "picture", "register_format",
           "stages", "summary", "unregister_format"]
