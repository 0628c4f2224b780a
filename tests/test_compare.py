"""Comparisons: several runs of one scene in one video, trained on a process pool or a real Dask cluster."""
from __future__ import annotations

import os
import textwrap

import imageio.v2 as iio
import numpy as np
import pytest

from visualizer import History, load_scene, render, train
from visualizer.run.compare import compare, join_histories, label, parse_vary, run_history, split_values
from visualizer.run.render import select_rows
from visualizer.base.errors import VisualizerError

TINY = '''
"""A tiny fit for comparisons."""
import os, signal
import numpy as np
from visualizer import SGD, Dense, FitPanel, Layout, LossPanel, Network, Scene

X = np.linspace(0, 1, 8)
Y = np.sin(3 * X)


def network(seed):
    if seed == 13 and os.environ.get("VISUALIZER_TEST_KILL") == "1":
        os.kill(os.getpid(), signal.SIGKILL)  # a worker that dies in the middle of its task
    rng = np.random.default_rng(seed)
    return Network([Dense(1, 3, "tanh", name="hidden", rng=rng), Dense(3, 1, name="output", rng=rng)])


scene = Scene(name="tiny_fit", network=network, x=X, y=Y, loss="mse", optimizer=SGD(0.2), steps=30, seed=0,
              layout=Layout([["fit", "loss"]], {"fit": FitPanel(), "loss": LossPanel()}), title="tiny fit")
'''


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny_fit.py"
    path.write_text(textwrap.dedent(TINY))
    return load_scene(path)


def _frames(path):
    return sum(1 for _ in iio.get_reader(path))


def test_vary_specs_are_parsed_and_checked():
    assert split_values("sgd,momentum,adam:lr=0.01,betas=0.9/0.99") == ["sgd", "momentum",
                                                                         "adam:lr=0.01,betas=0.9/0.99"]
    vary = parse_vary(["optimizer=sgd,adam:lr=0.01", "seed=0,1"])
    assert vary == {"optimizer": ["sgd", "adam:lr=0.01"], "seed": [0, 1]}
    assert label({"optimizer": "adam:lr=0.01", "seed": 1}) == "adam lr=0.01, seed=1"
    for bad, message in [(["colour=red,blue"], "cannot vary 'colour'"), (["lr=0.1,fast"], "cannot read 'fast'"),
                         (["lr"], "SETTING=VALUE"), (["seed=1"], "at least two runs"),
                         (["seed=0,1,2,3,4", "lr=0.1,0.2,0.3,0.4"], "20 runs is too many"),
                         (["seed=1,1"], "given twice")]:
        with pytest.raises(VisualizerError, match=message):
            parse_vary(bad)


def test_bad_compare_input_is_one_line(cli, tmp_path):
    for args, message in [(["--vary", "optimizer=sgd,nadam"], "unknown optimizer 'nadam'"),
                          (["--vary", "seed=0,1,2,3,4", "--vary", "lr=1,2,3,4"], "at most 16"),
                          (["--vary", "lr=0.1,0.2", "--scheduler", "tcp://127.0.0.1:9"], "cannot reach"),
                          (["--vary", "lr=0.1,0.2", "--explain", "2"], "render the scene with it, not a comparison")]:
        code, _, err = cli("compare", "softplus_fit", *args, "--out", str(tmp_path / "o"))
        assert code == 2 and err.count("\n") == 1 and message in err, err
        assert not (tmp_path / "o").exists()


