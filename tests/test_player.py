"""The HTML player: built around a real H.264 MP4, then opened and driven in real headless Chromium.

The page's readout is compared with the arrays it was built from: at ``#step=N`` addresses, at the first and
last step, after arrow-key presses and for steps the player does not have. One browser serves the module.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from browser import Browser, find_chromium
from visualizer.outputs.mp4 import MP4Writer
from visualizer.outputs.player import write_player

FPS = 10
TABLE_STEPS = np.arange(0, 65, 5)  # recorded rows: steps 0, 5, …, 60
SHOWN = [0, 5, 10, 15, 20, 25, 30, 35, 40, 50, 60]  # 45 and 55 are recorded but have no frame
HELD = 2  # the last frame is held two more frames
TOTAL = 62


def _mp4(path: Path, steps: list[int], held: int = 0, size: tuple[int, int] = (64, 48)) -> Path:
    """A real H.264 MP4 with one solid-colour frame per step (plus ``held`` repeats of the last)."""
    with MP4Writer(path) as writer:
        writer.setup(size, FPS)
        for i, step in enumerate(steps):
            writer.write(np.full((size[1], size[0], 3), _grey(i), np.uint8), step)
        writer.hold(np.full((size[1], size[0], 3), 255, np.uint8), steps[-1], held)
    return path


def _table(rows: int, seed: int = 7) -> dict:
    """Losses, parameters and gradients as a recorder keeps them (row first), values of varied magnitude."""
    rng = np.random.default_rng(seed)
    shapes = {"hidden.weight": (1, 2), "hidden.bias": (2,), "output.weight": (2, 1)}
    params = {name: rng.normal(0, 3, (rows, *shape)) for name, shape in shapes.items()}
    grads = {name: rng.normal(0, 1, (rows, *shape)) * 10.0 ** rng.uniform(-7, 1, (rows, *shape))
             for name, shape in shapes.items()}
    losses = {"train": rng.uniform(0.01, 9, rows), "test": rng.uniform(1e-6, 1e-3, rows)}
    return {"losses": losses, "params": params, "grads": grads}


@pytest.fixture(scope="module")
def player(tmp_path_factory) -> dict:
    """A player for 11 shown steps of a 13-row table, with its arrays."""
    folder = tmp_path_factory.mktemp("player")
    video = _mp4(folder / "run.mp4", SHOWN, held=HELD)
    table = _table(len(TABLE_STEPS))
    frame_steps = SHOWN + [SHOWN[-1]] * HELD
    path = write_player(folder / "run.html", video=video, title="A tiny run", fps=FPS, frame_steps=frame_steps,
                        table_steps=TABLE_STEPS, total_steps=TOTAL, **table)
    return {"url": path.as_uri(), "path": path, **table}


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module, always killed at the end."""
    executable = find_chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("no chromium binary on PATH in CI; .ci/run installs the Debian package 'chromium'")
        pytest.skip("no chromium binary on PATH (Debian/Ubuntu: apt-get install chromium); the player's "
                    "browser tests need one")
    with Browser(executable) as chromium:
        yield chromium


READOUT = """({
  step: document.getElementById("step").textContent,
  losses: Array.from(document.querySelectorAll("#losses .value"), e => e.textContent),
  cells: Array.from(document.querySelectorAll("#groups td.v"), e => e.textContent),
  note: document.getElementById("note").hidden ? null : document.getElementById("note").textContent,
  hash: location.hash,
  title: document.title,
})"""


def _readout(browser: Browser) -> dict:
    return browser.evaluate(READOUT)


def _expect(readout: dict, player: dict, step: int) -> None:
    """The page shows ``step`` and, to 6 significant digits, the losses, values and gradients of its row."""
    row = int(np.flatnonzero(TABLE_STEPS == step)[0])
    assert readout["step"] == str(step)
    assert readout["hash"] == f"#step={step}"
    shown_losses = [float(text) for text in readout["losses"]]
    np.testing.assert_allclose(shown_losses, [v[row] for v in player["losses"].values()], rtol=1e-5)
    values = np.concatenate([p[row].ravel() for p in player["params"].values()])
    grads = np.concatenate([g[row].ravel() for g in player["grads"].values()])
    shown = np.array([float(text) for text in readout["cells"]]).reshape(-1, 2)
    np.testing.assert_allclose(shown[:, 0], values, rtol=1e-5)
    np.testing.assert_allclose(shown[:, 1], grads, rtol=1e-5)


