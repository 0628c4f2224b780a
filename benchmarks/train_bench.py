"""Per-sample training speed on the product scene's [2,6,6,1] network, ours against the seed's loop.

    python benchmarks/train_bench.py            # about two minutes
    python benchmarks/train_bench.py --quick    # fewer steps, one repeat

Each measurement is the best of ``--repeat`` runs (3 by default), so that other work on the machine
disturbs the ratios less.

Every measurement trains with recording at every 1000th step (the product scene's recorder, probes and all),
except the baseline, which is the seed notebook's own pure-Python loop (``render_bench.seed_training``). Rows:

1. the seed's loop, the baseline;
2. today's engine: ``visualizer.train`` on the product scene (Trainer, one hook call per step);
3. ``visualizer.kernels.PerSampleSGD`` with the fused numpy loop, run between recorded steps;
4. the same with the compiled (numba) kernel, steady state, and what its first call costs in a fresh
   process with numba's on-disk cache empty and full (import + compile or load).

Rows 3 and 4 are checked against row 2's recorded parameters (same samples, same order): the largest
difference is printed. The last line gives each row's ratio to the seed's loop.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from render_bench import seed_training, timed  # noqa: E402

from visualizer import History, Recorder, load_scene, train  # noqa: E402
from visualizer import kernels  # noqa: E402
from visualizer.train import SAMPLE_BLOCK, TrainState  # noqa: E402


def kernel_train(scene, steps: int, jit: bool) -> History:
    """The product scene trained as ``train`` does (same samples, same recorder), but with the steps between
    two recorded ones done by one :class:`kernels.PerSampleSGD` call: what the trainer will do with it."""
    network = scene.network(scene.seed)
    static, probes = scene.layout.probes(scene.x, scene.y, network)
    recorder = Recorder(every=scene.every, probes=probes, static=static)
    rng = np.random.default_rng(scene.seed)
    layers = network.layers
    sgd = kernels.PerSampleSGD([layer.weight for layer in layers], [layer.bias for layer in layers],
                               [layer.activation.name for layer in layers], scene.optimizer.lr, scene.loss.name,
                               jit=jit)
    state = TrainState(0, steps, network, scene.loss, scene.x, scene.y)
    recorder(state)
    while state.step < steps:
        xs, ys = scene.sampler(rng, SAMPLE_BLOCK)  # the Trainer's blocks, so the samples are the same
        start = 0
        while start < SAMPLE_BLOCK and state.step < steps:
            n = min(SAMPLE_BLOCK - start, scene.every - state.step % scene.every, steps - state.step)
            done = sgd.run(xs[start : start + n], ys[start : start + n])
            if done < n:
                raise RuntimeError(f"diverged at step {state.step + done}")
            start += n
            state.step += n
            recorder(state)
    return recorder.history()


def largest_difference(a: History, b: History) -> float:
    """The largest absolute difference between two histories' recorded parameters (rows both have)."""
    n = min(len(a), len(b))
    return max(float(np.abs(a.params[k][:n] - b.params[k][:n]).max()) for k in a.params)


def first_call_seconds(cache_dir: Path) -> tuple[float, float]:
    """(seconds to import numba, seconds for the first compiled call) in a fresh process using ``cache_dir``
    as numba's cache."""
    probe = ("import time, numpy as np; from visualizer import kernels as k; t = time.perf_counter(); "
             "assert k.available(); t1 = time.perf_counter(); "
             "w = [np.zeros((2, 6)), np.zeros((6, 6)), np.zeros((6, 1))]; "
             "k.per_sample_sgd(w, [None] * 3, ['sigmoid', 'sigmoid', 'identity'], np.zeros((1, 2)), "
             "np.zeros((1, 1)), 0.1, 'mse', jit=True); print(t1 - t, time.perf_counter() - t1)")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(ROOT)}
    env.pop(kernels.NO_JIT_ENV, None)
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps per measurement, one repeat")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest counts")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat

    def best(fn):
        """(fastest seconds, last result) over ``repeat`` runs of ``fn``."""
        runs = [timed(fn) for _ in range(repeat)]
        return min(seconds for seconds, _ in runs), runs[-1][1]
    seed_steps, engine_steps, numpy_steps, jit_steps = ((10_000, 20_000, 20_000, 200_000) if args.quick else
                                                        (30_000, 100_000, 100_000, 1_000_000))
    product = load_scene("product")
    rates: dict[str, float] = {}

    def row(what: str, steps: int, seconds: float, note: str = "") -> float:
        rate = steps / seconds
        print(f"  {what:<58} {rate:>12,.0f} steps/s  {steps:>9,} steps in {seconds:5.2f} s  {note}", flush=True)
        return rate

    print(f"per-sample SGD on the product scene's [2,6,6,1] network, recording every {product.every}th step\n")
    seconds = min(seed_training(seed_steps) for _ in range(repeat))
    rates["seed loop"] = seed = row("1. seed notebook's pure-Python loop (no recording)", seed_steps, seconds)

    seconds, engine = best(lambda: train(product, steps=engine_steps))
    rates["engine"] = row("2. engine today: visualizer.train(product)", engine_steps, seconds)

    seconds, fused = best(lambda: kernel_train(product, numpy_steps, jit=False))
    reference = engine if numpy_steps == engine_steps else train(product, steps=numpy_steps)
    rates["fused numpy"] = row("3. kernels.PerSampleSGD, fused numpy", numpy_steps, seconds,
                               f"max |Δparam| vs engine {largest_difference(fused, reference):.1e}")

    if not kernels.available():
        print("  4. compiled kernel: numba is not installed (or VISUALIZER_NO_JIT is set); skipped")
    else:
        with tempfile.TemporaryDirectory() as cache:
            import_s, compile_s = first_call_seconds(Path(cache))
            _, load_s = first_call_seconds(Path(cache))
        kernel_train(product, 10, jit=True)  # compile (or load) outside the timing: reported just above
        seconds, compiled = best(lambda: kernel_train(product, jit_steps, jit=True))
        check = compiled.subset(range(len(reference)))
        rates["numba"] = row("4. kernels.PerSampleSGD, compiled (numba), steady state", jit_steps, seconds,
                             f"max |Δparam| vs engine over {numpy_steps:,} steps "
                             f"{largest_difference(check, reference):.1e}")
        rates["numba incl. cached start"] = row("4. the same, counting import + cached load", jit_steps,
                                                seconds + import_s + load_s)
        print(f"  4. first call in a fresh process: import numba {import_s:.2f} s, then compile {compile_s:.2f} s "
              f"(empty cache) or load {load_s:.2f} s (cache filled); break-even against fused numpy at "
              f"{(import_s + load_s) * rates['fused numpy']:,.0f} steps (cached) or "
              f"{(import_s + compile_s) * rates['fused numpy']:,.0f} (uncached); kernels.JIT_MIN_STEPS = "
              f"{kernels.JIT_MIN_STEPS:,}")

    print("\nratios (ours ÷ seed's loop, steps/s; target 10×):")
    print("  " + " · ".join(f"{k} {v / seed:.2f}×" for k, v in rates.items() if k != "seed loop"))


if __name__ == "__main__":
    main()
