"""TAXII 2.1: a real client (taxii2-client) against a live uvicorn server; the protocol rules."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from stix2validator import ValidationOptions, validate_instance
from taxii2client.v21 import Server, as_pages
from tests.server.helpers import LiveServer
from tests.server.seed import C2_IPS

from c2tracker.server.taxii import collection_id

TAXII = "application/taxii+json;version=2.1"
ALL = collection_id("all")


def indicator_keys(objects: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(ip, rule id) of every STIX Indicator in ``objects``."""
    keys = set()
    for obj in objects:
        if obj["type"] != "indicator":
            continue
        ip = obj["pattern"].split("'")[1]
        keys.add((ip, obj["labels"][1]))
    return keys


def store_keys(store: Any, **filters: Any) -> set[tuple[str, str]]:
    return {(i.ip, i.rule_id) for i in store.iter_indicators(**filters)}


@pytest.mark.slow
def test_taxii2_client_round_trip_returns_exactly_the_store(
    live_server: LiveServer, store: Any
) -> None:
    server = Server(f"{live_server.url}/taxii2/")
    assert server.title == "C2 Tracker TAXII server"
    api_root = server.default
    assert api_root is not None
    assert api_root.versions == [TAXII]

    by_title = {c.title: c for c in api_root.collections}
    assert {"All indicators", "Category c2", "Category tool", "Family Sliver"} <= set(by_title)
    everything = by_title["All indicators"]
    assert everything.id == ALL and everything.can_read and not everything.can_write

    objects: list[dict[str, Any]] = []
    pages = 0
    for envelope in as_pages(everything.get_objects, per_request=7):
        pages += 1
        objects.extend(envelope.get("objects", []))

    assert pages > 5
    ids = [obj["id"] for obj in objects]
    assert len(ids) == len(set(ids)), "an object came twice while paging"
    assert indicator_keys(objects) == store_keys(store)
    types = {obj["type"] for obj in objects}
    assert types == {
        "indicator",
        "relationship",
        "malware",
        "tool",
        "infrastructure",
        "identity",
        "marking-definition",
    }

    c2 = by_title["Category c2"]
    c2_objects = [o for e in as_pages(c2.get_objects, per_request=50) for o in e.get("objects", [])]
    assert indicator_keys(c2_objects) == store_keys(store, category="c2")

    sliver = by_title["Family Sliver"]
    assert indicator_keys(sliver.get_objects().get("objects", [])) == {(C2_IPS[0], "sliver")}


def test_served_objects_pass_the_stix_validator(client: TestClient) -> None:
    body = client.get(
        f"/taxii2/api/collections/{ALL}/objects/", params={"limit": 1000}, headers={"Accept": TAXII}
    ).json()
    assert len(body["objects"]) > 60
    options = ValidationOptions(version="2.1", strict=False)
    for obj in body["objects"]:
        result = validate_instance(obj, options)
        assert result.is_valid, (obj["id"], [str(e) for e in result.errors])


def get(client: TestClient, path: str, **params: Any) -> httpx.Response:
    return client.get(path, params=params, headers={"Accept": TAXII})


