"""Shodan query semantics of the offline evaluator, filter by filter, on hand-written banners."""

from __future__ import annotations

from typing import Any

import mmh3
import pytest

from c2tracker.matching import evaluate, evaluator as ev, fields as f
from c2tracker.querylang import parse_query
from c2tracker.querylang.ast import Engine, Field, FullText, Op, Query, Text


def shodan(text: str) -> Query:
    return parse_query(Engine.SHODAN, text)


def matches(query: str, banner: dict[str, Any]) -> bool:
    return evaluate(shodan(query), banner) is not None


HTTP_DATA = "HTTP/1.1 200 OK\r\nServer: nginx\r\nX-Havoc: true\r\nContent-Type: text/html\r\n\r\n"

BANNER: dict[str, Any] = {
    "ip_str": "203.0.113.7",
    "port": 443,
    "transport": "tcp",
    "data": HTTP_DATA,
    "hash": mmh3.hash(HTTP_DATA),
    "timestamp": "2026-03-01T12:00:00.000000",
    "hostnames": ["c2.evil.example", "mail.example.org"],
    "domains": ["evil.example"],
    "org": "DigitalOcean, LLC",
    "isp": "DigitalOcean, LLC",
    "asn": "AS14061",
    "os": None,
    "product": "Cobalt Strike Beacon",
    "version": 47,
    "cpe23": ["cpe:2.3:a:f5:nginx:1.18"],
    "tags": ["cloud", "self-signed"],
    "vulns": {"CVE-2021-44228": {"verified": False}},
    "location": {"country_code": "NL", "city": "Amsterdam", "region_code": "NH"},
    "_shodan": {"module": "https", "id": None},
    "http": {
        "status": 404,
        "title": "Welcome &mdash; Hookbot Panel",
        "html": "<html><body>Sliver C2 team-server ready</body></html>",
        "html_hash": -1957161625,
        "headers_hash": 926009531,
        "title_hash": 758560121,
        "server": "nginx",
        "server_hash": -1340961475,
        "components": {"Blazor": {"categories": ["Web frameworks"]}, "jQuery": {}},
        "favicon": {"hash": -127886975, "data": "aGk=\n", "location": "/favicon.ico"},
    },
    "ssl": {
        "cert": {
            "serial": 146473198,
            "subject": {"CN": "Major Cobalt Strike", "O": "cobaltstrike"},
            "issuer": {"CN": "foren.zik", "O": "MetasploitSelfSignedCA"},
            "fingerprint": {"sha1": "ab" * 20, "sha256": "cd" * 32},
            "extensions": [{"name": "subjectAltName", "data": "0\x0b\x82\tlocalhost"}],
            "sig_alg": "sha256WithRSAEncryption",
            "pubkey": {"type": "rsa", "bits": 2048},
            "expired": True,
        },
        "cipher": {"version": "TLSv1.2", "bits": 256, "name": "ECDHE-RSA-AES256-GCM-SHA384"},
        "versions": ["TLSv1.2", "-SSLv3"],
        "chain": ["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"],
        "jarm": "07d14d16d21d21d07c42d41d00041d24a458a375eef0c576d23a7bab9a9fb1",
        "ja3s": "EC74A5C51106F0419184D0DD08FB05BC",
        "alpn": ["h2"],
    },
    "ssh": {"hassh": "b12d2871a1189eff20364cf5333619ee", "type": "ssh-rsa"},
    "cloud": {"provider": "DigitalOcean", "region": "nl-ams", "service": None},
    "screenshot": {"labels": ["login"]},
}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("port:443", True),
        ("port:22,443", True),
        ("port:22,80", False),
        ("hash:" + str(mmh3.hash(HTTP_DATA)), True),
        ("hash:1", False),
        ("net:203.0.113.0/24", True),
        ("ip:203.0.113.7", True),
        ("net:198.51.100.0/24", False),
        ("asn:as14061", True),
        ("asn:AS1", False),
        ("org:digitalocean", True),
        ("org:'Digital Ocean'", False),
        ("product:'cobalt strike beacon'", True),
        ("product:'Cobalt Strike'", True),
        ("product:Beacons", False),
        ("version:47", True),
        ("country:nl", True),
        ("country:DE", False),
        ("city:amsterdam", True),
        ("hostname:evil.example", True),
        ("hostname:c2.evil.example", True),
        ("hostname:vil.example", False),
        ("domain:EVIL.example", True),
        ("tag:cloud", True),
        ("tag:honeypot", False),
        ("vuln:cve-2021-44228", True),
        ("cpe:cpe:2.3:a:f5:nginx", True),
        ("cpe:cpe:2.3:a:apache", False),
        ("shodan.module:https", True),
        ("has_ssl:true", True),
        ("has_ssl:false", False),
        ("has_ipv6:false", True),
        ("has_vuln:true", True),
        ("has_screenshot:true", True),
        ("after:01/02/2026", True),
        ("before:01/02/2026", False),
        ("http.status:404", True),
        ("http.status:200", False),
        ("http.title:'hookbot panel'", True),
        ("http.title:'Hookbot - Panel'", True),
        ("title:mdash", True),
        ("http.html:'team-server ready'", True),
        ("html:sliver", True),
        ("http.html:ready-team", False),
        ("http.component:blazor", True),
        ("http.component:Angular", False),
        ("http.component_category:'web frameworks'", True),
        ("http.html_hash:-1957161625", True),
        ("http.headers_hash:926009531", True),
        ("http.title_hash:758560121", True),
        ("http.server_hash:-1340961475", True),
        ("http.favicon.hash:-127886975", True),
        ("http.favicon.hash:1,-127886975", True),
        ("http.favicon.hash:127886975", False),
        ("ssl:foren.zik", True),
        ("ssl:MetasploitSelfSignedCA", True),
        ("ssl:localhost", True),
        ("ssl:146473198", True),
        ("ssl:8bb00ee", True),
        ("ssl:Pantegana", False),
        ("ssl.cert.serial:146473198", True),
        ("ssl.cert.serial:0x8BB00EE", True),
        ("ssl.cert.serial:8bb00ee", True),
        ("ssl.cert.serial:146473199", False),
        ("ssl.cert.issuer.cn:foren.zik", True),
        ("ssl.cert.subject.cn:'major cobalt strike'", True),
        ("ssl.cert.subject.cn:foren", False),
        ("ssl.cert.fingerprint:" + "AB" * 20, True),
        ("ssl.cert.fingerprint:" + "cd" * 32, True),
        ("ssl.cert.alg:sha256withrsaencryption", True),
        ("ssl.cert.pubkey.bits:2048", True),
        ("ssl.cert.pubkey.type:rsa", True),
        ("ssl.cert.expired:true", True),
        ("ssl.cert.extension:subjectaltname", True),
        ("ssl.version:tlsv1.2", True),
        ("ssl.version:sslv3", False),
        ("ssl.cipher.name:ECDHE-RSA-AES256-GCM-SHA384", True),
        ("ssl.cipher.bits:256", True),
        ("ssl.alpn:h2", True),
        ("ssl.chain_count:1", True),
        ("ssl.chain_count:2", False),
        ("ssl.jarm:07D14D16D21D21D07C42D41D00041D24A458A375EEF0C576D23A7BAB9A9FB1", True),
        ("ssl.ja3s:ec74a5c51106f0419184d0dd08fb05bc", True),
        ("ssh.hassh:b12d2871a1189eff20364cf5333619ee", True),
        ("ssh.type:ssh-rsa", True),
        ("cloud.provider:digitalocean", True),
        ("cloud.region:nl-ams", True),
        ("cloud.service:anything", False),
        ("screenshot.label:login", True),
        ("nosuchfilter:x", False),
    ],
)
def test_filter_semantics(query: str, expected: bool) -> None:
    assert matches(query, BANNER) is expected


