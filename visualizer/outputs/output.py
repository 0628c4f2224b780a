"""One output of a render: what an output format declares (:class:`Format`), what a render tells it
(:class:`Job`), the stages outputs are finished in (:class:`Stage`), and :class:`Output`, one format's
output built from pieces that chunks write independently.

A :class:`Format` says everything about one kind of output: its file names (given the render's name), the
writer each chunk of frames uses and how the chunks' pieces join, what it is made from (the player: the MP4),
its manifest entry, the line the command line prints for it, how a notebook shows it, and whether the user
may ask for it with ``format=``. The registry of them is :mod:`visualizer.outputs.formats`.

A render makes its formats as :class:`Output` objects: the ones that draw get a writer in every chunk
(``begin`` → ``prepare`` → ``piece`` per chunk), then each output is finished in the order of its
:class:`Stage` (``finish``: its pieces joined, then whatever the format makes from them or from the outputs
it needs).

Imports nothing heavy: the writers are imported as a format is used, so the options (and ``--help``) list
the formats at once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    import os

    import numpy as np

    from .writer import Writer


@dataclass(frozen=True)
class Stage:
    """A step of a render after its frames are drawn: ``name`` as the test pause hook and an interrupted
    render's ``stage`` say it, ``shown`` on the progress bar, ``doing`` after "interrupted while". Outputs
    are finished in the order of their stages' ``order``."""

    name: str
    shown: str
    doing: str
    order: int


JOIN = Stage("join", "joining the video pieces", "joining the video", 10)
GIF = Stage("gif", "GIF: palette and encoding", "making the GIF", 20)
PLAYER = Stage("player", "writing the player", "making the player", 30)
STILLS = Stage("stills", "poster and contact sheet", "drawing the poster and contact sheet", 40)
HANDOUT = Stage("handout", "the handout's pages", "drawing the handout", 50)


HANDOUT_PAGES = 6  # a handout's pages by default: the first frame, the moments, the rest evenly spaced


class RecordedRun(Protocol):
    """What formats read of the recorded run (a :class:`visualizer.record.history.History` is one)."""

    steps: np.ndarray
    losses: dict[str, np.ndarray]
    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    total_steps: int
    info: Any  # its scene, every and seed go into the manifest

    def __len__(self) -> int: ...

    def save(self, path: Path) -> Path: ...


@dataclass
class Job:
    """One render as its formats see it: plain values from the options and the frames, and the history
    drawn (outputs import none of those stages)."""

    name: str  # the render's name: its folder's, and the stem of the videos' file names
    title: str | None
    size: tuple[int, int]
    dpi: float | None
    fps: float
    hold: float  # seconds the last frame is held at the end of the videos
    hold_frames: int
    every: int | None  # the render's every option (None: every recorded row)
    max_frames: int | None
    gif_fps: float
    gif_width: int
    last_frame: bool  # only the final frame is drawn, for the poster
    pace: str = "steps"  # which recorded steps became frames: change, log or steps (visualizer.record.pace)
    pages: int = HANDOUT_PAGES  # the handout's pages (the moments may add more)
    title_card: float = 0.0  # seconds the title card is shown at the start of the videos (0: no card)
    preset: str = "default"  # how the frames are drawn (visualizer.draw.presets)
    # Draws the handout's pages, (training step, caption) each, as a vector PDF at the path: given by the
    # render, as outputs draw no figures themselves.
    handout: Callable[[list[tuple[int, str]], Path], None] | None = None
    # Known once the run is trained and its frames chosen (a render fills them in before drawing):
    frame_steps: list[int] = field(default_factory=list)  # the step each drawn frame shows (explain frames too)
    row_positions: list[int] = field(default_factory=list)  # each selected row's place among the frames
    history: RecordedRun | None = None
    # Every parameter's scalar names (by parameter, in its ravel order), as the frames name them: the
    # player's table uses them (given by the render: outputs import no naming scheme).
    param_names: dict[str, list[str]] = field(default_factory=dict)
    moments: list[tuple[int, str]] = field(default_factory=list)  # (training step, caption) the video holds at
    cues: list[Any] = field(default_factory=list)  # captions.Cue: text by video frame (moments, explain stages)
    runs: list[tuple[str, Any]] = field(default_factory=list)  # a comparison's runs: (file name, history) each

    def drawn(self) -> dict[str, Any]:
        """What the frames were drawn with and which steps they show (a manifest entry)."""
        shown = [self.frame_steps[p] for p in self.row_positions]
        return {"size": list(self.size), "dpi": self.dpi, "title": self.title, "every": self.every,
                "max_frames": self.max_frames, "pace": self.pace, "frames": len(self.row_positions), "first_step": shown[0],
                "last_step": shown[-1], **self.look()}

    def look(self) -> dict[str, Any]:
        """The preset the frames were drawn at, when not the default (a manifest entry's part)."""
        return {"preset": self.preset} if self.preset != "default" else {}

    def video(self) -> dict[str, Any]:
        """:meth:`drawn`, with the video's frame rate and hold (and its moments and title card, when it has them)."""
        moments = {"moments": [[step, text] for step, text in self.moments]} if self.moments else {}
        card = {"title_card": self.title_card} if self.title_card else {}
        return {**self.drawn(), "fps": self.fps, "hold": self.hold, **moments, **card}


