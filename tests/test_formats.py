"""One output registry: a format declared in one place, even from outside the package, is made by a render,
published in the manifest, listed in the summary and offered by --format; its list comes from the registry."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from test_transaction import SCENE as TINY, SMALL, one_run
from visualizer import load_scene, render
from visualizer.cli import build_parser
from visualizer.outputs.formats import (JOIN, FolderFormat, Format, choosable, format_help, formats, known_outputs,
                                        register_format, unregister_format)
from visualizer.outputs.output import summary_line
from visualizer.outputs.writer import Writer
from visualizer.run.options import RenderOptions, parse_formats


class NpyFramesWriter(Writer):
    """One ``.npy`` file per frame (RGB), named by its step, into ``folder``."""

    def __init__(self, path, folder, digits: int) -> None:
        super().__init__(path)
        self.folder, self.digits = folder, digits

    def _setup(self) -> None:
        pass

    def _write(self, frame: np.ndarray, step: int) -> None:
        np.save(self.folder / f"frame_{step:0{self.digits}d}.npy", np.ascontiguousarray(frame[..., :3]))

    def hold(self, frame: np.ndarray, step: int, count: int) -> None:
        """One file per step: nothing to hold."""

    def _finish(self) -> None:
        pass  # the render swaps the folder in whole

    def abort(self) -> None:
        pass  # the folder is in the render's work folder, which goes with it


class NpyFormat(FolderFormat):
    """Numbered NumPy frames: a folder with one .npy per frame."""

    name, help, stage = "npy", "numbered NumPy frames", JOIN

    def filename(self, name: str) -> str:
        return f"{name}_npy"

    def settings(self, job):
        return {"digits": len(str(int(job.history.steps[-1])))}

    def piece(self, output, k, start_index):
        return NpyFramesWriter(output.path, self.folder(output), output.settings["digits"])

    def summary(self, kind, path):
        return summary_line(kind, f"{path}/", f"{len(list(path.glob('*.npy')))} .npy frames")


class DigestFormat(Format):
    """The GIF's SHA-256 in a text file: made from another format, which it needs, drawing nothing itself."""

    name, needs, draws = "gifsum", ("gif",), False

    def filename(self, name: str) -> str:
        return f"{name}.gif.sha256"

    def make(self, output, job, made):
        output.path.write_text(hashlib.sha256(made["gif"].path.read_bytes()).hexdigest() + "\n")


@pytest.fixture
def npy():
    """The npy format, registered for one test and removed after it, so no other test sees it."""
    fmt = register_format(NpyFormat())
    try:
        yield fmt
    finally:
        unregister_format("npy")
    assert "npy" not in choosable()


@pytest.fixture(scope="module")
def scene():
    return load_scene(TINY)  # two panels: what is tested is the registry, not the frames


def test_a_format_registered_from_outside_renders_end_to_end(tmp_path, scene, npy):
    result = render(scene, out=tmp_path, steps=4, size=(160, 90), format="npy,frames")
    assert set(result) == {"history", "frames", "npy", "poster", "contact_sheet"}
    folder = tmp_path / "tiny_fit"
    assert result["npy"] == folder / "tiny_fit_npy"
    names = sorted(p.name for p in result["npy"].iterdir())
    assert names == [f"frame_{s}.npy" for s in range(5)]
    for s in range(5):  # the very frames the PNGs hold
        frame = np.asarray(Image.open(folder / "frames" / f"frame_{s:05d}.png"))
        np.testing.assert_array_equal(np.load(result["npy"] / f"frame_{s}.npy"), frame)
    manifest = one_run(folder)
    entry = manifest["outputs"]["npy"]
    assert entry["file"] == "tiny_fit_npy"
    assert entry["options"] == manifest["outputs"]["frames"]["options"]  # drawn alike, and it says so


