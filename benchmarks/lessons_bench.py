"""The spiral scene's training speed against issue 10's target: 10,000 full-batch steps in under 10 s.

    python benchmarks/lessons_bench.py              # best of 3
    python benchmarks/lessons_bench.py --repeat 1

CS231n's case study (300 points, a 2-100-3 ReLU network, softmax cross-entropy + L2, step size 1.0) trained
with ``train(spiral, every=10)``: every 10th step recorded with what the scene's panels need (the class
scores over a 60×60 plane, accuracy, the penalty). Beside it, to show where the time goes:

1. the case study's own numpy loop (its code, written out here), no recording: the floor for this work;
2. ours without recording (``every`` past the end: only the first and last steps);
3. ours recording every 10th step (the target);
4. ours recording every 50th step (the scene's default).

Best of ``--repeat`` each; the machine is shared, so the spread between runs and the load average are
printed too. Everything runs twice, in fresh processes: with OpenBLAS's default threads (one per core) and
with ``OPENBLAS_NUM_THREADS=1``. These matrices are small (the largest product is the 3,600-point plane
times the 100×3 output weights), and on a busy machine OpenBLAS's threads wait on each other: one such product
was measured at 20 ms with two threads against 0.28 ms with one, under a load average of 8 on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from visualizer import load_scene, train  # noqa: E402

TARGET = 10.0
STEPS = 10_000


def case_study_loop(x: np.ndarray, y: np.ndarray, steps: int, seed: int = 0) -> float:
    """The case study's training loop as it is written there (numpy, no recording); returns its accuracy."""
    rng = np.random.default_rng(seed)
    n, reg, step_size = len(x), 1e-3, 1.0
    w = 0.01 * rng.standard_normal((2, 100))
    b = np.zeros((1, 100))
    w2 = 0.01 * rng.standard_normal((100, 3))
    b2 = np.zeros((1, 3))
    labels = y.astype(int).ravel()
    rows = np.arange(n)
    for _ in range(steps):
        hidden = np.maximum(0, x @ w + b)
        scores = hidden @ w2 + b2
        exp = np.exp(scores - scores.max(axis=1, keepdims=True))
        probs = exp / exp.sum(axis=1, keepdims=True)
        dscores = probs
        dscores[rows, labels] -= 1
        dscores /= n
        dw2, db2 = hidden.T @ dscores + reg * w2, dscores.sum(axis=0, keepdims=True)
        dhidden = dscores @ w2.T
        dhidden[hidden <= 0] = 0
        dw, db = x.T @ dhidden + reg * w, dhidden.sum(axis=0, keepdims=True)
        w, b, w2, b2 = w - step_size * dw, b - step_size * db, w2 - step_size * dw2, b2 - step_size * db2
    return float(np.mean((np.maximum(0, x @ w + b) @ w2 + b2).argmax(axis=1) == labels))


def timed(run, repeat: int) -> tuple[float, float, object]:
    """(best seconds, worst seconds, last result) of ``repeat`` calls."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), max(times), result


def measure(repeat: int) -> None:
    """Time the four runs in this process and print one table."""
    scene = load_scene(ROOT / "scenes" / "spiral.py")
    rows = []
    best, worst, accuracy = timed(lambda: case_study_loop(scene.x, scene.y, STEPS), repeat)
    rows.append(("case study's numpy loop, no recording", best, worst, accuracy))
    for label, every in (("ours, no recording", STEPS), ("ours, every 10th step recorded", 10),
                         (f"ours, every {scene.every}th step recorded (scene default)", scene.every)):
        best, worst, history = timed(lambda: train(scene, every=every), repeat)
        rows.append((label, best, worst, float(history.extras["accuracy/train"][-1])))
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"OpenBLAS threads: {threads}; load average before: {os.getloadavg()[0]:.1f}")
    for label, best, worst, accuracy in rows:
        print(f"  {label:<52} {best:6.2f} s  (worst {worst:5.2f} s)  training accuracy {100 * accuracy:.1f} %")
    target = rows[2][1]
    verdict = "meets" if target < TARGET else "MISSES"
    print(f"  target: every 10th step recorded in under {TARGET:g} s: {target:.2f} s, {verdict} it "
          f"({target / rows[0][1]:.2f}× the bare numpy loop)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--here", action="store_true", help="measure in this process only, as it is set up")
    args = parser.parse_args()
    if args.here:
        measure(args.repeat)
        return
    print(f"spiral: {STEPS:,} full-batch steps, 300 points, 2-100-3 ReLU, softmax + L2 (best of {args.repeat}), "
          f"{os.cpu_count()} cores")
    for threads in (None, "1"):
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
        if threads:
            env["OPENBLAS_NUM_THREADS"] = threads
        env["PYTHONPATH"] = str(ROOT)
        sys.stdout.flush()
        subprocess.run([sys.executable, __file__, "--here", "--repeat", str(args.repeat)], env=env, check=True)


if __name__ == "__main__":
    main()