class Format:
    """One kind of output, declared in one place; subclass it and register an instance
    (:func:`visualizer.outputs.formats.register_format`).

    The class attributes say what it is; the methods how it is made and described. A format that draws gets
    a :class:`~visualizer.outputs.writer.Writer` in every chunk (:meth:`piece`) and joins their pieces
    (:meth:`join`); one that does not draw is built by :meth:`make` from the outputs it ``needs``.
    """

    name = ""  # the registry's key, the --format name, and the output's kind when it publishes one file
    help = ""  # a few words after its name in --format's help, if the name does not say enough
    choosable = True  # the user may ask for it with --format
    in_all = True  # "all" includes it (if choosable); a slow or rarely wanted one is asked for by name
    always = False  # every render makes it, asked for or not
    needs: tuple[str, ...] = ()  # formats it is made from: made privately (never published) when not asked for
    draws = True  # chunks write frames to it
    first = False  # made before any frame is drawn (from the history alone)
    stage: Stage | None = None  # how its finishing shows on the progress bar
    view: int | None = None  # its place among what a notebook may show inline, lowest first; None: never
    piece_suffix = ".mkv"  # a chunk's piece's file name ends so

    @property
    def outputs(self) -> tuple[str, ...]:
        """The kinds of output it publishes (the manifest's and the render result's keys)."""
        return (self.name,)

    def files(self, name: str) -> dict[str, str]:
        """Each output's file name in the render's folder, by kind; ``name`` is the render's name."""
        return {self.name: self.filename(name)}

    def filename(self, name: str) -> str:
        """The file name of a format that publishes one output."""
        raise NotImplementedError(f"format {self.name!r} names no file")

    def is_folder(self, kind: str) -> bool:
        """Whether the output ``kind`` is a folder of files (a file in its place is refused) or one file."""
        return False

    def kinds(self, job: Job) -> list[str]:
        """The outputs this render publishes (most formats: every one of :attr:`outputs`)."""
        return list(self.outputs)

    def settings(self, job: Job) -> dict[str, Any]:
        """What its writers need of the render, as plain values (they travel to other processes)."""
        return {}

    # ---- drawing: the main process begins and prepares, every chunk writes a piece, the pieces join

    def begin(self, output: Output) -> None:
        """Make the temporary places this output's pieces go to, under ``output.work``. Most need none."""

    def prepare(self, output: Output, draw: Callable[[int], np.ndarray], n_frames: int, fps: float) -> None:
        """Before any chunk starts: look at frames of the whole video (``draw(index)``, for ``index`` below
        ``n_frames``) if the format needs to, keeping what the pieces need in ``output.state``."""

    def piece(self, output: Output, k: int, start_index: int) -> Writer:
        """The writer chunk ``k`` uses; its first frame is frame ``start_index`` of the whole video."""
        raise NotImplementedError(f"format {self.name!r} draws no frames")

    def positions(self, output: Output) -> list[int] | None:
        """The positions among the frames of the only frames it keeps, or ``None``: it needs every frame. When
        no output of a render needs every frame, only those kept are drawn, and ``output.settings["drawn_at"]``
        says where each frame its writers get sits among the whole."""
        return None

    def join(self, output: Output, pieces: list[Path]) -> Path:
        """Combine the chunks' pieces (in order) into ``output.path``."""
        raise NotImplementedError(f"format {self.name!r} draws no frames")

    def pack(self, output: Output, k: int) -> object:
        """Chunk ``k``'s finished piece as data that can travel to another process or machine."""
        path = output.piece_path(k)
        return path.read_bytes() if path.exists() else None

    def unpack(self, output: Output, k: int, data: object) -> None:
        """Put a piece :meth:`pack` made elsewhere where chunk ``k``'s piece goes here."""
        if data is not None:
            output.piece_path(k).write_bytes(data)

    # ---- after the frames

    def make(self, output: Output, job: Job, made: dict[str, Output]) -> None:
        """Build its files: from the history (a ``first`` format), from the outputs it needs (``made``, by
        format name), or from its own joined pieces. Most formats draw and need nothing more."""

    # ---- describing what was made

    def manifest(self, kind: str, job: Job) -> dict[str, Any]:
        """The options that made output ``kind``, for the manifest."""
        return job.drawn()

    def summary(self, kind: str, path: Path) -> str:
        """The line the command line prints for output ``kind`` written at ``path``."""
        if path.is_dir():
            files = [p for p in path.iterdir() if p.is_file()]
            return summary_line(kind, f"{path}/", f"{len(files)} files, {human_size(total_size(files))}")
        return summary_line(kind, path, human_size(path.stat().st_size))

    def notebook(self, kind: str, path: Path, limit: float) -> str | None:
        """How a notebook shows output ``kind`` inline (HTML), or ``None``: never shown. Past ``limit``
        bytes embedded, a link instead."""
        return None

    def picture(self, kind: str, path: Path) -> bytes | None:
        """A PNG standing for the render where a front end drops HTML, or ``None``."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class FolderFormat(Format):
    """An output whose chunks write files into one folder of the work folder, named after the format, that
    is swapped in whole at ``output.path``; the pieces travel as {file name: bytes}."""

    def is_folder(self, kind: str) -> bool:
        """Its output is a folder."""
        return True

    def folder(self, output: Output) -> Path:
        """Where the chunks write their files."""
        return output.work / self.name

    def begin(self, output: Output) -> None:
        """The chunks' folder."""
        self.folder(output).mkdir()

    def join(self, output: Output, pieces: list[Path]) -> Path:
        """The chunks' folder moved to ``output.path`` whole."""
        from .png import swap_folder

        swap_folder(self.folder(output), output.path)
        return output.path

    def pack(self, output: Output, k: int) -> object:
        """Every file the chunk wrote, by name."""
        return {p.name: p.read_bytes() for p in sorted(self.folder(output).iterdir())}

    def unpack(self, output: Output, k: int, data: object) -> None:
        """The chunk's files, put in the folder."""
        for name, content in data.items():
            (self.folder(output) / name).write_bytes(content)