def test_a_registered_format_works_through_the_command_line_in_chunks(tmp_path, cli, npy):
    code, out, err = cli("render", TINY, "--steps", "47", *SMALL, "--jobs", "2", "--format", "npy",
                         "--out", str(tmp_path), "--pace", "steps")  # 48 frames: two chunks
    assert code == 0, err
    folder = tmp_path / "tiny_fit"
    assert len(list((folder / "tiny_fit_npy").glob("*.npy"))) == 48  # both chunks' frames, joined
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["history", "poster", "contact_sheet", "npy", "manifest"]  # by registry
    assert lines[3] == f"{'npy':>13}  {folder / 'tiny_fit_npy'}/ (48 .npy frames)"
    assert set(one_run(folder)["outputs"]) == {"history", "npy", "poster", "contact_sheet"}
    # Rendered again in another format, the same history keeps it, and the summary says so.
    code, out, err = cli("render", TINY, "--steps", "47", *SMALL, "--format", "mp4", "--out", str(tmp_path),
                         "--pace", "steps")
    assert code == 0, err
    assert out.splitlines()[-1].split(None, 1)[1] == "tiny_fit_npy/ (made earlier from this same history)"


def test_a_format_made_from_another_gets_it_privately(tmp_path, scene):
    register_format(DigestFormat())
    try:
        alone = render(scene, out=tmp_path / "a", steps=4, size=(160, 90), format="gifsum")
        both = render(scene, out=tmp_path / "b", steps=4, size=(160, 90), format="gif,gifsum")
    finally:
        unregister_format("gifsum")
    assert set(alone) == {"history", "gifsum", "poster", "contact_sheet"}  # the GIF it needs stays private
    assert not (tmp_path / "a" / "tiny_fit" / "tiny_fit.gif").exists()
    digest = hashlib.sha256(both["gif"].read_bytes()).hexdigest() + "\n"
    assert alone["gifsum"].read_text() == both["gifsum"].read_text() == digest


def test_the_format_option_lists_the_registry(cli, npy):
    assert choosable() == ("mp4", "gif", "frames", "html", "pdf", "npy")
    assert parse_formats("all") == ("mp4", "gif", "frames", "html", "npy")  # the handout is asked for by name
    assert parse_formats("all,pdf") == choosable()
    assert RenderOptions(format="npy,mp4").checked().formats == ("mp4", "npy")
    help_text = next(a.help for a in _render_parser()._actions if a.dest == "format")
    assert help_text.startswith(format_help()) and "npy (numbered NumPy frames)" in help_text
    code, _, err = cli("render", "softplus_fit", "--format", "webm")
    assert code == 2 and "use any of mp4, gif, frames, html, pdf, npy (comma-separated) or all" in err


def test_without_registrations_the_format_option_is_the_built_in_one(cli):
    assert choosable() == tuple(f.name for f in formats() if f.choosable) == ("mp4", "gif", "frames", "html",
                                                                                 "pdf")
    help_text = next(a.help for a in _render_parser()._actions if a.dest == "format")
    assert help_text == ("comma-separated: mp4, gif, frames, html (the step-by-step player), pdf (a printable "
                         "handout, not in all); or all (default: all)")
    code, _, err = cli("render", "softplus_fit", "--format", "npy")
    assert code == 2 and err == ("visualizer: error: unknown format npy; use any of mp4, gif, frames, html, pdf "
                                 "(comma-separated) or all\n")


def test_every_output_has_one_format_and_one_file_name():
    files = known_outputs("scene")
    assert files == {"history": "history.npz", "mp4": "scene.mp4", "vtt": "scene.vtt", "gif": "scene.gif",
                     "frames": "frames", "html": "scene.html", "poster": "poster.png",
                     "contact_sheet": "contact_sheet.png", "pdf": "scene.pdf"}
    with pytest.raises(ValueError, match="publishes poster, which format 'stills' publishes already"):
        register_format(type("Posters", (Format,), {"name": "posters", "outputs": ("poster",)})())
    with pytest.raises(ValueError, match="needs webm: register that first"):
        register_format(type("Late", (Format,), {"name": "late", "needs": ("webm",)})())
    assert "posters" not in known_outputs("scene") and "late" not in choosable()


def _render_parser():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices["render"]
