"""Every error has one shape: a test walks every route with bad input (style lesson 7).

API, feed and dashboard routes answer ``{"error": {"status", "code", "message"}}``; TAXII routes
answer the TAXII 2.1 error message resource; a browser asking for a dashboard page gets the
same fields as HTML.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.server.helpers import make_settings
from tests.server.seed import READ_TOKEN, SCRIPT_PAYLOAD, SERVER_TOKEN

from c2tracker.server import create_app
from c2tracker.server.app import route_table

#: A value for each path parameter that the route must refuse.
BAD_PATH_VALUES = {
    "ip": "999.1.1.1",
    "run_id": "not-a-number",
    "rule_id": "no-such-family",
    "collection": "no-such-collection",
    "object_id": "indicator--00000000-0000-4000-8000-000000000000",
    "path": "../secret.txt",
}

BAD_QUERY = {
    "limit": "-1",
    "offset": "-5",
    "since": "yesterday-ish",
    "category": "nonsense",
    "status": "nonsense",
    "added_after": "not-a-time",
    "next": "!!!",
    "q": "not-an-ip",
    "ip": "300.300.300.300",
}


def assert_error_shape(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code >= 400, (response.request.url, response.status_code)
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"error"}, body
    inner = body["error"]
    assert {"status", "code", "message"} <= set(inner) <= {"status", "code", "message", "details"}
    assert inner["status"] == response.status_code
    assert re.fullmatch(r"[a-z_]+", inner["code"])
    assert isinstance(inner["message"], str) and inner["message"]
    return dict(inner)


def assert_taxii_error_shape(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code >= 400
    assert response.headers["content-type"] == "application/taxii+json;version=2.1"
    body = response.json()
    assert body["http_status"] == str(response.status_code)
    assert body["title"] and body["description"]
    assert "error" not in body
    return dict(body)


def check(response: httpx.Response) -> dict[str, Any]:
    if response.request.url.path.startswith("/taxii2"):
        return assert_taxii_error_shape(response)
    return assert_error_shape(response)


def concrete_path(template: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: BAD_PATH_VALUES.get(m.group(1), "bad"), template)


def routes(app: FastAPI) -> list[tuple[str, set[str]]]:
    found = [(path, set(methods)) for path, methods in route_table()]
    assert len(found) > 20
    served = client_paths(app)
    assert all(path in served for path, _ in found)
    return found


def client_paths(app: FastAPI) -> set[str]:
    """Every path of the OpenAPI schema plus the hidden routes, as the app itself lists them."""
    schema = app.openapi()
    return set(schema["paths"]) | {path for path, _ in route_table()}


def test_every_route_answers_bad_input_in_the_one_shape(client: TestClient, app: FastAPI) -> None:
    statuses: dict[str, int] = {}
    for template, methods in routes(app):
        path = concrete_path(template)
        for method in methods - {"HEAD"}:
            if method == "GET":
                response = client.request(method, path, params=BAD_QUERY)
            else:
                # Operator routes without a token: refused before anything else.
                response = client.request(method, path, json={"junk": SCRIPT_PAYLOAD})
            if response.status_code < 400:
                # Routes without parameters and with lenient queries may legitimately succeed.
                assert template in {
                    "/api/v1/families",
                    "/api/v1/rules",
                    "/api/v1/status",
                    "/taxii2/",
                    "/taxii2/api/",
                    "/taxii2/api/collections/",
                    "/",
                    "/runs",
                    "/api/v1/openapi.json",
                }, template
                continue
            inner = check(response)
            statuses[f"{method} {template}"] = response.status_code
            if "message" in inner:
                assert SCRIPT_PAYLOAD not in inner["message"]

    assert statuses["GET /api/v1/ip/{ip}"] == 400
    assert statuses["GET /api/v1/runs/{run_id}"] == 422
    assert statuses["GET /api/v1/indicators"] == 422
    assert statuses["POST /api/v1/revoke"] == 401
    assert statuses["GET /feeds/{path:path}"] == 404
    assert statuses["GET /taxii2/api/collections/{collection}/objects/"] in (400, 404, 422)


def test_wrong_methods_and_unknown_routes(client: TestClient, app: FastAPI) -> None:
    for template, methods in routes(app):
        path = re.sub(r"\{\w+(?::\w+)?\}", "x", template)
        for method in {"PUT", "PATCH"} - methods:
            response = client.request(method, path)
            assert response.status_code == 405, (method, template)
            check(response)

    for path in ("/api/v1/nothing", "/nothing/here", "/taxii2/api/nothing/"):
        response = client.get(path)
        assert response.status_code == 404
        check(response)


def test_validation_errors_list_each_problem(client: TestClient) -> None:
    response = client.get("/api/v1/indicators", params={"limit": "many", "category": "x"})
    inner = assert_error_shape(response)
    assert response.status_code == 422
    assert inner["code"] == "invalid_request"
    assert {d["location"] for d in inner["details"]} == {"query.limit", "query.category"}


def test_operator_body_errors_do_not_echo_input(client: TestClient) -> None:
    response = client.post(
        "/api/v1/revoke",
        json={"ip": "198.51.100.1", "reason": ""},
        headers={"Authorization": f"Bearer {SERVER_TOKEN}"},
    )
    inner = assert_error_shape(response)
    assert response.status_code == 422
    assert "body.reason" in {d["location"] for d in inner["details"]}
    assert SERVER_TOKEN not in response.text


def test_every_read_route_needs_the_read_token_when_set(
    tmp_path: Path, store: Any, feeds_dir: Path
) -> None:
    settings = make_settings(tmp_path, read_token=READ_TOKEN, server_token=SERVER_TOKEN)
    app = create_app(settings, store, feeds_dir, rules=[], job=lambda: None)
    with TestClient(app) as client:
        for template, methods in routes(app):
            if template == "/api/v1/openapi.json":
                continue
            path = template.replace("{ip}", "198.51.100.1").replace("{run_id}", "1")
            path = re.sub(r"\{\w+(?::\w+)?\}", "x", path)
            for method in methods - {"HEAD"}:
                response = client.request(method, path)
                assert response.status_code == 401, (method, template)
                check(response)
                assert "basic" in response.headers["www-authenticate"].lower()


class ExplodingStore:
    """A store whose every call fails the way a bug would."""

    def __getattr__(self, name: str) -> Any:
        def explode(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"database on fire in {name}: password=hunter2")

        return explode


@pytest.mark.parametrize(
    "path",
    ["/api/v1/indicators", "/api/v1/ip/198.51.100.1", "/api/v1/status", "/api/v1/rules", "/"],
)
def test_crashes_become_500_in_the_one_shape_without_details(
    tmp_path: Path, feeds_dir: Path, path: str
) -> None:
    app = create_app(make_settings(tmp_path), ExplodingStore(), feeds_dir, rules=[])  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(path)
    inner = assert_error_shape(response)
    assert response.status_code == 500
    assert inner["code"] == "internal_error"
    assert "hunter2" not in response.text and "fire" not in response.text


def test_taxii_crash_uses_the_taxii_shape(tmp_path: Path, feeds_dir: Path) -> None:
    app = create_app(make_settings(tmp_path), ExplodingStore(), feeds_dir, rules=[])  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/taxii2/api/collections/")
    assert response.status_code == 500
    assert_taxii_error_shape(response)


def test_browser_gets_the_error_as_an_escaped_page(client: TestClient) -> None:
    response = client.get(
        "/families/<script>alert(1)</script>", headers={"Accept": "text/html,*/*"}
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
