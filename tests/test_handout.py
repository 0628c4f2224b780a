"""The handout (``--format pdf``): which steps get a page, the real PDF the command line writes (its pages and
its text, read from the file's own content streams), and the contact sheet's print-sized labels."""
from __future__ import annotations

import json
import re
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from visualizer import History
from visualizer.outputs.handout import handout_pages, pdf_pages
from visualizer.outputs.stills import A4_WIDTH_MM, compose_sheet
from visualizer.run.render import select_rows


def _literal(content: bytes, i: int) -> tuple[bytes, int]:
    """The PDF literal string opening at ``content[i]`` ("("), its escapes undone, and where it ends."""
    escapes = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f"}
    depth, i, value = 1, i + 1, bytearray()
    while True:
        c = content[i]
        if c == ord("\\"):
            octal = re.match(rb"[0-7]{1,3}", content[i + 1:i + 4])
            if octal:
                value.append(int(octal.group(), 8))
                i += 1 + len(octal.group())
            else:
                value += escapes.get(content[i + 1], content[i + 1:i + 2])
                i += 2
            continue
        depth += (c == ord("(")) - (c == ord(")"))
        if not depth:
            return bytes(value), i + 1
        value.append(c)
        i += 1


def pdf_text(path) -> list[str]:
    """Every piece of text the PDF's pages show (one per text object), read as a PDF reader reads it: the
    pages' compressed content streams, each character code mapped to Unicode through its font's ToUnicode
    table (matplotlib's Type 42 fonts number glyphs, ligatures and symbols their own way)."""
    data = path.read_bytes()
    objects = {int(n): body for n, body in re.findall(rb"(\d+) 0 obj(.*?)endobj", data, re.S)}

    def stream(n: int) -> bytes:
        return zlib.decompress(re.search(rb"stream\r?\n(.*?)\r?\nendstream", objects[n], re.S).group(1))

    def to_unicode(font: int) -> dict[bytes, str]:
        cmap, table = stream(int(re.search(rb"/ToUnicode (\d+) 0 R", objects[font]).group(1))), {}
        for block in re.findall(rb"beginbfchar(.*?)endbfchar", cmap, re.S):
            for code, text in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                table[bytes.fromhex(code.decode())] = bytes.fromhex(text.decode()).decode("utf-16-be")
        for block in re.findall(rb"beginbfrange(.*?)endbfrange", cmap, re.S):
            for lo, hi, to in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*(\[.*?\]|<[0-9A-Fa-f]+>)", block):
                start, n = int(lo, 16), int(hi, 16) - int(lo, 16) + 1
                ends = [bytes.fromhex(h.decode()).decode("utf-16-be") for h in re.findall(rb"<([0-9A-Fa-f]+)>", to)]
                if not to.startswith(b"["):  # one destination, counting up
                    ends = [ends[0][:-1] + chr(ord(ends[0][-1]) + k) for k in range(n)]
                for k, text in enumerate(ends):
                    table[(start + k).to_bytes(len(lo) // 2, "big")] = text
        return table

    texts = []
    for page in re.findall(rb"/Type /Page\b.*?/Resources (\d+) 0 R.*?/Contents (\d+) 0 R", data, re.S):
        resources = objects[int(page[0])]
        fonts = objects[int(re.search(rb"/Font (\d+) 0 R", resources).group(1))]
        maps = {name: to_unicode(int(obj)) for name, obj in re.findall(rb"/(\w+) (\d+) 0 R", fonts)}
        content = stream(int(page[1]))
        for block in re.findall(rb"\bBT\b(.*?)\bET\b", content, re.S):
            text, font, i = "", None, 0
            while (m := re.compile(rb"/(\w+)\s+[-\d.]+\s+Tf|\(").search(block, i)):
                if m.group(1):
                    font, i = maps[m.group(1)], m.end()
                    continue
                codes, i = _literal(block, m.start())
                text += "".join(font[codes[k:k + 2]] for k in range(0, len(codes), 2))
            texts.append(text)
    return texts


def test_the_pages_are_the_first_frame_the_moments_and_frames_evenly_spaced():
    drawn = list(range(0, 101, 5))  # frame order (pacing may space them unevenly; here every 5th step)
    recorded = list(range(101))
    assert handout_pages(drawn, recorded, [], 6) == [(0, ""), (20, ""), (40, ""), (60, ""), (80, ""), (100, "")]
    # A moment takes the place of the evenly spaced page nearest to it; at a step not recorded: the nearest.
    pages = handout_pages(drawn, np.arange(0, 101, 2), [(47, "the loss turns"), (0, "start")], 6)
    assert pages == [(0, "start"), (20, ""), (46, "the loss turns"), (60, ""), (80, ""), (100, "")]
    # Moments beyond the count still get their pages; two at one step share it.
    many = [(s, f"m{s}") for s in (10, 30, 50, 70, 90)] + [(30, "again")]
    assert handout_pages(drawn, recorded, many, 3) == [(0, ""), (10, "m10"), (30, "m30; again"), (50, "m50"),
                                                       (70, "m70"), (90, "m90")]
    assert handout_pages([0, 7], recorded, [], 6) == [(0, ""), (7, "")]  # fewer frames than pages


@pytest.fixture(scope="module")
def handout(tmp_path_factory):
    """The command line (in this process) writing a 4-page handout: (its folder, what it printed)."""
    import contextlib
    import io
    from types import SimpleNamespace

    from visualizer.cli import main

    out = tmp_path_factory.mktemp("handout")
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        mp.chdir(ROOT)
        code = main(["render", "softplus_fit", "--steps", "40", "--every", "2", "--format", "pdf", "--pages", "4",
                     "--size", "320x180", "--moment", "20: the bump appears", "--out", str(out)])
    assert code == 0, stderr.getvalue()
    return out / "softplus_fit", SimpleNamespace(stdout=stdout.getvalue())


def test_the_command_line_writes_a_vector_handout_of_the_chosen_pages(handout):
    folder, result = handout
    pdf = folder / "softplus_fit.pdf"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert pdf_pages(pdf) == len(re.findall(rb"/Type /Page[^s]", data)) == 4
    # Every page fits both A4 (595.28 x 841.89 pt) and US Letter (612 x 792 pt), landscape.
    boxes = {tuple(float(v) for v in box.split()) for box in re.findall(rb"/MediaBox \[ ([\d. ]+) \]", data)}
    assert len(boxes) == 1 and (box := boxes.pop())[:2] == (0, 0) and box[2] <= 792.0 and 590 < box[3] <= 595.28
    assert re.search(r"softplus_fit\.pdf \([\d.]+ KB, 4 pages\)", result.stdout), result.stdout
    # Text stays text: every page's step and the title, in a TrueType (Type 42) font.
    text = pdf_text(pdf)
    # The pages: the first frame, the moment, and drawn (paced) frames evenly spaced, the last among them.
    steps = [int(t.split()[1]) for t in text if t.startswith("step ")]
    drawn = History.load(folder / "history.npz").steps[select_rows(History.load(folder / "history.npz"))]
    assert len(steps) == 4 and steps == sorted(set(steps)) and steps[0] == 0 and steps[-1] == 40 and 20 in steps
    assert set(steps) <= set(drawn.tolist()) and all(t.endswith(" of 40") for t in text if t.startswith("step "))
    assert "the bump appears" in text
    assert text.count("Two softplus neurons fit softplus(2·sin(πx))") == 4
    assert "SSR (whole training set)" in text and "page 4 of 4" in " ".join(text)
    assert b"/FontFile2" in data and b"/Subtype /Image" not in data  # no picture of the frame: vectors
    manifest = json.loads((folder / "manifest.json").read_text())["outputs"]["pdf"]["options"]
    assert [p["step"] for p in manifest["pages"]] == steps and "A4" in manifest["paper"]
    # The handout is asked for by name: a render of "all" leaves it out.
    assert sorted(p.name for p in folder.iterdir()) == ["contact_sheet.png", "history.npz", "manifest.json",
                                                        "poster.png", "softplus_fit.pdf"]


def test_captions_are_written_as_text_under_their_frames(tmp_path):
    from visualizer.run.render import _renderer, handout_drawer, train
    from visualizer.run.scene import load_scene

    scene = load_scene("softplus_fit")
    history = train(scene, steps=10, every=5)
    renderer = _renderer(scene.layout, history, (320, 180), None, scene.title, "softplus_fit")
    path = tmp_path / "notes.pdf"
    handout_drawer(renderer, history, "softplus_fit")([(0, ""), (5, "the loss (SSR) falls \\ fastest here")],
                                                       path)
    text = pdf_text(path)
    assert pdf_pages(path) == 2 and "the loss (SSR) falls \\ fastest here" in text
    assert "step 5 of 10" in text and "softplus_fit    page 2 of 2" in text


@pytest.mark.parametrize("args, message", [
    (["--pages", "3"], "pages sets the handout's length; ask for the handout: format pdf (all leaves it out)"),
    (["--format", "mp4", "--pages", "3"], "pages sets the handout's length"),
    (["--format", "pdf", "--pages", "0"], "argument --pages: must be between 1 and 500, got 0"),
    (["--format", "pdf", "--last-frame"], "last frame writes only the poster"),
])
def test_bad_handout_options_are_one_line(cli, tmp_path, args, message):
    code, out, err = cli("render", "softplus_fit", "--steps", "4", "--out", str(tmp_path), *args)
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not any(tmp_path.iterdir())  # nothing written


def test_the_contact_sheet_labels_print_at_least_2_mm_tall_on_a4(tmp_path):
    # Eight 640x360 thumbnails, as a 1280x720 render's, in two columns: the sheet printed across A4.
    thumbs = [(step, np.full((360, 640, 3), 255, np.uint8)) for step in range(0, 800, 100)]
    sheet = np.asarray(Image.open(compose_sheet(thumbs, tmp_path / "sheet.png")).convert("L"))
    assert sheet.shape[0] / sheet.shape[1] <= 297 / 210  # one portrait page
    ink_rows = np.flatnonzero((sheet[:, : sheet.shape[1] // 2] < 128).any(axis=1))
    first_label = ink_rows[ink_rows < 360]  # "step 0", above the first thumbnail
    # The digit 0: its columns are the last run of inked columns of the label.
    band = sheet[first_label.min(): first_label.max() + 1, : sheet.shape[1] // 2] < 128
    cols = np.flatnonzero(band.any(axis=0))
    zero = cols[cols > cols[np.flatnonzero(np.diff(cols) > 1)[-1]]]
    rows = np.flatnonzero(band[:, zero].any(axis=1))
    digit_mm = (rows.max() - rows.min() + 1) * A4_WIDTH_MM / sheet.shape[1]
    assert digit_mm >= 2.0, digit_mm


def test_without_a_video_only_the_stills_frames_are_drawn_and_they_are_the_same(tmp_path):
    from visualizer import render
    from visualizer.run.render import train
    from visualizer.run.scene import load_scene

    scene = load_scene(ROOT / "tests" / "data" / "tiny_fit.py")  # two panels: a render costs little
    history = train(scene, steps=47)
    sparse = render(scene, history, format="pdf", pages=2, size=(160, 90), jobs=2, out=tmp_path / "pdf")
    every = render(scene, history, format="frames", size=(160, 90), jobs=2, out=tmp_path / "frames")
    assert pdf_pages(sparse["pdf"]) == 2
    for kind in ("poster", "contact_sheet"):
        assert sparse[kind].read_bytes() == every[kind].read_bytes(), kind
