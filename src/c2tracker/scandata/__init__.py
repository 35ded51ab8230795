"""Scan data: readers for Shodan and Censys exports, and the bundled sample.

- :func:`iter_records` streams :class:`ScanRecord` objects out of files, directories and stdin,
  counting bad input in :class:`ReadStats` (:mod:`.readers`).
- :func:`sample_paths` names the generated sample shipped with the package, which the main job
  uses when no API key is configured (:mod:`.samples` builds it).
"""

from __future__ import annotations

from pathlib import Path

from c2tracker.scandata.readers import ReadProblem, ReadStats, ScanRecord, iter_records

__all__ = ["SAMPLE_DIR", "ReadProblem", "ReadStats", "ScanRecord", "iter_records", "sample_paths"]

SAMPLE_DIR = Path(__file__).parent / "sample"
"""Where the committed sample lives inside the package (it ships in the wheel)."""


def sample_paths() -> list[Path]:
    """The bundled sample's files (gzip JSON Lines of Shodan banners and Censys hosts), sorted."""
    return sorted(SAMPLE_DIR.glob("*.json.gz"))
