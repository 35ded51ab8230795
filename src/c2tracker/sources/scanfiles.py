"""Collecting from local scan files: the offline matcher as a source (``--source scan:PATH``).

Records are read with :func:`c2tracker.scandata.iter_records` and matched with one
:class:`c2tracker.matching.Matcher` pass over the whole rule set. The observations go through
the same :class:`~c2tracker.model.RunRecorder` as the live sources, as one pseudo query run
per rule query (outcome ``ok``, no credits), so the store, the lifecycle and the feeds cannot
tell scan data from live data except by its ``source``.

Only queries of an engine the files hold records for are recorded: a file of Shodan banners
says nothing about a Censys query, and recording that query as a successful empty run would
let the store age what Censys found.

The bundled sample (:func:`c2tracker.scandata.sample_paths`) is the one exception to "the
record's own time": its records carry fixed times in the six weeks before the date it was
generated for, so collecting it months later would store sightings older than every
lifecycle window and the newcomer's first feeds would be empty. :func:`sample_time_shift`
moves the whole sample forward so that its newest record is "now" (the run's start), keeping
the spread between records; ``collect`` applies it only to paths that
:func:`is_bundled_sample` recognises, never to a user's own scan files, and announces the
sample as sample data.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from c2tracker.model import Engine, Observation, QueryOutcome, RunRecorder

log = logging.getLogger(__name__)

#: Observations per recorded page: keeps each store transaction a modest size.
SCAN_PAGE_SIZE = 1000


@dataclass(slots=True)
class ScanReport:
    """What one ``scan:PATH`` source read and found."""

    source: str
    records: int = 0
    passed_over: int = 0
    """JSON Lines lines the raw-line prefilter ruled out unparsed (no rule can match them)."""
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    observations: int = 0
    queries: int = 0
    engines: set[Engine] = field(default_factory=set)
    duration_s: float = 0.0


def collect_scan(
    paths: Sequence[Path],
    rules: Any,
    recorder: RunRecorder,
    *,
    source: str | None = None,
    on_record: Callable[[int], None] | None = None,
    time_shift: timedelta | None = None,
) -> ScanReport:
    """Matches every record of ``paths`` against ``rules`` and records the observations.

    Args:
        source: the name observations carry; default ``scan:<first path>``.
        on_record: called with the running record count every 1000 records (progress).
        time_shift: added to every observation's timestamp; only for the bundled sample
            (:func:`sample_time_shift`), never for a user's own records.
    """
    from c2tracker.matching import Matcher
    from c2tracker.scandata import ReadStats, iter_records

    started = time.monotonic()
    name = source or f"scan:{paths[0]}"
    report = ScanReport(name)
    matcher = Matcher(rules)
    stats = ReadStats()
    found: dict[tuple[str, Engine, str], list[Observation]] = defaultdict(list)

    # The raw-line prefilter passes over JSON Lines no rule can match (Matcher.raw_prefilter);
    # a file's first line is always parsed, so the engines a file holds are still known.
    for record in iter_records(paths, stats, prefilter=matcher.raw_prefilter()):
        report.records += 1
        if on_record is not None and report.records % 1000 == 0:
            on_record(report.records)
        for observation in matcher.match(record.data, engine=record.engine):
            observation.source = name
            if time_shift is not None and observation.timestamp is not None:
                observation.timestamp += time_shift
            report.engines.add(observation.engine)
            found[(observation.rule_id, observation.engine, observation.query)].append(observation)
        if record.engine is not None:
            report.engines.add(Engine(record.engine))

    report.skipped = stats.skipped
    report.passed_over = stats.passed_over
    report.problems = [str(problem) for problem in stats.errors]
    # Everything is in memory now and costs nothing to read again: one bulk section.
    with recorder.bulk():
        for (rule_id, engine, query), observations in _every_query(rules, report.engines, found):
            query_run = recorder.start_query(rule_id, engine, query)
            for number, start in enumerate(range(0, len(observations), SCAN_PAGE_SIZE), start=1):
                chunk = observations[start : start + SCAN_PAGE_SIZE]
                recorder.record_page(query_run, number, chunk, credits=0, total=len(observations))
            recorder.finish_query(query_run, QueryOutcome.OK, duration_s=0.0)
            report.queries += 1
            report.observations += len(observations)

    report.duration_s = time.monotonic() - started
    log.info(
        "%s: %d record(s), %d skipped, %d observation(s) for %d quer(ies) in %.1fs",
        name,
        report.records,
        report.skipped,
        report.observations,
        report.queries,
        report.duration_s,
    )
    return report


def _every_query(
    rules: Iterable[Any],
    engines: set[Engine],
    found: dict[tuple[str, Engine, str], list[Observation]],
) -> Iterable[tuple[tuple[str, Engine, str], list[Observation]]]:
    """Every rule query of an engine the files cover, with its observations (maybe none)."""
    seen = set()
    for rule in rules:
        for rule_query in rule.queries:
            key = (rule.id, Engine(rule_query.engine), rule_query.query)
            if key[1] in engines and key not in seen:
                seen.add(key)
                yield key, found.get(key, [])
    for key, observations in found.items():
        if key not in seen:
            yield key, observations


# --- the bundled sample ---------------------------------------------------------------------


def is_bundled_sample(path: Path) -> bool:
    """True for the package's sample folder and the files in it, however the path is spelt."""
    from c2tracker.scandata import SAMPLE_DIR, sample_paths

    try:
        resolved = path.resolve()
    except OSError:
        return False
    return resolved == SAMPLE_DIR.resolve() or resolved in {p.resolve() for p in sample_paths()}


def sample_time_shift(now: datetime) -> timedelta:
    """How far to move the bundled sample's times so that its newest record is ``now``.

    Measured over every sample file at once, so all of them move by the same amount and the
    sample keeps its spread (six weeks). Zero when the sample is missing or holds no times.
    """
    from c2tracker.scandata import sample_paths

    newest = newest_record_time(sample_paths())
    return now - newest if newest is not None else timedelta(0)


def newest_record_time(paths: Sequence[Path]) -> datetime | None:
    """The latest time at which any record of ``paths`` was seen (UTC), or None."""
    from c2tracker.scandata import ReadStats, iter_records

    newest: datetime | None = None
    for record in iter_records(paths, ReadStats()):
        for moment in _record_times(record.data):
            if newest is None or moment > newest:
                newest = moment
    return newest


def _record_times(data: Mapping[str, Any]) -> Iterable[datetime]:
    """Every time a record states: a Shodan banner's ``timestamp``; a Censys host's
    ``last_updated_at`` and its services' ``scan_time`` (Platform) or ``observed_at`` (legacy)."""
    from c2tracker.matching import unwrap_censys_host
    from c2tracker.matching.fields import parse_datetime

    host = unwrap_censys_host(data)
    texts = [data.get("timestamp"), host.get("last_updated_at")]
    services = host.get("services")
    for service in services if isinstance(services, list) else []:
        if isinstance(service, Mapping):
            texts += [service.get("scan_time"), service.get("observed_at")]
    for text in texts:
        moment = parse_datetime(text) if isinstance(text, str) else None
        if moment is not None:
            yield moment
