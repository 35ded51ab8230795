"""Runs planned queries against live sources, page by page, into a RunRecorder.

Every request's answer goes through :meth:`RunRecorder.record_page` (one transaction) before
the next is sent, so an interruption loses at most the request in flight, and a resumed run
(``collect --resume``) continues each query after its last stored page: Shodan from page + 1,
Censys with the stored next token. Nothing already stored is fetched again.

When a source reads several pages per request (Shodan's ``limit``/``offset``), the runner
sizes each request to the pages the query is expected to still have: the free count, the last
run's result count, or the total the previous answer carried, never more than the budget
allows. The stored page number is the last page a request covered (:class:`~.base.Page`).

Free counts of one-filter queries on the same filter are sent as one faceted count
(:mod:`.batchcount`) when the first query of the batch needs its count; a batch that does not
prove every count falls back to one count a query.

A query ends in one outcome: ``ok``; ``failed`` with the reason (the engine's own text for a
rejected query); ``skipped-empty`` when the free count found nothing; ``skipped-budget`` when
its pages no longer fit the engine's budget. A refused key, exhausted credits or a plan that
forbids the request stop that engine: its remaining queries are marked failed with the same
reason without another request, and the other engines carry on. What was gathered is kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from c2tracker.errors import AuthError, CreditsExhausted, PlanError, SourceError
from c2tracker.model import Engine, QueryOutcome, RunRecorder
from c2tracker.sources.base import Page, PlannedQuery, Source, pages_for, requests_for
from c2tracker.sources.batchcount import counter_for
from c2tracker.sources.planner import (
    Budget,
    History,
    QueryPlan,
    Start,
    expected_credits,
    plan_query,
)

log = logging.getLogger(__name__)

#: Errors after which no other query of the same engine can succeed in this run.
ENGINE_FATAL = (AuthError, CreditsExhausted, PlanError)


@dataclass(slots=True)
class QueryResult:
    """How one query went in this run (what the summary table shows)."""

    planned: PlannedQuery
    outcome: QueryOutcome
    reason: str | None = None
    pages: int = 0
    """Pages of 100 results read in this session (stored pages of a resumed run not
    included); one request may read several (Shodan ``limit``)."""
    requests: int = 0
    """Search requests that returned a page in this session (counts not included)."""
    resumed_pages: int = 0
    """Pages a resumed run found already stored and did not fetch again."""
    credits: int = 0
    results: int = 0
    duration_s: float = 0.0


@dataclass(slots=True)
class EngineReport:
    """One engine's share of a run."""

    engine: Engine
    budget: int | None
    results: list[QueryResult] = field(default_factory=list)
    requests: int = 0

    @property
    def credits(self) -> int:
        return sum(r.credits for r in self.results)


class Progress(Protocol):
    """What the runner tells a progress display."""

    def query_started(self, planned: PlannedQuery) -> None: ...

    def page_done(self, planned: PlannedQuery, page: Page) -> None: ...

    def query_done(self, result: QueryResult) -> None: ...


class _NoProgress:
    def query_started(self, planned: PlannedQuery) -> None:
        pass

    def page_done(self, planned: PlannedQuery, page: Page) -> None:
        pass

    def query_done(self, result: QueryResult) -> None:
        pass


def run_engine(
    source: Source,
    queries: Sequence[PlannedQuery],
    recorder: RunRecorder,
    *,
    budget: int | None = None,
    progress: Progress | None = None,
) -> EngineReport:
    """Runs ``queries`` (all of ``source``'s engine) and records each page and outcome."""
    progress = progress or _NoProgress()
    report = EngineReport(source.engine, budget)
    wallet = Budget(budget)
    fatal: SourceError | None = None
    before = source.requests
    # The queries that will be counted, so that counts on one filter go in one request
    # (.batchcount); a batch is sent when the first of its queries needs its count.
    history = _history(recorder)
    counted = [q.query for q in queries if plan_query(q, source, history).start is Start.COUNT]
    count = counter_for(source, counted)

    for planned in queries:
        progress.query_started(planned)
        if fatal is not None:
            result = _Outcome(QueryResult(planned, QueryOutcome.FAILED, f"not run: {fatal}"))
            recorder.finish_query(
                recorder.start_query(planned.rule_id, planned.engine, planned.query),
                QueryOutcome.FAILED,
                reason=result.public.reason,
                duration_s=0.0,
            )
        else:
            result = _run_query(source, planned, recorder, wallet, progress, count)
            if result.outcome is QueryOutcome.FAILED and isinstance(result.error, ENGINE_FATAL):
                fatal = result.error
        report.results.append(result.public)
        progress.query_done(result.public)

    report.requests = source.requests - before
    return report


@dataclass(slots=True)
class _Outcome:
    public: QueryResult
    error: SourceError | None = None

    @property
    def outcome(self) -> QueryOutcome:
        return self.public.outcome


def _run_query(
    source: Source,
    planned: PlannedQuery,
    recorder: RunRecorder,
    wallet: Budget,
    progress: Progress,
    count: Callable[[str], int],
) -> _Outcome:
    started = time.monotonic()
    query_run = recorder.start_query(planned.rule_id, planned.engine, planned.query)
    result = QueryResult(planned, QueryOutcome.PENDING)
    error: SourceError | None = None

    try:
        result.outcome, result.reason = _fetch_all(
            source, planned, query_run, recorder, wallet, progress, result, count
        )
    except SourceError as exc:
        error = exc
        result.outcome = QueryOutcome.FAILED
        result.reason = exc.message

    result.duration_s = time.monotonic() - started
    recorder.finish_query(
        query_run, result.outcome, reason=result.reason, duration_s=result.duration_s
    )
    log.info(
        "%s %s %s: %s, %d page(s), %d credit(s), %d result(s) in %.1fs",
        planned.engine.value,
        planned.rule_id,
        planned.query,
        result.outcome.value,
        result.pages,
        result.credits,
        result.results,
        result.duration_s,
    )
    return _Outcome(result, error)