@pytest.mark.parametrize("step", [SHOWN[0], 25, SHOWN[-1]])
def test_opens_at_the_step_in_the_address(browser, player, step):
    browser.open(f"{player['url']}#step={step}")
    readout = _readout(browser)
    _expect(readout, player, step)
    assert readout["note"] is None


def test_opens_at_the_first_step_without_an_address_step(browser, player):
    browser.open(player["url"])
    _expect(_readout(browser), player, SHOWN[0])


def test_arrow_keys_step_through_the_shown_steps(browser, player):
    browser.open(f"{player['url']}#step=40")
    browser.press("ArrowRight")
    _expect(_readout(browser), player, 50)  # 45 has no frame: the next shown step
    browser.press("ArrowRight")
    _expect(_readout(browser), player, 60)
    browser.press("ArrowRight")  # already at the last step
    _expect(_readout(browser), player, 60)
    for expected in (50, 40, 35):
        browser.press("ArrowLeft")
        _expect(_readout(browser), player, expected)
    browser.press("Home")
    _expect(_readout(browser), player, 0)
    browser.press("ArrowLeft")  # already at the first step
    _expect(_readout(browser), player, 0)


@pytest.mark.parametrize("asked, shown, says", [
    ("99999", 60, "outside this run"),
    ("-3", 0, "outside this run"),
    ("63", 60, "outside this run"),
    ("55", 50, "no frame"),  # recorded, but no frame shows it: the nearest shown step (ties go earlier)
    ("47", 50, "no frame"),
    ("12.5", 10, "no frame"),
    ("soon", 0, "not a step number"),
])
def test_a_step_the_player_lacks_is_clamped_with_a_note(browser, player, asked, shown, says):
    browser.open(f"{player['url']}#step={asked}")
    readout = _readout(browser)
    _expect(readout, player, shown)
    assert readout["note"] is not None and says in readout["note"] and f"step, {shown}." in readout["note"]
    browser.press("ArrowRight")  # stepping on is the user's own choice: the note goes
    assert _readout(browser)["note"] is None


def test_editing_the_address_moves_to_that_step(browser, player):
    browser.open(f"{player['url']}#step=10")
    browser.evaluate("location.hash = '#step=35'")  # a same-document navigation: no reload
    browser.wait_for("document.getElementById('step').textContent === '35'")
    _expect(_readout(browser), player, 35)


def _grey(frame: int) -> int:
    """The grey level ``_mp4`` gives video frame ``frame``."""
    return (37 * frame) % 256


SHOWN_FRAME = """(v => {
  if (v.error) return ["error"];
  if (v.seeking || v.readyState < 2) return null;
  const canvas = document.createElement("canvas");
  canvas.width = v.videoWidth; canvas.height = v.videoHeight;
  const paint = canvas.getContext("2d");
  paint.drawImage(v, 0, 0);
  return [paint.getImageData(canvas.width >> 1, canvas.height >> 1, 1, 1).data[0], v.currentTime];
})(document.getElementById("video"))"""


def test_every_step_shows_its_own_video_frame(browser, player):
    """The picture the video shows after each step is that step's frame (read back from a canvas)."""
    browser.open(f"{player['url']}#step=0")
    for frame, step in enumerate(SHOWN):
        if frame:
            browser.press("ArrowRight")
        grey = browser.wait_for(SHOWN_FRAME)
        if grey == ["error"]:
            pytest.skip("this Chromium cannot decode H.264; the readout tests cover the numbers")
        assert _readout(browser)["step"] == str(step)
        assert abs(grey[0] - _grey(frame)) <= 8, f"step {step}: grey {grey[0]}, frame {frame} has {_grey(frame)}"
        assert grey[1] == pytest.approx((frame + 0.5) / FPS)


