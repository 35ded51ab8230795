"""Operator tables (allowlist, revocations, audit log, run lock), family metadata, and the
co-hosting count that feeds the honeypot penalty of the confidence score.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from c2tracker.store.models import BigId

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("indicators") as batch:
        batch.add_column(sa.Column("cohosted", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "families",
        sa.Column("rule_id", sa.String(200), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("feed_name", sa.Text, nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("dual_use", sa.Boolean, nullable=False),
        sa.Column("malpedia", sa.Text, nullable=False),
        sa.Column("mitre", sa.Text, nullable=False),
        sa.Column("aliases", sa.Text, nullable=False),
        sa.Column("synthetic", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("rule_id", name="pk_families"),
    )
    op.create_table(
        "allowlist",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("removed_at", sa.BigInteger),
        sa.Column("removed_by", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_allowlist"),
    )
    op.create_table(
        "revocations",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(200)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("removed_at", sa.BigInteger),
        sa.Column("removed_by", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_revocations"),
    )
    op.create_index("ix_revocations_ip", "revocations", ["ip"])
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("details", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_table(
        "run_lock",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("acquired_at", sa.BigInteger, nullable=False),
        sa.Column("heartbeat_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_run_lock"),
    )


def downgrade() -> None:
    for table in ("run_lock", "audit_log", "revocations", "allowlist", "families"):
        op.drop_table(table)
    with op.batch_alter_table("indicators") as batch:
        batch.drop_column("cohosted")
