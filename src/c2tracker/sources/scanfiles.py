"""Collecting from local scan files: the offline matcher as a source (``--source scan:PATH``).

Records are read with :func:`c2tracker.scandata.iter_records` and matched with one
:class:`c2tracker.matching.Matcher` pass over the whole rule set. The observations go through
the same :class:`~c2tracker.model.RunRecorder` as the live sources, as one pseudo query run
per rule query (outcome ``ok``, no credits), so the store, the lifecycle and the feeds cannot
tell scan data from live data except by its ``source``.

Only queries of an engine the files hold records for are recorded: a file of Shodan banners
says nothing about a Censys query, and recording that query as a successful empty run would
let the store age what Censys found.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
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
) -> ScanReport:
    """Matches every record of ``paths`` against ``rules`` and records the observations.

    Args:
        source: the name observations carry; default ``scan:<first path>``.
        on_record: called with the running record count every 1000 records (progress).
    """
    from c2tracker.matching import Matcher
    from c2tracker.scandata import ReadStats, iter_records

    started = time.monotonic()
    name = source or f"scan:{paths[0]}"
    report = ScanReport(name)
    matcher = Matcher(rules)
    stats = ReadStats()
    found: dict[tuple[str, Engine, str], list[Observation]] = defaultdict(list)

    for record in iter_records(paths, stats):
        report.records += 1
        if on_record is not None and report.records % 1000 == 0:
            on_record(report.records)
        for observation in matcher.match(record.data, engine=record.engine):
            observation.source = name
            report.engines.add(observation.engine)
            found[(observation.rule_id, observation.engine, observation.query)].append(observation)
        if record.engine is not None:
            report.engines.add(Engine(record.engine))

    report.skipped = stats.skipped
    report.problems = [str(problem) for problem in stats.errors]
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
