"""The output formats by name (:data:`WRITERS`) and :class:`Output`, one final output built from pieces
that chunks write independently."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .gif import GIF_PALETTE_SAMPLE, GIFFramesWriter, GIFScaler, gif_palette, gif_rate, gif_size, make_gif
from .mp4 import MP4Writer, ffmpeg_exe, join_mp4
from .pixels import sample_positions
from .png import PNGFramesWriter, swap_folder
from .stills import StillsWriter
from .writer import NullWriter, Writer


class Format:
    """How one output format is made: its file name, the writer each chunk uses, and how pieces are joined."""

    name = ""
    piece_suffix = ".mkv"

    def filename(self, scene: str) -> str:
        """The output's name in the scene's folder."""
        raise NotImplementedError

    def begin(self, output: Output) -> None:
        """Make the temporary places this output's pieces go to, under ``output.work``. Most need none."""

    def prepare(self, output: Output, draw: Callable[[int], np.ndarray], n_frames: int, fps: float) -> None:
        """Before any chunk starts: look at frames of the whole video (``draw(index)``, for ``index`` below
        ``n_frames``) if the format needs to. Most need nothing."""

    def piece(self, output: Output, k: int, start_index: int) -> Writer:
        """The writer chunk ``k`` uses; its first frame is frame ``start_index`` of the whole video."""
        raise NotImplementedError

    def join(self, output: Output, pieces: list[Path]) -> Path:
        """Combine the chunks' pieces (in order) into ``output.path``."""
        raise NotImplementedError

    def pack(self, output: Output, k: int) -> object:
        """Chunk ``k``'s finished piece as data that can travel to another process or machine."""
        path = output.piece_path(k)
        return path.read_bytes() if path.exists() else None

    def unpack(self, output: Output, k: int, data: object) -> None:
        """Put a piece :meth:`pack` made elsewhere where chunk ``k``'s piece goes here."""
        if data is not None:
            output.piece_path(k).write_bytes(data)


class MP4Format(Format):
    name, piece_suffix = "mp4", ".mp4"

    def filename(self, scene: str) -> str:
        return f"{scene}.mp4"

    def prepare(self, output, draw, n_frames, fps):
        ffmpeg_exe()  # found once here, before the workers fork (finding it runs ffmpeg), not once in each

    def piece(self, output, k, start_index):
        # Chunks already keep every core busy; one x264 thread each wastes less on coordination.
        return MP4Writer(output.piece_path(k), threads=1 if output.chunks > 1 else None)

    def join(self, output, pieces):
        return join_mp4(pieces, output.path)


class GIFFormat(Format):
    name, piece_suffix = "gif", ".gif"

    def filename(self, scene: str) -> str:
        return f"{scene}.gif"

    def prepare(self, output, draw, n_frames, fps):
        # One palette for the whole clip, from a sample of its frames drawn before the chunks start: every
        # chunk then writes its part of the GIF at once, and the parts join by copying bytes.
        output.frame_count = n_frames
        rate = gif_rate(output.gif_fps, fps)
        index = np.arange(n_frames)
        ticks = (index * rate / fps).astype(np.int64)  # as gif_keeps: float products, truncated
        keep = np.concatenate(([True], ticks[1:] != ticks[:-1])) if rate < fps else np.ones(n_frames, bool)
        keep[-1] = True
        kept = [int(i) for i in index[keep]]

        def sample() -> Iterator[np.ndarray]:
            scale = None
            for i in sample_positions(kept, GIF_PALETTE_SAMPLE):
                frame = draw(i)
                if scale is None:
                    size = (frame.shape[1], frame.shape[0])
                    scale = GIFScaler(size, gif_size(size, output.gif_width), frame.shape[2])
                yield scale(frame)

        output.palette = gif_palette(sample(), output.work / "gif_palette.png")

    def piece(self, output, k, start_index):
        return GIFFramesWriter(output.piece_path(k), output.palette, output.gif_fps, output.gif_width,
                               start_index=start_index, total=output.frame_count)

    def join(self, output, pieces):
        return make_gif(pieces, output.path)


