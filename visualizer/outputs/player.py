"""The step-by-step player: one self-contained HTML file holding the MP4 and the numbers its readout shows.

The page works offline by double-click: the video is embedded as a ``data:`` URI, the CSS and JavaScript are
inline, and the numbers are a compact JSON island holding only the recorded rows that video frames show. The
readout (step, losses, parameter table) follows the *shown step*, never the decoded picture, so it is right
even in a browser that cannot decode H.264. ``#step=N`` in the address opens the page at step N; a step the
player does not have is clamped to the nearest one it has, with a note saying so.
"""
from __future__ import annotations

import base64
import html
import json
import math
import struct
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..base.files import written

_CHUNK = 3 * (1 << 16)  # a multiple of 3, so base64 of consecutive chunks concatenates without padding
_NON_FINITE = {"nan": '"NaN"', "inf": '"Infinity"', "-inf": '"-Infinity"'}  # JS's Number() reads these back


def write_player(path: str | Path, *, video: str | Path, title: str, fps: float, frame_steps: Sequence[int],
                 table_steps: np.ndarray, losses: dict[str, np.ndarray], params: dict[str, np.ndarray],
                 grads: dict[str, np.ndarray], total_steps: int,
                 cues: Sequence[tuple[int, int, str, str]] = (),
                 names: dict[str, Sequence[str]] | None = None) -> Path:
    """Write the player for ``video`` (an H.264 MP4) to ``path`` atomically; returns ``path``.

    ``frame_steps[i]`` is the training step video frame ``i`` shows (non-decreasing; a held last frame repeats
    its step). ``table_steps`` are the recorded steps, one per row of ``losses[name]``, ``params[name]`` and
    ``grads[name]`` (row first). Only the rows some frame shows are embedded, rounded to 6 significant digits.
    ``total_steps`` is the length of the run, for the readout and for telling "outside the run" apart.
    ``cues`` are the captions, (first frame, frame after the last, text, chapter): the page shows the one
    covering the current frame under the video, and marks each cue with a chapter name on the slider (a
    click goes there). Their text is shown as text, never read as markup. ``names[param]`` names each scalar
    of a parameter in its ravel order, as the frames name it (``w5``, ``w2[1,3]``): the table's rows show
    those names (a parameter without them, its index).
    Inconsistent arrays, or a video that is not an MP4 or has another number of frames, raise ``ValueError``.
    """
    path, video = Path(path), Path(video)
    fps = float(fps)
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number, got {fps}")
    frames = np.asarray(frame_steps)
    rows, first_frames = _shown_rows(frames, np.asarray(table_steps))
    n_rows = len(np.asarray(table_steps))
    _check_table(losses, params, grads, n_rows)
    _check_names(names or {}, params)
    shown = [int(s) for s in np.asarray(table_steps)[rows]]
    if total_steps < shown[-1]:
        raise ValueError(f"total_steps ({total_steps}) is smaller than the last shown step ({shown[-1]})")
    width, height, samples = mp4_video_track(video)
    if samples is not None and samples != len(frames):
        raise ValueError(f"{video} has {samples} frames but frame_steps names {len(frames)}; "
                         "give one step per video frame")
    data = _data_json(fps=fps, total=int(total_steps), steps=shown, first_frames=first_frames,
                      n_frames=len(frames), losses=losses, params=params, grads=grads, rows=rows, names=names,
                      cues=[[int(a), int(b), str(text), str(chapter)] for a, b, text, chapter in cues])
    head, tail = page_template().split("@VIDEO@")
    size = f' width="{width}" height="{height}"' if width and height else ""
    ratio = f"{width} / {height}" if width and height else "16 / 9"
    # The title goes in last, so text in it that looks like a placeholder stays as it is.
    head = head.replace("@SIZE@", size).replace("@RATIO@", ratio).replace("@TITLE@", html.escape(title))
    tail = tail.replace("@DATA@", data)
    path.parent.mkdir(parents=True, exist_ok=True)
    with written(path, ".html") as tmp, open(tmp, "w", encoding="utf-8") as out:
        out.write(head)
        for chunk in _base64_chunks(video):
            out.write(chunk)
        out.write(tail)
    return path


