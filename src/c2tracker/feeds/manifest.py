"""``manifest.json`` and ``status.json``: what a publish contains and how healthy the source is.

The manifest lists every file of the feed with its sha256, size, entry count, the window it
covers and the run it came from, so a consumer (or the OpenCTI connector, which today scrapes
GitHub's HTML to learn file names, landscape.md §1.2) can discover and verify files without
guessing. ``status.json`` tells an outage from a quiet week (§3: a consumer declared the source
dead when ``all.txt`` went missing).

Data source: both files say where the data came from (``data_source``): ``live`` (Shodan,
Censys), ``scan-files`` (the user's own ``scan:PATH`` files), ``sample`` (the bundled SAMPLE
scan data a fresh install collects from when no API key is set: generated records, not live
results), ``mixed`` or ``none``. It is judged over the runs whose indicators may still be
active (started within the longest lifecycle window, and always the latest run); when sample
data is involved a human ``notice`` says so.

Stale: the feed is stale when no collect run finished with status ``ok`` or ``partial``
within :data:`STALE_AFTER` (8 days: the weekly schedule of the original plus a day of slack),
or when there never was one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from c2tracker.errors import PublishError
from c2tracker.feeds.base import WrittenFile, as_utc, iso
from c2tracker.model import QueryOutcome, QueryRunInfo, RunInfo

__all__ = [
    "MANIFEST_NAME",
    "STALE_AFTER",
    "STATUS_NAME",
    "DataSource",
    "FileEntry",
    "Manifest",
    "build_status",
    "data_source",
    "file_sha256",
    "read_manifest",
]

MANIFEST_NAME = "manifest.json"
STATUS_NAME = "status.json"
STALE_AFTER = timedelta(days=8)
MANIFEST_VERSION = 1


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(slots=True)
class FileEntry:
    path: str
    format: str
    sha256: str
    bytes: int
    entries: int
    unit: str
    window: str | None
    run_id: int | None


@dataclass(slots=True)
class Manifest:
    """The parsed ``manifest.json``."""

    generated_at: str
    build: str
    run: dict[str, Any] | None
    counts: dict[str, int]
    files: list[FileEntry] = field(default_factory=list)
    version: int = MANIFEST_VERSION
    data_source: str = "none"
    """``live``, ``scan-files``, ``sample``, ``mixed`` or ``none`` (see :func:`data_source`)."""
    notice: str | None = None
    """Set when sample data is in the feed."""

    def file(self, path: str) -> FileEntry | None:
        return next((entry for entry in self.files if entry.path == path), None)

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2) + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        raw = orjson.loads(data)
        files = [FileEntry(**entry) for entry in raw.pop("files")]
        return cls(files=files, **raw)


SAMPLE_NOTICE = (
    "These feeds were built from the bundled SAMPLE scan data (generated records, not live "
    "results): do not block or alert on them. Set SHODAN_API_KEY or the Censys credentials "
    "and collect again for live data."
)
MIXED_SAMPLE_NOTICE = (
    "Part of these feeds comes from the bundled SAMPLE scan data (generated records, not live "
    "results); its indicators stay listed until they expire."
)


@dataclass(frozen=True, slots=True)
class DataSource:
    kind: str
    notice: str | None
    sources: tuple[str, ...]
    """Every source of the runs considered, as recorded (``shodan``, ``scan:<path>``…)."""


def source_kind(source: str, sample_dir: Path) -> str:
    """``sample``, ``scan-files`` or ``live`` for one run source name."""
    if not source.startswith("scan:"):
        return "live"
    path = Path(source[len("scan:") :])
    try:
        resolved = path.resolve()
        sample = sample_dir.resolve()
    except OSError:
        return "scan-files"
    if resolved == sample or sample in resolved.parents:
        return "sample"
    return "scan-files"


def data_source(
    runs: Sequence[RunInfo],
    *,
    generated_at: datetime,
    window: timedelta,
    sample_dir: Path | None = None,
) -> DataSource:
    """Where the feed's data came from, judged over the runs that may still contribute.

    ``runs`` newest first; ``window`` the longest lifecycle window (older runs' indicators
    have expired).
    """
    if sample_dir is None:
        from c2tracker.scandata import SAMPLE_DIR

        sample_dir = SAMPLE_DIR
    considered = [
        run
        for position, run in enumerate(runs)
        if position == 0 or as_utc(run.started_at) >= as_utc(generated_at) - window
    ]
    sources = sorted({source for run in considered for source in run.sources})
    kinds = {source_kind(source, sample_dir) for source in sources}
    if not kinds:
        kind = "none"
    elif len(kinds) == 1:
        kind = next(iter(kinds))
    else:
        kind = "mixed"
    notice = None
    if kind == "sample":
        notice = SAMPLE_NOTICE
    elif "sample" in kinds:
        notice = MIXED_SAMPLE_NOTICE
    return DataSource(kind, notice, tuple(sources))


def run_summary(run: RunInfo | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "status": run.status,
        "sources": list(run.sources),
    }


def build_manifest(
    root: Path,
    written: Sequence[WrittenFile],
    *,
    generated_at: datetime,
    build: str,
    run: RunInfo | None,
    counts: Mapping[str, int],
    source: DataSource | None = None,
) -> Manifest:
    """Hashes every written file (plus ``status.json``) under ``root`` into a manifest."""
    run_id = run.id if run else None
    entries = []
    for item in sorted(written, key=lambda w: w.path):
        path = root / item.path
        entries.append(
            FileEntry(
                path=item.path,
                format=item.format,
                sha256=file_sha256(path),
                bytes=path.stat().st_size,
                entries=item.entries,
                unit=item.unit,
                window=item.window,
                run_id=run_id,
            )
        )
    return Manifest(
        generated_at=iso(generated_at) or "",
        build=build,
        run=run_summary(run),
        counts=dict(counts),
        files=entries,
        data_source=source.kind if source else "none",
        notice=source.notice if source else None,
    )


def read_manifest(root: Path) -> Manifest | None:
    """The manifest of the feed at ``root``, or None when there is none (first publish)."""
    path = root / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return Manifest.from_json(path.read_bytes())
    except (orjson.JSONDecodeError, TypeError, KeyError) as exc:
        raise PublishError(f"{path}: unreadable manifest: {exc}") from None


def build_status(
    *,
    generated_at: datetime,
    runs: Sequence[RunInfo],
    failed_queries: Sequence[QueryRunInfo],
    engines: Mapping[str, datetime | None],
    source: DataSource | None = None,
) -> dict[str, Any]:
    """The content of ``status.json``."""
    good = [run for run in runs if run.status in ("ok", "partial") and run.finished_at]
    last_good = max((as_utc(run.finished_at) for run in good if run.finished_at), default=None)
    stale = last_good is None or as_utc(generated_at) - last_good > STALE_AFTER
    latest = runs[0] if runs else None
    return {
        "generated_at": iso(generated_at),
        "data_source": source.kind if source else "none",
        "notice": source.notice if source else None,
        "stale": stale,
        "stale_after_days": STALE_AFTER.days,
        "last_successful_run_at": iso(last_good),
        "last_run": run_summary(latest),
        "engines": {name: {"last_success": iso(when)} for name, when in sorted(engines.items())},
        "failed_queries": [
            {
                "rule": query.rule_id,
                "engine": query.engine,
                "outcome": query.outcome.value,
                "reason": query.reason,
            }
            for query in failed_queries
            if query.outcome is QueryOutcome.FAILED
        ],
    }