class _FolderFormat(Format):
    """An output whose chunks write files into one folder of the work folder, named after the format; they
    travel as {file name: bytes}."""

    def folder(self, output: Output) -> Path:
        return output.work / self.name

    def begin(self, output: Output) -> None:
        self.folder(output).mkdir()

    def pack(self, output, k):
        return {p.name: p.read_bytes() for p in sorted(self.folder(output).iterdir())}

    def unpack(self, output, k, data):
        for name, content in data.items():
            (self.folder(output) / name).write_bytes(content)


class FramesFormat(_FolderFormat):
    name = "frames"

    def filename(self, scene: str) -> str:
        return "frames"

    def piece(self, output, k, start_index):
        return PNGFramesWriter(output.path, output.digits, into=self.folder(output))

    def join(self, output, pieces):
        swap_folder(self.folder(output), output.path)
        return output.path


class StillsFormat(_FolderFormat):
    """The stills' parts (poster, thumbnails), kept by each chunk as it draws; the render composes them."""

    name = "stills"

    def filename(self, scene: str) -> str:
        return "stills"

    def piece(self, output, k, start_index):
        return StillsWriter(self.folder(output), start_index, **output.stills)

    def join(self, output, pieces):
        return self.folder(output)


class NullFormat(Format):
    name = "null"

    def filename(self, scene: str) -> str:
        return "null"

    def piece(self, output, k, start_index):
        return NullWriter(output.path)

    def join(self, output, pieces):
        return output.path


WRITERS: dict[str, Format] = {f.name: f for f in (MP4Format(), GIFFormat(), FramesFormat(), StillsFormat(),
                                                   NullFormat())}


def register_format(fmt: Format) -> None:
    """Add (or replace) an output format by its name."""
    WRITERS[fmt.name] = fmt


class Output:
    """One final output (an MP4, a GIF or a PNG folder) built from pieces that chunks write independently.

    In the main process: ``begin(work)`` → the chunks each use ``piece(k, start)`` → ``join()`` puts the
    result at ``path`` atomically. ``work`` is a private temporary folder beside the outputs.
    """

    def __init__(self, kind: str, path: Path, *, digits: int = 5, gif_fps: float | None = None,
                 gif_width: int | None = None, stills: dict | None = None) -> None:
        if kind not in WRITERS:
            raise ValueError(f"unknown output kind {kind!r}; known: {', '.join(WRITERS)}")
        self.kind, self.format, self.path = kind, WRITERS[kind], Path(path)
        self.digits, self.gif_fps, self.gif_width = digits, gif_fps, gif_width
        self.stills = stills  # the stills' StillsWriter settings: poster_at, thumbs_at, thumb_size
        self.palette: Path | None = None  # the GIF's, made by prepare()
        self.frame_count: int | None = None  # frames in the whole video, told to prepare()

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
        return {"kind": self.kind, "digits": self.digits, "gif_fps": self.gif_fps, "gif_width": self.gif_width,
                "stills": self.stills, "frame_count": self.frame_count, "chunks": self.chunks,
                "palette": self.palette.read_bytes() if self.palette is not None else None}

    @classmethod
    def elsewhere(cls, settings: dict, work: Path) -> Output:
        """In another process: the output :meth:`travelling` described, its pieces going to ``work``; a
        chunk's piece comes back with :meth:`pack`."""
        output = cls(settings["kind"], work / "output", digits=settings["digits"], gif_fps=settings["gif_fps"],
                     gif_width=settings["gif_width"], stills=settings["stills"])
        output.begin(work, settings["chunks"])
        output.frame_count = settings["frame_count"]
        if settings["palette"] is not None:
            output.palette = work / "gif_palette.png"
            output.palette.write_bytes(settings["palette"])
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
