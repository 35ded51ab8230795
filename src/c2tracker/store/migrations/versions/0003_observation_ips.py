"""Observations by address in their own table, filled when a run is finished; observations
indexed by run instead of by address (see ``models.ObservationIp`` for why).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "observation_ips",
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("observation_id", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("ip", "observation_id", name="pk_observation_ips"),
        sqlite_with_rowid=False,
    )
    # Observations already folded into indicators become searchable now; those of a run that
    # was never finished are added when it is (finish_run's watermark).
    op.execute(
        "INSERT INTO observation_ips (ip, observation_id) "
        "SELECT o.ip, o.id FROM observations o JOIN runs r ON r.id = o.run_id "
        "WHERE o.id <= r.applied_obs_id AND o.drop_reason IS NULL"
    )
    op.drop_index("ix_observations_ip", table_name="observations")
    op.create_index("ix_observations_run_id", "observations", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_observations_run_id", table_name="observations")
    op.create_index("ix_observations_ip", "observations", ["ip"])
    op.drop_table("observation_ips")
