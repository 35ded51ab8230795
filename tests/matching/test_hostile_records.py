"""Records with wrong types, nulls, huge or deep values: no crash and no false match."""

from __future__ import annotations

import time
from typing import Any

import pytest

from c2tracker.matching import Matcher, evaluate
from c2tracker.querylang import parse_query
from c2tracker.querylang.ast import Engine
from c2tracker.rules import Rule, RuleQuery

SHODAN_QUERIES = [
    "port:443",
    "hash:0",
    "ssl.cert.serial:146473198",
    "http.title:panel",
    "http.html:sliver",
    "http.favicon.hash:-127886975",
    "product:'Cobalt Strike'",
    "ssl:foren.zik",
    "hostname:evil.example",
    "net:10.0.0.0/8",
    "http.component:blazor",
    "ssl.chain_count:1",
    "has_ipv6:true",
    "tag:cloud",
    "nginx",
]

CENSYS_QUERIES = [
    "host.services.port: 443",
    'host.services.software.product: "cobalt"',
    'host.services: (port=443 and protocol="HTTP")',
    'host.services.endpoints.http.headers: (key="Server" and value="nginx")',
    "host.ip: '10.0.0.0/8'",
    'host.services.cert.parsed.subject_dn =~ "Major"',
    "host.services.endpoints.http.status_code > 100",
    "sliver",
]

HOSTILE_BANNERS: list[dict[str, Any]] = [
    {"ip_str": "192.0.2.1", "port": "443", "data": "x"},
    {"ip_str": "192.0.2.1", "port": [443], "data": "x"},
    {"ip_str": "192.0.2.1", "port": True, "data": "x", "hash": False},
    {"ip_str": "192.0.2.1", "port": 80, "data": None, "hash": "0"},
    {"ip_str": "192.0.2.1", "port": 80, "data": "x", "http": None, "ssl": None},
    {"ip_str": "192.0.2.1", "port": 80, "data": "x", "http": "panel sliver"},
    {"ip_str": "192.0.2.1", "port": 80, "data": "x", "http": {"title": ["not", "panel"]}},
    {"ip_str": "192.0.2.1", "port": 80, "data": "x", "http": {"title": {"x": "panel"}}},
    {"ip_str": "192.0.2.1", "port": 80, "data": "x", "http": {"favicon": [-127886975]}},
    {"ip_str": "192.0.2.1", "port": 80, "data": "x", "http": {"favicon": {"hash": "-127886975"}}},
    {"ip_str": "192.0.2.1", "port": 80, "data": "x", "http": {"components": ["Blazor"]}},
    {"ip_str": "192.0.2.1", "port": 80, "data": "x", "ssl": {"cert": {"serial": "146473198"}}},
    {"ip_str": "192.0.2.1", "port": 80, "data": "x", "ssl": {"cert": {"serial": [146473198]}}},
    {"ip_str": "192.0.2.1", "port": 80, "data": "x", "ssl": {"cert": "foren.zik"}},
    {"ip_str": "192.0.2.1", "port": 80, "data": "x", "ssl": {"chain": "one"}},
    {"ip_str": "192.0.2.1", "port": 80, "data": "x", "ssl": []},
    {"ip_str": "not an ip", "port": 80, "data": "x"},
    {"ip_str": None, "port": 80, "data": 5},
    {"ip_str": "192.0.2.1", "port": 80, "data": {"nested": "nginx"}},
    {"ip_str": "192.0.2.1", "port": 80, "data": "x", "product": None, "tags": "cloudy"},
    {"ip_str": "192.0.2.1", "port": 80, "data": "x", "hostnames": [None, 5, {"a": 1}]},
    {"ip_str": "192.0.2.1", "port": 80, "data": "x", "has_ssl": True},
]

HOSTILE_HOSTS: list[dict[str, Any]] = [
    {"ip": "192.0.2.1", "services": [{"port": "443", "protocol": "HTTP"}]},
    {"ip": "192.0.2.1", "services": [{"port": "8443", "protocol": 5}]},
    {"ip": "192.0.2.1", "services": None},
    {"ip": "192.0.2.1", "services": "port 443"},
    {"ip": "192.0.2.1", "services": [None, 5, "x", [[{"port": "443"}]]]},
    {"ip": "192.0.2.1", "services": [{"port": 80, "software": "cobalt"}]},
    {"ip": "192.0.2.1", "services": [{"port": 80, "endpoints": [{"http": None}]}]},
    {"ip": "192.0.2.1", "services": [{"port": 80, "endpoints": [{"http": {"headers": None}}]}]},
    {"ip": "192.0.2.1", "services": [{"port": 80, "endpoints": [{"http": {"headers": "x"}}]}]},
    {
        "ip": "192.0.2.1",
        "services": [{"port": 80, "endpoints": [{"http": {"headers": [1, None]}}]}],
    },
    {
        "ip": "192.0.2.1",
        "services": [{"port": 80, "endpoints": [{"http": {"headers": {"Server": None, "X": 5}}}]}],
    },
    {"ip": "192.0.2.1", "services": [{"port": 80, "cert": {"parsed": {"subject_dn": ["x"]}}}]},
    {"ip": 3232235777, "services": [{"port": 80}]},
    {"ip": None},
    {"host_v1": None},
    {"host_v1": {"resource": "nope"}},
]


