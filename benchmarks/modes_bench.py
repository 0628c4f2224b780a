"""Recording a network with dropout or batch norm: how long, and are the recorded arrays the same as a base
revision's? Both trees train in the same run, in fresh processes, alternating, and their histories are
compared key by key, bit for bit.

    python benchmarks/modes_bench.py [--base REV] [--repeat N] [--steps N]

Runs recorded (each with the scene's own schedule): the ``dropout`` scene and the ``batchnorm`` scene with
batch norm on, each with its default layout, its why layout (the training step's δ's, slopes and chain
rule through the masks and the batch statistics), a layout of per-layer statistics (activations,
pre-activations and δ's), and the why layout's backward pass and chain rule alone (``passes``: no map over
the input plane, whose grid costs most of a recorded step otherwise). Prints each tree's time per run, the ratio base/this, and every history key
that differs (exit status 1 then). Each time is CPU time (the process's own: steadier than the clock on a
busy machine; numpy's threads are held to one), the best of the repeats, for the whole of training and
recording and for the recorded steps alone (every call of ``log_full_set``: the training step's pass, the
evaluation pass, and what the panels ask for, the class regions' grid too).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, runpy, sys, time
import numpy as np
from visualizer import Layout, LayerHistogramPanel, LayerStatPanel, LossPanel
import visualizer.run.render as render
from visualizer.run.render import train

spent = [0.0]
logged = render.log_full_set


def timed(*args, **kwargs):  # the recorded steps' own cost: every pass a recorded step makes, panels' too
    t = time.process_time()
    try:
        return logged(*args, **kwargs)
    finally:
        spent[0] += time.process_time() - t


render.log_full_set = timed

root, out, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
stats = Layout([["act", "pre"], ["delta", "norm"]],
               {"act": LayerHistogramPanel(kind="activation"), "pre": LayerHistogramPanel(kind="preactivation"),
                "delta": LayerHistogramPanel(kind="delta"), "norm": LayerStatPanel(stat="delta_norm")})
scenes = {"dropout": runpy.run_path(f"{root}/scenes/dropout.py")["scene"](),
          "batchnorm": runpy.run_path(f"{root}/scenes/batchnorm.py")["scene"](batchnorm=True)}
times = {}
for name, scene in scenes.items():
    built = scene.layout_named("why")
    passes = Layout([["net", "chain"]], {"net": built.panels["net"], "chain": built.panels["chain"]})
    for layout in ("default", "why", "stats", "passes"):
        spent[0] = 0.0
        t = time.process_time()
        h = train(scene, layout={"stats": stats, "passes": passes}.get(layout, layout), steps=steps or None)
        times[f"{name}/{layout}"] = (time.process_time() - t, spent[0])
        h.save(f"{out}/{name}-{layout}.npz")
print(json.dumps(times))
"""


def run(tree: Path, out: Path, steps: int) -> dict[str, float]:
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(tree), str(out), str(steps)], env=env, check=True,
                          capture_output=True, text=True, cwd=tree)
    return json.loads(done.stdout.strip().splitlines()[-1])


def differing(a: Path, b: Path) -> list[str]:
    out = []
    for path in sorted(a.glob("*.npz")):
        with np.load(path, allow_pickle=False) as x, np.load(b / path.name, allow_pickle=False) as y:
            keys = set(x.files) | set(y.files)
            for k in sorted(keys):
                if k not in x.files or k not in y.files:
                    out.append(f"{path.name}: {k} only in {'base' if k in x.files else 'this tree'}")
                    continue
                u, v = x[k], y[k]
                if u.dtype != v.dtype or u.shape != v.shape or u.tobytes() != v.tobytes():
                    out.append(f"{path.name}: {k}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--steps", type=int, default=0, help="training steps (default: the scenes' own)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base_tree = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(base_tree), args.base], cwd=ROOT, check=True,
                       capture_output=True)
        best: dict[str, dict[str, tuple]] = {"base": {}, "this": {}}
        try:
            for _ in range(args.repeat):
                for label, tree in (("base", base_tree), ("this", ROOT)):
                    for k, t in run(tree, Path(tmp) / f"{label}-out", args.steps).items():
                        was = best[label].get(k, (float("inf"), float("inf")))
                        best[label][k] = (min(was[0], t[0]), min(was[1], t[1]))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT, check=False)
        diff = differing(Path(tmp) / "base-out", Path(tmp) / "this-out")
        n = len(list((Path(tmp) / "base-out").glob("*.npz")))
    print(f"{'':<20}{'training and recording':^29}  {'recorded steps only':^29}")
    print(f"{'run':<20}" + f"{'base s':>9}{'this s':>9}{'base/this':>11}" * 2)
    rows = [(k, best["base"][k], best["this"][k]) for k in best["base"]]
    rows.append(("all", tuple(sum(r[1][i] for r in rows) for i in (0, 1)),
                 tuple(sum(r[2][i] for r in rows) for i in (0, 1))))
    for k, b, t in rows:
        print(f"{k:<20}" + "".join(f"{b[i]:9.2f}{t[i]:9.2f}{b[i] / t[i]:10.2f}x" for i in (0, 1)))
    print(f"{n} histories compared key by key: {len(diff)} keys differ")
    for line in diff:
        print(f"  differs: {line}")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
