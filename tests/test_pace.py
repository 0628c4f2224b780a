"""Pacing: which recorded rows become frames (record/pace.py), and the record schedule that gives fast
learning enough rows to pick from (record/schedule.py, the trainer, the history-size check)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from visualizer import SGD, Dense, History, Network, Recorder, RunInfo, VisualizerError
from visualizer.engine.losses import get_loss
from visualizer.engine.training import Trainer
from visualizer.record.pace import parameter_path, path, scaled, select_rows, spread
from visualizer.record.schedule import RecordSchedule
from visualizer.run.options import HistoryTooLarge, check_history_size, recorded_rows


def _history(steps, every=1) -> History:
    """A run that moves fast early and then settles: w = 1 - exp(-step / 30), a tiny b falls as fast; c is
    constant."""
    steps = np.asarray(steps)
    w = 1 - np.exp(-steps / 30.0)
    params = {"w": np.stack([w, 2 * w], axis=1), "b": np.exp(-steps / 30.0)[:, None] * 1e-3,
              "c": np.full((len(steps), 1), 7.0)}
    return History(steps, {"train": np.exp(-steps / 50.0) + 0.01}, params,
                   info=RunInfo(every=every, total_steps=int(steps[-1])))


def _old_select_rows(history, every=None, max_frames=None):
    """The selection before pacing (0.4), as an oracle for --pace steps."""
    rows = np.arange(len(history))
    if every:
        keep = history.steps % every == 0
        keep[-1] = True
        rows = rows[keep]
    if max_frames and len(rows) > max_frames:
        rows = rows[np.unique(np.round(np.linspace(0, len(rows) - 1, max_frames)).astype(int))]
    return [int(r) for r in rows]


def test_scaled_columns_span_one_and_constant_ones_are_left_out():
    out = scaled(np.array([[1.0, 5.0, 3.0], [3.0, 5.0, 3.0 + 1e-15], [2.0, 5.0, 3.0]]))
    assert out.shape == (3, 1)
    np.testing.assert_allclose(out[:, 0], [0.0, 1.0, 0.5])


def test_the_path_grows_where_the_run_moves_and_a_tiny_bias_counts_like_a_large_weight():
    h = _history(np.arange(301))
    cum = path(h)
    assert cum[0] == 0 and np.all(np.diff(cum) >= 0)
    gaps = parameter_path(h)
    assert gaps[:30].sum() > gaps[200:].sum()  # fast early, slow late
    # The bias moves 1e-3 in all, one way: scaled by its range its path is 1 long, as each weight's.
    only_b = History(h.steps, h.losses, {"b": h.params["b"]}, info=h.info)
    assert parameter_path(only_b).sum() == pytest.approx(1.0)


@pytest.mark.parametrize("count", [2, 3, 10, 57, 300])
def test_spread_gives_exactly_count_increasing_indices_with_the_first_and_the_last(count):
    position = np.cumsum(np.r_[0, np.random.default_rng(count).exponential(size=299) ** 3])
    picks = spread(position, count)
    assert len(picks) == count and picks[0] == 0 and picks[-1] == 299
    assert np.all(np.diff(picks) > 0)


@pytest.mark.parametrize("pace", ["change", "log", "steps"])
@pytest.mark.parametrize("every, max_frames", [(None, None), (10, None), (None, 25), (7, 12)])
def test_selections_are_increasing_keep_the_ends_and_respect_the_counts(pace, every, max_frames):
    schedule = RecordSchedule.paced(5, 400)
    h = _history(schedule.steps(), every=5)
    rows = select_rows(h, pace=pace, every=every, max_frames=max_frames)
    grid = len(_old_select_rows(h, every or 5))
    assert rows[0] == 0 and rows[-1] == len(h) - 1 and np.all(np.diff(rows) > 0)
    assert len(rows) <= min(grid, max_frames or grid)
    if pace != "change":  # change may draw fewer where the record cannot space that many evenly
        assert len(rows) == min(grid, max_frames or grid)


def test_steps_pace_is_the_selection_before_pacing():
    plain = _history(np.arange(0, 401, 5), every=5)  # recorded on the grid only, as --pace steps records
    for every, max_frames in [(None, None), (10, None), (None, 9), (15, 4), (None, 2)]:
        assert select_rows(plain, pace="steps", every=every, max_frames=max_frames) == \
            _old_select_rows(plain, every, max_frames)
    # Drawn from a run that also recorded log-spaced steps, it draws the same steps as before.
    dense = _history(RecordSchedule.paced(5, 400).steps(), every=5)
    assert dense.steps[select_rows(dense, pace="steps")].tolist() == plain.steps.tolist()


def test_change_puts_the_frames_where_the_run_moves():
    h = _history(RecordSchedule.paced(5, 2000).steps(), every=5)
    steps = {pace: h.steps[select_rows(h, pace=pace)] for pace in ("steps", "change", "log")}
    early = {pace: np.mean(s <= 100) for pace, s in steps.items()}  # the run covers ~96 % of w's path by step 100
    assert early["steps"] < 0.1 < 0.4 < early["change"]
    assert early["log"] > 4 * early["steps"]
    # Evenly along the parameter path: no frame carries many times the mean.
    gaps = parameter_path(h.subset(select_rows(h, pace="change")))
    assert gaps.max() < 4 * gaps.mean()


@pytest.mark.parametrize("pace", ["change", "log", "steps"])
def test_kept_steps_are_drawn_in_place_of_a_frame(pace):
    h = _history(RecordSchedule.paced(5, 400).steps(), every=5)
    plain = select_rows(h, pace=pace, max_frames=20)
    keep = [303, 301, 17]  # 301 and 303 are not recorded: the nearest recorded steps (300, 305) are drawn
    rows = select_rows(h, pace=pace, max_frames=20, keep=keep)
    shown = h.steps[rows].tolist()
    assert {17, 300, 305} <= set(shown) and len(rows) == len(plain)
    assert rows[0] == 0 and rows[-1] == len(h) - 1 and np.all(np.diff(rows) > 0)


def test_an_unknown_pace_is_refused():
    with pytest.raises(ValueError, match="unknown pace 'fast'; use one of change, log, steps"):
        select_rows(_history(np.arange(10)), pace="fast")


@pytest.mark.parametrize("every, total, log", [(50, 10_000, 201), (1, 100, 101), (7, 1000, 10), (3, 10, 0)])
def test_a_schedule_says_which_steps_are_due_and_the_next_one(every, total, log):
    schedule = RecordSchedule(every, total, log)
    due = [s for s in range(total + 1) if schedule.due(s)]
    assert due == schedule.steps().tolist() and len(due) == schedule.rows()
    assert set(range(0, total + 1, every)) <= set(due) and total in due
    for s in range(total):
        assert schedule.next_due(s) == next(d for d in due if d > s)
    if log and every > 1:  # dense early: more recorded steps in the first tenth than the grid's
        assert sum(d <= total // 10 for d in due) > sum(d <= total // 10 for d in range(0, total + 1, every))


def test_a_recorder_keeps_the_scheduled_steps_and_allocates_for_them():
    schedule = RecordSchedule.paced(10, 300)
    recorder = Recorder(schedule=schedule, total_steps=300)
    assert recorder.rows_for(300) == schedule.rows() == len(schedule.steps())
    for step in range(301):
        recorder.log(step, {"w": np.array([step / 300])}, loss=1.0)
    h = recorder.history()
    assert h.steps.tolist() == schedule.steps().tolist() and h.info.every == 10
    assert len(h) > 31
    with pytest.raises(ValueError, match="schedule is for 300 steps"):
        Recorder(schedule=schedule, total_steps=200)


def test_the_history_size_check_counts_the_schedule_which_never_makes_a_run_too_large():
    values = 1000
    steps_rows, paced_rows = recorded_rows(100_000, 10), recorded_rows(100_000, 10, "change")
    assert paced_rows == RecordSchedule.paced(10, 100_000).rows() and steps_rows < paced_rows <= 2 * steps_rows
    roomy = 10 * paced_rows * values * 8
    assert check_history_size(100_000, 10, values, limit=roomy, pace="change") == paced_rows * values * 8
    # With room for the grid and 100 rows more, the log-spaced steps shrink to fit: no refusal.
    limit = (steps_rows + 100) * values * 8
    size = check_history_size(100_000, 10, values, limit=limit, pace="change")
    assert steps_rows * values * 8 < size <= limit
    assert size == recorded_rows(100_000, 10, "change", values, limit) * values * 8
    # Past the limit with the grid alone: refused as before pacing, with an interval that fits.
    with pytest.raises(HistoryTooLarge) as caught:
        check_history_size(100_000, 10, values, limit=steps_rows * values * 8 // 3, pace="change")
    hint = caught.value.every
    assert recorded_rows(100_000, hint) * values * 8 <= steps_rows * values * 8 // 3
    assert f"every={hint} fits" in str(caught.value)


def test_the_fused_kernel_with_a_schedule_gives_the_plain_loops_parameters_at_the_recorded_steps():
    x = np.linspace(-1, 1, 7)[:, None]
    y = np.sin(2 * x)
    schedule = RecordSchedule.paced(25, 200)
    seen = {}
    for fused in (False, True):
        rng = np.random.default_rng(4)
        net = Network([Dense(1, 4, "tanh", name="h", rng=rng), Dense(4, 1, name="o", rng=rng)])
        trainer = Trainer(net, x, y, get_loss("mse"), SGD(0.2), 200, batch_size=1, shuffle=True,
                          rng=np.random.default_rng(1), hook_due=schedule.next_due if fused else None)
        assert (trainer.plan() is not None) == fused
        steps = seen.setdefault(fused, {})
        trainer.add_hook("step", lambda s, steps=steps: steps.__setitem__(s.step, {k: v.copy() for k, v in
                                                                                    s.network.parameters().items()}))
        trainer.run()
    # The fused run stopped at every recorded step (and at the ends of its blocks of samples), not between.
    assert set(schedule.steps()[1:]) <= set(seen[True]) and len(seen[True]) < 200 // 2
    for step, params in seen[True].items():
        for name, value in params.items():
            np.testing.assert_allclose(value, seen[False][step][name], rtol=1e-10, atol=1e-12)


def test_a_cli_render_paced_in_log_steps_draws_log_spaced_steps(tmp_path, cli):
    code, _, err = cli("render", "gender", "--steps", "60", "--every", "6", "--pace", "log", "--size", "320x180",
                       "--format", "frames", "--out", str(tmp_path))
    assert code == 0, err
    folder = tmp_path / "gender"
    history = History.load(folder / "history.npz")
    shown = sorted(int(p.stem.split("_")[1]) for p in (folder / "frames").iterdir())
    assert shown == history.steps[select_rows(history, pace="log")].tolist()
    assert len(shown) == 11 and shown[0] == 0 and shown[-1] == 60
    assert sum(s < 12 for s in shown) > 2  # the grid of 6 has two frames below step 12
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["outputs"]["frames"]["options"]["pace"] == "log"
    code, _, err = cli("render", "gender", "--pace", "slow", "--out", str(tmp_path))
    assert code == 2 and "invalid choice: 'slow'" in err


def test_an_option_given_as_none_takes_its_default():
    """None means "not given": pace=None paces by change, as leaving it out does (it once read as a pace named
    None), and an option whose default is None stays None."""
    from visualizer.run.options import RenderOptions

    given = RenderOptions(pace=None, moment_hold=None, hold=None, fps=None).checked()
    default = RenderOptions().checked()
    assert (given.pace, given.moment_hold, given.hold, given.fps) == (default.pace, default.moment_hold,
                                                                        default.hold, default.fps)
    assert given.pace == "change" and given.fps is None
    with pytest.raises(VisualizerError, match="unknown pace 'fast'"):
        RenderOptions(pace="fast").checked()


def test_a_step_not_recorded_is_named_with_the_steps_a_paced_run_recorded():
    """The explain and landscape messages say which steps exist, the early log-spaced ones included."""
    from visualizer import load_scene, train
    from visualizer.draw.explain import explain_rows

    history = train(load_scene("xor"), steps=1000)
    extra = int(np.count_nonzero(history.steps % 50))
    assert extra > 0 and history.recorded() == f"0…1,000 every 50, and {extra} more between them"
    missing = next(s for s in range(1, 50) if s not in set(history.steps.tolist()))
    with pytest.raises(ValueError, match=rf"step {missing} was not recorded.*every 50, and {extra} more"):
        explain_rows(history, [missing])
    assert train(load_scene("xor"), steps=1000, pace="steps").recorded() == "0…1,000 every 50"