@pytest.mark.parametrize("banner", HOSTILE_BANNERS)
def test_hostile_banners_match_nothing(banner: dict[str, Any]) -> None:
    for text in SHODAN_QUERIES:
        if text == "hash:0" and banner.get("data") is None and "hash" not in banner:
            continue
        query = parse_query(Engine.SHODAN, text)
        assert evaluate(query, banner) is None, (text, banner)


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
def test_hostile_hosts_match_nothing(host: dict[str, Any]) -> None:
    for text in CENSYS_QUERIES:
        query = parse_query(Engine.CENSYS, text)
        assert evaluate(query, host) is None, (text, host)


def _rule(engine: Engine, queries: list[str]) -> Rule:
    return Rule(
        id="hostile",
        name="Hostile",
        feed_name="Hostile",
        category="c2",
        kind="framework",
        description="test rule",
        queries=[RuleQuery(engine=engine, query=q, fidelity="high") for q in queries],
    )


def test_matcher_survives_hostile_records() -> None:
    matcher = Matcher([_rule(Engine.SHODAN, SHODAN_QUERIES), _rule(Engine.CENSYS, CENSYS_QUERIES)])
    for banner in HOSTILE_BANNERS:
        found = matcher.match(banner, Engine.SHODAN)
        assert [o.query for o in found if o.query != "hash:0"] == []
    for host in HOSTILE_HOSTS:
        assert matcher.match(host, Engine.CENSYS) == []
    assert matcher.match({}, None) == []
    assert matcher.match({"weird": [1, 2]}, Engine.CENSYS_LEGACY) == []


@pytest.mark.slow
def test_ten_megabyte_body_is_matched_quickly_and_correctly() -> None:
    body = ("<div>" + "lorem ipsum dolor " * 40 + "</div>\n") * 14_000
    assert len(body) > 10_000_000
    banner = {"ip_str": "192.0.2.1", "port": 80, "data": "", "http": {"html": body + "sliver"}}
    start = time.perf_counter()
    assert evaluate(parse_query(Engine.SHODAN, "http.html:sliver"), banner) is not None
    assert evaluate(parse_query(Engine.SHODAN, "http.html:'team server'"), banner) is None
    matcher = Matcher([_rule(Engine.SHODAN, ["http.html:sliver", "http.html:cobalt"])])
    assert [o.query for o in matcher.match(banner)] == ["http.html:sliver"]
    assert time.perf_counter() - start < 20


def test_deeply_nested_json_is_walked_without_recursion() -> None:
    deep: Any = "needle"
    for _ in range(5000):
        deep = {"a": [deep]}
    host = {"ip": "192.0.2.1", "services": [{"port": 80, "protocol": "HTTP", "x": deep}]}
    query = parse_query(Engine.CENSYS, "needle")
    assert evaluate(query, host) is not None
    assert evaluate(parse_query(Engine.CENSYS, "haystack"), host) is None
    deep_list: Any = "x"
    for _ in range(5000):
        deep_list = [deep_list]
    host = {"ip": "192.0.2.1", "services": deep_list}
    assert evaluate(parse_query(Engine.CENSYS, "host.services.port: 80"), host) is None


def test_evidence_is_capped_for_hosts_with_thousands_of_services() -> None:
    from c2tracker.matching.evaluator import MAX_EVIDENCE_VALUES

    host = {
        "ip": "192.0.2.1",
        "services": [{"port": port, "protocol": "HTTP"} for port in range(1, 5001)],
    }
    start = time.perf_counter()
    evidence = evaluate(parse_query(Engine.CENSYS, "host.services.port: *"), host)
    assert evidence is not None
    assert len(evidence["host.services.port"]) == MAX_EVIDENCE_VALUES
    matcher = Matcher([_rule(Engine.CENSYS, ['host.services.protocol: "HTTP"'])])
    assert len(matcher.match(host)) == 5000  # one observation per matched service port
    assert time.perf_counter() - start < 10
