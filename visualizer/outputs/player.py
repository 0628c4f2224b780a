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
                 grads: dict[str, np.ndarray], total_steps: int) -> Path:
    """Write the player for ``video`` (an H.264 MP4) to ``path`` atomically; returns ``path``.

    ``frame_steps[i]`` is the training step video frame ``i`` shows (non-decreasing; a held last frame repeats
    its step). ``table_steps`` are the recorded steps, one per row of ``losses[name]``, ``params[name]`` and
    ``grads[name]`` (row first). Only the rows some frame shows are embedded, rounded to 6 significant digits.
    ``total_steps`` is the length of the run, for the readout and for telling "outside the run" apart.
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
    shown = [int(s) for s in np.asarray(table_steps)[rows]]
    if total_steps < shown[-1]:
        raise ValueError(f"total_steps ({total_steps}) is smaller than the last shown step ({shown[-1]})")
    width, height, samples = mp4_video_track(video)
    if samples is not None and samples != len(frames):
        raise ValueError(f"{video} has {samples} frames but frame_steps names {len(frames)}; "
                         "give one step per video frame")
    data = _data_json(fps=fps, total=int(total_steps), steps=shown, first_frames=first_frames,
                      n_frames=len(frames), losses=losses, params=params, grads=grads, rows=rows)
    head, tail = _TEMPLATE.split("@VIDEO@")
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


def _numbers(values: np.ndarray) -> str:
    """A flat JSON array of ``values`` to 6 significant digits; NaN and infinities as strings JSON can hold."""
    flat = np.asarray(values, dtype=float).ravel()
    text = [f"{v:.6g}" for v in flat.tolist()]
    if not np.isfinite(flat).all():
        text = [_NON_FINITE.get(t, t) for t in text]
    return "[" + ",".join(text) + "]"


def _data_json(*, fps: float, total: int, steps: list[int], first_frames: list[int], n_frames: int,
               losses: dict[str, np.ndarray], params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
               rows: np.ndarray) -> str:
    """The JSON island: strings through json.dumps, numbers formatted here, ``<>&`` escaped for a script."""
    meta = [{"name": str(name), "shape": [int(d) for d in np.shape(values)[1:]], "grad": name in grads}
            for name, values in params.items()]

    def per_row(table: dict[str, np.ndarray]) -> str:
        """One flat array per shown row: the scalars of every parameter ``table`` has, in params' order."""
        names = [name for name in params if name in table and np.size(table[name][0])]
        return "[" + ",".join("[" + ",".join(_numbers(np.asarray(table[name])[r])[1:-1] for name in names) + "]"
                              for r in rows.tolist()) + "]"

    head = json.dumps({"fps": fps, "total": total, "steps": steps, "firstFrames": first_frames,
                       "nFrames": n_frames, "lossNames": [str(k) for k in losses], "params": meta},
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


_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="visualizer">
<title>@TITLE@</title>
<style>
:root {
  color-scheme: light dark;
  --bg: #f4f4f2; --panel: #ffffff; --fg: #1e1f22; --muted: #6a6c73; --line: #dedfe2; --soft: #ececee;
  --accent: #3566a8; --note-bg: #fff6db; --note-fg: #5b4300; --note-line: #ecd48f;
  --mono: ui-monospace, "SFMono-Regular", "SF Mono", Menlo, Consolas, "Liberation Mono", "DejaVu Sans Mono",
    "Courier New", monospace;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #17181b; --panel: #202226; --fg: #e6e7ea; --muted: #9a9ca4; --line: #33353b; --soft: #2a2c31;
    --accent: #86aee6; --note-bg: #3a3014; --note-fg: #f3dd9a; --note-line: #6b5a24;
  }
}
* { box-sizing: border-box; }
html, body { margin: 0; background: var(--bg); color: var(--fg); }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.page { max-width: 1560px; margin: 0 auto; padding: 18px 20px 28px; }
h1 { font-size: 1.15rem; font-weight: 600; margin: 0 0 14px; overflow-wrap: anywhere; }
.layout { display: grid; gap: 18px; grid-template-columns: minmax(0, 1fr); align-items: start; }
@media (min-width: 1080px) { .layout { grid-template-columns: minmax(0, 1fr) minmax(320px, 380px); } }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; }
.stage { padding: 10px; }
.screen { position: relative; aspect-ratio: @RATIO@; background: var(--soft); border-radius: 6px;
  overflow: hidden; }