def page_template() -> str:
    """The page around the video and the numbers, with its placeholders: ``player.html`` beside this module,
    shipped in the package as data."""
    from importlib.resources import files

    return files(__package__).joinpath("player.html").read_text(encoding="utf-8")


def _shown_rows(frames: np.ndarray, table_steps: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """The table row of each distinct shown step (in order), and the first video frame showing it."""
    if frames.ndim != 1 or len(frames) == 0:
        raise ValueError("frame_steps must list one training step per video frame (at least one frame)")
    if table_steps.ndim != 1 or len(table_steps) == 0 or np.any(np.diff(table_steps) <= 0):
        raise ValueError("table_steps must be the recorded steps, increasing, one per table row")
    if np.any(np.diff(frames) < 0):
        at = int(np.argmax(np.diff(frames) < 0)) + 1
        raise ValueError(f"frame_steps must not go back in time: frame {at} shows step {frames[at]} "
                         f"after step {frames[at - 1]}")
    first = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]])
    steps = frames[first]
    rows = np.searchsorted(table_steps, steps)
    missing = (rows >= len(table_steps)) | (table_steps[np.minimum(rows, len(table_steps) - 1)] != steps)
    if missing.any():
        raise ValueError(f"video frames show step {steps[missing][0]}, which table_steps does not record")
    return rows, [int(i) for i in first]


def _check_table(losses: dict[str, np.ndarray], params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
                 n_rows: int) -> None:
    if not losses:
        raise ValueError("losses must name at least one loss series")
    for kind, table in (("losses", losses), ("params", params), ("grads", grads)):
        for name, values in table.items():
            shape = np.shape(values)
            if not shape or shape[0] != n_rows:
                raise ValueError(f"{kind}[{name!r}] has shape {shape}; its first axis must be the "
                                 f"{n_rows} recorded rows of table_steps")
            if kind == "losses" and len(shape) != 1:
                raise ValueError(f"losses[{name!r}] must hold one number per row, got shape {shape}")
    for name, values in grads.items():
        if name not in params:
            raise ValueError(f"grads[{name!r}] has no parameter of that name in params")
        if np.shape(values) != np.shape(params[name]):
            raise ValueError(f"grads[{name!r}] has shape {np.shape(values)} but params[{name!r}] has "
                             f"{np.shape(params[name])}")


def _check_names(names: dict[str, Sequence[str]], params: dict[str, np.ndarray]) -> None:
    for name, given in names.items():
        if name not in params:
            raise ValueError(f"names[{name!r}] has no parameter of that name in params")
        size = int(np.prod(np.shape(params[name])[1:], dtype=int))
        if len(given) != size:
            raise ValueError(f"names[{name!r}] gives {len(given)} names for the parameter's {size} scalars")


def _numbers(values: np.ndarray) -> str:
    """A flat JSON array of ``values`` to 6 significant digits; NaN and infinities as strings JSON can hold."""
    flat = np.asarray(values, dtype=float).ravel()
    text = [f"{v:.6g}" for v in flat.tolist()]
    if not np.isfinite(flat).all():
        text = [_NON_FINITE.get(t, t) for t in text]
    return "[" + ",".join(text) + "]"


