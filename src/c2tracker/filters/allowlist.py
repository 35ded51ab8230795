"""The operator allowlist: addresses, networks and autonomous systems never to publish.

An entry is an IP (``198.51.100.7``), a CIDR (``198.51.100.0/24``; host bits are cleared, so
``198.51.100.7/24`` means the /24) or an ASN (``AS13335``; ``as13335`` is accepted). Matching
indicators keep their history and stay queryable with status ``allowlisted``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from c2tracker.errors import StoreError
from c2tracker.store.values import normalize_ip

_ASN = re.compile(r"^(?:AS)?(\d{1,10})$", re.IGNORECASE)
_ASN_MAX = 4_294_967_295  # ASNs are 32-bit (RFC 6793)


@dataclass(frozen=True, slots=True)
class AllowValue:
    """A parsed allowlist value; ``kind`` is ``ip``, ``cidr`` or ``asn``."""

    kind: str
    value: str


def parse_allow_value(text: str) -> AllowValue:
    """Reads an allowlist value the operator typed.

    Raises:
        StoreError: the text is neither an IP, a CIDR nor an ASN.
    """
    raw = text.strip()
    if "/" in raw:
        try:
            network = ipaddress.ip_network(raw, strict=False)
        except ValueError as exc:
            raise StoreError(f"not a usable CIDR {raw!r}: {exc}") from None
        return AllowValue("cidr", str(network))
    if raw[:2].upper() == "AS":
        asn = normalize_asn(raw)
        if asn is None:
            raise StoreError(
                f"not a usable ASN {raw!r}: expected AS followed by a number up to {_ASN_MAX}"
            )
        return AllowValue("asn", asn)
    try:
        return AllowValue("ip", normalize_ip(raw))
    except StoreError as exc:
        raise StoreError(
            f"not an IP, CIDR (a.b.c.d/n) or ASN (AS123) {raw!r}: {exc.message}"
        ) from None


def normalize_asn(value: str | int | None) -> str | None:
    """``AS<digits>`` for an ASN given as ``13335``, ``as13335`` or ``AS13335``; else None."""
    if value is None:
        return None
    match = _ASN.match(str(value).strip())
    if match is None:
        return None

    number = int(match.group(1))
    return f"AS{number}" if number <= _ASN_MAX else None


@dataclass(frozen=True, slots=True)
class AllowRule:
    kind: str
    value: str
    reason: str


class AllowMatcher:
    """Answers "is this IP (with this ASN) allowlisted, and why" for a set of entries."""

    def __init__(self, entries: Iterable[AllowRule]) -> None:
        self._ips: dict[str, AllowRule] = {}
        self._asns: dict[str, AllowRule] = {}
        self._networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, AllowRule]] = []
        for entry in entries:
            if entry.kind == "ip":
                self._ips[entry.value] = entry
            elif entry.kind == "asn":
                self._asns[entry.value] = entry
            else:
                self._networks.append((ipaddress.ip_network(entry.value), entry))

    def __bool__(self) -> bool:
        return bool(self._ips or self._asns or self._networks)

    def match(self, ip: str, asn: str | None = None) -> AllowRule | None:
        """The entry that covers ``ip`` (already normalised) or its ASN, if any."""
        if ip in self._ips:
            return self._ips[ip]
        if asn is not None and asn in self._asns:
            return self._asns[asn]
        if self._networks:
            address = ipaddress.ip_address(ip)
            for network, entry in self._networks:
                if address.version == network.version and address in network:
                    return entry
        return None

    @staticmethod
    def describe(entry: AllowRule) -> str:
        return f"allowlisted ({entry.kind} {entry.value}): {entry.reason}"
