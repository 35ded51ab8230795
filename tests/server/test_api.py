"""The REST API under /api/v1: reads, filters, pagination, operator actions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.server.seed import (
    C2_IPS,
    HOSTILE_IP,
    HOSTILE_TITLE,
    SERVER_TOKEN,
    TOOL_IPS,
    seed,
    store_settings,
)

from c2tracker.store import Store
from store_fixtures import store_url

OPERATOR = {"Authorization": f"Bearer {SERVER_TOKEN}"}

__all__ = ["store_url"]


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """Here the store runs on SQLite and on PostgreSQL, seeded through its public API."""
    with Store.open(store_url, settings=store_settings(store_url)) as opened:
        seed(opened)
        yield opened


def all_pages(client: TestClient, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url)
        assert response.status_code == 200, response.text
        body = response.json()
        found.extend(body["indicators"])
        next_url = body["next"]
    return found


def test_indicators_page_through_every_indicator_once_in_family_then_ip_order(
    client: TestClient, store: Any
) -> None:
    rows = all_pages(client, "/api/v1/indicators?limit=7")

    expected = [(i.rule_id, i.ip) for i in store.iter_indicators()]
    assert [(r["rule_id"], r["ip"]) for r in rows] == expected
    assert len(rows) == 35


def test_indicator_filters(client: TestClient) -> None:
    tools = client.get("/api/v1/indicators", params={"category": "tool"}).json()["indicators"]
    assert sorted(r["ip"] for r in tools) == sorted(TOOL_IPS)

    expired = client.get("/api/v1/indicators", params={"status": "expired"}).json()
    assert [(r["rule_id"], r["ip"]) for r in expired["indicators"]] == [("sliver", C2_IPS[0])]

    one_ip = client.get("/api/v1/indicators", params={"ip": C2_IPS[0]}).json()["indicators"]
    assert {r["rule_id"] for r in one_ip} == {"cobalt-strike", "sliver"}

    family = client.get("/api/v1/indicators", params={"family": "xmrig", "limit": 1000}).json()
    assert len(family["indicators"]) == 3 and family["next"] is None

    recent = client.get("/api/v1/indicators", params={"since": "2026-01-18"}).json()
    assert recent["indicators"]
    assert all(r["last_seen"] >= "2026-01-18" for r in recent["indicators"])


def test_indicator_limit_is_capped(client: TestClient) -> None:
    response = client.get("/api/v1/indicators", params={"limit": 100_000})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


def test_ip_history_shows_indicators_and_evidence(client: TestClient) -> None:
    body = client.get(f"/api/v1/ip/{HOSTILE_IP}").json()

    assert body["ip"] == HOSTILE_IP
    assert [i["family"] for i in body["indicators"]] == [HOSTILE_TITLE]
    assert len(body["sightings"]) == 3
    assert body["sightings"][0]["evidence"]["http.title"] == HOSTILE_TITLE


def test_ip_history_normalises_mapped_ipv6(client: TestClient) -> None:
    response = client.get(f"/api/v1/ip/::ffff:{C2_IPS[0]}")
    assert response.status_code == 200
    assert response.json()["ip"] == C2_IPS[0]


def test_ip_history_unknown_and_invalid(client: TestClient) -> None:
    unknown = client.get("/api/v1/ip/8.8.4.4")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"

    invalid = client.get("/api/v1/ip/999.1.1.1")
    assert invalid.status_code == 400
    assert invalid.json()["error"]["code"] == "invalid_ip"


def test_families_rules_runs_status(client: TestClient) -> None:
    families = {f["rule_id"]: f["active"] for f in client.get("/api/v1/families").json()}
    assert families == {"cobalt-strike": 30, "hostile-panel": 1, "sliver": 0, "xmrig": 3}

    rules = {r["id"]: r for r in client.get("/api/v1/rules").json()}
    history = rules["cobalt-strike"]["history"]
    assert [(h["run_id"], h["hits"], h["new"], h["kept"]) for h in history] == [
        (1, 10, 10, 0),
        (2, 20, 10, 10),
        (3, 30, 10, 20),
    ]
    assert rules["cobalt-strike"]["last_run"]["run_id"] == 3

    runs = client.get("/api/v1/runs").json()
    assert [r["id"] for r in runs] == [3, 2, 1]
    detail = client.get("/api/v1/runs/2").json()
    outcomes = {q["rule_id"]: (q["outcome"], q["results"]) for q in detail["queries"]}
    assert outcomes["cobalt-strike"] == ("ok", 20)
    assert outcomes["xmrig"][0] == "failed"
    assert detail["queries_failed"] == 1
    assert client.get("/api/v1/runs/99").status_code == 404
    for beyond in (0, -1, 2**63, 10**30):
        missing = client.get(f"/api/v1/runs/{beyond}")
        assert missing.status_code == 404, beyond
        assert client.get(f"/runs/{beyond}").status_code == 404, beyond

    status = client.get("/api/v1/status").json()
    assert status["active_indicators"] == 34
    assert status["last_run"]["id"] == 3
    assert status["engines"]["shodan"] is not None
    assert status["feed"]["stale"] is False


def test_revoke_and_unrevoke(client: TestClient, store: Any) -> None:
    response = client.post(
        "/api/v1/revoke",
        json={"ip": C2_IPS[1], "rule_id": "cobalt-strike", "reason": "sinkhole"},
        headers=OPERATOR,
    )
    assert response.status_code == 200, response.text
    assert store.lookup(C2_IPS[1]).indicators[0].status == "revoked"
    audit = store.audit_log()
    # The audit log lists the newest action first.
    assert (audit[0].action, audit[0].actor, audit[0].reason) == ("revoke", "api", "sinkhole")

    response = client.delete(
        "/api/v1/revoke", params={"ip": C2_IPS[1], "rule_id": "cobalt-strike"}, headers=OPERATOR
    )
    assert response.status_code == 200
    assert store.lookup(C2_IPS[1]).indicators[0].status == "active"
    assert [a.action for a in store.audit_log()][:2] == ["unrevoke", "revoke"]

    again = client.delete(
        "/api/v1/revoke", params={"ip": C2_IPS[1], "rule_id": "cobalt-strike"}, headers=OPERATOR
    )
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "rejected"


def test_revoke_reason_with_nul_is_rejected_not_a_crash(client: TestClient, store: Any) -> None:
    response = client.post(
        "/api/v1/revoke",
        json={"ip": C2_IPS[1], "reason": "sink\u0000hole"},
        headers=OPERATOR,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "rejected"
    assert "NUL" in response.json()["error"]["message"]
    assert store.lookup(C2_IPS[1]).indicators[0].status == "active"


def test_allowlist_round_trip_and_store_refusal(client: TestClient, store: Any) -> None:
    added = client.post(
        "/api/v1/allowlist", json={"value": "91.92.240.0/24", "reason": "lab"}, headers=OPERATOR
    )
    assert added.status_code == 200
    assert [(e["value"], e["reason"]) for e in store.allowlist()] == [("91.92.240.0/24", "lab")]
    assert store.lookup(TOOL_IPS[0]).indicators[0].status == "allowlisted"

    removed = client.delete(
        "/api/v1/allowlist", params={"value": "91.92.240.0/24"}, headers=OPERATOR
    )
    assert removed.status_code == 200 and store.allowlist() == []

    refused = client.post(
        "/api/v1/allowlist", json={"value": "bogus", "reason": "x"}, headers=OPERATOR
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "rejected"


def test_start_run_goes_through_the_scheduler(client: TestClient) -> None:
    scheduler = client.app.state.context.scheduler  # type: ignore[attr-defined]

    response = client.post("/api/v1/runs", headers=OPERATOR)

    assert response.status_code == 202
    assert response.json()["started"] is True
    deadline = 100
    while scheduler.is_running and deadline:
        deadline -= 1
    assert scheduler.runs_started == 1


def test_openapi_schema_lists_the_api(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    paths = set(schema["paths"])
    assert {
        "/api/v1/indicators",
        "/api/v1/ip/{ip}",
        "/api/v1/families",
        "/api/v1/rules",
        "/api/v1/runs",
        "/api/v1/runs/{run_id}",
        "/api/v1/status",
        "/api/v1/revoke",
        "/api/v1/allowlist",
    } <= paths
    assert not any(p.startswith("/taxii2") for p in paths)
