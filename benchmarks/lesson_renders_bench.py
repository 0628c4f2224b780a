"""Each lesson scene of the second lecture rendered at its defaults, against issue 25's target: under 20 s.

    python benchmarks/lesson_renders_bench.py                 # vanishing, initialization, dropout, batchnorm
    python benchmarks/lesson_renders_bench.py --scenes vanishing --repeat 2

Each render is ``python -m visualizer render scenes/<name>.py`` with nothing else changed (training, frames,
the video), in a fresh process writing to a temporary folder, as a user's first render runs. Printed per
scene: the wall time (the target's measure), and the CPU time of the render and every process it started
(training, frame workers, the encoder): on a shared machine the wall time grows with the load, the CPU time
much less, so both are given with the load average before each render. Best of ``--repeat``.
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
LESSONS = ("vanishing", "initialization", "dropout", "batchnorm")
TARGET = 20.0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def render_once(scene: str) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, load average before) of one default render of ``scene``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix=f"lesson-{scene}-") as out:
        load = os.getloadavg()[0]
        cpu, start = children_cpu(), time.perf_counter()
        subprocess.run([sys.executable, "-m", "visualizer", "render", str(ROOT / "scenes" / f"{scene}.py"),
                        "--out", out], env=env, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start, children_cpu() - cpu, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", nargs="+", default=list(LESSONS), choices=LESSONS)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(f"lesson scenes rendered at their defaults (best of {args.repeat}), {os.cpu_count()} cores")
    for scene in args.scenes:
        runs = [render_once(scene) for _ in range(args.repeat)]
        wall, cpu, load = min(runs)
        verdict = "meets" if wall < TARGET else "MISSES"
        print(f"  {scene:<15} wall {wall:6.1f} s   CPU {cpu:6.1f} s   (load average before {load:.1f})   "
              f"{verdict} the {TARGET:g} s target", flush=True)


if __name__ == "__main__":
    main()
