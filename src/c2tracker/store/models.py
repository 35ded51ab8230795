"""The store's tables, as SQLAlchemy 2 typed declarative models.

The schema is owned by the Alembic revisions under ``migrations/versions``; these models must
describe the same tables (a test compares them with a migrated database). Conventions:

- Times are UTC, stored as integer microseconds since the epoch (:class:`EpochMicros`). Integers
  sort and aggregate the same way on SQLite and PostgreSQL and cost nothing to bind in bulk
  inserts, which the ingest benchmark depends on.
- Lists (ports, engines, hostnames, evidence…) are JSON text written with orjson, for the same
  portability reason; they are never searched inside by SQL.
- Observations are stored a batch to a row (:class:`ObservationBatch`), not a row each: see its
  docstring for why and for how to query them one by one in SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Integer primary key that is SQLite's rowid alias there and a BIGINT on PostgreSQL.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def to_micros(value: datetime) -> int:
    """Microseconds since the epoch; naive datetimes are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """The aware UTC datetime for microseconds since the epoch."""
    seconds, micros = divmod(value, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros)


class EpochMicros(TypeDecorator[datetime]):
    """A UTC datetime stored as microseconds since the epoch."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | int | None, dialect: Dialect) -> int | None:
        # Bulk writers pass precomputed integers; they go through unchanged.
        if value is None or isinstance(value, int):
            return value
        return to_micros(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else from_micros(int(value))


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Run(Base):
    """One collect run or one imported snapshot."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    """``collect`` or ``import``."""
    started_at: Mapped[datetime] = mapped_column(EpochMicros)
    """The run's time: when it started, or an imported snapshot's commit date."""
    finished_at: Mapped[datetime | None] = mapped_column(EpochMicros)
    status: Mapped[str] = mapped_column(String(16))
    sources: Mapped[str] = mapped_column(Text)
    """JSON list of source names."""
    label: Mapped[str | None] = mapped_column(Text)
    """Free text: an imported snapshot's commit and path."""
    observations: Mapped[int] = mapped_column(BigInteger, default=0)
    applied_batch_id: Mapped[int] = mapped_column(BigInteger, default=0)
    """Highest observation batch id already folded into indicators (finish_run's watermark)."""


