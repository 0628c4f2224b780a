"""One colour language (visualizer.draw.colours): palettes that survive colour-vision deficiencies, roles that
never share a hue in one frame, one signed map with one polarity in every panel, readable heatmap cells.

Colour-vision deficiencies are simulated with colorspacious (Machado, Oliveira and Fernandes 2009, at full
severity) and differences measured in CAM02-UCS, where a ΔE' of about 1 is just noticeable; the palettes keep
``MIN_CVD_DIFFERENCE`` (10) between any two of their colours, enough for thin lines and small markers seen
from the back of a lecture hall.
"""
from __future__ import annotations

import itertools
import re
from importlib import resources

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_hex, to_rgb

from visualizer import (SGD, ActivationsPanel, ClassRegionsPanel, DecisionBoundaryPanel, Dense, Layout, LossPanel,
                        Network, NetworkDiagramPanel, Renderer, Scene, SurfacePanel, UnitMapPanel, WeightMatrixPanel,
                        train)
from visualizer.draw import colours
from visualizer.draw.text import FrameText

DEFICIENCIES = ("deuteranomaly", "protanomaly", "tritanomaly")
SAME_HUE = 15.0  # two roles meeting in one frame keep at least this CAM02-UCS ΔE' apart in normal vision


def _ucs(palette, deficiency: str | None = None) -> np.ndarray:
    cspace = pytest.importorskip("colorspacious")  # in the test extra; only these checks need it
    rgb = np.array([to_rgb(c) for c in palette])
    if deficiency:
        cvd = {"name": "sRGB1+CVD", "cvd_type": deficiency, "severity": 100}
        rgb = np.clip(cspace.cspace_convert(rgb, cvd, "sRGB1"), 0, 1)
    return cspace.cspace_convert(rgb, "sRGB1", "CAM02-UCS")


def _closest_pair(palette, deficiency: str | None = None) -> float:
    ucs = _ucs(palette, deficiency)
    return min(float(np.linalg.norm(ucs[i] - ucs[j])) for i, j in itertools.combinations(range(len(ucs)), 2))


THEMES = sorted(colours.THEMES)


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("deficiency", [None, *DEFICIENCIES])
@pytest.mark.parametrize("role", sorted(colours.PALETTES))
def test_every_categorical_palette_stays_apart_for_each_colour_vision_deficiency(role, deficiency, theme):
    with colours.theme(theme):
        palette = colours.palettes()[role]
    assert _closest_pair(palette, deficiency) >= colours.MIN_CVD_DIFFERENCE, (role, deficiency)


def test_the_check_tells_a_palette_that_is_not_safe():
    # matplotlib's tab10 puts orange beside green: one colour for a protanope.
    tab10 = [f"C{i}" for i in range(10)]
    assert _closest_pair(tab10, "protanomaly") < colours.MIN_CVD_DIFFERENCE <= _closest_pair(tab10)


def test_the_eight_neuron_colours_are_eight_hues_apart():
    assert len(colours.NEURON_COLORS) == 8
    assert _closest_pair(colours.NEURON_COLORS) >= 20  # projected: no teal beside teal-green beside steel blue


# Roles that meet in one frame: a comparison's runs beside two-class regions or a fit's first two neurons and
# its prediction; parameter series (the run palette) beside the diagram's signed edges; classes beside
# train/test; neurons beside the prediction and the data; layers (the per-layer panels) beside a comparison's
# runs, every neuron of a fit with its prediction and data, the loss's train/test, the diagram's signed edges
# and two-class regions (the optimizer-state panel in overfit).
def meetings() -> list[tuple[str, list[str], str, list[str]]]:
    """The roles that meet, in the theme in force."""
    c = colours
    return [("run", c.RUN_COLORS, "class", c.CLASS_COLORS[:2]),
            ("run", c.RUN_COLORS, "neuron", c.NEURON_COLORS[:2]),
            ("run", c.RUN_COLORS, "prediction", [c.PREDICTION]),
            ("run", c.RUN_COLORS, "train/test", [c.TRAIN, c.TEST]),
            ("run", c.RUN_COLORS, "signed", [c.POSITIVE, c.NEGATIVE]),
            ("class", c.CLASS_COLORS, "train/test", [c.TRAIN, c.TEST]),
            ("neuron", c.NEURON_COLORS, "prediction", [c.PREDICTION, c.DATA]),
            ("neuron", c.NEURON_COLORS, "train/test", [c.TRAIN, c.TEST]),
            ("layer", c.LAYER_COLORS, "run", c.RUN_COLORS),
            ("layer", c.LAYER_COLORS, "neuron", c.NEURON_COLORS),
            ("layer", c.LAYER_COLORS, "prediction", [c.PREDICTION, c.DATA]),
            ("layer", c.LAYER_COLORS, "train/test", [c.TRAIN, c.TEST]),
            ("layer", c.LAYER_COLORS, "signed", [c.POSITIVE, c.NEGATIVE]),
            ("layer", c.LAYER_COLORS, "class", c.CLASS_COLORS[:2])]


