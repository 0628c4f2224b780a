"""Moments: the video slows down and holds at a step, its caption becomes a WebVTT cue and an MP4 subtitle
track, the PNG frames stay one per step; bad moments and captions files are one line before training."""
from __future__ import annotations

import re
import subprocess

import imageio.v2 as iio
import numpy as np
import pytest

from conftest import ROOT
from visualizer.base.errors import VisualizerError
from visualizer.outputs.captions import Cue, vtt_text
from visualizer.outputs.mp4 import ffmpeg_exe
from visualizer.run.moments import (CAPTION_AFTER, SLOW_REPEAT, cues, gather, held, moment_rows, parse_moment,
                                    read_captions, slowed)

SOFTPLUS = str(ROOT / "scenes" / "softplus_fit.py")
TINY = str(ROOT / "tests" / "data" / "tiny_fit.py")  # a two-panel scene, for what does not depend on the frames
TEXT = "here it <b>turns</b> & \"up\""
FPS, HOLD = 10, 1.0


def _vtt_cues(path) -> list[tuple[float, float, str]]:
    """(start, end, text) of each cue, times in seconds."""
    def seconds(t: str) -> float:
        h, m, s = t.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    text = path.read_text(encoding="utf-8")
    assert text.startswith("WEBVTT\n")
    found = re.findall(r"(\d\d:\d\d:\d\d\.\d\d\d) --> (\d\d:\d\d:\d\d\.\d\d\d)\n(.+?)\n", text)
    return [(seconds(a), seconds(b), t) for a, b, t in found]


