"""Explain at talking speed: how long one explained step's frames take to draw, each drawn (baseline) vs a
stage's held picture drawn once and shown again (ours), in the same run.

    python benchmarks/explain_bench.py

softplus_fit at 1280x720, step 300 explained at 30 fps with the default 3 s per stage (360 frames, a third of
them held). Both loops fetch every frame's pixels (``draw_rgba``), as the writers do.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from visualizer import Renderer, load_scene, train  # noqa: E402
from visualizer.draw.explain import ExplainFrame, explain_analysis, explain_frames  # noqa: E402
from visualizer.record.model import NetworkModel  # noqa: E402


def main() -> None:
    scene = load_scene("softplus_fit")
    history = train(scene)
    history.static.update(explain_analysis(history, [300], NetworkModel(scene.network(scene.seed)), scene.loss))
    renderer = Renderer(scene.layout, history, size=(1280, 720), explain=[300])
    keys = [k for k in explain_frames(history, [300], [300], fps=30) if isinstance(k, ExplainFrame)]
    sheet = renderer._explain_sheet

    def every_frame_drawn():
        for key in keys:
            sheet.draw(key).buffer_rgba()

    def held_drawn_once():
        for key in keys:
            renderer.draw_rgba(key)

    runs = {"baseline: every frame drawn": every_frame_drawn, "ours: held pictures drawn once": held_drawn_once}
    times = dict.fromkeys(runs, float("inf"))
    for _ in range(3):  # interleaved, so both see the same machine
        for name, run in runs.items():
            renderer._explain_shown = None
            start = time.perf_counter()
            run()
            times[name] = min(times[name], time.perf_counter() - start)
    for name, best in times.items():
        print(f"{name:<32} {len(keys)} frames in {best:.2f} s ({len(keys) / best:.0f} frames/s)")
    base, ours = times.values()
    print(f"speed-up {base / ours:.2f}x")


if __name__ == "__main__":
    main()
