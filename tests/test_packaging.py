"""The wheel and sdist carry the whole tool: built, installed non-editable into a fresh venv, run from elsewhere.

Installing every dependency from the registry into a fresh venv would take minutes, so the fresh venv gets the
wheel alone (``--no-deps``) and sees this environment's packages through a ``.pth`` line appended after its
own site-packages: a plain path line runs none of the install hooks of this environment (such as an editable
install of visualizer), and the wheel's copy comes first on the path. The tests check that it is the one used.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT

SCENES = sorted(p.name for p in (ROOT / "scenes").glob("*.py"))
SUBPACKAGES = sorted(p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "visualizer").rglob("__init__.py"))
IGNORE = shutil.ignore_patterns(".git", ".venv", "output", "build", "dist", "*.egg-info", "__pycache__",
                                ".pytest_cache", ".hypothesis")


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The sdist and the wheel built from it, from a copy of the source tree (the build writes into it)."""
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=IGNORE)
    out = tmp / "dist"
    # Without isolation the build uses this environment's setuptools instead of downloading one.
    result = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
                            capture_output=True, text=True, env=_clean_env())
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed (not editable); returns its bin folder."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    result = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                             "--no-index", "--disable-pip-version-check", "-q", str(_one(dist, "*.whl"))],
                            capture_output=True, text=True, env=_clean_env())
    assert result.returncode == 0, result.stderr
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True, env=_clean_env()).stdout.strip()
    ours = dict.fromkeys(sysconfig.get_path(k) for k in ("purelib", "platlib"))
    (Path(site) / "zz_test_dependencies.pth").write_text("".join(f"{p}\n" for p in ours))
    return venv / "bin"


def _one(folder: Path, pattern: str) -> Path:
    (path,) = folder.glob(pattern)
    return path


def _clean_env() -> dict[str, str]:
    """This environment without what would put the source tree or another venv on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return {**env, "MPLBACKEND": "Agg"}


def _run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin_dir / args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True,
                          env=_clean_env(), timeout=240)


def test_the_wheel_carries_every_subpackage_the_scenes_and_the_license(dist):
    names = set(zipfile.ZipFile(_one(dist, "*.whl")).namelist())
    assert "visualizer/draw/panels/__init__.py" in names
    assert "visualizer/outputs/player.html" in names
    assert {f"{p}/__init__.py" for p in SUBPACKAGES} <= names
    assert {f"visualizer/scenes/{s}" for s in SCENES} <= names
    assert any(re.fullmatch(r"[^/]+\.dist-info/licenses/LICENSE", n) for n in names)


def test_the_metadata_names_the_distribution_the_license_and_every_direct_dependency(dist):
    wheel = zipfile.ZipFile(_one(dist, "*.whl"))
    metadata = wheel.read(next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    assert re.search(r"^Name: backprop-visualizer$", metadata, re.M)
    assert re.search(r"^License-Expression: MIT$", metadata, re.M)
    required = set(re.findall(r"^Requires-Dist: ([A-Za-z0-9_.-]+)[^;\n]*$", metadata, re.M))
    assert {"numpy", "matplotlib", "contourpy", "pillow", "imageio-ffmpeg", "tqdm"} <= required
    assert "visualizer = visualizer.cli:run" in wheel.read(
        next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))).decode()


def test_the_sdist_carries_the_license_and_the_scenes(dist):
    with tarfile.open(_one(dist, "*.tar.gz")) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"LICENSE", "pyproject.toml", "visualizer/outputs/player.html", *(f"scenes/{s}" for s in SCENES)} <= names


def test_the_installed_command_uses_the_wheel_not_the_source_tree(installed, tmp_path):
    result = _run(installed, "python", "-c", "import visualizer; print(visualizer.__file__)", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_relative_to(installed.parent)


def test_the_installed_command_lists_and_renders_bundled_scenes_from_any_folder(installed, tmp_path):
    listed = _run(installed, "visualizer", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert {line.split()[0] for line in listed.stdout.splitlines()} == {Path(s).stem for s in SCENES}
    result = _run(installed, "visualizer", "render", "softplus_fit", "--steps", "3", "--format", "mp4",
                  "--size", "320x180", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "output" / "softplus_fit" / "softplus_fit.mp4").stat().st_size > 0


def test_the_installed_package_writes_the_player_from_its_page_data(installed, tmp_path):
    result = _run(installed, "visualizer", "render", "softplus_fit", "--steps", "3", "--format", "html",
                  "--size", "320x180", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "output" / "softplus_fit" / "softplus_fit.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "data:video/mp4;base64," in page


def test_a_scene_in_the_working_folder_comes_before_the_bundled_one(installed, tmp_path):
    (tmp_path / "scenes").mkdir()
    (tmp_path / "scenes" / "softplus_fit.py").write_text('"""My own softplus fit."""\n')
    listed = _run(installed, "visualizer", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^softplus_fit +My own softplus fit\.$", listed.stdout, re.M), listed.stdout
    assert re.search(r"^xor +\S", listed.stdout, re.M)
