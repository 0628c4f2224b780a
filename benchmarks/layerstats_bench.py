"""Measure what recording the per-layer statistics costs, on the same scene and the same run.

    python benchmarks/layerstats_bench.py              # spiral, 5 rounds
    python benchmarks/layerstats_bench.py --rounds 3 --scene moons

The scene is trained with its own layout, and with its layout plus panels asking for every per-layer
statistic (activation, pre-activation and δ histograms, mean, std, saturated and zero shares, ‖δ‖), in
alternating rounds. Printed: the smallest (least disturbed) CPU time (this process: steadier than wall time on a busy machine) of the whole training run (training and recording), and of the
recording alone (all that is done at the recorded steps: the loss and gradient on the training set, what the
panels need from the model, the copy into the history), with and without the statistics, and their ratios. The target is at most 1.3× for the recording.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from visualizer import (LayerHeatmapPanel, LayerHistogramPanel, LayerStatPanel, Layout, load_scene,  # noqa: E402
                        train)
import visualizer.run.render as render_module  # noqa: E402

SPENT = [0.0]


def _timed(log):
    def timed(recorder, state, test=None):
        if not recorder.due(state.step):
            return False
        start = time.process_time()
        try:
            return log(recorder, state, test)
        finally:
            SPENT[0] += time.process_time() - start
    return timed


CONFIGS = {
    "every statistic": {"_delta": LayerStatPanel("delta_norm"), "_act": LayerHistogramPanel("activation"),
                        "_pre": LayerHeatmapPanel(kind="preactivation")},
    "‖δ‖ per layer": {"_delta": LayerStatPanel("delta_norm")},
    "activations": {"_act": LayerHistogramPanel("activation")},
}


def with_panels(layout: Layout, extra: dict) -> Layout:
    """The scene's layout with ``extra`` panels in a row under it."""
    return Layout([[layout.mosaic], [[list(extra)]]], {**layout.panels, **extra})


def run(scene, layout) -> tuple[float, float, int]:
    SPENT[0] = 0.0
    start = time.process_time()
    history = train(scene, layout=layout)
    return time.process_time() - start, SPENT[0], len(history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scene", default="spiral")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    # Recording is everything done at a recorded step: the loss and gradient on the whole training set, what the
    # panels need from the model (the evaluator, where the statistics are computed), and the copy into the rows.
    render_module.log_full_set = _timed(render_module.log_full_set)
    scene = load_scene(args.scene)
    layouts = {"without": scene.layout, **{k: with_panels(scene.layout, v) for k, v in CONFIGS.items()}}
    run(scene, layouts["every statistic"])  # warm-up: imports, compiled kernels
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in layouts}
    rows = 0
    for _ in range(args.rounds):
        for label, layout in layouts.items():
            total, recording, rows = run(scene, layout)
            times[label].append((total, recording))
    best = {k: (min(t for t, _ in v), min(r for _, r in v)) for k, v in times.items()}
    base = best["without"]
    print(f"{args.scene}: {rows} recorded rows, the least disturbed (minimum) of {args.rounds} rounds, CPU seconds")
    for label in layouts:
        total, recording = best[label]
        ratio = "" if label == "without" else \
            f"   ratio: training run x{total / base[0]:.2f}, recording x{recording / base[1]:.2f}"
        print(f"  {label:<16} training run {total:6.2f} s   recording {recording:6.3f} s{ratio}")
    print("  (target: recording at most x1.3 with the statistics)")

if __name__ == "__main__":
    main()
