"""The indicator store: runs and their checkpoints, observations, indicators, operator actions.

:meth:`Store.open` connects (SQLite by default, PostgreSQL through psycopg 3) and migrates the
schema. A collect run goes through a :class:`RunHandle` (the :class:`~c2tracker.model.RunRecorder`
the sources call, holding the run lock), then :meth:`Store.finish_run` folds the run into
indicators, applying in order: the bogon filter, the allowlist, honeypot detection, the
lifecycle (:mod:`c2tracker.store.lifecycle`) and confidence (:mod:`c2tracker.store.confidence`).

Writes are built for volume: a page of observations is one multi-row insert in one transaction,
and :meth:`finish_run` reads only the observations it has not folded in yet (a watermark on the
run), merges them in memory per IP and family, and writes indicators back with executemany.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import orjson
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Table,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from c2tracker.errors import StoreError
from c2tracker.filters.allowlist import (
    AllowMatcher,
    AllowRule,
    normalize_asn,
    parse_allow_value,
)
from c2tracker.filters.bogons import bogon_reason
from c2tracker.filters.honeypots import HONEYPOT_TAG, judge
from c2tracker.model import (
    Category,
    Fidelity,
    Indicator,
    IndicatorStatus,
    IpHistory,
    Observation,
    PageCheckpoint,
    QueryOutcome,
    QueryRunInfo,
    RuleStat,
    RunInfo,
    Sighting,
    query_id,
)
from c2tracker.querylang.ast import Engine as QueryEngine
from c2tracker.settings import Settings
from c2tracker.store import confidence, lifecycle, migrate
from c2tracker.store.lock import DEFAULT_WAIT_S, RunLock
from c2tracker.store.models import (
    AllowEntry,
    AuditEntry,
    Family,
    IndicatorRow,
    ObservationRow,
    Page,
    QueryRun,
    Revocation,
    Run,
    from_micros,
    to_micros,
)
from c2tracker.store.rulemeta import (
    RuleMeta,
    family_keys,
    name_key,
    query_fidelities,
)
from c2tracker.store.values import normalize_ip, normalize_port, parse_ip

log = logging.getLogger(__name__)

RUNS = cast(Table, Run.__table__)
QUERY_RUNS = cast(Table, QueryRun.__table__)
PAGES = cast(Table, Page.__table__)
OBSERVATIONS = cast(Table, ObservationRow.__table__)
INDICATORS = cast(Table, IndicatorRow.__table__)
FAMILIES = cast(Table, Family.__table__)
ALLOWLIST = cast(Table, AllowEntry.__table__)
REVOCATIONS = cast(Table, Revocation.__table__)
AUDIT = cast(Table, AuditEntry.__table__)

#: Fidelity given to sightings whose query no current rule has, e.g. imported C2-Tracker files:
#: we cannot tell which of the original's queries (hash, certificate or product label) found
#: the IP, and its corpus mixes all three, so neither the best nor the worst is fair.
UNKNOWN_QUERY_FIDELITY = Fidelity.MEDIUM

_IN_CHUNK = 500
_ENGINES = frozenset(e.value for e in QueryEngine)
_OK_FOR_STATUS = {QueryOutcome.OK.value, QueryOutcome.SKIPPED_EMPTY.value}


def _now() -> datetime:
    return datetime.now(UTC)


def _as_dt(value: Any) -> datetime:
    """A datetime from an aggregate result (typed or raw integer microseconds)."""
    return value if isinstance(value, datetime) else from_micros(int(value))


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _loads_list(text: str | None) -> list[Any]:
    if not text:
        return []
    value = orjson.loads(text)
    return value if isinstance(value, list) else []


@lru_cache(maxsize=1 << 20)
def _address(text: str) -> tuple[str, str | None]:
    """(normalised IP, why it is dropped or None); cached, as runs repeat addresses a lot."""
    try:
        address = parse_ip(text)
    except StoreError as exc:
        return str(text)[:64], exc.message
    return address.compressed, bogon_reason(address)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One operator action from the audit log."""

    at: datetime
    actor: str
    action: str
    target: str
    reason: str | None
    details: dict[str, Any]


@dataclass(slots=True)
class FinishReport:
    """What :meth:`Store.finish_run` did."""

    run_id: int
    status: str
    observations: int = 0
    dropped: int = 0
    new: int = 0
    updated: int = 0
    expired: int = 0
    honeypots: int = 0


@dataclass(slots=True)
class _Agg:
    """One IP × family in the observations being folded in."""

    first: int
    last: int
    ports: set[int] = field(default_factory=set)
    engines: set[str] = field(default_factory=set)
    queries: set[str] = field(default_factory=set)
    hostnames: set[str] = field(default_factory=set)
    asn: str | None = None
    org: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class _QueryRunKey:
    rule_id: str
    engine: str
    query_id: str


