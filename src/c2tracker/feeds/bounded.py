"""Bounded-memory helpers for building feeds of any size: external sort and duplicate checks.

A publish handles every active indicator (a million and more); what must be sorted or checked
for repeats across the whole feed is too big to hold as Python objects (a set of a million
ints costs about 60 MB, a dict of addresses with their file bits three times that). These
helpers keep memory fixed:

- :class:`ExternalSort` sorts more items than memory should hold: items are gathered in
  chunks of :data:`CHUNK` that are sorted in memory and written to run files, and iteration
  merges the runs (``heapq.merge``). Items are integers (written as fixed-width big-endian
  bytes) or byte strings without newlines (written one a line).
- :class:`RepeatFinder` tells whether any of many 64-bit values repeats: a fixed bitmap
  marks values seen; a value whose bit is already set is a *suspect* (a repeat or a bitmap
  collision), and one sequential re-read of the spilled values settles the suspects exactly.
- :class:`SidSet` is an exact, online set of 31-bit integers at about 4 bytes an entry
  (sorted ``array('I')`` buckets), for the IDS rule sids that must be unique as they are
  handed out.

Written here because the project's dependencies hold no external-sort or compact-set library
(numpy is not installed); each piece is a few dozen lines over ``heapq``, ``array`` and
``bisect`` from the standard library.
"""

from __future__ import annotations

import heapq
import shutil
import tempfile
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypeVar

__all__ = ["CHUNK", "ExternalSort", "RepeatFinder", "SidSet"]

#: Items sorted in memory at a time: about 10-20 MB of Python objects.
CHUNK = 200_000
_READ_BLOCK = 1 << 16

_Item = TypeVar("_Item", int, bytes)


class ExternalSort(Generic[_Item]):
    """Sorts items in bounded memory; iterate once all are added (iteration may repeat).

    Args:
        folder: where run files go (a temporary folder is made inside and removed by
            :meth:`close`).
        width: integers of at most ``width`` bytes; None for byte strings without ``\\n``.
        chunk: items held in memory before a run is written (default :data:`CHUNK`).
    """

    def __init__(self, folder: Path, *, width: int | None = None, chunk: int | None = None) -> None:
        self._parent = folder
        self._width = width
        self._chunk = chunk or CHUNK
        self._pending: list[_Item] = []
        self._runs: list[Path] = []
        self._folder: Path | None = None
        self.count = 0

    def add(self, item: _Item) -> None:
        self._pending.append(item)
        self.count += 1
        if len(self._pending) >= self._chunk:
            self._spill()

    def __iter__(self) -> Iterator[_Item]:
        if not self._runs:
            self._pending.sort()
            return iter(self._pending)
        if self._pending:
            self._spill()
        return heapq.merge(*(self._read(run) for run in self._runs))

    def unique(self) -> Iterator[_Item]:
        """The sorted items with repeats left out."""
        previous: _Item | None = None
        for item in self:
            if item != previous:
                yield item
                previous = item

    def close(self) -> None:
        self._pending = []
        self._runs = []
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> ExternalSort[_Item]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spill(self) -> None:
        if self._folder is None:
            self._parent.mkdir(parents=True, exist_ok=True)
            self._folder = Path(tempfile.mkdtemp(prefix=".sort-", dir=self._parent))
        self._pending.sort()
        path = self._folder / f"run-{len(self._runs)}"
        with path.open("wb") as out:
            pending: list[Any] = self._pending
            if self._width is None:
                out.write(b"\n".join(pending))
                out.write(b"\n")
            else:
                width = self._width
                out.write(b"".join(item.to_bytes(width, "big") for item in pending))
        self._runs.append(path)
        self._pending = []

    def _read(self, path: Path) -> Iterator[_Item]:
        with path.open("rb") as handle:
            if self._width is None:
                for line in handle:
                    yield line[:-1]  # type: ignore[misc]
                return
            width = self._width
            block = width * (_READ_BLOCK // width)
            while data := handle.read(block):
                for start in range(0, len(data), width):
                    yield int.from_bytes(data[start : start + width], "big")  # type: ignore[misc]


class RepeatFinder:
    """Finds a value added twice among many 64-bit values, in bounded memory.

    ``add(value, where)`` for each value (``where``: a line number to report); then
    :meth:`first_repeat` returns ``(where_first, where_again)`` of the earliest repeat, or None.
    Memory: the bitmap (16 MB at most, smaller when ``expected`` is small) plus the suspects, about
    ``n**2 / 2**bits`` of them (7,500 for a million values).
    """

    def __init__(self, folder: Path, *, expected: int | None = None) -> None:
        # About 16 bitmap bits a value keeps suspects rare; 2**27 bits (16 MB) at most.
        bits = 27 if expected is None else max(13, min(27, expected.bit_length() + 4))
        self._mask = (1 << bits) - 1
        self._bitmap = bytearray(1 << (bits - 3))
        self._suspects: set[int] = set()
        self._parent = folder
        self._spill: array[int] = array("Q")
        self._file: BinaryIO | None = None
        self._path: Path | None = None
        self.count = 0

    def add(self, value: int, where: int) -> None:
        value &= 0xFFFF_FFFF_FFFF_FFFF
        slot = value & self._mask
        byte, bit = slot >> 3, 1 << (slot & 7)
        if self._bitmap[byte] & bit:
            self._suspects.add(value)
        else:
            self._bitmap[byte] |= bit
        self._spill.append(value)
        self._spill.append(where)
        self.count += 1
        if len(self._spill) >= 2 * CHUNK:
            self._flush()

    def first_repeat(self) -> tuple[int, int] | None:
        if not self._suspects:
            self.close()
            return None
        first: dict[int, int] = {}
        try:
            for values in self._chunks():
                for position in range(0, len(values), 2):
                    value = values[position]
                    if value not in self._suspects:
                        continue
                    where = values[position + 1]
                    if value in first:
                        return first[value], where
                    first[value] = where
            return None
        finally:
            self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None
        self._spill = array("Q")
        self._suspects = set()

    def _flush(self) -> None:
        if self._file is None:
            self._parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(prefix=".repeats-", dir=self._parent)
            self._path = Path(name)
            self._file = open(handle, "w+b")  # noqa: SIM115 - closed in close()
        self._spill.tofile(self._file)
        self._spill = array("Q")

    def _chunks(self) -> Iterator[array[int]]:
        if self._file is not None:
            self._file.flush()
            self._file.seek(0)
            while True:
                values = array("Q")
                try:
                    values.fromfile(self._file, 2 * CHUNK)
                except EOFError:
                    if values:
                        yield values
                    break
                yield values
        yield self._spill


class SidSet:
    """An exact set of non-negative integers below 2**32 at about 4 bytes an entry."""

    _SHIFT = 16

    def __init__(self) -> None:
        self._buckets: dict[int, array[int]] = {}
        self.count = 0

    def add(self, value: int) -> bool:
        """Adds ``value``; False when it was already there."""
        bucket = self._buckets.get(value >> self._SHIFT)
        if bucket is None:
            self._buckets[value >> self._SHIFT] = array("I", (value,))
            self.count += 1
            return True
        position = bisect_left(bucket, value)
        if position < len(bucket) and bucket[position] == value:
            return False
        bucket.insert(position, value)
        self.count += 1
        return True

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int):
            return False
        bucket = self._buckets.get(value >> self._SHIFT)
        if bucket is None:
            return False
        position = bisect_left(bucket, value)
        return position < len(bucket) and bucket[position] == value
