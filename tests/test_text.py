"""FrameText draws what matplotlib's Text draws, from cached glyphs."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from visualizer.draw.text import FrameText


def _ink(draw_text) -> np.ndarray:
    fig = Figure(figsize=(4, 1), dpi=100)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    draw_text(fig)
    return 255 - np.asarray(canvas.buffer_rgba())[..., :3].mean(axis=2)


def _box(ink: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(ink > 40)
    return rows.min(), rows.max(), cols.min(), cols.max()


@pytest.mark.parametrize("ha, va", [("left", "baseline"), ("right", "top"), ("center", "center")])
def test_frame_text_matches_matplotlib_text(ha, va):
    text = "step 1,234 / 5,000 (SSR = 0.0421)"

    def reference(fig):
        fig.draw_artist(fig.text(0.5, 0.5, text, ha=ha, va=va, fontsize=10))

    def ours(fig):
        fig.draw_artist(FrameText(0.5, 0.5, text, transform=fig.transFigure, ha=ha, va=va, fontsize=10))

    a, b = _ink(reference), _ink(ours)
    (top_b, bottom_b, left_b, right_b), (top_a, bottom_a, left_a, right_a) = _box(b), _box(a)
    assert abs(top_b - top_a) <= 2 and abs(bottom_b - bottom_a) <= 2
    if ha == "left":
        assert abs(left_b - left_a) <= 2
    if ha == "right":
        assert abs(right_b - right_a) <= 2
    assert (right_b - left_b) == pytest.approx(right_a - left_a, rel=0.08)
    assert b.sum() == pytest.approx(a.sum(), rel=0.1)


def test_background_box_and_colour():
    def ours(fig):
        fig.patch.set_facecolor("black")
        fig.canvas.draw()
        label = FrameText(0.1, 0.5, "Alice", transform=fig.transFigure, background="white", color="red")
        fig.draw_artist(label)

    fig = Figure(figsize=(4, 1), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ours(fig)
    rgb = np.asarray(canvas.buffer_rgba())[..., :3].astype(int)
    assert (rgb[..., 0] > 200).any()  # the light box on the black figure
    reddish = (rgb[..., 0] > 150) & (rgb[..., 1] < 120) & (rgb[..., 2] < 120)
    assert reddish.sum() > 20  # red glyphs


@pytest.mark.parametrize("ha, va", [("right", "baseline"), ("left", "top"), ("center", "center")])
def test_a_text_group_draws_what_single_texts_draw(ha, va):
    from visualizer.draw.text import FrameTextGroup

    points = [(0.3, 0.7), (0.3, 0.3), (0.7, 0.5)]
    strings = ["-0.6682", "4.857", "1.2e-05"]

    def singles(fig):
        for (x, y), text in zip(points, strings):
            fig.draw_artist(FrameText(x, y, text, transform=fig.transFigure, ha=ha, va=va, fontsize=9))

    def group(fig):
        texts = FrameTextGroup(points, transform=fig.transFigure, ha=ha, va=va, fontsize=9)
        texts.set_texts(strings)
        fig.draw_artist(texts)

    a, b = _ink(singles), _ink(group)
    assert abs(a.sum() - b.sum()) <= 0.02 * a.sum()
    for box_a, box_b in zip(_box(a), _box(b)):
        assert abs(int(box_a) - int(box_b)) <= 1  # a string's pen starts on a whole pixel: half a pixel apart


def test_a_text_group_takes_one_string_per_point():
    from matplotlib.transforms import IdentityTransform

    from visualizer.draw.text import FrameTextGroup

    texts = FrameTextGroup([(0, 0), (1, 1)], transform=IdentityTransform())
    with pytest.raises(ValueError, match="has 2 points, got 1 strings"):
        texts.set_texts(["a"])


def test_long_lines_wrap_at_spaces_to_fit_and_short_ones_stay():
    from visualizer.draw.text import wrap_lines

    fits = lambda line: len(line) <= 20  # noqa: E731 - a width measured in characters
    text = "loss = mean of −[y log σ(ŷ) + (1 − y) log(1 − σ(ŷ))]\n      = 0.6\n\nŷ: outputs"
    wrapped = wrap_lines(text, fits)
    lines = wrapped.split("\n")
    assert all(fits(line) for line in lines) and len(lines) > len(text.split("\n"))
    assert lines[0].startswith("loss = mean") and lines[1].startswith("    ")  # continued lines are indented
    assert " ".join(wrapped.split()) == " ".join(text.split())  # no word lost, none cut
    assert wrapped.endswith("      = 0.6\n\nŷ: outputs")  # lines that fit stay as they were
    assert wrap_lines("a_word_longer_than_twenty_characters", fits) == "a_word_longer_than_twenty_characters"
