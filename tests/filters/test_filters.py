"""Bogons, allowlist values and honeypot grouping."""

from __future__ import annotations

import ipaddress

import pytest

from c2tracker.errors import StoreError
from c2tracker.filters.allowlist import AllowMatcher, AllowRule, parse_allow_value
from c2tracker.filters.bogons import bogon_reason
from c2tracker.filters.honeypots import independent_groups, judge
from c2tracker.store.rulemeta import family_keys
from store.helpers import CS, GOPHISH, HAVOC, MSF, SLIVER, VIPER


@pytest.mark.parametrize(
    ("ip", "why"),
    [
        ("10.1.2.3", "RFC 1918"),
        ("172.31.255.255", "RFC 1918"),
        ("192.168.0.1", "RFC 1918"),
        ("100.64.0.1", "CGNAT"),
        ("127.0.0.1", "loopback"),
        ("169.254.1.1", "link-local"),
        ("192.0.2.10", "TEST-NET-1"),
        ("198.51.100.7", "TEST-NET-2"),
        ("203.0.113.5", "TEST-NET-3"),
        ("224.0.0.1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("0.1.2.3", "this network"),
        ("198.19.0.1", "benchmarking"),
        ("::1", "outside IPv6 global unicast"),
        ("fe80::1", "outside IPv6 global unicast"),
        ("fd00::1", "outside IPv6 global unicast"),
        ("2001:db8::1", "documentation"),
    ],
)
def test_bogons_are_named(ip: str, why: str) -> None:
    reason = bogon_reason(ipaddress.ip_address(ip))
    assert reason is not None and why in reason


@pytest.mark.parametrize("ip", ["8.8.8.8", "45.1.2.3", "100.128.0.1", "2a01:4f8::1", "1.1.1.1"])
def test_routable_addresses_pass(ip: str) -> None:
    assert bogon_reason(ipaddress.ip_address(ip)) is None


def test_allow_values() -> None:
    assert parse_allow_value(" 45.1.2.3 ").kind == "ip"
    assert parse_allow_value("45.1.2.7/24").value == "45.1.2.0/24"
    assert parse_allow_value("as13335").value == "AS13335"
    assert parse_allow_value("::ffff:45.1.2.3").value == "45.1.2.3"
    assert parse_allow_value("AS4294967295").value == "AS4294967295"
    for bad in ("example.com", "AS12x", "45.1.2.3/40", "010.1.1.1"):
        with pytest.raises(StoreError):
            parse_allow_value(bad)
    with pytest.raises(StoreError, match="'AS4294967296': expected AS followed by a number up to"):
        parse_allow_value("AS4294967296")


def test_allow_matcher() -> None:
    matcher = AllowMatcher([AllowRule("cidr", "45.1.2.0/24", "r1"), AllowRule("asn", "AS1", "r2")])
    assert matcher.match("45.1.2.200") is not None
    assert matcher.match("45.1.3.1") is None
    assert matcher.match("9.9.9.9", "AS1") is not None
    assert matcher.match("2a01::1") is None


def _keys(*rules):  # type: ignore[no-untyped-def]
    return {rule.id: family_keys(rule) for rule in rules}


def test_known_shared_hosts_count_as_one_family() -> None:
    keys = _keys(MSF, VIPER, CS, SLIVER)
    assert independent_groups(["metasploit", "viper", "cobalt-strike"], keys) == [
        ["cobalt-strike", "metasploit", "viper"]
    ]
    verdict = judge(["metasploit", "viper", "cobalt-strike"], keys, min_families=3)
    assert not verdict.is_honeypot and verdict.groups == 1


def test_three_unrelated_families_make_a_honeypot() -> None:
    keys = _keys(CS, SLIVER, HAVOC, GOPHISH)
    verdict = judge(["cobalt-strike", "sliver", "havoc"], keys, min_families=3)
    assert verdict.is_honeypot and "3 unrelated families" in (verdict.reason or "")
    assert not judge(["cobalt-strike", "sliver"], keys, min_families=3).is_honeypot
    assert not judge(["cobalt-strike", "sliver", "havoc"], keys, min_families=4).is_honeypot


def test_aliases_are_one_family() -> None:
    from c2tracker.store.rulemeta import SimpleRule

    orcus = SimpleRule("orcus-rat", "Orcus RAT", aliases=("Orcus RAT Trojan",))
    orcus_old = SimpleRule("orcus-rat-trojan", "Orcus RAT Trojan")
    groups = independent_groups(["orcus-rat", "orcus-rat-trojan"], _keys(orcus, orcus_old))
    assert len(groups) == 1


def test_engine_honeypot_tag() -> None:
    verdict = judge(["sliver"], _keys(SLIVER), min_families=3, tagged_by=["shodan"])
    assert verdict.is_honeypot and "tagged 'honeypot' by shodan" in (verdict.reason or "")
