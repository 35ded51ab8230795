"""One collect run as a library call: settings, a store and rules in, a report out.

:func:`collect` is what ``c2tracker collect`` and the server's scheduler both call. It chooses
the engines (:mod:`.engines`), plans and runs their queries (:mod:`.planner`, :mod:`.runner`),
matches scan files (:mod:`.scanfiles`), and finishes the run in the store. It prints nothing:
while it works it tells an optional :class:`CollectProgress`, and it returns a
:class:`CollectReport` that the caller renders (the CLI as a Rich table, the scheduler as log
lines).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from c2tracker.errors import ConfigError
from c2tracker.model import Engine, QueryOutcome
from c2tracker.sources.base import Page, PlannedQuery, Source
from c2tracker.sources.engines import build_source, choose_engines, parse_sources
from c2tracker.sources.http import RetryPolicy
from c2tracker.sources.planner import parse_budgets, planned_queries
from c2tracker.sources.runner import (
    EngineReport,
    PlanLine,
    QueryResult,
    dry_run as plan_dry_run,
    run_engine,
)
from c2tracker.sources.scanfiles import (
    ScanReport,
    collect_scan,
    is_bundled_sample,
    sample_time_shift,
)

if TYPE_CHECKING:
    from c2tracker.rules import RuleSet
    from c2tracker.settings import Settings
    from c2tracker.store import Store
    from c2tracker.store.finish import FinishReport

log = logging.getLogger(__name__)

#: Seconds to wait for an engine's answer (``collect --timeout``'s default).
DEFAULT_TIMEOUT_S = 60.0

SAMPLE_NOTICE = (
    "no API credentials configured: collecting from the bundled SAMPLE scan data (generated "
    "records, not live results; their times are moved forward so that the newest is now)"
)


class CollectProgress(Protocol):
    """What :func:`collect` tells whoever shows its progress (all calls on the caller's
    thread). :class:`QuietProgress` implements every method as a no-op."""

    def notice(self, line: str) -> None:
        """A line for a human: a source skipped for want of credentials, sample data used."""
        ...

    def scan_started(self, path: Path) -> None: ...

    def scan_records(self, path: Path, records: int) -> None:
        """Records read so far from ``path`` (every thousand)."""
        ...

    def scan_done(self, path: Path, report: ScanReport) -> None: ...

    def queries_planned(self, count: int) -> None:
        """How many live queries the run will go through (before the first one starts)."""
        ...

    def query_started(self, planned: PlannedQuery) -> None: ...

    def page_done(self, planned: PlannedQuery, page: Page) -> None: ...

    def query_done(self, result: QueryResult) -> None: ...


class QuietProgress:
    """Reports nothing; subclass it to show only some of the progress."""

    def notice(self, line: str) -> None:
        log.info("%s", line)

    def scan_started(self, path: Path) -> None:
        pass

    def scan_records(self, path: Path, records: int) -> None:
        pass

    def scan_done(self, path: Path, report: ScanReport) -> None:
        pass

    def queries_planned(self, count: int) -> None:
        pass

    def query_started(self, planned: PlannedQuery) -> None:
        pass

    def page_done(self, planned: PlannedQuery, page: Page) -> None:
        pass

    def query_done(self, result: QueryResult) -> None:
        pass


@dataclass(slots=True)
class ScanResult:
    """One scan file or folder of the run."""

    path: Path
    report: ScanReport
    sample: bool
    """The bundled sample (its times were moved forward), not a user's own file."""


@dataclass(slots=True)
class CollectReport:
    """What one :func:`collect` call did (or, for a dry run, would do)."""

    dry_run: bool
    notices: list[str] = field(default_factory=list)
    """Lines for a human, in order: skipped sources, sample data used."""
    scans: list[ScanResult] = field(default_factory=list)
    engines: list[EngineReport] = field(default_factory=list)
    plan: dict[Engine, list[PlanLine]] = field(default_factory=dict)
    """The dry run's plan per engine (empty for a real run)."""
    plan_scans: list[Path] = field(default_factory=list)
    """Scan paths a dry run would match (offline, no credits)."""
    budgets: dict[Engine, int] = field(default_factory=dict)
    run_id: int | None = None
    finished: FinishReport | None = None
    """What the store did with the run's observations (None for a dry run)."""

    @property
    def results(self) -> list[QueryResult]:
        """Every live query's result, engine by engine."""
        return [result for report in self.engines for result in report.results]

    @property
    def failed(self) -> list[QueryResult]:
        return [r for r in self.results if r.outcome is QueryOutcome.FAILED]

    @property
    def exit_status(self) -> int:
        """0 when every query ran (skips included), 1 when some failed."""
        return 1 if self.failed else 0


