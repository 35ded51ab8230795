"""Observations stored a batch to a row (see ``models.ObservationBatch`` for why); the
by-address table lists batches; the ``observations`` view unnests them for SQL users; no index
on indicators' (expired, valid_until) (see ``models.IndicatorRow``).

Existing observations are moved into batches of at most 250 rows, one query run each, in the
order of their ids, with each run's already folded observations in batches before its unfolded
ones, so the run's watermark (now a batch id) keeps meaning "folded up to here".

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: Frozen copies of the row layout and batch size at this revision (the code's may move on).
_BATCH_ROWS = 250
_COLUMNS = (
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
_JSON_COLUMNS = frozenset({"evidence", "hostnames", "tags"})


def upgrade() -> None:
    op.create_table(
        "observation_batches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("query_run_id", sa.BigInteger(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["query_run_id"],
            ["query_runs.id"],
            name="fk_observation_batches_query_run_id_query_runs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_observation_batches"),
    )
    op.create_index("ix_observation_batches_run_id", "observation_batches", ["run_id"])

    bind = op.get_bind()
    watermarks = _move_observations(bind)
    op.drop_table("observation_ips")
    op.create_table(
        "observation_ips",
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("batches", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("ip", "batch_id", name="pk_observation_ips"),
        sqlite_with_rowid=False,
    )
    _index_folded(bind, watermarks)
    op.drop_index("ix_observations_run_id", table_name="observations")
    op.drop_table("observations")
    op.drop_index("ix_indicators_expired_valid_until", table_name="indicators")

    op.execute("ALTER TABLE runs RENAME COLUMN applied_obs_id TO applied_batch_id")
    runs = sa.table("runs", sa.column("id"), sa.column("applied_batch_id"))
    for run_id, watermark in watermarks.items():
        op.execute(runs.update().where(runs.c.id == run_id).values(applied_batch_id=watermark))
    op.execute(_view_sql(bind.dialect.name))


def downgrade() -> None:
    raise NotImplementedError("revision 0004 (observation batches) cannot be downgraded")


def _move_observations(bind: Any) -> dict[int, int]:
    """Writes every observation into batches; returns each run's new watermark."""
    watermarks: dict[int, int] = {}
    runs = bind.execute(sa.text("SELECT id, applied_obs_id FROM runs ORDER BY id")).all()
    batches = sa.table(
        "observation_batches",
        sa.column("id"),
        sa.column("run_id"),
        sa.column("query_run_id"),
        sa.column("page"),
        sa.column("observations"),
        sa.column("rows"),
    )
    next_id = 1
    for run_id, folded_up_to in runs:
        for folded in (True, False):
            pending: list[dict[str, Any]] = []
            for query_run_id, page, rows in _batches(bind, run_id, folded_up_to, folded):
                pending.append(
                    {
                        "id": next_id,
                        "run_id": run_id,
                        "query_run_id": query_run_id,
                        "page": page,
                        "observations": len(rows),
                        "rows": orjson.dumps(rows).decode(),
                    }
                )
                next_id += 1
                if len(pending) >= 200:
                    bind.execute(batches.insert(), pending)
                    pending = []
            if pending:
                bind.execute(batches.insert(), pending)
            if folded:
                watermarks[run_id] = next_id - 1
    if bind.dialect.name == "postgresql" and next_id > 1:
        bind.execute(
            sa.text("SELECT setval(pg_get_serial_sequence('observation_batches', 'id'), :top)"),
            {"top": next_id - 1},
        )
    return watermarks