.screen video { display: block; width: 100%; height: 100%; object-fit: contain; background: #fff; }
.screen .fallback { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center;
  padding: 24px; text-align: center; color: var(--muted); background: var(--soft); }
.screen .fallback[hidden] { display: none; }
.controls { display: flex; align-items: center; gap: 8px; padding: 12px 4px 4px; flex-wrap: wrap; }
button, select { font: inherit; color: var(--fg); background: var(--panel); border: 1px solid var(--line);
  border-radius: 7px; height: 34px; }
button { display: inline-flex; align-items: center; justify-content: center; min-width: 38px; padding: 0 9px;
  cursor: pointer; }
button:hover:not(:disabled), select:hover { border-color: var(--muted); }
button:disabled { opacity: .4; cursor: default; }
button svg { width: 16px; height: 16px; fill: currentColor; }
#play { min-width: 46px; }
select { padding: 0 6px; }
.slider { flex: 1 1 220px; min-width: 160px; display: flex; }
input[type=range] { width: 100%; accent-color: var(--accent); margin: 0; height: 34px; }
.speed { display: inline-flex; align-items: center; gap: 6px; color: var(--muted); font-size: .9rem; }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
.readout { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 26px; padding: 10px 6px 4px; }
.readout .label { color: var(--muted); font-size: .85rem; margin-right: 6px; }
.num { font-family: var(--mono); font-variant-numeric: tabular-nums; }
#step { font-size: 1.35rem; font-weight: 600; }
.of { color: var(--muted); }
#losses { display: contents; }
#losses .value { font-size: 1.05rem; }
.note { margin: 10px 6px 2px; padding: 8px 12px; border-radius: 7px; background: var(--note-bg);
  color: var(--note-fg); border: 1px solid var(--note-line); }
.note[hidden] { display: none; }
.keys { margin: 8px 6px 0; color: var(--muted); font-size: .82rem; }
kbd { font-family: var(--mono); font-size: .78rem; border: 1px solid var(--line); border-bottom-width: 2px;
  border-radius: 4px; padding: 0 4px; background: var(--soft); }
.params { display: flex; flex-direction: column; max-height: calc(100vh - 80px); min-height: 200px; }
@media (max-width: 1079px) { .params { max-height: none; } }
.params h2 { font-size: .95rem; font-weight: 600; margin: 0; padding: 12px 14px 10px;
  border-bottom: 1px solid var(--line); }
.params h2 .num { font-weight: 500; color: var(--muted); }
.scroll { overflow: auto; padding: 4px 0 8px; }
.cols { display: grid; grid-template-columns: minmax(0, 1fr) 8.5rem 8.5rem; padding: 6px 6px;
  color: var(--muted); font-size: .78rem; text-transform: uppercase; letter-spacing: .04em; }
.cols span { padding: 0 8px; }  /* the cells' own padding, inside the groups' 6px */
.cols span:not(:first-child) { text-align: right; }
td.v { text-align: right; }
details { border-top: 1px solid var(--soft); }
details:first-of-type { border-top: 0; }
summary { padding: 7px 14px; cursor: pointer; font-weight: 600; font-size: .92rem; list-style-position: inside; }
summary .shape { font-weight: 400; color: var(--muted); margin-left: 6px; }
.group { padding: 0 6px 6px; }
.group.big { max-height: 18em; overflow: auto; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; }
col.v { width: 8.5rem; }  /* the same widths as the column headings above the groups */
td { padding: 2px 8px; font-size: .86rem; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
td.n { font-family: var(--mono); color: var(--muted); }
td.v { font-family: var(--mono); font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: color-mix(in srgb, var(--soft) 55%, transparent); }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
</style>
</head>
<body>
<div class="page">
<h1 id="title">@TITLE@</h1>
<div class="layout">
  <section class="panel stage" aria-label="Video and controls">
    <div class="screen">
      <video id="video" muted playsinline preload="auto"@SIZE@ src="data:video/mp4;base64,@VIDEO@"></video>
      <div class="fallback" id="fallback" hidden>This browser cannot play the embedded H.264 video.
        The step controls, the readout and the table still work.</div>
    </div>
    <div class="controls">
      <button id="prev" type="button" aria-label="Previous step" title="Previous step (←)"><svg viewBox="0 0 16 16" aria-hidden="true"><path d="M3 2h2v12H3zM14 2v12L6 8z"/></svg></button>
      <button id="play" type="button" aria-label="Play" title="Play / pause (Space)"><svg viewBox="0 0 16 16" aria-hidden="true"><path id="play-icon" d="M4 2l10 6-10 6z"/></svg></button>
      <button id="next" type="button" aria-label="Next step" title="Next step (→)"><svg viewBox="0 0 16 16" aria-hidden="true"><path d="M11 2h2v12h-2zM2 2v12l8-6z"/></svg></button>
      <div class="slider"><input id="slider" type="range" min="0" max="0" step="1" value="0" aria-label="Shown step"></div>
      <label class="speed">Speed
        <select id="speed" aria-label="Playback speed">
          <option value="0.25">0.25×</option><option value="0.5">0.5×</option><option value="1" selected>1×</option>
          <option value="1.5">1.5×</option><option value="2">2×</option><option value="4">4×</option>
        </select>
      </label>
    </div>
    <div class="readout">
      <div><span class="label">Step</span><span id="step" class="num">–</span><span class="of num"> / <span id="total"></span></span></div>
      <div id="losses"></div>
    </div>
    <p id="note" class="note" role="status" hidden></p>
    <p class="keys"><kbd>←</kbd> <kbd>→</kbd> step · <kbd>Space</kbd> play / pause · <kbd>Home</kbd> <kbd>End</kbd>
      first / last · link to a moment with <span class="num">#step=N</span></p>
  </section>
  <section class="panel params" aria-labelledby="params-title">
    <h2 id="params-title">Parameters at step <span id="table-step" class="num"></span></h2>
    <div class="cols" aria-hidden="true"><span>name</span><span>value</span><span>gradient</span></div>
    <div class="scroll" id="groups" tabindex="0" aria-label="Parameter values and gradients"></div>
  </section>
</div>
</div>
<script type="application/json" id="player-data">@DATA@</script>
<script>
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("player-data").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var video = $("video"), slider = $("slider"), note = $("note"), playBtn = $("play");
  var steps = D.steps, firstFrames = D.firstFrames, n = steps.length, fps = D.fps;
  var cur = -1, playing = false, videoOK = true, rate = 1, raf = 0, clockStart = 0, clockFrame = 0;
  var BIG = 48;

  function num(x) {
    if (x === null || x === undefined) return "—";
    if (typeof x === "string") x = Number(x);
    if (x !== x) return "NaN";
    if (x === Infinity) return "inf";
    if (x === -Infinity) return "-inf";
    if (x === 0) return "0";
    var a = Math.abs(x);
    return (a >= 1e-3 && a < 1e5) ? x.toPrecision(6) : x.toExponential(5);
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Readout: one entry per loss, values filled in by show().
  var lossCells = D.lossNames.map(function (name) {
    var box = el("div"), value = el("span", "num value");
    box.appendChild(el("span", "label", name));
    box.appendChild(value);
    $("losses").appendChild(box);
    return value;
  });
  $("total").textContent = String(D.total);
  slider.max = String(n - 1);

  // Parameter table: a group per parameter; big groups start closed and are filled when first opened,
  // and only open groups are updated, so thousands of scalars cost nothing until someone looks at them.
  function index(shape, k) {
    var idx = [], rest = k;
    for (var d = shape.length - 1; d >= 0; d--) { idx.unshift(rest % shape[d]); rest = Math.floor(rest / shape[d]); }
    return "[" + idx.join(", ") + "]";
  }
  var groups = [], offset = 0, goffset = 0;
  D.params.forEach(function (p) {
    var size = p.shape.reduce(function (a, b) { return a * b; }, 1);
    var g = { p: p, offset: offset, goffset: goffset, size: size, cells: null, box: el("details") };
    offset += size;
    if (p.grad) goffset += size;
    var summary = el("summary", "", p.name);
    summary.appendChild(el("span", "shape num", p.shape.length ? p.shape.join(" × ") : "scalar"));
    g.box.appendChild(summary);
    g.body = el("div", size > BIG ? "group big" : "group");
    g.box.appendChild(g.body);
    g.box.open = size <= BIG;
    g.box.addEventListener("toggle", function () { if (g.box.open) fill(g); });
    $("groups").appendChild(g.box);
    groups.push(g);
  });

  function build(g) {
    var table = el("table"), colgroup = el("colgroup"), tbody = el("tbody");
    colgroup.appendChild(el("col"));
    colgroup.appendChild(el("col", "v"));
    colgroup.appendChild(el("col", "v"));
    table.appendChild(colgroup);
    g.cells = [];
    for (var k = 0; k < g.size; k++) {
      // The group's heading names the parameter; a row needs only its index (the full name as a tooltip).
      var at = g.p.shape.length ? index(g.p.shape, k) : "", tr = el("tr");
      var tn = el("td", "n", at || g.p.name), tv = el("td", "v"), tg = el("td", "v");
      tn.title = g.p.name + at;
      tr.appendChild(tn); tr.appendChild(tv); tr.appendChild(tg);
      tbody.appendChild(tr);
      g.cells.push([tv, tg]);
    }
    table.appendChild(tbody);
    g.body.appendChild(table);
  }

  function fill(g) {
    if (cur < 0) return;
    if (!g.cells) build(g);
    var values = D.values[cur], grads = D.grads[cur];
    for (var k = 0; k < g.size; k++) {
      var c = g.cells[k];
      c[0].textContent = num(values[g.offset + k]);
      c[1].textContent = g.p.grad ? num(grads[g.goffset + k]) : "—";
    }
  }

  function setHash() {
    var hash = "#step=" + steps[cur];
    if (location.hash === hash) return;
    try { history.replaceState(null, "", hash); } catch (e) { /* e.g. inside an iframe srcdoc */ }
  }

  function seekVideo() {
    if (!videoOK) return;
    // The middle of the frame's display interval: never lands on a boundary that rounds to a neighbour.
    var t = (firstFrames[cur] + 0.5) / fps;
    if (Math.abs(video.currentTime - t) > 0.25 / fps) {
      try { video.currentTime = t; } catch (e) { /* not seekable yet; loadedmetadata seeks again */ }
    }
  }

  function show(k, fromPlayback) {
    k = Math.max(0, Math.min(n - 1, k));
    var changed = k !== cur;
    cur = k;
    if (changed) {
      $("step").textContent = String(steps[k]);
      $("table-step").textContent = String(steps[k]);
      slider.value = String(k);
      slider.setAttribute("aria-valuetext", "step " + steps[k]);
      lossCells.forEach(function (cell, i) { cell.textContent = num(D.losses[i][k]); });
      groups.forEach(function (g) { if (g.box.open) fill(g); });
      $("prev").disabled = k === 0;
      $("next").disabled = k === n - 1;
    }
    if (!fromPlayback) { seekVideo(); setHash(); }
  }

  function say(text) {
    note.textContent = text;
    note.hidden = !text;
  }

  function nearest(s) {
    var lo = 0, hi = n - 1;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (steps[mid] < s) lo = mid + 1; else hi = mid; }
    if (lo > 0 && s - steps[lo - 1] <= steps[lo] - s) lo -= 1;
    return lo;
  }

  function frameIndex(frame) {
    var lo = 0, hi = n - 1;
    while (lo < hi) { var mid = (lo + hi + 1) >> 1; if (firstFrames[mid] <= frame) lo = mid; else hi = mid - 1; }
    return lo;
  }

  function fromHash() {
    var m = /(?:^#|&)step=([^&]*)/.exec(location.hash);
    if (!m) return false;
    var raw = m[1];
    try { raw = decodeURIComponent(raw); } catch (e) { /* keep it as typed */ }
    var s = Number(raw), k;
    if (raw.trim() === "" || !isFinite(s)) {
      k = 0;
      say("“#step=" + raw + "” is not a step number; showing the first step, " + steps[k] + ".");
    } else {
      k = nearest(s);
      if (steps[k] === s) say("");
      else if (s < 0 || s > D.total) say("Step " + raw + " is outside this run (steps 0 to " + D.total +
        "); showing the nearest recorded step, " + steps[k] + ".");
      else say("Step " + raw + " has no frame in this player; showing the nearest recorded step, " + steps[k] + ".");
    }
    stop();
    cur = -1;
    show(k);
    return true;
  }

  // Playback: the video's clock when it plays, a timer when this browser cannot decode it.
  function tick(now) {
    if (!playing) return;
    var frame = videoOK ? Math.floor(video.currentTime * fps + 1e-6)
                        : clockFrame + Math.floor((now - clockStart) / 1000 * fps * rate);
    if (frame >= D.nFrames) { show(n - 1, true); stop(); return; }
    show(frameIndex(frame), true);
    raf = requestAnimationFrame(tick);
  }

  function restartClock() {
    clockStart = performance.now();
    clockFrame = firstFrames[cur];
  }

  function start() {
    if (playing) return;
    if (cur === n - 1) show(0);
    say("");
    playing = true;
    playBtn.setAttribute("aria-label", "Pause");
    $("play-icon").setAttribute("d", "M3 2h4v12H3zM9 2h4v12H9z");
    restartClock();
    if (videoOK) {
      video.playbackRate = rate;
      var p = video.play();
      if (p && p.catch) p.catch(function (e) {
        if (!playing) return;  // paused before it started: nothing went wrong
        if (e && e.name === "NotSupportedError") { videoFailed(); restartClock(); } else stop();
      });
    }
    raf = requestAnimationFrame(tick);
  }

  function stop() {
    if (!playing) return;
    playing = false;
    cancelAnimationFrame(raf);
    if (videoOK) {
      video.pause();
      show(frameIndex(Math.floor(video.currentTime * fps + 1e-6)), true);
    }
    playBtn.setAttribute("aria-label", "Play");
    $("play-icon").setAttribute("d", "M4 2l10 6-10 6z");
    show(cur);  // snap the picture to the shown step's frame and record it in the address
  }

  function go(k) { stop(); say(""); show(k); }

  function videoFailed() {
    videoOK = false;
    $("fallback").hidden = false;
  }

  video.addEventListener("error", videoFailed);
  video.addEventListener("loadedmetadata", function () { if (!playing && cur >= 0) seekVideo(); });
  video.addEventListener("ended", function () { if (playing) { show(n - 1, true); stop(); } });
  playBtn.addEventListener("click", function () { if (playing) stop(); else start(); });
  $("prev").addEventListener("click", function () { go(cur - 1); });
  $("next").addEventListener("click", function () { go(cur + 1); });
  slider.addEventListener("input", function () { go(Number(slider.value)); });
  $("speed").addEventListener("change", function () {
    rate = Number(this.value);
    video.playbackRate = rate;
    if (playing) restartClock();
  });
  window.addEventListener("hashchange", fromHash);
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey || e.defaultPrevented) return;
    var t = e.target, tag = t && t.tagName;
    if (tag === "SELECT" || tag === "TEXTAREA" || (tag === "INPUT" && t.type !== "range")) return;
    var onButton = tag === "BUTTON" || tag === "SUMMARY";
    switch (e.key) {
      case "ArrowRight": go(cur + 1); break;
      case "ArrowLeft": go(cur - 1); break;
      case "Home": go(0); break;
      case "End": go(n - 1); break;
      case " ": case "Spacebar": if (onButton) return; if (playing) stop(); else start(); break;
      default: return;
    }
    e.preventDefault();
  });

  if (!fromHash()) show(0);
})();
</script>
</body>
</html>
"""