def _data_json(*, fps: float, total: int, steps: list[int], first_frames: list[int], n_frames: int,
               losses: dict[str, np.ndarray], params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
               rows: np.ndarray, cues: list | None = None, names: dict[str, Sequence[str]] | None = None) -> str:
    """The JSON island: strings through json.dumps, numbers formatted here, ``<>&`` escaped for a script."""
    names = names or {}
    meta = [{"name": str(name), "shape": [int(d) for d in np.shape(values)[1:]], "grad": name in grads,
             **({"names": [str(n) for n in names[name]]} if name in names else {})}
            for name, values in params.items()]

    def per_row(table: dict[str, np.ndarray]) -> str:
        """One flat array per shown row: the scalars of every parameter ``table`` has, in params' order."""
        names = [name for name in params if name in table and np.size(table[name][0])]
        return "[" + ",".join("[" + ",".join(_numbers(np.asarray(table[name])[r])[1:-1] for name in names) + "]"
                              for r in rows.tolist()) + "]"

    head = json.dumps({"fps": fps, "total": total, "steps": steps, "firstFrames": first_frames,
                       "nFrames": n_frames, "lossNames": [str(k) for k in losses], "params": meta,
                       "cues": cues or []},
                      ensure_ascii=False, separators=(",", ":"))
    loss_rows = "[" + ",".join(_numbers(np.asarray(v)[rows]) for v in losses.values()) + "]"
    body = (f'{head[:-1]},"losses":{loss_rows},"values":{per_row(params)},"grads":{per_row(grads)}}}')
    # Inside <script> only "</" (and "<!--") can end or confuse the element; escaping every <, > and & in
    # JSON strings (they occur nowhere else) is the simple sufficient rule. U+2028/9 are fine in JSON.parse.
    return body.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _base64_chunks(video: Path) -> Iterator[str]:
    with open(video, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            yield base64.b64encode(chunk).decode("ascii")


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """ISO-BMFF boxes in ``data[start:end]``: (type, payload start, box end)."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1 and pos + 16 <= end:
            size, header = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos + header, pos + size
        pos += size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(((s, e) for k, s, e in _boxes(data, start, end) if k == kind), None)


def _moov(video: Path) -> bytes:
    """The payload of the MP4's ``moov`` box (the index), read without loading the media data around it."""
    with open(video, "rb") as fh:
        if fh.read(8)[4:] != b"ftyp":
            raise ValueError(f"{video} is not an MP4 file (no 'ftyp' box); the player embeds an H.264 MP4")
        fh.seek(0)
        while len(header := fh.read(8)) == 8:
            size, kind = struct.unpack(">I4s", header)
            skip = 8
            if size == 1:
                size, skip = struct.unpack(">Q", fh.read(8))[0], 16
            if kind == b"moov":
                return fh.read(size - skip) if size else fh.read()
            if size < skip:  # 0 (the box runs to the end of the file) or damaged: nothing follows
                break
            fh.seek(size - skip, 1)
    return b""


def mp4_video_track(video: Path) -> tuple[int | None, int | None, int | None]:
    """(width, height, frame count) of the MP4's video track, ``None`` where the file does not say.

    Raises a ``ValueError`` for a file that is not an MP4 at all, so a wrong path fails here, not in a browser.
    """
    data = _moov(video)
    for kind, start, end in _boxes(data, 0, len(data)):
        if kind != b"trak":
            continue
        mdia = _child(data, start, end, b"mdia")
        hdlr = mdia and _child(data, *mdia, b"hdlr")
        if not hdlr or data[hdlr[0] + 8:hdlr[0] + 12] != b"vide":
            continue
        width = height = samples = None
        tkhd = _child(data, start, end, b"tkhd")
        if tkhd and tkhd[1] - tkhd[0] >= 84:
            w, h = struct.unpack(">II", data[tkhd[1] - 8:tkhd[1]])
            width, height = (w >> 16) or None, (h >> 16) or None
        minf = _child(data, *mdia, b"minf")
        stbl = minf and _child(data, *minf, b"stbl")
        stsz = stbl and _child(data, *stbl, b"stsz")
        if stsz and stsz[1] - stsz[0] >= 12:
            samples = struct.unpack(">I", data[stsz[0] + 8:stsz[0] + 12])[0]
        return width, height, samples
    return None, None, None
