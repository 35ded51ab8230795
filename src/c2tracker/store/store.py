"""The indicator store: the :class:`Store` entry point, which opens the database and hands each
concern to its module.

- :mod:`~c2tracker.store.connect`: URLs, engines, SQLite settings.
- :mod:`~c2tracker.store.ingest`: a run in progress (:class:`RunHandle`, the
  :class:`~c2tracker.model.RunRecorder` sources call) and its page checkpoints.
- :mod:`~c2tracker.store.finish`: folding a run into indicators (bogons, allowlist, honeypots,
  lifecycle, confidence).
- :mod:`~c2tracker.store.reads`: indicators, IP history, runs, statistics.
- :mod:`~c2tracker.store.operators`: revocations, the allowlist and the audit log.
- :mod:`~c2tracker.store.lock`: the run lock; :mod:`~c2tracker.store.migrate`: the schema.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from c2tracker.errors import StoreError
from c2tracker.model import (
    Category,
    Indicator,
    IndicatorStatus,
    IpHistory,
    QueryRunInfo,
    RuleStat,
    RunInfo,
)
from c2tracker.querylang.ast import Engine as QueryEngine
from c2tracker.settings import Settings
from c2tracker.store import migrate, operators, reads
from c2tracker.store.connect import db_message, make_engines
from c2tracker.store.finish import Finisher, FinishReport
from c2tracker.store.ingest import HotSql, RunHandle
from c2tracker.store.lock import DEFAULT_WAIT_S, RunLock
from c2tracker.store.operators import AuditRecord
from c2tracker.store.rulemeta import RuleMeta
from c2tracker.store.tables import BATCHES, RUNS, dumps, now

log = logging.getLogger(__name__)


class Store:
    """The indicator store. Open with :meth:`open`; close with :meth:`close` or ``with``."""

    def __init__(
        self, read_engine: Engine, write_engine: Engine, *, settings: Settings | None = None
    ) -> None:
        self._read = read_engine
        self._write = write_engine
        self.settings = settings or Settings()
        self.url = write_engine.url.render_as_string(hide_password=True)
        self._sql = HotSql.for_dialect(write_engine.dialect.name)

    # ----------------------------------------------------------------------------- opening

    @classmethod
    def open(
        cls, url: str, *, settings: Settings | None = None, migrate_schema: bool = True
    ) -> Store:
        """Connects to the store at ``url`` and brings its schema up to date.

        Raises:
            StoreError: the URL is unusable, the database unreachable, or migration failed.
        """
        read_engine, write_engine = make_engines(url)
        store = cls(read_engine, write_engine, settings=settings)
        if migrate_schema:
            try:
                migrate.upgrade(write_engine)
            except DBAPIError as exc:
                store.close()
                raise StoreError(
                    f"cannot open the store at {store.url}: {db_message(exc)}"
                ) from None
            except Exception as exc:
                store.close()
                raise StoreError(f"migrating the store at {store.url} failed: {exc}") from exc
        return store

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls.open(settings.db, settings=settings)

    def close(self) -> None:
        self._write.dispose()
        if self._read is not self._write:
            self._read.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def dialect(self) -> str:
        return self._write.dialect.name

    # ------------------------------------------------------------------------------ runs

    def begin_run(
        self,
        sources: Sequence[str],
        *,
        resume: bool = False,
        wait: float = DEFAULT_WAIT_S,
        kind: str = "collect",
        started_at: datetime | None = None,
        label: str | None = None,
    ) -> RunHandle:
        """Takes the run lock and starts a run (or, with ``resume``, reopens the latest run that
        did not finish cleanly: status ``running``, ``failed`` or ``partial``).

        With ``resume`` and nothing to resume, a new run starts (and says so in the log), so
        ``collect --resume`` is safe to put in a schedule.

        Raises:
            RunLocked: another run holds the lock for longer than ``wait`` seconds.
        """
        lock = RunLock(self._write)
        lock.acquire(wait)
        try:
            with self._write.begin() as conn:
                run_row = None
                if resume:
                    run_row = conn.execute(
                        select(RUNS.c.id, RUNS.c.status, RUNS.c.started_at)
                        .where(RUNS.c.kind == kind)
                        .order_by(RUNS.c.id.desc())
                        .limit(1)
                    ).first()
                    if run_row is not None and run_row.status not in (
                        "running",
                        "failed",
                        "partial",
                    ):
                        run_row = None
                    if run_row is None:
                        log.info("nothing to resume: the last run finished cleanly")
                if run_row is not None:
                    conn.execute(
                        update(RUNS).where(RUNS.c.id == run_row.id).values(status="running")
                    )
                    run_id, when, resumed, watermark = run_row.id, run_row.started_at, True, 0
                    log.info("resuming run %d", run_id)
                else:
                    # Every observation stored so far belongs to earlier runs: starting the
                    # watermark above them keeps finish_run's reads to this run's rows.
                    watermark = int(conn.execute(select(func.max(BATCHES.c.id))).scalar() or 0)
                    when = started_at or now()
                    run_id = conn.execute(
                        insert(RUNS).values(
                            kind=kind,
                            started_at=when,
                            status="running",
                            sources=dumps(list(sources)),
                            label=label,
                            observations=0,
                            applied_batch_id=watermark,
                        )
                    ).inserted_primary_key[0]  # type: ignore[index]
                    resumed = False
        except BaseException:
            lock.release()
            raise
        return RunHandle(self, int(run_id), when, lock, resumed=resumed, watermark=watermark)

    def finish_run(self, handle: RunHandle, rules: Iterable[RuleMeta]) -> FinishReport:
        """Folds the run's new observations into indicators: bogons, allowlist, honeypots,
        lifecycle, confidence, in that order. Safe to call again (after a resume, or twice)."""
        taken_here = not handle.lock.held
        if taken_here:
            handle.lock.acquire(DEFAULT_WAIT_S)
        try:
            with handle._mutex:
                # The finish writes on another connection: the open group must be committed.
                handle._flush_locked()
                return Finisher(self, handle, list(rules)).run()
        finally:
            if taken_here:
                handle.lock.release()

    def last_result_count(self, rule_id: str, engine: QueryEngine, query: str) -> int | None:
        """Results of this query in its latest run that ended ``ok`` (None: it never did), for
        planning without opening a run (``collect --dry-run``)."""
        return reads.last_result_count(self, rule_id, engine, query)

    # ---------------------------------------------------------------------------- reads

    def iter_indicators(
        self,
        *,
        status: IndicatorStatus | str | Iterable[IndicatorStatus | str] | None = None,
        category: Category | str | None = None,
        family: str | None = None,
        since: datetime | None = None,
        ip: str | None = None,
    ) -> Iterator[Indicator]:
        """Indicators matching every filter given, ordered by family (rule id) then IP.

        ``family`` matches a rule id, or a family's name or feed name (any case). ``since``
        keeps indicators last seen at or after it. Streams: memory does not grow with the store.

        Yields:
            Indicator
        """
        return reads.iter_indicators(
            self, status=status, category=category, family=family, since=since, ip=ip
        )

    def lookup(self, ip: str) -> IpHistory:
        """Every family's indicator for ``ip`` and every sighting of a finished run, oldest
        first.

        Raises:
            StoreError: ``ip`` is not a usable address.
        """
        return reads.lookup(self, ip)

    def runs(self, limit: int = 20) -> list[RunInfo]:
        """The latest runs, newest first."""
        return reads.runs(self, limit)

    def run(self, run_id: int) -> RunInfo | None:
        """Run ``run_id``, or None when there is no such run."""
        return reads.run(self, run_id)

    def query_runs(self, run_id: int) -> list[QueryRunInfo]:
        """Every query's outcome in run ``run_id``, in the order they started."""
        return reads.query_runs(self, run_id)

    def engine_status(self) -> dict[str, datetime | None]:
        """Engine → when a query on it last ended ``ok`` (None: never)."""
        return reads.engine_status(self)

    def rule_stats(self, run_id: int | None = None) -> list[RuleStat]:
        """Per rule in run ``run_id`` (default: the latest finished run): hits (distinct IPs),
        new / kept / dropped against the rule's previous run, and overlap with other rules."""
        return reads.rule_stats(self, run_id)

    def families(self) -> list[tuple[str, int]]:
        """(rule id, active indicators) for every family the store knows, by rule id."""
        return reads.families(self)

    def audit_log(self, limit: int | None = None) -> list[AuditRecord]:
        """Operator actions, newest first."""
        return operators.audit_log(self, limit)

    def allowlist(self, *, include_removed: bool = False) -> list[dict[str, Any]]:
        """Allowlist entries (active ones, or all with ``include_removed``)."""
        return operators.allowlist(self, include_removed)

    # ------------------------------------------------------------------ operator actions

    def revoke(self, ip: str, rule_id: str | None, reason: str, actor: str) -> int:
        """Revokes ``ip`` for one family (or every family, ``rule_id`` None), including families
        that find it later, until :meth:`unrevoke`. Returns the indicators it changed.

        Raises:
            StoreError: bad address, or an empty reason.
        """
        return operators.revoke(self, ip, rule_id, reason, actor)

    def unrevoke(self, ip: str, rule_id: str | None, actor: str, reason: str | None = None) -> int:
        """Undoes :meth:`revoke` for exactly this IP and family (or all-families revocation).

        Raises:
            StoreError: no such active revocation.
        """
        return operators.unrevoke(self, ip, rule_id, actor, reason)

    def allow(self, value: str, reason: str, actor: str) -> int:
        """Allowlists an IP, CIDR or ASN; returns the indicators it changed.

        Raises:
            StoreError: the value is not an IP, CIDR or ASN, or the reason is empty.
        """
        return operators.allow(self, value, reason, actor)

    def unallow(self, value: str, actor: str, reason: str | None = None) -> int:
        """Removes an allowlist entry; returns the indicators it changed.

        Raises:
            StoreError: no such active entry.
        """
        return operators.unallow(self, value, actor, reason)


__all__ = ["AuditRecord", "FinishReport", "RunHandle", "Store"]
