"""FrameImage: heatmaps colour-mapped at data resolution, then scaled by Pillow into the canvas."""
import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from PIL import Image

from visualizer.image import frame_imshow

SIZE = (200, 150)  # the axes fill the canvas, so the map covers every pixel


def drawn(data, cmap, interpolation="bilinear", origin="upper"):
    figure = Figure(figsize=(SIZE[0] / 100, SIZE[1] / 100), dpi=100)
    canvas = FigureCanvasAgg(figure)
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    image = frame_imshow(ax, data, cmap=cmap, norm=Normalize(-1, 1), interpolation=interpolation, origin=origin,
                         animated=False)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy(), image


def pillow_scaled(rgba, interpolation):
    """What the map should be: Pillow's resize of the colour-mapped RGBA cells to the canvas size."""
    method = {"bilinear": Image.BILINEAR, "nearest": Image.NEAREST}[interpolation]
    return np.asarray(Image.fromarray(np.ascontiguousarray(rgba)).resize(SIZE, method))


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("origin", ["upper", "lower"])
def test_an_opaque_map_is_pillows_scaling_of_its_coloured_cells(interpolation, origin):
    data = np.random.default_rng(3).uniform(-1, 1, (6, 9))
    canvas, image = drawn(data, matplotlib.colormaps["viridis"], interpolation, origin)
    cells = image.to_rgba(data, bytes=True)
    expected = pillow_scaled(cells if origin == "upper" else cells[::-1], interpolation)
    assert np.array_equal(canvas[..., :3], expected[..., :3])
    assert (canvas[..., 3] == 255).all()


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
    assert clear.any() and (canvas[clear][:, :3] == 255).all()  # the white axes, untouched
