"""The compiled Matcher: same results as evaluating every query, observations, and cost."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from c2tracker.matching import Matcher, detect_engine, evaluate
from c2tracker.matching.compiler import necessary_keys, normalise_asn, normalise_ip
from c2tracker.querylang import parse_query
from c2tracker.querylang.ast import Engine
from c2tracker.rules import Rule, RuleQuery, RuleSet, load_rules


def make_rule(rule_id: str, engine: Engine, queries: list[str], name: str | None = None) -> Rule:
    return Rule(
        id=rule_id,
        name=name or rule_id.title(),
        feed_name=name or rule_id.title(),
        category="c2",
        kind="framework",
        description="test rule",
        queries=[RuleQuery(engine=engine, query=q, fidelity="high") for q in queries],
    )


SHODAN_RULE_QUERIES = [
    "port:443",
    "port:22,8080 product:openssh",
    "hash:-2007783223 port:50050",
    "http.title:'Cobalt Panel'",
    "http.title:panel -http.html:welcome",
    "http.html:sliver http.status:200",
    "http.favicon.hash:-127886975,219045137",
    "product:'Cobalt Strike Beacon'",
    "ssl:foren.zik",
    "ssl.cert.serial:146473198",
    "ssl.jarm:07d14d16d21d21d07c42d41d00041d24a458a375eef0c576d23a7bab9a9fb1 port:443",
    'nginx -"Server: apache"',
    "net:10.0.0.0/8",
    "-port:80",
    "tag:cloud country:NL",
    "hostname:evil.example",
    "http.component:Blazor ssl:Covenant",
    "hash:0",
]

CENSYS_RULE_QUERIES = [
    "host.services.port: 443",
    'host.services.software.product = "cobalt strike"',
    'host.services.software.product: "cobalt"',
    'host.services: (port=443 and protocol="HTTP")',
    'host.services: (port: 22 and software.product: "cobalt")',
    'host.services.endpoints.http.headers: (key="Server" and value="nginx")',
    'host.services.endpoints.http.html_title: "panel" or host.services.banner: "beacon"',
    "host.ip: '10.0.0.0/8'",
    'host.services.cert.parsed.subject_dn =~ "Major"',
    "host.services.port: {22, 50050}",
    "cobalt",
    'not host.services.protocol: "SSH"',
    'host.location.country_code = "NL"',
]

WORDS = [
    "nginx",
    "apache",
    "Cobalt",
    "Strike",
    "Beacon",
    "panel",
    "Sliver",
    "welcome",
    "foren.zik",
    "Covenant",
    "openssh",
    "Server:",
    "evil.example",
    "cloud",
    "major",
]

texts = st.lists(st.sampled_from(WORDS), max_size=4).map(" ".join)
ports = st.sampled_from([22, 80, 443, 8080, 50050, 3389])


@st.composite
def shodan_banners(draw: st.DrawFn) -> dict[str, Any]:
    banner: dict[str, Any] = {
        "ip_str": draw(
            st.sampled_from(["10.1.2.3", "192.0.2.5", "2001:db8::1", "::ffff:10.0.0.1"])
        ),
        "port": draw(ports),
        "data": draw(texts),
        "transport": draw(st.sampled_from(["tcp", "UDP"])),
    }
    if draw(st.booleans()):
        banner["hash"] = draw(st.sampled_from([-2007783223, 0, 5]))
    if draw(st.booleans()):
        banner["product"] = draw(texts)
    if draw(st.booleans()):
        banner["tags"] = draw(st.lists(st.sampled_from(["cloud", "vpn"]), max_size=2))
        banner["location"] = {"country_code": draw(st.sampled_from(["NL", "DE"]))}
        banner["hostnames"] = draw(st.lists(st.sampled_from(["a.evil.example", "b.org"])))
    if draw(st.booleans()):
        banner["http"] = {
            "status": draw(st.sampled_from([200, 404])),
            "title": draw(st.one_of(texts, st.none())),
            "html": draw(texts),
            "favicon": {"hash": draw(st.sampled_from([-127886975, 219045137, 1]))},
            "components": {name: {} for name in draw(st.lists(st.sampled_from(["Blazor"])))},
        }
    if draw(st.booleans()):
        banner["ssl"] = {
            "cert": {
                "serial": draw(st.sampled_from([146473198, 7, "8BB00EE"])),
                "subject": {"CN": draw(texts)},
                "issuer": {"CN": draw(texts)},
            },
            "jarm": draw(
                st.sampled_from(
                    ["07d14d16d21d21d07c42d41d00041d24a458a375eef0c576d23a7bab9a9fb1", "00"]
                )
            ),
        }
    return banner


@st.composite
def censys_hosts(draw: st.DrawFn) -> dict[str, Any]:
    services = []
    for _ in range(draw(st.integers(0, 3))):
        service: dict[str, Any] = {
            "port": draw(ports),
            "protocol": draw(st.sampled_from(["HTTP", "SSH", "UNKNOWN"])),
            "transport_protocol": "tcp",
            "banner": draw(texts),
            "software": [{"product": draw(st.sampled_from(["cobalt strike", "openssh", "x"]))}],
        }
        if draw(st.booleans()):
            service["endpoints"] = [
                {
                    "http": {
                        "html_title": draw(texts),
                        "headers": {
                            draw(st.sampled_from(["Server", "X-Test"])): {
                                "headers": [draw(st.sampled_from(["nginx", "apache"]))]
                            }
                        },
                    }
                }
            ]
        if draw(st.booleans()):
            service["cert"] = {"parsed": {"subject_dn": "CN=" + draw(texts)}}
        services.append(service)
    host = {
        "ip": draw(st.sampled_from(["10.9.8.7", "198.51.100.3"])),
        "location": {"country_code": draw(st.sampled_from(["NL", "US"]))},
        "services": services,
    }
    return {"host_v1": {"resource": host}} if draw(st.booleans()) else host


def _expected(rules: list[Rule], record: dict[str, Any], engine: Engine) -> set[tuple[str, str]]:
    return {
        (rule.id, q.query)
        for rule in rules
        for q in rule.queries_for(engine)
        if evaluate(q.parsed, record) is not None
    }


SHODAN_RULES = [make_rule(f"s{i}", Engine.SHODAN, [q]) for i, q in enumerate(SHODAN_RULE_QUERIES)]
CENSYS_RULES = [make_rule(f"c{i}", Engine.CENSYS, [q]) for i, q in enumerate(CENSYS_RULE_QUERIES)]
MATCHER = Matcher(SHODAN_RULES + CENSYS_RULES)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shodan_banners())
def test_matcher_equals_evaluating_every_shodan_query(banner: dict[str, Any]) -> None:
    found = {(o.rule_id, o.query) for o in MATCHER.match(banner, Engine.SHODAN)}
    assert found == _expected(SHODAN_RULES, banner, Engine.SHODAN)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(censys_hosts())
def test_matcher_equals_evaluating_every_censys_query(host: dict[str, Any]) -> None:
    found = {(o.rule_id, o.query) for o in MATCHER.match(host, Engine.CENSYS)}
    assert found == _expected(CENSYS_RULES, host, Engine.CENSYS)


@pytest.fixture(scope="module")
def corpus() -> tuple[RuleSet, Matcher]:
    rules = load_rules()
    return rules, Matcher(rules)


@pytest.mark.slow
def test_matcher_equals_evaluate_on_the_corpus_test_records(
    corpus: tuple[RuleSet, Matcher],
) -> None:
    rules, matcher = corpus
    checked = 0
    for rule in rules:
        for case in rule.tests:
            found = {(o.rule_id, o.query) for o in matcher.match(case.record, case.engine)}
            assert found == _expected(list(rules), case.record, case.engine), (rule.id, case)
            checked += 1
    assert checked >= 100


def test_every_corpus_query_has_a_necessary_key(corpus: tuple[RuleSet, Matcher]) -> None:
    # Queries without one are evaluated on every record; the corpus should have (almost) none.
    _, matcher = corpus
    assert len(matcher.unkeyed_queries()) <= 5


def test_cost_grows_with_candidates_not_with_rules() -> None:
    many = [make_rule(f"h{i}", Engine.SHODAN, [f"http.favicon.hash:{i}"]) for i in range(3000)]
    many += [make_rule(f"p{i}", Engine.SHODAN, [f"product:'family{i} rat'"]) for i in range(3000)]
    matcher = Matcher(many)
    banner = {
        "ip_str": "192.0.2.1",
        "port": 80,
        "data": "",
        "product": "family17 RAT",
        "http": {"favicon": {"hash": 2999}},
    }
    found = matcher.match(banner)
    assert sorted(o.rule_id for o in found) == ["h2999", "p17"]
    # Only the candidates were evaluated (the two hits and "family1", whose literal occurs in
    # "family17"), out of 6000 queries.
    assert matcher.evaluations <= 3


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("hash:-2007783223 port:50050", {("eq", "hash", -2007783223)}),
        ("port:22,80", {("eq", "port", 22), ("eq", "port", 80)}),
        ("product:'Cobalt Strike Beacon'", {("lit", "product", "cobalt")}),
        ("http.title:'Welcome to Bandit' port:8080", {("lit", "http.title", "bandit")}),
        ("ssl.cert.serial:0x8BB00EE", {("eq", "ssl.cert.serial", 146473198)}),
        ("-port:80", None),
        ("net:10.0.0.0/8", None),
    ],
)
def test_necessary_keys_shodan(query: str, expected: set[Any] | None) -> None:
    keys = necessary_keys(parse_query(Engine.SHODAN, query))
    assert (set(keys) if keys is not None else None) == expected


def test_necessary_keys_censys_nested_paths() -> None:
    keys = necessary_keys(
        parse_query(Engine.CENSYS, 'host.services: (port=443 and software.product="cobalt strike")')
    )
    assert keys == {("eq", "services.software.product", ("s", "cobalt strike"))}
    keys = necessary_keys(parse_query(Engine.CENSYS, 'web.endpoints.http.body: "x"'))
    assert keys == frozenset()


def test_necessary_keys_censys_or_needs_a_key_in_every_branch() -> None:
    keys = necessary_keys(
        parse_query(Engine.CENSYS, 'host.services.port: 80 or host.services.banner: "beacon"')
    )
    assert keys == {
        ("eq", "services.port", ("n", 80)),
        ("lit", "services.port", "80"),
        ("lit", "services.banner", "beacon"),
    }
    keys = necessary_keys(
        parse_query(Engine.CENSYS, 'host.services.port: 80 or not host.services.banner: "x"')
    )
    assert keys is None


# --- observations ---------------------------------------------------------------------------


def test_shodan_observation_fields() -> None:
    rule = make_rule("cobalt-strike", Engine.SHODAN, ["ssl.cert.serial:146473198"], "Cobalt Strike")
    banner = {
        "ip_str": "::ffff:203.0.113.9",
        "port": 443,
        "transport": "TCP",
        "data": "",
        "timestamp": "2026-03-01T12:30:00.123456",
        "hostnames": ["a.example", "a.example", "b.example"],
        "asn": "as14061",
        "org": "DigitalOcean, LLC",
        "location": {"country_code": "NL"},
        "tags": ["cloud"],
        "ssl": {"cert": {"serial": 146473198}},
    }
    [obs] = Matcher([rule]).match(banner, source="scan:/tmp/x.json")
    assert obs.ip == "203.0.113.9"
    assert obs.port == 443
    assert obs.transport == "tcp"
    assert obs.rule_id == "cobalt-strike"
    assert obs.family == "Cobalt Strike"
    assert obs.engine is Engine.SHODAN
    assert obs.query == "ssl.cert.serial:146473198"
    assert obs.timestamp == datetime(2026, 3, 1, 12, 30, 0, 123456, tzinfo=UTC)
    assert obs.evidence == {"ssl.cert.serial": 146473198}
    assert obs.source == "scan:/tmp/x.json"
    assert obs.hostnames == ("a.example", "b.example")
    assert obs.asn == "AS14061"
    assert obs.org == "DigitalOcean, LLC"
    assert obs.country == "NL"
    assert obs.tags == ("cloud",)
    assert set(obs.to_match_json()) == {
        "ip",
        "port",
        "transport",
        "rule",
        "family",
        "engine",
        "query",
        "timestamp",
        "evidence",
    }


def test_censys_observation_per_matched_service() -> None:
    rule = make_rule("cs", Engine.CENSYS, ['host.services.software.product: "cobalt"'])
    host = {
        "ip": "198.51.100.7",
        "autonomous_system": {"asn": 14061, "name": "DIGITALOCEAN-ASN"},
        "location": {"country_code": "US"},
        "dns": {"names": ["x.example"], "reverse_dns": {"names": ["y.example"]}},
        "labels": [{"value": "c2"}],
        "services": [
            {"port": 22, "protocol": "SSH", "software": [{"product": "openssh"}]},
            {
                "port": 443,
                "transport_protocol": "tcp",
                "scan_time": "2026-03-02T11:00:00Z",
                "software": [{"product": "cobalt strike"}],
            },
            {
                "port": 50050,
                "transport_protocol": "UDP",
                "software": [{"product": "cobalt strike"}],
            },
        ],
    }
    found = Matcher([rule]).match({"host_v1": {"resource": host}})
    assert [(o.port, o.transport) for o in found] == [(443, "tcp"), (50050, "udp")]
    first = found[0]
    assert first.timestamp == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    assert first.asn == "AS14061"
    assert first.org == "DIGITALOCEAN-ASN"
    assert first.hostnames == ("x.example", "y.example")
    assert first.tags == ("c2",)
    assert first.engine is Engine.CENSYS


def test_censys_host_level_match_has_no_port() -> None:
    rule = make_rule("net", Engine.CENSYS_LEGACY, ["ip: 198.51.100.0/24"])
    host = {
        "ip": "198.51.100.7",
        "last_updated_at": "2026-03-03T08:00:00.000Z",
        "services": [{"port": 80, "service_name": "HTTP"}],
    }
    [obs] = Matcher([rule]).match(host)
    assert obs.port is None
    assert obs.engine is Engine.CENSYS_LEGACY
    assert obs.timestamp == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)


def test_records_without_usable_address_yield_nothing() -> None:
    rule = make_rule("pp", Engine.SHODAN, ["port:80"])
    assert Matcher([rule]).match({"ip_str": "nope", "port": 80, "data": ""}) == []


def test_engine_restriction_and_ruleset_input() -> None:
    rules = RuleSet(
        [
            make_rule("aa", Engine.SHODAN, ["port:80"]),
            make_rule("bb", Engine.CENSYS, ["host.services.port: 80"]),
        ]
    )
    matcher = Matcher(rules, engines=["censys"])
    assert matcher.query_count == 1
    assert matcher.match({"ip_str": "192.0.2.1", "port": 80, "data": ""}) == []


@pytest.mark.parametrize(
    ("record", "engine"),
    [
        ({"ip_str": "192.0.2.1", "port": 80, "data": ""}, Engine.SHODAN),
        ({"ipv6": "2001:db8::1", "port": 80}, Engine.SHODAN),
        ({"ip": 3221225985, "port": 80, "_shodan": {}}, Engine.SHODAN),
        ({"host_v1": {"resource": {"ip": "192.0.2.1"}}}, Engine.CENSYS),
        ({"result": {"resource": {"ip": "192.0.2.1"}}}, Engine.CENSYS),
        ({"ip": "192.0.2.1", "services": [{"port": 80, "protocol": "HTTP"}]}, Engine.CENSYS),
        (
            {"ip": "192.0.2.1", "services": [{"port": 80, "service_name": "HTTP"}]},
            Engine.CENSYS_LEGACY,
        ),
        ({"result": {"ip": "192.0.2.1", "services": [{"_decoded": "http"}]}}, Engine.CENSYS_LEGACY),
        ({"ip": "192.0.2.1"}, None),
        ({}, None),
    ],
)
def test_detect_engine(record: dict[str, Any], engine: Engine | None) -> None:
    assert detect_engine(record) is engine


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("2001:DB8:0::1", "2001:db8::1"),
        (167772161, "10.0.0.1"),
        ("10.0.0.256", None),
        (None, None),
        (True, None),
    ],
)
def test_normalise_ip(value: Any, expected: str | None) -> None:
    assert normalise_ip(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("AS14061", "AS14061"),
        ("as014061", "AS14061"),
        ("14061", "AS14061"),
        (14061, "AS14061"),
        ("ASN", None),
        (None, None),
        (-1, None),
    ],
)
def test_normalise_asn(value: Any, expected: str | None) -> None:
    assert normalise_asn(value) == expected