MEETINGS = [m[0::2] for m in meetings()]


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("a, b", MEETINGS, ids=[f"{a}-{b}" for a, b in MEETINGS])
def test_roles_that_meet_in_a_frame_never_share_a_hue(a, b, theme):
    with colours.theme(theme):
        first, second = next((m[1], m[3]) for m in meetings() if (m[0], m[2]) == (a, b))
    u, v = _ucs(first), _ucs(second)
    gaps = np.linalg.norm(u[:, None] - v[None], axis=2)
    assert gaps.min() >= SAME_HUE, (a, b, first[int(gaps.min(axis=1).argmin())])


@pytest.mark.parametrize("theme", THEMES)
def test_layers_stand_further_from_the_background_with_depth(theme):
    # The bundled scenes' deepest network (batchnorm: six hidden layers) gets six colours, all told apart above.
    with colours.theme(theme):
        ramp, background = colours.LAYER_COLORS, colours.BACKGROUND
    assert len(ramp) >= 6
    lightness = _ucs(ramp)[:, 0]
    apart = np.abs(lightness - _ucs([background])[0, 0])
    assert (np.diff(apart) > 5).all()  # J' moves away from the background's with every layer
    # on white, deeper reads darker; on the dark theme's background, brighter
    assert (np.diff(lightness) < -5).all() if theme == "light" else (np.diff(lightness) > 5).all()


def test_layers_past_the_ramp_take_line_styles():
    for n in (1, 2, 3, 5, 6, 7, 9, 24):
        styles = [colours.layer_style(k, n) for k in range(n)]
        shades = [colours.LAYER_COLORS.index(c) for c, _ in styles]
        assert shades == sorted(shades) and shades[0] == 0  # never lighter deeper; the first is the lightest
        assert len(set(styles)) == n, n  # no two layers drawn alike
        if n > 1:
            assert shades[-1] == len(colours.LAYER_COLORS) - 1  # the last layer is the darkest
        if n <= len(colours.LAYER_COLORS):
            assert {s for _, s in styles} == {"-"}  # solid while the colours suffice


def test_signed_ends_come_from_the_one_map_red_for_positive():
    red, _, blue = to_rgb(colours.POSITIVE)
    assert red > 2 * blue
    red, _, blue = to_rgb(colours.NEGATIVE)
    assert blue > 2 * red
    cmap = colours.signed_cmap()
    assert to_hex(cmap(0.9)) == colours.POSITIVE and to_hex(cmap(0.1)) == colours.NEGATIVE
    norm = colours.symmetric_norm(np.array([-0.5, 3.0]))
    assert (norm.vmin, norm.vmax) == (-3.0, 3.0) and norm(0.0) == 0.5


def test_the_dark_theme_keeps_the_polarity_and_every_role_stands_out_from_its_background():
    with colours.theme("dark"):
        dark = {name: getattr(colours, name) for name in colours.THEMED}
        lines = [*colours.CLASS_COLORS, *colours.NEURON_COLORS, *colours.RUN_COLORS, colours.TRAIN, colours.TEST,
                 colours.DATA, colours.PREDICTION, colours.POSITIVE, colours.NEGATIVE]
    assert colours.THEME == "light" and colours.BACKGROUND == "white"  # put back on leaving
    back = dark["BACKGROUND"]
    assert colours.relative_luminance(back) < 0.05
    # The same map, the same polarity: red is positive, blue negative (from further in, to be seen on dark).
    cmap = colours.signed_cmap()
    assert dark["POSITIVE"] == to_hex(cmap(0.8)) and dark["NEGATIVE"] == to_hex(cmap(0.2))
    assert _side(to_rgb(dark["POSITIVE"])) == 1 and _side(to_rgb(dark["NEGATIVE"])) == -1
    # Text and lines: text at least 4.5:1 (secondary text too), every coloured line or marker at least 3:1.
    for text in (dark["FOREGROUND"], dark["MUTED"]):
        assert colours.contrast_ratio(text, back) >= 4.5, text
    for line in lines:
        assert colours.contrast_ratio(line, back) >= 3.0, line
    # Outlines turn over: training points ringed in the background's colour, test points in a light one.
    assert dark["POINT_EDGE"] == back and colours.contrast_ratio(dark["TEST_EDGE"], back) >= 4.5
    with pytest.raises(ValueError, match="unknown theme 'dim'"):
        colours.theme("dim")
    from visualizer.draw.presets import THEMES as NAMES  # the command line's choices, kept light to import

    assert NAMES == tuple(colours.THEMES)


