"""Plain dense networks keep their speed beside batch norm and dropout, in one run.

    python benchmarks/layers_bench.py            # about a minute
    python benchmarks/layers_bench.py --quick    # fewer steps

1. ``train(product)`` (per-sample SGD through the compiled kernel, or the numpy loop with
   ``VISUALIZER_NO_JIT=1``) with the code from before batch norm and dropout (``--before``, default the
   commit this work started from, extracted from git into a temporary folder) and with ours: the ratio
   should be 1 (plain dense networks never go near the new layers).
2. What the new layers cost in the numpy loop: a 2-16-16-1 ReLU network on two moons in mini-batches of 16,
   plain, with batch norm after each hidden layer, and with dropout after each; per step, in this process.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from train_bench import in_process  # noqa: E402

BEFORE = "23988b1"  # the merge this branch started from


def tree_at(commit: str, where: Path) -> Path:
    """The package and scenes at ``commit``, from git."""
    import subprocess

    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "visualizer", "scenes"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where


def loop_seconds(kind: str, steps: int) -> float:
    """Seconds per step of the numpy loop for a 2-16-16-1 network, plain or with ``kind`` layers."""
    import numpy as np

    from visualizer import SGD, BatchNorm, Dense, Dropout, Network, Trainer, get_loss
    from visualizer.datasets import moons

    x, y = moons(256, noise=0.1, seed=0)
    rng = np.random.default_rng(0)
    layers = []
    for k, (n_in, n_out) in enumerate([(2, 16), (16, 16)], 1):
        layers.append(Dense(n_in, n_out, "relu", name=f"h{k}", rng=rng))
        if kind == "batchnorm":
            layers.append(BatchNorm(n_out, name=f"bn{k}"))
        elif kind == "dropout":
            layers.append(Dropout(0.2, rng=rng, name=f"drop{k}"))
    net = Network(layers + [Dense(16, 1, name="out", rng=rng)])
    trainer = Trainer(net, x, y, get_loss("bce"), SGD(0.1), steps, batch_size=16, shuffle=True,
                      rng=np.random.default_rng(1))
    t = time.perf_counter()
    trainer.run()
    return (time.perf_counter() - t) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps")
    parser.add_argument("--before", default=BEFORE, help="the commit to compare with (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    steps = 20_000 if args.quick else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        before = tree_at(args.before, Path(tmp))
        print(f"train(product), {steps:,} per-sample steps, best of {args.repeat}:")
        for label, env in (("compiled kernel", None), ("numpy loop", {"VISUALIZER_NO_JIT": "1"})):
            n = steps if env is None else steps // 10
            old = min(in_process(before, n, env) for _ in range(args.repeat))
            new = min(in_process(ROOT, n, env) for _ in range(args.repeat))
            print(f"  {label:16} {n:>7,} steps: before {old:6.3f} s   ours {new:6.3f} s   ours/before {new / old:.2f}")
    n = 500 if args.quick else 3000
    plain = min(loop_seconds("plain", n) for _ in range(args.repeat))
    print(f"numpy loop, 2-16-16-1 on 256 moons, batches of 16, {n:,} steps, best of {args.repeat}:")
    print(f"  plain       {plain * 1e6:7.1f} µs/step")
    for kind in ("batchnorm", "dropout"):
        t = min(loop_seconds(kind, n) for _ in range(args.repeat))
        print(f"  {kind:11} {t * 1e6:7.1f} µs/step   {t / plain:.2f}x plain")


if __name__ == "__main__":
    main()
