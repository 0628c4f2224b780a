"""The title card (``--title-card``): one picture at the start of the video, GIF and player saying what the
run is: the scene's title, the network (layer sizes and activations), the loss, the optimizer with its
learning rate, the training and the data. Everything comes from the History's :class:`RunInfo` and its static
data arrays, so a re-render from a saved history has the same card.

In the stream of frame keys the card is a :class:`TitleCard` (an ``int``, row 0, so looking up "its step"
keeps working); it is drawn once and shown as a hold, like a moment's frame, and gets no file in a folder of
PNG frames (each of those is a training step).
"""
from __future__ import annotations

import re

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import TITLE_SECONDS, colours
from ..record.history import History

TITLE_SHARE = 0.062  # the title's font size, as a share of the frame's height (the back row reads 5 %)
LINE_SHARE = 0.04  # every other line's (at least 3 %)
MIN_LINE_SHARE = 0.03  # a long line shrinks to fit the width down to this, then is cut with "…"
WIDTH_SHARE = 0.9  # the card's text keeps within this share of the frame's width
LABEL_COLOUR, VALUE_COLOUR, RULE_COLOUR = "#5a5f66", "#1f2023", "#c8ccd2"
# on the dark theme's background (visualizer.draw.colours.THEMES): the same three, turned over
CARD_COLOURS = {"light": (LABEL_COLOUR, VALUE_COLOUR, RULE_COLOUR), "dark": ("#a9aeb6", "#ececec", "#4a4e56")}


class TitleCard(int):
    """The title card's frame key: row 0 (its step is the run's first), told apart from the row's own frame."""

    index = -2  # never an explain frame's index (0, 1, ...) nor a row's (-1): burned captions skip it

    def __new__(cls) -> TitleCard:
        return super().__new__(cls, 0)

    def __repr__(self) -> str:
        return "TitleCard()"

    def __reduce__(self):  # frame keys travel to render tasks in other processes
        return TitleCard, ()


def leading_cards(keys) -> int:
    """How many frame keys at the start of ``keys`` are the title card."""
    n = 0
    while n < len(keys) and isinstance(keys[n], TitleCard):
        n += 1
    return n


def network_text(history: History) -> str:
    """The layers as "1 → 2 softplus → 1": the input size, then each layer's size and activation (an
    identity output layer's size alone)."""
    layers = history.info.layers
    if not layers:
        return ""
    parts = [str(layers[0].n_in)]
    for layer in layers:
        act = "" if layer.activation in ("identity", "linear", "") else f" {layer.activation}"
        parts.append(f"{layer.n_out}{act}")
    return " → ".join(parts)


def optimizer_text(history: History) -> str:
    """The optimizer as "SGD, learning rate 0.02" (from its recorded ``repr``), with its batches."""
    spec = history.info.optimizer.strip()
    m = re.fullmatch(r"(\w+)\((.*)\)", spec)
    if m:
        args = [a.strip() for a in re.split(r",\s*(?![^()]*\))", m.group(2)) if a.strip()]
        words = {"lr": "learning rate", "momentum": "momentum", "beta1": "β₁", "beta2": "β₂"}
        shown = [f"{words.get(k, k)} {_schedule(v)}" for k, _, v in (a.partition("=") for a in args)]
        spec = ", ".join([m.group(1)] + shown)
    batch = history.info.batch_size
    if batch is None:
        return f"{spec}; full batch" if spec else ""
    per = "one sample per step" if batch == 1 else f"batches of {batch}"
    return f"{spec}; {per}" if spec else per


def _schedule(value: str) -> str:
    """A linear decay's ``repr`` as "1 → 0.1 over 100 steps"; any other value as it is."""
    m = re.fullmatch(r"LinearDecay\(start=([^,]+), end=([^,]+), steps=(\d+)\)", value)
    return f"{m.group(1)} → {m.group(2)} over {int(m.group(3)):,} steps" if m else value


def data_text(history: History) -> str:
    """How many training and test samples, and the inputs' names (from the static data arrays)."""
    parts = []
    for key, kind in (("data/x", "training"), ("data/x_test", "test")):
        if key in history.static:
            n = len(history.static[key])
            parts.append(f"{n:,} {kind} sample{'s' if n != 1 else ''}")
    names = list(history.info.input_names)
    if names:
        parts.append(("inputs " if len(names) > 1 else "input ") + ", ".join(names))
    return " · ".join(parts)


def card_lines(history: History, title: str) -> tuple[str, list[tuple[str, str]]]:
    """(title, [(label, value)]): what the card says, lines with nothing to say left out."""
    info = history.info
    loss = info.loss_label or info.loss
    if info.penalty:
        loss = f"{loss} + {info.penalty}"
    steps = info.total_steps if info.total_steps is not None else int(history.steps[-1])
    training = f"{steps:,} step{'s' if steps != 1 else ''}" + (f", seed {info.seed}" if info.seed is not None else "")
    rows = [("Network", network_text(history)), ("Loss", loss), ("Optimizer", optimizer_text(history)),
            ("Training", training), ("Data", data_text(history))]
    return title or info.title or info.scene, [(label, value) for label, value in rows if value]


