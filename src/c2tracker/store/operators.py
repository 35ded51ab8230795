"""Operator actions: revoking indicators and allowlisting IPs, CIDRs or ASNs, each audited and
reversible, and the status refresh that makes them take effect at once (docs/store.md,
"Lifecycle": revoked > allowlisted > honeypot > expired/active)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, and_, bindparam, insert, select, update

from c2tracker.errors import StoreError
from c2tracker.filters.allowlist import parse_allow_value
from c2tracker.store import policy
from c2tracker.store.tables import (
    ALLOWLIST,
    AUDIT,
    FAMILIES,
    INDICATORS,
    REVOCATIONS,
    dumps,
    loads_list,
    now,
)
from c2tracker.store.values import normalize_ip

if TYPE_CHECKING:
    from c2tracker.store.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One operator action from the audit log."""

    at: datetime
    actor: str
    action: str
    target: str
    reason: str | None
    details: dict[str, Any]


def revoke(store: Store, ip: str, rule_id: str | None, reason: str, actor: str) -> int:
    address = normalize_ip(ip)
    _require_reason(reason)
    _refuse_nul(family=rule_id, actor=actor)
    with store._write.begin() as conn:
        if rule_id is not None:
            _require_family(conn, rule_id)
        conn.execute(
            insert(REVOCATIONS).values(
                ip=address, rule_id=rule_id, reason=reason, actor=actor, created_at=now()
            )
        )
        audit(conn, actor, "revoke", _target(address, rule_id), reason, {})
        changed = refresh_status(store, conn, [INDICATORS.c.ip == address])
    log.info("revoked %s: %d indicator(s)", _target(address, rule_id), changed)
    return changed


def unrevoke(store: Store, ip: str, rule_id: str | None, actor: str, reason: str | None) -> int:
    address = normalize_ip(ip)
    _refuse_nul(family=rule_id, actor=actor, reason=reason)
    with store._write.begin() as conn:
        match = and_(
            REVOCATIONS.c.ip == address,
            REVOCATIONS.c.removed_at.is_(None),
            REVOCATIONS.c.rule_id.is_(None)
            if rule_id is None
            else REVOCATIONS.c.rule_id == rule_id,
        )
        removed = conn.execute(
            update(REVOCATIONS).where(match).values(removed_at=now(), removed_by=actor)
        ).rowcount
        if not removed:
            raise StoreError(f"no active revocation of {_target(address, rule_id)}")
        audit(conn, actor, "unrevoke", _target(address, rule_id), reason, {})
        return refresh_status(store, conn, [INDICATORS.c.ip == address])


def allow(store: Store, value: str, reason: str, actor: str) -> int:
    parsed = parse_allow_value(value)
    _require_reason(reason)
    _refuse_nul(actor=actor)
    with store._write.begin() as conn:
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
                created_at=now(),
            )
        )
        audit(conn, actor, "allow", f"{parsed.kind} {parsed.value}", reason, {})
        return refresh_status(store, conn, _allow_scope(parsed.kind, parsed.value))


def unallow(store: Store, value: str, actor: str, reason: str | None) -> int:
    parsed = parse_allow_value(value)
    _refuse_nul(actor=actor, reason=reason)
    with store._write.begin() as conn:
        removed = conn.execute(
            update(ALLOWLIST)
            .where(
                ALLOWLIST.c.kind == parsed.kind,
                ALLOWLIST.c.value == parsed.value,
                ALLOWLIST.c.removed_at.is_(None),
            )
            .values(removed_at=now(), removed_by=actor)
        ).rowcount
        if not removed:
            raise StoreError(f"{parsed.kind} {parsed.value} is not on the allowlist")
        audit(conn, actor, "unallow", f"{parsed.kind} {parsed.value}", reason, {})
        return refresh_status(store, conn, _allow_scope(parsed.kind, parsed.value))


def audit_log(store: Store, limit: int | None) -> list[AuditRecord]:
    query = select(AUDIT).order_by(AUDIT.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    with store._read.connect() as conn:
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


def allowlist(store: Store, include_removed: bool) -> list[dict[str, Any]]:
    query = select(ALLOWLIST).order_by(ALLOWLIST.c.id)
    if not include_removed:
        query = query.where(ALLOWLIST.c.removed_at.is_(None))
    with store._read.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def refresh_status(store: Store, conn: Connection, where: list[Any]) -> int:
    """Recomputes status for indicators matching ``where`` (after an operator action);
    returns how many changed."""
    revoked = policy.revocations(conn)
    matcher = policy.allow_matcher(conn)
    windows = policy.Windows(conn, store.settings)
    latest_run = policy.latest_run_time(conn)
    clock = policy.check_clock(conn, None)
    stamp = now()
    updates = []
    for row in conn.execute(select(INDICATORS).where(*where)):
        status, reason = policy.status_of(
            row,
            loads_list(row.queries),
            revoked,
            matcher,
            clock,
            windows(row.rule_id),
            latest_run,
        )
        if status.value != row.status or reason != row.status_reason:
            updates.append(
                {
                    "_id": row.id,
                    "status": status.value,
                    "status_reason": reason,
                    # A new reason for the same status is no new status.
                    "changed_at": stamp if status.value != row.status else row.status_changed_at,
                }
            )
    if updates:
        changed_at = bindparam("changed_at", type_=INDICATORS.c.status_changed_at.type)
        conn.execute(
            update(INDICATORS)
            .where(INDICATORS.c.id == bindparam("_id"))
            .values(
                status=bindparam("status"),
                status_reason=bindparam("status_reason"),
                status_changed_at=changed_at,
            ),
            updates,
        )
    return len(updates)


def audit(
    conn: Connection,
    actor: str,
    action: str,
    target: str,
    reason: str | None,
    details: dict[str, Any],
) -> None:
    conn.execute(
        insert(AUDIT).values(
            at=now(),
            actor=actor,
            action=action,
            target=target,
            reason=reason,
            details=dumps(details),
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
    _refuse_nul(reason=reason)


def _refuse_nul(**fields: str | None) -> None:
    """Operator text is stored as given, and PostgreSQL text cannot hold NUL: refused on every
    backend alike, naming the field, rather than failing in the driver."""
    for name, value in fields.items():
        if value and "\x00" in value:
            raise StoreError(f"the {name} must not contain NUL characters")


def _require_family(conn: Connection, rule_id: str) -> None:
    known = conn.execute(select(FAMILIES.c.rule_id).where(FAMILIES.c.rule_id == rule_id)).first()
    if known is None:
        raise StoreError(f"unknown family {rule_id!r}")


def _target(ip: str, rule_id: str | None) -> str:
    return f"{ip} ({rule_id})" if rule_id else f"{ip} (all families)"
