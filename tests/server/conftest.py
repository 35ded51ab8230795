"""Fixtures for the server tests: a seeded store, settings, the app, a live uvicorn server."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

# The repository root, so that helpers import as ``tests.server.…`` however pytest is started.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.server.helpers import LiveServer, make_settings, start_live_server
from tests.server.seed import SERVER_TOKEN, seed, store_settings

from c2tracker.server import create_app
from c2tracker.settings import Settings
from c2tracker.store import Store


@pytest.fixture(scope="session")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store seeded once through the store's public API; tests get copies."""
    path = tmp_path_factory.mktemp("seeded") / "store.sqlite"
    url = f"sqlite:///{path}"
    with Store.open(url, settings=store_settings(url)) as template:
        seed(template)
    return path


@pytest.fixture
def store(seeded_sqlite: Path, tmp_path: Path) -> Iterator[Store]:
    """A private copy of the seeded SQLite store (test_api.py also runs on PostgreSQL)."""
    copy = tmp_path / "served.sqlite"
    for part in seeded_sqlite.parent.glob(seeded_sqlite.name + "*"):
        shutil.copyfile(part, copy.parent / part.name.replace(seeded_sqlite.name, copy.name))
    url = f"sqlite:///{copy}"
    with Store.open(url, settings=store_settings(url)) as opened:
        yield opened


@pytest.fixture
def feeds_dir(tmp_path: Path) -> Path:
    root = tmp_path / "feeds"
    (root / "data").mkdir(parents=True)
    (root / "data" / "all.txt").write_text("198.51.100.1\n198.51.100.2\n", encoding="utf-8")
    (root / "data" / "Cobalt Strike C2 IPs.txt").write_text("198.51.100.1\n", encoding="utf-8")
    (root / "manifest.json").write_text(json.dumps({"files": []}), encoding="utf-8")
    (root / "status.json").write_text(
        json.dumps({"stale": False, "engines": {"shodan": "2026-01-19T03:00:00Z"}}),
        encoding="utf-8",
    )
    (tmp_path / "secret.txt").write_text("outside the feed folder", encoding="utf-8")
    return root


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, server_token=SERVER_TOKEN)


@pytest.fixture
def app(settings: Settings, store: Any, feeds_dir: Path) -> FastAPI:
    return create_app(settings, store, feeds_dir, rules=[], job=lambda: None)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    live = start_live_server(app)
    yield live
    live.stop()
