"""Writers with the real ffmpeg: files are read back (frame count, size, codec) and are atomic."""
from __future__ import annotations

import io
import shutil
import struct
import zlib

import imageio.v2 as iio
import numpy as np
import pytest
from PIL import Image, ImageSequence

from visualizer.outputs.formats import get_format
from visualizer.outputs.gif import GIFFramesWriter, GIFPalette, GIFScaler, gif_palette, gif_size, make_gif
from visualizer.outputs.mp4 import MP4Writer, run_ffmpeg
from visualizer.outputs.output import Output
from visualizer.outputs.png import PNGEncoder, PNGFramesWriter, fastest_deflate
from visualizer.outputs.writer import NullWriter


def _frames(n: int, w: int = 96, h: int = 64) -> list[np.ndarray]:
    """Frames with a bar that moves and a colour that changes, so every frame differs."""
    out = []
    for i in range(n):
        f = np.full((h, w, 3), 255, np.uint8)
        f[:, : (i + 1) * w // (n + 1)] = (200, 30 + 15 * i % 200, 40)
        out.append(f)
    return out


def _write(writer, frames, fps=10):
    with writer:
        writer.setup((frames[0].shape[1], frames[0].shape[0]), fps)
        for step, frame in enumerate(frames):
            writer.write(frame, step * 5)
    return writer.path


def _gif(path, frames, fps, gif_fps=None, width=None):
    """A GIF of ``frames`` made the way a render makes one: a palette from a sample of the whole clip, then
    the GIF's writer in that palette (one chunk), joined into ``path``; its scratch folder removed after."""
    output = Output(get_format("gif"), path, {"gif_fps": gif_fps, "gif_width": width})
    work = path.parent / ".work"
    work.mkdir()
    try:
        output.begin(work)
        output.prepare(lambda i: frames[min(i, len(frames) - 1)], len(frames), fps)
        _write(output.piece(0, 0), frames, fps=fps)
        return output.join()
    finally:
        shutil.rmtree(work)


def _gif_writer(path):
    """The GIF's writer, in a palette made once beside the test's files (before anything is compared)."""
    palette = path.parent / "palette" / "palette.png"
    if not palette.exists():
        palette.parent.mkdir()
        gif_palette([np.ascontiguousarray(f) for f in _frames(3)], palette)
    return GIFFramesWriter(path, palette)


def _read_mp4(path):
    reader = iio.get_reader(path, format="ffmpeg")
    try:
        meta = reader.get_meta_data()
        frames = [f for f in reader]
    finally:
        reader.close()
    return meta, frames


def test_mp4_is_h264_yuv420p_with_every_frame(tmp_path):
    frames = _frames(12)
    path = _write(MP4Writer(tmp_path / "clip.mp4"), frames, fps=12)
    meta, back = _read_mp4(path)
    assert meta["codec"] == "h264"
    assert meta["pix_fmt"].startswith("yuv420p")
    assert meta["size"] == (96, 64)
    assert meta["fps"] == pytest.approx(12)
    assert len(back) == 12
    # Lossy, but the picture is the one we sent: the bar width grows frame by frame.
    for sent, got in zip(frames, back):
        assert np.abs(sent.astype(int) - got.astype(int)).mean() < 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_mp4_with_odd_size_is_padded_to_even(tmp_path):
    path = _write(MP4Writer(tmp_path / "odd.mp4"), _frames(3, w=95, h=63))
    meta, back = _read_mp4(path)
    assert meta["size"] == (96, 64) and len(back) == 3


def test_gif_loops_with_one_palette_and_every_frame(tmp_path):
    frames = _frames(10)
    path = _gif(tmp_path / "clip.gif", frames, fps=10, gif_fps=15, width=960)
    img = Image.open(path)
    assert img.info["loop"] == 0
    assert img.n_frames == 10 and img.size == (96, 64)
    assert img.info["duration"] == 100  # 10 fps
    back = iio.mimread(path)
    for sent, got in zip(frames, back):
        assert np.abs(sent.astype(int) - np.asarray(got)[..., :3].astype(int)).mean() < 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.gif"]


def test_gif_is_scaled_to_its_width_and_rate(tmp_path):
    path = _gif(tmp_path / "small.gif", _frames(20), fps=10, gif_fps=5, width=48)
    img = Image.open(path)
    assert img.size == (48, 32) and img.n_frames == 11  # every other frame, and the last


def test_png_frames_are_lossless_and_named_by_zero_padded_step(tmp_path):
    frames = _frames(4)
    folder = _write(PNGFramesWriter(tmp_path / "frames", digits=5), frames)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["frame_00000.png", "frame_00005.png", "frame_00010.png", "frame_00015.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(folder / "frame_00010.png")), frames[2])


def test_png_frames_replace_a_longer_earlier_set(tmp_path):
    _write(PNGFramesWriter(tmp_path / "frames"), _frames(6))
    folder = _write(PNGFramesWriter(tmp_path / "frames"), _frames(2))
    assert sorted(p.name for p in folder.iterdir()) == ["frame_00000.png", "frame_00005.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


@pytest.mark.parametrize("make", [lambda d: MP4Writer(d / "out.mp4"), lambda d: _gif_writer(d / "out.gif"),
                                  lambda d: PNGFramesWriter(d / "frames")], ids=["mp4", "gif", "frames"])
def test_an_interrupted_write_keeps_the_previous_output_and_leaves_no_temporaries(tmp_path, make):
    first = _write(make(tmp_path), _frames(3))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    snapshot = first.read_bytes() if first.is_file() else None
    writer = make(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        with writer:
            writer.setup((96, 64), 10)
            writer.write(_frames(5)[0], 0)
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    if snapshot is not None:
        assert first.read_bytes() == snapshot


def test_frame_size_cannot_change_mid_file(tmp_path):
    writer = MP4Writer(tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="never changes"):
        with writer:
            writer.setup((96, 64), 10)
            writer.write(_frames(1)[0], 0)
            writer.write(_frames(1, w=64)[0], 1)
    assert list(tmp_path.iterdir()) == []


def test_null_writer_counts_frames(tmp_path):
    writer = NullWriter(tmp_path / "nothing")
    _write(writer, _frames(7))
    assert writer.frames_written == 7
    assert list(tmp_path.iterdir()) == []


def _plot_like(n: int, w: int = 160, h: int = 90, channels: int = 3, seed: int = 0) -> list[np.ndarray]:
    """Frames like a plot's: a white page with a static part, a line that moves and a counter that changes
    (only some rows differ from one frame to the next), with random pixels so nothing compresses away."""
    rng = np.random.default_rng(seed)
    base = np.full((h, w, channels), 255, np.uint8)
    base[h // 2 :, : w // 3, :3] = rng.integers(0, 256, (h - h // 2, w // 3, 3), dtype=np.uint8)
    out = []
    for i in range(n):
        f = base.copy()
        row = 5 + (3 * i) % (h // 3)
        f[row : row + 2, 10:-10, :3] = (30 * i % 256, 90, 200)
        f[-4:, -12:, :3] = rng.integers(0, 256, (4, 12, 3), dtype=np.uint8)
        out.append(f)
    return out


@pytest.mark.parametrize("deflate", [zlib, fastest_deflate()], ids=["zlib", "fastest"])
@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("size", [(160, 90), (97, 61), (33, 17)])
def test_png_encoder_is_lossless_and_each_file_depends_only_on_its_frame(channels, size, deflate):
    frames = _plot_like(6, *size, channels=channels)
    encoder = PNGEncoder(size, channels, band=4, deflate=deflate)
    files = [encoder.encode(f) for f in frames]
    for frame, data in zip(frames, files):
        back = Image.open(io.BytesIO(data))
        assert back.mode == "RGB" and back.size == size
        np.testing.assert_array_equal(np.asarray(back), frame[..., :3])
    # Bands carried over from the previous frame give the same bytes as a fresh encoder.
    assert PNGEncoder(size, channels, band=4, deflate=deflate).encode(frames[3]) == files[3]


def test_png_frames_are_the_renderers_frames_exactly(tmp_path):
    from conftest import ROOT
    from visualizer import Renderer, load_scene, train

    scene = load_scene(ROOT / "scenes" / "softplus_fit.py")
    hist = train(scene, steps=4)
    renderer = Renderer(scene.layout, hist, size=(320, 180), title=scene.title)
    writer = PNGFramesWriter(tmp_path / "frames")
    with writer:
        writer.setup((320, 180), 10, channels=4)
        for i in range(len(hist)):
            writer.write(renderer.draw_rgba(i), int(hist.steps[i]))
    for i in range(len(hist)):
        back = np.asarray(Image.open(tmp_path / "frames" / f"frame_{int(hist.steps[i]):05d}.png"))
        np.testing.assert_array_equal(back, renderer.draw(i))


@pytest.mark.parametrize("to", [(120, 68), (80, 45), (160, 90), (150, 84)])
def test_gif_scaler_redoes_changed_rows_as_a_whole_frame_would(to):
    scale = GIFScaler((160, 90), to, channels=4)
    for frame in _plot_like(5, channels=4):
        whole = Image.fromarray(frame[..., :3]).resize(to, Image.BILINEAR) if to != (160, 90) else frame[..., :3]
        np.testing.assert_array_equal(scale(frame), np.asarray(whole))


def test_gif_scaler_with_changes_scattered_all_over_is_still_exact():
    rng = np.random.default_rng(3)
    scale = GIFScaler((160, 90), (120, 68), channels=3)
    for _ in range(3):  # noise in three columns, between rows that stay white: dozens of small boxes
        frame = np.full((90, 160, 3), 255, np.uint8)
        for c in (0, 60, 120):
            frame[:, c : c + 4] = rng.integers(0, 256, (90, 4, 3), dtype=np.uint8)
        frame[::7] = 255
        np.testing.assert_array_equal(scale(frame), np.asarray(Image.fromarray(frame).resize((120, 68),
                                                                                              Image.BILINEAR)))


def _gif_frames(path) -> tuple[list[np.ndarray], list[int]]:
    img = Image.open(path)
    frames = [np.asarray(f.convert("RGB")).astype(int) for f in ImageSequence.Iterator(img)]
    return frames, [f.info["duration"] for f in ImageSequence.Iterator(Image.open(path))]


@pytest.mark.parametrize("fps, gif_fps, width, count, size", [
    (30, 15, 960, 16, (160, 90)),  # every other frame and the last, at most the frame width
    (30, None, 80, 30, (80, 46)),  # every frame, half the width (the height even, rounded as ffmpeg does)
    (10, 15, 100, 30, (100, 56)),  # a GIF rate above the video's keeps the video's
    (24, 5, 120, 7, (120, 68)),  # the last frame starts a tick of its own
])
def test_gif_frame_count_size_and_timing(tmp_path, fps, gif_fps, width, count, size):
    frames = _plot_like(30)
    path = _gif(tmp_path / "clip.gif", frames, fps=fps, gif_fps=gif_fps, width=width)
    img = Image.open(path)
    assert (img.n_frames, img.size) == (count, size)
    rate = min(gif_fps or fps, fps)
    total = sum(_gif_frames(path)[1])
    assert total == pytest.approx(1000 * count / rate, abs=10 * count)  # centiseconds, rounded per frame


def test_gif_shows_the_first_and_the_last_frame(tmp_path):
    frames = _plot_like(20)
    frames[0][:] = (250, 20, 20)  # red first, blue last: both must be in the GIF as they are
    frames[-1][:] = (20, 20, 250)
    path = _gif(tmp_path / "clip.gif", frames, fps=10, gif_fps=3, width=80)
    back, _ = _gif_frames(path)
    assert np.abs(back[0] - (250, 20, 20)).mean() < 3
    assert np.abs(back[-1] - (20, 20, 250)).mean() < 3


def test_gif_pieces_with_one_palette_join_into_the_gif_one_piece_makes(tmp_path):
    frames = _plot_like(48)
    scale = GIFScaler((160, 90), gif_size((160, 90), 120))
    palette = gif_palette([scale(f).copy() for f in frames[::4]], tmp_path / "palette.png")

    def piece(name, part, start):
        writer = GIFFramesWriter(tmp_path / name, palette, fps=15, width=120, start_index=start)
        return _write_from(writer, part, fps=30, start=start)  # 1/15 s: delays of 6 and 7 centiseconds

    whole = piece("whole.gif", frames, 0)
    pieces = [piece(f"p{k}.gif", frames[a:b], a) for k, (a, b) in enumerate([(0, 17), (17, 31), (31, 48)])]
    joined = make_gif(pieces, tmp_path / "joined.gif")
    (one, one_ms), (two, two_ms) = _gif_frames(whole), _gif_frames(joined)
    assert len(one) == len(two) == 24 and Image.open(joined).info["loop"] == 0
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    assert one_ms == two_ms  # each frame's delay rounded to centiseconds as in one unbroken GIF


def _gif_case(tmp_path, n=24, channels=4, size=(160, 90), width=120):
    """Plot-like frames, scaled as the GIF scales them, and one palette made from a sample of them."""
    frames = _plot_like(n, *size, channels=channels)
    scale = GIFScaler(size, gif_size(size, width), channels)
    scaled = [np.ascontiguousarray(scale(f)) for f in frames]
    return frames, scaled, gif_palette(scaled[::5], tmp_path / "palette.png")


def test_gif_frames_decode_to_each_pixel_s_palette_colour_after_the_dither(tmp_path):
    # Each frame of the GIF, as a decoder composes it (a whole first frame, then changed rectangles with
    # transparent pixels over it), is exactly the palette's choice for every pixel of the scaled frame.
    frames, scaled, palette = _gif_case(tmp_path)
    path = _write_from(GIFFramesWriter(tmp_path / "clip.gif", palette, width=120), frames, fps=10, start=0)
    colours = GIFPalette(palette)
    h, w = scaled[0].shape[:2]
    rows, cols = np.indices((h, w))
    marks = ((rows + cols) % 2 == 0).astype(np.uint8)[..., None]
    back, _ = _gif_frames(path)
    assert len(back) == len(frames)
    for got, want in zip(back, scaled):
        words = np.ascontiguousarray(np.concatenate([want, marks], axis=2)).view(np.uint32)[..., 0]
        np.testing.assert_array_equal(got, colours.colours[colours.indices(words)])
    # The first frame is whole; later ones are the rectangle around what changed, drawn over it.
    images = _gif_images(path.read_bytes())
    assert images[0] == ((0, 0, w, h), False)
    assert all(transparent and box[2] * box[3] < w * h for box, transparent in images[1:])


def _gif_images(data: bytes) -> list[tuple[tuple[int, int, int, int], bool]]:
    """Each image of a GIF file: its (left, top, width, height) and whether it has a transparent colour."""
    flags = data[10]
    pos, transparent, images = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0), False, []
    while data[pos] != 0x3B:
        if data[pos] == 0x21:  # an extension: a graphic control says whether the next image has transparency
            if data[pos + 1] == 0xF9:
                transparent = bool(data[pos + 3] & 1)
            pos += 2
        else:  # an image: its descriptor, then the LZW code size, then data blocks
            images.append((struct.unpack("<HHHH", data[pos + 1 : pos + 9]), transparent))
            pos += 11
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    return images


def test_gif_palette_keeps_its_own_colours_exact(tmp_path):
    _, _, palette = _gif_case(tmp_path)
    colours = GIFPalette(palette)
    opaque = [i for i in range(256) if i != colours.transparent]
    rgb = colours.colours[opaque].astype(np.uint32)
    words = rgb[:, 0] | rgb[:, 1] << 8 | rgb[:, 2] << 16  # undithered (fourth byte 0), little-endian RGBX
    np.testing.assert_array_equal(colours.colours[colours.indices(words.astype("<u4").view(np.uint32))],
                                  colours.colours[opaque])


def test_gif_looks_as_ffmpeg_paletteuse_makes_it(tmp_path):
    # The same frames and palette through ffmpeg's own paletteuse (the way GIFs were made before): the
    # pictures agree but for rare ties between two nearly equal palette colours.
    frames, scaled, palette = _gif_case(tmp_path, channels=3)
    ours = _write_from(GIFFramesWriter(tmp_path / "ours.gif", palette, width=120), frames, fps=10, start=0)
    raw = tmp_path / "frames.rgb"
    raw.write_bytes(b"".join(f.tobytes() for f in scaled))
    h, w = scaled[0].shape[:2]
    theirs = tmp_path / "ffmpeg.gif"
    run_ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-framerate", "10", "-i", str(raw),
                "-i", str(palette), "-lavfi", "paletteuse=dither=bayer:bayer_scale=5:diff_mode=rectangle",
                "-loop", "0", "-f", "gif", str(theirs)])
    (a, a_ms), (b, b_ms) = _gif_frames(ours), _gif_frames(theirs)
    assert len(a) == len(b) == len(frames) and a_ms == b_ms
    for x, y in zip(a, b):
        assert (np.abs(x - y).max(axis=2) > 0).mean() < 0.01
        assert np.abs(x - y).mean() < 0.2


def test_gif_held_frames_add_time_not_pictures(tmp_path):
    frames, _, palette = _gif_case(tmp_path, n=4)
    writer = GIFFramesWriter(tmp_path / "held.gif", palette, width=120)
    with writer:
        writer.setup((160, 90), 10, channels=4)
        for i, frame in enumerate(frames):
            writer.write(frame, i)
        writer.hold(frames[-1], 3, 5)
    back, ms = _gif_frames(writer.path)
    assert len(back) == 9 and ms == [100] * 9
    for held in back[4:]:
        np.testing.assert_array_equal(held, back[3])
    assert [box for box, _ in _gif_images(writer.path.read_bytes())[4:]] == [(0, 0, 1, 1)] * 5  # one clear pixel


def test_gif_rate_stays_at_most_50_so_players_keep_its_timing(tmp_path):
    # Delays are whole centiseconds, and browsers show 0 or 1 as 10: a 120 fps video makes a 50 fps GIF.
    frames, _, palette = _gif_case(tmp_path, n=12)
    path = _write_from(GIFFramesWriter(tmp_path / "fast.gif", palette, width=120), frames, fps=120, start=0)
    _, ms = _gif_frames(path)
    assert len(ms) == 5 and set(ms) == {20}  # frames 0, 3 (tick 1: 2.4 > 2), 5, 8, and the last, 11


def test_gif_delay_stays_within_its_16_bits(tmp_path):
    frames, _, palette = _gif_case(tmp_path, n=2)
    path = _write_from(GIFFramesWriter(tmp_path / "slow.gif", palette, fps=0.001, width=120), frames, fps=1, start=0)
    assert _gif_frames(path)[1] == [655350]  # one frame kept, for 65535 centiseconds: the most a GIF can say


def _write_from(writer, frames, fps, start):
    with writer:
        writer.setup((frames[0].shape[1], frames[0].shape[0]), fps, channels=frames[0].shape[2])
        for i, frame in enumerate(frames):
            writer.write(frame, start + i)
    return writer.path
