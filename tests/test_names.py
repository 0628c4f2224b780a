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
from visualizer.draw.panels.diagram import MAX_SHOWN_UNITS, column_positions, columns, edge_name_spots
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


def test_the_explain_notes_name_the_largest_moves_as_every_other_view_does(gender):
    from visualizer.draw.explain import ExplainFrame, explain_analysis
    from visualizer.draw.panels.explain import ExplainNotesPanel, explained_steps

    scene, history = gender
    step = int(history.steps[2])
    history.static.update(explain_analysis(history, [step], loss=scene.loss))
    ax = Figure(figsize=(6, 10), dpi=40).add_subplot()  # room for every line of the caption
    update = ExplainNotesPanel([step]).draw(ax, history)
    plan = next(iter(explained_steps(history, [step]).values())).plan
    last = next(k for k in range(len(plan)) if plan[k].kind == "update")
    body = "\n".join(t.get_text() for t in update(ExplainFrame(2, last, 1.0, 0)) if hasattr(t, "get_text"))
    moves = body.split("the largest moves:")[1].strip().splitlines()
    named = {line.split(":")[0] for line in moves}
    assert len(moves) == 4 and named <= GENDER, moves  # the scene's w1…b3, not hidden.weight[0,1]


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


@pytest.fixture(scope="module")
def moons_drawn():
    """The moons diagram (2-16-16-1) drawn small from a short run: (history, axes, update)."""
    scene = load_scene("moons")
    history = train(scene, steps=30)
    ax = Figure(figsize=(8, 6), dpi=30).add_subplot()  # tall enough for a summary of MAX_SHOWN_UNITS
    update = scene.layout.panels["net"].draw(ax, history)
    return history, ax, update


def _shown_per_column(ax) -> int:
    """How many units of each 16-unit column the moons diagram draws, counted from its units' scatter (the
    shown units of h1 and h2, and the output)."""
    count = len(ax.collections[2].get_offsets())
    assert count % 2 == 1
    return (count - 1) // 2


def test_a_wide_column_draws_a_summary_of_its_units_and_says_how_many_are_hidden(moons_drawn):
    history, ax, update = moons_drawn
    k = _shown_per_column(ax)
    assert 4 <= k <= MAX_SHOWN_UNITS < 16
    texts = [t.get_text() for t in update(len(history) - 1) if isinstance(t, FrameText)]
    assert texts.count(f"⋮ {16 - k} more") == 2  # one mark in each 16-unit column
    edges = ax.collections[0].get_segments()
    assert len(edges) == 2 * k + k * k + k  # among the shown units only
    legend = " ".join(ax.get_legend().get_title().get_text().split())
    assert f"{k} of 16 units a column drawn, those that changed most" in legend


def test_a_summary_shows_the_units_that_changed_most_under_their_own_numbers(moons_drawn):
    history, ax, update = moons_drawn
    k = _shown_per_column(ax)
    view = columns(history, k)
    layers = history.info.layers
    w = [history.layer_weight(lay) for lay in layers]
    b = history.params[layers[0].bias]
    moved = ((w[0][-1] - w[0][0]) ** 2).sum(axis=0) + (b[-1] - b[0]) ** 2 + ((w[1][-1] - w[1][0]) ** 2).sum(axis=1)
    assert moved[view.shown[1]].min() >= np.delete(moved, view.shown[1]).max()  # h1's units that moved most
    assert list(view.shown[1]) == sorted(view.shown[1]) and len(view.shown[1]) == k
    # each shown unit is numbered with its own index, h1's 1-based names as in every view (unit_names), and
    # drawn where its number is
    artists = [t for t in update(0) if isinstance(t, FrameText)]
    names = unit_names(layers)[layers[0].name]
    for u, (x, y) in zip(view.shown[1], view.pos[1]):
        number = names[u].rpartition(".")[2]
        assert any(t.get_text() == number and t._xy == (x, y) for t in artists), (number, x, y)
    assert "h1" in [t.get_text() for t in artists]
    # the edges drawn from the shown h1 units to h2 carry exactly those weights: thicker where |w| is larger
    update(len(history) - 1)
    widths = np.asarray(ax.collections[0].get_linewidths())
    block = np.abs(w[1][-1][view.shown[1]][:, view.shown[2]].ravel())
    drawn = widths[2 * k:2 * k + block.size]
    assert np.all(np.diff(drawn[np.argsort(block)]) >= -1e-9) and np.ptp(drawn) > 0


def test_names_given_for_fewer_inputs_than_the_network_has_leave_the_rest_generated():
    from visualizer import MLP, SGD, Layout, Renderer, Scene

    x = np.random.default_rng(0).normal(size=(20, 2))
    panel = NetworkDiagramPanel(input_names=["age"])
    scene = Scene(name="short", network=MLP((2, 3, 1), "tanh"), x=x, y=x[:, :1] * x[:, 1:], loss="mse",
                  optimizer=SGD(0.1), steps=2, layout=Layout([["net"]], {"net": panel}))
    renderer = Renderer(scene.layout, train(scene), size=(480, 270))
    assert {"age", "x2", "ŷ"} <= {t.get_text() for t in renderer.axes["net"].texts}