def _batches(
    bind: Any, run_id: int, folded_up_to: int, folded: bool
) -> Iterator[tuple[int, int, list[list[Any]]]]:
    side = "id <= :mark" if folded else "id > :mark"
    result = bind.execute(
        sa.text(
            f"SELECT query_run_id, {', '.join(_COLUMNS)} FROM observations "
            f"WHERE run_id = :run AND {side} ORDER BY query_run_id, id"
        ),
        {"run": run_id, "mark": folded_up_to},
    )
    current: int | None = None
    rows: list[list[Any]] = []
    page = 0
    for record in result:
        query_run_id = record[0]
        if rows and (query_run_id != current or len(rows) >= _BATCH_ROWS):
            yield current, page, rows  # type: ignore[misc]
            rows = []
        if query_run_id != current:
            current, page = query_run_id, 0
        if not rows:
            page += 1
        rows.append(
            [
                orjson.loads(value) if name in _JSON_COLUMNS and value else value
                for name, value in zip(_COLUMNS, record[1:], strict=True)
            ]
        )
    if rows:
        yield current, page, rows  # type: ignore[misc]


def _index_folded(bind: Any, watermarks: dict[int, int]) -> None:
    """Folded observations stay searchable by address; a run's unfolded ones are added when it
    is finished."""
    found: dict[tuple[str, int], list[int]] = {}
    result = bind.execute(sa.text("SELECT id, run_id, rows FROM observation_batches ORDER BY id"))
    for batch_id, run_id, text in result:
        if batch_id > watermarks.get(run_id, 0):
            continue
        for row in orjson.loads(text):
            if row[11] is None:
                batches = found.setdefault((row[0], run_id), [])
                if not batches or batches[-1] != batch_id:
                    batches.append(batch_id)
    entries = [
        {"ip": ip, "batch_id": batches[0], "batches": orjson.dumps(batches).decode()}
        for (ip, _), batches in sorted(found.items())
    ]
    table = sa.table(
        "observation_ips", sa.column("ip"), sa.column("batch_id"), sa.column("batches")
    )
    for start in range(0, len(entries), 5000):
        bind.execute(table.insert(), entries[start : start + 5000])


def _replace_postgres_view(rows: str) -> None:
    """Defines the view again with ``rows`` as a batch's JSON text, on PostgreSQL only (the
    revisions that change how the view reads hostile text; SQLite reads it as stored)."""
    dialect = op.get_bind().dialect.name
    if dialect != "postgresql":
        return
    op.execute("DROP VIEW IF EXISTS observations")
    op.execute(_view_sql(dialect, rows=rows))


def _view_sql(dialect: str, *, rows: str = "b.rows") -> str:
    """One row per observation, with its rule and engine: the shape the table had.

    ``rows`` is the SQL expression of a batch's JSON text on PostgreSQL; later revisions (0006,
    0007) pass one that reads the escaped NUL characters of hostile scan text as U+FFFD, as
    PostgreSQL text cannot hold NUL and ``->>`` refused the row.
    """
    postgres = dialect == "postgresql"

    def text_of(i: int) -> str:
        return f"e.value->>{i}" if postgres else f"json_extract(e.value, '$[{i}]')"

    def json_of(i: int) -> str:
        return f"e.value->{i}" if postgres else text_of(i)

    if postgres:
        unnest = (
            f"CROSS JOIN LATERAL json_array_elements({rows}::json) WITH ORDINALITY "
            "AS e(value, ordinality)"
        )
        index, port, seen = (
            "e.ordinality - 1",
            f"({text_of(1)})::integer",
            f"({text_of(3)})::bigint",
        )
    else:
        unnest = ", json_each(b.rows) AS e"
        index, port, seen = "e.key", text_of(1), text_of(3)
    return (
        "CREATE VIEW observations AS SELECT "
        f"b.id AS batch_id, {index} AS row_index, b.run_id, b.query_run_id, "
        "q.rule_id, q.engine, "
        f"{text_of(0)} AS ip, {port} AS port, {text_of(2)} AS transport, "
        f"{seen} AS seen_at, {json_of(4)} AS evidence, {json_of(5)} AS hostnames, "
        f"{text_of(6)} AS asn, {text_of(7)} AS org, {text_of(8)} AS country, "
        f"{json_of(9)} AS tags, {text_of(10)} AS source, {text_of(11)} AS drop_reason "
        "FROM observation_batches b JOIN query_runs q ON q.id = b.query_run_id "
        f"{unnest}"
    )
