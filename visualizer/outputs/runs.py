"""A comparison's own runs: each run's history, in ``runs/`` beside the comparison's video.

Published with the rest of the comparison in one transaction (:mod:`visualizer.outputs.transaction`): built in
the stage, swapped in by the same journal, so the folder never holds one comparison's video beside another's
runs. Only a comparison makes it (its folder is named ``<scene>-compare-<settings>``); a plain render never
publishes nor retires a ``runs`` folder.
"""
from __future__ import annotations

from typing import Any

from .output import Format, Job, Output

COMPARE_MARK = "-compare-"  # in the name of every comparison's folder (run/compare.py names it so)


class RunsFormat(Format):
    """``runs/<k>-<label>.npz``: a comparison's runs (``job.runs``: (file name, history) each), made before
    any frame is drawn."""

    name, choosable, draws, first = "runs", False, False, True

    def files(self, name: str) -> dict[str, str]:
        """``runs``, for a comparison's folder only."""
        return {"runs": "runs"} if COMPARE_MARK in name else {}

    def is_folder(self, kind: str) -> bool:
        """A folder of histories."""
        return True

    def make(self, output: Output, job: Job, made: dict[str, Output]) -> None:
        """Save every run's history into the folder."""
        output.path.mkdir()
        for file, history in job.runs:
            history.save(output.path / file)

    def manifest(self, kind: str, job: Job) -> dict[str, Any]:
        """Which runs, by file name."""
        return {"runs": [file for file, _ in job.runs]}


__all__ = ["COMPARE_MARK", "RunsFormat"]
