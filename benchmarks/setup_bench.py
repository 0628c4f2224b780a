"""How long a renderer takes to set up (lay its figure out and draw its background), this tree against another
revision, in the same run; and whether both draw the same pixels.

    python benchmarks/setup_bench.py [--base main] [--repeat 3] [--cases xor,gender]

Each tree builds the same renderers in a fresh process of its own (``PYTHONPATH`` set to the tree): every
case below is a scene's layout at a size and preset, trained for a few steps; each renderer's set-up is timed
in CPU seconds (``time.process_time``: this machine is shared, so wall time says more about the neighbours
than about us), then its first and last frames are drawn and hashed. The two trees run in turn ``--repeat``
times, so a slow minute hits both; each case's best time is kept. Prints one row per case, the ratio (ours ÷
base) per case and for the sum, and whether every frame's SHA-256 agrees (exit status 1 when one differs).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (scene, layout name, width, height, preset, explained steps, pixels)
CASES = [
    ("xor", "default", 320, 180, "default", (), True),
    ("xor", "default", 160, 90, "default", (), True),
    ("softplus_fit", "default", 320, 180, "default", (), True),
    ("softplus_fit", "default", 1280, 720, "default", (), True),
    ("softplus_fit", "default", 160, 90, "default", (), True),
    ("gender", "default", 480, 270, "default", (), True),
    ("product", "default", 320, 180, "lecture", (), True),
    ("spiral", "default", 854, 480, "default", (), True),
    ("autoencoder", "default", 320, 180, "default", (), True),
    ("xor", "why", 320, 180, "default", (), True),
    ("softplus_fit", "default", 320, 180, "default", (10,), True),
    ("gender", "default", 1920, 1080, "default", (), False),
]

CHILD = r"""
import hashlib, json, sys, time
import matplotlib
matplotlib.use("Agg")
from visualizer import Renderer, load_scene, train
from visualizer.draw.explain import explain_analysis

cases = json.loads(sys.argv[1])
histories, out = {}, []
for scene_name, layout_name, width, height, preset, explain, pixels in cases:
    scene = load_scene(scene_name)
    layout = scene.layout_named(layout_name)
    key = (scene_name, layout_name)
    if key not in histories:
        histories[key] = train(scene, steps=20, layout=layout)
    history = histories[key]
    static = explain_analysis(history, explain, loss=scene.loss) if explain else None
    start = time.process_time()
    renderer = Renderer(layout, history, size=(width, height), title=scene.title, preset=preset,
                        explain=tuple(explain), explain_static=static, pixels=pixels)
    seconds = time.process_time() - start
    digest = hashlib.sha256()
    for row in ({0, len(history) - 1} if pixels else ()):
        digest.update(renderer.draw(row).tobytes())
    renderer.close()
    out.append((seconds, digest.hexdigest()))
print(json.dumps(out))
"""


def run_tree(tree: Path, cases: list) -> list[tuple[float, str]]:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cases)], cwd=tree, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the renderers of {tree} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="git revision to compare against (default: main)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tree, in turn (best time kept)")
    parser.add_argument("--cases", help="only the cases of these scenes (comma-separated)")
    args = parser.parse_args()
    cases = [c for c in CASES if not args.cases or c[0] in args.cases.split(",")]
    best = {"base": [float("inf")] * len(cases), "ours": [float("inf")] * len(cases)}
    digests: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base_tree = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(base_tree), args.base], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            for k in range(args.repeat):
                order = [("base", base_tree), ("ours", ROOT)][:: 1 if k % 2 == 0 else -1]
                for name, tree in order:
                    got = run_tree(tree, cases)
                    best[name] = [min(a, b) for a, (b, _) in zip(best[name], got)]
                    digests[name] = [d for _, d in got]
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT, check=False)
    print(f"{'case':<52} {'base s':>7} {'ours s':>7} {'ratio':>6}  pixels")
    differ = 0
    for case, a, b, da, db in zip(cases, best["base"], best["ours"], digests["base"], digests["ours"]):
        scene, layout, w, h, preset, explain, pixels = case
        what = f"{scene} {layout} {w}x{h} {preset}" + (f" explain {explain}" if explain else "") + \
            ("" if pixels else " (laid out only)")
        same = "same" if da == db else "DIFFER"
        differ += da != db
        print(f"{what:<52} {a:7.3f} {b:7.3f} {b / a:6.2f}  {same}")
    total_a, total_b = sum(best["base"]), sum(best["ours"])
    print(f"{'all cases':<52} {total_a:7.3f} {total_b:7.3f} {total_b / total_a:6.2f}  "
          f"{'every frame the same' if not differ else f'{differ} cases differ'}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
