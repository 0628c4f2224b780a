"""The colour language every panel, the diagram, the explain figure and compare speak: named roles, once.

- **Signed** quantities (a weight, a bias, a gradient, a δ, an error map, any map that crosses zero) use one
  diverging map, :data:`SIGNED_CMAP`, with one polarity everywhere: **red is positive, blue is negative**, white
  is zero. :data:`POSITIVE` and :data:`NEGATIVE` are that map's ends (edges of the diagram, legend swatches), and
  :func:`symmetric_norm` puts 0 in its white middle. Whether a frame shows weights or their gradients is said in
  its title and legend, never by another pair of colours.
- **Unsigned** magnitudes (a loss surface, a prediction over the plane, activations) use :data:`SEQUENTIAL`; a
  path drawn over it (the loss landscape's) is cased in :data:`PATH_CASING` so its own colour stays readable.
- **Categorical** roles each have a palette of their own, and no two roles that meet in one frame share a hue:
  :data:`CLASS_COLORS` (classes; with a marker shape each, :data:`CLASS_MARKERS`), :data:`NEURON_COLORS` (hidden
  neurons in the fit and gradient panels), :data:`RUN_COLORS` (compare's runs; also the lines of the parameter
  panel, which never shares a frame with runs), :data:`LAYER_COLORS` (the layers of a network in the per-layer
  and optimizer-state panels: one green ramp ordered by depth, lighter at the input, darker deeper, through
  :func:`layer_style`, which past the ramp adds line styles; apart from the runs, every neuron, the prediction,
  the data, train/test, the signed pair and two classes, which it meets), :data:`TRAIN`/:data:`TEST` (neutral
  greys, told apart by line style and marker, so they never take a class's or neuron's hue), :data:`PREDICTION`
  (the model's output) and :data:`DATA` (targets). Every categorical palette keeps a CAM02-UCS difference of at
  least :data:`MIN_CVD_DIFFERENCE` between any two of its colours for normal vision and simulated deuteranopia,
  protanopia and tritanopia (``tests/test_colour_roles.py`` simulates each and checks the roles that meet).

Two themes: these values draw on white; :data:`THEMES` holds the dark theme's (``--theme dark``), which a
renderer puts in force with :class:`theme` while it sets up and draws its panels, so a panel reads its
colours from this module (``colours.TRAIN``) when it draws, never copies them when it is imported.

The player (``outputs/player.html``, which may not import this package) keeps a documented copy of the two
signed colours; a test checks it equals :data:`POSITIVE` and :data:`NEGATIVE`.
"""
from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LinearSegmentedColormap, Normalize, SymLogNorm, to_hex, to_rgb

# --- signed and unsigned numbers -------------------------------------------------------------------------
SIGNED_CMAP = "RdBu_r"  # blue (negative) – white (0) – red (positive)
SEQUENTIAL = "viridis"
POSITIVE = to_hex(colormaps[SIGNED_CMAP](0.9))  # a strong positive value: the map's red end
NEGATIVE = to_hex(colormaps[SIGNED_CMAP](0.1))  # a strong negative value: the map's blue end
SIGN_WORDS = {"positive": "red", "negative": "blue"}  # for legends and notes that say the polarity in words

