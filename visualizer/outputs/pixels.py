"""What the frame encoders share: where a frame changed since the previous one, rows of RGB out of RGB or
RGBA frames, and evenly spaced picks of frames."""
from __future__ import annotations

import numpy as np


class Changes:
    """Where a frame differs from the previous frame given: rows, or boxes (the whole frame for the first)."""

    GAP = 48  # pixels: changes further apart than this in a run of rows make separate boxes

    def __init__(self, size: tuple[int, int], channels: int) -> None:
        (width, height), row_bytes = size, size[0] * channels
        # The widest integer that divides a row: comparing 8 bytes at a time is 3x faster than bytes.
        self._dtype = np.dtype(next(t for t in (np.uint64, np.uint32, np.uint16, np.uint8)
                                    if row_bytes % np.dtype(t).itemsize == 0))
        self._previous: np.ndarray | None = None
        self._shape, self._width, self._channels = (height, row_bytes), width, channels

    def _diff(self, frame: np.ndarray) -> np.ndarray | None:
        words = frame.reshape(self._shape).view(self._dtype)
        if self._previous is None:
            self._previous = words.copy()
            self._scratch = np.empty(words.shape, bool)
            return None
        return np.not_equal(words, self._previous, out=self._scratch)

    def _remember(self, frame: np.ndarray, rows: np.ndarray) -> None:
        words = frame.reshape(self._shape).view(self._dtype)
        for r0, r1 in runs(rows):
            self._previous[r0:r1] = words[r0:r1]

    def rows(self, frame: np.ndarray) -> np.ndarray:
        """A boolean per row: changed."""
        diff = self._diff(frame)
        if diff is None:
            return np.ones(self._shape[0], bool)
        changed = diff.any(axis=1)
        self._remember(frame, changed)
        return changed

    def boxes(self, frame: np.ndarray) -> list[tuple[int, int, int, int]]:
        """(row0, row1, col0, col1) boxes, in pixels, that hold every change."""
        diff = self._diff(frame)
        if diff is None:
            return [(0, self._shape[0], 0, self._width)]
        changed = diff.any(axis=1)
        per_word = self._dtype.itemsize
        boxes = []
        for r0, r1 in runs(changed):
            words = np.flatnonzero(diff[r0:r1].any(axis=0))
            splits = np.flatnonzero(np.diff(words) * per_word > self.GAP * self._channels)
            for w0, w1 in zip(words[np.concatenate(([0], splits + 1))], words[np.concatenate((splits, [-1]))]):
                c0 = int(w0) * per_word // self._channels
                c1 = min(self._width, -(-(int(w1) + 1) * per_word // self._channels))
                boxes.append((r0, r1, c0, c1))
        self._remember(frame, changed)
        return boxes


def rgb_rows(frame: np.ndarray, r0: int, r1: int) -> np.ndarray:
    """Rows ``r0:r1`` of an RGB or RGBA frame as (rows, width, 3) RGB."""
    if frame.shape[2] == 3:
        return frame[r0:r1]
    # Pillow reads the rows where they are and packs them as RGB in one pass, twice as fast as unpacking
    # them into an image first and five times as fast as a strided numpy copy.
    rows = pil_image().frombuffer("RGBA", (frame.shape[1], r1 - r0), np.ascontiguousarray(frame[r0:r1]), "raw", "RGBA",
                               0, 1)
    return np.frombuffer(rows.tobytes("raw", "RGB"), np.uint8).reshape(r1 - r0, frame.shape[1], 3)


def pil_image():
    """Pillow's Image module."""
    from PIL import Image  # Pillow is a matplotlib dependency, so always present; imported when first used

    return Image


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True in a 1-D boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate(([False], flags, [False])).astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def sample_positions(kept: list[int], count: int) -> list[int]:
    """At most ``count`` of ``kept``, evenly spaced, the first and the last included."""
    if len(kept) <= count:
        return list(kept)
    return [kept[i] for i in np.unique(np.round(np.linspace(0, len(kept) - 1, count)).astype(int))]
