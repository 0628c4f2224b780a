"""PNG frames: a fast encoder for sequences that change in places, and the numbered frames folder."""
from __future__ import annotations

import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

from ..base.errors import EncodeError
from ..base.files import publish, temp_prefix
from .pixels import Changes, rgb_rows, runs
from .writer import Writer


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def _adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of two byte strings one after the other, from theirs (zlib's adler32_combine)."""
    base = 65521
    rem = second_length % base
    s1 = first & 0xFFFF
    s2 = rem * s1 % base
    s1 = (s1 + (second & 0xFFFF) + base - 1) % base
    s2 = (s2 + (first >> 16) + (second >> 16) + base - rem) % base
    return s1 | s2 << 16


def fastest_deflate():
    """The fastest zlib-compatible module here: ``isal.isal_zlib`` (Intel's ISA-L: deflate about five times as
    fast at its level 1, for files the same size) where the optional ``isal`` package is installed, else
    the standard library's ``zlib``. Either makes ordinary PNG files, but ISA-L's bytes are not reproducible:
    the same band of pixels compressed in two render workers came out different (same length, one match
    coded differently), so the frames use zlib unless given this."""
    try:
        from isal import isal_zlib
    except ImportError:
        return zlib
    return isal_zlib


class PNGEncoder:
    """Lossless RGB PNGs of frames of one size, fast for a sequence that changes in places.

    Pillow's PNG writer tries every row filter on every row: about 20 ms for a 1280x720 plot frame, and
    hardly smaller files than no filter at all. Here rows go unfiltered into zlib (``level``) in bands of
    ``band`` rows, each compressed on its own (no match reaches into another band), so a band that is as it
    was in the previous frame keeps its compressed bytes. With the default ``deflate`` (the standard
    library's ``zlib``, deterministic by design) the bytes depend only on the pixels: the same frame gives the
    same file whatever came before it, in whichever process. ``deflate=fastest_deflate()`` is three to six times
    as fast but not byte-reproducible; ISA-L's levels stop at 3, so a higher ``level`` means its highest there.
    """

    def __init__(self, size: tuple[int, int], channels: int = 3, level: int = 1, band: int = 32,
                 deflate=None) -> None:
        self.size, self.channels, self.band = (int(size[0]), int(size[1])), channels, band
        self._zlib = deflate or zlib
        self.level = min(level, 3) if self._zlib is not zlib else level
        width, height = self.size
        self._head = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        self._tail = _png_chunk(b"IEND", b"")
        self._changes = Changes(self.size, channels)
        self._rows = np.zeros((height, 1 + 3 * width), np.uint8)  # each row: filter type 0 (none), then RGB
        self._bands: list[tuple[bytes, int, int]] = [(b"", 1, 0)] * -(-height // band)

    def encode(self, frame: np.ndarray) -> bytes:
        """The PNG file of ``frame``, (height, width, channels) uint8, as bytes."""
        height = self.size[1]
        changed = self._changes.rows(frame)
        padded = np.zeros(len(self._bands) * self.band, bool)
        padded[:height] = changed
        z = self._zlib
        for b0, b1 in runs(padded.reshape(-1, self.band).any(axis=1)):
            r0, r1 = b0 * self.band, min(height, b1 * self.band)
            self._rows[r0:r1, 1:] = rgb_rows(frame, r0, r1).reshape(r1 - r0, -1)
            for k in range(b0, b1):
                rows = self._rows[k * self.band : min(height, (k + 1) * self.band)]
                deflate = z.compressobj(self.level, z.DEFLATED, -15)  # raw deflate: the zlib frame is ours
                self._bands[k] = (deflate.compress(rows) + deflate.flush(z.Z_SYNC_FLUSH), z.adler32(rows),
                                  rows.size)
        adler = 1
        for _, band_adler, length in self._bands:
            adler = _adler32_combine(adler, band_adler, length)
        # zlib header (deflate, 32 KB window, fastest), the bands, an empty final block, the checksum.
        data = b"".join([b"\x78\x01", *(d for d, _, _ in self._bands), b"\x03\x00", struct.pack(">I", adler)])
        return self._head + _png_chunk(b"IDAT", data) + self._tail


class PNGFramesWriter(Writer):
    """One PNG per frame, ``frame_<step>.png`` zero-padded to ``digits``, in the folder ``path``.

    The set is written to a temporary folder and swapped in whole, so no stale frames of an earlier run
    remain. With ``into=FOLDER`` it writes straight into that (temporary) folder instead, for chunks. The
    PNGs are RGB and lossless (:class:`PNGEncoder`, zlib ``compress_level``).
    """

    def __init__(self, path: str | os.PathLike, digits: int = 5, compress_level: int = 1,
                 into: Path | None = None) -> None:
        super().__init__(path)
        self.digits, self.compress_level, self.into = digits, compress_level, into

    def _setup(self) -> None:
        self._encoder = PNGEncoder(self.size, self.channels, self.compress_level)
        if self.into is not None:
            self._tmp_dir = self.into
            return
        self._tmp_dir = Path(tempfile.mkdtemp(prefix=temp_prefix(self.path), suffix=".part", dir=self.path.parent))

    def _write(self, frame: np.ndarray, step: int) -> None:
        (self._tmp_dir / f"frame_{step:0{self.digits}d}.png").write_bytes(self._encoder.encode(frame))

    def hold(self, frame: np.ndarray, step: int, count: int) -> None:
        """A folder of frames has one PNG per step: nothing to hold."""

    def _finish(self) -> None:
        if self.into is None:
            swap_folder(self._tmp_dir, self.path)

    def abort(self) -> None:
        if hasattr(self, "_tmp_dir") and self.into is None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)


def swap_folder(new: Path, final: Path) -> None:
    """Put folder ``new`` at ``final``, replacing an older folder there (two renames, then cleanup)."""
    old = None
    if final.exists():
        if not final.is_dir():
            shutil.rmtree(new, ignore_errors=True)
            raise EncodeError(f"{final} exists and is not a folder; remove it or choose another output folder")
        old = final.with_name(f"{temp_prefix(final)}old.part")
        os.replace(final, old)
    publish(new, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