def test_free_text_searches_data_only() -> None:
    assert matches("nginx", BANNER)
    assert matches('"Content-Type: text/html"', BANNER)
    # Present in http.html and ssl but not in data: free text does not see them.
    assert not matches("Sliver", BANNER)
    assert not matches("localhost", BANNER)


def test_unknown_name_with_colon_is_free_text() -> None:
    # shodan.md §4.3: "X-Havoc: true" is free text, not a filter.
    assert matches("X-Havoc: true", BANNER)
    assert not matches("X-Havoc: false", BANNER)


def test_negation_of_phrase_and_filter() -> None:
    assert not matches('-"Server:"', BANNER)
    assert matches('-"Server: apache"', BANNER)
    assert matches("port:443 -hash:0", BANNER)
    assert not matches("port:443 -tag:cloud", BANNER)


def test_terms_are_anded() -> None:
    assert matches("port:443 ssl:foren.zik product:Cobalt", BANNER)
    assert not matches("port:443 ssl:foren.zik product:Sliver", BANNER)


def test_evidence_names_the_fields_and_values() -> None:
    evidence = evaluate(shodan("ssl.cert.serial:146473198 port:443"), BANNER)
    assert evidence == {"ssl.cert.serial": 146473198, "port": 443}
    evidence = evaluate(shodan("product:'Cobalt Strike Beacon'"), BANNER)
    assert evidence == {"product": "Cobalt Strike Beacon"}
    evidence = evaluate(shodan("port:22,80,443"), BANNER)
    assert evidence == {"port": 443}
    evidence = evaluate(shodan("nginx"), BANNER)
    assert evidence == {"data": HTTP_DATA}


def test_evidence_excludes_negated_conditions() -> None:
    evidence = evaluate(shodan("port:443 -product:Sliver"), BANNER)
    assert evidence == {"port": 443}


def test_long_evidence_is_an_excerpt_around_the_hit() -> None:
    body = "x" * 5000 + " beacon-config " + "y" * 5000
    banner = {"ip_str": "192.0.2.1", "port": 80, "data": "", "http": {"html": body}}
    evidence = evaluate(shodan("http.html:beacon-config"), banner)
    assert evidence is not None
    snippet = evidence["http.html"]
    assert "beacon-config" in snippet
    assert len(snippet) <= ev.EVIDENCE_MAX_CHARS + 2
    assert snippet.startswith("…") and snippet.endswith("…")


