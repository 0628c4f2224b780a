"""Every snippet in the README runs, and the README agrees with the CLI and with CI."""
from __future__ import annotations

import contextlib
import io
import os
import re
import runpy
import shlex

import pytest

from conftest import ROOT
from visualizer.cli import build_parser
from visualizer.run.scene import find_scene_file

README = (ROOT / "README.md").read_text()
SNIPPETS = dict(re.findall(r"<!-- snippet: (\w+) -->\n```\w+\n(.*?)```", README, re.S))


def test_all_snippets_are_found():
    assert set(SNIPPETS) == {"scene", "cli", "api", "history", "loop", "torch", "panel"}


def test_the_two_setup_commands_are_the_ones_ci_runs():
    commands = re.findall(r"```bash\n(python3 -m venv .*?)\n```", README)
    install_and_render, install_and_test = commands[:2]
    assert install_and_render.endswith("python -m visualizer render scenes/softplus_fit.py")
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == install_and_test


def test_the_readme_gif_is_small_and_present():
    gif = ROOT / "docs" / "softplus_fit.gif"
    assert "docs/softplus_fit.gif" in README and 0 < gif.stat().st_size < 1_500_000


def test_the_scene_example_renders_through_the_cli(tmp_path, cli, monkeypatch):
    (tmp_path / "scenes").mkdir()
    (tmp_path / "scenes" / "damped_wave.py").write_text(SNIPPETS["scene"])
    assert len(SNIPPETS["scene"].splitlines()) <= 30  # "about twenty lines"
    monkeypatch.chdir(tmp_path)  # the user's folder, with their scenes/ in it
    code, _, err = cli("render", "damped_wave", "--steps", "60", "--size", "320x180", "--format", "mp4")
    assert code == 0, err
    assert (tmp_path / "output" / "damped_wave" / "damped_wave.mp4").stat().st_size > 0
    code, listed, err = cli("list")  # from the user's folder too
    assert code == 0, err
    assert re.search(r"^damped_wave +Eight tanh neurons fit a damped wave\.$", listed, re.M), listed


def test_the_api_and_history_snippets_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        api = runpy.run_path(str(_write(tmp_path / "api.py", SNIPPETS["api"])))
        runpy.run_path(str(_write(tmp_path / "history.py", SNIPPETS["history"])))
    printed = out.getvalue().splitlines()
    assert printed[0] == os.path.join("output", "softplus_fit", "softplus_fit.mp4")
    assert printed[1].startswith("[0 1 2]") and printed[1].endswith("(301, 1, 2)")
    assert api["result"]._repr_html_().startswith("<video")


def _write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("line", [l for l in SNIPPETS["cli"].splitlines() if l.strip()])
def test_cli_examples_parse_and_name_real_scenes(line):
    argv = shlex.split(line)
    assert argv[:3] == ["python", "-m", "visualizer"]
    args = build_parser().parse_args(argv[3:])
    for scene in args.scenes:
        find_scene_file(scene, [ROOT / "scenes"])
    if args.from_history:
        assert args.from_history.as_posix() == "output/softplus_fit/history.npz"  # the documented layout


def test_the_option_table_lists_exactly_the_render_options():
    table = set(re.findall(r"^\| `(--[a-z-]+)", README, re.M)) | set(re.findall(r"`, `(--[a-z-]+)", README))
    render = build_parser()._subparsers._group_actions[0].choices["render"]
    options = {o for action in render._actions for o in action.option_strings if o.startswith("--")}
    assert table == options - {"--help"}


def test_help_shows_examples_for_every_command(cli):
    # in this process: the help is argparse's text either way (test_cli's test_help_and_version starts the
    # real program for --help and --version)
    for command in (["--help"], ["render", "--help"], ["list", "--help"]):
        code, out, _ = cli(*command)
        assert code == 0 and "usage:" in out and "examples:" in out


def test_the_why_frame_is_small_and_present():
    png = ROOT / "docs" / "why_softplus_fit.png"
    assert "docs/why_softplus_fit.png" in README and 0 < png.stat().st_size <= 150_000


def test_the_custom_panel_example_draws_its_panel(tmp_path, monkeypatch):
    """The panel contract's example renders, and its panel changes from frame to frame (the line grows)."""
    from PIL import Image
    import numpy as np

    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path(str(_write(tmp_path / "panel.py", SNIPPETS["panel"])))
    frames = sorted((tmp_path / out.getvalue().strip()).glob("*.png"))
    assert len(frames) > 2
    first, last = (np.asarray(Image.open(f).convert("L"), dtype=float) for f in (frames[1], frames[-1]))
    right = slice(first.shape[1] // 2 + 20, None)  # the custom panel is the right half of the frame
    assert np.abs(first[:, right] - last[:, right]).sum() > 1000


def test_every_panel_option_is_documented():
    """The README's table of panel options names every field of every public panel."""
    import dataclasses

    import visualizer.draw.panels as panels

    section = README.split("Each panel is a dataclass; these are its options", 1)[1].split("\n\n", 2)[1]
    rows = dict(re.findall(r"^\| `(\w+)` \| (.*) \|$", section, re.M))
    for name in panels.__all__:
        cls = getattr(panels, name)
        if not (isinstance(cls, type) and issubclass(cls, panels.Panel) and dataclasses.is_dataclass(cls)):
            continue
        if name.startswith("Explain"):
            continue  # the slow-motion layout's own panels, placed by explain_layout
        assert name in rows, f"{name} is missing from the README's panel options"
        documented = set(re.findall(r"`(\w+)`", rows[name]))
        missing = {f.name for f in dataclasses.fields(cls)} - documented
        assert not missing, f"{name}: options {sorted(missing)} are not in the README"
