"""Brings a store's schema to the newest Alembic revision, with no ``alembic.ini``.

The revisions live in ``migrations/versions`` inside the package so that they ship in wheels.
Alembic is driven through its library API (a :class:`ScriptDirectory` and an
:class:`EnvironmentContext`), which needs neither a config file nor an ``env.py``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from c2tracker.store.models import Base

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: Key of the PostgreSQL advisory lock that serialises concurrent migrations (``c2tr`` in hex).
_PG_MIGRATION_LOCK = 0x63327472


def script_directory() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def head_revision() -> str:
    head = script_directory().get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, target: str = "head") -> str | None:
    """Runs every pending revision up to ``target`` in one transaction; returns the old one."""
    script = script_directory()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    before: list[str | None] = []

    def _steps(rev: Any, context: Any) -> Any:
        before.append(context.get_current_revision())
        return script._upgrade_revs(target, rev)

    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Two processes opening a fresh database at once must not both create tables.
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        with EnvironmentContext(config, script, fn=_steps) as env:
            env.configure(connection=connection, target_metadata=Base.metadata)
            with env.begin_transaction():
                env.run_migrations()

    old = before[0] if before else None
    if old != head_revision() or target != "head":
        log.info("store schema migrated from %s to %s", old or "empty", target)
    return old
