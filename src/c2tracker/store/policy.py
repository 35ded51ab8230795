"""What an indicator's status depends on besides its sightings, loaded from the store: the
operator's allowlist and revocations, each family's window, and when each query last ran
successfully (the lifecycle's clock). Shared by finishing a run and by operator actions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from c2tracker.filters.allowlist import AllowMatcher, AllowRule
from c2tracker.model import IndicatorStatus, QueryOutcome, query_id
from c2tracker.settings import Settings
from c2tracker.store import lifecycle
from c2tracker.store.rulemeta import RuleMeta
from c2tracker.store.tables import ALLOWLIST, FAMILIES, QUERY_RUNS, REVOCATIONS, RUNS, as_dt

#: Revocations by IP, then by rule id (None: every family) → the reason shown.
Revoked = dict[str, dict[str | None, str]]


def allow_matcher(conn: Connection) -> AllowMatcher:
    rows = conn.execute(
        select(ALLOWLIST.c.kind, ALLOWLIST.c.value, ALLOWLIST.c.reason).where(
            ALLOWLIST.c.removed_at.is_(None)
        )
    )
    return AllowMatcher(AllowRule(kind, value, reason) for kind, value, reason in rows)


def revocations(conn: Connection) -> Revoked:
    revoked: Revoked = defaultdict(dict)
    for ip, rule_id, reason, actor in conn.execute(
        select(
            REVOCATIONS.c.ip, REVOCATIONS.c.rule_id, REVOCATIONS.c.reason, REVOCATIONS.c.actor
        ).where(REVOCATIONS.c.removed_at.is_(None))
    ):
        revoked[ip][rule_id] = f"revoked by {actor}: {reason}"
    return revoked


class Windows:
    """Each family's lifecycle window in days (settings by family, then by category)."""

    def __init__(self, conn: Connection, settings: Settings) -> None:
        self._settings = settings
        self._days = {
            rule_id: settings.window_for(rule_id, category)
            for rule_id, category in conn.execute(select(FAMILIES.c.rule_id, FAMILIES.c.category))
        }

    def __call__(self, rule_id: str) -> int:
        days = self._days.get(rule_id)
        if not days:
            days = self._days[rule_id] = self._settings.window_for(rule_id, "")
        return days


def check_clock(conn: Connection, rules: Iterable[RuleMeta] | None) -> lifecycle.CheckClock:
    """Lifecycle rule 4's inputs; the rules' current queries come from ``rules``, or (operator
    actions, which have no rule set) from every query the store has run."""
    last_check = {
        qid: as_dt(when)
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


def latest_run_time(conn: Connection) -> datetime | None:
    latest = conn.execute(select(func.max(RUNS.c.started_at))).scalar()
    return as_dt(latest) if latest is not None else None


def revoked_reason(revoked: Revoked, ip: str, rule_id: str) -> str | None:
    entries = revoked.get(ip)
    if not entries:
        return None
    return entries.get(rule_id) or entries.get(None)


def allowlisted(matcher: AllowMatcher, ip: str, asn: str | None) -> str | None:
    if not matcher:
        return None
    entry = matcher.match(ip, asn)
    return AllowMatcher.describe(entry) if entry else None


def status_of(
    row: Any,
    queries: list[str],
    revoked: Revoked,
    matcher: AllowMatcher,
    clock: lifecycle.CheckClock,
    window: int,
    latest_run: datetime | None,
) -> tuple[IndicatorStatus, str | None]:
    """The status of a stored indicator row whose lifecycle fields are already settled."""
    return lifecycle.derive_status(
        lifecycle.StatusInputs(
            expired=bool(row.expired),
            valid_until=row.valid_until,
            last_seen=row.last_seen,
            clock=clock.clock(row.rule_id, queries),
            window_days=window,
            revoked=revoked_reason(revoked, row.ip, row.rule_id),
            allowlisted=allowlisted(matcher, row.ip, row.asn),
            honeypot=row.honeypot_reason,
            latest_run=latest_run,
        )
    )
