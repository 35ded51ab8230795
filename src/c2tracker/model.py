"""The records that flow between the pipeline's stages.

Sources and the offline matcher produce :class:`Observation` objects; the store turns them into
indicators and hands :class:`Indicator` views to the feeds and the server. A collect run reports
its progress through a :class:`RunRecorder`, which the store implements, so that sources never
touch the database directly. Keeping these shapes here, apart from any one stage, is what lets
each stage be replaced or tested alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from c2tracker.querylang.ast import Engine

__all__ = [
    "Category",
    "Engine",
    "Fidelity",
    "Indicator",
    "IndicatorStatus",
    "Observation",
    "PageCheckpoint",
    "QueryOutcome",
    "RunRecorder",
    "query_id",
]


class Category(StrEnum):
    C2 = "c2"
    MALWARE = "malware"
    TOOL = "tool"
    BOTNET = "botnet"


class Fidelity(StrEnum):
    """How much a query's hits can be trusted on their own."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class QueryOutcome(StrEnum):
    """What happened to one query in one run."""

    PENDING = "pending"
    OK = "ok"
    FAILED = "failed"
    SKIPPED_BUDGET = "skipped-budget"
    SKIPPED_EMPTY = "skipped-empty"


class IndicatorStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    HONEYPOT = "honeypot"
    ALLOWLISTED = "allowlisted"


def query_id(rule_id: str, engine: Engine | str, query: str) -> str:
    """A stable name for one query of one rule: ``<rule>:<engine>:<8 hex of the query>``.

    It survives reordering the queries of a rule file and changes when the query text changes.
    """
    digest = hashlib.sha256(query.strip().encode("utf-8")).hexdigest()[:8]
    return f"{rule_id}:{Engine(engine).value}:{digest}"


@dataclass(slots=True)
class Observation:
    """One service that one query matched, at the time the engine (or scan) saw it."""

    ip: str
    """Normalised address text (``ipaddress`` compressed form; IPv4-mapped IPv6 unwrapped)."""
    port: int | None
    transport: str
    """``tcp``, ``udp`` or ``quic``; lower case."""
    rule_id: str
    family: str
    """The rule's display name."""
    engine: Engine
    query: str
    timestamp: datetime | None
    """When the engine or scanner saw the service (UTC), not when we fetched it."""
    evidence: dict[str, Any]
    """Record values that satisfied the query, keyed by field path."""
    source: str
    """``shodan``, ``censys``, ``censys-legacy`` or ``scan:<path>``."""
    hostnames: tuple[str, ...] = ()
    asn: str | None = None
    org: str | None = None
    country: str | None = None
    tags: tuple[str, ...] = ()
    """Tags the engine attached (``honeypot``, ``cloud``…)."""

    @property
    def query_id(self) -> str:
        return query_id(self.rule_id, self.engine, self.query)

    def to_match_json(self) -> dict[str, Any]:
        """The object ``c2tracker match`` prints for this observation."""
        return {
            "ip": self.ip,
            "port": self.port,
            "transport": self.transport,
            "rule": self.rule_id,
            "family": self.family,
            "engine": self.engine.value,
            "query": self.query,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "evidence": self.evidence,
        }


@dataclass(slots=True)
class Indicator:
    """What the store knows about one IP for one family; what feeds and the API publish."""

    ip: str
    rule_id: str
    family: str
    feed_name: str
    category: Category
    kind: str
    dual_use: bool
    first_seen: datetime
    last_seen: datetime
    times_seen: int
    ports: tuple[int, ...]
    engines: tuple[str, ...]
    queries: tuple[str, ...]
    """Query ids (:func:`query_id`) that found it."""
    confidence: int
    status: IndicatorStatus
    status_reason: str | None = None
    valid_until: datetime | None = None
    malpedia: tuple[str, ...] = ()
    mitre: tuple[str, ...] = ()
    asn: str | None = None
    org: str | None = None
    country: str | None = None
    hostnames: tuple[str, ...] = field(default_factory=tuple)
    status_changed_at: datetime | None = None
    """When a run or an operator last changed :attr:`status`; None while it is the status the
    indicator was made with."""

    @property
    def is_blockable(self) -> bool:
        """True when the indicator belongs in blocking feeds."""
        return self.status is IndicatorStatus.ACTIVE and not self.dual_use


