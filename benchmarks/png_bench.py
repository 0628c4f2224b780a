"""What byte-reproducible PNG frames cost: zlib (deterministic) against ISA-L (faster, not reproducible).

    python benchmarks/png_bench.py [--frames N]

1. The frame encoder alone on a recorded sequence of softplus_fit frames at 1280x720 (drawn once, then
   encoded by each deflate module in the same run): milliseconds a frame, and the ratio.
2. A whole render of those frames (``format="frames"``, two jobs: drawing included), CPU seconds of this
   process and its workers, each way.
3. Reproducibility: the same frames encoded in fresh worker processes by each module; how many files
   differ in bytes from the first process's.
"""
from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import resource
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def deflate_module(name: str):
    if name == "zlib":
        return zlib
    from isal import isal_zlib

    return isal_zlib


def encode_all(args) -> list[str]:
    name, frames = args
    from visualizer.outputs.png import PNGEncoder

    encoder = PNGEncoder((frames[0].shape[1], frames[0].shape[0]), frames[0].shape[2], deflate=deflate_module(name))
    return [hashlib.sha256(encoder.encode(f)).hexdigest() for f in frames]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=120)
    args = parser.parse_args()
    import numpy as np

    import visualizer.outputs.png as png
    from visualizer import load_scene, render, train
    from visualizer.outputs.stills import read_png

    history = train(load_scene("softplus_fit"))
    with tempfile.TemporaryDirectory() as tmp:
        first = render(history, out=Path(tmp) / "seq", format="frames", max_frames=args.frames, jobs=2)
        frames = [np.ascontiguousarray(read_png(p)) for p in sorted(first["frames"].iterdir())]
        print(f"{len(frames)} frames of softplus_fit at {frames[0].shape[1]}x{frames[0].shape[0]}")
        per_frame = {}
        for name in ("zlib", "isal"):
            start = time.perf_counter()
            encode_all((name, frames))
            per_frame[name] = (time.perf_counter() - start) / len(frames) * 1e3
        print(f"1. encoder: zlib {per_frame['zlib']:.2f} ms/frame, ISA-L {per_frame['isal']:.2f} ms/frame; "
              f"ratio {per_frame['zlib'] / per_frame['isal']:.2f}")
        spent = {}
        for name in ("zlib", "isal"):
            png.zlib = deflate_module(name)  # the encoder's default, inherited by the forked workers
            before = cpu()
            render(history, out=Path(tmp) / name, format="frames", max_frames=args.frames, jobs=2)
            spent[name] = cpu() - before
        png.zlib = zlib
        print(f"2. render of the frames: zlib {spent['zlib']:.1f} CPU-s, ISA-L {spent['isal']:.1f} CPU-s; "
              f"ratio {spent['zlib'] / spent['isal']:.2f}")
        with mp.get_context("spawn").Pool(2) as pool:
            for name in ("zlib", "isal"):
                runs = pool.map(encode_all, [(name, frames)] * 6)
                differ = sum(a != b for run in runs[1:] for a, b in zip(runs[0], run))
                print(f"3. {name}: {differ} of {5 * len(frames)} files differ in bytes from the first process's")


if __name__ == "__main__":
    main()
