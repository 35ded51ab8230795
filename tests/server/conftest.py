"""Fixtures for the server tests: a seeded store, settings, the app, a live uvicorn server."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

# The repository root, so that helpers import as ``tests.server.…`` however pytest is started.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from c2tracker.server import create_app  # noqa: E402
from c2tracker.settings import Settings  # noqa: E402
from tests.server.seed import seeded_memory_store  # noqa: E402

READ_TOKEN = "read-token-1234567890"
SERVER_TOKEN = "operator-token-0987654321"


@pytest.fixture
def store() -> Any:
    return seeded_memory_store()


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


def make_settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(
        db=f"sqlite:///{tmp_path / 'store.sqlite'}",
        feeds_dir=tmp_path / "feeds",
        data_dir=tmp_path,
        **values,
    )


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


@dataclass
class LiveServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def start_live_server(app: FastAPI) -> LiveServer:
    """Runs ``app`` on uvicorn on 127.0.0.1 at an ephemeral port, in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", server, thread)


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    live = start_live_server(app)
    yield live
    live.stop()
