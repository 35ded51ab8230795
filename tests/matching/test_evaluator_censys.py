"""CenQL and legacy Censys semantics of the offline evaluator on hand-written hosts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from c2tracker.matching import evaluate, fields as f, unwrap_censys_host
from c2tracker.querylang import parse_query
from c2tracker.querylang.ast import Engine, Query

CS_CERT_SHA256 = "64257fc0fac31c01a5ccd816c73ea86e639260da1604d04db869bb603c2886e6"

PLATFORM_HOST: dict[str, Any] = {
    "ip": "198.51.100.20",
    "autonomous_system": {"asn": 14061, "name": "DIGITALOCEAN-ASN"},
    "location": {"country_code": "US", "city": "Dell Rapids"},
    "dns": {"names": ["c2.evil.example"]},
    "labels": [{"value": "remote-access"}],
    "services": [
        {
            "port": 22,
            "protocol": "SSH",
            "transport_protocol": "tcp",
            "scan_time": "2026-03-01T10:00:00Z",
            "banner": "SSH-2.0-OpenSSH_8.9",
            "software": [{"vendor": "openbsd", "product": "openssh", "version": "8.9"}],
        },
        {
            "port": 443,
            "protocol": "HTTP",
            "transport_protocol": "tcp",
            "scan_time": "2026-03-02T11:00:00Z",
            "banner_hash_sha256": "aa" * 32,
            "software": [{"vendor": "fortra", "product": "cobalt strike"}],
            "threats": [{"name": "Cobalt Strike"}],
            "cert": {
                "fingerprint_sha256": CS_CERT_SHA256,
                "parsed": {
                    "subject_dn": "CN=Major Cobalt Strike, O=cobaltstrike",
                    "subject": {"common_name": ["Major Cobalt Strike"]},
                    "validity_period": {"not_after": "2027-01-01T00:00:00Z"},
                },
            },
            "jarm": {
                "fingerprint": "07d14d16d21d21d07c42d41d00041d24a458a375eef0c576d23a7bab9a9fb1"
            },
            "endpoints": [
                {
                    "path": "/",
                    "http": {
                        "status_code": 404,
                        "html_title": "Not Found",
                        "body": "<html>Sliver</html>",
                        "headers": {
                            "Server": {"headers": ["nginx"]},
                            "X-Powered-By": {"headers": ["PHP/8.1", "Express"]},
                        },
                        "favicons": [{"hash_shodan": -127886975}],
                    },
                }
            ],
        },
    ],
}

LEGACY_HOST: dict[str, Any] = {
    "ip": "192.0.2.30",
    "autonomous_system": {"asn": 16509, "name": "AMAZON-02"},
    "location": {"country_code": "DE"},
    "labels": ["cloud"],
    "last_updated_at": "2026-03-03T08:00:00.000Z",
    "services": [
        {
            "port": 80,
            "service_name": "HTTP",
            "transport_protocol": "TCP",
            "observed_at": "2026-03-03T07:00:00Z",
            "banner_hashes": ["sha256:" + "bb" * 32],
            "software": [{"product": "Cobalt Strike", "vendor": "HelpSystems"}],
            "http": {
                "response": {
                    "status_code": 200,
                    "html_title": "Hookbot Panel",
                    "body": "<h1>Gophish</h1>",
                    "headers": {
                        "Server": ["Apache"],
                        "Content_Type": ["text/html"],
                        "_encoding": {"Server": "DISPLAY_UTF8"},
                    },
                }
            },
            "_decoded": "http",
        },
        {
            "port": 50050,
            "service_name": "UNKNOWN",
            "transport_protocol": "TCP",
            "banner": "\x00\x00\xbe\xef",
            "tls": {
                "certificates": {"leaf_data": {"subject": {"common_name": ["Major Cobalt Strike"]}}}
            },
        },
    ],
}


def cenql(text: str) -> Query:
    return parse_query(Engine.CENSYS, text)


def legacy(text: str) -> Query:
    return parse_query(Engine.CENSYS_LEGACY, text)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('host.services.software.product: "Cobalt"', True),
        ('host.services.software.product = "cobalt strike"', True),
        ('host.services.software.product = "Cobalt Strike"', False),
        ("host.services.port: 443", True),
        ('host.services.port = "443"', True),
        ("host.services.port: 8443", False),
        ("host.services.port: {21, 22}", True),
        ("host.services.port: {21, 23}", False),
        ('host.services.protocol: "ssh"', True),
        ('host.services.threats.name = "Cobalt Strike"', True),
        ('host.services.cert.parsed.subject_dn =~ "^CN=Major"', True),
        ('host.services.cert.parsed.subject_dn =~ "^cn=major"', False),
        ('host.services.cert.parsed.subject_dn =~ "Cobalt"', True),
        ('host.services.endpoints.http.body: "sliver"', True),
        ("host.services.endpoints.http.favicons.hash_shodan: -127886975", True),
        ("host.services.endpoints.http.status_code: 404", True),
        ("host.ip: '198.51.100.0/24'", True),
        ("host.ip: '198.51.101.0/24'", False),
        ("host.ip: 198.51.100.20", True),
        ("host.ip: *", True),
        ("host.services.tls: *", False),
        ("host.services.cert: *", True),
        ("host.autonomous_system.asn: 14061", True),
        ('host.location.city: "dell"', True),
        ('host.labels.value: "remote-access"', True),
        ("host.services.port > 400", True),
        ("host.services.port > 443", False),
        ("host.services.port >= 443", True),
        ("host.services.port < 22", False),
        ('host.ip > "198.51.100.19"', True),
        ('host.ip < "198.51.100.19"', False),
        ('host.services.scan_time > "2026-03-02T00:00:00Z"', True),
        ('host.services.scan_time > "2026-03-03"', False),
        ('host.services.software.vendor < "b"', False),
        ("splashtop", False),
        ("cobaltstrike", True),
        ("DELL", True),
        ('web.endpoints.http.html_title: "Not Found"', False),
        ('cert.names: "evil"', False),
    ],
)
def test_cenql_semantics(query: str, expected: bool) -> None:
    assert (evaluate(cenql(query), PLATFORM_HOST) is not None) is expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("services.software.product: cobalt", True),
        ("services.software.product=`Cobalt Strike`", True),
        ("services.software.product=`cobalt strike`", False),
        ("services.service_name: HTTP", True),
        ("services.port: {80, 8080}", True),
        ("services.port: [50000 TO 50100]", True),
        ("services.port: [50051 TO 60000]", False),
        ("services.port: {50050 TO 60000]", False),
        ('services.banner_hashes: "sha256:' + "bb" * 32 + '"', True),
        ("services.http.response.html_title: Hookbot*", True),
        ("services.http.response.html_title: hook?ot*", True),
        ("services.http.response.html_title: Panel*", False),
        ("services.http.response.html_title: /hookbot.*/", True),
        ("services.http.response.html_title: /hookbot/", False),
        ("services.http.response.html_title=/hookbot.*/", False),
        ("services.http.response.headers.server: apache", True),
        ("services.http.response.headers.content_type: html", True),
        ("services.http.response.headers: (key: Server and value.headers: Apache)", True),
        ("services.http.response.headers: (key: Server and value.headers: text)", False),
        ("services.http.response.headers: (key: _encoding)", False),
        ("services.tls.certificates.leaf_data.subject.common_name: Major*", True),
        ("same_service(port: 50050 and service_name: UNKNOWN)", True),
        ("same_service(port: 80 and service_name: UNKNOWN)", False),
        ("services: (port: 80 and not service_name: HTTP)", False),
        ("services: (port: 50050 and not service_name: HTTP)", True),
        ("labels: cloud", True),
        ("gophish", True),
        ("location.country_code: DE", True),
        ("ip: 192.0.2.0/24", True),
        ("not ip: 0.0.0.0/0", False),
    ],
)
def test_legacy_semantics(query: str, expected: bool) -> None:
    assert (evaluate(legacy(query), LEGACY_HOST) is not None) is expected


def test_platform_header_pairs() -> None:
    query = 'host.services.endpoints.http.headers: (key="Server" and value="nginx")'
    assert evaluate(cenql(query), PLATFORM_HOST) is not None
    query = 'host.services.endpoints.http.headers: (key="X-Powered-By" and value="Express")'
    assert evaluate(cenql(query), PLATFORM_HOST) is not None
    # Key and value from two different headers: no single pair holds both.
    query = 'host.services.endpoints.http.headers: (key="Server" and value="Express")'
    assert evaluate(cenql(query), PLATFORM_HOST) is None
    query = 'host.services.endpoints.http.headers: (key="server" and value="nginx")'
    assert evaluate(cenql(query), PLATFORM_HOST) is None  # "=" is case-sensitive


def test_nested_block_binds_conditions_to_one_service() -> None:
    # Port 22 and product "cobalt strike" exist, but on different services.
    assert (
        evaluate(
            cenql('host.services.port: 22 and host.services.software.product: "cobalt"'),
            PLATFORM_HOST,
        )
        is not None
    )
    nested = cenql('host.services: (port: 22 and software.product: "cobalt")')
    assert evaluate(nested, PLATFORM_HOST) is None
    nested = cenql('host.services: (port: 443 and software.product: "cobalt")')
    assert evaluate(nested, PLATFORM_HOST) is not None
    # Two separate blocks may be satisfied by two different services.
    two = cenql('host.services: (port=22) and host.services: (software.product: "cobalt")')
    assert evaluate(two, PLATFORM_HOST) is not None


def test_deeper_nesting() -> None:
    query = cenql(
        'host.services: (port=443 and endpoints.http.headers: (key="Server" and value="nginx"))'
    )
    assert evaluate(query, PLATFORM_HOST) is not None
    query = cenql(
        'host.services: (port=22 and endpoints.http.headers: (key="Server" and value="nginx"))'
    )
    assert evaluate(query, PLATFORM_HOST) is None


def test_evidence_for_fields_and_nested_blocks() -> None:
    evidence = evaluate(cenql('host.services.software.product = "cobalt strike"'), PLATFORM_HOST)
    assert evidence == {"host.services.software.product": "cobalt strike"}
    evidence = evaluate(cenql('host.services: (protocol="HTTP" and port: 443)'), PLATFORM_HOST)
    assert evidence == {
        "host.services.protocol": "HTTP",
        "host.services.port": 443,
    }
    evidence = evaluate(legacy("services: (service_name: UNKNOWN)"), LEGACY_HOST)
    assert evidence == {"services.service_name": "UNKNOWN", "services.port": 50050}
    evidence = evaluate(cenql("cobaltstrike"), PLATFORM_HOST)
    assert evidence == {
        "host.services.cert.parsed.subject_dn": "CN=Major Cobalt Strike, O=cobaltstrike"
    }


def test_existential_over_arrays_reports_every_satisfying_value() -> None:
    evidence = evaluate(cenql("host.services.port: {22, 443}"), PLATFORM_HOST)
    assert evidence == {"host.services.port": [22, 443]}


@pytest.mark.parametrize(
    "wrapper",
    [
        lambda host: host,
        lambda host: {"host_v1": {"resource": host}},
        lambda host: {"result": {"resource": host}},
        lambda host: {"resource": host},
    ],
)
def test_platform_wrappers_are_unwrapped(wrapper: Any) -> None:
    record = wrapper(copy.deepcopy(PLATFORM_HOST))
    assert unwrap_censys_host(record)["ip"] == "198.51.100.20"
    assert evaluate(cenql("host.services.port: 443"), record) is not None


def test_legacy_result_wrapper_is_unwrapped() -> None:
    record = {"code": 200, "status": "OK", "result": copy.deepcopy(LEGACY_HOST)}
    assert evaluate(legacy("services.port: 50050"), record) is not None


# --- the named decisions ------------------------------------------------------------------


def test_decision_cenql_dataset_prefixes() -> None:
    assert f.cenql_host_path("host.services.port") == "services.port"
    assert f.cenql_host_path("services.port") == "services.port"
    assert f.cenql_host_path("web.endpoints.http.body") is None
    assert f.cenql_host_path("cert.names") is None
    # Negating an other-dataset condition is true on a host record.
    assert evaluate(cenql('not web.endpoints.http.html_title: "x"'), PLATFORM_HOST) == {}


def test_decision_colon_is_case_insensitive_substring_equals_is_exact() -> None:
    assert evaluate(cenql('host.services.software.product: "COBALT STR"'), PLATFORM_HOST)
    assert evaluate(cenql('host.services.software.product = "cobalt"'), PLATFORM_HOST) is None
    assert evaluate(cenql('host.services.port = "22"'), PLATFORM_HOST) is not None


def test_decision_missing_never_satisfies_and_not_of_missing_is_true() -> None:
    host = {"ip": "198.51.100.9", "services": [{"port": 80, "protocol": "HTTP", "software": None}]}
    assert evaluate(cenql("host.services.software.product: *"), host) is None
    assert evaluate(cenql('host.services.software.product: "x"'), host) is None
    assert evaluate(cenql('not host.services.software.product: "x"'), host) == {}
    assert evaluate(cenql("host.services.jarm.fingerprint: *"), host) is None


def test_decision_exists_needs_a_non_empty_value() -> None:
    host = {"ip": "198.51.100.9", "services": [{"port": 80, "protocol": "", "labels": []}]}
    assert evaluate(cenql("host.services.protocol: *"), host) is None
    assert evaluate(cenql("host.services.labels: *"), host) is None
    assert evaluate(cenql("host.services.port: *"), host) is not None


def test_decision_legacy_regex_is_whole_value() -> None:
    assert evaluate(legacy("services.service_name: /htt./"), LEGACY_HOST) is not None
    assert evaluate(legacy("services.service_name: /tt/"), LEGACY_HOST) is None
    assert evaluate(cenql('host.services.protocol =~ "SS"'), PLATFORM_HOST) is not None


def test_invalid_regex_never_matches() -> None:
    from c2tracker.querylang.ast import Field, Op, Regex

    tree = Query(Engine.CENSYS, "x", Field("host.services.protocol", Op.REGEX, Regex("(")))
    assert evaluate(tree, PLATFORM_HOST) is None