def _streams(path) -> str:
    """What ffmpeg says of the file's streams."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return "\n".join(line for line in proc.stderr.splitlines() if "Stream #" in line or "title" in line)


@pytest.fixture(scope="module")
def moment_render(tmp_path_factory):
    """The real command line on a tiny run: 12 steps every 2 (paced by steps, so no log-spaced rows are
    recorded between), a moment at step 7 (not recorded: 6 is nearest) and one at 10 from a captions file."""
    from visualizer.cli import main

    out = tmp_path_factory.mktemp("moments")
    captions = out / "lecture.txt"
    captions.write_text("# the lecture's moments\n\n10: the fit settles\n", encoding="utf-8")
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["render", SOFTPLUS, "--steps", "12", "--every", "2", "--size", "320x180", "--fps", str(FPS),
                     "--moment", f"7: {TEXT}", "--captions", str(captions), "--moment-hold", str(HOLD),
                     "--pace", "steps", "--out", str(out), "-q"])
    return out / "softplus_fit", code, err.getvalue()


def test_a_moment_writes_a_vtt_and_a_subtitle_track_and_holds_the_video(moment_render):
    folder, code, err = moment_render
    assert code == 0, err
    assert err == "visualizer: note: moment at step 7 is shown at step 6, the nearest recorded step\n"
    got = _vtt_cues(folder / "softplus_fit.vtt")
    assert [t for _, _, t in got] == ["here it &lt;b&gt;turns&lt;/b&gt; &amp; \"up\"", "the fit settles"]
    (start, end, _), (start2, end2, _) = got
    assert end - start >= HOLD  # shown for the whole hold
    assert end <= start2  # and never over the next caption
    streams = _streams(folder / "softplus_fit.mp4")
    assert "Video: h264" in streams and re.search(r"\(eng\): Subtitle: mov_text", streams), streams
    # The video holds the moment's frame: one frame repeated for the hold, starting where its cue starts.
    frames = np.array([f.astype(np.int16) for f in iio.mimread(folder / "softplus_fit.mp4", memtest=False)])
    # (x264 refines a still picture a little from frame to frame: a mean change of a hundredth of a level,
    # where the next step's frame changes by two levels on average.)
    same = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3)) < 0.2
    first = round(start * FPS)
    assert same[first:first + round(HOLD * FPS)].all()
    assert not same[first - 1]  # the frame before it is another step's
    recorded = len(range(0, 13, 2))
    assert len(frames) >= recorded + 2 * round(HOLD * FPS)  # both moments held
    # The PNG frames: one per recorded step, none twice.
    names = sorted(p.name for p in (folder / "frames").iterdir())
    assert names == [f"frame_{s:05d}.png" for s in range(0, 13, 2)]
    manifest = (folder / "manifest.json").read_text()
    assert '"vtt"' in manifest and "the fit settles" in manifest


@pytest.mark.parametrize("args, says", [
    (["--moment", "soon: it turns"], "expected STEP: TEXT"),
    (["--moment", "300"], "expected STEP: TEXT"),
    (["--moment-hold", "-1"], "moment-hold"),
])
def test_a_bad_moment_is_one_line_before_training(cli, tmp_path, args, says):
    code, out, err = cli("render", SOFTPLUS, "--out", str(tmp_path), *args)
    assert code == 2 and says in err and err.count("\n") == 1 and err.startswith("visualizer: error:")
    assert not any(tmp_path.iterdir())


def test_a_bad_captions_file_line_is_named(cli, tmp_path):
    captions = tmp_path / "talk.txt"
    captions.write_text("# moments\n100: fine\nlater: not a step\n", encoding="utf-8")
    code, _, err = cli("render", SOFTPLUS, "--out", str(tmp_path / "out"), "--captions", str(captions))
    assert code == 2 and err.count("\n") == 1
    assert f"{captions} line 3: expected STEP: TEXT" in err and "'later: not a step'" in err
    assert not (tmp_path / "out").exists()
    code, _, err = cli("render", SOFTPLUS, "--out", str(tmp_path / "out"), "--captions", str(tmp_path / "nope"))
    assert code == 2 and "no captions file at" in err


def test_moments_parse_and_combine(tmp_path):
    assert parse_moment("1_500: here") == (1500, "here")
    assert parse_moment(" 40   two words ") == (40, "two words")
    with pytest.raises(VisualizerError, match="at most 200 characters"):
        parse_moment("3: " + "x" * 201)
    path = tmp_path / "c.txt"
    path.write_text("5: file\n8: file too\n", encoding="utf-8")
    assert read_captions(path) == [(5, "file"), (8, "file too")]
    # The scene's, then the file's, then the command line's: a later one at the same step wins.
    assert gather({5: "scene", 2: "scene"}, ["8: given", (9, "pair")], path) == \
        {2: "scene", 5: "file", 8: "given", 9: "pair"}


def test_nearest_rows_slowing_and_holding():
    steps = np.arange(0, 101, 5)  # 21 recorded rows
    rows, notes = moment_rows(steps, {52: "a", 50: "b", 101: "c"})
    assert rows == {10: "a / b"} and notes == [
        "moment at step 52 is shown at step 50, the nearest recorded step",
        "moment at step 101 is left out: this run recorded steps 0 to 100"]
    chosen = list(range(0, 21, 4))  # every fourth row: 0, 4, …, 20
    dense = slowed(chosen, steps, [10])
    assert 10 in dense and set(chosen) <= set(dense) and dense == sorted(set(dense))
    assert {9, 11} <= set(dense)  # rows between the chosen ones, near the moment
    frames = held(dense, [10], 5)
    assert frames.count(10) == 6
    p = dense.index(10)
    assert frames.count(dense[p - 1]) == frames.count(dense[p + 1]) == SLOW_REPEAT  # eased in and out
    assert frames.count(dense[0]) == 1 or p - 0 > 8
    assert [k for i, k in enumerate(frames) if i == 0 or frames[i - 1] != k] == dense  # order kept


def test_slowing_down_near_a_moment_stays_within_max_frames():
    steps = np.arange(0, 1001, 5)  # 201 recorded rows
    chosen = [int(r) for r in np.linspace(0, 200, 12).round()]  # what --max-frames 12 selects
    free = slowed(chosen, steps, [100])
    assert len(free) > 30  # without a limit the moment brings its slow-down frames
    for limit in (12, 20, 3):
        dense = slowed(chosen, steps, [100], limit)
        assert len(dense) <= limit and {0, 100, 200} <= set(dense), (limit, dense)
        assert dense == sorted(set(dense))
    dense = slowed(chosen, steps, [100], 12)
    gaps = np.diff(dense)
    near = dense.index(100)
    assert max(gaps[near - 1], gaps[near]) < min(gaps[0], gaps[-1])  # still slower near the moment
    assert slowed(chosen, steps, [100], 1000) == free  # a limit not reached changes nothing


def test_max_frames_is_a_limit_on_the_frames_even_with_a_moment(cli, tmp_path):
    code, _, err = cli("render", TINY, "--steps", "200", "--size", "160x90", "--format", "frames", "--max-frames",
                       "12", "--moment", "100: here", "--out", str(tmp_path), "-q")
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "tiny_fit" / "frames").iterdir())
    assert len(names) == 12 and "frame_00100.png" in names and names[0] == "frame_00000.png"
    assert names[-1] == "frame_00200.png"


def test_cues_last_through_the_hold_and_stop_at_the_next():
    frames = [0, 1, 1, 1, 2, 3, 3, 3, 4]
    got = cues(frames, {1: "one", 3: "three"}, fps=1, hold_frames=2, end=len(frames))
    assert got == [Cue(1, 5, "one", "one"), Cue(5, 9, "three", "three")]
    assert got[0].end - got[0].start < 3 + CAPTION_AFTER  # cut at the next cue
    assert "00:00:01.000 --> 00:00:05.000\none" in vtt_text(got, fps=1)


def test_burned_captions_are_drawn_under_the_panels_on_the_captioned_frames(cli, tmp_path):
    code, _, err = cli("render", SOFTPLUS, "--steps", "30", "--size", "480x270", "--fps", "10", "--format",
                       "frames", "--moment", "15: the bump appears", "--moment-hold", "0.5", "--burn-captions",
                       "--out", str(tmp_path), "-q")
    assert code == 0, err
    from PIL import Image

    def box_pixels(step: int) -> int:
        """Pixels of the caption box's colour (#1f2023 at 88 % on white) in the bottom sixth of the frame."""
        frame = np.asarray(Image.open(tmp_path / "softplus_fit" / "frames" / f"frame_{step:05d}.png"))
        bottom = frame[-frame.shape[0] // 6:].astype(int)
        box = np.round(0.88 * np.array([0x1f, 0x20, 0x23]) + 0.12 * 255)
        return int((np.abs(bottom - box).sum(axis=2) < 12).sum())

    assert box_pixels(15) > 500  # a box behind the text
    assert box_pixels(14) < 50  # the frame before the moment: no caption (a few grey pixels of text at most)
    assert box_pixels(16) > 500  # after it, for the hold and two seconds more


def test_a_video_made_again_without_captions_takes_its_old_captions_away(cli, tmp_path):
    args = ("--size", "320x180", "--fps", "10", "--format", "mp4", "--out", str(tmp_path), "-q")
    assert cli("render", TINY, "--steps", "4", "--moment", "2: here", *args)[0] == 0
    folder = tmp_path / "tiny_fit"
    assert (folder / "tiny_fit.vtt").is_file()
    code, _, err = cli("render", "--from-history", str(folder / "history.npz"), *args)
    assert code == 0, err
    assert not (folder / "tiny_fit.vtt").exists()
    assert "vtt" not in (folder / "manifest.json").read_text()


def test_a_paced_render_draws_every_moment_and_holds_it(tmp_path):
    """Pacing by change picks few frames late in a run; a moment there is drawn all the same (pacing keeps it),
    and the video holds on it."""
    from visualizer import load_scene, render, train
    from visualizer.run.render import select_rows

    scene = load_scene(TINY)  # two panels: a render costs little
    history = train(scene, steps=300)
    paced = [int(history.steps[r]) for r in select_rows(history)]
    late = next(s for s in range(299, 0, -1) if s not in paced and s in set(history.steps.tolist()))
    result = render(scene, history, moment=[f"{late}: the fit settles"], format="frames,mp4", size=(320, 180),
                    fps=FPS, moment_hold=HOLD, out=tmp_path, jobs=1)
    assert (result["frames"] / f"frame_{late:05d}.png").exists()
    assert [t for _, _, t in _vtt_cues(result["vtt"])] == ["the fit settles"]
    frames = iio.mimread(result["mp4"], memtest=False)
    assert len(frames) >= len(list(result["frames"].iterdir())) + round(HOLD * FPS) - 1
