"""When an indicator's status last changed (``indicators.status_changed_at``), so that a
revocation, expiry or allowlisting gives the indicator a new STIX version.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows keep None: "the status it was made with", as far as this store knows.
    op.add_column("indicators", sa.Column("status_changed_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("indicators", "status_changed_at")
