"""The command line: outputs read back, stale frames gone, clear errors. A real process where the process is
the point (a first render, start-up, help, list, a terminal); in this process (``cli``) for the rest."""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import textwrap

import imageio.v2 as iio
import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_cli

SOFTPLUS = str(ROOT / "scenes" / "softplus_fit.py")
TINY = str(ROOT / "tests" / "data" / "tiny_fit.py")  # two panels: for what does not depend on the frames' content


def _mp4_info(path):
    reader = iio.get_reader(path, format="ffmpeg")
    try:
        return reader.get_meta_data(), reader.count_frames()
    finally:
        reader.close()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    result = run_cli("render", SOFTPLUS, "--steps", "6", "--size", "320x180", "--fps", "10", "--out", str(out))
    return out, result


def test_render_writes_mp4_gif_frames_and_history(rendered):
    out, result = rendered
    assert result.returncode == 0, result.stderr
    folder = out / "softplus_fit"
    meta, count = _mp4_info(folder / "softplus_fit.mp4")
    assert (meta["codec"], meta["size"], count) == ("h264", (320, 180), 7)
    assert meta["pix_fmt"].startswith("yuv420p")
    gif = Image.open(folder / "softplus_fit.gif")
    assert (gif.n_frames, gif.size, gif.info["loop"]) == (7, (320, 180), 0)
    names = sorted(p.name for p in (folder / "frames").iterdir())
    assert names == [f"frame_{s:05d}.png" for s in range(7)]
    assert Image.open(folder / "frames" / "frame_00003.png").size == (320, 180)
    with np.load(folder / "history.npz") as z:
        assert z["step"].tolist() == list(range(7))
    assert sorted(p.name for p in folder.iterdir()) == ["contact_sheet.png", "frames", "history.npz",
                                                        "manifest.json", "poster.png", "softplus_fit.gif",
                                                        "softplus_fit.html", "softplus_fit.mp4"]  # no temporaries
    # The player embeds this very video.
    page = (folder / "softplus_fit.html").read_text()
    video = (folder / "softplus_fit.mp4").read_bytes()
    assert base64.b64encode(video).decode() in page
    # The poster is the last frame itself.
    poster = np.asarray(Image.open(folder / "poster.png"))
    assert np.array_equal(poster, np.asarray(Image.open(folder / "frames" / "frame_00006.png")))
    assert Image.open(folder / "contact_sheet.png").width > 320
    # One summary line per output, naming the file.
    assert "softplus_fit.mp4" in result.stdout and "7 PNG files" in result.stdout
    assert re.search(r"softplus_fit\.mp4 \([\d.]+ KB, 320x180, 7 frames\)", result.stdout), result.stdout
    assert re.search(r"softplus_fit\.gif \([\d.]+ KB, 320x180, 7 frames\)", result.stdout), result.stdout


def test_the_player_alone_makes_its_video_privately(tmp_path, cli):
    code, out, err = cli("render", TINY, "--steps", "4", "--format", "html", "--size", "320x180",
                         "--hold", "0.2", "--fps", "10", "--out", str(tmp_path))
    assert code == 0, err
    folder = tmp_path / "tiny_fit"
    assert sorted(p.name for p in folder.iterdir()) == ["contact_sheet.png", "history.npz", "manifest.json",
                                                        "poster.png", "tiny_fit.html"]
    assert "tiny_fit.html" in out
    code, _, err = cli("render", TINY, "--format", "html", "--last-frame", "--out", str(tmp_path))
    assert code == 2 and "last frame writes only the poster" in err


def test_rerender_with_fewer_steps_leaves_no_stale_frames(rendered, cli):
    out, first = rendered
    assert first.returncode == 0, first.stderr
    code, stdout, err = cli("render", "softplus_fit", "--steps", "3", "--size", "320x180", "--fps", "10",
                            "--out", str(out), "--format", "frames,mp4", "--quiet")
    assert code == 0, err
    assert stdout == ""
    folder = out / "softplus_fit"
    assert sorted(p.name for p in (folder / "frames").iterdir()) == [f"frame_{s:05d}.png" for s in range(4)]
    assert _mp4_info(folder / "softplus_fit.mp4")[1] == 4


