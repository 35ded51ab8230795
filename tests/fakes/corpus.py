"""Record corpora for the fakes: Shodan banners, Platform hosts and legacy v2 hosts.

Each family gets ``n`` records that its query matches; ordinary web servers fill the rest. The
shapes follow shodan.md §2 and censys.md §3 closely enough for the offline engine, which is
all the fakes need.
"""

from __future__ import annotations

import ipaddress
from typing import Any

#: Families of the fault tests: (rule id, name, Shodan product, Censys product, how many).
FAMILIES = (
    ("alpha-c2", "Alpha C2", "Alpha Beacon", "Alpha", 250),
    ("bravo-rat", "Bravo RAT", "Bravo Panel", "Bravo", 30),
    ("charlie-loader", "Charlie Loader", "Charlie Gate", "Charlie", 120),
    ("delta-stealer", "Delta Stealer", "Delta Panel", "Delta", 0),
)


def shodan_query(product: str) -> str:
    return f'product:"{product}"'


def censys_query(product: str) -> str:
    return f'host.services.software.product="{product}"'


def legacy_query(product: str) -> str:
    return f"services.software.product=`{product}`"


def _ip(n: int, base: str = "45.0.0.0") -> str:
    return str(ipaddress.IPv4Address(base) + n)


def shodan_banner(ip: str, product: str | None, port: int = 443) -> dict[str, Any]:
    banner: dict[str, Any] = {
        "ip": int(ipaddress.IPv4Address(ip)),
        "ip_str": ip,
        "port": port,
        "transport": "tcp",
        "timestamp": "2026-03-01T12:00:00.000000",
        "hostnames": [],
        "domains": [],
        "org": "Example Hosting",
        "asn": "AS64500",
        "location": {"country_code": "NL"},
        "data": "HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n",
        "opts": {"raw": "00"},
        "_shodan": {"module": "https", "id": None},
    }
    if product:
        banner["product"] = product
    return banner


def shodan_corpus(
    families: tuple[tuple[str, str, str, str, int], ...] = FAMILIES,
) -> list[dict[str, Any]]:
    records = []
    n = 0
    for _, _, product, _, count in families:
        for _ in range(count):
            n += 1
            records.append(shodan_banner(_ip(n), product))
    for _ in range(50):
        n += 1
        records.append(shodan_banner(_ip(n), "nginx", 80))
    return records


def censys_host(ip: str, product: str, port: int = 443) -> dict[str, Any]:
    return {
        "ip": ip,
        "autonomous_system": {"asn": 64500, "name": "EXAMPLE-AS"},
        "location": {"country_code": "DE"},
        "last_updated_at": "2026-03-01T12:00:00Z",
        "services": [
            {
                "port": port,
                "protocol": "HTTP",
                "transport_protocol": "tcp",
                "software": [{"product": product, "vendor": product}],
                "scan_time": "2026-03-01T11:00:00Z",
            },
            {"port": 22, "protocol": "SSH", "transport_protocol": "tcp", "software": []},
        ],
    }


def legacy_host(ip: str, product: str, port: int = 443) -> dict[str, Any]:
    return {
        "ip": ip,
        "autonomous_system": {"asn": 64500, "name": "EXAMPLE-AS", "country_code": "DE"},
        "location": {"country_code": "DE"},
        "last_updated_at": "2026-03-01T12:00:00.000Z",
        "services": [
            {
                "port": port,
                "service_name": "HTTP",
                "extended_service_name": "HTTPS",
                "transport_protocol": "TCP",
                "software": [{"product": product, "vendor": product}],
            }
        ],
    }


def censys_corpus(legacy: bool = False) -> list[dict[str, Any]]:
    make = legacy_host if legacy else censys_host
    records = []
    n = 0
    for _, _, _, product, count in FAMILIES:
        for _ in range(count):
            n += 1
            records.append(make(_ip(n, "81.0.0.0"), product))
    for _ in range(20):
        n += 1
        records.append(make(_ip(n, "81.0.0.0"), "nginx", 80))
    return records
