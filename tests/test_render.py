"""The renderer: frame size, fixed axes, and blitted frames equal to a full redraw."""
from __future__ import annotations

import imageio.v2 as iio
import matplotlib
import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from visualizer import Renderer, load_scene, render, train
from visualizer.run.pipeline import plan_chunks
from visualizer.draw.renderer import STYLE, TickLabels, plain_tick_labels


@pytest.fixture(scope="module")
def scene_and_history():
    scene = load_scene(ROOT / "scenes" / "softplus_fit.py")
    return scene, train(scene, steps=12)


@pytest.fixture(scope="module")
def renderer(scene_and_history):
    """One renderer of that history at 426x240, with the scene's title, for the tests that only draw with it."""
    scene, hist = scene_and_history
    return Renderer(scene.layout, hist, size=(426, 240), title=scene.title)


@pytest.fixture(scope="module")
def drawn():
    """The two-panel test scene trained for 47 and for 49 steps, each with a renderer at 160x90 (the smallest
    frame): steps -> (history, renderer). (What these tests check does not depend on the panels.)"""
    scene = load_scene(ROOT / "tests" / "data" / "tiny_fit.py")
    made = {}

    def get(steps):
        if steps not in made:
            history = train(scene, steps=steps)
            made[steps] = history, Renderer(scene.layout, history, size=(160, 90), title=scene.title)
        return made[steps]
    return scene, get


def test_tick_numbers_are_plain_text_and_the_scale_label_stays_mathtext(renderer):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(4, 3))
        FigureCanvasAgg(figure)
        ax = figure.subplots()
        ax.plot([0, 1, 2], [0, 2e-4, -3e-4])
        plain_tick_labels(figure)
        figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "−2" in labels and "0" in labels and not any("$" in label for label in labels), labels
    assert ax.yaxis.get_offset_text().get_text() == "$\\times\\mathdefault{10^{−4}}\\mathdefault{}$"
    assert all(type(axis.get_major_formatter()) is TickLabels for ax in renderer.figure.axes
               for axis in (ax.xaxis, ax.yaxis)
               if not isinstance(axis.get_major_formatter(), matplotlib.ticker.FuncFormatter))


def test_frames_have_the_requested_size_and_differ_between_steps(scene_and_history, renderer):
    _, hist = scene_and_history
    r = renderer
    first, last = r.draw(0), r.draw(len(hist) - 1)
    assert first.shape == (240, 426, 3) and first.dtype == np.uint8
    assert (first != last).any()
    np.testing.assert_array_equal(r.draw(0), first)  # nothing accumulates between frames


def test_axis_limits_are_fixed_for_the_whole_run(scene_and_history, renderer):
    _, hist = scene_and_history
    r = renderer
    before = {k: (ax.get_xlim(), ax.get_ylim()) for k, ax in r.axes.items()}
    for i in range(len(hist)):
        r.draw(i)
    assert {k: (ax.get_xlim(), ax.get_ylim()) for k, ax in r.axes.items()} == before
    # The limits cover every recorded value, not just the first frame's.
    lo, hi = r.axes["loss"].get_ylim()
    assert lo <= hist.loss.min() and hi >= hist.loss.max()
    lo, hi = r.axes["fit"].get_ylim()
    assert lo <= hist.extras["fit/prediction"].min() and hi >= hist.extras["fit/prediction"].max()


def test_blitted_frame_matches_a_full_redraw(renderer):
    r = renderer
    i = 7
    blitted = r.draw(i).astype(int)
    animated = r.figure.findobj(lambda a: a.get_animated())
    try:
        for artist in animated:
            artist.set_animated(False)
        with matplotlib.rc_context(STYLE):  # tick locators read the style at draw time
            r.canvas.draw()
        full = np.asarray(r.canvas.buffer_rgba())[..., :3].astype(int)
    finally:  # the module's renderer blits again for the tests after this one
        for artist in animated:
            artist.set_animated(True)
    np.testing.assert_array_equal(r.draw(i), blitted)
    # Draw order differs slightly (changing artists go last), so allow a few anti-aliased pixels to differ.
    differ = np.any(blitted != full, axis=2)
    assert differ.mean() < 0.002, f"{differ.mean():.4%} of pixels differ"


def test_chunks_are_contiguous_cover_every_frame_and_are_not_tiny():
    assert plan_chunks(601, 2) == [range(0, 300), range(300, 601)]
    assert plan_chunks(10, 8) == [range(0, 10)]  # too few frames to be worth a second worker
    chunks = plan_chunks(1000, 7)
    assert [i for c in chunks for i in c] == list(range(1000)) and len(chunks) == 7


def test_renderer_rejects_tiny_frames(scene_and_history):
    scene, hist = scene_and_history
    with pytest.raises(ValueError, match="too small"):
        Renderer(scene.layout, hist, size=(100, 50))


