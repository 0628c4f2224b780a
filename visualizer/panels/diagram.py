"""The network itself: neurons by layer, edges coloured by the weight's sign and as thick as its size."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from matplotlib import colormaps
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba_array
from matplotlib.lines import Line2D

from .base import Panel

POSITIVE = "#2166ac"
NEGATIVE = "#b2182b"
BIAS_CMAP = "RdBu_r"


@dataclass
class NetworkDiagramPanel(Panel):
    """Neurons as circles by layer, edges coloured by the sign of the weight and thickened by its magnitude,
    neuron fill showing its bias (white: none). Line widths use one scale fixed from the whole history."""

    title: str = "network"
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    max_width: float = 5.0

    def draw(self, ax, history):
        layers = history.info.layers
        if not layers:
            raise ValueError("NetworkDiagramPanel needs the model's layer structure in the history (the "
                             "recorder gets it from a model adapter)")
        weights = [history.layer_weight(lay) for lay in layers]  # (rows, inputs, outputs) each
        biases = [history.params[lay.bias] if lay.bias else None for lay in layers]
        sizes = [weights[0].shape[1]] + [w.shape[2] for w in weights]
        pos = [self._column(k, n, len(sizes)) for k, n in enumerate(sizes)]
        segments = []
        for k, w in enumerate(weights):
            for a in range(w.shape[1]):
                for b in range(w.shape[2]):
                    segments.append([pos[k][a], pos[k + 1][b]])
        scale = max(float(np.nanmax(np.abs(w))) for w in weights) or 1.0
        edges = LineCollection(segments, animated=True, capstyle="round", zorder=1)
        positive, negative = to_rgba_array([POSITIVE, NEGATIVE])
        ax.add_collection(edges)
        # Neurons: inputs have no bias (drawn white, static); every layer's units are one animated scatter.
        inputs = np.array(pos[0])
        ax.scatter(inputs[:, 0], inputs[:, 1], s=self._marker_size(sizes), facecolor="white", edgecolor="black",
                   zorder=2, linewidths=1.2)
        units = np.concatenate([np.array(p) for p in pos[1:]])
        bias_values = [b for b in biases if b is not None]
        bias_scale = max([float(np.nanmax(np.abs(b))) for b in bias_values], default=1.0) or 1.0
        # Fill from the bias through the colour map; units without a bias are NaN, drawn white.
        cmap = colormaps[BIAS_CMAP].with_extremes(bad="white")
        neurons = ax.scatter(units[:, 0], units[:, 1], s=self._marker_size(sizes), c=np.zeros(len(units)),
                             cmap=cmap, vmin=-bias_scale, vmax=bias_scale, edgecolor="black",
                             zorder=2, linewidths=1.2, animated=True, plotnonfinite=True)
        self._label_column(ax, pos[0], self.input_names or history.info.input_names, "right")
        self._label_column(ax, pos[-1], self.output_names or history.info.output_names, "left")
        ax.set_xlim(-0.45, len(sizes) - 0.55)
        half = (max(sizes) - 1) / 2  # columns are centred on y = 0
        ax.set_ylim(-half - 0.6, half + 0.6)
        ax.set_axis_off()
        ax.set_title(self.title)
        handles = [Line2D([], [], color=POSITIVE, lw=2, label="weight > 0"),
                   Line2D([], [], color=NEGATIVE, lw=2, label="weight < 0")]
        if bias_values:
            handles.append(Line2D([], [], marker="o", linestyle="none", markerfacecolor="#f4a582",
                                  markeredgecolor="black", label="fill: bias"))
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles),
                  frameon=False, fontsize="x-small", handlelength=1.2, columnspacing=1.0)
        no_bias = [np.full(w.shape[2], np.nan) for w in weights]

        def update(i):
            w = np.concatenate([w[i].ravel() for w in weights])
            edges.set_color(np.where((w >= 0)[:, None], positive, negative))  # RGBA rows
            edges.set_linewidth(0.3 + self.max_width * np.abs(w) / scale)
            neurons.set_array(np.concatenate([b[i] if b is not None else nb for b, nb in zip(biases, no_bias)]))
            return [edges, neurons]
        return update

    @staticmethod
    def _column(k: int, n: int, layers: int) -> list[tuple[float, float]]:
        top = (n - 1) / 2
        return [(float(k), top - i) for i in range(n)]

    @staticmethod
    def _marker_size(sizes: list[int]) -> float:
        return float(np.clip(900 / max(sizes) ** 1.2, 30, 260))

    @staticmethod
    def _label_column(ax, positions, names, side: str) -> None:
        offset = -0.18 if side == "right" else 0.18
        for (x, y), name in zip(positions, names):
            ax.text(x + offset, y, name, ha=side, va="center", fontsize="small")
