"""Writers with the real ffmpeg: files are read back (frame count, size, codec) and are atomic."""
from __future__ import annotations

import imageio.v2 as iio
import numpy as np
import pytest
from PIL import Image

from visualizer.encode import GIFWriter, MP4Writer, NullWriter, PNGFramesWriter


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
    path = _write(GIFWriter(tmp_path / "clip.gif", fps=15, width=960), frames, fps=10)
    img = Image.open(path)
    assert img.info["loop"] == 0
    assert img.n_frames == 10 and img.size == (96, 64)
    assert img.info["duration"] == 100  # 10 fps
    back = iio.mimread(path)
    for sent, got in zip(frames, back):
        assert np.abs(sent.astype(int) - np.asarray(got)[..., :3].astype(int)).mean() < 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.gif"]


def test_gif_is_scaled_to_its_width_and_rate(tmp_path):
    path = _write(GIFWriter(tmp_path / "small.gif", fps=5, width=48), _frames(20), fps=10)
    img = Image.open(path)
    assert img.size == (48, 32) and img.n_frames == 10


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


@pytest.mark.parametrize("make", [lambda d: MP4Writer(d / "out.mp4"), lambda d: GIFWriter(d / "out.gif"),
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