def test_three_runs_in_one_video_equal_single_runs(tiny, tmp_path):
    result = compare(tiny, {"optimizer": ["sgd", "momentum", "adam:lr=0.05"]}, out=tmp_path, format="mp4",
                     size=(480, 270))
    folder = tmp_path / "tiny_fit-compare-optimizer"
    joined = History.load(result["history"])
    # All 31 recorded steps, of which the frames paced by the runs' change (the default pace) are drawn.
    assert len(joined) == 31 and 2 < len(select_rows(joined)) < 31
    assert result["mp4"] == folder / "tiny_fit-compare-optimizer.mp4"
    assert _frames(result["mp4"]) == len(select_rows(joined))
    assert joined.info.runs == ["sgd lr=0.2", "momentum lr=0.2", "adam lr=0.05"]  # each run's learning rate said
    from visualizer import Renderer
    from visualizer.draw.panels.compare import comparison_layout

    frame = Renderer(comparison_layout(tiny.layout, joined, 3), joined, size=(480, 270))
    assert [t.get_text() for t in frame.axes["loss"].get_legend().get_texts()] == joined.info.runs
    assert joined.static["compare-landscape/pca/paths"].shape == (3, 31, 2)  # the landscape of all three
    import dataclasses

    from visualizer.engine.optim import get_optimizer

    for k, spec in enumerate(["sgd", "momentum", "adam:lr=0.05"]):
        single = train(dataclasses.replace(tiny, optimizer=get_optimizer(spec, lr=0.2)))
        saved = History.load(result[f"run{k}"])
        mine = run_history(joined, k)
        for h in (saved, mine):
            np.testing.assert_array_equal(h.loss, single.loss)
            for name in single.params:
                np.testing.assert_array_equal(h.params[name], single.params[name])


def test_a_diverged_run_is_drawn_up_to_where_it_stopped(tiny):
    a = train(tiny)
    b = train(tiny, steps=10)
    joined = join_histories([a, b], ["a", "b"])
    assert np.isnan(joined.losses["run1/train"][-1]) and np.isfinite(joined.losses["run1/train"][:11]).all()