# --- categorical roles -----------------------------------------------------------------------------------
# Okabe and Ito's colour-blind safe palette (without its black, which is the data's): class k has colour k and
# marker k, so points keep their class under any deficiency and in greyscale.
CLASS_COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442"]
CLASS_MARKERS = ["o", "s", "^", "D", "v", "P", "X"]
# Hidden neurons: cyan for neuron 1 and yellow for neuron 2 as in the seed notebook, then six more, chosen so
# all eight stay apart for the three colour-vision deficiencies and never share a hue with PREDICTION.
NEURON_COLORS = ["#17becf", "#ccbb44", "#009e73", "#4477aa", "#882255", "#6a3d9a", "#f781bf", "#a65628"]
# Runs of a comparison (and other series of lines): hues apart from the first two classes, the first two
# neurons, the prediction and the train/test greys, which share compare's frames with them, and from the
# signed pair, which the parameter series meet in the diagram beside them.
RUN_COLORS = ["#009e73", "#762a83", "#d95f02", "#cc79a7", "#7f3b08", "#9467bd"]
SERIES_STYLES = ["-", "--", ":", "-."]  # past the palette's length, series repeat colours with the next style
# Layers of a network, ordered by depth: one green, light at the input side and darker with each layer, so
# "deeper" reads as "darker" under every colour-vision deficiency (lightness survives them all). Green is the
# hue the other roles leave free: yellow-green here, far from the runs' and neurons' bluish green, the olive
# neuron and the near-black train line and data, which the per-layer panels meet in a fit's frame and in a
# comparison.
LAYER_COLORS = ["#68c31d", "#58a021", "#48801e", "#386219", "#264510", "#132805"]
PREDICTION = "#c2187a"
DATA = "#111111"
TRAIN = "#1b1b1b"  # solid lines, filled markers
TEST = "#808080"  # dashed lines, markers with a thick dark edge
PENALTY = "#b0b0b0"  # dotted: what is added to the data loss
TRAIN_STYLE, TEST_STYLE, PENALTY_STYLE = "-", "--", ":"
REFERENCE = "#999999"  # zero lines, chance level
MUTED = "#555555"  # secondary text
DROPPED = "#d4d4d4"  # a unit dropout dropped at the step shown: a grey fill, crossed in MUTED
RULE = "#bbbbbb"  # table rules
INK = "#333333"  # a small plot's line in a neuron's inset (the explain figure)
POINT_EDGE = "white"  # the outline of training points: they keep their identity on a background of their colour
TEST_EDGE = "#111111"  # test points: a thick dark outline instead
PATH_CASING = ("white", "#111111")  # a path over a sequential map: a light rim outside a dark one, so it keeps
# its own colour against both ends of the map

BACKGROUND, FOREGROUND = "white", "black"  # the frame and axes behind everything; text, axes and edges on it

# The explain figure lights neurons as a pass reaches them (not numbers: a neuron's state in the pass).
REACHING, REACHED, LOSS_NODE = "#ffc94d", "#ffe9a8", "#f7a8cf"

MIN_CVD_DIFFERENCE = 10.0  # CAM02-UCS ΔE' between any two colours of a categorical palette (tests/test_colour_roles.py)
PALETTES = {"class": CLASS_COLORS, "neuron": NEURON_COLORS, "run": RUN_COLORS, "layer": LAYER_COLORS,
            "train/test": [TRAIN, TEST]}  # the light theme's; palettes() gives the theme in force


# Themes: the roles of a light frame (the module's values) and of a dark one, for dark lecture halls. The dark
# theme keeps every role and its meaning (the signed map and its polarity, the class colours, the layer green,
# neutral greys for train and test); it changes only what the background asks for: the greys and outlines
# turn over, the signed ends come from further in on the same map (0.2 and 0.8, where 0.1 and 0.9 are too dark
# to see as a thin edge on the dark background), the layer ramp runs from dim to bright (deeper stands further
# from the background, as it does on white), and the run and neuron colours too dark to see there are lightened.
# Every categorical palette of either theme passes the same colour-vision checks (tests/test_colour_roles.py).
THEME = "light"  # the theme in force (``with theme("dark"):``)
THEMED = ("THEME", "BACKGROUND", "FOREGROUND", "TRAIN", "TEST", "PENALTY", "DATA", "REFERENCE", "MUTED", "DROPPED",
          "RULE", "INK", "POINT_EDGE", "TEST_EDGE", "PATH_CASING", "LAYER_COLORS", "NEURON_COLORS", "RUN_COLORS",
          "POSITIVE", "NEGATIVE")
THEMES = {
    "light": {name: globals()[name] for name in THEMED},
    "dark": {"THEME": "dark", "BACKGROUND": "#16181d", "FOREGROUND": "#e8e8e8", "TRAIN": "#ececec",
             "TEST": "#9a9a9a", "PENALTY": "#6e6e6e", "DATA": "#f2f2f2", "REFERENCE": "#7a7a7a", "MUTED": "#b5b5b5",
             "DROPPED": "#3a3d44", "RULE": "#55585f", "INK": "#d8d8d8", "POINT_EDGE": "#16181d", "TEST_EDGE": "#f2f2f2",
             "PATH_CASING": ("#16181d", "#f2f2f2"),
             "LAYER_COLORS": ["#3a5a23", "#4b772b", "#5b9531", "#6bb534", "#7bd834", "#8bff2e"],
             # the wine and the purple lightened (contrast 3:1 or more on the background)
             "NEURON_COLORS": ["#17becf", "#ccbb44", "#009e73", "#4477aa", "#915a74", "#7451d9", "#f781bf",
                               "#a65628"],
             # the dark purple, the orange (beside the lighter signed red) and the brown, which lightened would
             # meet the purple, the orange and the classes' orange, give way to a periwinkle, a pale cyan and an ochre
             "RUN_COLORS": ["#009e73", "#b1bbfa", "#8ffffd", "#cc79a7", "#9a6600", "#9467bd"],
             "POSITIVE": to_hex(colormaps[SIGNED_CMAP](0.8)), "NEGATIVE": to_hex(colormaps[SIGNED_CMAP](0.2))},
}