def _fetch_all(
    source: Source,
    planned: PlannedQuery,
    query_run: int,
    recorder: RunRecorder,
    wallet: Budget,
    progress: Progress,
    result: QueryResult,
    count: Callable[[str], int],
) -> tuple[QueryOutcome, str | None]:
    """Fetches the query's pages; returns its outcome and reason."""
    page_number = 1
    token: str | None = None
    expected_pages: int

    # Resume: continue after the last stored page, with its token (Censys) or number (Shodan).
    stored = list(recorder.stored_pages(query_run))
    if stored:
        last = stored[-1]
        result.resumed_pages = last.page
        done = Page(last.page, [], last.total, last.next_token, last.credits, hits=1)
        if source.is_last_page(done):
            return QueryOutcome.OK, None
        page_number, token = last.page + 1, last.next_token
        expected_pages = max(pages_for(last.total or 0), page_number)
    else:
        plan = plan_query(planned, source, _history(recorder))
        if plan.start is Start.COUNT:
            total = count(planned.query)
            if total == 0:
                return QueryOutcome.SKIPPED_EMPTY, "the free count found no results"
            plan.counted = total
        expected_pages = max(plan.expected_pages(), 1)

    # Don't start what cannot be finished: later, cheaper queries may still fit.
    remaining = expected_pages - page_number + 1
    cost = expected_credits(source, planned.query, remaining, page_number)
    if not stored and not wallet.allows(cost):
        return QueryOutcome.SKIPPED_BUDGET, (
            f"needs about {cost} credit(s), {wallet.left} left of the {source.name} budget"
        )

    while True:
        span = _span(source, planned.query, page_number, expected_pages, wallet)
        if span == 0:
            return QueryOutcome.SKIPPED_BUDGET, (
                f"budget reached before page {page_number}; "
                f"{result.pages + result.resumed_pages} page(s) kept, resume with a larger budget"
            )
        page = source.fetch_page(planned, page_number, token, span=span)
        recorder.record_page(
            query_run,
            page.number,
            page.observations,
            credits=page.credits,
            next_token=page.next_token,
            total=page.total,
        )
        wallet.spend(page.credits)
        result.pages += page.span
        result.requests += 1
        result.credits += page.credits
        result.results += len(page.observations)
        for why in page.dropped:
            log.warning("%s page %d of %s: %s", source.name, page.number, planned.rule_id, why)
        progress.page_done(planned, page)

        if source.is_last_page(page):
            return QueryOutcome.OK, None
        page_number, token = page.number + 1, page.next_token
        # The latest total is the best guess of what is left (it may have grown or shrunk).
        expected_pages = max(pages_for(page.total or 0), page_number)


def _span(source: Source, query: str, first: int, expected_pages: int, wallet: Budget) -> int:
    """Pages the next request reads: what the query is expected to still have, at most what
    one request may cover and what the budget still pays for (0: not even one page)."""
    span = max(1, min(source.pages_per_request, expected_pages - first + 1))
    while span > 0 and not wallet.allows(expected_credits(source, query, span, first)):
        span -= 1
    return span


def _history(recorder: RunRecorder) -> History:
    return recorder.last_result_count


def run_all(
    sources: Sequence[Source],
    queries: Sequence[PlannedQuery],
    recorder: RunRecorder,
    *,
    budgets: Mapping[Engine, int] | None = None,
    progress: Progress | None = None,
) -> list[EngineReport]:
    """Runs every engine's share of ``queries``, one engine after the other."""
    budgets = budgets or {}
    reports = []
    for source in sources:
        mine = [q for q in queries if q.engine is source.engine]
        reports.append(
            run_engine(source, mine, recorder, budget=budgets.get(source.engine), progress=progress)
        )
    return reports


@dataclass(slots=True)
class PlanLine:
    """One query of a dry run."""

    plan: QueryPlan
    pages: int
    credits: int
    note: str
    requests: int = 0
    """Requests the query is expected to send, free counts included."""


def dry_run(
    sources: Sequence[Source],
    queries: Sequence[PlannedQuery],
    history: History | None,
    *,
    budgets: Mapping[Engine, int] | None = None,
) -> dict[Engine, list[PlanLine]]:
    """The plan a run would follow, spending no credit.

    Free counts are taken where the engine has them (Shodan); elsewhere the last run's result
    count stands in, and a query never run is expected to cost its first page.
    """
    budgets = budgets or {}
    lines: dict[Engine, list[PlanLine]] = {}
    for source in sources:
        wallet = Budget(budgets.get(source.engine))
        mine = lines.setdefault(source.engine, [])
        own = [q for q in queries if q.engine is source.engine]
        count = counter_for(source, [q.query for q in own]) if source.has_free_count else None
        for planned in own:
            plan = plan_query(planned, source, history)
            if count is not None:
                plan.counted = count(planned.query)
            pages = plan.expected_pages()
            credits = expected_credits(source, planned.query, pages)
            counting = 1 if plan.start is Start.COUNT else 0
            requests = counting + requests_for(pages, source.pages_per_request)
            if plan.counted == 0:
                note = "skip: counted 0"
            elif not wallet.allows(credits):
                note = "skip: over budget"
            else:
                wallet.spend(credits)
                note = {
                    Start.FETCH: "page 1 (results last run)",
                    Start.COUNT: f"counted {plan.counted}",
                    Start.PROBE: "page 1 (no free count)",
                }[plan.start]
            mine.append(PlanLine(plan, pages, credits, note, requests))
    return lines