def collect(
    settings: Settings,
    store: Store,
    rules: RuleSet,
    *,
    sources: Sequence[str] | None = None,
    only: Sequence[str] | None = None,
    budgets: Mapping[Engine, int] | Mapping[str, int] | None = None,
    resume: bool = False,
    dry_run: bool = False,
    progress: CollectProgress | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> CollectReport:
    """Runs the rules against the chosen engines and scan files into ``store``.

    Args:
        rules: the whole corpus; the store gets all of it for family metadata, ``only``
            restricts which rules run.
        sources: ``shodan``, ``censys``, ``censys-legacy`` or ``scan:PATH`` (``--source``
            values); None or empty: every engine with credentials, or the bundled sample when
            none has any.
        only: rule ids to run.
        budgets: credits per engine for this run, over the configured ``budgets``.
        resume: continue the store's last interrupted or failed run.
        dry_run: plan only: free counts and the store's history, no credit, no run.
        timeout: seconds to wait for an engine's answer.

    Raises:
        ConfigError: an unknown source, engine or rule id, a bad budget, or nothing to collect.
        RunLocked: another run holds the store's run lock.
    """
    from c2tracker.rules import RuleSet

    progress = progress or QuietProgress()
    choice = parse_sources(sources or [])
    wallet = parse_budgets([], settings.budgets)
    wallet.update(parse_budgets([f"{name}={n}" for name, n in (budgets or {}).items()], {}))
    chosen = rules
    if only:
        planned_queries(rules, [], only)  # refuses unknown ids before any request
        wanted = set(only)
        chosen = RuleSet([rule for rule in rules if rule.id in wanted], rules.root)

    report = CollectReport(dry_run=dry_run, budgets=wallet)
    engines, skipped = choose_engines(settings, choice)
    for line in skipped:
        _notice(report, progress, line)
    scan_paths = list(choice.scan_paths)
    if choice.defaulted and not engines:
        from c2tracker.scandata import sample_paths

        scan_paths = list(sample_paths())
        if scan_paths:
            _notice(report, progress, SAMPLE_NOTICE)
    if not engines and not scan_paths:
        raise ConfigError(
            "nothing to collect: no source has credentials"
            + (" and the bundled sample scan data is missing" if choice.defaulted else "")
        )

    policy = RetryPolicy(read_timeout=timeout, connect_timeout=min(timeout, 10.0))
    live = [build_source(settings, engine, policy) for engine in engines]
    try:
        queries = planned_queries(chosen, engines)
        if dry_run:
            report.plan = plan_dry_run(live, queries, store.last_result_count, budgets=wallet)
            report.plan_scans = scan_paths
            return report
        _run(store, rules, chosen, live, queries, scan_paths, resume, progress, report)
    finally:
        for opened in live:
            opened.close()
    return report


def _notice(report: CollectReport, progress: CollectProgress, line: str) -> None:
    report.notices.append(line)
    progress.notice(line)


def _run(
    store: Store,
    rules: Any,
    chosen: Any,
    live: Sequence[Source],
    queries: Sequence[PlannedQuery],
    scan_paths: Sequence[Path],
    resume: bool,
    progress: CollectProgress,
    report: CollectReport,
) -> None:
    names = [f"scan:{path}" for path in scan_paths] + [source.name for source in live]
    with store.begin_run(names, resume=resume) as run:
        report.run_id = run.run_id
        # Only the bundled sample is moved in time (see sources.scanfiles); user files never.
        bundled = [is_bundled_sample(path) for path in scan_paths]
        shift = sample_time_shift(run.started_at) if any(bundled) else None
        for path, is_sample in zip(scan_paths, bundled, strict=True):
            progress.scan_started(path)
            scan = collect_scan(
                [path],
                chosen,
                run,
                source=f"scan:{path}",
                on_record=partial(progress.scan_records, path),
                time_shift=shift if is_sample else None,
            )
            report.scans.append(ScanResult(path, scan, is_sample))
            progress.scan_done(path, scan)

        progress.queries_planned(len(queries))
        for source in live:
            mine = [q for q in queries if q.engine is source.engine]
            report.engines.append(
                run_engine(
                    source,
                    mine,
                    run,
                    budget=report.budgets.get(source.engine),
                    progress=progress,
                )
            )
        # Every rule, not only ``only``'s: the store needs the whole corpus for family metadata.
        report.finished = store.finish_run(run, rules)
