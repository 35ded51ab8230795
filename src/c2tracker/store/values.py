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

from c2tracker.errors import StoreError

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
