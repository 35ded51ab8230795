"""Normalising the values an observation carries before they are stored.

Addresses are written in ``ipaddress``'s compressed form, so one host always has one spelling:
IPv6 is lower-cased and zero-compressed, and an IPv4-mapped IPv6 address (``::ffff:1.2.3.4``) is
unwrapped to its IPv4 address, because engines report dual-stack listeners both ways.

Refused, with the reason in a :class:`StoreError`:

- IPv4 text with a leading zero in an octet (``010.1.1.1``). Such text is ambiguous: the C
  library's ``inet_aton`` reads ``010`` as octal 8, most people read it as decimal 10, and
  Python refuses it. Guessing would publish the wrong host, so the store refuses it instead.
- Anything else ``ipaddress`` does not accept (CIDR suffixes, hostnames, blanks).
- Ports outside 0–65535.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from functools import lru_cache

from c2tracker.errors import StoreError
from c2tracker.filters.bogons import bogon_reason, ipv4_bogon_reason

_LEADING_ZERO = re.compile(r"(?:^|\.)0\d")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(text: str) -> Address:
    """The address ``text`` names, IPv4-mapped IPv6 unwrapped.

    Raises:
        StoreError: the text is not one unambiguous IP address.
    """
    raw = text.strip() if isinstance(text, str) else str(text)
    if not raw:
        raise StoreError("empty IP address")
    if "." in raw and ":" not in raw and _LEADING_ZERO.search(raw):
        raise StoreError(
            f"refused IP {raw!r}: an octet has a leading zero, which some software reads as "
            "octal (010 = 8) and some as decimal; write it without leading zeros"
        )
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        raise StoreError(f"refused IP {raw!r}: not an IPv4 or IPv6 address") from None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            raise StoreError(f"refused IP {raw!r}: a scoped (zone) address is not routable")
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
    return address


def normalize_ip(text: str) -> str:
    """The canonical text of the address ``text`` names (see the module docstring)."""
    return parse_ip(text).compressed


def normalize_port(port: int | str | None) -> int | None:
    """``port`` as an int in 0–65535, or None when absent.

    Raises:
        StoreError: not an integer, or out of range.
    """
    if port is None:
        return None
    if isinstance(port, bool):
        raise StoreError(f"refused port {port!r}: not a number")
    try:
        value = int(port)
    except (TypeError, ValueError):
        raise StoreError(f"refused port {port!r}: not a number") from None
    if not 0 <= value <= 65535:
        raise StoreError(f"refused port {value}: outside 0-65535")
    return value


@lru_cache(maxsize=1 << 20)
def classify_ip(text: str) -> tuple[str, str | None]:
    """(canonical address text, why the store drops it or None), for every observation stored.

    A refused address keeps its text (cut to 64 characters) and the refusal as the reason.
    Canonical dotted quads, nearly every address a run sees, are checked without building an
    ``ipaddress`` object: that is most of the cost of a million-observation run's new addresses.
    Cached, as runs repeat addresses a lot.
    """
    value = _canonical_ipv4(text)
    if value is not None:
        return text, ipv4_bogon_reason(value, text)
    try:
        address = parse_ip(text)
    except StoreError as exc:
        return str(text)[:64], exc.message
    return address.compressed, bogon_reason(address)


def _canonical_ipv4(text: str) -> int | None:
    """The integer of ``text`` when it is a dotted quad written exactly as ``ipaddress`` writes
    it (four decimal octets 0-255, no leading zero); None for anything else.

    ``inet_pton`` (POSIX: exactly ``ddd.ddd.ddd.ddd``, no octal, hex or short forms) does the
    parsing in C; leading zeros, which some C libraries accept, are refused by the regex.
    """
    try:
        packed = socket.inet_pton(socket.AF_INET, text)
    except (OSError, TypeError, ValueError):
        return None
    if _LEADING_ZERO.search(text):
        return None
    return int.from_bytes(packed, "big")


def column_text(value: str | None) -> str | None:
    """Text from outside (scan data, API error bodies) as a text column of the store holds it:
    NUL characters, which PostgreSQL text cannot hold, become U+FFFD. Without this a hostile
    banner's organisation failed a whole finish, and an error body a whole collect. The
    observations keep scan text as seen, escaped in their JSON."""
    if value and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value
