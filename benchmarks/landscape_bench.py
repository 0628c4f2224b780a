"""How long a loss landscape's grid takes in single precision (what the renderer uses) against double precision
(what it used before), in the same run, and how far apart the two grids are.

    python benchmarks/landscape_bench.py [--repeat 3] [--scenes spiral,moons,xor]

Each scene is trained once for its own step count with its why layout's landscape left out; then the
landscape (PCA plane, 60×60 grid, the training set) is computed with the grid in float64 and in float32, in
turn ``--repeat`` times (a slow minute hits both), in CPU seconds (``time.process_time``). Prints a row per
scene with both best times, their ratio, and the largest difference between the grids relative to the grid's
range of values (what its colours and contours show); the path's losses must agree exactly. On a shared
machine set ``OPENBLAS_NUM_THREADS=1``: CPU seconds of spinning BLAS threads are noise.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from visualizer import load_scene, train
from visualizer.draw.panels import Layout, LossPanel
from visualizer.engine.losses import get_loss
from visualizer.record import landscape
from visualizer.record.backprop import activation_functions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scenes", default="spiral,moons,product,dropout,batchnorm,overfit,vanishing")
    args = parser.parse_args()
    total = {np.float64: 0.0, np.float32: 0.0}
    print(f"{'scene':14} {'float64 s':>10} {'float32 s':>10} {'ratio':>7} {'max diff / range':>17}")
    for name in args.scenes.split(","):
        scene = load_scene(name)
        history = train(scene, layout=Layout([["loss"]], {"loss": LossPanel()}), progress=False)
        layers = list(history.info.layers)
        args_ = (layers, scene.x, scene.y, get_loss(history.info.loss), activation_functions(layers))
        best, grids = {}, {}
        for _ in range(args.repeat):
            for dtype in (np.float64, np.float32):
                landscape.GRID_DTYPE = dtype
                start = time.process_time()
                out = landscape.compute_landscape(history, *args_)
                spent = time.process_time() - start
                best[dtype] = min(best.get(dtype, np.inf), spent)
                grids[dtype] = out
        a, b = grids[np.float64], grids[np.float32]
        assert np.array_equal(a["path_loss"], b["path_loss"]), "the path's losses differ"
        span = float(np.ptp(a["loss"]))
        diff = float(np.abs(a["loss"] - b["loss"]).max()) / span if span else 0.0
        for dtype in best:
            total[dtype] += best[dtype]
        print(f"{name:14} {best[np.float64]:10.3f} {best[np.float32]:10.3f} "
              f"{best[np.float32] / best[np.float64]:7.2f} {diff:17.2e}")
    print(f"{'all':14} {total[np.float64]:10.3f} {total[np.float32]:10.3f} {total[np.float32] / total[np.float64]:7.2f}")


if __name__ == "__main__":
    main()
