"""Issue 24's pacing target: frames placed by how much the run changes, not by step count.

    python benchmarks/pacing_bench.py                      # every bundled scene, then the render timing
    python benchmarks/pacing_bench.py --scenes xor moons   # some scenes
    python benchmarks/pacing_bench.py --no-timing          # the frame selections alone

For every bundled scene at its defaults, trained once as a default render trains it (``--pace change``
records log-spaced early steps beside the grid of ``every``), the frames ``--pace steps`` (the baseline:
today's selection, the grid of ``every``) and ``--pace change`` (ours) would draw are measured on the
parameter path, as the issue measures it: each parameter scaled by its range over the run, the distance
between consecutive drawn frames. Printed per scene and pace: the frames, the share of the frames that
together carry 5 % of the path (the slowest ones; target for ours at most 20 %) and the share of the frames
over which the first half of the path is spread (target at least 25 %), and pass/fail.

Then the time of a real default render (every format, 640x360) of ``--pace steps`` against ``--pace change``,
training included, for a few scenes, alternating, best of ``--repeat``; target: pacing adds at most 5 %.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from visualizer.record.pace import parameter_path  # noqa: E402
from visualizer.run.render import render, select_rows, train  # noqa: E402
from visualizer.run.scene import load_scene  # noqa: E402

SLOWEST_TARGET, HALF_TARGET, TIME_TARGET = 0.20, 0.25, 1.05


def shares(history, rows: list[int]) -> tuple[float, float]:
    """(share of frames that together carry 5 % of the parameter path, share of frames over which its first
    half is spread), for the frames of ``rows``."""
    gaps = parameter_path(history.subset(rows))
    total = gaps.sum()
    slowest = (np.searchsorted(np.cumsum(np.sort(gaps)) / total, 0.05) + 1) / len(gaps)
    half = (np.searchsorted(np.cumsum(gaps) / total, 0.5) + 1) / len(gaps)
    return float(slowest), float(half)


def selections(names: list[str]) -> bool:
    print(f"{'scene':14s} {'pace':7s} {'rows':>6s} {'frames':>6s} {'5% of path':>11s} {'1st half':>9s}  target")
    ok = True
    for name in names:
        scene = load_scene(name)
        history = train(scene)  # as a default render trains it: --pace change
        for pace in ("steps", "change"):
            rows = select_rows(history, pace=pace)
            slowest, half = shares(history, rows)
            good = slowest <= SLOWEST_TARGET and half >= HALF_TARGET
            if pace == "change":
                ok &= good
            print(f"{name:14s} {pace:7s} {len(history):6d} {len(rows):6d} {slowest:11.1%} {half:9.1%}  "
                  f"{'pass' if good else 'FAIL'}{'' if pace == 'change' else ' (baseline)'}")
    print(f"target (ours, every scene): at most {SLOWEST_TARGET:.0%} of the frames carry 5 % of the path, the "
          f"first half over at least {HALF_TARGET:.0%}: {'met' if ok else 'NOT met'}")
    return ok


def timing(names: list[str], repeat: int) -> bool:
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            scene = load_scene(name)
            best = {"steps": float("inf"), "change": float("inf")}
            for k in range(repeat):
                for pace in (("steps", "change") if k % 2 == 0 else ("change", "steps")):
                    start = time.perf_counter()
                    render(scene, pace=pace, size=(640, 360), out=Path(tmp) / pace)
                    best[pace] = min(best[pace], time.perf_counter() - start)
            ratio = best["change"] / best["steps"]
            ok &= ratio <= TIME_TARGET
            print(f"{name:14s} default render 640x360, training included: steps {best['steps']:.2f} s, change "
                  f"{best['change']:.2f} s, ratio {ratio:.2f} (target at most {TIME_TARGET:.2f}): "
                  f"{'pass' if ratio <= TIME_TARGET else 'FAIL'}")
            # What pacing itself costs, apart from drawing fewer frames: the denser record and the selection.
            trained = {}
            for pace in ("steps", "change"):
                start = time.perf_counter()
                history = train(scene, pace=pace)
                trained[pace] = time.perf_counter() - start
            start = time.perf_counter()
            select_rows(history, pace="change")
            chosen = time.perf_counter() - start
            extra = trained["change"] - trained["steps"] + chosen
            print(f"{'':14s} of which pacing's own cost: training {trained['steps']:.2f} s -> {trained['change']:.2f} s "
                  f"({len(history)} rows), selection {chosen * 1000:.0f} ms: {extra / best['steps']:+.1%} of the "
                  "baseline render")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    everything = sorted(p.stem for p in (ROOT / "scenes").glob("*.py") if not p.stem.startswith("_"))
    parser.add_argument("--scenes", nargs="+", default=everything)
    parser.add_argument("--timed", nargs="+", default=["xor", "softplus_fit", "moons"])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-timing", action="store_true")
    args = parser.parse_args()
    ok = selections(args.scenes)
    if not args.no_timing:
        ok &= timing(args.timed, args.repeat)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
