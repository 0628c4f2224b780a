"""The handout (``--format pdf``): a vector PDF with one printed page per chosen step, each with its step and
caption, for a teacher's notes and students' handouts.

Which steps get a page is decided here (:func:`handout_pages`): the first frame, every moment, and frames
evenly spaced in frame order among those the render draws (so, with frames paced by change, where the run
changes most), up to :data:`HANDOUT_PAGES`. The pages are drawn by the render (``Job.handout``): outputs import
no figures.
"""
from __future__ import annotations

import bisect
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .output import HANDOUT, HANDOUT_PAGES, Format, Job, Output, human_size, summary_line
from .pixels import sample_positions

PAPER = "279.4 x 210 mm landscape (Letter's width, A4's height: actual size on both)"


def handout_pages(drawn: Sequence[int], recorded: Sequence[int], moments: Sequence[tuple[int, str]],
                  count: int = HANDOUT_PAGES) -> list[tuple[int, str]]:
    """The handout's pages as (training step, caption), in step order: the first of the ``drawn`` steps (in
    frame order), each moment at the ``recorded`` step nearest to it, and drawn steps evenly spaced in frame
    order, the last included, up to ``count`` pages. A moment takes the place of the evenly spaced page
    nearest to it in frame order; moments beyond ``count`` still get their pages. Moments at one step share
    its page, their captions joined."""
    drawn = [int(s) for s in drawn]
    recorded = np.asarray(recorded)
    evenly = sample_positions(drawn, max(count, 1))
    pages: dict[int, str] = {drawn[0]: ""}
    rest = [s for s in evenly if s != drawn[0]]
    order = {s: i for i, s in enumerate(drawn)}
    for step, caption in sorted(moments, key=lambda m: m[0]):
        at = int(recorded[np.abs(recorded - step).argmin()])
        if at in pages:
            pages[at] = "; ".join(c for c in (pages[at], caption) if c)
            if at in rest:
                rest.remove(at)
            continue
        pages[at] = caption
        where = order.get(at, bisect.bisect_left(drawn, at))
        if rest:
            rest.remove(min(rest, key=lambda s: abs(order[s] - where)))
    for step in rest:
        pages.setdefault(step, "")
    return sorted(pages.items())


def pdf_pages(path: Path) -> int:
    """How many pages a PDF written by matplotlib has (its page objects; it writes no object streams)."""
    return len(re.findall(rb"/Type\s*/Page\b", path.read_bytes()))


class HandoutFormat(Format):
    """The handout: a vector PDF, one landscape page per chosen step (:func:`handout_pages`), sized to print
    at actual size on A4 and US Letter. Not in ``all``: its pages cost a second or two that most renders do
    not need."""

    name, help, draws, in_all, stage = "pdf", "a printable handout, not in all", False, False, HANDOUT

    def filename(self, name: str) -> str:
        """<name>.pdf"""
        return f"{name}.pdf"

    def pages(self, job: Job) -> list[tuple[int, str]]:
        """The (step, caption) of each page of this render's handout."""
        return handout_pages([job.frame_steps[p] for p in job.row_positions], job.history.steps, job.moments,
                             job.pages)

    def make(self, output: Output, job: Job, made: dict[str, Output]) -> None:
        """The pages, drawn by the render."""
        if job.handout is None:
            raise RuntimeError("a handout needs the render to give Job.handout (its pages' drawing)")
        job.handout(self.pages(job), output.path)

    def manifest(self, kind: str, job: Job) -> dict[str, Any]:
        """The frames', with each page's step and caption, and the paper."""
        return {**job.drawn(), "pages": [{"step": s, "caption": c} for s, c in self.pages(job)], "paper": PAPER}

    def summary(self, kind: str, path: Path) -> str:
        """Its size and pages."""
        return summary_line(kind, path, f"{human_size(path.stat().st_size)}, {pdf_pages(path)} pages")


__all__ = ["HANDOUT_PAGES", "HandoutFormat", "handout_pages", "pdf_pages"]
