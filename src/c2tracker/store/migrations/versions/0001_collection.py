"""Collection tables: runs, query runs, page checkpoints, observations, indicators.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from c2tracker.store.models import BigId

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sources", sa.Text, nullable=False),
        sa.Column("label", sa.Text),
        sa.Column("observations", sa.BigInteger, nullable=False),
        sa.Column("applied_obs_id", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_table(
        "query_runs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.BigInteger, nullable=False),
        sa.Column("rule_id", sa.String(200), nullable=False),
        sa.Column("engine", sa.String(32), nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("query_id", sa.String(250), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("pages", sa.Integer, nullable=False),
        sa.Column("credits", sa.Integer, nullable=False),
        sa.Column("results", sa.Integer, nullable=False),
        sa.Column("duration_s", sa.Float),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger),
        sa.PrimaryKeyConstraint("id", name="pk_query_runs"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_query_runs_run_id_runs", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("run_id", "query_id", name="uq_query_runs_run_id_query_id"),
    )
    op.create_index("ix_query_runs_query_id_outcome", "query_runs", ["query_id", "outcome"])
    op.create_table(
        "pages",
        sa.Column("query_run_id", sa.BigInteger, nullable=False),
        sa.Column("page", sa.Integer, nullable=False),
        sa.Column("next_token", sa.Text),
        sa.Column("total", sa.BigInteger),
        sa.Column("credits", sa.Integer, nullable=False),
        sa.Column("observations", sa.Integer, nullable=False),
        sa.Column("stored_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("query_run_id", "page", name="pk_pages"),
        sa.ForeignKeyConstraint(
            ["query_run_id"],
            ["query_runs.id"],
            name="fk_pages_query_run_id_query_runs",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "observations",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.BigInteger, nullable=False),
        sa.Column("query_run_id", sa.BigInteger, nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("port", sa.Integer),
        sa.Column("transport", sa.String(8), nullable=False),
        sa.Column("seen_at", sa.BigInteger),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("hostnames", sa.Text),
        sa.Column("asn", sa.String(32)),
        sa.Column("org", sa.Text),
        sa.Column("country", sa.String(8)),
        sa.Column("tags", sa.Text),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("drop_reason", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_observations"),
        sa.ForeignKeyConstraint(
            ["query_run_id"],
            ["query_runs.id"],
            name="fk_observations_query_run_id_query_runs",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_observations_ip", "observations", ["ip"])
    op.create_table(
        "indicators",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(200), nullable=False),
        sa.Column("first_seen", sa.BigInteger, nullable=False),
        sa.Column("last_seen", sa.BigInteger, nullable=False),
        sa.Column("times_seen", sa.Integer, nullable=False),
        sa.Column("ports", sa.Text, nullable=False),
        sa.Column("engines", sa.Text, nullable=False),
        sa.Column("queries", sa.Text, nullable=False),
        sa.Column("confidence", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text),
        sa.Column("valid_until", sa.BigInteger, nullable=False),
        sa.Column("expired", sa.Boolean, nullable=False),
        sa.Column("honeypot_reason", sa.Text),
        sa.Column("asn", sa.String(32)),
        sa.Column("org", sa.Text),
        sa.Column("country", sa.String(8)),
        sa.Column("hostnames", sa.Text, nullable=False),
        sa.Column("first_run_id", sa.BigInteger, nullable=False),
        sa.Column("last_run_id", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_indicators"),
        sa.UniqueConstraint("ip", "rule_id", name="uq_indicators_ip_rule_id"),
    )
    op.create_index("ix_indicators_rule_id_ip", "indicators", ["rule_id", "ip"])
    op.create_index("ix_indicators_expired_valid_until", "indicators", ["expired", "valid_until"])


def downgrade() -> None:
    for table in ("indicators", "observations", "pages", "query_runs", "runs"):
        op.drop_table(table)