def test_every_k_names_frames_by_training_step(tmp_path, cli):
    code, _, err = cli("render", TINY, "--steps", "10", "--every", "4", "--size", "320x180",
                       "--format", "frames", "--out", str(tmp_path), "--pace", "steps")
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "tiny_fit" / "frames").iterdir())
    assert names == ["frame_00000.png", "frame_00004.png", "frame_00008.png", "frame_00010.png"]


def _scene_file(tmp_path, body: str, name: str = "user_scene.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


NO_SCENE = '"""Defines nothing useful."""\nvalue = 3\n'


@pytest.mark.parametrize("args, message", [
    (["render", "scenes/nope.py"], "no scene file at scenes/nope.py"),
    (["render", "no_such_scene"], "unknown scene 'no_such_scene'; known scenes: autoencoder, batchnorm, dropout, gender, initialization, moons, overfit, product, softplus_fit, softplus_notebook, spiral, vanishing, xor"),
    (["render", "pyproject.toml"], "pyproject.toml is not a Python file"),
    (["render", "softplus_fit", "--size", "12x"], "WIDTHxHEIGHT"),
    (["render", "softplus_fit", "--size", "10x10"], "outside 160x90"),
    (["render", "softplus_fit", "--fps", "0"], "must be at least 0.1"),
    (["render", "softplus_fit", "--steps", "-3"], "must be between 1 and 100,000,000, got -3"),
    (["render", "softplus_fit", "--format", "mp4,avi"], "unknown format avi"),
    (["render"], "name at least one SCENE, or give --from-history FILE"),
    (["explode"], "invalid choice"),
])
def test_bad_input_is_one_clear_line_exit_2_and_writes_nothing(cli, tmp_path, args, message):
    code, _, err = cli(*args, "--out", str(tmp_path / "out")) if args[0] == "render" and len(args) > 1 \
        else cli(*args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("visualizer: error: ") and message in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_an_unknown_scene_name_says_there_is_no_scenes_folder_here(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("render", "my_scene", "--out", str(tmp_path / "out"))
    assert code == 2 and err.startswith("visualizer: error: unknown scene 'my_scene' (there is no ./scenes folder "
                                        "here); known scenes: autoencoder, batchnorm, dropout, gender,")


LESSON_SCENE = """
    import numpy as np
    from visualizer import Dense, Layout, LossPanel, Network, Scene

    def network(seed):
        rng = np.random.default_rng(seed)
        return Network([Dense(2, 3, name="out", rng=rng)])

    scene = Scene(name="bad", network=network, x=np.zeros((6, 2)), y=np.arange(6) % 3 + {shift}, loss={loss},
                  optimizer={optimizer}, steps=4, layout=Layout([["loss"]], {{"loss": LossPanel()}}){more})
"""


@pytest.mark.parametrize("settings, message", [
    (dict(shift=1, optimizer="'sgd:lr=0.1'"), "labels must be 0..2 for a network with 3 outputs, found [3]"),
    (dict(shift=0, optimizer="'adamax'"), "unknown optimizer 'adamax'"),
    (dict(shift=0, optimizer="'sgd:lr=0.1'", loss="'crossentropy'"), "unknown loss 'crossentropy'"),
    (dict(shift=0, optimizer="'sgd:lr=0.1'", more=", test_fraction=1.0"), "test_fraction must be a number between"),
    (dict(shift=0, optimizer="__import__('visualizer').SGD(lambda k: 0.5 - 0.25 * k)"),
     "learning rate from the schedule at step 2 must be a positive finite number, got 0.0"),
])
def test_bad_lessons_are_one_clear_line_exit_2(cli, tmp_path, settings, message):
    body = LESSON_SCENE.format(**{"more": "", "loss": "'softmax_ce'", **settings})
    path = _scene_file(tmp_path, body)
    code, _, err = cli("render", str(path), "--out", str(tmp_path / "out"))
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("visualizer: error: ") and message in lines[0], err
    assert not (tmp_path / "out").exists()


def test_output_path_that_is_a_file_is_refused(tmp_path, cli):
    target = tmp_path / "taken"
    target.write_text("mine")
    code, _, err = cli("render", "softplus_fit", "--steps", "2", "--out", str(target))
    assert code == 2 and "is a file" in err
    assert target.read_text() == "mine"


def test_scene_file_without_a_scene_is_explained(tmp_path, cli):
    path = _scene_file(tmp_path, NO_SCENE)
    code, _, err = cli("render", str(path), "--out", str(tmp_path / "out"))
    assert code == 2
    assert "defines no scene" in err and "Traceback" not in err


def test_an_error_in_the_users_scene_code_shows_their_traceback(tmp_path, cli):
    path = _scene_file(tmp_path, '''\
        """A scene whose network builder has a bug."""
        from visualizer import Layout, LossPanel, Scene


        def network(seed):
            weights = [1.0, 2.0]
            return weights[seed]


        scene = Scene(name="buggy", network=network, x=[0.0, 1.0], y=[0.0, 1.0], steps=2, seed=5,
                      layout=Layout([["loss"]], {"loss": LossPanel()}))
        ''')
    code, _, err = cli("render", str(path), "--out", str(tmp_path / "out"))
    assert code == 1
    assert "your scene code raised an error" in err
    assert f'File "{path}", line 7, in network' in err
    assert "return weights[seed]" in err
    assert err.strip().endswith("IndexError: list index out of range")
    assert "visualizer/api.py" not in err  # their frames, not ours
    assert not (tmp_path / "out").exists()


def test_a_file_that_is_not_valid_python_is_one_line_naming_file_and_line(tmp_path, cli):
    path = _scene_file(tmp_path, '"""Broken."""\nscene = (\n')
    code, _, err = cli("render", str(path), "--out", str(tmp_path / "out"))
    assert code == 2
    assert err == f"visualizer: error: {path} line 2 is not valid Python: '(' was never closed\n"
    binary = tmp_path / "image.py"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    code, _, err = cli("render", str(binary), "--out", str(tmp_path / "out"))
    assert code == 2 and "is not valid Python" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def listed():
    """``visualizer list`` run once, as a user would (both list tests read its output)."""
    return run_cli("list")


def test_list_shows_each_scene_with_its_description(listed):
    result = listed
    assert result.returncode == 0, result.stderr
    line = next(l for l in result.stdout.splitlines() if l.startswith("softplus_fit"))
    assert "Two softplus neurons" in line


def test_help_and_version():
    assert "examples:" in run_cli("render", "--help").stdout
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("visualizer ")


def test_a_two_input_scene_renders_end_to_end(tmp_path, cli):
    code, _, err = cli("render", "gender", "--steps", "40", "--size", "320x180", "--fps", "10",
                       "--format", "mp4,frames", "--out", str(tmp_path), "--pace", "steps")
    assert code == 0, err
    meta, count = _mp4_info(tmp_path / "gender" / "gender.mp4")
    assert (meta["size"], count) == ((320, 180), 11)  # the scene's every=4: steps 0, 4, …, 40
    names = sorted(p.name for p in (tmp_path / "gender" / "frames").iterdir())
    assert names[:3] == ["frame_00000.png", "frame_00004.png", "frame_00008.png"] and len(names) == 11


def test_list_shows_every_bundled_scene(listed):
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert names == ["autoencoder", "batchnorm", "dropout", "gender", "initialization", "moons", "overfit", "product",
                      "softplus_fit", "softplus_notebook", "spiral", "vanishing", "xor"]


def test_rerender_from_history_without_training(rendered, tmp_path, cli):
    out, first = rendered
    assert first.returncode == 0, first.stderr
    history = out / "softplus_fit" / "history.npz"
    with np.load(history) as z:
        rows = len(z["step"])
    code, _, err = cli("render", "--from-history", str(history), "--quality", "low", "--format", "mp4",
                       "--fps", "5", "--out", str(tmp_path))
    assert code == 0, err
    meta, count = _mp4_info(tmp_path / "softplus_fit" / "softplus_fit.mp4")
    assert (meta["size"], meta["fps"], count) == ((854, 480), 5.0, rows)
    assert "training" not in err
    with np.load(tmp_path / "softplus_fit" / "history.npz") as a, np.load(history) as b:
        assert np.array_equal(a["param/hidden.weight"], b["param/hidden.weight"])


def test_max_frames_hold_and_last_frame(tmp_path, cli):
    code, _, err = cli("render", TINY, "--steps", "100", "--max-frames", "10", "--hold", "1", "--fps", "10",
                       "--size", "320x180", "--format", "mp4,frames", "--out", str(tmp_path))
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "tiny_fit" / "frames").iterdir())
    assert len(names) == 10 and names[0] == "frame_00000.png" and names[-1] == "frame_00100.png"
    assert _mp4_info(tmp_path / "tiny_fit" / "tiny_fit.mp4")[1] == 10 + 10  # one second held at 10 fps
    code, _, err = cli("render", TINY, "--steps", "5", "--last-frame", "--out", str(tmp_path / "poster"))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "poster" / "tiny_fit").iterdir()) == ["history.npz", "manifest.json",
                                                                                   "poster.png"]
    assert Image.open(tmp_path / "poster" / "tiny_fit" / "poster.png").size == (1280, 720)


