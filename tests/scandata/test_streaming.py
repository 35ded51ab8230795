"""The readers stream JSON Lines in constant memory."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

import orjson
import pytest

from c2tracker.scandata import ReadStats, iter_records


def _write(path: Path, count: int) -> int:
    """A gzip JSON Lines file of ``count`` ~1 KB banners; returns its uncompressed size."""
    size = 0
    with gzip.open(path, "wb", compresslevel=1) as out:
        for i in range(count):
            line = orjson.dumps(
                {
                    "ip_str": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
                    "port": 443,
                    "data": "HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n",
                    "_shodan": {"module": "https"},
                    "http": {"html": f"<html>{i:08d}" + "x" * 900 + "</html>"},
                }
            )
            out.write(line + b"\n")
            size += len(line) + 1
    return size


def _peak(path: Path) -> tuple[int, int]:
    stats = ReadStats()
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_records([path], stats))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return count, peak


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_file_size(tmp_path: Path) -> None:
    small, large = tmp_path / "small.json.gz", tmp_path / "large.json.gz"
    _write(small, 2_000)
    large_size = _write(large, 16_000)

    small_count, small_peak = _peak(small)
    large_count, large_peak = _peak(large)

    assert (small_count, large_count) == (2_000, 16_000)
    # 8x the records, same peak (allow noise), and far below the data's size.
    assert large_peak < small_peak * 1.5 + 256 * 1024
    assert large_peak < large_size / 20
