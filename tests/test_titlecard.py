"""The title card (--title-card): the MP4, GIF and player start with one picture of what the run is, held for
its seconds; the PNG frames stay one per step, unchanged; a re-render from the history has the same card."""
from __future__ import annotations

import contextlib
import io
import json

import imageio.v2 as iio
import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from visualizer.draw.titlecard import TitleCard, card_lines, draw_title_card, leading_cards
from visualizer.record.history import History
from visualizer.run.pipeline import plan_chunks

SOFTPLUS = str(ROOT / "scenes" / "softplus_fit.py")
FPS, SECONDS = 10, 1.5
CARD = round(FPS * SECONDS)
# 96 steps every 2, paced by steps: 49 frames, so two workers each draw a chunk (the card goes with the first).
RUN = ["--steps", "96", "--every", "2", "--pace", "steps", "--size", "320x180", "--fps", str(FPS), "--jobs", "2",
       "--format", "mp4,gif,frames,html", "-q"]


def _cli(*args: str) -> int:
    from visualizer.cli import main

    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        return main(list(args))


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    """The real command line twice on the same tiny run: with the card, and without."""
    out = tmp_path_factory.mktemp("titlecard")
    assert _cli("render", SOFTPLUS, *RUN, "--title-card", "--title-seconds", str(SECONDS),
                "--out", str(out / "card")) == 0
    assert _cli("render", SOFTPLUS, *RUN, "--out", str(out / "plain")) == 0
    return out / "card" / "softplus_fit", out / "plain" / "softplus_fit"


def _video(path) -> np.ndarray:
    return np.array([f[..., :3].astype(np.int16) for f in iio.mimread(path, memtest=False)])


def test_the_card_is_held_at_the_start_of_the_video_and_the_rest_is_unchanged(renders):
    card, plain = renders
    with_card, without = _video(card / "softplus_fit.mp4"), _video(plain / "softplus_fit.mp4")
    assert len(with_card) == len(without) + CARD
    # One picture held: (x264 refines a still picture a little from frame to frame: a hundredth of a level.)
    assert np.abs(np.diff(with_card[:CARD], axis=0)).mean(axis=(1, 2, 3)).max() < 0.2
    # ... which is not the first step's frame, then the steps' frames as they were without the card.
    assert np.abs(with_card[0] - without[0]).mean() > 5
    assert np.abs(with_card[CARD - 1] - with_card[CARD]).mean() > 5
    assert np.abs(with_card[CARD:] - without).mean() < 1.0
    # The card's text: dark ink on the frames' background, the block centred on the frame.
    ink = with_card[0].min(axis=2) < 110
    rows, cols = np.nonzero(ink)
    height, width = ink.shape
    assert ink.sum() > 0.01 * ink.size
    assert abs((cols.min() + cols.max()) / 2 - width / 2) < 0.05 * width
    assert abs((rows.min() + rows.max()) / 2 - height / 2) < 0.1 * height
    assert (with_card[0][:5] > 245).all()  # the background at the top: the frames' white
    manifest = json.loads((card / "manifest.json").read_text())
    assert manifest["outputs"]["mp4"]["options"]["title_card"] == SECONDS
    assert "title_card" not in json.loads((plain / "manifest.json").read_text())["outputs"]["mp4"]["options"]


def test_the_png_frames_get_no_card_and_stay_the_same(renders):
    card, plain = renders
    names = sorted(p.name for p in (card / "frames").iterdir())
    assert names == sorted(p.name for p in (plain / "frames").iterdir())
    assert names == [f"frame_{s:05d}.png" for s in range(0, 97, 2)]
    for name in names:
        assert np.array_equal(np.asarray(Image.open(card / "frames" / name)),
                              np.asarray(Image.open(plain / "frames" / name)))


def test_the_gif_and_player_start_with_the_card(renders):
    card, plain = renders
    with Image.open(card / "softplus_fit.gif") as gif, Image.open(plain / "softplus_fit.gif") as other:
        assert gif.n_frames > other.n_frames
        first = np.asarray(gif.convert("RGB"), dtype=np.int16)
        assert np.abs(first - np.asarray(other.convert("RGB"), dtype=np.int16)).mean() > 5
    # The player's frame table names a step for every video frame, the card's included (it shows step 0).
    page = (card / "softplus_fit.html").read_text(encoding="utf-8")
    assert (card / "softplus_fit.html").stat().st_size > (plain / "softplus_fit.html").stat().st_size
    assert "softplus" in page


def test_a_re_render_from_the_history_draws_the_same_card(renders, tmp_path):
    from visualizer import render

    card, _ = renders
    history = History.load(card / "history.npz")
    result = render(history, title_card=True, title_seconds=0.5, format="mp4", size=(320, 180), fps=FPS,
                    out=tmp_path, every=2, moment=["10: the fit starts"])
    again = _video(result["mp4"])
    first = _video(card / "softplus_fit.mp4")[0]
    assert np.abs(again[0] - first).mean() < 1.0
    assert np.abs(np.diff(again[:5], axis=0)).mean(axis=(1, 2, 3)).max() < 0.2
    # The moment's caption comes after the card, on the moment's frame, not over the card.
    vtt = result["vtt"].read_text(encoding="utf-8")
    start = vtt.split("\n\n")[1].splitlines()[-2].split(" --> ")[0]
    at = round(float(start.split(":")[-1]) * FPS)
    assert at > 5 and np.abs(again[at] - again[0]).mean() > 5


def test_what_the_card_says_comes_from_the_run(renders):
    history = History.load(renders[0] / "history.npz")
    title, lines = card_lines(history, "")
    said = dict(lines)
    assert title == history.info.title
    assert said["Network"] == "1 → 2 softplus → 1"
    assert said["Loss"] == "SSR"
    assert said["Optimizer"] == "SGD, learning rate 0.02; full batch"
    assert said["Training"] == f"96 steps, seed {history.info.seed}"
    assert said["Data"] == f"{len(history.static['data/x'])} training samples"
    history.info.optimizer, history.info.batch_size = "SGD(lr=LinearDecay(start=1, end=0.1, steps=100))", 1
    assert dict(card_lines(history, "")[1])["Optimizer"] == \
        "SGD, learning rate 1 → 0.1 over 100 steps; one sample per step"
    # A longer title wraps onto two lines and the card still fits; the frame is the size asked for.
    picture = draw_title_card(history, "A much longer title " * 4, (854, 480), 854 / 12.8)
    assert picture.shape == (480, 854, 4)
    ink = picture[..., :3].min(axis=2) < 110
    assert not ink[:, :8].any() and not ink[:, -8:].any()  # nothing runs off the sides


def test_the_card_goes_with_the_first_chunk():
    assert plan_chunks(120 + 600, 2, lead=120) == [range(0, 420), range(420, 720)]
    assert plan_chunks(40 + 30, 4, lead=40) == [range(0, 70)]  # 30 frames to draw: one worker
    assert leading_cards([TitleCard(), TitleCard(), 0, 1]) == 2 and leading_cards([0, TitleCard()]) == 0


@pytest.mark.parametrize("args, says", [
    (["--title-seconds", "2"], "title seconds goes with title card"),
    (["--title-card", "--title-seconds", "0"], "title-seconds"),
])
def test_bad_title_card_options_are_one_line(cli, tmp_path, args, says):
    code, _, err = cli("render", SOFTPLUS, "--out", str(tmp_path), *args)
    assert code == 2 and says in err and err.count("\n") == 1 and err.startswith("visualizer: error:")
    assert not any(tmp_path.iterdir())
