"""The ``observations`` view on PostgreSQL reads escaped NUL characters as U+FFFD.

PostgreSQL text cannot hold NUL, so ``->>`` refused every row of a batch holding scan text with
one (``\\u0000`` in the stored JSON), and with it any query over the view. The batches keep the
text as seen; only the view substitutes. Nothing changes on SQLite, whose view reads NUL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import importlib

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The view's definition lives with the revision that made it (0004); loaded by module name, as
# a revision's file name starts with a digit.
_batches = importlib.import_module("c2tracker.store.migrations.versions.0004_observation_batches")

# Every ``\\u0000`` of the JSON text replaced, including the one ending an escaped backslash
# followed by "u0000" (scan text quoting a JavaScript escape): revision 0007 corrects that.
NUL_AS_REPLACEMENT = "replace(b.rows, '\\u0000', '\\ufffd')"


def upgrade() -> None:
    _batches._replace_postgres_view(NUL_AS_REPLACEMENT)


def downgrade() -> None:
    _batches._replace_postgres_view("b.rows")