class theme:
    """``with colours.theme("dark"):`` that theme's roles while a frame's panels are set up and drawn (the
    module's names are swapped and put back, so a panel reads ``colours.TRAIN`` when it draws)."""

    def __init__(self, name: str = "light") -> None:
        if name not in THEMES:
            raise ValueError(f"unknown theme {name!r}; use one of {', '.join(THEMES)}")
        self.name = name

    def __enter__(self):
        self._saved = {k: globals()[k] for k in THEMED}
        globals().update(THEMES[self.name])
        return self

    def __exit__(self, *exc) -> None:
        globals().update(self._saved)


def themed(color):
    """The colour that plays ``color``'s role in the theme in force: a light-theme role's colour (a run's, a
    neuron's, a grey) chosen before the theme was put in force (a comparison's run styles), else ``color``."""
    if THEME == "light" or not isinstance(color, str):
        return color
    light, now = THEMES["light"], THEMES[THEME]
    for name, value in light.items():
        if isinstance(value, list):
            for k, entry in enumerate(value):
                if entry.lower() == color.lower():
                    return now[name][k]
        elif isinstance(value, str) and name != "THEME" and value.lower() == color.lower():
            return now[name]
    return color


def palettes() -> dict[str, list[str]]:
    """:data:`PALETTES` in the theme in force."""
    return {"class": CLASS_COLORS, "neuron": NEURON_COLORS, "run": RUN_COLORS, "layer": LAYER_COLORS,
            "train/test": [TRAIN, TEST]}


def signed_cmap():
    """The one diverging colour map (a matplotlib ``Colormap``), NaN drawn white."""
    return colormaps[SIGNED_CMAP].with_extremes(bad="white")


def symmetric_norm(*arrays: np.ndarray, log_ratio: float | None = None, decades: int = 4) -> Normalize:
    """A norm symmetric about 0 covering every finite value of ``arrays`` (0 is the signed map's white).

    With ``log_ratio``, symmetric-log when the non-zero magnitudes span more than that ratio (``decades``
    below the largest stay distinct)."""
    mags = [np.abs(np.asarray(a, dtype=float)) for a in arrays]
    finite = [m[np.isfinite(m)] for m in mags]
    hi = max((float(m.max()) for m in finite if m.size), default=0.0) or 1.0
    if log_ratio is None:
        return Normalize(-hi, hi)
    nonzero = [m[m > 0] for m in finite]
    lo = min((float(m.min()) for m in nonzero if m.size), default=hi)
    if hi / lo <= log_ratio:
        return Normalize(-hi, hi)
    return SymLogNorm(linthresh=max(lo, hi * 10.0 ** -decades), vmin=-hi, vmax=hi, base=10)


def value_map(lo: float, hi: float):
    """(colour map, vmin, vmax) for values from ``lo`` to ``hi``: the signed map, symmetric about 0, when they
    cross 0; else the sequential map over [lo, hi]."""
    if lo < 0 < hi:
        m = max(-lo, hi)
        return signed_cmap(), -m, m
    return colormaps[SEQUENTIAL], lo, hi


def sign_colors(values: np.ndarray) -> np.ndarray:
    """RGBA rows, :data:`POSITIVE` where ``values`` > 0, :data:`NEGATIVE` where < 0 and the zero line's
    :data:`REFERENCE` grey where exactly 0 (edges by sign: a weight of 0 has none)."""
    positive, negative, zero = (np.array([*to_rgb(c), 1.0]) for c in (POSITIVE, NEGATIVE, REFERENCE))
    values = np.asarray(values)[..., None]
    return np.where(values > 0, positive, np.where(values < 0, negative, zero))