@pytest.mark.parametrize("args, message", [
    (["--size", "640x360", "--quality", "low"], "give a size or a quality, not both"),
    (["--quality", "ultra"], "invalid choice: 'ultra'"),
    (["--hold", "-1"], "must be at least 0 and at most 600, got -1"),
    (["--hold", "1e9"], "at most 600"),
    (["--dpi", "100000"], "at most 1200"),
    (["--seed", "-1"], "must be a whole number from 0"),
    (["--max-frames", "1"], "must be between 2 and"),
    (["--jobs", "0"], "must be between 1 and 256, got 0"),
    (["--from-history", "nothing.npz"], "give scenes or --from-history, not both"),
    (["--layout", "x.py"], "no layout file at x.py"),
    (["--name", "x"], "--scene and --name go with --from-history"),
    (["--layout", "how"], "scene 'softplus_fit' has no layout 'how'; its layouts: default, why"),
    (["--explain", "1.5"], "argument --explain: expected recorded steps such as 300"),
    (["--explain", "0", "--last-frame"], "last frame writes only the poster; explain shows steps"),
    (["--steps", "10", "--every", "5", "--explain", "7"], "step 7 was not recorded, so it cannot be explained"),
    (["--explain", "0", "--explain-seconds", "0"], "--explain-seconds: must be above 0 and at most 600, got 0"),
    (["--explain-seconds", "2"], "explain seconds goes with explain: give the steps to show in slow motion"),
    (["--steps", "2", "--explain", "0", "--explain-seconds", "600"], "frames for one explained step, more than"),
])
def test_bad_render_options_are_one_line(cli, tmp_path, args, message):
    code, _, err = cli("render", "softplus_fit", *args, "--out", str(tmp_path / "out"))
    assert code == 2
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_from_history_that_is_not_a_history(cli, tmp_path):
    bogus = tmp_path / "history.npz"
    bogus.write_text("not a zip")
    code, _, err = cli("render", "--from-history", str(bogus), "--out", str(tmp_path / "out"))
    assert code == 2 and "is not a visualizer history (not an npz archive)" in err and err.count("\n") == 1
    code, _, err = cli("render", "--from-history", str(tmp_path / "nope.npz"))
    assert code == 2 and "no history file at" in err


