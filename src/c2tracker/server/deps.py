"""What the server needs from the rest of the tool, and how a route reaches it.

:class:`StoreReader` lists the store methods the server calls (the planned store API), so the
server can be type-checked and tested without caring which database sits behind it.
:class:`ServerContext` bundles the store, settings, rules and feed folder for one app; routes
get it from ``request.app.state.context``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import Request

from c2tracker.model import IpHistory, QueryRunInfo, RuleStat, RunInfo
from c2tracker.server.errors import bad_request
from c2tracker.settings import Settings

if TYPE_CHECKING:
    from c2tracker.model import Indicator
    from c2tracker.server.scheduler import Scheduler


class StoreReader(Protocol):
    """The part of ``c2tracker.store.Store`` the server uses."""

    def iter_indicators(
        self,
        *,
        status: Any = None,
        category: Any = None,
        family: str | None = None,
        since: datetime | None = None,
        ip: str | None = None,
    ) -> Iterator[Indicator]: ...

    def lookup(self, ip: str) -> IpHistory: ...

    def runs(self, limit: int = 20) -> list[RunInfo]: ...

    def run(self, run_id: int) -> RunInfo | None: ...

    def query_runs(self, run_id: int) -> list[QueryRunInfo]: ...

    def engine_status(self) -> dict[str, datetime | None]: ...

    def rule_stats(self, run_id: int | None = None) -> list[RuleStat]: ...

    def families(self) -> list[tuple[str, int]]: ...

    def revoke(self, ip: str, rule_id: str | None, reason: str, actor: str) -> Any: ...

    def unrevoke(self, ip: str, rule_id: str | None, actor: str) -> Any: ...

    def allow(self, value: str, reason: str, actor: str) -> Any: ...

    def unallow(self, value: str, actor: str) -> Any: ...


@dataclass
class RuleSummary:
    """What the server shows about one rule, taken from the rule corpus when it loads."""

    id: str
    name: str
    feed_name: str
    category: str
    description: str
    references: list[str]
    queries: list[dict[str, str]]


@dataclass
class ServerContext:
    """Everything one running app serves from."""

    settings: Settings
    store: StoreReader
    feeds_dir: Path
    rules: dict[str, RuleSummary]
    scheduler: Scheduler


def context(request: Request) -> ServerContext:
    ctx = request.app.state.context
    assert isinstance(ctx, ServerContext)
    return ctx


def normalise_ip(text: str) -> str:
    """The compressed form of an IPv4 or IPv6 address; IPv4-mapped IPv6 is unwrapped.

    Raises:
        ApiError: 400 when ``text`` is not an IP address.
    """
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        raise bad_request(f"not an IP address: {text[:64]!r}", code="invalid_ip") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; naive values are taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 text with a ``Z`` suffix, or None."""
    if moment is None:
        return None
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def rule_summaries(rules: Iterable[Any]) -> dict[str, RuleSummary]:
    """Rule id → summary, from a loaded ``RuleSet``."""
    summaries: dict[str, RuleSummary] = {}
    for rule in rules:
        queries = [
            {
                "engine": str(getattr(q.engine, "value", q.engine)),
                "query": str(q.query),
                "fidelity": str(getattr(q.fidelity, "value", q.fidelity)),
            }
            for q in rule.queries
        ]
        summaries[rule.id] = RuleSummary(
            id=rule.id,
            name=rule.name,
            feed_name=rule.feed_name,
            category=str(getattr(rule.category, "value", rule.category)),
            description=rule.description or "",
            references=[str(r) for r in rule.references],
            queries=queries,
        )
    return summaries
