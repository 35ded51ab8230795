"""An in-memory RunRecorder with the store's resume semantics, for source tests and the bench.

It keeps what :class:`c2tracker.model.RunRecorder` promises: pages stored per query run in
page order, a resumed run finds its query runs again by (rule, engine, query), and
``last_result_count`` answers from the last run in which the query ended ``ok``. Tests that
need the real database use :class:`c2tracker.store.Store`; this one keeps the fault matrix
fast.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from c2tracker.model import Engine, Observation, PageCheckpoint, QueryOutcome


@dataclass(slots=True)
class QueryRunRecord:
    id: int
    run_id: int
    key: tuple[str, Engine, str]
    pages: list[PageCheckpoint] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    outcome: QueryOutcome = QueryOutcome.PENDING
    reason: str | None = None


class MemoryHistory:
    """Runs and query runs across several collect runs."""

    def __init__(self) -> None:
        self.runs: list[MemoryRecorder] = []
        self.query_runs: list[QueryRunRecord] = []

    def begin_run(self, *, resume: bool = False) -> MemoryRecorder:
        if resume and self.runs:
            return self.runs[-1]
        recorder = MemoryRecorder(self, len(self.runs) + 1)
        self.runs.append(recorder)
        return recorder

    def last_result_count(self, rule_id: str, engine: Engine, query: str) -> int | None:
        key = (rule_id, Engine(engine), query)
        for run in reversed(self.query_runs):
            if run.key == key and run.outcome is QueryOutcome.OK:
                return len(run.observations)
        return None

    def observations(self) -> list[Observation]:
        return [o for run in self.query_runs for o in run.observations]


class MemoryRecorder:
    """One run's recorder."""

    def __init__(self, history: MemoryHistory, run_id: int) -> None:
        self.history = history
        self.run_id = run_id
        self.bulk_sections = 0
        self.in_bulk = False
        self.pages_in_bulk = 0

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """Nothing to group in memory: the section is only counted, for tests to see."""
        self.bulk_sections += 1
        self.in_bulk = True
        try:
            yield
        finally:
            self.in_bulk = False

    def _mine(self) -> list[QueryRunRecord]:
        return [q for q in self.history.query_runs if q.run_id == self.run_id]

    def start_query(self, rule_id: str, engine: Engine, query: str) -> int:
        key = (rule_id, Engine(engine), query)
        for run in self._mine():
            if run.key == key:
                return run.id
        record = QueryRunRecord(len(self.history.query_runs) + 1, self.run_id, key)
        self.history.query_runs.append(record)
        return record.id

    def _get(self, query_run_id: int) -> QueryRunRecord:
        return self.history.query_runs[query_run_id - 1]

    def stored_pages(self, query_run_id: int) -> Sequence[PageCheckpoint]:
        return list(self._get(query_run_id).pages)

    def record_page(
        self,
        query_run_id: int,
        page: int,
        observations: Sequence[Observation],
        *,
        credits: int,
        next_token: str | None = None,
        total: int | None = None,
    ) -> None:
        run = self._get(query_run_id)
        if any(p.page == page for p in run.pages):
            raise AssertionError(f"page {page} of query run {query_run_id} stored twice")
        run.pages.append(PageCheckpoint(page, next_token, total, credits))
        run.observations.extend(observations)
        self.pages_in_bulk += self.in_bulk

    def finish_query(
        self,
        query_run_id: int,
        outcome: QueryOutcome,
        *,
        reason: str | None = None,
        duration_s: float | None = None,
    ) -> None:
        run = self._get(query_run_id)
        run.outcome = outcome
        run.reason = reason

    def last_result_count(self, rule_id: str, engine: Engine, query: str) -> int | None:
        key = (rule_id, Engine(engine), query)
        previous = [
            q
            for q in self.history.query_runs
            if q.run_id < self.run_id and q.key == key and q.outcome is QueryOutcome.OK
        ]
        return len(previous[-1].observations) if previous else None

    def outcome(self, rule_id: str) -> QueryRunRecord:
        found = [q for q in self._mine() if q.key[0] == rule_id]
        assert len(found) == 1, found
        return found[0]