def test_playing_runs_to_the_last_step_and_stops(browser, player):
    browser.open(f"{player['url']}#step=40")
    browser.press(" ")
    browser.wait_for("document.getElementById('play').getAttribute('aria-label') === 'Play' && "
                     "document.getElementById('step').textContent === '60'")
    _expect(_readout(browser), player, 60)


def test_without_a_decodable_video_the_controls_still_play_the_numbers(browser, player):
    browser.open(f"{player['url']}#step=40")
    # What a browser without H.264 reports; the page then steps through the numbers on a timer.
    browser.evaluate("document.getElementById('video').dispatchEvent(new Event('error'))")
    assert browser.evaluate("!document.getElementById('fallback').hidden")
    browser.press(" ")
    browser.wait_for("document.getElementById('play').getAttribute('aria-label') === 'Play' && "
                     "document.getElementById('step').textContent === '60'")
    _expect(_readout(browser), player, 60)


def test_the_speed_control_sets_the_playback_rate(browser, player):
    browser.open(player["url"])
    browser.evaluate("(s => { s.value = '4'; s.dispatchEvent(new Event('change')); })"
                     "(document.getElementById('speed'))")
    assert browser.evaluate("document.getElementById('video').playbackRate") == 4
    assert browser.evaluate("Array.from(document.getElementById('speed').options, o => Number(o.value))") == \
        [0.25, 0.5, 1, 1.5, 2, 4]


def test_the_title_and_names_cannot_break_out_of_the_page(browser, tmp_path):
    title = "</script><script>window.pwned = 1</script><!-- & \u2028 \"quoted\" 'single' @TITLE@ @DATA@ @SIZE@"
    name = "<img src=x onerror=\"window.pwned = 2\">.weight"
    rows = 3
    video = _mp4(tmp_path / "clip.mp4", [0, 1, 2])
    rng = np.random.default_rng(0)
    path = write_player(tmp_path / "clip.html", video=video, title=title, fps=FPS, frame_steps=[0, 1, 2],
                        table_steps=np.arange(rows), total_steps=2, losses={"</script>": rng.random(rows)},
                        params={name: rng.normal(size=(rows, 2))}, grads={name: rng.normal(size=(rows, 2))})
    assert "</script><script>window.pwned" not in path.read_text(encoding="utf-8")
    browser.open(f"{path.as_uri()}#step=1")
    assert browser.evaluate("window.pwned === undefined")
    assert browser.evaluate("document.title") == title
    assert browser.evaluate("document.getElementById('title').textContent") == title
    assert browser.evaluate("document.querySelector('#groups summary').firstChild.textContent") == name
    assert browser.evaluate("document.querySelector('#losses .label').textContent") == "</script>"
    assert _readout(browser)["step"] == "1"


def test_non_finite_numbers_are_shown_as_such(browser, tmp_path):
    video = _mp4(tmp_path / "clip.mp4", [0, 1])
    path = write_player(tmp_path / "diverged.html", video=video, title="diverged", fps=FPS, frame_steps=[0, 1],
                        table_steps=np.arange(2), total_steps=1, losses={"loss": np.array([1.0, np.nan])},
                        params={"w": np.array([[1.0, -np.inf], [np.inf, 0.0]])},
                        grads={"w": np.array([[np.nan, 2.0], [0.5, -0.25]])})
    browser.open(f"{path.as_uri()}#step=0")
    assert _readout(browser)["losses"] == ["1.00000"]
    assert _readout(browser)["cells"] == ["1.00000", "NaN", "-inf", "2.00000"]
    browser.press("ArrowRight")
    assert _readout(browser)["losses"] == ["NaN"]
    assert _readout(browser)["cells"] == ["inf", "0.500000", "0", "-0.250000"]


