"""Store fixtures other test packages can reuse: a fresh store on SQLite and on PostgreSQL.

Usage in a test module or conftest::

    from store_fixtures import store, store_url  # pytest fixtures; tests/ is on sys.path

``store_url`` is parametrised over ``sqlite`` (a file in the test's tmp dir) and ``postgres``
(a uniquely named schema in the database of ``C2TRACKER_TEST_PG_URL``, dropped afterwards). The
postgres case is skipped only when that variable is unset; CI sets it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from c2tracker.store import Store

PG_URL_ENV = "C2TRACKER_TEST_PG_URL"


def _with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


def pg_schema_url(base: str) -> tuple[str, str]:
    """Creates a fresh schema; returns (URL whose connections use it, schema name)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return _with_search_path(base, schema), schema


def drop_pg_schema(base: str, schema: str) -> None:
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty store, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
        return
    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.skip(f"{PG_URL_ENV} is not set")
    url, schema = pg_schema_url(base)
    try:
        yield url
    finally:
        drop_pg_schema(base, schema)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An open, migrated, empty store on each backend."""
    opened = Store.open(store_url)
    try:
        yield opened
    finally:
        opened.close()