def test_cell_text_is_black_or_white_by_the_cell():
    assert colours.text_on("#ffffff") == "black" and colours.text_on("#000000") == "white"
    assert colours.text_on("#fde725") == "black"  # viridis' yellow end: white on it is what the issue saw
    for v in np.linspace(0, 1, 41):
        for cmap in (colours.signed_cmap(), colours.class_probability_cmap()):
            cell = cmap(v)
            assert colours.contrast_ratio(colours.text_on(cell), cell) >= 4.5
    # A heatmap works its cells' text colours out for a whole run at once: the same answer, cell by cell.
    cells = colours.signed_cmap()(np.random.default_rng(0).random((50, 6)))
    assert colours.texts_on(cells).tolist() == [[colours.text_on(c) for c in row] for row in cells]


def test_the_player_copy_of_the_signed_colours_is_the_module_s():
    page = resources.files("visualizer.outputs").joinpath("player.html").read_text(encoding="utf-8")
    found = dict(re.findall(r"--(positive|negative):\s*(#[0-9a-fA-F]{6})", page))
    assert found == {"positive": colours.POSITIVE, "negative": colours.NEGATIVE}


# --- the roles in drawn frames -----------------------------------------------------------------------------

def _network(seed: int) -> Network:
    rng = np.random.default_rng(seed)
    return Network([Dense(2, 6, "tanh", name="hidden", rng=rng), Dense(6, 1, name="output", rng=rng)])


def _signed_scene() -> Scene:
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, size=(12, 2))
    y = (x[:, :1] * x[:, 1:]) - 0.1
    panels = {"net": NetworkDiagramPanel(), "grads": NetworkDiagramPanel(show="gradients"),
              "w": WeightMatrixPanel("hidden.weight"), "out": WeightMatrixPanel("output.weight"),
              "error": SurfacePanel(kind="error", target=lambda r: r[:, 0] * r[:, 1] - 0.1, resolution=8),
              "act": ActivationsPanel(layer="hidden"), "unit": UnitMapPanel(layer="hidden", resolution=8)}
    layout = Layout([["net", "grads", "error", "act"], ["w", "out", "error", "unit"]], panels,
                    height_ratios=[1, 2])  # the 6×1 matrix's cells hold their values at the smallest text size
    return Scene(name="signed", network=_network, x=x, y=y, loss="mse", optimizer=SGD(0.5), steps=3, seed=1,
                 layout=layout)


def _side(rgba) -> int:
    """+1 for the signed map's red side, -1 for its blue side, 0 for white."""
    r, _, b = np.asarray(rgba, dtype=float)[:3]
    return int(np.sign(round(r - b, 3)))


@pytest.fixture(scope="module")
def signed_frame():
    scene = _signed_scene()
    history = train(scene)
    renderer = Renderer(scene.layout, history, size=(800, 400))
    renderer.draw(len(history) - 1)
    return renderer, history


def test_a_weight_s_edge_and_its_heatmap_cell_are_on_the_same_side(signed_frame):
    renderer, history = signed_frame
    w = history.params["hidden.weight"][-1]
    w_out = history.params["output.weight"][-1]
    layer = history.info.layers[0]
    inputs_by_units = history.layer_weight(layer)[-1]  # rows: inputs, columns: units (the edges' order)
    edges = next(c for c in renderer.axes["net"].collections if isinstance(c, LineCollection))
    colours_ = edges.get_colors()
    assert (inputs_by_units > 0).any() and (inputs_by_units < 0).any() and w.shape
    image = renderer.axes["w"].get_images()[0]
    assert image.cmap.name.startswith(colours.SIGNED_CMAP)
    for k, value in enumerate(inputs_by_units.ravel()):
        edge = _side(colours_[k])
        cell = _side(image.cmap(image.norm(value)))
        assert edge == (1 if value >= 0 else -1)
        assert cell in (0, edge), (k, value)
    out_image = renderer.axes["out"].get_images()[0]
    first_out_edge = inputs_by_units.size
    for k, value in enumerate(history.layer_weight(history.info.layers[1])[-1].ravel()):
        assert _side(colours_[first_out_edge + k]) == (1 if value >= 0 else -1)
        assert _side(out_image.cmap(out_image.norm(value))) in (0, 1 if value >= 0 else -1)
    assert w_out.size == 6