def test_parallel_render_gives_the_same_frames_as_one_process(tmp_path):
    """The same scene, seed and options, trained again and drawn by one worker, then by two: the same history
    and byte-identical frames. (That two workers give the same bytes each time, on every format, is
    test_robustness's test_the_same_history_rendered_twice_with_two_workers...) A two-panel scene: what the
    frames show is not the point, that both ways draw the same ones is."""
    scene = load_scene(ROOT / "tests" / "data" / "tiny_fit.py")
    results = {}
    for jobs in (1, 2):  # 48 frames: just enough for two chunks (MIN_CHUNK frames each)
        out = tmp_path / f"jobs{jobs}"
        results[jobs] = render(scene, out=out, steps=47, size=(160, 90), fps=10, jobs=jobs,
                               format="frames,mp4,gif", pace="steps")
    one, two = results[1], results[2]
    assert two.processes == 2
    assert one["history"].read_bytes() == two["history"].read_bytes()
    names = sorted(p.name for p in one["frames"].iterdir())
    assert len(names) == 48 and names == sorted(p.name for p in two["frames"].iterdir())
    for name in names:  # same pixels, same encoder settings: byte-identical PNGs
        assert (one["frames"] / name).read_bytes() == (two["frames"] / name).read_bytes(), name
    mp4 = {}
    for jobs, paths in results.items():
        reader = iio.get_reader(paths["mp4"], format="ffmpeg")
        mp4[jobs] = np.stack([frame for frame in reader])  # list() would ask len(): "infinite"
        reader.close()
    assert mp4[1].shape == mp4[2].shape == (48, 90, 160, 3)
    # Lossy and cut into two GOPs, so not bit-equal; but the same pictures in the same order.
    assert np.abs(mp4[1].astype(int) - mp4[2].astype(int)).mean() < 1.0
    gif1, gif2 = Image.open(one["gif"]), Image.open(two["gif"])
    assert gif1.n_frames == gif2.n_frames == 48
    # One palette from the same sample, and ordered dithering: the two GIFs show the same pixels.
    for k in (0, 23, 24, 47):  # either side of where the second chunk starts
        gif1.seek(k)
        gif2.seek(k)
        np.testing.assert_array_equal(np.asarray(gif1.convert("RGB")), np.asarray(gif2.convert("RGB")))
    assert not any(p.name.startswith(".") for p in (tmp_path / "jobs2" / "tiny_fit").iterdir())


@pytest.mark.parametrize("jobs", [1, 2])
def test_gif_starts_and_ends_with_the_first_and_last_recorded_step(tmp_path, drawn, jobs):
    scene, get = drawn
    hist, renderer = get(49)  # 50 frames at 30 fps: the GIF (15 fps) keeps every other one, and the last
    paths = render(scene, hist, out=tmp_path, size=(160, 90), format="gif", jobs=jobs, pace="steps")
    gif = Image.open(paths["gif"])
    assert (gif.n_frames, gif.size) == (26, (160, 90))
    for k, row in ((0, 0), (gif.n_frames - 1, len(hist) - 1)):
        gif.seek(k)
        shown = np.asarray(gif.convert("RGB")).astype(int)
        assert np.abs(shown - renderer.draw(row)).mean() < 2, k  # 256 colours, dithered
        assert np.abs(shown - renderer.draw(25)).mean() > np.abs(shown - renderer.draw(row)).mean()



@pytest.mark.parametrize("jobs, max_frames", [(2, None), (1, 10)])
def test_poster_and_contact_sheet_kept_by_the_chunks_equal_the_frames_drawn_again(tmp_path, drawn, jobs,
                                                                                   max_frames):
    # The chunks keep the poster and the sheet's thumbnails as they draw (with explain frames among the rows,
    # which the sheet leaves out, and with max_frames an explained step the selection skipped, drawn as a row
    # of its own); drawing the selected rows again gives the same pictures.
    from visualizer.run.render import select_rows
    from visualizer.outputs.pixels import sample_positions
    from visualizer.outputs.stills import SHEET_FRAMES, compose_sheet, thumbnail, thumbnail_size

    scene, get = drawn
    history, renderer = get(47)
    written = render(scene, history, explain=[15], format="mp4", size=(160, 90), fps=2, jobs=jobs, out=tmp_path,
                     max_frames=max_frames, pace="steps")
    assert written.processes == jobs
    rows = select_rows(history, max_frames=max_frames, pace="steps")
    assert (15 in rows) == (max_frames is None)
    size = thumbnail_size(renderer.size)
    again = compose_sheet([(int(history.steps[row]), thumbnail(renderer.draw(row), size))
                           for row in sample_positions(rows, SHEET_FRAMES)], tmp_path / "again.png")
    np.testing.assert_array_equal(np.asarray(Image.open(written["contact_sheet"])), np.asarray(Image.open(again)))
    np.testing.assert_array_equal(np.asarray(Image.open(written["poster"])), renderer.draw(len(history) - 1))


def test_a_poster_alone_is_drawn_here_not_sent_to_an_executor(tmp_path):
    from concurrent.futures import Executor

    class Refuses(Executor):
        def submit(self, fn, /, *args, **kwargs):
            raise AssertionError("a poster alone went to the executor")

    written = render(load_scene("softplus_fit"), steps=3, last_frame=True, size=(160, 90), out=tmp_path,
                     executor=Refuses())
    assert set(written) == {"history", "poster"}