def test_a_killed_worker_is_one_clear_error_and_writes_nothing(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("VISUALIZER_TEST_KILL", "1")
    with pytest.raises(VisualizerError, match="stopped unexpectedly"):
        compare(tiny, {"seed": [0, 13]}, out=tmp_path, format="mp4", size=(320, 180))
    assert not (tmp_path / "tiny_fit-compare-seed").exists()


def test_a_real_dask_cluster_gives_the_same_outputs_as_local_processes(tiny, tmp_path):
    distributed = pytest.importorskip("distributed")
    # 48 frames evenly in steps: two chunks (the fewest for two), drawn by forked processes here and by the
    # cluster's workers there, then joined.
    options = dict(format="mp4,gif,frames", size=(160, 90), jobs=2, steps=47, pace="steps")
    local = compare(tiny, {"lr": [0.1, 0.3]}, out=tmp_path / "local", **options)
    assert local.processes == 2 and os.getpid() not in {pid for _, pid in local.drawn_by}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0") as cluster:
        # The runs train on the cluster, and the comparison's chunks are drawn by its workers.
        remote = compare(tiny, {"lr": [0.1, 0.3]}, executor=cluster.scheduler_address, out=tmp_path / "dask",
                         **options)
        workers = {(w.host, w.pid) for w in cluster.scheduler.workers.values()}
    # Which of the two workers takes which chunk is the scheduler's choice (under load one may take both);
    # every chunk was drawn by one of them, none here.
    pids = {pid for _, pid in workers}
    assert remote.drawn_by and {pid for _, pid in remote.drawn_by} <= pids and os.getpid() not in pids
    assert remote.processes == len(remote.drawn_by) and {host for host, _ in workers} == {"127.0.0.1"}
    assert len(History.load(remote["history"])) == 48
    for kind in local:
        if local[kind].is_dir():  # the PNG frames, a comparison's runs
            names = sorted(p.name for p in local[kind].iterdir())
            assert names == sorted(p.name for p in remote[kind].iterdir()) and names
            assert all((local[kind] / n).read_bytes() == (remote[kind] / n).read_bytes() for n in names)
        else:
            assert local[kind].read_bytes() == remote[kind].read_bytes(), kind
    assert len(list(local["frames"].iterdir())) == 48


BLOCK_VISUALIZER = """
import sys


class NoVisualizer:
    def find_spec(self, name, path=None, target=None):
        if name == "visualizer" or name.startswith("visualizer."):
            raise ModuleNotFoundError("No module named 'visualizer'")
        return None


sys.meta_path.insert(0, NoVisualizer())
"""


def test_a_cluster_whose_workers_lack_the_package_is_one_clear_error(tiny, tmp_path, cli):
    distributed = pytest.importorskip("distributed")
    blocker = tmp_path / "no_visualizer.py"
    blocker.write_text(BLOCK_VISUALIZER)  # loaded by each worker at start: as if visualizer were not installed
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0", preload=[str(blocker)]) as cluster:
        for command in (["render", "softplus_fit"], ["compare", "softplus_fit", "--vary", "seed=0,1"]):
            code, _, err = cli(*command, "--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "o"))
            assert code == 2 and err.count("\n") == 1, err
            assert "lack the visualizer package" in err and "install backprop-visualizer there" in err, err
    assert not (tmp_path / "o").exists()


LINE = '''
"""Two parameters, w and b: the PCA plane of any set of paths is the whole parameter space."""
import numpy as np
from visualizer import SGD, Dense, FitPanel, Layout, LossLandscapePanel, LossPanel, Network, Scene


def network(seed):
    return Network([Dense(1, 1, "sigmoid", name="only", weight=[[-1.5]], bias_init=[2.0])])


X = np.linspace(-2, 2, 9)
PLANE = {"pca": None, "named": (("only.weight", (0, 0)), ("only.bias", (0,)))}["{plane}"]
scene = Scene(name="line", network=network, x=X, y=(X > 0.3).astype(float), loss="mse", optimizer=SGD(1.0),
              steps=20, layout=Layout([["fit", "loss"]], {"fit": FitPanel(), "loss": LossPanel()}),
              layouts={"why": Layout([["land"]], {"land": LossLandscapePanel(params=PLANE)})})
'''


@pytest.mark.parametrize("plane", ["pca", "named"])
def test_the_comparison_shows_every_run_on_one_landscape_that_agrees_with_their_losses(tmp_path, plane):
    path = tmp_path / "line.py"
    path.write_text(LINE.replace("{plane}", plane))
    result = compare(load_scene(path), {"lr": [1, 3, 6]}, out=tmp_path, format="mp4", size=(480, 270))
    assert _frames(result["mp4"]) == 21
    joined = History.load(result["history"])
    key = "compare-landscape/pca" if plane == "pca" else \
        "compare-landscape/only.weight[0,0]~only.bias[0]@last"
    paths, losses = joined.static[f"{key}/paths"], joined.static[f"{key}/path_losses"]
    assert paths.shape == (3, 21, 2) and joined.static[f"{key}/loss"].shape == (60, 60)
    for k in range(3):
        run = run_history(joined, k)
        # The plane holds every path whole: the landscape's loss on each path is the run's recorded loss.
        np.testing.assert_allclose(losses[k], run.loss, rtol=1e-10, atol=1e-14)
        if plane == "named":  # the coordinates are the two parameters themselves
            np.testing.assert_allclose(paths[k][:, 0], run.params["only.weight"][:, 0, 0])
            np.testing.assert_allclose(paths[k][:, 1], run.params["only.bias"][:, 0])
    assert len({tuple(p[-1]) for p in paths}) == 3  # three learning rates, three end points


def test_a_run_that_blows_up_leaves_the_shared_axes_instead_of_flattening_the_others():
    from visualizer.draw.panels.compare import calm_union

    assert calm_union(np.array([[0.0, 3.0], [-0.5, 2.5], [-400.0, 900.0]])) == (-0.5, 3.0)
    assert calm_union(np.array([[0.0, 3.0], [-1.0, 5.0]])) == (-1.0, 5.0)  # alike: the plain union


def test_the_users_error_in_one_run_is_their_traceback_and_nothing_is_written(tmp_path):
    from visualizer.base.errors import UserCodeError

    path = tmp_path / "tiny_fit.py"
    path.write_text(textwrap.dedent(TINY).replace("    rng = np.random.default_rng(seed)\n", "    if seed == 3:\n"
                                                  "        raise RuntimeError('no start from seed 3')\n"
                                                  "    rng = np.random.default_rng(seed)\n"))
    with pytest.raises(UserCodeError) as caught:  # raised in a training process, not in this one
        compare(load_scene(path), {"seed": [0, 3]}, out=tmp_path / "out", format="mp4", size=(320, 180))
    assert "tiny_fit.py" in str(caught.value) and "RuntimeError: no start from seed 3" in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_two_settings_lay_out_as_rows_by_columns_and_runs_sharing_one_stay_apart():
    from visualizer.draw.panels.compare import grid_shape, run_styles

    assert grid_shape(6, [3, 2]) == (3, 2) and grid_shape(6, [2, 3]) == (2, 3)  # not 4 + 2
    assert grid_shape(6, [6]) == (2, 3) and grid_shape(3, [3]) == (1, 3) and grid_shape(16, [16]) == (4, 4)
    styles = run_styles(6, [3, 2])
    assert len(set(styles)) == 6
    # Runs with the same optimizer share its colour; the learning rate gives style and marker.
    assert [s.color for s in styles[::2]] == [s.color for s in styles[1::2]]
    assert len({s.color for s in styles}) == 3 and {s.marker for s in styles[::2]} != {s.marker for s in styles[1::2]}
    assert len(set(run_styles(16, [16]))) == 16


def test_a_legend_goes_where_no_data_is_or_outside():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from visualizer.draw.panels.compare import _axes_points, place_legend

    fig = Figure(figsize=(4, 3), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    handles = [Line2D([], [], label=f"run {k}") for k in range(3)]
    # A falling curve covers the upper left and the lower right; the upper right is free.
    line = Line2D([0, 1], [1, 0], transform=ax.transData)
    legend = place_legend(ax, _axes_points(ax, [line]), handles=handles)
    assert legend.get_bbox_to_anchor().bounds == ax.bbox.bounds  # inside the axes
    fig.canvas.draw()
    box = legend.get_window_extent().transformed(ax.transAxes.inverted())
    assert box.x0 > 0.5 and box.y0 > 0.5  # the upper right
    ax.get_legend().remove()
    # Data everywhere: outside, at the right of the axes.
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 30), np.linspace(0, 1, 30)), -1).reshape(-1, 2)
    legend = place_legend(ax, grid, handles=handles)
    fig.canvas.draw()
    assert legend.get_window_extent().x0 > ax.get_window_extent().x1