def class_colors(k: int) -> np.ndarray:
    """RGB rows of the first ``k`` class colours (cycling past the palette; the markers tell those apart)."""
    return np.array([to_rgb(CLASS_COLORS[j % len(CLASS_COLORS)]) for j in range(k)])


def class_marker(j: int, k: int) -> str:
    """Class ``j``'s marker among ``k`` classes: circles for two classes (colour alone tells two apart), a shape
    per class beyond."""
    return "o" if k <= 2 else CLASS_MARKERS[j % len(CLASS_MARKERS)]


def class_probability_cmap(negative: int = 0, positive: int = 1, strength: float = 0.75):
    """P(class ``positive``) from 0 to 1: class ``negative``'s colour, white at 0.5, class ``positive``'s, each
    end at ``strength`` of the full colour, so points in the full colour stand out on their own region."""
    ends = [1.0 + (np.array(to_rgb(CLASS_COLORS[j])) - 1.0) * strength for j in (negative, positive)]
    return LinearSegmentedColormap.from_list("class_probability", [ends[0], (1.0, 1.0, 1.0), ends[1]])


def series_style(k: int, palette: list[str] | None = None) -> tuple[str, str]:
    """(colour, line style) of the ``k``-th series: the palette's colours (default: the runs'), then again with
    the next style."""
    palette = RUN_COLORS if palette is None else palette
    return palette[k % len(palette)], SERIES_STYLES[(k // len(palette)) % len(SERIES_STYLES)]


def layer_style(k: int, n: int) -> tuple[str, str]:
    """(colour, line style) of layer ``k`` (0-based, input side first) of ``n``: the layer ramp spread over the
    ``n`` layers, the first the lightest and the last the darkest. Past the ramp's length neighbouring layers
    share a colour and the deeper takes the next line style, so the colours still darken with depth."""
    m = len(LAYER_COLORS)
    k, n = min(max(k, 0), max(n - 1, 0)), max(n, 1)
    if n <= m:
        return LAYER_COLORS[int(k * (m - 1) / max(n - 1, 1) + 0.5)], SERIES_STYLES[0]
    shade = k * m // n
    first = -(-shade * n // m)  # the first layer of this shade
    return LAYER_COLORS[shade], SERIES_STYLES[(k - first) % len(SERIES_STYLES)]


def neuron_color(j: int) -> str:
    """Hidden neuron ``j``'s colour (0-based)."""
    return NEURON_COLORS[j % len(NEURON_COLORS)]


def _luminance(c: np.ndarray) -> np.ndarray:
    """WCAG relative luminance of sRGB colours ``c`` (..., 3)."""
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def relative_luminance(rgb) -> float:
    """WCAG relative luminance of an sRGB colour (0 black … 1 white)."""
    return float(_luminance(np.asarray(to_rgb(rgb) if isinstance(rgb, str) else rgb, dtype=float)[:3]))


def texts_on(rgba: np.ndarray) -> np.ndarray:
    """:func:`text_on` of many colours at once: ``rgba`` (..., 3 or 4) → "black" or "white" for each."""
    lum = _luminance(np.asarray(rgba, dtype=float)[..., :3])
    return np.where((lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05), "black", "white")


def text_on(rgb) -> str:
    """Black or white, whichever contrasts more with a cell of colour ``rgb`` (WCAG contrast ratio)."""
    return str(texts_on(np.asarray(to_rgb(rgb) if isinstance(rgb, str) else rgb, dtype=float)[:3]))


def contrast_ratio(a, b) -> float:
    """WCAG contrast ratio between two colours (1 … 21)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


__all__ = ["CLASS_COLORS", "CLASS_MARKERS", "DATA", "LAYER_COLORS", "MIN_CVD_DIFFERENCE", "NEGATIVE", "NEURON_COLORS",
           "PALETTES", "POSITIVE", "PREDICTION", "RUN_COLORS", "SEQUENTIAL", "SIGNED_CMAP", "TEST", "TRAIN",
           "class_colors", "class_marker", "class_probability_cmap", "contrast_ratio", "layer_style", "neuron_color",
           "palettes",
           "relative_luminance", "series_style", "sign_colors", "signed_cmap", "symmetric_norm", "text_on", "texts_on",
           "theme", "themed", "value_map"]