class Store:
    """The indicator store. Open with :meth:`open`; close with :meth:`close` or ``with``."""

    def __init__(
        self, read_engine: Engine, write_engine: Engine, *, settings: Settings | None = None
    ) -> None:
        self._read = read_engine
        self._write = write_engine
        self.settings = settings or Settings()
        self.url = write_engine.url.render_as_string(hide_password=True)
        self._sql = _HotSql.for_dialect(write_engine.dialect.name)

    # ----------------------------------------------------------------------------- opening

    @classmethod
    def open(
        cls, url: str, *, settings: Settings | None = None, migrate_schema: bool = True
    ) -> Store:
        """Connects to the store at ``url`` and brings its schema up to date.

        Raises:
            StoreError: the URL is unusable, the database unreachable, or migration failed.
        """
        read_engine, write_engine = _make_engines(url)
        store = cls(read_engine, write_engine, settings=settings)
        if migrate_schema:
            try:
                migrate.upgrade(write_engine)
            except DBAPIError as exc:
                store.close()
                raise StoreError(
                    f"cannot open the store at {store.url}: {_db_message(exc)}"
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
                    run_id, when, resumed = run_row.id, run_row.started_at, True
                    log.info("resuming run %d", run_id)
                else:
                    when = started_at or _now()
                    run_id = conn.execute(
                        insert(RUNS).values(
                            kind=kind,
                            started_at=when,
                            status="running",
                            sources=_dumps(list(sources)),
                            label=label,
                            observations=0,
                            applied_obs_id=0,
                        )
                    ).inserted_primary_key[0]  # type: ignore[index]
                    resumed = False
        except BaseException:
            lock.release()
            raise
        return RunHandle(self, int(run_id), when, lock, resumed=resumed)

    def finish_run(self, handle: RunHandle, rules: Iterable[RuleMeta]) -> FinishReport:
        """Folds the run's new observations into indicators: bogons, allowlist, honeypots,
        lifecycle, confidence, in that order. Safe to call again (after a resume, or twice)."""
        taken_here = not handle.lock.held
        if taken_here:
            handle.lock.acquire(DEFAULT_WAIT_S)
        try:
            return _Finisher(self, handle, list(rules)).run()
        finally:
            if taken_here:
                handle.lock.release()

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
        query = _indicator_select()
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            query = query.where(INDICATORS.c.status.in_([str(s) for s in statuses]))
        if category is not None:
            query = query.where(FAMILIES.c.category == str(category))
        if family is not None:
            lowered = family.lower()
            query = query.where(
                or_(
                    INDICATORS.c.rule_id == family,
                    func.lower(FAMILIES.c.name) == lowered,
                    func.lower(FAMILIES.c.feed_name) == lowered,
                )
            )
        if since is not None:
            query = query.where(INDICATORS.c.last_seen >= since)
        if ip is not None:
            query = query.where(INDICATORS.c.ip == normalize_ip(ip))
        query = query.order_by(INDICATORS.c.rule_id, INDICATORS.c.ip)

        with self._read.connect() as conn:
            result = conn.execute(query.execution_options(yield_per=2000))
            for row in result:
                yield _indicator_from_row(row)

    def lookup(self, ip: str) -> IpHistory:
        """Every family's indicator for ``ip`` and every sighting, oldest first.

        Raises:
            StoreError: ``ip`` is not a usable address.
        """
        address = normalize_ip(ip)
        indicators = list(self.iter_indicators(ip=address))
        seen = func.coalesce(OBSERVATIONS.c.seen_at, RUNS.c.started_at)
        query = (
            select(
                OBSERVATIONS,
                QUERY_RUNS.c.rule_id,
                QUERY_RUNS.c.engine,
                QUERY_RUNS.c.query,
                seen.label("seen"),
            )
            .join(QUERY_RUNS, QUERY_RUNS.c.id == OBSERVATIONS.c.query_run_id)
            .join(RUNS, RUNS.c.id == OBSERVATIONS.c.run_id)
            .where(OBSERVATIONS.c.ip == address, OBSERVATIONS.c.drop_reason.is_(None))
            .order_by(seen, OBSERVATIONS.c.id)
        )
        with self._read.connect() as conn:
            sightings = [
                Sighting(
                    ip=row.ip,
                    port=row.port,
                    transport=row.transport,
                    rule_id=row.rule_id,
                    engine=row.engine,
                    query=row.query,
                    run_id=row.run_id,
                    seen_at=_as_dt(row.seen),
                    evidence=orjson.loads(row.evidence) if row.evidence else {},
                    hostnames=tuple(_loads_list(row.hostnames)),
                    asn=row.asn,
                    org=row.org,
                    country=row.country,
                )
                for row in conn.execute(query)
            ]
            matcher = self._allow_matcher(conn)
        asns = {i.asn for i in indicators} | {s.asn for s in sightings}
        entry = None
        for asn in sorted(asns, key=lambda a: a or ""):
            entry = matcher.match(address, asn)
            if entry is not None:
                break
        return IpHistory(
            ip=address,
            indicators=indicators,
            sightings=sightings,
            allowlisted=entry.reason if entry else None,
        )

    def runs(self, limit: int = 20) -> list[RunInfo]:
        """The latest runs, newest first."""
        with self._read.connect() as conn:
            run_rows = conn.execute(select(RUNS).order_by(RUNS.c.id.desc()).limit(limit)).all()
            if not run_rows:
                return []
            ids = [row.id for row in run_rows]
            counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            credits: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            for row in conn.execute(
                select(
                    QUERY_RUNS.c.run_id,
                    QUERY_RUNS.c.engine,
                    QUERY_RUNS.c.outcome,
                    func.count(),
                    func.sum(QUERY_RUNS.c.credits),
                )
                .where(QUERY_RUNS.c.run_id.in_(ids))
                .group_by(QUERY_RUNS.c.run_id, QUERY_RUNS.c.engine, QUERY_RUNS.c.outcome)
            ):
                counts[row[0]][row[2]] += int(row[3])
                credits[row[0]][row[1]] += int(row[4] or 0)
        infos = []
        for row in run_rows:
            outcome = counts[row.id]
            infos.append(
                RunInfo(
                    id=row.id,
                    started_at=row.started_at,
                    finished_at=row.finished_at,
                    status=row.status,
                    sources=tuple(_loads_list(row.sources)),
                    observations=int(row.observations),
                    queries_ok=outcome.get(QueryOutcome.OK.value, 0),
                    queries_failed=outcome.get(QueryOutcome.FAILED.value, 0)
                    + outcome.get(QueryOutcome.PENDING.value, 0),
                    queries_skipped=outcome.get(QueryOutcome.SKIPPED_BUDGET.value, 0)
                    + outcome.get(QueryOutcome.SKIPPED_EMPTY.value, 0),
                    credits=dict(credits[row.id]),
                )
            )
        return infos

    def query_runs(self, run_id: int) -> list[QueryRunInfo]:
        """Every query's outcome in run ``run_id``, in the order they started."""
        with self._read.connect() as conn:
            rows = conn.execute(
                select(QUERY_RUNS).where(QUERY_RUNS.c.run_id == run_id).order_by(QUERY_RUNS.c.id)
            ).all()
        return [
            QueryRunInfo(
                run_id=row.run_id,
                rule_id=row.rule_id,
                engine=row.engine,
                query=row.query,
                outcome=QueryOutcome(row.outcome),
                reason=row.reason,
                pages=row.pages,
                credits=row.credits,
                results=row.results,
                duration_s=row.duration_s,
            )
            for row in rows
        ]

    def engine_status(self) -> dict[str, datetime | None]:
        """Engine → when a query on it last ended ``ok`` (None: never)."""
        with self._read.connect() as conn:
            engines = [row[0] for row in conn.execute(select(QUERY_RUNS.c.engine).distinct())]
            status: dict[str, datetime | None] = dict.fromkeys(engines)
            for engine, when in conn.execute(
                select(QUERY_RUNS.c.engine, func.max(QUERY_RUNS.c.finished_at))
                .where(QUERY_RUNS.c.outcome == QueryOutcome.OK.value)
                .group_by(QUERY_RUNS.c.engine)
            ):
                status[engine] = _as_dt(when) if when is not None else None
        return status

    def rule_stats(self, run_id: int | None = None) -> list[RuleStat]:
        """Per rule in run ``run_id`` (default: the latest finished run): hits (distinct IPs),
        new / kept / dropped against the rule's previous run, and overlap with other rules."""
        with self._read.connect() as conn:
            if run_id is None:
                run_id = conn.execute(
                    select(func.max(RUNS.c.id)).where(RUNS.c.finished_at.is_not(None))
                ).scalar()
                if run_id is None:
                    return []
            current = _ips_by_rule(conn, run_id)
            stats = []
            ip_rules: dict[str, set[str]] = defaultdict(set)
            for rule_id, ips in current.items():
                for ip in ips:
                    ip_rules[ip].add(rule_id)
            for rule_id, ips in sorted(current.items()):
                previous_run = conn.execute(
                    select(func.max(QUERY_RUNS.c.run_id)).where(
                        QUERY_RUNS.c.rule_id == rule_id, QUERY_RUNS.c.run_id < run_id
                    )
                ).scalar()
                before = (
                    _ips_by_rule(conn, previous_run, rule_id).get(rule_id, set())
                    if previous_run is not None
                    else set()
                )
                overlap: dict[str, int] = defaultdict(int)
                for ip in ips:
                    for other in ip_rules[ip]:
                        if other != rule_id:
                            overlap[other] += 1
                stats.append(
                    RuleStat(
                        run_id=run_id,
                        rule_id=rule_id,
                        hits=len(ips),
                        new=len(ips - before),
                        kept=len(ips & before),
                        dropped=len(before - ips),
                        overlap=dict(sorted(overlap.items())),
                    )
                )
        return stats

    def families(self) -> list[tuple[str, int]]:
        """(rule id, active indicators) for every family the store knows, by rule id."""
        with self._read.connect() as conn:
            active: dict[str, int] = dict(
                conn.execute(
                    select(INDICATORS.c.rule_id, func.count())
                    .where(INDICATORS.c.status == IndicatorStatus.ACTIVE.value)
                    .group_by(INDICATORS.c.rule_id)
                ).all()
            )
            ids = [row[0] for row in conn.execute(select(FAMILIES.c.rule_id))]
        return [
            (rule_id, int(active.get(rule_id, 0))) for rule_id in sorted(set(ids) | set(active))
        ]

    def audit_log(self, limit: int | None = None) -> list[AuditRecord]:
        """Operator actions, newest first."""
        query = select(AUDIT).order_by(AUDIT.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._read.connect() as conn:
            return [
                AuditRecord(
                    at=row.at,
                    actor=row.actor,
                    action=row.action,
                    target=row.target,
                    reason=row.reason,
                    details=orjson.loads(row.details) if row.details else {},
                )
                for row in conn.execute(query)
            ]

    def allowlist(self, *, include_removed: bool = False) -> list[dict[str, Any]]:
        """Allowlist entries (active ones, or all with ``include_removed``)."""
        query = select(ALLOWLIST).order_by(ALLOWLIST.c.id)
        if not include_removed:
            query = query.where(ALLOWLIST.c.removed_at.is_(None))
        with self._read.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    # ------------------------------------------------------------------ operator actions

    def revoke(self, ip: str, rule_id: str | None, reason: str, actor: str) -> int:
        """Revokes ``ip`` for one family (or every family, ``rule_id`` None), including families
        that find it later, until :meth:`unrevoke`. Returns the indicators it changed.

        Raises:
            StoreError: bad address, or an empty reason.
        """
        address = normalize_ip(ip)
        _require_reason(reason)
        now = _now()
        with self._write.begin() as conn:
            if rule_id is not None:
                _require_family(conn, rule_id)
            conn.execute(
                insert(REVOCATIONS).values(
                    ip=address, rule_id=rule_id, reason=reason, actor=actor, created_at=now
                )
            )
            _audit(conn, actor, "revoke", _target(address, rule_id), reason, {})
            changed = self._refresh_status(conn, [INDICATORS.c.ip == address])
        log.info("revoked %s: %d indicator(s)", _target(address, rule_id), changed)
        return changed

    def unrevoke(self, ip: str, rule_id: str | None, actor: str, reason: str | None = None) -> int:
        """Undoes :meth:`revoke` for exactly this IP and family (or all-families revocation).

        Raises:
            StoreError: no such active revocation.
        """
        address = normalize_ip(ip)
        now = _now()
        with self._write.begin() as conn:
            match = and_(
                REVOCATIONS.c.ip == address,
                REVOCATIONS.c.removed_at.is_(None),
                REVOCATIONS.c.rule_id.is_(None)
                if rule_id is None
                else REVOCATIONS.c.rule_id == rule_id,
            )
            removed = conn.execute(
                update(REVOCATIONS).where(match).values(removed_at=now, removed_by=actor)
            ).rowcount
            if not removed:
                raise StoreError(f"no active revocation of {_target(address, rule_id)}")
            _audit(conn, actor, "unrevoke", _target(address, rule_id), reason, {})
            return self._refresh_status(conn, [INDICATORS.c.ip == address])

    def allow(self, value: str, reason: str, actor: str) -> int:
        """Allowlists an IP, CIDR or ASN; returns the indicators it changed.

        Raises:
            StoreError: the value is not an IP, CIDR or ASN, or the reason is empty.
        """
        parsed = parse_allow_value(value)
        _require_reason(reason)
        with self._write.begin() as conn:
            existing = conn.execute(
                select(ALLOWLIST.c.id).where(
                    ALLOWLIST.c.kind == parsed.kind,
                    ALLOWLIST.c.value == parsed.value,
                    ALLOWLIST.c.removed_at.is_(None),
                )
            ).first()
            if existing is not None:
                raise StoreError(f"{parsed.kind} {parsed.value} is already allowlisted")
            conn.execute(
                insert(ALLOWLIST).values(
                    kind=parsed.kind,
                    value=parsed.value,
                    reason=reason,
                    actor=actor,
                    created_at=_now(),
                )
            )
            _audit(conn, actor, "allow", f"{parsed.kind} {parsed.value}", reason, {})
            return self._refresh_status(conn, _allow_scope(parsed.kind, parsed.value))

    def unallow(self, value: str, actor: str, reason: str | None = None) -> int:
        """Removes an allowlist entry; returns the indicators it changed.

        Raises:
            StoreError: no such active entry.
        """
        parsed = parse_allow_value(value)
        with self._write.begin() as conn:
            removed = conn.execute(
                update(ALLOWLIST)
                .where(
                    ALLOWLIST.c.kind == parsed.kind,
                    ALLOWLIST.c.value == parsed.value,
                    ALLOWLIST.c.removed_at.is_(None),
                )
                .values(removed_at=_now(), removed_by=actor)
            ).rowcount
            if not removed:
                raise StoreError(f"{parsed.kind} {parsed.value} is not on the allowlist")
            _audit(conn, actor, "unallow", f"{parsed.kind} {parsed.value}", reason, {})
            return self._refresh_status(conn, _allow_scope(parsed.kind, parsed.value))

    # ----------------------------------------------------------------------- internals

    def _allow_matcher(self, conn: Connection) -> AllowMatcher:
        rows = conn.execute(
            select(ALLOWLIST.c.kind, ALLOWLIST.c.value, ALLOWLIST.c.reason).where(
                ALLOWLIST.c.removed_at.is_(None)
            )
        )
        return AllowMatcher(AllowRule(kind, value, reason) for kind, value, reason in rows)

    def _revocations(self, conn: Connection) -> dict[str, dict[str | None, str]]:
        revoked: dict[str, dict[str | None, str]] = defaultdict(dict)
        for ip, rule_id, reason, actor in conn.execute(
            select(
                REVOCATIONS.c.ip, REVOCATIONS.c.rule_id, REVOCATIONS.c.reason, REVOCATIONS.c.actor
            ).where(REVOCATIONS.c.removed_at.is_(None))
        ):
            revoked[ip][rule_id] = f"revoked by {actor}: {reason}"
        return revoked

    def _windows(self, conn: Connection) -> dict[str, int]:
        return {
            rule_id: self.settings.window_for(rule_id, category)
            for rule_id, category in conn.execute(select(FAMILIES.c.rule_id, FAMILIES.c.category))
        }

    def _window(self, windows: dict[str, int], rule_id: str) -> int:
        return windows.get(rule_id) or self.settings.window_for(rule_id, "")

    def _check_clock(self, conn: Connection, rules: list[RuleMeta] | None) -> lifecycle.CheckClock:
        last_check = {
            qid: _as_dt(when)
            for qid, when in conn.execute(
                select(QUERY_RUNS.c.query_id, func.max(RUNS.c.started_at))
                .join(RUNS, RUNS.c.id == QUERY_RUNS.c.run_id)
                .where(QUERY_RUNS.c.outcome == QueryOutcome.OK.value)
                .group_by(QUERY_RUNS.c.query_id)
            )
        }
        rule_queries: dict[str, frozenset[str]] = {}
        if rules is not None:
            rule_queries = {
                rule.id: frozenset(query_id(rule.id, q.engine, q.query) for q in rule.queries)
                for rule in rules
            }
        else:
            grouped: dict[str, set[str]] = defaultdict(set)
            for rule_id, qid in conn.execute(
                select(QUERY_RUNS.c.rule_id, QUERY_RUNS.c.query_id).distinct()
            ):
                grouped[rule_id].add(qid)
            rule_queries = {k: frozenset(v) for k, v in grouped.items()}
        return lifecycle.CheckClock(last_check, rule_queries)

    def _refresh_status(self, conn: Connection, where: list[Any]) -> int:
        """Recomputes status for indicators matching ``where`` (after an operator action);
        returns how many changed."""
        revoked = self._revocations(conn)
        matcher = self._allow_matcher(conn)
        windows = self._windows(conn)
        latest = conn.execute(select(func.max(RUNS.c.started_at))).scalar()
        latest_run = _as_dt(latest) if latest is not None else None
        clock = self._check_clock(conn, None)
        updates = []
        for row in conn.execute(select(INDICATORS).where(*where)):
            status, reason = _status_of(
                row, revoked, matcher, clock, self._window(windows, row.rule_id), latest_run
            )
            if status.value != row.status or reason != row.status_reason:
                updates.append({"_id": row.id, "status": status.value, "status_reason": reason})
        if updates:
            conn.execute(
                update(INDICATORS)
                .where(INDICATORS.c.id == bindparam("_id"))
                .values(status=bindparam("status"), status_reason=bindparam("status_reason")),
                updates,
            )
        return len(updates)


# --------------------------------------------------------------------------- run handle


class RunHandle:
    """One run in progress: the :class:`~c2tracker.model.RunRecorder` sources write through.

    Each method commits its own transaction before returning. Use as a context manager: the
    run lock is released on exit, and an exception marks the run ``failed`` (resumable).
    """

    def __init__(
        self, store: Store, run_id: int, started_at: datetime, lock: RunLock, *, resumed: bool
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.started_at = started_at
        self.lock = lock
        self.resumed = resumed
        self._query_runs: dict[int, _QueryRunKey] = {}
        self._mutex = threading.Lock()

    def __enter__(self) -> RunHandle:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        try:
            if exc_type is not None:
                with self.store._write.begin() as conn:
                    conn.execute(
                        update(RUNS)
                        .where(RUNS.c.id == self.run_id, RUNS.c.status == "running")
                        .values(status="failed", finished_at=_now())
                    )
        finally:
            self.close()

    def close(self) -> None:
        """Releases the run lock (the run itself stays resumable until finished)."""
        self.lock.release()

    def start_query(self, rule_id: str, engine: QueryEngine | str, query: str) -> int:
        engine_name = str(engine.value if isinstance(engine, QueryEngine) else engine)
        qid = (
            query_id(rule_id, engine_name, query)
            if engine_name in _ENGINES
            else _pseudo_query_id(rule_id, engine_name, query)
        )
        with self.store._write.begin() as conn:
            row = conn.execute(
                select(QUERY_RUNS.c.id, QUERY_RUNS.c.outcome).where(
                    QUERY_RUNS.c.run_id == self.run_id, QUERY_RUNS.c.query_id == qid
                )
            ).first()
            if row is not None:
                qrid = int(row.id)
                if row.outcome != QueryOutcome.OK.value:
                    conn.execute(
                        update(QUERY_RUNS)
                        .where(QUERY_RUNS.c.id == qrid)
                        .values(outcome=QueryOutcome.PENDING.value, reason=None)
                    )
            else:
                qrid = int(
                    conn.execute(
                        insert(QUERY_RUNS).values(
                            run_id=self.run_id,
                            rule_id=rule_id,
                            engine=engine_name,
                            query=query,
                            query_id=qid,
                            outcome=QueryOutcome.PENDING.value,
                            pages=0,
                            credits=0,
                            results=0,
                            started_at=_now(),
                        )
                    ).inserted_primary_key[0]  # type: ignore[index]
                )
        self._query_runs[qrid] = _QueryRunKey(rule_id, engine_name, qid)
        return qrid

    def stored_pages(self, query_run_id: int) -> Sequence[PageCheckpoint]:
        with self.store._read.connect() as conn:
            rows = conn.execute(
                select(PAGES.c.page, PAGES.c.next_token, PAGES.c.total, PAGES.c.credits)
                .where(PAGES.c.query_run_id == query_run_id)
                .order_by(PAGES.c.page)
            ).all()
        return [PageCheckpoint(r.page, r.next_token, r.total, r.credits) for r in rows]

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
        key = self._key(query_run_id)
        now = to_micros(_now())
        rows = [self._row(query_run_id, key, obs, now) for obs in observations]
        self._store_rows(
            query_run_id, page, rows, credits=credits, next_token=next_token, total=total
        )

    def record_rows(
        self, query_run_id: int, page: int, rows: Sequence[tuple[Any, ...]], *, credits: int = 0
    ) -> None:
        """Stores pre-built observation rows, tuples in :data:`OBSERVATION_COLUMNS` order (the
        importer's fast path)."""
        self._store_rows(query_run_id, page, rows, credits=credits, next_token=None, total=None)

    def _store_rows(
        self,
        query_run_id: int,
        page: int,
        rows: Sequence[tuple[Any, ...]],
        *,
        credits: int,
        next_token: str | None,
        total: int | None,
    ) -> None:
        # The hot path of every collect: plain DB-API calls on a pooled connection, four
        # statements in one transaction, so a page costs little more than its rows.
        sql = self.store._sql
        engine = self.store._write
        with self._mutex:
            raw = engine.raw_connection()
            try:
                cursor = raw.cursor()
                if self.store.dialect == "sqlite":
                    cursor.execute("BEGIN IMMEDIATE")
                cursor.execute(
                    sql.insert_page,
                    (query_run_id, page, next_token, total, credits, len(rows), to_micros(_now())),
                )
                if cursor.rowcount == 0:
                    raw.rollback()
                    log.debug("page %d of query run %d is already stored", page, query_run_id)
                    return
                if rows:
                    cursor.executemany(sql.insert_observation, rows)
                cursor.execute(sql.count_query_run, (credits, len(rows), query_run_id))
                cursor.execute(sql.count_run, (len(rows), self.run_id))
                raw.commit()
            except BaseException as exc:
                raw.rollback()
                if isinstance(exc, engine.dialect.loaded_dbapi.Error):
                    raise StoreError(
                        f"storing page {page} of query run {query_run_id} failed: {exc}"
                    ) from exc
                raise
            finally:
                raw.close()

    def finish_query(
        self,
        query_run_id: int,
        outcome: QueryOutcome,
        *,
        reason: str | None = None,
        duration_s: float | None = None,
    ) -> None:
        with self.store._write.begin() as conn:
            conn.execute(
                update(QUERY_RUNS)
                .where(QUERY_RUNS.c.id == query_run_id)
                .values(
                    outcome=QueryOutcome(outcome).value,
                    reason=reason,
                    duration_s=duration_s,
                    finished_at=_now(),
                )
            )

    def last_result_count(self, rule_id: str, engine: QueryEngine, query: str) -> int | None:
        qid = query_id(rule_id, engine, query)
        with self.store._read.connect() as conn:
            row = conn.execute(
                select(QUERY_RUNS.c.results)
                .where(
                    QUERY_RUNS.c.query_id == qid,
                    QUERY_RUNS.c.outcome == QueryOutcome.OK.value,
                )
                .order_by(QUERY_RUNS.c.id.desc())
                .limit(1)
            ).first()
        return None if row is None else int(row.results)

    def _key(self, query_run_id: int) -> _QueryRunKey:
        key = self._query_runs.get(query_run_id)
        if key is None:
            with self.store._read.connect() as conn:
                row = conn.execute(
                    select(QUERY_RUNS.c.rule_id, QUERY_RUNS.c.engine, QUERY_RUNS.c.query_id).where(
                        QUERY_RUNS.c.id == query_run_id, QUERY_RUNS.c.run_id == self.run_id
                    )
                ).first()
            if row is None:
                raise StoreError(f"query run {query_run_id} does not belong to run {self.run_id}")
            key = _QueryRunKey(row.rule_id, row.engine, row.query_id)
            self._query_runs[query_run_id] = key
        return key

    def _row(
        self, query_run_id: int, key: _QueryRunKey, obs: Observation, now: int
    ) -> tuple[Any, ...]:
        if obs.rule_id != key.rule_id:
            raise StoreError(
                f"observation of rule {obs.rule_id!r} recorded on a query run of {key.rule_id!r}"
            )
        ip, drop = _address(obs.ip)
        port = obs.port
        if port is not None and (type(port) is not int or not 0 <= port <= 65535):
            try:
                port = normalize_port(port)
            except StoreError as exc:
                port, drop = None, drop or exc.message
        seen = None
        if obs.timestamp is not None:
            seen = min(_micros(obs.timestamp), now)
        return (
            self.run_id,
            query_run_id,
            ip,
            port,
            (obs.transport or "tcp").lower()[:8],
            seen,
            _dumps(obs.evidence),
            _dumps(list(obs.hostnames)) if obs.hostnames else None,
            _asn(obs.asn),
            obs.org,
            obs.country,
            _dumps(list(obs.tags)) if obs.tags else None,
            obs.source,
            drop,
        )


#: Column order of the tuples :meth:`RunHandle.record_rows` takes.
OBSERVATION_COLUMNS = (
    "run_id",
    "query_run_id",
    "ip",
    "port",
    "transport",
    "seen_at",
    "evidence",
    "hostnames",
    "asn",
    "org",
    "country",
    "tags",
    "source",
    "drop_reason",
)


@dataclass(frozen=True, slots=True)
class _HotSql:
    """The page-writing statements in the driver's own parameter style."""

    insert_page: str
    insert_observation: str
    count_query_run: str
    count_run: str

    @classmethod
    def for_dialect(cls, dialect: str) -> _HotSql:
        mark = "?" if dialect == "sqlite" else "%s"

        def marks(n: int) -> str:
            return ", ".join([mark] * n)

        return cls(
            insert_page=(
                "INSERT INTO pages (query_run_id, page, next_token, total, credits, "
                f"observations, stored_at) VALUES ({marks(7)}) "
                "ON CONFLICT (query_run_id, page) DO NOTHING"
            ),
            insert_observation=(
                f"INSERT INTO observations ({', '.join(OBSERVATION_COLUMNS)}) "
                f"VALUES ({marks(len(OBSERVATION_COLUMNS))})"
            ),
            count_query_run=(
                f"UPDATE query_runs SET pages = pages + 1, credits = credits + {mark}, "
                f"results = results + {mark} WHERE id = {mark}"
            ),
            count_run=f"UPDATE runs SET observations = observations + {mark} WHERE id = {mark}",
        )


def _micros(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return round(value.timestamp() * 1_000_000)


@lru_cache(maxsize=65536)
def _asn(value: str | int | None) -> str | None:
    return normalize_asn(value)


def _pseudo_query_id(rule_id: str, engine: str, query: str) -> str:
    """Like :func:`query_id` for a non-engine source such as an imported feed file."""
    import hashlib

    digest = hashlib.sha256(query.strip().encode("utf-8")).hexdigest()[:8]
    return f"{rule_id}:{engine}:{digest}"


# ------------------------------------------------------------------------------ finishing


class _Finisher:
    """One application of :meth:`Store.finish_run` (steps in :meth:`run`)."""

    def __init__(self, store: Store, handle: RunHandle, rules: list[RuleMeta]) -> None:
        self.store = store
        self.handle = handle
        self.rules = rules
        self.run_id = handle.run_id
        self.report = FinishReport(run_id=handle.run_id, status="running")

    def run(self) -> FinishReport:
        store = self.store
        with store._write.begin() as conn:
            self._refresh_families(conn)
            run_row = conn.execute(select(RUNS).where(RUNS.c.id == self.run_id)).one()
            run_time = run_row.started_at
            query_runs = self._query_runs(conn)

            watermark = int(run_row.applied_obs_id)
            aggregates, run_ips, top_id = self._aggregate(conn, query_runs, watermark)
            if watermark:
                run_ips = self._run_ip_families(conn, query_runs)

            fidelity = query_fidelities(self.rules)
            keys = self._family_keys(conn)
            windows = store._windows(conn)
            revoked = store._revocations(conn)
            matcher = store._allow_matcher(conn)
            clock = store._check_clock(conn, self.rules)
            dual_use = dict(conn.execute(select(FAMILIES.c.rule_id, FAMILIES.c.dual_use)).all())
            latest = conn.execute(select(func.max(RUNS.c.started_at))).scalar()
            latest_run = _as_dt(latest) if latest is not None else run_time

            verdicts = {
                ip: judge(
                    families,
                    keys,
                    min_families=store.settings.honeypot_min_families,
                    tagged_by=tagged,
                )
                for ip, (families, tagged) in run_ips.items()
            }

            existing = self._existing(conn, aggregates, verdicts)
            new_rows, changed = self._merge(aggregates, existing, verdicts)

            # Lifecycle candidates: active indicators whose window closed before the newest
            # check. Touched and honeypot-affected rows are already in hand.
            candidates: dict[int, dict[str, Any]] = {}
            newest_check = max(clock.last_check.values(), default=None)
            if newest_check is not None:
                for row in conn.execute(
                    select(INDICATORS).where(
                        INDICATORS.c.expired.is_(False),
                        INDICATORS.c.valid_until < newest_check,
                    )
                ):
                    if row.id not in changed:
                        candidates[row.id] = dict(row._mapping)

            for values in [*new_rows, *changed.values(), *candidates.values()]:
                before = tuple(values.get(c) for c in _SETTLED)
                self._settle(
                    values, clock, windows, revoked, matcher, dual_use, fidelity, latest_run
                )
                if values.get("id") in candidates and before != tuple(
                    values.get(c) for c in _SETTLED
                ):
                    changed[values["id"]] = values

            if new_rows:
                conn.execute(insert(INDICATORS), new_rows)
            updates = list(changed.values())
            if updates:
                _bulk_update(conn, updates)

            status = self._run_status(query_runs)
            conn.execute(
                update(RUNS)
                .where(RUNS.c.id == self.run_id)
                .values(
                    status=status,
                    finished_at=_now(),
                    applied_obs_id=max(top_id, watermark),
                )
            )
        self.report.status = status
        self.report.new = len(new_rows)
        self.report.updated = len(updates)
        log.info(
            "run %d finished (%s): %d observations, %d dropped, %d new and %d updated "
            "indicators, %d expired, %d honeypot IPs",
            self.run_id,
            status,
            self.report.observations,
            self.report.dropped,
            self.report.new,
            self.report.updated,
            self.report.expired,
            self.report.honeypots,
        )
        return self.report

    def _refresh_families(self, conn: Connection) -> None:
        if not self.rules:
            return
        now = _now()
        known = {row[0] for row in conn.execute(select(FAMILIES.c.rule_id))}
        rows = [
            {
                "rule_id": rule.id,
                "name": rule.name,
                "feed_name": rule.feed_name or rule.name,
                "category": Category(rule.category).value,
                "kind": rule.kind,
                "dual_use": bool(rule.dual_use),
                "malpedia": _dumps(list(rule.malpedia)),
                "mitre": _dumps(list(rule.mitre)),
                "aliases": _dumps(list(rule.aliases)),
                "synthetic": False,
                "updated_at": now,
            }
            for rule in self.rules
        ]
        fresh = [row for row in rows if row["rule_id"] not in known]
        stale = [{**row, "_rule_id": row["rule_id"]} for row in rows if row["rule_id"] in known]
        if fresh:
            conn.execute(insert(FAMILIES), fresh)
        if stale:
            columns = [c for c in rows[0] if c != "rule_id"]
            conn.execute(
                update(FAMILIES)
                .where(FAMILIES.c.rule_id == bindparam("_rule_id"))
                .values({c: bindparam(c) for c in columns}),
                [{k: v for k, v in row.items() if k != "rule_id"} for row in stale],
            )

    def _query_runs(self, conn: Connection) -> dict[int, tuple[str, str, str, str]]:
        return {
            row.id: (row.rule_id, row.engine, row.query_id, row.outcome)
            for row in conn.execute(
                select(
                    QUERY_RUNS.c.id,
                    QUERY_RUNS.c.rule_id,
                    QUERY_RUNS.c.engine,
                    QUERY_RUNS.c.query_id,
                    QUERY_RUNS.c.outcome,
                ).where(QUERY_RUNS.c.run_id == self.run_id)
            )
        }

    def _aggregate(
        self,
        conn: Connection,
        query_runs: dict[int, tuple[str, str, str, str]],
        watermark: int,
    ) -> tuple[dict[tuple[str, str], _Agg], dict[str, tuple[set[str], set[str]]], int]:
        """Step 1 (bogons were marked when stored): merge the run's new observations per IP
        and family, and gather per IP the families and honeypot tags seen in the run."""
        aggregates: dict[tuple[str, str], _Agg] = {}
        run_ips: dict[str, tuple[set[str], set[str]]] = {}
        run_time = to_micros(self.handle.started_at)
        top_id = watermark
        query = (
            select(
                OBSERVATIONS.c.id,
                OBSERVATIONS.c.query_run_id,
                OBSERVATIONS.c.ip,
                OBSERVATIONS.c.port,
                # Raw integer times: skipping the datetime conversion matters at a million rows.
                type_coerce(OBSERVATIONS.c.seen_at, BigInteger).label("seen_at"),
                OBSERVATIONS.c.hostnames,
                OBSERVATIONS.c.asn,
                OBSERVATIONS.c.org,
                OBSERVATIONS.c.country,
                OBSERVATIONS.c.tags,
                OBSERVATIONS.c.drop_reason,
            )
            .where(OBSERVATIONS.c.id > watermark, OBSERVATIONS.c.run_id == self.run_id)
            .order_by(OBSERVATIONS.c.id)
        )
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        cursor = conn.connection.cursor()
        cursor.execute(str(compiled))
        raw = iter(lambda: cursor.fetchmany(5000), [])
        observations = dropped = 0
        for obs_id, qrid, ip, port, seen, hostnames, asn, org, country, tags, drop in (
            row for batch in raw for row in batch
        ):
            top_id = obs_id if obs_id > top_id else top_id
            observations += 1
            if drop is not None:
                dropped += 1
                continue
            rule_id, engine, qid, _ = query_runs[qrid]
            when = run_time if seen is None else int(seen)
            agg = aggregates.get((ip, rule_id))
            if agg is None:
                agg = aggregates[(ip, rule_id)] = _Agg(first=when, last=when)
            elif when < agg.first:
                agg.first = when
            if when >= agg.last:
                agg.last = when
                agg.asn = asn or agg.asn
                agg.org = org or agg.org
                agg.country = country or agg.country
            elif agg.asn is None:
                agg.asn, agg.org, agg.country = asn, org, country
            if port is not None:
                agg.ports.add(port)
            agg.engines.add(engine)
            agg.queries.add(qid)
            if hostnames:
                agg.hostnames.update(_loads_list(hostnames))
            families, tagged = run_ips.get(ip) or run_ips.setdefault(ip, (set(), set()))
            families.add(rule_id)
            if tags and HONEYPOT_TAG in _loads_list(tags):
                tagged.add(engine)
        self.report.observations = observations
        self.report.dropped = dropped
        return aggregates, run_ips, top_id

    def _run_ip_families(
        self, conn: Connection, query_runs: dict[int, tuple[str, str, str, str]]
    ) -> dict[str, tuple[set[str], set[str]]]:
        """Per IP families and honeypot tags over the whole run (re-application after resume)."""
        run_ips: dict[str, tuple[set[str], set[str]]] = {}
        for qrid, ip, tags in conn.execute(
            select(OBSERVATIONS.c.query_run_id, OBSERVATIONS.c.ip, OBSERVATIONS.c.tags).where(
                OBSERVATIONS.c.run_id == self.run_id, OBSERVATIONS.c.drop_reason.is_(None)
            )
        ):
            rule_id, engine, _, _ = query_runs[qrid]
            families, tagged = run_ips.setdefault(ip, (set(), set()))
            families.add(rule_id)
            if tags and HONEYPOT_TAG in _loads_list(tags):
                tagged.add(engine)
        return run_ips

    def _family_keys(self, conn: Connection) -> dict[str, set[str]]:
        keys = {rule.id: family_keys(rule) for rule in self.rules}
        for rule_id, name, feed_name, aliases in conn.execute(
            select(FAMILIES.c.rule_id, FAMILIES.c.name, FAMILIES.c.feed_name, FAMILIES.c.aliases)
        ):
            if rule_id not in keys:
                names = [rule_id, name, feed_name, *_loads_list(aliases)]
                keys[rule_id] = {name_key(n) for n in names if n and name_key(n)}
        return keys

    def _existing(
        self,
        conn: Connection,
        aggregates: dict[tuple[str, str], _Agg],
        verdicts: dict[str, Any],
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """Stored indicators of every IP in the run (all families, for honeypot marking)."""
        existing: dict[tuple[str, str], dict[str, Any]] = {}
        ips = sorted(verdicts) if verdicts else sorted({ip for ip, _ in aggregates})
        if not ips:
            return existing
        any_stored = conn.execute(select(INDICATORS.c.id).limit(1)).first()
        if any_stored is None:
            return existing
        for start in range(0, len(ips), _IN_CHUNK):
            chunk = ips[start : start + _IN_CHUNK]
            for row in conn.execute(select(INDICATORS).where(INDICATORS.c.ip.in_(chunk))):
                existing[(row.ip, row.rule_id)] = dict(row._mapping)
        return existing

    def _merge(
        self,
        aggregates: dict[tuple[str, str], _Agg],
        existing: dict[tuple[str, str], dict[str, Any]],
        verdicts: dict[str, Any],
    ) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
        """Step 3 (honeypots) and the merge of new sightings into stored indicators."""
        new_rows: list[dict[str, Any]] = []
        changed: dict[int, dict[str, Any]] = {}
        honeypot_ips = {ip for ip, verdict in verdicts.items() if verdict.is_honeypot}
        self.report.honeypots = len(honeypot_ips)

        for (ip, rule_id), agg in aggregates.items():
            verdict = verdicts.get(ip)
            honeypot = verdict.reason if verdict is not None and verdict.is_honeypot else None
            cohosted = max(verdict.groups - 1, 0) if verdict is not None else 0
            stored = existing.get((ip, rule_id))
            if stored is None:
                new_rows.append(
                    {
                        "ip": ip,
                        "rule_id": rule_id,
                        "first_seen": from_micros(agg.first),
                        "last_seen": from_micros(agg.last),
                        "times_seen": 1,
                        "ports": _dumps(sorted(agg.ports)),
                        "engines": _dumps(sorted(agg.engines)),
                        "queries": _dumps(sorted(agg.queries)),
                        "confidence": 0,
                        "status": IndicatorStatus.ACTIVE.value,
                        "status_reason": None,
                        "valid_until": from_micros(agg.last),
                        "expired": False,
                        "honeypot_reason": honeypot,
                        "cohosted": cohosted,
                        "asn": agg.asn,
                        "org": agg.org,
                        "country": agg.country,
                        "hostnames": _dumps(sorted(agg.hostnames)[:50]),
                        "first_run_id": self.run_id,
                        "last_run_id": self.run_id,
                    }
                )
                continue
            values = dict(stored)
            first = min(to_micros(values["first_seen"]), agg.first)
            last = max(to_micros(values["last_seen"]), agg.last)
            if agg.last >= to_micros(values["last_seen"]):
                values["asn"] = agg.asn or values["asn"]
                values["org"] = agg.org or values["org"]
                values["country"] = agg.country or values["country"]
            values["first_seen"] = from_micros(first)
            values["last_seen"] = from_micros(last)
            if values["last_run_id"] != self.run_id:
                values["times_seen"] += 1
                values["last_run_id"] = max(values["last_run_id"], self.run_id)
            values["ports"] = _dumps(sorted(set(_loads_list(values["ports"])) | agg.ports))
            values["engines"] = _dumps(sorted(set(_loads_list(values["engines"])) | agg.engines))
            values["queries"] = _dumps(sorted(set(_loads_list(values["queries"])) | agg.queries))
            values["hostnames"] = _dumps(
                sorted(set(_loads_list(values["hostnames"])) | agg.hostnames)[:50]
            )
            values["honeypot_reason"] = honeypot
            values["cohosted"] = cohosted
            changed[values["id"]] = values

        # A honeypot taints every family the IP is stored under, seen this run or not.
        for (ip, _), stored in existing.items():
            if ip in honeypot_ips and stored["id"] not in changed:
                values = dict(stored)
                values["honeypot_reason"] = verdicts[ip].reason
                changed[values["id"]] = values
        return new_rows, changed

    def _settle(
        self,
        values: dict[str, Any],
        clock: lifecycle.CheckClock,
        windows: dict[str, int],
        revoked: dict[str, dict[str | None, str]],
        matcher: AllowMatcher,
        dual_use: dict[str, bool],
        fidelity: dict[str, Fidelity],
        latest_run: datetime,
    ) -> None:
        """Steps 2, 4 and 5 for one indicator: allowlist, lifecycle, confidence, status."""
        rule_id = values["rule_id"]
        window = self.store._window(windows, rule_id)
        queries = _loads_list(values["queries"])
        until = lifecycle.valid_until(values["last_seen"], window)
        when = clock.clock(rule_id, queries)
        expired = lifecycle.is_expired(until, when)
        if expired and not values.get("expired"):
            self.report.expired += 1
        values["valid_until"] = until
        values["expired"] = expired

        best = confidence.best_fidelity(fidelity.get(q, UNKNOWN_QUERY_FIDELITY) for q in queries)
        values["confidence"] = confidence.score(
            confidence.Factors(
                fidelity=best,
                queries=len(queries),
                engines=confidence.independent_engines(_loads_list(values["engines"])),
                times_seen=values["times_seen"],
                dual_use=bool(dual_use.get(rule_id, False)),
                honeypot=values["honeypot_reason"] is not None,
                cohosted=values.get("cohosted") or 0,
            )
        )
        status, reason = lifecycle.derive_status(
            lifecycle.StatusInputs(
                expired=expired,
                valid_until=until,
                last_seen=values["last_seen"],
                clock=when,
                window_days=window,
                revoked=_revoked_reason(revoked, values["ip"], rule_id),
                allowlisted=_allowlisted(matcher, values["ip"], values["asn"]),
                honeypot=values["honeypot_reason"],
                latest_run=latest_run,
            )
        )
        values["status"] = status.value
        values["status_reason"] = reason

    def _run_status(self, query_runs: dict[int, tuple[str, str, str, str]]) -> str:
        outcomes = [outcome for *_, outcome in query_runs.values()]
        if all(o in _OK_FOR_STATUS for o in outcomes):
            return "ok"
        if not any(o == QueryOutcome.OK.value for o in outcomes) and any(
            o in (QueryOutcome.FAILED.value, QueryOutcome.PENDING.value) for o in outcomes
        ):
            return "failed"
        return "partial"


#: Columns the lifecycle step may change on an indicator nobody saw this run.
_SETTLED = ("status", "status_reason", "expired", "valid_until", "confidence")

_UPDATE_COLUMNS = (
    "first_seen",
    "last_seen",
    "times_seen",
    "ports",
    "engines",
    "queries",
    "confidence",
    "status",
    "status_reason",
    "valid_until",
    "expired",
    "honeypot_reason",
    "cohosted",
    "asn",
    "org",
    "country",
    "hostnames",
    "last_run_id",
)


def _bulk_update(conn: Connection, rows: list[dict[str, Any]]) -> None:
    statement = (
        update(INDICATORS)
        .where(INDICATORS.c.id == bindparam("_id"))
        .values({c: bindparam(f"v_{c}") for c in _UPDATE_COLUMNS})
    )
    params = [{"_id": r["id"], **{f"v_{c}": r[c] for c in _UPDATE_COLUMNS}} for r in rows]
    conn.execute(statement, params)


# ------------------------------------------------------------------------------- helpers


def _revoked_reason(revoked: dict[str, dict[str | None, str]], ip: str, rule_id: str) -> str | None:
    entries = revoked.get(ip)
    if not entries:
        return None
    return entries.get(rule_id) or entries.get(None)


def _allowlisted(matcher: AllowMatcher, ip: str, asn: str | None) -> str | None:
    if not matcher:
        return None
    entry = matcher.match(ip, asn)
    return AllowMatcher.describe(entry) if entry else None


def _status_of(
    row: Any,
    revoked: dict[str, dict[str | None, str]],
    matcher: AllowMatcher,
    clock: lifecycle.CheckClock,
    window: int,
    latest_run: datetime | None,
) -> tuple[IndicatorStatus, str | None]:
    queries = _loads_list(row.queries)
    return lifecycle.derive_status(
        lifecycle.StatusInputs(
            expired=bool(row.expired),
            valid_until=row.valid_until,
            last_seen=row.last_seen,
            clock=clock.clock(row.rule_id, queries),
            window_days=window,
            revoked=_revoked_reason(revoked, row.ip, row.rule_id),
            allowlisted=_allowlisted(matcher, row.ip, row.asn),
            honeypot=row.honeypot_reason,
            latest_run=latest_run,
        )
    )


def _allow_scope(kind: str, value: str) -> list[Any]:
    if kind == "ip":
        return [INDICATORS.c.ip == value]
    if kind == "asn":
        return [INDICATORS.c.asn == value]
    return []  # a CIDR: every indicator is checked in Python (operator actions are rare)


def _require_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise StoreError("a reason is required (it is kept in the audit log)")


def _require_family(conn: Connection, rule_id: str) -> None:
    known = conn.execute(select(FAMILIES.c.rule_id).where(FAMILIES.c.rule_id == rule_id)).first()
    if known is None:
        raise StoreError(f"unknown family {rule_id!r}")


def _target(ip: str, rule_id: str | None) -> str:
    return f"{ip} ({rule_id})" if rule_id else f"{ip} (all families)"


def _audit(
    conn: Connection,
    actor: str,
    action: str,
    target: str,
    reason: str | None,
    details: dict[str, Any],
) -> None:
    conn.execute(
        insert(AUDIT).values(
            at=_now(),
            actor=actor,
            action=action,
            target=target,
            reason=reason,
            details=_dumps(details),
        )
    )


def _ips_by_rule(conn: Connection, run_id: int, rule_id: str | None = None) -> dict[str, set[str]]:
    query = (
        select(QUERY_RUNS.c.rule_id, OBSERVATIONS.c.ip)
        .join(QUERY_RUNS, QUERY_RUNS.c.id == OBSERVATIONS.c.query_run_id)
        .where(QUERY_RUNS.c.run_id == run_id, OBSERVATIONS.c.drop_reason.is_(None))
        .distinct()
    )
    if rule_id is not None:
        query = query.where(QUERY_RUNS.c.rule_id == rule_id)
    grouped: dict[str, set[str]] = defaultdict(set)
    for rule, ip in conn.execute(query):
        grouped[rule].add(ip)
    return grouped


def _indicator_select() -> Any:
    return select(
        INDICATORS,
        FAMILIES.c.name.label("f_name"),
        FAMILIES.c.feed_name.label("f_feed_name"),
        FAMILIES.c.category.label("f_category"),
        FAMILIES.c.kind.label("f_kind"),
        FAMILIES.c.dual_use.label("f_dual_use"),
        FAMILIES.c.malpedia.label("f_malpedia"),
        FAMILIES.c.mitre.label("f_mitre"),
    ).select_from(INDICATORS.outerjoin(FAMILIES, FAMILIES.c.rule_id == INDICATORS.c.rule_id))


def _indicator_from_row(row: Any) -> Indicator:
    return Indicator(
        ip=row.ip,
        rule_id=row.rule_id,
        family=row.f_name or row.rule_id,
        feed_name=row.f_feed_name or row.rule_id,
        category=Category(row.f_category or Category.MALWARE.value),
        kind=row.f_kind or "unknown",
        dual_use=bool(row.f_dual_use),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        times_seen=row.times_seen,
        ports=tuple(_loads_list(row.ports)),
        engines=tuple(_loads_list(row.engines)),
        queries=tuple(_loads_list(row.queries)),
        confidence=row.confidence,
        status=IndicatorStatus(row.status),
        status_reason=row.status_reason,
        valid_until=row.valid_until,
        malpedia=tuple(_loads_list(row.f_malpedia)),
        mitre=tuple(_loads_list(row.f_mitre)),
        asn=row.asn,
        org=row.org,
        country=row.country,
        hostnames=tuple(_loads_list(row.hostnames)),
    )


def _db_message(exc: DBAPIError) -> str:
    text = str(exc.orig) if exc.orig is not None else str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _make_engines(url: str) -> tuple[Engine, Engine]:
    """(read engine, write engine) for ``url``; the same engine except on SQLite."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"not a database URL: {url!r} (expected sqlite:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST/DB)"
        ) from None
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            return _sqlite_engines(parsed)
        if backend == "postgresql":
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            engine = create_engine(parsed, pool_pre_ping=True)
            return engine, engine
    except (NoSuchModuleError, SQLAlchemyError) as exc:
        raise StoreError(f"cannot use database URL {parsed.render_as_string()}: {exc}") from None
    raise StoreError(
        f"unsupported database {backend!r} in {parsed.render_as_string()}: "
        "use sqlite:///PATH or postgresql+psycopg://…"
    )


def _sqlite_engines(parsed: Any) -> tuple[Engine, Engine]:
    database = parsed.database
    if not database or database == ":memory:":
        raise StoreError("an in-memory SQLite store cannot be shared; give a file path")
    parent = Path(database).expanduser().resolve().parent
    if not parent.is_dir():
        raise StoreError(f"cannot create the store {database}: folder {parent} does not exist")

    def make(begin: str) -> Engine:
        engine = create_engine(parsed, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control from pysqlite so BEGIN IMMEDIATE can be used: writers
            # then queue on the busy timeout instead of failing on a lock upgrade.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # A 64 MB page cache keeps the observation IP index in memory during big runs, and
            # fewer, larger WAL checkpoints keep commits from paying an fsync every few pages.
            cursor.execute("PRAGMA cache_size=-65536")
            cursor.execute("PRAGMA wal_autocheckpoint=16384")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql(begin)

        return engine

    return make("BEGIN"), make("BEGIN IMMEDIATE")