def test_ids_are_stable_and_added_after_is_exclusive(client: TestClient) -> None:
    path = f"/taxii2/api/collections/{ALL}/manifest/"
    first = get(client, path, limit=1000)
    again = get(client, path, limit=1000)
    assert first.json() == again.json()

    records = first.json()["objects"]
    dates = [r["date_added"] for r in records]
    assert dates == sorted(dates)
    assert first.headers["X-TAXII-Date-Added-First"] == dates[0]
    assert first.headers["X-TAXII-Date-Added-Last"] == dates[-1]

    distinct = sorted(set(dates))
    assert len(distinct) >= 3
    middle = distinct[len(distinct) // 2]
    later = get(client, path, added_after=middle, limit=1000).json()["objects"]
    assert later and all(r["date_added"] > middle for r in later)
    assert len(later) == sum(1 for d in dates if d > middle)


def test_match_filters(client: TestClient) -> None:
    path = f"/taxii2/api/collections/{ALL}/objects/"
    indicators = get(client, path, **{"match[type]": "indicator", "limit": 1000}).json()["objects"]
    assert {o["type"] for o in indicators} == {"indicator"}

    chosen = [indicators[0]["id"], indicators[1]["id"]]
    picked = get(client, path, **{"match[id]": ",".join(chosen)}).json()["objects"]
    assert sorted(o["id"] for o in picked) == sorted(chosen)

    version = indicators[0]["modified"]
    same = get(client, path, **{"match[id]": chosen[0], "match[version]": version}).json()
    assert [o["id"] for o in same["objects"]] == [chosen[0]]
    other = get(client, path, **{"match[id]": chosen[0], "match[version]": "2001-01-01T00:00:00Z"})
    assert "objects" not in other.json()

    wrong_spec = get(client, path, **{"match[spec_version]": "2.0"}).json()
    assert wrong_spec == {"more": False}


def test_object_and_versions(client: TestClient) -> None:
    base = f"/taxii2/api/collections/{ALL}"
    listed = get(client, f"{base}/objects/", **{"match[type]": "indicator", "limit": 1})
    obj = listed.json()["objects"][0]

    single = get(client, f"{base}/objects/{obj['id']}/").json()
    assert single["objects"] == [obj]
    versions = get(client, f"{base}/objects/{obj['id']}/versions/").json()
    assert versions == {"more": False, "versions": [obj["modified"]]}

    missing = get(client, f"{base}/objects/indicator--00000000-0000-4000-8000-000000000000/")
    assert missing.status_code == 404
    assert missing.json()["http_status"] == "404"


def test_collection_resource_and_unknown_collection(client: TestClient) -> None:
    resource = get(client, f"/taxii2/api/collections/{ALL}/").json()
    assert resource["media_types"] == ["application/stix+json;version=2.1"]
    assert get(client, "/taxii2/api/collections/nope/").status_code == 404


def test_media_types_and_406(client: TestClient) -> None:
    ok = get(client, "/taxii2/")
    assert ok.headers["content-type"] == TAXII
    for accept in ("application/json", "text/html", "application/taxii+json;version=2.0"):
        response = client.get("/taxii2/api/", headers={"Accept": accept})
        assert response.status_code == 406, accept
        assert response.headers["content-type"] == TAXII
        assert response.json()["http_status"] == "406"
    assert client.get("/taxii2/api/", headers={"Accept": "*/*"}).status_code == 200


def test_bad_paging_parameters(client: TestClient) -> None:
    path = f"/taxii2/api/collections/{ALL}/objects/"
    for params in ({"next": "garbage!"}, {"added_after": "yesterday"}, {"limit": "0"}):
        response = get(client, path, **params)
        assert response.status_code in (400, 422), params
        assert response.json()["http_status"] == str(response.status_code)


def test_revocation_is_visible_to_taxii_at_once(client: TestClient) -> None:
    def version() -> tuple[str, str]:
        objects = get(client, f"/taxii2/api/collections/{ALL}/objects/", limit=1000).json()[
            "objects"
        ]
        (found,) = [
            o
            for o in objects
            if o["type"] == "indicator"
            and f"'{C2_IPS[3]}'" in o["pattern"]
            and o["labels"][1] == "cobalt-strike"
        ]
        return found["id"], found["modified"]

    object_id, before = version()
    token = base64.b64encode(b"ops:operator-token-0987654321").decode()
    response = client.post(
        "/api/v1/revoke",
        json={"ip": C2_IPS[3], "rule_id": "cobalt-strike", "reason": "sinkholed"},
        headers={"Authorization": f"Basic {token}"},
    )
    assert response.status_code == 200

    objects = get(
        client,
        f"/taxii2/api/collections/{ALL}/objects/",
        **{"match[type]": "indicator"},
        limit=1000,
    ).json()["objects"]
    revoked = [
        o for o in objects if f"'{C2_IPS[3]}'" in o["pattern"] and "cobalt" in o["labels"][1]
    ]
    assert revoked[0]["revoked"] is True

    # The revocation is a new version, so a client polling for changes since the old one is
    # told about it (TAXII 2.1 §3.4.2, added_after).
    _, after = version()
    assert after > before
    manifest = get(
        client, f"/taxii2/api/collections/{ALL}/manifest/", added_after=before, limit=1000
    ).json()
    assert object_id in {entry["id"] for entry in manifest["objects"]}
    versions = get(client, f"/taxii2/api/collections/{ALL}/objects/{object_id}/versions/")
    assert versions.json()["versions"] == [after]
