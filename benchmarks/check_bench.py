"""``visualizer check``, the baseline tree (``--base``, default ``main``, checked out into a temporary git
worktree) vs this checkout as it stands, in the same run:

    python benchmarks/check_bench.py [--base REV] [--repeat N] [--no-user]

- suite: what ``tests/test_check.py``'s bundled-scene cases do: every bundled scene's default (for four of
  them with an explained step), declared and why layouts, and a comparison, each trained once (30 steps, 10
  for the why layouts) and checked at one preset and size, presets and sizes taking turns; CPU seconds of
  the training and of the checks, one core.
- crowded: every case's frames checked again on a tall narrow frame (400x900: text scaled down to the
  width, so too small, overlapping and squeezed), where hundreds of problems are found: both trees must
  report the same ones (the check is faster, not weaker).
- user: ``check`` of two scenes as a user runs it (``softplus_fit`` and ``moons``, their whole runs trained).

Each tree runs in a fresh process (``PYTHONPATH`` set to the tree, the same Python), the two taking turns
``--repeat`` times; the best time of each is kept.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS, WHY_STEPS = 30, 10  # as tests/test_check.py trains its cases
SIZES = [(854, 480), (1280, 720), (1920, 1080)]
PRESETS = ["default", "lecture"]
CROWDED = (400, 900)
EXPLAINED = {"softplus_fit", "xor", "autoencoder", "moons"}  # checked with a step explained, as the tests check them


def _cases(scenes_dir: Path) -> list[str]:
    from visualizer.run.scene import load_scene

    names = sorted(p.stem for p in scenes_dir.glob("*.py") if not p.stem.startswith("_"))
    cases = []
    for name in names:
        layouts = load_scene(name).layouts
        first = "explain" if name in EXPLAINED else "default"  # an explained step and the default frames
        cases += [f"{name}:{layout}" for layout in [first, *layouts, *([] if "why" in layouts else ["why"])]]
    return cases + ["softplus_fit:compare"]


def _trained(case: str):
    from visualizer.run.check import compared
    from visualizer.run.render import _frames, train
    from visualizer.run.scene import load_scene

    name, _, layout = case.partition(":")
    scene = load_scene(name)
    if layout == "compare":
        history, chosen, title = compared(scene, ["lr=0.05,0.2"], steps=STEPS)
        return history, chosen, title, ()
    chosen = scene.layout_named("default" if layout in ("", "explain") else layout)
    history = train(scene, steps=min(scene.steps, WHY_STEPS if layout == "why" else STEPS), layout=chosen)
    explain: tuple[int, ...] = ()
    if layout == "explain":
        explain = (int(history.steps[1]),)
        _frames(history, scene, list(range(len(history))), explain, 30.0, False, 3.0)
    return history, chosen, scene.title, explain


def driver(tree: Path, user: bool) -> None:
    """In a process with ``tree`` on the path: time the workloads, print them as JSON."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from visualizer.run.check import check, check_history
    from visualizer.run.scene import load_scene

    cases = _cases(tree / "scenes")
    out = {"train": 0.0, "check": 0.0, "crowded": {}, "user": 0.0}
    trained = {}
    for k, case in enumerate(cases):
        start = time.process_time()
        trained[case] = _trained(case)
        middle = time.process_time()
        history, layout, title, explain = trained[case]
        check_history(history, layout, preset=PRESETS[k % 2], size=SIZES[k % 3], title=title, explain=explain)
        out["train"] += middle - start
        out["check"] += time.process_time() - middle
    for case, (history, layout, title, explain) in trained.items():
        found = check_history(history, layout, size=CROWDED, title=title, explain=explain)
        out["crowded"][case] = sorted(map(str, found))
    if user:
        start = time.process_time()
        for name in ("softplus_fit", "moons"):
            check(load_scene(name))
        out["user"] = time.process_time() - start
    print(json.dumps(out))


def _run(tree: Path, user: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    args = [sys.executable, str(Path(__file__).resolve()), "--driver", str(tree)] + ([] if user else ["--no-user"])
    done = subprocess.run(args, env=env, cwd=tree, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{tree}: the driver failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="main")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-user", action="store_true", help="leave out the user's check of two whole runs")
    parser.add_argument("--driver", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.driver:
        driver(args.driver, not args.no_user)
        return
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.base], check=True,
                       capture_output=True)
        try:
            trees = {f"baseline ({args.base})": base, "ours (this checkout)": ROOT}
            best: dict[str, dict] = {}
            for _ in range(args.repeat):  # taking turns, so both see the same machine
                for name, tree in trees.items():
                    got = _run(tree, not args.no_user)
                    if name not in best:
                        best[name] = got
                    else:
                        for key in ("train", "check", "user"):
                            best[name][key] = min(best[name][key], got[key])
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
    for name, got in best.items():
        user = f", user check of softplus_fit and moons {got['user']:.1f} s" if not args.no_user else ""
        print(f"{name:<22} suite: train {got['train']:.1f} s + check {got['check']:.1f} s = "
              f"{got['train'] + got['check']:.1f} s CPU{user}")
    (old, new) = best.values()
    print(f"suite speed-up {(old['train'] + old['check']) / (new['train'] + new['check']):.2f}x "
          f"(checks alone {old['check'] / new['check']:.2f}x)"
          + (f", user check speed-up {old['user'] / new['user']:.2f}x" if not args.no_user else ""))
    same = old["crowded"] == new["crowded"]
    count = sum(len(v) for v in new["crowded"].values())
    print(f"crowded {CROWDED[0]}x{CROWDED[1]} frames: {count} problems found by ours, "
          f"{'the same as' if same else 'NOT the same as'} the baseline's")
    for case in sorted(set(old["crowded"]) | set(new["crowded"])):
        if old["crowded"].get(case) != new["crowded"].get(case):
            print(f"  {case}: baseline {old['crowded'].get(case)}\n  {' ' * len(case)}  ours     "
                  f"{new['crowded'].get(case)}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