# --- the named decisions ------------------------------------------------------------------


def test_decision_shodan_text_reading_is_tokens() -> None:
    assert f.SHODAN_TEXT_READING is f.TextReading.TOKENS
    banner = {"ip_str": "192.0.2.1", "port": 80, "data": "", "product": "Metasploitable"}
    assert not matches("product:Metasploit", banner)
    banner["product"] = "Metasploit"
    assert matches("product:metasploit", banner)


@pytest.mark.parametrize(
    ("phrase", "text", "tokens", "substring"),
    [
        # The readings agree on the C2 Tracker shapes: a label, a dotted name, a title.
        ("Cobalt Strike Beacon", "Cobalt Strike Beacon", True, True),
        ("foren.zik", "CN=foren.zik, O=x", True, True),
        ("Vshell - 登录", "Vshell - 登录", True, True),
        ("layui", "<script src=/layui/layui.js>", True, True),
        # They differ on partial words and on punctuation between words.
        ("Metasploit", "Metasploitable 2", False, True),
        ("team server", "team-server", True, False),
        ("strike", "cobaltstrike", False, True),
        # No alphanumerics: the token reading falls back to a substring.
        ("<>", "a <> b", True, True),
    ],
)
def test_both_text_readings_on_fixtures(
    phrase: str, text: str, tokens: bool, substring: bool
) -> None:
    assert f.text_matches(phrase, text, f.TextReading.TOKENS) is tokens
    assert f.text_matches(phrase, text, f.TextReading.SUBSTRING) is substring


def test_decision_text_is_case_insensitive_numbers_exact() -> None:
    assert matches("http.title:'HOOKBOT PANEL'", BANNER)
    assert matches("ssl.jarm:" + BANNER["ssl"]["jarm"].upper(), BANNER)
    assert not matches("http.status:4040", BANNER)


def test_decision_empty_banner_hashes_to_zero() -> None:
    assert f.EMPTY_BANNER_HASH == 0
    empty = {"ip_str": "192.0.2.1", "port": 23, "data": ""}
    no_data = {"ip_str": "192.0.2.1", "port": 23}
    assert matches("hash:0", empty)
    assert matches("hash:0", no_data)
    assert not matches("port:23 -hash:0", empty)
    # A banner with data but no stored hash gets the hash Shodan would compute.
    computed = {"ip_str": "192.0.2.1", "port": 23, "data": "SOMETHING"}
    assert matches("hash:-82460412", computed)
    assert not matches("hash:0", computed)


def test_decision_missing_fields_never_match_but_their_negation_does() -> None:
    assert ev.NOT_OF_MISSING_IS_TRUE is True
    bare = {"ip_str": "192.0.2.1", "port": 80, "data": "hello"}
    for query in ("http.title:x", "ssl:x", "product:x", "ssl.cert.serial:1", "tag:x"):
        assert not matches(query, bare), query
        assert matches("-" + query, bare), query


def test_decision_unknown_filter_never_matches() -> None:
    assert ev.UNKNOWN_SHODAN_FILTER_MATCHES is False
    tree = Query(Engine.SHODAN, "x", Field("http", Op.MATCH, Text("nginx")))
    assert evaluate(tree, BANNER) is None


def test_decision_serial_strings_in_banners() -> None:
    banner = {"ip_str": "192.0.2.1", "port": 443, "data": "", "ssl": {"cert": {}}}
    for stored in ("8BB00EE", "0x8bb00ee", "08:bb:00:ee"):
        banner["ssl"]["cert"]["serial"] = stored
        assert matches("ssl.cert.serial:146473198", banner), stored
    # Digits only: decimal or hex? Ambiguous, so it never matches either reading.
    banner["ssl"]["cert"]["serial"] = "146473198"
    assert not matches("ssl.cert.serial:146473198", banner)
    assert not matches("ssl.cert.serial:0x146473198", banner)
    # A float (what a 64-bit-limited JSON parser makes of a huge serial) never matches.
    banner["ssl"]["cert"]["serial"] = 146473198.0
    assert not matches("ssl.cert.serial:146473198", banner)


def test_serial_beyond_64_bits() -> None:
    serial = 309605225371369031172612128943112984376251
    banner = {"ip_str": "192.0.2.1", "port": 443, "data": "", "ssl": {"cert": {"serial": serial}}}
    assert matches(f"ssl.cert.serial:{serial}", banner)
    assert matches(f"ssl.cert.serial:{serial:#x}", banner)


def test_decision_hostname_matches_name_and_names_below() -> None:
    assert f.hostname_matches("example.com", "www.EXAMPLE.com.")
    assert not f.hostname_matches("example.com", "badexample.com")


def test_full_text_node_built_by_hand() -> None:
    tree = Query(Engine.SHODAN, "x", FullText(Text("Server: nginx")))
    assert evaluate(tree, BANNER) == {"data": HTTP_DATA}
