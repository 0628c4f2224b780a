"""Measure what the "why" layouts cost against the default layouts, on the same scene and the same run.

    python benchmarks/why_bench.py            # softplus_fit, xor and gender
    python benchmarks/why_bench.py --quick    # fewer frames

For each scene the run is trained once, recording what both layouts need, and then drawn with each layout:
frames/s of the renderer alone (one process, every frame drawn into the canvas), and of a whole MP4 render
(``--jobs 1``, so the two compare on one core). Then the loss landscape of softplus_fit (60×60 grid, the
plane of the path's principal directions) and the slow-motion frames of one explained step.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from visualizer import Layout, Renderer, load_scene, render, train  # noqa: E402
from visualizer.draw.explain import ExplainFrame, explain_analysis, explain_frames  # noqa: E402
from visualizer.record.landscape import landscape_for  # noqa: E402
from visualizer.record.model import NetworkModel, TrainingData  # noqa: E402

SIZE = (1280, 720)


def both(scene) -> Layout:
    """One layout holding the panels of the default and the why layout: training with it records both."""
    panels = {f"d{k}": p for k, p in scene.layout.panels.items()}
    panels.update({f"w{k}": p for k, p in scene.layout_named("why").panels.items()})
    return Layout([list(panels)], panels)


def draw_rate(layout, history, frames: int) -> float:
    renderer = Renderer(layout, history, size=SIZE)
    rows = [round(i * (len(history) - 1) / max(1, frames - 1)) for i in range(frames)]
    start = time.perf_counter()
    for row in rows:
        renderer.draw_rgba(row)
    seconds = time.perf_counter() - start
    renderer.close()
    return frames / seconds


def render_rate(scene, history, layout, out: Path, frames: int) -> float:
    start = time.perf_counter()
    render(scene, history, layout=layout, out=out, format="mp4", jobs=1, max_frames=frames, size=SIZE)
    return frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer frames")
    args = parser.parse_args()
    frames = 60 if args.quick else 200
    ratios = {}
    print(f"{SIZE[0]}x{SIZE[1]}, {frames} frames per measurement\n")
    with tempfile.TemporaryDirectory() as tmp:
        # One warm-up render first, so no measurement pays for first-time imports and ffmpeg's first start.
        warm = load_scene("softplus_fit")
        render(warm, train(warm, steps=20), out=Path(tmp) / "warmup", format="mp4", jobs=1, size=SIZE)
        for name in ("softplus_fit", "xor", "gender"):
            scene = load_scene(name)
            history = train(scene, layout=both(scene))
            rates = {}
            for label, layout in (("default", scene.layout), ("why", scene.layout_named("why"))):
                draw = draw_rate(layout, history, frames)
                whole = render_rate(scene, history, layout, Path(tmp) / f"{name}-{label}", frames)
                rates[label] = (draw, whole)
                print(f"  {name:<13} {label:<8} renderer {draw:6.1f} frames/s   MP4 render (jobs 1) "
                      f"{whole:6.1f} frames/s", flush=True)
            ratios[name] = (rates["why"][0] / rates["default"][0], rates["why"][1] / rates["default"][1])

        scene = load_scene("softplus_fit")
        history = train(scene)
        model = NetworkModel(scene.network(scene.seed))
        data = TrainingData(scene.x, scene.y, scene.loss)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            landscape_for(history, model, data, resolution=60)
            times.append(time.perf_counter() - start)
        print(f"\n  softplus_fit landscape, 60×60 grid (PCA plane): best {min(times) * 1000:.1f} ms of 5")

        history.static.update(explain_analysis(history, [300], model, scene.loss))
        renderer = Renderer(scene.layout, history, size=SIZE, explain=[300])
        keys = [k for k in explain_frames(history, [300], [300], fps=30) if isinstance(k, ExplainFrame)]
        start = time.perf_counter()
        for key in keys:
            renderer.draw_rgba(key)
        print(f"  softplus_fit --explain 300: {len(keys)} frames ({len(keys) / 30:.1f} s at 30 fps), "
              f"{len(keys) / (time.perf_counter() - start):.1f} frames/s")

    print("\nwhy ÷ default frames/s (renderer, whole MP4 render); the target is at least 0.5:")
    print("  " + " · ".join(f"{k} {a:.2f}, {b:.2f}" for k, (a, b) in ratios.items()))


if __name__ == "__main__":
    main()