def test_a_gif_too_big_for_slides_gets_a_hint(tmp_path, monkeypatch):
    from visualizer import cli as cli_module

    gif = tmp_path / "x.gif"
    from PIL import Image

    Image.new("RGB", (40, 30), "white").save(gif)
    assert "warning" not in cli_module._summary("gif", gif)
    from visualizer.outputs.formats import GIFFormat

    monkeypatch.setattr(GIFFormat, "warn_bytes", 10)
    line = cli_module._summary("gif", gif)
    assert "40x30, 1 frames" in line and "too big for a README" in line and "--gif-width" in line


def _on_a_terminal(*args: str) -> str:
    """Run the CLI under a pseudo-terminal 120 columns wide (progress bars show only on a terminal)."""
    import fcntl
    import os
    import pty
    import struct
    import sys
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of a real size, then the CLI
        fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.environ["PYTHONPATH"] = str(ROOT)
        os.execv(sys.executable, [sys.executable, "-m", "visualizer", *args])
    out = b""
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    os.waitpid(pid, 0)
    return out.decode("utf-8", "replace")


def test_progress_bars_name_every_stage_on_a_terminal_and_stay_out_of_logs(tmp_path, cli):
    args = ("render", TINY, "--steps", "4", "--size", "320x180", "--out", str(tmp_path / "a"))
    shown = _on_a_terminal(*args)
    for stage in ("training", "drawing and encoding frames", "joining the video pieces", "GIF: palette and encoding",
                  "writing the player", "poster and contact sheet", "publishing"):
        assert f"tiny_fit: {stage}" in shown, stage
    counted = set(re.findall(r"stage (\d+)/(\S+)", shown))  # each stage once, in order, never past the total
    assert counted == {(str(n), "5") for n in range(6)}, counted
    code, out, err = cli(*args[:-1], str(tmp_path / "b"))  # output captured: not a terminal
    assert code == 0 and "tiny_fit: training" not in err + out


