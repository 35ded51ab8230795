"""Reading the store: indicators, one IP's history, runs and their queries, per-engine and
per-rule statistics, families. Readers use the read engine and never take the run lock."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, or_, select

from c2tracker.model import (
    Category,
    Indicator,
    IndicatorStatus,
    IpHistory,
    QueryOutcome,
    QueryRunInfo,
    RuleStat,
    RunInfo,
    Sighting,
    query_id,
)
from c2tracker.querylang.ast import Engine as QueryEngine
from c2tracker.store import policy
from c2tracker.store.ingest import ROW_IP, kept_rows
from c2tracker.store.models import from_micros, to_micros
from c2tracker.store.tables import (
    BATCHES,
    FAMILIES,
    IN_CHUNK,
    INDICATORS,
    OBSERVATION_IPS,
    QUERY_RUNS,
    RUNS,
    as_dt,
    loads_list,
)
from c2tracker.store.values import normalize_ip

if TYPE_CHECKING:
    from c2tracker.store.store import Store


def iter_indicators(
    store: Store,
    *,
    status: IndicatorStatus | str | Iterable[IndicatorStatus | str] | None,
    category: Category | str | None,
    family: str | None,
    since: datetime | None,
    ip: str | None,
) -> Iterator[Indicator]:
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

    with store._read.connect() as conn:
        result = conn.execute(query.execution_options(yield_per=2000))
        for row in result:
            yield _indicator_from_row(row)


def lookup(store: Store, ip: str) -> IpHistory:
    address = normalize_ip(ip)
    indicators = list(
        iter_indicators(store, status=None, category=None, family=None, since=None, ip=address)
    )
    batch_query = (
        select(
            BATCHES.c.id,
            BATCHES.c.rows,
            BATCHES.c.run_id,
            RUNS.c.started_at,
            QUERY_RUNS.c.rule_id,
            QUERY_RUNS.c.engine,
            QUERY_RUNS.c.query,
        )
        .join(QUERY_RUNS, QUERY_RUNS.c.id == BATCHES.c.query_run_id)
        .join(RUNS, RUNS.c.id == BATCHES.c.run_id)
    )
    found: list[tuple[int, int, int, Sighting]] = []
    with store._read.connect() as conn:
        batch_ids = sorted(
            {
                batch_id
                for (listed,) in conn.execute(
                    select(OBSERVATION_IPS.c.batches).where(OBSERVATION_IPS.c.ip == address)
                )
                for batch_id in loads_list(listed)
            }
        )
        batches = [
            batch
            for start in range(0, len(batch_ids), IN_CHUNK)
            for batch in conn.execute(
                batch_query.where(BATCHES.c.id.in_(batch_ids[start : start + IN_CHUNK]))
            )
        ]
        for batch in batches:
            for index, row in enumerate(kept_rows(batch.rows)):
                ip, port, transport, seen_at, evidence, hostnames, asn, org, country = row[:9]
                if ip != address:
                    continue
                seen = seen_at if seen_at is not None else to_micros(batch.started_at)
                sighting = Sighting(
                    ip=address,
                    port=port,
                    transport=transport,
                    rule_id=batch.rule_id,
                    engine=batch.engine,
                    query=batch.query,
                    run_id=batch.run_id,
                    seen_at=from_micros(seen),
                    evidence=evidence if isinstance(evidence, dict) else {},
                    hostnames=tuple(hostnames or ()),
                    asn=asn,
                    org=org,
                    country=country,
                )
                found.append((seen, batch.id, index, sighting))
        matcher = policy.allow_matcher(conn)
    asns = {i.asn for i in indicators} | {item[3].asn for item in found}
    entry = None
    for asn in sorted(asns, key=lambda a: a or ""):
        entry = matcher.match(address, asn)
        if entry is not None:
            break
    found.sort(key=lambda item: item[:3])
    sightings = [item[3] for item in found]
    return IpHistory(
        ip=address,
        indicators=indicators,
        sightings=sightings,
        allowlisted=entry.reason if entry else None,
    )


def runs(store: Store, limit: int) -> list[RunInfo]:
    with store._read.connect() as conn:
        run_rows = conn.execute(select(RUNS).order_by(RUNS.c.id.desc()).limit(limit)).all()
        return _run_infos(conn, run_rows)


#: The largest row id either database stores (a signed 64-bit integer).
MAX_ROW_ID = 2**63 - 1


def run(store: Store, run_id: int) -> RunInfo | None:
    if not 1 <= run_id <= MAX_ROW_ID:
        # No run has such an id, and the driver would overflow binding it.
        return None
    with store._read.connect() as conn:
        run_rows = conn.execute(select(RUNS).where(RUNS.c.id == run_id)).all()
        infos = _run_infos(conn, run_rows)
    return infos[0] if infos else None


def _run_infos(conn: Connection, run_rows: Sequence[Any]) -> list[RunInfo]:
    """The runs of ``run_rows`` with their query outcomes and credits counted."""
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
                sources=tuple(loads_list(row.sources)),
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


def query_runs(store: Store, run_id: int) -> list[QueryRunInfo]:
    with store._read.connect() as conn:
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


def last_result_count(store: Store, rule_id: str, engine: QueryEngine, query: str) -> int | None:
    qid = query_id(rule_id, engine, query)
    with store._read.connect() as conn:
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


def engine_status(store: Store) -> dict[str, datetime | None]:
    with store._read.connect() as conn:
        engines = [row[0] for row in conn.execute(select(QUERY_RUNS.c.engine).distinct())]
        status: dict[str, datetime | None] = dict.fromkeys(engines)
        for engine, when in conn.execute(
            select(QUERY_RUNS.c.engine, func.max(QUERY_RUNS.c.finished_at))
            .where(QUERY_RUNS.c.outcome == QueryOutcome.OK.value)
            .group_by(QUERY_RUNS.c.engine)
        ):
            status[engine] = as_dt(when) if when is not None else None
    return status


def rule_stats(store: Store, run_id: int | None) -> list[RuleStat]:
    with store._read.connect() as conn:
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


def families(store: Store) -> list[tuple[str, int]]:
    with store._read.connect() as conn:
        active: dict[str, int] = dict(
            conn.execute(
                select(INDICATORS.c.rule_id, func.count())
                .where(INDICATORS.c.status == IndicatorStatus.ACTIVE.value)
                .group_by(INDICATORS.c.rule_id)
            ).all()
        )
        ids = [row[0] for row in conn.execute(select(FAMILIES.c.rule_id))]
    return [(rule_id, int(active.get(rule_id, 0))) for rule_id in sorted(set(ids) | set(active))]


def _ips_by_rule(conn: Connection, run_id: int, rule_id: str | None = None) -> dict[str, set[str]]:
    """Per rule, the addresses a run's observations kept (not dropped) found."""
    query = (
        select(QUERY_RUNS.c.rule_id, BATCHES.c.rows)
        .join(QUERY_RUNS, QUERY_RUNS.c.id == BATCHES.c.query_run_id)
        .where(BATCHES.c.run_id == run_id)
    )
    if rule_id is not None:
        query = query.where(QUERY_RUNS.c.rule_id == rule_id)
    grouped: dict[str, set[str]] = defaultdict(set)
    for rule, rows in conn.execute(query.execution_options(yield_per=200)):
        grouped[rule].update(row[ROW_IP] for row in kept_rows(rows))
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
        ports=tuple(loads_list(row.ports)),
        engines=tuple(loads_list(row.engines)),
        queries=tuple(loads_list(row.queries)),
        confidence=row.confidence,
        status=IndicatorStatus(row.status),
        status_reason=row.status_reason,
        valid_until=row.valid_until,
        malpedia=tuple(loads_list(row.f_malpedia)),
        mitre=tuple(loads_list(row.f_mitre)),
        asn=row.asn,
        org=row.org,
        country=row.country,
        hostnames=tuple(loads_list(row.hostnames)),
        status_changed_at=row.status_changed_at,
    )