def draw_title_card(history: History, title: str, size: tuple[int, int], dpi: float,
                    facecolor: str = "white") -> np.ndarray:
    """The card as a (height, width, 4) RGBA uint8 array at ``size`` = (width, height): the title, a rule,
    then the lines as a table of labels and values, the whole block centred on the frame."""
    width, height = size
    label_colour, value_colour, rule_colour = CARD_COLOURS[colours.THEME]  # the theme in force
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor=facecolor)
    canvas = FigureCanvasAgg(figure)
    renderer = canvas.get_renderer()
    points = 72 / dpi * height  # a font size in points per share of the frame's height
    heading, rows = card_lines(history, title)

    def measured(text) -> float:
        return text.get_window_extent(renderer).width

    def fitted(text, share: float, room: float) -> None:
        """Shrink ``text`` to fit ``room`` pixels, down to :data:`MIN_LINE_SHARE`, then cut it with "…"."""
        while measured(text) > room and share > MIN_LINE_SHARE:
            share = max(MIN_LINE_SHARE, share * 0.95)
            text.set_fontsize(share * points)
        while measured(text) > room and len(text.get_text()) > 1:
            text.set_text(text.get_text()[:-2].rstrip() + "…")

    room = WIDTH_SHARE * width
    title_lines = _wrapped(figure, renderer, heading, TITLE_SHARE * points, room)
    line_px = LINE_SHARE * height * 1.55
    title_px = TITLE_SHARE * height * 1.25
    block = title_px * len(title_lines) + 0.9 * line_px + line_px * len(rows)
    y = (height + block) / 2  # pixels from the bottom: the block's top
    for line in title_lines:
        y -= title_px
        text = figure.text(0.5, y / height, line, ha="center", va="baseline", fontsize=TITLE_SHARE * points,
                           fontweight="bold", color=value_colour)
        fitted(text, TITLE_SHARE, room)
    y -= 0.55 * line_px
    labels = [figure.text(0, 0, label, ha="right", va="baseline", fontsize=LINE_SHARE * points,
                          color=label_colour) for label, _ in rows]
    values = [figure.text(0, 0, value, ha="left", va="baseline", fontsize=LINE_SHARE * points,
                          color=value_colour) for _, value in rows]
    gap = LINE_SHARE * height
    label_w = max((measured(t) for t in labels), default=0.0)
    for value in values:
        fitted(value, LINE_SHARE, room - label_w - gap)
    value_w = max((measured(t) for t in values), default=0.0)
    left = (width - (label_w + gap + value_w)) / 2  # the table centred as a whole
    rule = figure.add_artist(_rule(figure, max(left, (width - room) / 2), y / height,
                                   min(width - left, (width + room) / 2)))
    rule.set_color(rule_colour)
    y -= 0.35 * line_px
    for label, value in zip(labels, values):
        y -= line_px
        label.set_position(((left + label_w) / width, y / height))
        value.set_position(((left + label_w + gap) / width, y / height))
    canvas.draw()
    return np.array(canvas.buffer_rgba())


def _wrapped(figure: Figure, renderer, text: str, fontsize: float, room: float, most: int = 2) -> list[str]:
    """``text`` in words on at most ``most`` lines of ``room`` pixels at ``fontsize``, the lines about as
    long as each other (a last line that is still too long is shrunk or cut later)."""
    probe = figure.text(0, 0, "", fontsize=fontsize, fontweight="bold")

    def lines_within(width: float) -> list[str]:
        lines: list[str] = []
        for word in text.split():
            probe.set_text(f"{lines[-1]} {word}" if lines else word)
            if lines and probe.get_window_extent(renderer).width <= width:
                lines[-1] += f" {word}"
            else:
                lines.append(word)
        return lines or [""]

    lines = lines_within(room)
    if 1 < len(lines) <= most:  # the narrowest width that needs no more lines: balanced lines
        low, high = room / len(lines), room
        for _ in range(10):
            mid = (low + high) / 2
            low, high = (low, mid) if len(lines_within(mid)) <= len(lines) else (mid, high)
        lines = lines_within(high)
    probe.remove()
    return lines[:most - 1] + [" ".join(lines[most - 1:])] if len(lines) > most else lines


def _rule(figure: Figure, x0: float, y: float, x1: float):
    from matplotlib.lines import Line2D

    return Line2D([x0 / figure.bbox.width, x1 / figure.bbox.width], [y, y], transform=figure.transFigure,
                  linewidth=max(1.0, figure.bbox.height / 400) * 72 / figure.dpi)


__all__ = ["TITLE_SECONDS", "TitleCard", "card_lines", "draw_title_card", "leading_cards"]
