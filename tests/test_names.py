"""One name per parameter, unit and input across every view: the diagram, the parameter panel, the chain rule,
the explain figure's names, the unit maps and the player's data all name the same thing alike."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from matplotlib.figure import Figure

from test_player import _mp4
from visualizer import load_scene, train
from visualizer.draw.panels import NetworkDiagramPanel
from visualizer.draw.panels.diagram import edge_name_spots, column_positions, strongest, wide_blocks
from visualizer.draw.text import FrameText
from visualizer.outputs.player import write_player
from visualizer.record.backprop import node_names
from visualizer.record.history import RunInfo
from visualizer.record.names import all_param_names, input_names, param_name, unit_names
from visualizer.record.probes import LayerInfo

GENDER = {"w1", "w2", "w3", "w4", "w5", "w6", "b1", "b2", "b3"}


def _drawn(panel, history, row: int = -1, size=(4, 3)):
    """(the axes, the texts of every FrameText the panel shows at ``row``) after drawing ``panel``."""
    ax = Figure(figsize=size, dpi=50).add_subplot()
    update = panel.draw(ax, history)
    artists = update(len(history) + row if row < 0 else row)
    return ax, [a.get_text() for a in artists if isinstance(a, FrameText) and a.get_text()]


def _player_names(history, tmp_path) -> list[str]:
    """The names the player's table shows, read back from the page's data island."""
    video = _mp4(tmp_path / "v.mp4", [int(history.steps[0])])
    path = write_player(tmp_path / "p.html", video=video, title="t", fps=10, frame_steps=[int(history.steps[0])],
                        table_steps=history.steps, losses=history.losses, params=history.params,
                        grads=history.grads, total_steps=history.total_steps, names=all_param_names(history))
    island = re.search(r'<script type="application/json" id="player-data">(.*?)</script>', path.read_text(), re.S)
    return [name for p in json.loads(island.group(1))["params"] for name in p["names"]]


@pytest.fixture(scope="module")
def gender():
    scene = load_scene("gender")
    return scene, train(scene, steps=8, layout="why")


def test_the_scheme_names_layers_units_inputs_and_a_transposed_weight():
    layers = [LayerInfo("0", 2, 3, "tanh", "0.weight", "0.bias", transposed=True),
              LayerInfo("2", 3, 3, "tanh", "2.weight", "2.bias", transposed=True),
              LayerInfo("4", 3, 1, "identity", "4.weight", None, transposed=True)]
    info = RunInfo(layers=layers, input_names=["age"], param_names={"2.bias[1]": "β"})
    # Stored as (outputs, inputs), as torch.nn.Linear keeps it: [2, 1] is from input 2 to unit 3.
    assert param_name(info, "0.weight", (2, 1)) == "w1[2,3]"
    assert param_name(info, "4.weight", (0, 2)) == "w3[3,1]"
    assert param_name(info, "0.bias", (2,)) == "b1[3]"
    assert param_name(info, "2.bias", (1,)) == "β"  # the scene's own name wins
    assert param_name(info, "norm.weight", (3,)) == "norm.weight[3]"  # outside the dense layers: as stored
    assert input_names(info) == ["age", "x2"]
    assert unit_names(layers) == {"0": ["h1.1", "h1.2", "h1.3"], "2": ["h2.1", "h2.2", "h2.3"], "4": ["ŷ"]}
    # The chain rule's and the explain figure's names of the units are the diagram's.
    inputs, units = node_names(layers, None, info.input_names)
    assert inputs == ["age", "x2"] and [post for _, post in units["2"]] == unit_names(layers)["2"]
    assert [post for _, post in units["4"]] == unit_names(layers)["4"]


def test_gender_names_the_same_nine_parameters_in_every_view(gender, tmp_path):
    scene, history = gender
    _, diagram = _drawn(scene.layout.panels["net"], history)
    # Its w1…w6 on the edges, h1 and h2 on the neurons, b1…b3 beside them with their values.
    assert {"w1", "w2", "w3", "w4", "w5", "w6", "h1", "h2"} <= set(diagram)
    assert {t.split()[0] for t in diagram if " " in t} == {"b1", "b2", "b3"}
    # The backward-pass diagram of the why layout names the same edges.
    # (on a taller panel: its legend under the diagram is a line longer)
    _, backward = _drawn(scene.layout_named("why").panels["net"], history, size=(4, 3.5))
    assert {"w1", "w2", "w3", "w4", "w5", "w6", "h1", "h2"} <= set(backward)
    # On axes too small to write them apart, the edges go unnamed; the neurons keep their names, as one heading
    # over their column where a name and a bias would not fit between two neurons.
    _, small = _drawn(scene.layout.panels["net"], history, size=(0.6, 0.45))
    assert not {"w1", "w5"} & set(small) and "h1–h2" in small
    ax, _ = _drawn(scene.layout.panels["params"], history)
    assert [t.get_text() for t in ax.get_legend().texts] == ["w1", "w2", "w3", "w4", "b1", "b2", "w5", "w6", "b3"]
    ax, _ = _drawn(scene.layout_named("why").panels["chain"], history)
    assert ax.get_title().endswith("∂MSE/∂w1")
    assert set(_player_names(history, tmp_path)) == GENDER
    # The weight named w3 on the diagram is the one the scene calls w3: hidden.weight[0, 1], input 1 to h2.
    assert param_name(history.info, "hidden.weight", (0, 1)) == "w3"


def test_a_pytorch_history_gets_generated_names_alike_in_the_diagram_and_the_player(tmp_path):
    torch = pytest.importorskip("torch")
    from visualizer.torch import TorchRecorder

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sigmoid(), torch.nn.Linear(2, 1)).double()
    x = torch.tensor(np.random.default_rng(0).normal(size=(6, 2)))
    rec = TorchRecorder(module, x=x.numpy(), y=np.zeros((6, 1)), input_names=["u", "v"])
    for step in range(3):
        module.zero_grad()
        loss = (module(x) ** 2).mean()
        loss.backward()
        rec.log(step, loss)
    history = rec.history()
    ax, diagram = _drawn(NetworkDiagramPanel(), history, size=(8, 6))
    weights = {"w1[1,1]", "w1[1,2]", "w1[2,1]", "w1[2,2]", "w2[1,1]", "w2[2,1]"}
    assert weights | {"h1", "h2"} <= set(diagram)
    assert {t.split()[0] for t in diagram if " " in t} == {"b1[1]", "b1[2]", "b2[1]"}
    assert {t.get_text() for t in ax.texts} >= {"u", "v", "ŷ"}  # inputs from the run, the output as the chain rule
    assert set(_player_names(history, tmp_path)) == weights | {"b1[1]", "b1[2]", "b2[1]"}
    # torch stores 0.weight as (outputs, inputs): [1, 0] is from input 1 to unit 2.
    assert all_param_names(history)["0.weight"] == ["w1[1,1]", "w1[2,1]", "w1[1,2]", "w1[2,2]"]


def test_names_go_on_edges_only_where_they_sit_apart():
    spots = edge_name_spots(column_positions([2, 2, 1]))
    assert len(spots) == 6
    ys = sorted(y for e, (x, y) in spots.items() if e < 4)
    assert min(np.diff(ys)) >= 0.22
    assert edge_name_spots(column_positions([3, 4, 1])).keys() == set(range(12, 16))  # 12 edges: too many


def test_a_wide_block_keeps_its_strongest_edges_and_the_rest_are_grey():
    sizes = [2, 16, 16, 1]
    wide = wide_blocks(sizes)
    assert [(k, keep) for k, _, keep in wide] == [(1, 32)]  # only the 16×16 block: 256 weights
    values = np.random.default_rng(1).normal(size=(3, 32 + 256 + 16))
    shown = strongest(values, wide)
    assert shown[:, :32].all() and shown[:, -16:].all()
    block = wide[0][1]
    assert (shown[:, block].sum(axis=1) == 32).all()
    for row in range(3):
        kept = np.abs(values[row, block])[shown[row, block]]
        dropped = np.abs(values[row, block])[~shown[row, block]]
        assert kept.min() >= dropped.max()


def test_the_moons_diagram_changes_what_it_draws_as_it_trains():
    scene = load_scene("moons")
    history = train(scene, steps=30)
    ax = Figure(figsize=(4, 3), dpi=50).add_subplot()
    update = scene.layout.panels["net"].draw(ax, history)
    edges = ax.collections[0]

    def grey(row):
        update(row)
        return edges.get_colors()[:, 3] < 0.5  # left-out weights are faint hairlines

    start, end = grey(0), grey(len(history) - 1)
    assert start.sum() == end.sum() == 256 - 32
    assert (start != end).sum() >= 8  # the signal moves: other edges are drawn at the end
    assert "h1" in [t.get_text() for t in update(0) if isinstance(t, FrameText)]
    assert "the 32 largest |w|·mean|a| of 256" in " ".join(ax.get_legend().get_title().get_text().split())