def test_the_bias_fill_and_the_gradient_edges_use_the_same_polarity(signed_frame):
    renderer, history = signed_frame
    neurons = [c for c in renderer.axes["net"].collections if isinstance(c, PathCollection) and c.get_animated()][0]
    bias = np.concatenate([history.params["hidden.bias"][-1], history.params["output.bias"][-1]])
    fills = neurons.get_facecolors() if neurons.get_array() is None else neurons.to_rgba(neurons.get_array())
    strong = np.abs(bias) > 0.2 * np.abs(bias).max()
    assert strong.any()
    for value, fill in zip(bias[strong], fills[strong]):
        assert _side(fill) == np.sign(value)
    grads = history.layer_weight_grad(history.info.layers[0])[-1].ravel()
    edges = next(c for c in renderer.axes["grads"].collections if isinstance(c, LineCollection))
    for value, colour in zip(grads, edges.get_colors()):
        assert _side(colour) == (1 if value >= 0 else -1)


def test_every_map_of_a_signed_quantity_uses_the_one_map(signed_frame):
    renderer, _ = signed_frame
    seen = 0
    for ax in renderer.figure.axes:
        for mappable in [*ax.get_images(), *ax.collections]:
            norm = getattr(mappable, "norm", None)
            if norm is None or mappable.get_array() is None or norm.vmin is None:
                continue
            if norm.vmin < 0 < norm.vmax:
                assert mappable.cmap.name.startswith(colours.SIGNED_CMAP), ax.get_title()
                assert norm(0.0) == pytest.approx(0.5)  # 0 is white: symmetric
                seen += 1
    # two weight matrices, the error map, the diagram's bias fill, tanh activations and a tanh unit's map
    assert seen >= 6


def test_heatmap_cells_are_square_and_their_text_contrasts(signed_frame):
    renderer, _ = signed_frame
    ax = renderer.axes["out"]  # a 6×1 matrix
    box = ax.get_window_extent()
    assert box.height / box.width == pytest.approx(6.0, rel=0.03)
    image = ax.get_images()[0]
    data = image.get_array()
    texts = [a for a in ax.get_children() if isinstance(a, FrameText) and a.get_text()]
    assert len(texts) == data.size
    for text, value in zip(texts, np.asarray(data).ravel()):
        cell = image.cmap(image.norm(value))
        assert colours.contrast_ratio(text._rgb / 255, cell) >= 4.5, (text.get_text(), cell)


def test_a_dark_frame_keeps_the_roles_on_a_dark_background():
    scene = _signed_scene()
    panels = {"net": NetworkDiagramPanel(), "w": WeightMatrixPanel("hidden.weight"), "loss": LossPanel()}
    scene = Scene(**{**scene.__dict__, "layout": Layout([["net", "w", "loss"]], panels)})
    history = train(scene)
    renderer = Renderer(scene.layout, history, size=(480, 270), preset="default:dark")
    picture = renderer.draw(len(history) - 1)
    assert colours.THEME == "light"  # the theme is in force only while the renderer sets up and draws
    with colours.theme("dark"):
        dark = {name: getattr(colours, name) for name in colours.THEMED}
    back = np.array(to_rgb(dark["BACKGROUND"])) * 255
    assert np.abs(picture[2, 2] - back).max() <= 1 and np.abs(picture[-2, -2] - back).max() <= 1
    # Edges by sign, red positive, in the dark theme's ends of the same map; the heatmap on the same side.
    weights = history.layer_weight(history.info.layers[0])[-1].ravel()
    edges = next(c for c in renderer.axes["net"].collections if isinstance(c, LineCollection)).get_colors()
    image = renderer.axes["w"].get_images()[0]
    assert image.cmap.name.startswith(colours.SIGNED_CMAP)
    for value, edge in zip(weights, edges):
        assert to_hex(edge) == (dark["POSITIVE"] if value >= 0 else dark["NEGATIVE"])
        assert _side(image.cmap(image.norm(value))) in (0, _side(edge))
    assert to_hex(renderer.axes["loss"].get_lines()[0].get_color()) == dark["TRAIN"]
    # Every word on the frame reads on the dark background: light text, or its own box behind it.
    for ax in renderer.figure.axes:
        for text in ax.get_children():
            if isinstance(text, FrameText) and text.get_text() and text._background is None:
                assert colours.contrast_ratio(text._rgb / 255, dark["BACKGROUND"]) >= 4.5, text.get_text()
            elif isinstance(text, FrameText) and text.get_text():
                assert colours.contrast_ratio(text._rgb / 255, text._background / 255) >= 4.5, text.get_text()
        for label in [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels(), *ax.get_yticklabels()]:
            if label.get_text():
                assert colours.contrast_ratio(label.get_color(), dark["BACKGROUND"]) >= 4.5, label.get_text()


