"""An in-memory store with the read and operator methods the server calls.

Used only until the real store is seeded in these tests; it keeps the planned API's ordering
(family then IP) and filters so the server's behaviour can be asserted exactly.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from c2tracker.errors import StoreError
from c2tracker.model import (
    Indicator,
    IndicatorStatus,
    IpHistory,
    QueryRunInfo,
    RuleStat,
    RunInfo,
    Sighting,
)


@dataclass
class MemoryStore:
    indicators: list[Indicator] = field(default_factory=list)
    sightings: list[Sighting] = field(default_factory=list)
    run_list: list[RunInfo] = field(default_factory=list)
    query_run_list: list[QueryRunInfo] = field(default_factory=list)
    stats: list[RuleStat] = field(default_factory=list)
    engines: dict[str, datetime | None] = field(default_factory=dict)
    allowlist: dict[str, str] = field(default_factory=dict)
    audit: list[tuple[str, str, str]] = field(default_factory=list)

    def iter_indicators(
        self,
        *,
        status: Any = None,
        category: Any = None,
        family: str | None = None,
        since: datetime | None = None,
        ip: str | None = None,
    ) -> Iterator[Indicator]:
        for indicator in sorted(
            self.indicators,
            key=lambda i: (
                i.rule_id,
                ipaddress.ip_address(i.ip).version,
                ipaddress.ip_address(i.ip),
            ),
        ):
            if status is not None and indicator.status != status:
                continue
            if category is not None and indicator.category != category:
                continue
            if family is not None and indicator.rule_id != family:
                continue
            if since is not None and indicator.last_seen < since:
                continue
            if ip is not None and indicator.ip != ip:
                continue
            yield indicator

    def lookup(self, ip: str) -> IpHistory:
        return IpHistory(
            ip=ip,
            indicators=[i for i in self.indicators if i.ip == ip],
            sightings=[s for s in self.sightings if s.ip == ip],
            allowlisted=self.allowlist.get(ip),
        )

    def runs(self, limit: int = 20) -> list[RunInfo]:
        return sorted(self.run_list, key=lambda r: -r.id)[:limit]

    def query_runs(self, run_id: int) -> list[QueryRunInfo]:
        return [q for q in self.query_run_list if q.run_id == run_id]

    def engine_status(self) -> dict[str, datetime | None]:
        return dict(self.engines)

    def rule_stats(self, run_id: int | None = None) -> list[RuleStat]:
        return [s for s in self.stats if run_id is None or s.run_id == run_id]

    def families(self) -> list[tuple[str, int]]:
        counts: dict[str, int] = {}
        for indicator in self.indicators:
            counts.setdefault(indicator.rule_id, 0)
            if indicator.status is IndicatorStatus.ACTIVE:
                counts[indicator.rule_id] += 1
        return sorted(counts.items())

    def _set_status(self, ip: str, rule_id: str | None, status: IndicatorStatus) -> int:
        changed = 0
        for index, indicator in enumerate(self.indicators):
            if indicator.ip == ip and rule_id in (None, indicator.rule_id):
                self.indicators[index] = replace(indicator, status=status)
                changed += 1
        if not changed:
            raise StoreError(f"no indicator for {ip}")
        return changed

    def revoke(self, ip: str, rule_id: str | None, reason: str, actor: str) -> None:
        self._set_status(ip, rule_id, IndicatorStatus.REVOKED)
        self.audit.append(("revoke", ip, actor))

    def unrevoke(self, ip: str, rule_id: str | None, actor: str) -> None:
        self._set_status(ip, rule_id, IndicatorStatus.ACTIVE)
        self.audit.append(("unrevoke", ip, actor))

    def allow(self, value: str, reason: str, actor: str) -> None:
        if not value or value == "bogus":
            raise StoreError(f"not an IP, CIDR or ASN: {value!r}")
        self.allowlist[value] = reason
        self.audit.append(("allow", value, actor))

    def unallow(self, value: str, actor: str) -> None:
        self.allowlist.pop(value, None)
        self.audit.append(("unallow", value, actor))