@dataclass(frozen=True, slots=True)
class PageCheckpoint:
    """A page of one query that a run already stored."""

    page: int
    next_token: str | None
    """Censys page token or cursor for the page after this one; None for Shodan."""
    total: int | None
    credits: int


class RunRecorder(Protocol):
    """How a collect run reports progress; the store implements it.

    Every method commits before it returns, so a crash loses at most the page being fetched, and
    ``collect --resume`` continues from the last stored page. The one exception is
    :meth:`bulk`: inside it, free pages (``credits=0``) and the queries around them are committed
    in groups of up to a second's work, for sources that write from memory back to back.
    """

    run_id: int

    def start_query(self, rule_id: str, engine: Engine, query: str) -> int:
        """Registers (or, on resume, finds) the query run and returns its id."""
        ...

    def bulk(self) -> AbstractContextManager[None]:
        """A section of writes made back to back from memory (scan data, imports): free pages
        and the starts and ends of queries inside it are committed in groups of up to a
        second's work, all of it by the section's end. A crash loses at most the open group,
        which costs nothing to write again; a page that cost credits is still committed at
        once. No other write to the store may wait on the section's thread inside it."""
        ...

    def stored_pages(self, query_run_id: int) -> Sequence[PageCheckpoint]:
        """Pages already stored for this query run, in page order."""
        ...

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
        """Stores one fetched page and its observations in one transaction (a free page: in
        one transaction with the other pages of its group)."""
        ...

    def finish_query(
        self,
        query_run_id: int,
        outcome: QueryOutcome,
        *,
        reason: str | None = None,
        duration_s: float | None = None,
    ) -> None:
        """Records the query's outcome; only ``ok`` queries count toward ageing."""
        ...

    def last_result_count(self, rule_id: str, engine: Engine, query: str) -> int | None:
        """Results the same query found in its last successful run, or None if never run."""
        ...


@dataclass(slots=True)
class Sighting:
    """One stored observation, as ``lookup`` and the API show it."""

    ip: str
    port: int | None
    transport: str
    rule_id: str
    engine: str
    query: str
    run_id: int
    seen_at: datetime
    """The record's own timestamp, or the run's time when the record had none."""
    evidence: dict[str, Any]
    hostnames: tuple[str, ...] = ()
    asn: str | None = None
    org: str | None = None
    country: str | None = None


@dataclass(slots=True)
class IpHistory:
    """Everything known about one IP: its indicators (one per family) and every sighting."""

    ip: str
    indicators: list[Indicator]
    sightings: list[Sighting]
    allowlisted: str | None = None
    """The allowlist entry's reason when the IP is allowlisted."""


@dataclass(slots=True)
class QueryRunInfo:
    """One query's outcome in one run."""

    run_id: int
    rule_id: str
    engine: str
    query: str
    outcome: QueryOutcome
    reason: str | None
    pages: int
    credits: int
    results: int
    duration_s: float | None


@dataclass(slots=True)
class RunInfo:
    """One collect run."""

    id: int
    started_at: datetime
    finished_at: datetime | None
    status: str
    """``running``, ``ok``, ``partial`` (some queries failed) or ``failed``."""
    sources: tuple[str, ...]
    observations: int
    queries_ok: int
    queries_failed: int
    queries_skipped: int
    credits: dict[str, int]


@dataclass(slots=True)
class RuleStat:
    """How one rule did in one run compared with the run before (for the quality report)."""

    run_id: int
    rule_id: str
    hits: int
    new: int
    kept: int
    dropped: int
    overlap: dict[str, int]
    """Other rule id → IPs this rule shares with it in this run."""