def test_a_heatmap_without_written_values_gets_a_colour_bar():
    scene = _signed_scene()
    panels = {"w": WeightMatrixPanel("hidden.weight", annotate_max=0), "loss": LossPanel()}
    scene = Scene(**{**scene.__dict__, "layout": Layout([["w", "loss"]], panels)})
    history = train(scene)
    renderer = Renderer(scene.layout, history, size=(480, 270))
    renderer.draw(0)
    assert renderer.axes["w"].get_images()[0].colorbar is not None


def _class_scene(panel, classes: int, test: float = 0.25) -> Scene:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 2))
    y = np.arange(30) % classes

    def network(seed):
        r = np.random.default_rng(seed)
        return Network([Dense(2, 5, "tanh", name="hidden", rng=r), Dense(5, classes, name="output", rng=r)])
    return Scene(name="classes", network=network, x=x, y=y, loss="softmax_ce", optimizer="adam:lr=0.1", steps=3,
                 test_fraction=test, layout=Layout([["p"]], {"p": panel}))


def test_class_points_keep_their_identity_by_outline_and_shape():
    scene = _class_scene(ClassRegionsPanel(resolution=10), classes=3)
    history = train(scene)
    renderer = Renderer(scene.layout, history, size=(480, 270))
    renderer.draw(len(history) - 1)
    points = [c for c in renderer.axes["p"].collections if isinstance(c, PathCollection)]
    train_sets = [c for c in points if to_hex(c.get_edgecolors()[0]) == "#ffffff"]
    test_sets = [c for c in points if to_hex(c.get_edgecolors()[0]) == colours.TEST_EDGE]
    assert len(train_sets) == 3 and len(test_sets) == 3  # one scatter per class, for train and for test
    # Three classes, three shapes; the same shape for a class's train and test points.
    shapes = [tuple(map(tuple, c.get_paths()[0].vertices.round(3))) for c in train_sets]
    assert len(set(shapes)) == 3
    assert [tuple(map(tuple, c.get_paths()[0].vertices.round(3))) for c in test_sets] == shapes
    # Told apart by the outline's width too, not only by its colour.
    assert min(c.get_linewidths()[0] for c in test_sets) > max(c.get_linewidths()[0] for c in train_sets)
    fills = {to_hex(c.get_facecolors()[0]) for c in train_sets}
    assert fills == {c.lower() for c in colours.CLASS_COLORS[:3]}


def test_a_probability_map_is_drawn_in_the_class_colours_with_the_points_in_theirs():
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])

    def network(seed):
        r = np.random.default_rng(seed)
        return Network([Dense(2, 3, "tanh", name="hidden", rng=r), Dense(3, 1, "sigmoid", name="output", rng=r)])
    scene = Scene(name="xor", network=network, x=x, y=y, loss="mse", optimizer=SGD(1.0), steps=2,
                  layout=Layout([["p"]], {"p": DecisionBoundaryPanel(resolution=8)}))
    history = train(scene)
    renderer = Renderer(scene.layout, history, size=(320, 180))
    renderer.draw(1)
    image = renderer.axes["p"].get_images()[0]
    low, high = image.cmap(0.0), image.cmap(1.0)
    assert np.argmax(low[:3]) == np.argmax(to_rgb(colours.CLASS_COLORS[0]))  # blue end: class 0
    assert np.argmax(high[:3]) == np.argmax(to_rgb(colours.CLASS_COLORS[1]))  # orange end: class 1
    points = next(c for c in renderer.axes["p"].collections if isinstance(c, PathCollection))
    fills = [to_hex(f) for f in points.get_facecolors()]
    assert fills == [colours.CLASS_COLORS[int(v)].lower() for v in y[:, 0]]
    assert {to_hex(e) for e in points.get_edgecolors()} == {"#ffffff"}