def test_an_interrupted_first_render_says_its_folder_was_not_created(tmp_path):
    from visualizer.run.render import RenderInterrupted
    from visualizer.cli import _interrupted_message

    fresh, kept = tmp_path / "never" / "softplus_fit", tmp_path
    assert _interrupted_message(RenderInterrupted({}, ["mp4"], stage="training", folder=fresh)) == \
        f"visualizer: interrupted while training; nothing was published ({fresh}/ was not created)"
    assert _interrupted_message(RenderInterrupted({}, ["mp4"], stage="training", folder=kept)).endswith(
        f"nothing was published: {kept}/ is as it was")


ARTIST_DOCS = """\
import gc, inspect, json, sys
from visualizer import cli
collector = {{}}
command = cli._cmd_render


def spy(args):  # the collector as the command starts, after the program's imports
    collector.update(enabled=gc.isenabled(), frozen=gc.get_freeze_count())
    return command(args)


cli._cmd_render = spy
sys.argv = ["visualizer", "render", "no_such_scene_here"]
status = cli.run() if {program} else cli.main()
from matplotlib.lines import Line2D
line = Line2D([0, 1], [0, 1])
line.set(lw=3, color="red")
print(json.dumps({{"status": status, "doc": Line2D.set.__doc__ or "", **collector,
                  "signature": list(inspect.signature(Line2D.set).parameters),
                  "width": line.get_linewidth(), "colour": line.get_color()}}))
"""


@pytest.mark.parametrize("program", [True, False])
def test_the_program_skips_matplotlibs_artist_docstrings_and_a_python_session_keeps_them(tmp_path, program):
    """And the program's imports are set aside from the collector before the command runs, a session's not.
    In a process of its own: matplotlib writes those docstrings once, when it is first imported."""
    script = ARTIST_DOCS.format(program=program)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.splitlines()[-1])
    assert got["status"] == 2 and "no_such_scene_here" in proc.stderr  # the command ran, and failed as it should
    listed = "linewidth" in got["doc"].partition("Supported properties are")[2]  # the table, a session's alone
    assert listed is not program
    assert {"linewidth", "color", "data"} <= set(got["signature"])  # signatures and setters as they were
    assert (got["width"], got["colour"]) == (3, "red")
    assert got["enabled"]  # the collector is on while the command runs
    assert (got["frozen"] > 10_000) is program  # matplotlib's objects and the rest; a session's none