# ---- helpers for describing outputs

def human_size(n: int) -> str:
    """``n`` bytes as B, KB, MB or GB."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def total_size(files: list[Path]) -> int:
    """The files' bytes together."""
    return sum(f.stat().st_size for f in files)


def summary_line(kind: str, where: str | Path, what: str) -> str:
    """A summary's line: the kind right-aligned, where it is, then what it holds in parentheses."""
    return f"{kind:>13}  {where} ({what})"


def too_big(kind: str, path: Path, limit: float, factor: float = 4 / 3) -> str | None:
    """A link to the file, if embedding it in a notebook would take more than ``limit`` bytes (``factor``
    times the file: base64 takes 4/3); else ``None``."""
    import html

    size = path.stat().st_size * factor
    if size <= limit:
        return None
    return (f'<p>{kind.upper()} of {size / 2**20:.1f} MB is over the inline limit of {limit / 2**20:.0f} MB '
            f'(RenderResult.embed_limit): <a href="{path}" target="_blank">{html.escape(str(path))}</a></p>')


def encoded(path: Path) -> str:
    """The file as base64 text."""
    import base64

    return base64.b64encode(path.read_bytes()).decode()


# ---- one output of one render

class Output:
    """One format's output in one render: where it goes (``path``; ``files`` for each kind it publishes),
    its writers' ``settings``, and what :meth:`prepare` found for them (``state``).

    In the main process: ``begin(work, chunks)`` → ``prepare`` → the chunks each use ``piece(k, start)`` →
    ``finish`` joins the pieces and makes the format's files. ``work`` is a private temporary folder beside
    the outputs.
    """

    def __init__(self, format: Format, path: str | os.PathLike, settings: dict | None = None,
                 files: dict[str, Path] | None = None) -> None:
        self.format = format
        self.kind, self.path = self.format.name, Path(path)
        self.settings = dict(settings or {})
        self.files = dict(files) if files is not None else {self.kind: self.path}
        self.state: dict[str, Any] = {}
        self.work: Path | None = None
        self.chunks = 1

    def begin(self, work: Path, chunks: int = 1) -> None:
        """Prepare the temporary places the pieces of ``chunks`` chunks go to."""
        self.work, self.chunks = work, chunks
        self.format.begin(self)

    def prepare(self, draw: Callable[[int], np.ndarray], n_frames: int, fps: float) -> None:
        """Before the chunks: let the format look at frames of the whole video (``draw(index)``), as the GIF
        does for its palette."""
        self.format.prepare(self, draw, n_frames, fps)

    def piece_path(self, k: int) -> Path:
        """Where chunk ``k``'s piece goes."""
        return self.work / f"{self.kind}_{k:04d}{self.format.piece_suffix}"

    def piece(self, k: int, start_index: int) -> Writer:
        """The writer chunk ``k`` uses; its first frame is frame ``start_index`` of the whole video."""
        return self.format.piece(self, k, start_index)

    def travelling(self) -> dict:
        """What a chunk drawn in another process needs to make its piece of this output (after
        :meth:`prepare`); see :meth:`elsewhere`."""
        return {"format": self.format, "settings": self.settings, "state": self.state, "chunks": self.chunks}

    @classmethod
    def elsewhere(cls, travelled: dict, work: Path) -> Output:
        """In another process: the output :meth:`travelling` described, its pieces going to ``work``; a
        chunk's piece comes back with :meth:`pack`."""
        output = cls(travelled["format"], work / "output", travelled["settings"])
        output.state = travelled["state"]
        output.begin(work, travelled["chunks"])
        return output

    def pack(self, k: int) -> object:
        """Chunk ``k``'s finished piece as data (bytes, or a folder's files) to send back."""
        return self.format.pack(self, k)

    def unpack(self, k: int, data: object) -> None:
        """Chunk ``k``'s piece, made elsewhere, put where :meth:`join` finds it."""
        self.format.unpack(self, k, data)

    def join(self) -> Path:
        """Combine the pieces into the final output."""
        pieces = [p for p in (self.piece_path(k) for k in range(self.chunks)) if p.exists()]
        return self.format.join(self, pieces)

    def finish(self, job: Job, made: dict[str, Output]) -> None:
        """Once every chunk is drawn: join the pieces (a format that draws), then make the format's files
        (``made``: the render's outputs by format name)."""
        if self.format.draws:
            self.join()
        self.format.make(self, job, made)


__all__ = ["FolderFormat", "Format", "GIF", "HANDOUT", "HANDOUT_PAGES", "JOIN", "Job", "Output", "PLAYER",
           "RecordedRun", "STILLS", "Stage", "encoded", "human_size", "summary_line", "too_big", "total_size"]
