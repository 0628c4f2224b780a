"""The MP4 shows the PNG's colours: converted with the BT.709 matrix and tagged so, read back with real ffmpeg.

A browser decodes H.264 with the matrix and range the file is tagged with, and takes an untagged HD file for
BT.709 (limited range). ``_decode_as_a_browser`` does the same with ffmpeg, which on its own would assume BT.601
for an untagged file and so hide the mismatch.
"""
from __future__ import annotations

import re
import subprocess

import matplotlib
import numpy as np
import pytest
from PIL import Image

from visualizer.outputs.mp4 import MP4Writer, ffmpeg_exe, join_mp4, run_ffmpeg

CELL, MARGIN = 30, 7  # flat patches, compared away from their edges where 4:2:0 chroma blurs across
NOT_COLOUR = {"progressive", "top first", "bottom first", "top coded first (swapped)",
              "bottom coded first (swapped)", "left", "center", "topleft", "top", "bottomleft", "bottom"}
COLORMAPS = ["viridis", "RdBu", "magma", "coolwarm", "plasma", "RdBu_r", "cividis", "PuOr"]


def _heatmap_frame(width: int = 480, height: int = 240, channels: int = 3) -> np.ndarray:
    """Rows of flat patches, each row sweeping one of the colour maps the panels use."""
    frame = np.full((height, width, channels), 255, np.uint8)
    cols = width // CELL
    for r in range(height // CELL):
        cmap = matplotlib.colormaps[COLORMAPS[r % len(COLORMAPS)]]
        rgb = np.round(cmap(np.linspace(0, 1, cols))[:, :3] * 255).astype(np.uint8)
        for c in range(cols):
            frame[r * CELL:(r + 1) * CELL, c * CELL:(c + 1) * CELL, :3] = rgb[c]
    return frame


def _encode(path, frame: np.ndarray, count: int = 3):
    writer = MP4Writer(path)
    with writer:
        writer.setup((frame.shape[1], frame.shape[0]), 10, frame.shape[2])
        for step in range(count):
            writer.write(frame, step)
    return path


def _colour_tags(path) -> dict[str, str]:
    """Range, matrix, primaries and transfer as ffprobe would report them, from ``ffmpeg -i``'s stream line.

    ffmpeg prints ``yuv420p(tv, bt709, progressive)`` when all three are BT.709, ``bt709/unknown/unknown``
    (matrix/primaries/transfer) when they differ, and nothing for what is not tagged.
    """
    log = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    match = re.search(r"Video: h264.*?, yuv420p(?:\(([^)]*)\))?", log)
    assert match, log
    tags = {"range": "unknown", "matrix": "unknown", "primaries": "unknown", "transfer": "unknown"}
    for part in (p.strip() for p in (match.group(1) or "").split(",")):
        if part in ("tv", "pc"):
            tags["range"] = part
        elif part and part not in NOT_COLOUR:
            names = part.split("/")
            names = names * 3 if len(names) == 1 else names
            tags.update(matrix=names[0], primaries=names[1], transfer=names[2])
    return tags


def _decode_as_a_browser(path, size: tuple[int, int]) -> np.ndarray:
    """The first frame as RGB, converted with the file's tagged matrix and range (BT.709, tv when untagged)."""
    tags = _colour_tags(path)
    matrix = tags["matrix"] if tags["matrix"] != "unknown" else "bt709"
    in_range = tags["range"] if tags["range"] != "unknown" else "tv"
    # full_chroma_int: chroma interpolated before conversion, as browsers do, not repeated per 2x2 block.
    vf = f"scale=in_color_matrix={matrix}:in_range={in_range}:flags=bilinear+accurate_rnd+full_chroma_int"
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-frames:v", "1", "-vf", vf,
                          "-pix_fmt", "rgb24", "-f", "rawvideo", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(size[1], size[0], 3)


def _worst_patch_error(sent: np.ndarray, got: np.ndarray) -> float:
    """The largest difference between a patch's colour sent and read back, in 8-bit levels, any channel.

    A patch's colour is its interior's mean: x264 leaves a few levels of noise in flat chroma at the
    writer's quality, which averages out, while a wrong matrix or range shifts the whole patch.
    """
    worst = 0.0
    for y in range(0, got.shape[0] - CELL + 1, CELL):
        for x in range(0, got.shape[1] - CELL + 1, CELL):
            inside = np.s_[y + MARGIN:y + CELL - MARGIN, x + MARGIN:x + CELL - MARGIN]
            shift = sent[inside][..., :3].mean(axis=(0, 1)) - got[inside].mean(axis=(0, 1))
            worst = max(worst, float(np.abs(shift).max()))
    return worst


def test_mp4_is_tagged_bt709_in_limited_range(tmp_path):
    path = _encode(tmp_path / "clip.mp4", _heatmap_frame())
    assert _colour_tags(path) == {"range": "tv", "matrix": "bt709", "primaries": "bt709", "transfer": "bt709"}


@pytest.mark.parametrize("channels", [3, 4])  # the renderer hands over RGBA
def test_mp4_decoded_as_tagged_shows_the_frames_colours_within_3_levels(tmp_path, channels):
    frame = _heatmap_frame(channels=channels)
    path = _encode(tmp_path / "clip.mp4", frame)
    assert _worst_patch_error(frame, _decode_as_a_browser(path, (480, 240))) <= 3


def test_the_comparison_catches_an_untagged_bt601_encode(tmp_path):
    # What the writer did before: ffmpeg's default conversion (BT.601), no tags; a browser reads it as BT.709.
    frame = _heatmap_frame()
    source = tmp_path / "frame.png"
    Image.fromarray(frame).save(source)
    path = tmp_path / "untagged.mp4"
    run_ffmpeg(["-i", str(source), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "mp4", str(path)])
    assert _colour_tags(path)["matrix"] == "unknown"
    assert _worst_patch_error(frame, _decode_as_a_browser(path, (480, 240))) > 10


def test_joined_chunks_keep_the_tags_and_the_colours(tmp_path):
    frame = _heatmap_frame()
    pieces = [_encode(tmp_path / f"piece_{k}.mp4", frame, count=2) for k in range(2)]
    path = join_mp4(pieces, tmp_path / "joined.mp4")
    assert _colour_tags(path) == {"range": "tv", "matrix": "bt709", "primaries": "bt709", "transfer": "bt709"}
    assert _worst_patch_error(frame, _decode_as_a_browser(path, (480, 240))) <= 3
