"""Issue 15's targets 1 and 2, ours against the baselines in the same run.

    python benchmarks/outputs_bench.py [--frames N]

1. Every output (the default formats: MP4, GIF, PNG frames, the player, poster, contact sheet) against the
   MP4 alone, whole commands (start-up and training included), wall and CPU time (this process's children),
   on softplus_fit and gender at default settings. Target: at most 1.5×.
2. End to end, MP4 only: ``visualizer render softplus_fit --format mp4`` (a fresh process: start-up,
   training, drawing, encoding) against matplotlib's FuncAnimation + FFMpegWriter drawing the same 601
   frames from the recorded history (the baseline of ``render_bench.py``). Target: at least 50×.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


def command(args: list[str], cwd: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of ``python -m visualizer ARGS -q`` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "visualizer", *args, "-q"], cwd=cwd, check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def best(fn, repeat: int = 2) -> tuple[float, float]:
    runs = [fn() for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        command(["render", "softplus_fit", "--steps", "5", "--format", "mp4", "--out", str(tmp / "warm")], tmp)
        print(f"1. every output against the MP4 alone ({os.cpu_count()} cores, best of {args.repeat})")
        for scene in ("softplus_fit", "gender"):
            mp4 = best(lambda: command(["render", scene, "--format", "mp4", "--out", str(tmp / "a")], tmp),
                       args.repeat)
            every = best(lambda: command(["render", scene, "--out", str(tmp / "b")], tmp), args.repeat)
            print(f"   {scene:<13} MP4 only {mp4[0]:5.1f} s wall {mp4[1]:5.1f} s CPU; every output {every[0]:5.1f} s "
                  f"wall {every[1]:5.1f} s CPU; ratio {every[0] / mp4[0]:.2f} wall, {every[1] / mp4[1]:.2f} CPU "
                  "(target ≤ 1.5)")
        ours = best(lambda: command(["render", "softplus_fit", "--format", "mp4", "--out", str(tmp / "c")], tmp),
                    args.repeat)[0]
        import render_bench

        from visualizer import History

        history = History.load(tmp / "c" / "softplus_fit" / "history.npz")
        baseline = render_bench.funcanimation(history, len(history), tmp / "funcanimation.mp4")
        print(f"2. end to end, MP4 only, softplus_fit ({len(history)} frames): ours {ours:.1f} s (start-up and "
              f"training included), FuncAnimation {baseline:.1f} s: {baseline / ours:.0f}× (target ≥ 50×)")


if __name__ == "__main__":
    main()
