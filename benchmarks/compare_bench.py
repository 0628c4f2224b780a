"""A comparison against the single renders it replaces, in one run.

    python benchmarks/compare_bench.py [--format all] [--scene softplus_fit]

Measures (wall time, whole commands in fresh processes, as a user runs them):
1. ``visualizer compare SCENE --vary optimizer=sgd,momentum,nesterov,adam:lr=0.05``: four runs in one video;
2. the same four runs as four sequential ``visualizer render`` commands (one scene file per optimizer).
Target (issue 12): the compare takes at most 0.6 of the four renders' time on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPTIMIZERS = ["sgd", "momentum", "nesterov", "adam:lr=0.05"]


def run(args: list[str], cwd: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "visualizer", *args, "-q"], cwd=cwd, env=env, check=True)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scene", default="softplus_fit")
    parser.add_argument("--format", default="all")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "scenes").mkdir()
        source = (ROOT / "scenes" / f"{args.scene}.py").read_text()
        for k, spec in enumerate(OPTIMIZERS):  # one scene file per optimizer: what a user without compare does
            (tmp / "scenes" / f"{args.scene}_{k}.py").write_text(
                source + "\n\n_base = scene\n\n\ndef scene():\n    import dataclasses\n"
                "    from visualizer.engine.optim import get_optimizer\n    s = _base() if callable(_base) else _base\n"
                f"    return dataclasses.replace(s, name='{args.scene}_{k}', "
                f"optimizer=get_optimizer({spec!r}, lr=s.optimizer.lr))\n")
        run(["render", f"{args.scene}_0", "--steps", "5", "--format", "mp4", "--out", str(tmp / "warm")], tmp)
        singles = sum(run(["render", f"{args.scene}_{k}", "--format", args.format, "--out", str(tmp / "single")],
                          tmp) for k in range(len(OPTIMIZERS)))
        both = run(["compare", args.scene, "--vary", "optimizer=" + ",".join(OPTIMIZERS), "--format", args.format,
                    "--out", str(tmp / "compare")], tmp)
    print(f"{args.scene}, formats {args.format}, {os.cpu_count()} cores")
    print(f"  4 sequential renders: {singles:6.1f} s")
    print(f"  one compare of 4:     {both:6.1f} s")
    print(f"  ratio compare / renders: {both / singles:.2f}  (target ≤ 0.6)")


if __name__ == "__main__":
    main()