def test_a_parameter_without_gradients_shows_dashes(browser, tmp_path):
    video = _mp4(tmp_path / "clip.mp4", [0])
    path = write_player(tmp_path / "nograd.html", video=video, title="t", fps=FPS, frame_steps=[0],
                        table_steps=np.arange(1), total_steps=0, losses={"loss": np.ones(1)},
                        params={"a": np.full((1, 2), 2.0), "b": np.full((1, 1), 3.0)},
                        grads={"b": np.full((1, 1), 0.5)})
    browser.open(path.as_uri())
    assert _readout(browser)["cells"] == ["2.00000", "—", "2.00000", "—", "3.00000", "0.500000"]


def test_big_parameters_start_folded_and_fill_when_opened(browser, tmp_path):
    video = _mp4(tmp_path / "clip.mp4", [0, 1])
    big = np.arange(2 * 30 * 20, dtype=float).reshape(2, 30, 20)
    path = write_player(tmp_path / "big.html", video=video, title="t", fps=FPS, frame_steps=[0, 1],
                        table_steps=np.arange(2), total_steps=1, losses={"loss": np.ones(2)},
                        params={"big": big}, grads={"big": -big})
    browser.open(f"{path.as_uri()}#step=1")
    assert _readout(browser)["cells"] == []  # folded: 600 rows are not drawn until asked for
    browser.evaluate("document.querySelector('#groups details').open = true")
    browser.wait_for("document.querySelectorAll('#groups td.v').length === 1200")
    cells = np.array([float(t) for t in _readout(browser)["cells"]]).reshape(-1, 2)
    np.testing.assert_array_equal(cells[:, 0], big[1].ravel())
    np.testing.assert_array_equal(cells[:, 1], -big[1].ravel())
    names = browser.evaluate("Array.from(document.querySelectorAll('#groups td.n'), e => e.textContent)")
    assert names[0] == "[0, 0]" and names[21] == "[1, 1]" and names[-1] == "[29, 19]"


def test_size_stays_within_the_mp4_and_200_kb_for_601_frames(tmp_path):
    steps = list(range(601))
    video = _mp4(tmp_path / "run.mp4", steps, size=(96, 64))
    table = _table(601)
    path = write_player(tmp_path / "run.html", video=video, title="601 frames, 6 parameters", fps=30,
                        frame_steps=steps, table_steps=np.arange(601), total_steps=600, **table)
    mp4, page = video.stat().st_size, path.stat().st_size
    assert 4 * mp4 / 3 < page < 1.4 * mp4 + 200_000


def _island(path: Path) -> dict:
    """The JSON the page reads its numbers from."""
    text = path.read_text(encoding="utf-8")
    start = text.index('<script type="application/json" id="player-data">')
    island = text[text.index(">", start) + 1:]
    return json.loads(island[:island.index("</script>")])


def test_only_the_rows_frames_show_are_embedded(tmp_path):
    video = _mp4(tmp_path / "clip.mp4", [0, 10])
    params, grads = {"w": np.full((11, 3), -1.0)}, {"w": np.full((11, 3), -2.0)}  # rows no frame shows
    params["w"][[0, 10]], grads["w"][[0, 10]] = [[1.5], [2.5]], [[3.5], [4.5]]
    losses = {"loss": np.full(11, -3.0)}
    losses["loss"][[0, 10]] = [5.5, 6.5]
    path = write_player(tmp_path / "clip.html", video=video, title="t", fps=FPS, frame_steps=[0, 10],
                        table_steps=np.arange(11), total_steps=10, losses=losses, params=params, grads=grads)
    data = _island(path)
    assert data["steps"] == [0, 10]
    assert data["losses"] == [[5.5, 6.5]]
    assert data["values"] == [[1.5] * 3, [2.5] * 3] and data["grads"] == [[3.5] * 3, [4.5] * 3]


