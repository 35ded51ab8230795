"""Connecting to the store's database: URL checks, engines, and SQLite's connection settings.

SQLite gets two engines on one file: readers start plain deferred transactions, the writer
starts ``BEGIN IMMEDIATE`` so that concurrent writers queue on the busy timeout instead of
failing when a read lock cannot be upgraded. PostgreSQL uses one engine for both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from c2tracker.errors import StoreError

#: SQLite settings for every connection. Why each one:
#:
#: - ``journal_mode=WAL``: readers (the server, publish) never block the writer, and a commit
#:   appends to the write-ahead log instead of rewriting the database file.
#: - ``synchronous=NORMAL``: in WAL mode SQLite then syncs the log at checkpoints rather than at
#:   every commit. A committed transaction is in the log before the commit returns, so a killed
#:   *process* (the crash the run checkpoints are built for) loses nothing committed; only an
#:   operating-system crash or power loss may roll back the last commits, and the database stays
#:   consistent even then (sqlite.org/pragma.html#pragma_synchronous, sqlite.org/wal.html). A
#:   lost commit of a run is a page ``collect --resume`` fetches again.
#: - ``cache_size`` 64 MB and ``wal_autocheckpoint`` 16384 pages: fewer, larger checkpoints, so
#:   the thousands of page commits of a big run do not each pay for a checkpoint.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=60000",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA cache_size=-65536",
    "PRAGMA wal_autocheckpoint=16384",
)


def make_engines(url: str) -> tuple[Engine, Engine]:
    """(read engine, write engine) for ``url``; the same engine except on SQLite.

    Raises:
        StoreError: the URL is malformed, names an unsupported database or a missing folder.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"not a database URL: {url!r} (expected sqlite:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST/DB)"
        ) from None
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            return _sqlite_engines(parsed)
        if backend == "postgresql":
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            engine = create_engine(parsed, pool_pre_ping=True)
            return engine, engine
    except (NoSuchModuleError, SQLAlchemyError) as exc:
        raise StoreError(f"cannot use database URL {parsed.render_as_string()}: {exc}") from None
    raise StoreError(
        f"unsupported database {backend!r} in {parsed.render_as_string()}: "
        "use sqlite:///PATH or postgresql+psycopg://…"
    )


def db_message(exc: DBAPIError) -> str:
    """The first line of a driver error, for a one-line message to the user."""
    text = str(exc.orig) if exc.orig is not None else str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _sqlite_engines(parsed: URL) -> tuple[Engine, Engine]:
    database = parsed.database
    if not database or database == ":memory:":
        raise StoreError("an in-memory SQLite store cannot be shared; give a file path")
    parent = Path(database).expanduser().resolve().parent
    if not parent.is_dir():
        raise StoreError(f"cannot create the store {database}: folder {parent} does not exist")

    def make(begin: str) -> Engine:
        engine = create_engine(parsed, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control from pysqlite so BEGIN IMMEDIATE can be used.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql(begin)

        return engine

    return make("BEGIN"), make("BEGIN IMMEDIATE")
