"""The PostgreSQL ``observations`` view replaces only real NUL escapes, not quoted ones.

Revision 0006 replaced every ``\\u0000`` of a batch's JSON text, so scan text quoting the
six characters backslash, "u", "0000" (common in JavaScript served by panels) read as the
six characters of ``\\ufffd``. A JSON escape is one that follows an even run of backslashes
(escaped backslashes themselves): the view now replaces only those, and only in batches that
hold the sequence at all. Nothing changes on SQLite, whose view reads the JSON as stored.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import importlib

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The view's definition lives with the revision that made it (0004); loaded by module name, as
# a revision's file name starts with a digit.
_batches = importlib.import_module("c2tracker.store.migrations.versions.0004_observation_batches")
_previous = importlib.import_module("c2tracker.store.migrations.versions.0006_nul_safe_view")

# PostgreSQL's regular expressions have look-behind (9.6+): a backslash not preceded by one,
# then pairs of backslashes (escaped backslashes, kept by \1), then the escape itself.
ESCAPED_NUL = r"(?<!\\)((?:\\\\)*)\\u0000"
EXACT_NUL_AS_REPLACEMENT = (
    r"CASE WHEN strpos(b.rows, '\u0000') = 0 THEN b.rows "
    rf"ELSE regexp_replace(b.rows, '{ESCAPED_NUL}', '\1\\ufffd', 'g') END"
)


def upgrade() -> None:
    _batches._replace_postgres_view(EXACT_NUL_AS_REPLACEMENT)


def downgrade() -> None:
    _batches._replace_postgres_view(_previous.NUL_AS_REPLACEMENT)
