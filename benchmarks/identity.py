"""Are two trees' outputs byte-identical? Renders every bundled scene (and the why layouts, an explained
step and a compare) with each tree and compares digests file by file.

    python benchmarks/identity.py [--base REV] [--scenes a,b] [--keep DIR]

REV (default ``HEAD``) is checked out into a temporary git worktree; the other tree is this checkout as it
stands. Both run in fresh processes with the same Python (``python -m visualizer`` with ``PYTHONPATH`` set
to the tree). Frames are small (320x180, at most 12 frames) so a whole run takes a few minutes; training runs
at each scene's own defaults, so every history array is compared in full. A history is compared array by
array (its zip container records no times, but the arrays are what matters); every other file by its SHA-256.
Exit status 1 when anything differs.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCENES = ["softplus_fit", "xor", "gender", "product", "autoencoder", "spiral", "moons", "overfit"]
SMALL = ["--size", "320x180", "--max-frames", "12", "--jobs", "2", "-q"]
# (folder name, arguments): what each tree renders; folder names are the output folders.
EXTRA = [
    (["render", "softplus_fit", "--layout", "why", "--explain", "300", *SMALL]),
    (["render", "xor", "--layout", "why", *SMALL]),
    (["render", "gender", "--layout", "why", *SMALL]),
    (["compare", "softplus_fit", "--vary", "optimizer=sgd,adam", "--steps", "60", *SMALL]),
]


def run_tree(tree: Path, out: Path, scenes: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    commands = [["render", name, *SMALL] for name in scenes] + EXTRA
    for args in commands:
        print(f"  {tree.name}: visualizer {' '.join(args)}", flush=True)
        subprocess.run([sys.executable, "-m", "visualizer", *args, "--out", str(out)], cwd=tree, env=env,
                       check=True)


def digests(out: Path) -> dict[str, str]:
    found = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = str(path.relative_to(out))
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                h = hashlib.sha256()
                for key in sorted(data.files):
                    arr = data[key]
                    h.update(key.encode() + str(arr.dtype).encode() + str(arr.shape).encode() + arr.tobytes())
                found[rel] = h.hexdigest()
        elif path.name == "manifest.json":
            continue  # names the package version and option objects, not pixels; compared by the files it lists
        else:
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="git revision to compare against (default: HEAD)")
    parser.add_argument("--scenes", default=",".join(SCENES))
    parser.add_argument("--keep", help="leave both output trees in this folder")
    args = parser.parse_args()
    scenes = [s for s in args.scenes.split(",") if s]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        base_tree = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(base_tree), args.base], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            print(f"base {args.base}:")
            run_tree(base_tree, work / "base-out", scenes)
            print("this tree:")
            run_tree(ROOT, work / "this-out", scenes)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT, check=False)
        a, b = digests(work / "base-out"), digests(work / "this-out")
    differ = sorted(k for k in a.keys() & b.keys() if a[k] != b[k])
    only = sorted(a.keys() ^ b.keys())
    print(f"{len(a.keys() & b.keys())} files compared; {len(differ)} differ; {len(only)} in one tree only")
    for name in differ:
        print(f"  differs: {name}")
    for name in only:
        print(f"  only in {'base' if name in a else 'this tree'}: {name}")
    return 1 if differ or only else 0


if __name__ == "__main__":
    sys.exit(main())
