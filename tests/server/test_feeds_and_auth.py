"""Feed files with validators and 304s; read and operator tokens; security headers."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.server.helpers import make_settings
from tests.server.seed import C2_IPS, READ_TOKEN, SERVER_TOKEN

from c2tracker.server import create_app


def test_feed_file_with_etag_and_last_modified(client: TestClient) -> None:
    response = client.get("/feeds/data/all.txt")

    assert response.status_code == 200
    assert response.text == "198.51.100.1\n198.51.100.2\n"
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["etag"].startswith('"')
    assert response.headers["last-modified"].endswith("GMT")


def test_file_names_with_spaces(client: TestClient) -> None:
    response = client.get("/feeds/data/Cobalt%20Strike%20C2%20IPs.txt")
    assert response.status_code == 200
    assert response.text == "198.51.100.1\n"


def test_if_none_match_answers_304_until_the_file_changes(
    client: TestClient, feeds_dir: Path
) -> None:
    first = client.get("/feeds/data/all.txt")
    etag = first.headers["etag"]

    again = client.get("/feeds/data/all.txt", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag

    listed = client.get("/feeds/data/all.txt", headers={"If-None-Match": f'"other", W/{etag}'})
    assert listed.status_code == 304

    # The publisher swaps in a new file: a new inode, so a new validator.
    replacement = feeds_dir / "data" / "all.new"
    replacement.write_text("198.51.100.9\n", encoding="utf-8")
    os.replace(replacement, feeds_dir / "data" / "all.txt")
    changed = client.get("/feeds/data/all.txt", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.text == "198.51.100.9\n"
    assert changed.headers["etag"] != etag


def test_if_modified_since(client: TestClient, feeds_dir: Path) -> None:
    os.utime(feeds_dir / "data" / "all.txt", (1_767_225_600, 1_767_225_600))  # 2026-01-01
    first = client.get("/feeds/data/all.txt")
    stamp = first.headers["last-modified"]
    assert stamp == "Thu, 01 Jan 2026 00:00:00 GMT"

    assert (
        client.get("/feeds/data/all.txt", headers={"If-Modified-Since": stamp}).status_code == 304
    )
    older = "Wed, 31 Dec 2025 23:59:59 GMT"
    assert (
        client.get("/feeds/data/all.txt", headers={"If-Modified-Since": older}).status_code == 200
    )
    garbage = client.get("/feeds/data/all.txt", headers={"If-Modified-Since": "not a date"})
    assert garbage.status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
    both = client.get(
        "/feeds/data/all.txt", headers={"If-None-Match": '"nope"', "If-Modified-Since": stamp}
    )
    assert both.status_code == 200


@pytest.mark.parametrize(
    "raw_path",
    [
        "/feeds/..%2fsecret.txt",
        "/feeds/%2e%2e/secret.txt",
        "/feeds/data/..%2f..%2fsecret.txt",
        "/feeds/%2fetc%2fpasswd",
        "/feeds/.hidden",
        "/feeds/data",
        "/feeds/",
    ],
)
def test_paths_outside_the_feed_folder_are_not_found(client: TestClient, raw_path: str) -> None:
    response = client.get(raw_path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "outside the feed folder" not in response.text


def test_symlink_escape_is_refused(client: TestClient, feeds_dir: Path) -> None:
    (feeds_dir / "data" / "escape.txt").symlink_to(feeds_dir.parent / "secret.txt")
    assert client.get("/feeds/data/escape.txt").status_code == 404


def test_security_headers_on_every_kind_of_response(client: TestClient) -> None:
    for path in ("/", "/api/v1/status", "/feeds/data/all.txt", "/static/style.css", "/nothing"):
        response = client.get(path)
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"


# ----------------------------------------------------------------------------------------------
# Access control


def basic(password: str, user: str = "anyone") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def guarded(tmp_path: Path, store: Any, feeds_dir: Path) -> TestClient:
    settings = make_settings(tmp_path, read_token=READ_TOKEN, server_token=SERVER_TOKEN)
    return TestClient(create_app(settings, store, feeds_dir, rules=[], job=lambda: None))


def test_reading_is_public_by_default(client: TestClient) -> None:
    assert client.get("/api/v1/families").status_code == 200
    assert client.get("/feeds/data/all.txt").status_code == 200
    assert client.get("/taxii2/").status_code == 200


def test_read_token_as_bearer_or_basic_password(guarded: TestClient) -> None:
    for path in ("/api/v1/families", "/feeds/data/all.txt", "/taxii2/", "/"):
        assert guarded.get(path).status_code == 401
        bearer = {"Authorization": f"Bearer {READ_TOKEN}"}
        assert guarded.get(path, headers=bearer).status_code == 200, path
        assert guarded.get(path, headers=basic(READ_TOKEN)).status_code == 200, path
        # The operator token reads too.
        assert guarded.get(path, headers=basic(SERVER_TOKEN)).status_code == 200, path
        wrong = guarded.get(path, headers={"Authorization": "Bearer wrong-token"})
        assert wrong.status_code == 403


def test_malformed_authorization_headers(guarded: TestClient) -> None:
    for header in ("Basic %%%notbase64", "Digest abc", "Bearer", "Basic " + "A" * 3):
        response = guarded.get("/api/v1/families", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["error"]["code"] == "unauthorized"


def test_operator_actions_always_need_the_server_token(client: TestClient, store: Any) -> None:
    body = {"ip": C2_IPS[2], "reason": "test"}
    assert client.post("/api/v1/revoke", json=body).status_code == 401
    no = client.post("/api/v1/revoke", json=body, headers={"Authorization": "Bearer nope"})
    assert no.status_code == 403
    reader = client.post("/api/v1/revoke", json=body, headers=basic(READ_TOKEN))
    assert reader.status_code == 403
    assert store.audit_log() == []

    ok = client.post("/api/v1/revoke", json=body, headers=basic(SERVER_TOKEN, user="ops"))
    assert ok.status_code == 200
    assert [(a.action, a.actor) for a in store.audit_log()] == [("revoke", "api")]


def test_read_token_does_not_open_operator_actions(guarded: TestClient) -> None:
    response = guarded.post("/api/v1/runs", headers={"Authorization": f"Bearer {READ_TOKEN}"})
    assert response.status_code == 403


def test_operator_actions_disabled_without_a_server_token(
    tmp_path: Path, store: Any, feeds_dir: Path
) -> None:
    app = create_app(make_settings(tmp_path), store, feeds_dir, rules=[], job=lambda: None)
    with TestClient(app) as client:
        for method, path in (("POST", "/api/v1/runs"), ("DELETE", "/api/v1/allowlist?value=1")):
            response = client.request(method, path, headers={"Authorization": "Bearer x"})
            assert response.status_code == 403
            error = response.json()["error"]
            assert error["code"] == "operator_disabled"
            assert "server_token" in error["message"]


def test_tokens_never_appear_in_responses_or_logs(
    guarded: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    responses = [
        guarded.get("/api/v1/families", headers={"Authorization": "Bearer guess-1234"}),
        guarded.get("/api/v1/status", headers=basic(READ_TOKEN)),
        guarded.post("/api/v1/revoke", json={"ip": "x"}, headers=basic(SERVER_TOKEN)),
    ]
    for response in responses:
        for secret in (READ_TOKEN, SERVER_TOKEN, "guess-1234"):
            assert secret not in response.text
    for secret in (READ_TOKEN, SERVER_TOKEN, "guess-1234"):
        assert secret not in caplog.text
