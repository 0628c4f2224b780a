"""Draw the README's images again from today's frames.

    python docs/images.py              # all three
    python docs/images.py why compare  # some of them

- ``softplus_fit.gif``: the hero, ``render softplus_fit --format gif --gif-width 640 --gif-fps 12
  --max-frames 150 --hold 1.5 --fps 24``;
- ``why_softplus_fit.png``: ``render softplus_fit --layout why --pace steps``, the frame at step 300;
- ``compare_softplus_fit.png``: ``compare softplus_fit --vary optimizer=sgd,momentum,adam:lr=0.05 --pace
  steps``, the frame at step 300.

The two stills are reduced to 256 colours (the frames use far fewer distinct colours than that, so they look
the same at a third of the bytes). Each command runs through the command line's own entry point, in this
process, into a temporary folder; only the finished image is copied here.
"""
from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))

from visualizer.cli import main  # noqa: E402

STEP = 300


def _run(*args: str) -> None:
    status = main([*args, "-q"])
    if status:
        raise SystemExit(f"images: {' '.join(args)} exited {status}")


def _frame_at(folder: Path, step: int) -> Path:
    """The frame whose step is nearest ``step`` (frames are named frame_<step>.png)."""
    frames = {int(re.search(r"(\d+)", p.stem).group(1)): p for p in (folder / "frames").glob("frame_*.png")}
    if not frames:
        raise SystemExit(f"images: no frames in {folder}")
    return frames[min(frames, key=lambda s: abs(s - step))]


def _still(source: Path, target: Path) -> None:
    from PIL import Image
    with Image.open(source) as image:
        image.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE).save(target, optimize=True)
    print(f"{target.relative_to(DOCS.parent)} from {source.name}")


def hero(out: Path) -> None:
    _run("render", "softplus_fit", "--out", str(out), "--format", "gif", "--gif-width", "640", "--gif-fps", "12",
         "--max-frames", "150", "--hold", "1.5", "--fps", "24")
    shutil.copyfile(out / "softplus_fit" / "softplus_fit.gif", DOCS / "softplus_fit.gif")
    print("docs/softplus_fit.gif")


def why(out: Path) -> None:
    _run("render", "softplus_fit", "--layout", "why", "--pace", "steps", "--out", str(out), "--format", "frames")
    _still(_frame_at(out / "softplus_fit-why", STEP), DOCS / "why_softplus_fit.png")


def compare(out: Path) -> None:
    _run("compare", "softplus_fit", "--vary", "optimizer=sgd,momentum,adam:lr=0.05", "--pace", "steps",
         "--out", str(out), "--format", "frames")
    folder = next(p for p in out.iterdir() if p.name.startswith("softplus_fit-compare"))
    _still(_frame_at(folder, STEP), DOCS / "compare_softplus_fit.png")


IMAGES = {"hero": hero, "why": why, "compare": compare}

if __name__ == "__main__":
    chosen = sys.argv[1:] or list(IMAGES)
    unknown = [name for name in chosen if name not in IMAGES]
    if unknown:
        raise SystemExit(f"images: unknown image {unknown[0]!r} (choose from {', '.join(IMAGES)})")
    with tempfile.TemporaryDirectory() as tmp:
        for name in chosen:
            IMAGES[name](Path(tmp) / name)
