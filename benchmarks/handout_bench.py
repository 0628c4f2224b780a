"""Issue 24's handout target: ``--format pdf`` of six pages for softplus_fit takes under 3 s.

    python benchmarks/handout_bench.py [--repeat N]

1. The handout itself, in this process: softplus_fit trained and its renderer made once (as a render has them
   when the handout's turn comes), then its six default pages chosen and written as a vector PDF, wall and CPU
   time. Target: under 3 s.
2. Whole commands in fresh processes (start-up, training, drawing every frame for the poster and contact
   sheet, encoding): ``render softplus_fit --format mp4`` (the baseline) against ``--format mp4,pdf`` and
   ``--format pdf``, wall and CPU time (this process's children), and what the handout adds to the MP4 render.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from outputs_bench import best, command  # noqa: E402


def handout_alone(out: Path) -> tuple[float, float, int]:
    """(wall, CPU) seconds of choosing and writing softplus_fit's default handout, and its pages."""
    from visualizer.outputs.handout import HANDOUT_PAGES, handout_pages, pdf_pages
    from visualizer.run.render import _renderer, handout_drawer, select_rows, train
    from visualizer.run.scene import load_scene

    scene = load_scene("softplus_fit")
    history = train(scene)
    renderer = _renderer(scene.layout, history, (1280, 720), None, scene.title, "softplus_fit")
    drawn = [int(history.steps[r]) for r in select_rows(history)]
    wall, cpu = time.perf_counter(), time.process_time()
    pages = handout_pages(drawn, history.steps, [], HANDOUT_PAGES)
    handout_drawer(renderer, history, "softplus_fit")(pages, out)
    return time.perf_counter() - wall, time.process_time() - cpu, pdf_pages(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        handout_alone(tmp / "warm.pdf")  # imports and font caches, as any render after the first has them
        runs = [handout_alone(tmp / f"h{k}.pdf") for k in range(args.repeat)]
        wall, cpu, pages = min(r[0] for r in runs), min(r[1] for r in runs), runs[0][2]
        print(f"1. the handout alone ({pages} pages, best of {args.repeat}): {wall:.2f} s wall, {cpu:.2f} s CPU "
              f"(target < 3 s)")
        command(["render", "softplus_fit", "--steps", "5", "--format", "mp4,pdf", "--out", str(tmp / "warm")], tmp)
        print(f"2. whole commands ({os.cpu_count()} cores, best of {args.repeat})")
        times = {}
        for formats in ("mp4", "mp4,pdf", "pdf"):
            times[formats] = best(lambda: command(["render", "softplus_fit", "--format", formats, "--out",
                                                   str(tmp / formats.replace(",", "-"))], tmp), args.repeat)
        base = times["mp4"]
        for formats, (w, c) in times.items():
            print(f"   --format {formats:<8} {w:5.1f} s wall {c:5.1f} s CPU; ratio to the MP4 alone "
                  f"{w / base[0]:.2f} wall, {c / base[1]:.2f} CPU")
        print(f"   the handout adds {times['mp4,pdf'][0] - base[0]:.1f} s wall, {times['mp4,pdf'][1] - base[1]:.1f} s "
              "CPU to the MP4 render")


if __name__ == "__main__":
    main()
