"""FrameImage: heatmaps colour-mapped at data resolution, then scaled by Pillow into the canvas."""
import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from PIL import Image

from visualizer.draw.image import frame_imshow

SIZE = (200, 150)


def drawn(data, cmap, interpolation="bilinear", origin="upper", rect=(0, 0, 1, 1), flip_x=False):
    """The canvas after drawing ``data`` as a map filling axes at ``rect`` (figure fractions) of a figure with
    a transparent background, so every pixel the map does not paint stays clear."""
    figure = Figure(figsize=(SIZE[0] / 100, SIZE[1] / 100), dpi=100)
    figure.patch.set_alpha(0)
    canvas = FigureCanvasAgg(figure)
    ax = figure.add_axes(rect)
    ax.set_axis_off()
    image = frame_imshow(ax, data, cmap=cmap, norm=Normalize(-1, 1), interpolation=interpolation, origin=origin,
                         animated=False)
    if flip_x:
        ax.set_xlim(ax.get_xlim()[::-1])
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy(), image


def pillow_scaled(rgba, interpolation, size=SIZE):
    """What the map should be: Pillow's resize of the colour-mapped RGBA cells to ``size``."""
    method = {"bilinear": Image.BILINEAR, "nearest": Image.NEAREST}[interpolation]
    return np.asarray(Image.fromarray(np.ascontiguousarray(rgba)).resize(size, method))


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("origin", ["upper", "lower"])
def test_an_opaque_map_is_pillows_scaling_of_its_coloured_cells(interpolation, origin):
    data = np.random.default_rng(3).uniform(-1, 1, (6, 9))
    canvas, image = drawn(data, matplotlib.colormaps["viridis"], interpolation, origin)
    cells = image.to_rgba(data, bytes=True)
    expected = pillow_scaled(cells if origin == "upper" else cells[::-1], interpolation)
    assert np.array_equal(canvas[..., :3], expected[..., :3])
    assert (canvas[..., 3] == 255).all()  # opaque where the figure below it is clear


def test_a_map_reaching_past_the_canvas_is_cut_where_the_canvas_ends():
    data = np.random.default_rng(5).uniform(-1, 1, (6, 9))
    # Axes 250x180 px with their left 50 px and bottom 30 px off the canvas; x runs right to left.
    canvas, image = drawn(data, matplotlib.colormaps["viridis"], rect=(-0.25, -0.2, 1.25, 1.2), flip_x=True)
    whole = pillow_scaled(image.to_rgba(data, bytes=True)[:, ::-1], "bilinear", size=(250, 180))
    assert np.array_equal(canvas[..., :3], whole[:150, 50:, :3])
    assert (canvas[..., 3] == 255).all()


def test_a_map_in_part_of_the_canvas_leaves_the_rest_as_it_was():
    data = np.random.default_rng(6).uniform(-1, 1, (6, 9))
    canvas, image = drawn(data, matplotlib.colormaps["viridis"], rect=(0.25, 0.2, 0.5, 0.6))  # 100x90 px at (50, 30)
    expected = pillow_scaled(image.to_rgba(data, bytes=True), "bilinear", size=(100, 90))
    assert np.array_equal(canvas[30:120, 50:150, :3], expected[..., :3])
    outside = np.ones(canvas.shape[:2], bool)
    outside[30:120, 50:150] = False
    assert (canvas[..., 3][outside] == 0).all() and (canvas[30:120, 50:150, 3] == 255).all()


def test_transparent_cells_show_what_is_below():
    data = np.random.default_rng(4).uniform(-1, 1, (6, 9))
    data[2:4, 3:6] = np.nan
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad=(0, 0, 0, 0))
    canvas, image = drawn(data, cmap)
    expected = pillow_scaled(image.to_rgba(data, bytes=True), "bilinear").astype(float)
    alpha = expected[..., 3:] / 255
    over_white = (255 * (1 - alpha) + expected[..., :3] * alpha + 0.5).astype(np.uint8)
    assert np.array_equal(canvas[..., :3], over_white)
    clear = expected[..., 3] == 0
    assert clear.any() and (canvas[clear][:, :3] == 255).all()  # the (clear white) canvas below, untouched
