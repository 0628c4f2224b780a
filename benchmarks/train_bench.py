"""Training and recording speed, ours against the baselines, in one run.

    python benchmarks/train_bench.py            # a few minutes
    python benchmarks/train_bench.py --quick    # fewer steps

Per-sample SGD on the product scene's [2,6,6,1] network, recording (with the scene's probes) every 1000th step:

1. the seed notebook's own pure-Python loop, no recording: the baseline of issue 15's target (≥ 10×);
2. visualizer 0.1.0's ``train(product)`` (commit bedda8f, extracted from git into a temporary folder): the
   baseline of "recording must not get slower";
3. ours, ``train(product)`` with the numpy loop (``VISUALIZER_NO_JIT=1``): where numba is not installed;
4. ours, ``train(product)`` as installed (the compiled kernel for runs of 20,000 steps or more), numba's
   cache warm; and its first call in a fresh process, import and compile included.

Each runs in its own process (so the environment and the code version are what they say), best of
``--repeat``. Then PyTorch: a 2-16-16-1 loop on 256 points, bare; with one ``named_parameters()`` copy per
recorded step; and with ``TorchRecorder.log`` every step (every=10): what recording costs next to a copy.
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from render_bench import seed_training  # noqa: E402

BASELINE_COMMIT = "bedda8f"
PROBE = ("import time, sys; from visualizer import load_scene, train; s = load_scene('product'); "
         "n = int(sys.argv[1]); t = time.perf_counter(); train(s, steps=n); print(time.perf_counter() - t)")


def in_process(path: Path, steps: int, env: dict | None = None) -> float:
    """Seconds for ``train(product, steps)`` in a fresh Python with ``path`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(path), **(env or {})}
    out = subprocess.run([sys.executable, "-c", PROBE, str(steps)], cwd=path, env=env, capture_output=True,
                         text=True, check=True)
    return float(out.stdout.split()[-1])


def baseline_tree(where: Path) -> Path:
    """visualizer 0.1.0's code and scenes, from git."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE_COMMIT, "visualizer", "scenes"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where


def torch_costs(steps: int, every: int = 10) -> tuple[float, float, float]:
    """Seconds for a small PyTorch loop: bare; + a parameter copy per recorded step; + TorchRecorder.log."""
    import torch

    from visualizer.torch import TorchRecorder

    torch.manual_seed(0)
    x = torch.rand(256, 2) * 2 - 1
    y = (x[:, :1] * x[:, 1:] > 0).float()

    def loop(mode: str) -> float:
        torch.manual_seed(1)
        model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16),
                                    torch.nn.ReLU(), torch.nn.Linear(16, 1))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        rec = TorchRecorder(model, every=every, total_steps=steps) if mode == "recorder" else None
        kept = []
        t = time.perf_counter()
        for step in range(steps + 1):
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
            loss.backward()
            if mode == "copy" and step % every == 0:
                kept.append({n: p.detach().clone() for n, p in model.named_parameters()})
            elif rec is not None:
                rec.log(step, loss)
            if step < steps:
                opt.step()
        return time.perf_counter() - t

    loop("bare")  # warm-up
    return tuple(min(loop(mode) for _ in range(3)) for mode in ("bare", "copy", "recorder"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest counts")
    args = parser.parse_args()
    seed_steps, engine_steps, jit_steps = (20_000, 50_000, 200_000) if args.quick else (50_000, 200_000, 1_000_000)
    best = lambda fn: min(fn() for _ in range(args.repeat))  # noqa: E731

    def row(what: str, steps: int, seconds: float) -> float:
        rate = steps / seconds
        print(f"  {what:<62} {rate:>10,.0f} steps/s  ({steps:,} steps in {seconds:.2f} s)", flush=True)
        return rate

    print("per-sample SGD, product scene [2,6,6,1], recording and probes every 1000th step\n")
    seed = row("1. seed notebook's pure-Python loop (no recording)", seed_steps,
               best(lambda: seed_training(seed_steps)))
    with tempfile.TemporaryDirectory() as tmp:
        old_tree = baseline_tree(Path(tmp))
        old = row(f"2. visualizer 0.1.0 train(product) ({BASELINE_COMMIT})", engine_steps,
                  best(lambda: in_process(old_tree, engine_steps)))
    numpy_path = row("3. ours, numpy loop (VISUALIZER_NO_JIT=1)", engine_steps,
                     best(lambda: in_process(ROOT, engine_steps, {"VISUALIZER_NO_JIT": "1"})))
    with tempfile.TemporaryDirectory() as cache:
        env = {"NUMBA_CACHE_DIR": cache}
        first = in_process(ROOT, jit_steps, env)  # fills the cache: compile included
        jit = row("4. ours, compiled kernel, numba cache warm", jit_steps, best(lambda: in_process(ROOT, jit_steps, env)))
        print(f"     first run in a fresh process with an empty cache: {first:.2f} s for {jit_steps:,} steps")
    print("\nratios:")
    print(f"  recording not slower than 0.1.0 (numpy path / 0.1.0):  {numpy_path / old:.2f}×  (target ≥ 1)")
    print(f"  ours / seed's loop: numpy {numpy_path / seed:.2f}×, compiled {jit / seed:.2f}×  (target ≥ 10×)")

    try:
        bare, copy, recorder = torch_costs(2000 if args.quick else 5000)
    except ImportError:
        print("\nPyTorch is not installed: TorchRecorder not measured")
        return
    print("\nPyTorch 2-16-16-1 loop, 256 points, every=10:")
    print(f"  bare {bare:.3f} s; + named_parameters() copy per recorded step {copy:.3f} s; + TorchRecorder.log "
          f"{recorder:.3f} s")
    print(f"  TorchRecorder's cost / one copy's cost: {(recorder - bare) / max(copy - bare, 1e-9):.2f}  (target ≤ 1; "
          "noisy when both are a few per cent of the loop)")


if __name__ == "__main__":
    main()
