"""Measure what moments and captions add to a default render, same scene, same history, same run.

    python benchmarks/captions_bench.py              # xor (its own moment at step 250), 3 rounds
    python benchmarks/captions_bench.py --rounds 1 --scene overfit

The scene is trained once; its history is then rendered at the defaults (every format, 1280x720) in rounds,
the variants interleaved so a busy machine slows them alike:

- ``plain``: no moments (the render before captions existed);
- ``captions``: the scene's moments with ``--moment-hold 0``: the slow-down around them, the WebVTT file, the
  subtitle track muxed in as the pieces join, the player's cues: the cost of captioning itself;
- ``held``: the defaults (a 3 s hold on each moment): the video is that much longer;
- ``burned``: the defaults with ``--burn-captions``.

Prints each variant's median CPU time (this process and every process it waited for: render workers,
ffmpeg), which a machine shared with other work disturbs far less than wall time, its ratio to ``plain``,
the median wall time, and its video's frame count (a held frame is encoded, not drawn again). The issue's
target: captions add at most 5 %.
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from visualizer import load_scene, render, train  # noqa: E402
from visualizer.outputs.player import mp4_video_track  # noqa: E402

VARIANTS = {"plain": {}, "captions": {"moment_hold": 0.0}, "held": {}, "burned": {"burn_captions": True}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scene", default="xor")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    scene = load_scene(args.scene)
    if not scene.moments:
        raise SystemExit(f"scene {args.scene} names no moments")
    plain = copy.copy(scene)
    plain.moments = {}
    history = train(scene)
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
    frames: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as out:
        for r in range(args.rounds):
            for name, options in VARIANTS.items():
                start, before = time.perf_counter(), os.times()
                result = render(plain if name == "plain" else scene, history, out=out, name=f"{name}{r}",
                                **options)
                times[name].append(time.perf_counter() - start)
                after = os.times()
                cpu[name].append(sum(after[:4]) - sum(before[:4]))
                frames[name] = mp4_video_track(result["mp4"])[2]
    base = statistics.median(cpu["plain"])
    print(f"{args.scene}: {len(history)} recorded rows, moments {scene.moments}, {args.rounds} rounds")
    for name in VARIANTS:
        c = statistics.median(cpu[name])
        print(f"  {name:>9}: CPU {c:6.2f} s  ×{c / base:.3f}   wall {statistics.median(times[name]):6.2f} s   "
              f"{frames[name]} video frames  (CPU runs {', '.join(f'{x:.2f}' for x in cpu[name])})")


if __name__ == "__main__":
    main()
