"""Table handles and the small value codecs every part of the store shares.

Times are integer microseconds in the database (:mod:`c2tracker.store.models`); lists are
compact JSON written with orjson. The helpers here are the one place those encodings are made
and read back outside the models.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy import Table

from c2tracker.model import Fidelity
from c2tracker.store.models import (
    AllowEntry,
    AuditEntry,
    Family,
    IndicatorRow,
    ObservationBatch,
    ObservationIp,
    Page,
    QueryRun,
    Revocation,
    Run,
    from_micros,
)

RUNS = cast(Table, Run.__table__)
QUERY_RUNS = cast(Table, QueryRun.__table__)
PAGES = cast(Table, Page.__table__)
BATCHES = cast(Table, ObservationBatch.__table__)
OBSERVATION_IPS = cast(Table, ObservationIp.__table__)
INDICATORS = cast(Table, IndicatorRow.__table__)
FAMILIES = cast(Table, Family.__table__)
ALLOWLIST = cast(Table, AllowEntry.__table__)
REVOCATIONS = cast(Table, Revocation.__table__)
AUDIT = cast(Table, AuditEntry.__table__)

#: Fidelity given to sightings whose query no current rule has, e.g. imported C2-Tracker files:
#: we cannot tell which of the original's queries (hash, certificate or product label) found
#: the IP, and its corpus mixes all three, so neither the best nor the worst is fair.
UNKNOWN_QUERY_FIDELITY = Fidelity.MEDIUM

#: Rows per ``IN (…)`` list, well under SQLite's and psycopg's parameter limits.
IN_CHUNK = 500

MICROS_PER_DAY = 86_400_000_000


def now() -> datetime:
    return datetime.now(UTC)


def as_dt(value: Any) -> datetime:
    """A datetime from an aggregate result (typed or raw integer microseconds)."""
    return value if isinstance(value, datetime) else from_micros(int(value))


def dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def loads_list(text: str | None) -> list[Any]:
    if not text:
        return []
    value = orjson.loads(text)
    return value if isinstance(value, list) else []


def micros(value: datetime) -> int:
    """Microseconds since the epoch, naive taken as UTC (the observation hot path's version of
    :func:`~c2tracker.store.models.to_micros`, through the C ``timestamp``)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return round(value.timestamp() * 1_000_000)