def test_numbers_are_rounded_to_six_significant_digits(tmp_path):
    video = _mp4(tmp_path / "clip.mp4", [0])
    path = write_player(tmp_path / "clip.html", video=video, title="t", fps=FPS, frame_steps=[0],
                        table_steps=np.arange(1), total_steps=0, losses={"loss": np.array([1 / 3])},
                        params={"w": np.array([[2 / 3, -1.23456789e-9]])}, grads={})
    data = _island(path)
    assert data["losses"] == [[0.333333]] and data["values"] == [[0.666667, -1.23457e-09]]


@pytest.mark.parametrize("change, message", [
    ({"frame_steps": [0, 7]}, "does not record"),
    ({"frame_steps": [5, 0]}, "must not go back"),
    ({"frame_steps": [0, 5, 5]}, "has 2 frames"),
    ({"table_steps": np.array([5, 0])}, "increasing"),
    ({"losses": {"loss": np.ones(3)}}, "first axis"),
    ({"grads": {"v": np.ones((2, 1))}}, "no parameter"),
    ({"grads": {"w": np.ones((2, 3))}}, "shape"),
    ({"total_steps": 3}, "smaller than the last shown step"),
    ({"fps": 0}, "fps"),
])
def test_bad_input_is_refused_with_a_message(tmp_path, change, message):
    video = _mp4(tmp_path / "clip.mp4", [0, 5])
    args = dict(video=video, title="t", fps=FPS, frame_steps=[0, 5], table_steps=np.array([0, 5]), total_steps=5,
                losses={"loss": np.ones(2)}, params={"w": np.ones((2, 2))}, grads={"w": np.ones((2, 2))})
    with pytest.raises(ValueError, match=message):
        write_player(tmp_path / "out.html", **{**args, **change})
    assert not (tmp_path / "out.html").exists()


def test_a_file_that_is_not_an_mp4_is_refused(tmp_path):
    fake = tmp_path / "clip.mp4"
    fake.write_bytes(b"GIF89a" + bytes(100))
    with pytest.raises(ValueError, match="not an MP4"):
        write_player(tmp_path / "out.html", video=fake, title="t", fps=FPS, frame_steps=[0],
                     table_steps=np.array([0]), total_steps=0, losses={"loss": np.ones(1)}, params={}, grads={})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


CAPTION = "the <b>loss</b> turns & \"up\" 'here'"


@pytest.fixture(scope="module")
def captioned(tmp_path_factory) -> dict:
    """A player whose video holds step 20 for three frames, with a caption there and a chapter at step 40."""
    folder = tmp_path_factory.mktemp("captioned")
    steps = [0, 10, 20, 20, 20, 30, 40, 50]
    video = _mp4(folder / "run.mp4", steps)
    table = _table(len(TABLE_STEPS))
    cues = [(2, 6, CAPTION, CAPTION), (6, 7, "Step 40: forward pass", "Step 40 in slow motion")]
    path = write_player(folder / "run.html", video=video, title="Captions", fps=FPS, frame_steps=steps,
                        table_steps=TABLE_STEPS, total_steps=TOTAL, cues=cues, **table)
    return {"url": path.as_uri(), "cues": cues}


CAPTION_STATE = """({
  step: document.getElementById("step").textContent,
  caption: document.getElementById("caption").textContent,
  markup: document.getElementById("caption").children.length,
  marks: Array.from(document.querySelectorAll("#chapters button"), b => b.title),
  chapters: Array.from(document.querySelectorAll("#chapter-list button"), b => b.textContent),
})"""


def test_the_caption_of_a_step_shows_as_text_and_a_chapter_mark_jumps(browser, captioned):
    browser.open(f"{captioned['url']}#step=20")
    state = browser.evaluate(CAPTION_STATE)
    assert state["step"] == "20" and state["caption"] == CAPTION and state["markup"] == 0
    assert state["marks"] == state["chapters"] == [CAPTION, "Step 40 in slow motion"]
    browser.press("ArrowLeft")  # step 10: before any cue
    assert browser.evaluate(CAPTION_STATE)["caption"] == ""
    browser.evaluate('document.querySelectorAll("#chapters button")[1].click()')
    state = browser.evaluate(CAPTION_STATE)
    assert (state["step"], state["caption"]) == ("40", "Step 40: forward pass")
    browser.evaluate('document.querySelectorAll("#chapter-list button")[0].click()')
    state = browser.evaluate(CAPTION_STATE)
    assert (state["step"], state["caption"]) == ("20", CAPTION)