class QueryRun(Base):
    """One query of one rule on one engine within a run."""

    __tablename__ = "query_runs"
    __table_args__ = (
        UniqueConstraint("run_id", "query_id"),
        Index(None, "query_id", "outcome"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    rule_id: Mapped[str] = mapped_column(String(200))
    engine: Mapped[str] = mapped_column(String(32))
    query: Mapped[str] = mapped_column(Text)
    query_id: Mapped[str] = mapped_column(String(250))
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    credits: Mapped[int] = mapped_column(Integer, default=0)
    results: Mapped[int] = mapped_column(Integer, default=0)
    duration_s: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(EpochMicros)
    finished_at: Mapped[datetime | None] = mapped_column(EpochMicros)


class Page(Base):
    """A stored page of results: the checkpoint ``collect --resume`` continues from."""

    __tablename__ = "pages"

    query_run_id: Mapped[int] = mapped_column(
        ForeignKey("query_runs.id", ondelete="CASCADE"), primary_key=True
    )
    page: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_token: Mapped[str | None] = mapped_column(Text)
    total: Mapped[int | None] = mapped_column(BigInteger)
    credits: Mapped[int] = mapped_column(Integer, default=0)
    observations: Mapped[int] = mapped_column(Integer, default=0)
    stored_at: Mapped[datetime] = mapped_column(EpochMicros)


class ObservationBatch(Base):
    """Up to :data:`~c2tracker.store.ingest.BATCH_ROWS` observations of one stored page, as one
    JSON array of rows (:data:`~c2tracker.store.ingest.ROW_COLUMNS`; evidence, hostnames and
    tags nested as JSON, not as text in text).

    A row each cost more to write than everything else a run does: every observation paid the
    driver's per-row binding and the table's per-row overhead, and a million-observation run
    spent most of its time there. A page is written, read back (finishing a resumed run) and
    searched (through :class:`ObservationIp`) whole anyway. The ``observations`` view made by
    the migrations unnests the batches into one row per observation for SQL users.
    """

    __tablename__ = "observation_batches"
    __table_args__ = (Index(None, "run_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(BigInteger)
    """Denormalised from the query run so a run's batches are found without a join."""
    query_run_id: Mapped[int] = mapped_column(ForeignKey("query_runs.id", ondelete="CASCADE"))
    page: Mapped[int] = mapped_column(Integer)
    observations: Mapped[int] = mapped_column(Integer)
    rows: Mapped[str] = mapped_column(Text)


class ObservationIp(Base):
    """Which batches hold an address's observations, for :meth:`~c2tracker.store.Store.lookup`:
    one row per address and finish of a run, keyed by the first of the batches it lists.

    Filled in bulk when a run is finished, in the transaction that folds the run into
    indicators, in key order: a run's sightings become searchable by address when its
    indicators appear. No foreign key: batches are only removed with their query run, and
    readers join back to ``observation_batches``.
    """

    __tablename__ = "observation_ips"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 (SQLAlchemy reads it)

    ip: Mapped[str] = mapped_column(String(64), primary_key=True)
    batch_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    """The first batch of :attr:`batches`."""
    batches: Mapped[str] = mapped_column(Text)
    """JSON list of the ids of the batches holding the address's observations, ascending."""


class IndicatorRow(Base):
    """One IP for one family: what the lifecycle and the feeds work on."""

    __tablename__ = "indicators"
    # No index on (expired, valid_until): every run rewrites valid_until of every indicator it
    # sees, in random order, so such an index cost more to keep than the scan it saves once
    # a run when looking for indicators whose window closed.
    __table_args__ = (
        UniqueConstraint("ip", "rule_id"),
        Index(None, "rule_id", "ip"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ip: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(200))
    first_seen: Mapped[datetime] = mapped_column(EpochMicros)
    last_seen: Mapped[datetime] = mapped_column(EpochMicros)
    times_seen: Mapped[int] = mapped_column(Integer)
    ports: Mapped[str] = mapped_column(Text)
    engines: Mapped[str] = mapped_column(Text)
    queries: Mapped[str] = mapped_column(Text)
    confidence: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(Text)
    valid_until: Mapped[datetime] = mapped_column(EpochMicros)
    expired: Mapped[bool] = mapped_column(Boolean, default=False)
    honeypot_reason: Mapped[str | None] = mapped_column(Text)
    cohosted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Unrelated families the IP answered as, besides this one, in its latest run."""
    asn: Mapped[str | None] = mapped_column(String(32))
    org: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(String(8))
    hostnames: Mapped[str] = mapped_column(Text)
    first_run_id: Mapped[int] = mapped_column(BigInteger)
    last_run_id: Mapped[int] = mapped_column(BigInteger)
    status_changed_at: Mapped[datetime | None] = mapped_column(EpochMicros)
    """When a run or an operator last changed the status; None while it is the status the
    indicator was made with. Moves the STIX ``modified`` so TAXII clients see revocations."""


class Family(Base):
    """A rule's metadata, refreshed at every finish_run so readers need no rule files."""

    __tablename__ = "families"

    rule_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    feed_name: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    dual_use: Mapped[bool] = mapped_column(Boolean)
    malpedia: Mapped[str] = mapped_column(Text)
    mitre: Mapped[str] = mapped_column(Text)
    aliases: Mapped[str] = mapped_column(Text)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    """True for a family the importer made up for an unmapped C2-Tracker file name."""
    updated_at: Mapped[datetime] = mapped_column(EpochMicros)


class AllowEntry(Base):
    """An operator's allowlist entry: an IP, a CIDR or an ASN."""

    __tablename__ = "allowlist"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(EpochMicros)
    removed_at: Mapped[datetime | None] = mapped_column(EpochMicros)
    removed_by: Mapped[str | None] = mapped_column(Text)


class Revocation(Base):
    """An operator's revocation of an IP, for one family or (rule_id None) for all."""

    __tablename__ = "revocations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ip: Mapped[str] = mapped_column(String(64), index=True)
    rule_id: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(EpochMicros)
    removed_at: Mapped[datetime | None] = mapped_column(EpochMicros)
    removed_by: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    """One operator action, kept for good."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(EpochMicros)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text)


class RunLockRow(Base):
    """The collect lock: at most one row, owned by the process running a collect or import."""

    __tablename__ = "run_lock"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(Text)
    host: Mapped[str] = mapped_column(Text)
    pid: Mapped[int] = mapped_column(Integer)
    acquired_at: Mapped[datetime] = mapped_column(EpochMicros)
    heartbeat_at: Mapped[datetime] = mapped_column(EpochMicros)