def test_of_two_runs_a_diverged_one_does_not_set_the_shared_axes():
    from visualizer.draw.panels.compare import calm_union

    assert calm_union(np.array([[0.0, 3.0], [-400.0, 900.0]])) == (0.0, 3.0)


def test_the_runs_diagrams_share_one_width_scale():
    from visualizer.run.check import compared

    scene = load_scene("initialization")
    history, layout, _ = compared(scene, ["width=3,6"], steps=4)
    diagrams = [layout.panels[f"diagram{k}"].inner for k in range(2)]
    runs = [run_history(history, k) for k in range(2)]
    largest = [max(float(np.abs(run.layer_weight(lay)).max()) for lay in run.info.layers) for run in runs]
    assert largest[0] != largest[1]  # the runs' own largest weights differ; one scale draws them both
    assert diagrams[0].weight_scale == diagrams[1].weight_scale == pytest.approx(max(largest))


def test_a_spare_cell_of_the_grid_holds_the_runs_legend(tiny):
    from visualizer import Renderer
    from visualizer.draw.panels.compare import comparison_layout
    from visualizer.run.compare import varied

    labels = [f"seed={k}" for k in range(5)]
    history = join_histories([train(varied(tiny, {"seed": k}), steps=3) for k in range(5)], labels)
    layout = comparison_layout(tiny.layout, history, 5, shape=[5])
    assert layout.mosaic[0][0][1] == ["run3", "run4", "legend"]  # five runs: 2 x 3, the sixth cell spare
    renderer = Renderer(layout, history, size=(480, 270))
    renderer.draw(0)
    axes = renderer._sheet.axes
    texts = [t.get_text() for t in axes["legend"].get_legend().texts]
    assert texts[0] == "actual" and texts[-1] == "predicted"  # the fit panel's legend
    assert all(axes[f"run{k}"].get_legend() is None for k in range(5))  # none on the runs' data
    renderer.close()