def test_signed_numbers_in_the_table_take_the_frames_colours(browser, player):
    from matplotlib.colors import to_rgb

    from visualizer.draw import colours

    browser.open(f"{player['url']}#step={SHOWN[-1]}")
    cells = browser.evaluate("Array.from(document.querySelectorAll('#groups td.v'), "
                             "e => [e.textContent, getComputedStyle(e).color])")
    expected = {1: colours.POSITIVE, -1: colours.NEGATIVE}
    signs = set()
    for text, colour in cells:
        sign = int(np.sign(float(text)))
        if sign:
            rgb = tuple(round(255 * c) for c in to_rgb(expected[sign]))
            assert colour == f"rgb({rgb[0]}, {rgb[1]}, {rgb[2]})", (text, colour)
            signs.add(sign)
    assert signs == {1, -1}


EMBEDDED = """({
  step: document.getElementById("step").textContent,
  embedded: document.documentElement.hasAttribute("data-embedded"),
  maxHeight: getComputedStyle(document.querySelector(".params")).maxHeight,
  videoRight: document.querySelector(".screen").getBoundingClientRect().right,
  tableLeft: document.querySelector(".params").getBoundingClientRect().left,
})"""


def test_in_a_notebook_the_player_opens_at_the_last_step_with_its_table_beside_the_video(browser, player, tmp_path):
    """The notebook shows the page in a sandboxed frame of fixed height: it opens on the trained network (not
    step 0) and keeps the table in a bounded, scrolling box beside the video, at any width."""
    import html as html_module

    from visualizer.outputs.formats import notebook_view

    shown = notebook_view({"html": player["path"]}, 20 * 2**20)
    srcdoc = re.search(r'<iframe srcdoc="(.*?)" style', shown, re.S)
    assert srcdoc, shown[:200]
    page = tmp_path / "embedded.html"
    page.write_text(html_module.unescape(srcdoc.group(1)), encoding="utf-8")
    browser.open(page.as_uri())
    state = browser.evaluate(EMBEDDED)
    assert state["embedded"] and state["step"] == str(SHOWN[-1])
    assert state["maxHeight"] == "560px" and state["tableLeft"] > state["videoRight"]
    browser.open(player["url"])  # the page on its own still opens at the first step, its table unbounded here
    assert browser.evaluate(EMBEDDED)["step"] == str(SHOWN[0])


def test_rows_are_named_as_the_frames_name_them(browser, tmp_path):
    video = _mp4(tmp_path / "clip.mp4", [0])
    table = _table(1)
    names = {"hidden.weight": ["iw1", "iw2"], "output.weight": ["w2[1,1]", "w2[2,1]"]}
    path = write_player(tmp_path / "named.html", video=video, title="t", fps=FPS, frame_steps=[0],
                        table_steps=np.arange(1), total_steps=0, names=names, **table)
    browser.open(path.as_uri())
    rows = browser.evaluate("Array.from(document.querySelectorAll('#groups td.n'), e => [e.textContent, e.title])")
    # Named rows show the name (the stored name and index as a tooltip); a parameter without names, its index.
    assert rows == [["iw1", "hidden.weight[0, 0]"], ["iw2", "hidden.weight[0, 1]"],
                    ["[0]", "hidden.bias[0]"], ["[1]", "hidden.bias[1]"],
                    ["w2[1,1]", "output.weight[0, 0]"], ["w2[2,1]", "output.weight[1, 0]"]]
    with pytest.raises(ValueError, match=r"names\['output.weight'\] gives 1 names for the parameter's 2 scalars"):
        write_player(tmp_path / "bad.html", video=video, title="t", fps=FPS, frame_steps=[0], table_steps=np.arange(1),
                     total_steps=0, names={"output.weight": ["w"]}, **table)
