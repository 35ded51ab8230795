"""Addresses that cannot be a C2 server on the internet: private, reserved, special-purpose.

Why a hand-written table rather than ``ipaddress``'s ``is_private``/``is_global``: the store
must record *which* range dropped an address, and the meaning of those properties has changed
between Python releases (3.11.10 and 3.12.4 moved several ranges). The ranges come from the
IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and successors) plus the
RFC 6598 shared (CGNAT) space and the RFC 9637 IPv6 documentation prefix. Documentation ranges
(192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32, 3fff::/20) are bogons too: no
real server answers there, so a hit is a test fixture or a forged banner.

For IPv6, anything outside global unicast ``2000::/3`` is a bogon (that covers unspecified,
loopback, unique-local, link-local, multicast and the discard prefix in one rule).

Lookups are a binary search over integer ranges, since the store checks every address of a
million-observation run.
"""

from __future__ import annotations

import bisect
import ipaddress
from typing import NamedTuple

_IPV4_BOGONS: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "'this network' (RFC 791)"),
    ("10.0.0.0/8", "private network (RFC 1918)"),
    ("100.64.0.0/10", "shared address space / CGNAT (RFC 6598)"),
    ("127.0.0.0/8", "loopback (RFC 1122)"),
    ("169.254.0.0/16", "link-local (RFC 3927)"),
    ("172.16.0.0/12", "private network (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    ("192.0.2.0/24", "documentation TEST-NET-1 (RFC 5737)"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)"),
    ("192.168.0.0/16", "private network (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("198.51.100.0/24", "documentation TEST-NET-2 (RFC 5737)"),
    ("203.0.113.0/24", "documentation TEST-NET-3 (RFC 5737)"),
    ("224.0.0.0/4", "multicast (RFC 5771)"),
    ("240.0.0.0/4", "reserved, including broadcast (RFC 1112, RFC 919)"),
)

_IPV6_BOGONS: tuple[tuple[str, str], ...] = (
    ("2001:2::/48", "benchmarking (RFC 5180)"),
    ("2001:10::/28", "deprecated ORCHID (RFC 4843)"),
    ("2001:db8::/32", "documentation (RFC 3849)"),
    ("3fff::/20", "documentation (RFC 9637)"),
)

_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")


class _Range(NamedTuple):
    first: int
    last: int
    reason: str


def _ranges(table: tuple[tuple[str, str], ...]) -> list[_Range]:
    ranges = []
    for cidr, reason in table:
        network = ipaddress.ip_network(cidr)
        ranges.append(_Range(int(network.network_address), int(network.broadcast_address), reason))
    return sorted(ranges)


_V4 = _ranges(_IPV4_BOGONS)
_V6 = _ranges(_IPV6_BOGONS)
_V4_FIRSTS = [r.first for r in _V4]
_V6_FIRSTS = [r.first for r in _V6]


def bogon_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why ``address`` is not a routable internet address, or None when it is one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address not in _GLOBAL_UNICAST_V6:
            return f"bogon: {address} is outside IPv6 global unicast 2000::/3"
        return _lookup(_V6, _V6_FIRSTS, int(address), str(address))
    return _lookup(_V4, _V4_FIRSTS, int(address), str(address))


def ipv4_bogon_reason(value: int, text: str) -> str | None:
    """:func:`bogon_reason` for an IPv4 address given as its integer and canonical text (the
    store's fast path, which parses dotted quads without building an ``IPv4Address``)."""
    return _lookup(_V4, _V4_FIRSTS, value, text)


def _lookup(ranges: list[_Range], firsts: list[int], value: int, text: str) -> str | None:
    index = bisect.bisect_right(firsts, value) - 1
    if index >= 0 and ranges[index].last >= value:
        return f"bogon: {text} is {ranges[index].reason}"
    return None
