"""Generate realistic sample scan data: the bundled sample and test corpora.

``python -m c2tracker.scandata.samples --out DIR [--seed N] [--size N]`` writes three gzip JSON
Lines files, each mixing Shodan banners, Censys Platform hosts and legacy Censys hosts (the
readers detect the engine per record):

- ``positives.json.gz`` — for every rule, each ``expect: match`` test record wrapped into a full
  record: real-looking HTTP headers and bodies, TLS certificates built with ``cryptography``
  whose subject, issuer and serial are the ones the rule pins, Shodan hashes computed by
  :mod:`c2tracker.matching.fingerprints`, location, ASN and organisation, timestamps spread over
  the weeks before ``--anchor``. Each wrapped record is checked with the
  :class:`~c2tracker.matching.Matcher`; when the extra realism breaks the match, the rule's own
  test record (with a public IP and a timestamp) is used instead.
- ``benign.json.gz`` — look-alikes that must match no rule: default nginx, Apache and IIS pages,
  cloud and appliance login pages, default 404s, Java and Go TLS stacks, self-signed and
  Let's Encrypt certificates.
- ``honeypots.json.gz`` — hosts that answer as many families at once (one IP, many ports, each
  matching a different rule), some tagged ``honeypot`` as Shodan does.

Everything is derived from one ``random.Random(seed)``, including the TLS keys, so a seed and an
anchor date give byte-identical files. Addresses are drawn from globally routable IPv4 space
(no private, reserved, documentation or multicast ranges) and avoid well-known resolver and CDN
blocks; they are synthetic and do not describe the real hosts behind them.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import hashlib
import ipaddress
import json
import math
import random
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from c2tracker.filters.bogons import bogon_reason
from c2tracker.matching.fingerprints import (
    banner_hash,
    favicon_hash,
    headers_hash,
    html_hash,
    server_hash,
    title_hash,
)
from c2tracker.matching.normalise import (
    HttpResponse,
    banner_from_response,
    html_title,
    parse_http_response,
)
from c2tracker.querylang.ast import Engine

__all__ = [
    "DEFAULT_ANCHOR",
    "LOOK_ALIKES",
    "LookAlike",
    "SampleSet",
    "generate",
    "main",
    "write_sample",
]

DEFAULT_ANCHOR = datetime(2026, 11, 30, tzinfo=UTC)
"""The newest timestamp in a generated sample (records spread over the 6 weeks before it)."""

SPREAD = timedelta(weeks=6)
TLS_PORTS = frozenset({443, 8443, 4443, 9443, 10443, 50050, 2222, 3333, 7443, 60000})

# Blocks an address must never come from even though they are globally routable: public DNS
# resolvers and CDN anycast ranges, whose owners everyone would recognise.
_AVOID = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "1.0.0.0/24",
        "1.1.1.0/24",
        "8.8.4.0/24",
        "8.8.8.0/24",
        "9.9.9.0/24",
        "149.112.112.0/24",
        "208.67.222.0/24",
        "208.67.220.0/24",
        "4.2.2.0/24",
        "64.6.64.0/24",
        "104.16.0.0/12",
        "172.64.0.0/13",
        "151.101.0.0/16",
        "13.32.0.0/15",
        "23.0.0.0/12",
    )
)


@dataclass(frozen=True, slots=True)
class Network:
    """Where a generated host lives: an AS, its organisation and a place."""

    asn: int
    org: str
    isp: str
    country_code: str
    country_name: str
    city: str
    continent: str
    latitude: float
    longitude: float
    timezone: str
    cloud: str | None = None


NETWORKS = (
    Network(14061, "DigitalOcean, LLC", "DigitalOcean, LLC", "NL", "Netherlands", "Amsterdam",
            "Europe", 52.37403, 4.88969, "Europe/Amsterdam", "DigitalOcean"),
    Network(14061, "DigitalOcean, LLC", "DigitalOcean, LLC", "US", "United States", "Clifton",
            "North America", 40.8584, -74.16376, "America/New_York", "DigitalOcean"),
    Network(20473, "The Constant Company, LLC", "Vultr Holdings, LLC", "US", "United States",
            "Piscataway", "North America", 40.49927, -74.39904, "America/New_York", "Vultr"),
    Network(16276, "OVH SAS", "OVH SAS", "FR", "France", "Gravelines", "Europe", 50.98651,
            2.12807, "Europe/Paris", None),
    Network(24940, "Hetzner Online GmbH", "Hetzner Online GmbH", "DE", "Germany", "Falkenstein",
            "Europe", 50.47788, 12.37129, "Europe/Berlin", None),
    Network(24940, "Hetzner Online GmbH", "Hetzner Online GmbH", "FI", "Finland", "Helsinki",
            "Europe", 60.16952, 24.93545, "Europe/Helsinki", None),
    Network(63949, "Akamai Connected Cloud", "Linode", "SG", "Singapore", "Singapore", "Asia",
            1.28967, 103.85007, "Asia/Singapore", "Linode"),
    Network(45102, "Alibaba (US) Technology Co., Ltd.", "Alibaba.com LLC", "HK", "Hong Kong",
            "Hong Kong", "Asia", 22.27832, 114.17469, "Asia/Hong_Kong", "Alibaba"),
    Network(132203, "Tencent Building, Kejizhongyi Avenue", "Tencent cloud computing",
            "CN", "China", "Shanghai", "Asia", 31.22222, 121.45806, "Asia/Shanghai", "Tencent"),
    Network(16509, "Amazon Technologies Inc.", "Amazon.com, Inc.", "US", "United States",
            "Ashburn", "North America", 39.04372, -77.48749, "America/New_York", "Amazon"),
    Network(8075, "Microsoft Corporation", "Microsoft Corporation", "IE", "Ireland", "Dublin",
            "Europe", 53.33306, -6.24889, "Europe/Dublin", "Azure"),
    Network(9009, "M247 Europe SRL", "M247 Ltd", "RO", "Romania", "Bucharest", "Europe",
            44.43225, 26.10626, "Europe/Bucharest", None),
    Network(200019, "AlexHost SRL", "AlexHost SRL", "MD", "Moldova", "Chisinau", "Europe",
            47.00556, 28.8575, "Europe/Chisinau", None),
    Network(4134, "CHINANET-BACKBONE", "Chinanet", "CN", "China", "Beijing", "Asia",
            39.9075, 116.39723, "Asia/Shanghai", None),
    Network(7922, "Comcast Cable Communications, LLC", "Comcast Cable", "US",
            "United States", "Chicago", "North America", 41.85003, -87.65005,
            "America/Chicago", None),
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Deterministic keys and certificates


def _is_probable_prime(candidate: int, rng: random.Random, rounds: int = 12) -> bool:
    """Miller-Rabin. Written here because ``cryptography`` cannot derive RSA keys from a seed,
    and sample files must be reproducible byte for byte."""
    if candidate < 4:
        return candidate in (2, 3)
    if any(candidate % p == 0 for p in _SMALL_PRIMES):
        return candidate in _SMALL_PRIMES
    d, shift = candidate - 1, 0
    while d % 2 == 0:
        d //= 2
        shift += 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, candidate - 2), d, candidate)
        if x in (1, candidate - 1):
            continue
        for _ in range(shift - 1):
            x = pow(x, 2, candidate)
            if x == candidate - 1:
                break
        else:
            return False
    return True


_SMALL_PRIMES = [n for n in range(3, 2000, 2) if all(n % k for k in range(3, math.isqrt(n) + 1, 2))]


def _seeded_rsa_key(rng: random.Random, bits: int = 2048) -> rsa.RSAPrivateKey:
    exponent = 65537
    while True:
        primes: list[int] = []
        while len(primes) < 2:
            candidate = rng.getrandbits(bits // 2) | (3 << (bits // 2 - 2)) | 1
            if _is_probable_prime(candidate, rng):
                primes.append(candidate)
        p, q = primes
        phi = (p - 1) * (q - 1)
        if p != q and math.gcd(exponent, phi) == 1:
            break
    d = pow(exponent, -1, phi)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(exponent, p * q)
    )
    return numbers.private_key()


@dataclass(slots=True)
class _Keys:
    """A few RSA keys (slow to make) reused across certificates; EC keys made per use."""

    rng: random.Random
    rsa_pool: list[rsa.RSAPrivateKey] = field(default_factory=list)

    def rsa(self, index: int) -> rsa.RSAPrivateKey:
        while len(self.rsa_pool) < 2:
            self.rsa_pool.append(_seeded_rsa_key(self.rng))
        return self.rsa_pool[index % len(self.rsa_pool)]

    def ec(self, curve: ec.EllipticCurve) -> ec.EllipticCurvePrivateKey:
        return ec.derive_private_key(self.rng.getrandbits(200) + 1, curve)


_NAME_OIDS = {
    "CN": NameOID.COMMON_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "C": NameOID.COUNTRY_NAME,
    "L": NameOID.LOCALITY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "emailAddress": NameOID.EMAIL_ADDRESS,
}
_NAME_ORDER = ("C", "ST", "L", "O", "OU", "CN", "emailAddress")


def _x509_name(parts: Mapping[str, Any]) -> x509.Name:
    attributes = []
    for key in _NAME_ORDER:
        value = parts.get(key)
        if value is None:
            continue
        text = str(value)
        if key == "C" and len(text) != 2:
            continue  # cryptography insists on two letters; the rule value is kept by overlay
        attributes.append(x509.NameAttribute(_NAME_OIDS[key], text))
    return x509.Name(attributes)


@dataclass(frozen=True, slots=True)
class CertSpec:
    subject: Mapping[str, Any]
    issuer: Mapping[str, Any] | None = None
    """None: self-signed."""
    serial: int | None = None
    days: int = 365
    key: str = "ec256"
    """``ec256``, ``ec384`` or ``rsa``."""
    sans: tuple[str, ...] = ()
    sig: str = "sha256"


def make_certificate(
    spec: CertSpec, keys: _Keys, rng: random.Random, not_before: datetime
) -> x509.Certificate:
    """A certificate for ``spec``, signed deterministically."""
    if spec.key == "rsa":
        key: Any = keys.rsa(rng.randrange(2))
    else:
        key = keys.ec(ec.SECP384R1() if spec.key == "ec384" else ec.SECP256R1())
    subject = _x509_name(spec.subject)
    issuer = _x509_name(spec.issuer) if spec.issuer is not None else subject
    serial = spec.serial if spec.serial and spec.serial > 0 else rng.getrandbits(120) + 1

    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_before + timedelta(days=spec.days))
    )
    if spec.sans:
        names = [x509.DNSName(name) for name in spec.sans]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    algorithm = hashes.SHA384() if spec.sig == "sha384" else hashes.SHA256()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return builder.sign(key, algorithm, ecdsa_deterministic=True)
    return builder.sign(key, algorithm)


# --------------------------------------------------------------------------------------------
# One service, rendered for each engine


@dataclass(slots=True)
class Service:
    """What a scanner saw on one port, before it is shaped for an engine."""

    ip: str
    port: int
    seen: datetime
    network: Network
    response: HttpResponse | None = None
    cert: x509.Certificate | None = None
    jarm: str | None = None
    favicon: bytes | None = None
    raw_banner: str | None = None
    """Non-HTTP services: the banner text."""
    product: str | None = None
    hostname: str | None = None
    tags: list[str] = field(default_factory=list)


def shodan_banner(service: Service) -> dict[str, Any]:
    """A full Shodan banner for ``service`` (shodan.md §2)."""
    net = service.network
    context = {
        "org": net.org,
        "isp": net.isp,
        "asn": f"AS{net.asn}",
        "location": {
            "city": net.city,
            "region_code": None,
            "country_code": net.country_code,
            "country_code3": None,
            "country_name": net.country_name,
            "postal_code": None,
            "area_code": None,
            "dma_code": None,
            "latitude": net.latitude,
            "longitude": net.longitude,
        },
    }
    if service.response is not None:
        pem = service.cert.public_bytes(serialization.Encoding.PEM) if service.cert else None
        banner = banner_from_response(
            service.response,
            ip=service.ip,
            port=service.port,
            tls_cert=pem,
            jarm=service.jarm,
            favicon=service.favicon,
            hostname=service.hostname,
            timestamp=service.seen,
            extra=context,
        )
    else:
        data = service.raw_banner or ""
        banner = {
            "ip": int(ipaddress.IPv4Address(service.ip)),
            "ip_str": service.ip,
            "port": service.port,
            "transport": "tcp",
            "timestamp": service.seen.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            "hostnames": [],
            "domains": [],
            "tags": [],
            "data": data,
            "hash": banner_hash(data),
            "_shodan": {"module": "auto", "id": None, "options": {}},
            **context,
        }
    if net.cloud:
        banner["cloud"] = {"provider": net.cloud, "region": None, "service": None}
        banner["tags"] = [*banner["tags"], "cloud"]
    if service.product:
        banner["product"] = service.product
    banner["tags"] = sorted({*banner["tags"], *service.tags})
    return banner


def _scan_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _sha256(text: str | bytes) -> str:
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return hashlib.sha256(raw).hexdigest()


def _dn(cert: x509.Certificate, which: str) -> str:
    name = cert.subject if which == "subject" else cert.issuer
    short = {v: k for k, v in _NAME_OIDS.items()}
    return ", ".join(f"{short.get(a.oid, a.oid.dotted_string)}={a.value!s}" for a in name)


def _name_lists(cert: x509.Certificate, which: str) -> dict[str, list[str]]:
    name = cert.subject if which == "subject" else cert.issuer
    keys = {
        NameOID.COMMON_NAME: "common_name",
        NameOID.ORGANIZATION_NAME: "organization",
        NameOID.ORGANIZATIONAL_UNIT_NAME: "organizational_unit",
        NameOID.COUNTRY_NAME: "country",
        NameOID.LOCALITY_NAME: "locality",
        NameOID.STATE_OR_PROVINCE_NAME: "province",
        NameOID.EMAIL_ADDRESS: "email_address",
    }
    result: dict[str, list[str]] = {}
    for attribute in name:
        key = keys.get(attribute.oid)
        if key:
            result.setdefault(key, []).append(str(attribute.value))
    return result


def _cert_names(cert: x509.Certificate) -> list[str]:
    names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names += san.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        pass
    return sorted(set(names))


def _body_text(service: Service) -> str:
    assert service.response is not None
    return service.response.body.decode("utf-8", "replace")


def censys_service(service: Service) -> dict[str, Any]:
    """A Censys Platform service (censys.md §3.2)."""
    is_tls = service.cert is not None
    scan_time = _scan_time(service.seen)
    banner_text = service.response.data if service.response else (service.raw_banner or "")
    out: dict[str, Any] = {
        "port": service.port,
        "protocol": "HTTP" if service.response else _RAW_PROTOCOLS.get(service.port, "UNKNOWN"),
        "transport_protocol": "tcp",
        "ip": service.ip,
        "scan_time": scan_time,
        "banner": banner_text,
        "banner_hash_sha256": _sha256(banner_text),
    }
    if service.product:
        out["software"] = [{"product": service.product.lower(), "source": "censys"}]
    elif service.response and service.response.header("Server"):
        server = service.response.header("Server") or ""
        product = server.split("/")[0].lower()
        out["software"] = [{"vendor": product, "product": product, "source": "censys"}]

    if service.response is not None:
        body = _body_text(service)
        headers: dict[str, Any] = {}
        for name, value in service.response.headers:
            headers.setdefault(name, {"headers": []})["headers"].append(value)
        http: dict[str, Any] = {
            "uri": f"{'https' if is_tls else 'http'}://{service.ip}:{service.port}/",
            "protocol": service.response.status_line.split(" ", 1)[0],
            "status_code": service.response.status,
            "status_reason": service.response.status_line.split(" ", 2)[-1],
            "headers": headers,
            "body": body[:65536],
            "body_size": len(service.response.body),
            "body_hash_sha1": hashlib.sha1(service.response.body).hexdigest(),
            "body_hash_sha256": _sha256(service.response.body),
        }
        title = html_title(body)
        if title is not None:
            http["html_title"] = title
        if service.favicon is not None:
            http["favicons"] = [
                {
                    "name": f"{http['uri']}favicon.ico",
                    "size": len(service.favicon),
                    "hash_md5": hashlib.md5(service.favicon).hexdigest(),
                    "hash_sha256": _sha256(service.favicon),
                    "hash_shodan": favicon_hash(service.favicon),
                }
            ]
        out["endpoints"] = [
            {
                "endpoint_type": "HTTP",
                "ip": service.ip,
                "port": service.port,
                "path": "/",
                "transport_protocol": "tcp",
                "scan_time": scan_time,
                "banner": banner_text,
                "http": http,
            }
        ]

    if service.cert is not None:
        cert = service.cert
        fp256 = cert.fingerprint(hashes.SHA256()).hex()
        out["cert"] = {
            "fingerprint_sha256": fp256,
            "fingerprint_sha1": cert.fingerprint(hashes.SHA1()).hex(),
            "fingerprint_md5": cert.fingerprint(hashes.MD5()).hex(),
            "names": _cert_names(cert),
            "parsed": {
                "subject_dn": _dn(cert, "subject"),
                "issuer_dn": _dn(cert, "issuer"),
                "subject": _name_lists(cert, "subject"),
                "issuer": _name_lists(cert, "issuer"),
                "serial_number": str(cert.serial_number),
                "validity_period": {
                    "not_before": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            },
        }
        out["tls"] = {
            "version_selected": "tlsv1_2",
            "cipher_selected": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "fingerprint_sha256": fp256,
            "presented_chain": [
                {
                    "fingerprint_sha256": fp256,
                    "subject_dn": _dn(cert, "subject"),
                    "issuer_dn": _dn(cert, "issuer"),
                }
            ],
        }
    if service.jarm is not None:
        out["jarm"] = {
            "fingerprint": service.jarm,
            "cipher_and_version_fingerprint": service.jarm[:30],
            "tls_extensions_sha256": service.jarm[30:],
            "is_success": True,
            "scan_time": scan_time,
        }
    return out


def legacy_service(service: Service) -> dict[str, Any]:
    """A legacy Search 2.0 service (censys.md §3.1)."""
    is_tls = service.cert is not None
    name = "HTTP" if service.response else _RAW_PROTOCOLS.get(service.port, "UNKNOWN")
    banner_text = service.response.data if service.response else (service.raw_banner or "")
    out: dict[str, Any] = {
        "port": service.port,
        "service_name": name,
        "extended_service_name": ("HTTPS" if is_tls else "HTTP") if service.response else name,
        "transport_protocol": "TCP",
        "observed_at": _scan_time(service.seen),
        "perspective_id": "PERSPECTIVE_NTT",
        "banner": banner_text,
        "banner_hashes": [f"sha256:{_sha256(banner_text)}"],
        "source_ip": "167.94.138.120",
    }
    if service.product:
        out["software"] = [{"product": service.product, "source": "OSI_APPLICATION_LAYER"}]

    if service.response is not None:
        body = _body_text(service)
        headers: dict[str, list[str]] = {}
        for name, value in service.response.headers:
            headers.setdefault(name.replace("-", "_"), []).append(value)
        response: dict[str, Any] = {
            "protocol": service.response.status_line.split(" ", 1)[0],
            "status_code": service.response.status,
            "status_reason": service.response.status_line.split(" ", 2)[-1],
            "headers": headers,
            "body": body[:65536],
            "body_size": len(service.response.body),
            "body_hash": f"sha1:{hashlib.sha1(service.response.body).hexdigest()}",
            "body_hashes": [
                f"sha256:{_sha256(service.response.body)}",
                f"sha1:{hashlib.sha1(service.response.body).hexdigest()}",
            ],
        }
        title = html_title(body)
        if title is not None:
            response["html_title"] = title
        if service.favicon is not None:
            response["favicons"] = [
                {
                    "name": "/favicon.ico",
                    "size": len(service.favicon),
                    "md5_hash": hashlib.md5(service.favicon).hexdigest(),
                    "shodan_hash": favicon_hash(service.favicon),
                }
            ]
        scheme = "https" if is_tls else "http"
        out["http"] = {
            "request": {"method": "GET", "uri": f"{scheme}://{service.ip}:{service.port}/"},
            "response": response,
        }

    if service.cert is not None:
        cert = service.cert
        fp256 = cert.fingerprint(hashes.SHA256()).hex()
        key = cert.public_key()
        out["certificate"] = fp256
        out["tls"] = {
            "version_selected": "TLSv1_2",
            "cipher_selected": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "certificates": {
                "leaf_fp_sha_256": fp256,
                "chain_fps_sha_256": [],
                "leaf_data": {
                    "fingerprint": fp256,
                    "subject_dn": _dn(cert, "subject"),
                    "issuer_dn": _dn(cert, "issuer"),
                    "subject": _name_lists(cert, "subject"),
                    "issuer": _name_lists(cert, "issuer"),
                    "names": _cert_names(cert),
                    "pubkey_algorithm": "RSA" if isinstance(key, rsa.RSAPublicKey) else "ECDSA",
                    "pubkey_bit_size": getattr(key, "key_size", None),
                },
            },
        }
    if service.jarm is not None:
        out["jarm"] = {
            "fingerprint": service.jarm,
            "cipher_and_version_fingerprint": service.jarm[:30],
            "tls_extensions_sha256": service.jarm[30:],
            "observed_at": _scan_time(service.seen),
        }
    return out


def _location(net: Network) -> dict[str, Any]:
    return {
        "continent": net.continent,
        "country": net.country_name,
        "country_code": net.country_code,
        "city": net.city,
        "timezone": net.timezone,
        "coordinates": {"latitude": net.latitude, "longitude": net.longitude},
    }


def _autonomous_system(net: Network, ip: str) -> dict[str, Any]:
    prefix = ipaddress.ip_network(f"{ip}/20", strict=False)
    return {
        "asn": net.asn,
        "name": net.org,
        "description": net.org,
        "bgp_prefix": str(prefix),
        "country_code": net.country_code,
    }


def censys_host(ip: str, net: Network, services: list[dict[str, Any]]) -> dict[str, Any]:
    """A Censys Platform host resource."""
    return {
        "ip": ip,
        "location": _location(net),
        "autonomous_system": _autonomous_system(net, ip),
        "dns": {"names": []},
        "service_count": len(services),
        "services": services,
    }


def legacy_host(
    ip: str, net: Network, services: list[dict[str, Any]], seen: datetime
) -> dict[str, Any]:
    """A legacy Search 2.0 host."""
    location = _location(net)
    location["registered_country"] = net.country_name
    location["registered_country_code"] = net.country_code
    return {
        "ip": ip,
        "services": services,
        "location": location,
        "location_updated_at": _scan_time(seen - timedelta(days=30)),
        "autonomous_system": _autonomous_system(net, ip),
        "autonomous_system_updated_at": _scan_time(seen - timedelta(days=30)),
        "last_updated_at": _scan_time(seen),
    }


# --------------------------------------------------------------------------------------------
# The generator


class _Generator:
    def __init__(self, seed: int, anchor: datetime) -> None:
        self.rng = random.Random(seed)
        self.keys = _Keys(random.Random(seed ^ 0x5EED))
        self.anchor = anchor
        self.used: set[str] = set()

    def ip(self) -> str:
        while True:
            address = ipaddress.IPv4Address(self.rng.getrandbits(32))
            text = str(address)
            if (
                address.is_global
                and bogon_reason(address) is None
                and not any(address in net for net in _AVOID)
                and text not in self.used
            ):
                self.used.add(text)
                return text

    def when(self) -> datetime:
        offset = self.rng.random() * SPREAD.total_seconds()
        moment = self.anchor - timedelta(seconds=offset)
        return moment.replace(microsecond=self.rng.randrange(1_000_000))

    def network(self) -> Network:
        return self.rng.choice(NETWORKS)

    def hexes(self, count: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(count))

    def http_date(self, moment: datetime) -> str:
        return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")

    def certificate(self, spec: CertSpec, seen: datetime) -> x509.Certificate:
        start = (seen - timedelta(days=self.rng.randrange(5, 200))).replace(microsecond=0)
        return make_certificate(spec, self.keys, self.rng, start)


def _response(status_line: str, headers: Sequence[tuple[str, str]], body: bytes) -> HttpResponse:
    lines = tuple(f"{name}: {value}" for name, value in headers)
    return HttpResponse(status_line, lines, body)


def _page(title: str, text: str) -> bytes:
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n</head>\n<body>\n{text}\n</body>\n</html>\n"
    ).encode()


# Benign look-alikes: (name, server header, status line, title, body text, content type)
_NGINX_WELCOME = (
    "<h1>Welcome to nginx!</h1>\n<p>If you see this page, the nginx web server is successfully "
    "installed and working. Further configuration is required.</p>\n<p><em>Thank you for using "
    "nginx.</em></p>"
)
_APACHE_DEFAULT = (
    '<div class="main_page"><div class="page_header floating_element">It works!</div>'
    "<p>This is the default welcome page used to test the correct operation of the Apache2 "
    "server after installation on Ubuntu systems.</p></div>"
)
_BENIGN_PAGES: tuple[tuple[str, str, str, str, str], ...] = (
    ("nginx/1.24.0", "HTTP/1.1 200 OK", "Welcome to nginx!", _NGINX_WELCOME, "text/html"),
    ("nginx", "HTTP/1.1 200 OK", "Welcome to nginx!", _NGINX_WELCOME, "text/html"),
    ("nginx/1.18.0 (Ubuntu)", "HTTP/1.1 404 Not Found", "404 Not Found",
     "<center><h1>404 Not Found</h1></center>\n<hr><center>nginx/1.18.0 (Ubuntu)</center>",
     "text/html"),
    ("Apache/2.4.52 (Ubuntu)", "HTTP/1.1 200 OK", "Apache2 Ubuntu Default Page: It works",
     _APACHE_DEFAULT, "text/html"),
    ("Apache/2.4.58 (Debian)", "HTTP/1.1 404 Not Found", "404 Not Found",
     "<h1>Not Found</h1>\n<p>The requested URL was not found on this server.</p>", "text/html"),
    ("Microsoft-IIS/10.0", "HTTP/1.1 200 OK", "IIS Windows Server",
     "<div id=\"container\"><a href=\"http://go.microsoft.com/fwlink/?linkid=66138\">"
     "<img src=\"iisstart.png\" alt=\"IIS\" width=\"960\" height=\"600\" /></a></div>",
     "text/html"),
    ("Microsoft-HTTPAPI/2.0", "HTTP/1.1 404 Not Found", "Not Found",
     "<h2>Not Found</h2>\n<hr><p>HTTP Error 404. The requested resource is not found.</p>",
     "text/html; charset=us-ascii"),
    ("nginx", "HTTP/1.1 200 OK", "Sign in to your account",
     "<form method=\"post\" action=\"/login\"><input type=\"email\" name=\"loginfmt\">"
     "<input type=\"password\" name=\"passwd\"><button>Sign in</button></form>", "text/html"),
    ("nginx", "HTTP/1.1 200 OK", "Grafana",
     "<div class=\"preloader\"><div class=\"preloader__text\">Loading Grafana</div></div>",
     "text/html; charset=UTF-8"),
    ("nginx", "HTTP/1.1 200 OK", "Sign in · GitLab",
     "<div class=\"login-page\"><form id=\"new_user\" action=\"/users/sign_in\">"
     "<input name=\"user[login]\"><input type=\"password\" name=\"user[password]\"></form></div>",
     "text/html; charset=utf-8"),
    ("Apache-Coyote/1.1", "HTTP/1.1 200 OK", "Apache Tomcat/9.0.85",
     "<h1>Apache Tomcat/9.0.85</h1><p>If you're seeing this, you've successfully installed "
     "Tomcat. Congratulations!</p>", "text/html;charset=UTF-8"),
    ("Jetty(9.4.53.v20231009)", "HTTP/1.1 404 Not Found", "Error 404 Not Found",
     "<h2>HTTP ERROR 404 Not Found</h2>\n<table>\n<tr><th>URI:</th><td>/</td></tr>\n"
     "<tr><th>STATUS:</th><td>404</td></tr>\n</table>", "text/html;charset=iso-8859-1"),
    ("cloudflare", "HTTP/1.1 403 Forbidden", "403 Forbidden",
     "<center><h1>403 Forbidden</h1></center>\n<hr><center>cloudflare</center>", "text/html"),
    ("AmazonS3", "HTTP/1.1 403 Forbidden", "",
     "", "application/xml"),
    ("", "HTTP/1.1 404 Not Found", "", "", "text/plain; charset=utf-8"),  # Go net/http 404
    ("Caddy", "HTTP/1.1 200 OK", "Home", "<h1>Hello from Caddy</h1>", "text/html; charset=utf-8"),
    ("openresty", "HTTP/1.1 302 Found", "302 Found",
     "<center><h1>302 Found</h1></center>\n<hr><center>openresty</center>", "text/html"),
)  # fmt: skip

_BENIGN_CERTS: tuple[tuple[str, CertSpec], ...] = (
    ("self-signed-default", CertSpec(
        {"C": "AU", "ST": "Some-State", "O": "Internet Widgits Pty Ltd", "CN": "localhost"},
        key="rsa")),
    ("lets-encrypt", CertSpec(
        {"CN": "{host}"}, issuer={"C": "US", "O": "Let's Encrypt", "CN": "R11"}, days=90,
        key="rsa", sans=("{host}", "www.{host}"))),
    ("lets-encrypt-ecdsa", CertSpec(
        {"CN": "{host}"}, issuer={"C": "US", "O": "Let's Encrypt", "CN": "E6"}, days=90,
        key="ec256", sans=("{host}",), sig="sha384")),
    ("java-keytool", CertSpec(
        {"C": "Unknown", "ST": "Unknown", "L": "Unknown", "O": "Unknown", "OU": "Unknown",
         "CN": "Unknown"}, key="rsa", days=90)),
    ("go-selfsigned", CertSpec({"O": "Acme Co"}, key="ec256", days=365)),
    ("sectigo", CertSpec(
        {"CN": "{host}"}, issuer={"C": "GB", "ST": "Greater Manchester", "L": "Salford",
                                   "O": "Sectigo Limited",
                                   "CN": "Sectigo RSA Domain Validation Secure Server CA"},
        key="rsa", sans=("{host}",))),
)  # fmt: skip

_BENIGN_DOMAINS = (
    "shop-example.net", "mail.harbor-dental.com", "cloud.brightlane.io", "portal.nordfeld.de",
    "vpn.lakeside-clinic.org", "git.tinyforge.dev", "status.meadowapps.com", "www.pinecrest.fr",
)  # fmt: skip

_BENIGN_JARMS = (
    # Common server stacks: nginx/OpenSSL, Go crypto/tls, Java JSSE, IIS/SChannel.
    "27d40d40d29d40d1dc42d43d00041d4689ee210389f4f6b4b5b1b93f92252d",
    "3fd3fd20d00000000043d3fd3fd43d684d61a135bd962c8dd9c541ddbaefa8",
    "29d29d00029d29d00042d43d00041d2aa5ce6a70de7ba95aef77a77b00a0af",
    "2ad2ad0002ad2ad00042d42d000000ad9bf51cc3f5a1e29eecb81d0c7b06eb",
)

#: JARM of Java 11's default JSSE server stack: also Cobalt Strike's (cedowens/C2-JARM tested
#: the team server on Java 11), which is why that rule pins it to port 443 and rates it low.
JAVA11_JARM = "07d14d16d21d21d07c42d41d00041d24a458a375eef0c576d23a7bab9a9fb1"

_LAYUI_ADMIN = (
    '<link rel="stylesheet" href="/static/layui/css/layui.css">\n'
    '<div class="layui-container"><form class="layui-form" action="/admin/login">'
    '<input name="username" class="layui-input"><input type="password" name="password" '
    'class="layui-input"><button class="layui-btn">登录</button></form></div>\n'
    '<script src="/static/layui/layui.js"></script>'
)
_FLASK_LOGIN = (
    '<form method="post" action="/login"><input name="csrf_token" type="hidden" value="x">'
    '<input name="email"><input type="password" name="password"><button>Log in</button></form>'
)


#: Certificates only the pinned look-alikes use (kept out of the random pool above).
_LOOKALIKE_CERTS: dict[str, CertSpec] = {
    "rapid7-ov": CertSpec(
        {"C": "US", "ST": "Massachusetts", "L": "Boston", "O": "Rapid7 LLC",
         "CN": "www.metasploit.com"},
        issuer={"C": "US", "O": "DigiCert Inc",
                "CN": "DigiCert Global G2 TLS RSA SHA256 2020 CA1"},
        key="rsa", sans=("www.metasploit.com", "metasploit.com")),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class LookAlike:
    """A benign server built on purpose next to a rule's fingerprint (a near miss), so the
    benign file always holds it and the benign test guards that rule against regressing."""

    name: str
    guards: str
    """Which rule's former or possible false positive this server is."""
    server: str
    status_line: str
    title: str
    text: str
    content_type: str
    port: int
    cert: str | None = None
    """A name from ``_BENIGN_CERTS`` or ``_LOOKALIKE_CERTS``, or None for plain HTTP."""
    jarm: str | None = None


LOOK_ALIKES: tuple[LookAlike, ...] = (
    LookAlike("go-generate-cert-8443",
              "deimos-c2: Go's generate_cert.go certificate (O=Acme Co) on 8443 is not DeimosC2",
              "", "HTTP/1.1 404 Not Found", "", "", "text/plain; charset=utf-8", 8443,
              "go-selfsigned", _BENIGN_JARMS[1]),
    LookAlike("java-keytool-8443",
              "nanocore (CN=Unknown contains 'unk'); cobalt-strike (Java 11 JARM off 443)",
              "Apache-Coyote/1.1", "HTTP/1.1 200 OK", "Apache Tomcat/9.0.85",
              "<h1>Apache Tomcat/9.0.85</h1><p>If you're seeing this, you've successfully "
              "installed Tomcat. Congratulations!</p>", "text/html;charset=UTF-8", 8443,
              "java-keytool", JAVA11_JARM),
    LookAlike("layui-admin-login",
              "panda-c2: an ordinary layui admin page (layui without 'PANDA')",
              "nginx/1.20.1", "HTTP/1.1 200 OK", "后台管理系统", _LAYUI_ADMIN,
              "text/html; charset=utf-8", 80),
    LookAlike("flask-login",
              "ghostlocker, bandit-stealer: a Werkzeug login page titled 'Login' on 8080",
              "Werkzeug/2.3.7 Python/3.11.4", "HTTP/1.1 200 OK", "Login", _FLASK_LOGIN,
              "text/html; charset=utf-8", 8080),
    LookAlike("rapid7-product-site",
              "metasploit: Rapid7's own site (title 'Metasploit …', CA-issued O=Rapid7 LLC)",
              "nginx", "HTTP/1.1 200 OK",
              "Metasploit | Penetration Testing Software, Pen Testing Security",
              "<h1>Metasploit</h1><p>Know your weak points. Simulate real-world attacks.</p>",
              "text/html; charset=utf-8", 443, "rapid7-ov", _BENIGN_JARMS[0]),
)  # fmt: skip

_RAW_PROTOCOLS = {21: "FTP", 22: "SSH", 25: "SMTP", 3306: "MYSQL"}
_NON_HTTP = (
    (22, "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n"),
    (22, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"),
    (21, "220 (vsFTPd 3.0.5)\r\n"),
    (25, "220 mail.example-host.net ESMTP Postfix (Ubuntu)\r\n"),
    (3306, "J\x00\x00\x00\n8.0.36-0ubuntu0.22.04.1\x00"),
)


@dataclass(slots=True)
class SampleSet:
    """Records by file name, plus what the generator found out while building them."""

    files: dict[str, list[dict[str, Any]]]
    fallbacks: list[str] = field(default_factory=list)
    """``rule:engine:case`` whose realistic wrapping broke the match (bare test record used)."""
    unmatched: list[str] = field(default_factory=list)
    """``rule:engine:case`` whose own test record does not match (a rule bug)."""
    benign_matches: list[str] = field(default_factory=list)
    """Look-alikes a rule matched (left out of the benign file): ``rule <- description``."""

    def counts(self) -> dict[str, Counter[str]]:
        return {name: Counter(_engine_name(r) for r in rows) for name, rows in self.files.items()}


def _engine_name(record: Mapping[str, Any]) -> str:
    from c2tracker.matching import detect_engine

    engine = detect_engine(record)
    return engine.value if engine else "unknown"


def deep_merge(base: Any, over: Any) -> Any:
    """``over`` laid onto ``base``: objects merge key by key, ``services`` and ``endpoints``
    lists merge element by element, every other value from ``over`` replaces the base's."""
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            if key in merged and key in ("services", "endpoints") and isinstance(value, list):
                merged[key] = _merge_list(merged[key], value)
            elif key in merged:
                merged[key] = deep_merge(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    return copy.deepcopy(over)


def _merge_list(base: Any, over: list[Any]) -> list[Any]:
    if not isinstance(base, list):
        return copy.deepcopy(over)
    merged = [deep_merge(b, o) for b, o in zip(base, over, strict=False)]
    merged.extend(copy.deepcopy(over[len(base) :]))
    return merged


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _get(record: Mapping[str, Any], *path: str) -> Any:
    node: Any = record
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


class _SampleBuilder(_Generator):
    def __init__(self, rules: Sequence[Any], seed: int, anchor: datetime) -> None:
        super().__init__(seed, anchor)
        from c2tracker.matching import Matcher

        self.rules = list(rules)
        self.matcher = Matcher(self.rules)
        self.result = SampleSet({"positives.json.gz": [], "benign.json.gz": [],
                                 "honeypots.json.gz": []})  # fmt: skip

    # -- positives -------------------------------------------------------------------------

    def shodan_positive(self, test: Mapping[str, Any]) -> dict[str, Any]:
        """A full banner built around a rule's partial Shodan test record."""
        ip, seen, net = self.ip(), self.when(), self.network()
        port = _int(test.get("port"), 443)
        pinned_data = test.get("data") if isinstance(test.get("data"), str) else None
        http = _dict(test.get("http"))
        ssl = _dict(test.get("ssl"))
        is_tls = bool(ssl) or port in TLS_PORTS

        service = Service(ip, port, seen, net)
        if pinned_data is not None and not pinned_data.startswith("HTTP/"):
            service.raw_banner = pinned_data
        else:
            service.response = self._positive_response(pinned_data, http, seen)
        if is_tls:
            service.cert = self._positive_cert(_get(ssl, "cert") or {}, seen)
        jarm = ssl.get("jarm")
        service.jarm = jarm if isinstance(jarm, str) and len(jarm) == 62 else None
        banner = shodan_banner(service)

        pinned = {k: v for k, v in test.items() if k not in ("ip", "ip_str", "ipv6")}
        merged: dict[str, Any] = deep_merge(banner, pinned)
        _refresh_shodan_hashes(merged, pinned)
        return merged

    def _positive_response(
        self, pinned_data: str | None, http: Mapping[str, Any], seen: datetime
    ) -> HttpResponse:
        title = http.get("title") if isinstance(http.get("title"), str) else None
        html = http.get("html") if isinstance(http.get("html"), str) else None
        if html is None:
            html = _page(title, "").decode() if title is not None else ""
        body = html.encode("utf-8", "surrogatepass")

        if pinned_data is not None:
            response = parse_http_response(pinned_data.encode("utf-8", "surrogatepass"))
            lines = response.header_lines
            if not lines:
                # A rule that pins only the status line: give it the headers every server sends.
                lines = (
                    f"Date: {self.http_date(seen)}",
                    "Content-Type: text/html; charset=utf-8",
                    f"Content-Length: {len(body)}",
                )
            return HttpResponse(response.status_line, lines, body)

        status = _int(http.get("status"), 200)
        reason = {200: "OK", 302: "Found", 401: "Unauthorized", 403: "Forbidden",
                  404: "Not Found", 500: "Internal Server Error"}.get(status, "OK")  # fmt: skip
        headers: list[tuple[str, str]] = []
        server = http.get("server")
        if isinstance(server, str):
            headers.append(("Server", server))
        headers += [
            ("Date", self.http_date(seen)),
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Connection", "keep-alive"),
        ]
        return _response(f"HTTP/1.1 {status} {reason}", headers, body)

    def _positive_cert(self, pinned: Mapping[str, Any], seen: datetime) -> x509.Certificate:
        subject = pinned.get("subject") if isinstance(pinned.get("subject"), dict) else None
        issuer = pinned.get("issuer") if isinstance(pinned.get("issuer"), dict) else None
        serial = pinned.get("serial") if isinstance(pinned.get("serial"), int) else None
        if subject is None:
            subject = {"CN": self.rng.choice(("localhost", "server", f"{self.hexes(8)}.local"))}
        spec = CertSpec(subject, issuer, serial, days=self.rng.choice((365, 730, 3650)),
                        key=self.rng.choice(("rsa", "ec256")))  # fmt: skip
        return self.certificate(spec, seen)

    def censys_positive(self, test: Mapping[str, Any], engine: Engine) -> dict[str, Any]:
        """A full Platform or legacy host built around a rule's partial Censys test record."""
        from c2tracker.matching import unwrap_censys_host

        host_test = dict(unwrap_censys_host(test))
        ip, seen, net = self.ip(), self.when(), self.network()
        services = []
        for item in host_test.get("services") or []:
            port = item.get("port") if isinstance(item, dict) else None
            port = port if isinstance(port, int) else 443
            service = Service(ip, port, seen, net)
            is_tls = isinstance(item, dict) and any(k in item for k in ("tls", "cert", "jarm"))
            service.response = self._positive_response(None, {}, seen)
            if is_tls or port in TLS_PORTS:
                service.cert = self._positive_cert({}, seen)
            services.append(service)
        extra = Service(ip, 22, seen, net, raw_banner=self.rng.choice(_NON_HTTP[:2])[1])

        render = censys_service if engine is Engine.CENSYS else legacy_service
        rendered = [render(s) for s in services]
        if engine is Engine.CENSYS:
            base = censys_host(ip, net, rendered)
        else:
            base = legacy_host(ip, net, rendered, seen)
        pinned = {k: v for k, v in host_test.items() if k != "ip"}
        merged: dict[str, Any] = deep_merge(base, pinned)
        if not any(s.get("port") == 22 for s in merged["services"] if isinstance(s, dict)):
            merged["services"].append(render(extra))
        if engine is Engine.CENSYS:
            merged["service_count"] = len(merged["services"])
        return merged

    def bare(self, test: Mapping[str, Any], engine: Engine) -> dict[str, Any]:
        """The rule's own test record with a public address and a timestamp."""
        from c2tracker.matching import unwrap_censys_host

        record = copy.deepcopy(dict(test if engine is Engine.SHODAN else unwrap_censys_host(test)))
        ip, seen = self.ip(), self.when()
        if engine is Engine.SHODAN:
            record.update(ip_str=ip, ip=int(ipaddress.IPv4Address(ip)))
            record.setdefault("timestamp", seen.strftime("%Y-%m-%dT%H:%M:%S.%f"))
        else:
            record["ip"] = ip
        return record

    def matches(self, record: Mapping[str, Any], engine: Engine, rule_id: str) -> bool:
        return any(o.rule_id == rule_id for o in self.matcher.match(record, engine))

    def positives(self, variants: int) -> list[tuple[str, Engine, dict[str, Any]]]:
        built: list[tuple[str, Engine, dict[str, Any]]] = []
        for rule in self.rules:
            engines = {Engine(q.engine) for q in rule.queries}
            for number, test in enumerate(rule.tests, start=1):
                engine = Engine(test.engine)
                if test.expect != "match" or engine not in engines:
                    continue
                label = f"{rule.id}:{engine.value}:{number}"
                for _ in range(variants):
                    record = self._positive(test.record, engine)
                    if not self.matches(record, engine, rule.id):
                        self.result.fallbacks.append(label)
                        record = self.bare(test.record, engine)
                        if not self.matches(record, engine, rule.id):
                            self.result.unmatched.append(label)
                            continue
                    built.append((rule.id, engine, record))
        return built

    def _positive(self, test: Mapping[str, Any], engine: Engine) -> dict[str, Any]:
        if engine is Engine.SHODAN:
            return self.shodan_positive(test)
        return self.censys_positive(test, engine)

    # -- benign ----------------------------------------------------------------------------

    def benign_service(self, index: int) -> Service:
        ip, seen, net = self.ip(), self.when(), self.network()
        if index % 9 == 7:
            return self.look_alike(LOOK_ALIKES[(index // 9) % len(LOOK_ALIKES)], ip, seen, net)
        if index % 9 == 8:
            port, text = self.rng.choice(_NON_HTTP)
            return Service(ip, port, seen, net, raw_banner=text)

        server, status_line, title, text, content_type = self.rng.choice(_BENIGN_PAGES)
        if title:
            body = _page(title, text)
        elif "Go" in content_type or content_type.startswith("text/plain"):
            body = b"404 page not found\n"
        else:
            body = b""
        headers: list[tuple[str, str]] = []
        if server:
            headers.append(("Server", server))
        headers += [("Date", self.http_date(seen)), ("Content-Type", content_type)]
        if server.startswith("nginx") and self.rng.random() < 0.5:
            headers.append(("Last-Modified", self.http_date(seen - timedelta(days=90))))
            headers.append(("ETag", f'"{self.hexes(8)}-{len(body):x}"'))
        headers += [("Content-Length", str(len(body))), ("Connection", "keep-alive")]
        if status_line.startswith("HTTP/1.1 302"):
            headers.append(("Location", "/login"))

        is_tls = self.rng.random() < 0.6
        port = self.rng.choice((443, 8443)) if is_tls else self.rng.choice((80, 8080, 8000))
        service = Service(ip, port, seen, net, response=_response(status_line, headers, body))
        if is_tls:
            name, spec = self.rng.choice(_BENIGN_CERTS)
            host = self.rng.choice(_BENIGN_DOMAINS)
            spec = CertSpec(
                {k: v.replace("{host}", host) for k, v in spec.subject.items()},
                spec.issuer,
                None,
                spec.days,
                spec.key,
                tuple(s.replace("{host}", host) for s in spec.sans),
                spec.sig,
            )
            service.cert = self.certificate(spec, seen)
            service.jarm = self.rng.choice(_BENIGN_JARMS)
            if name.startswith("lets") or name == "sectigo":
                service.hostname = host
        if title and self.rng.random() < 0.3:
            service.favicon = bytes(
                self.rng.getrandbits(8) for _ in range(self.rng.randrange(200, 1200))
            )
        return service

    def look_alike(self, spec: LookAlike, ip: str, seen: datetime, net: Network) -> Service:
        """One of :data:`LOOK_ALIKES`, with this host's address, time and network."""
        body = _page(spec.title, spec.text) if spec.title else b"404 page not found\n"
        headers: list[tuple[str, str]] = [("Server", spec.server)] if spec.server else []
        headers += [
            ("Date", self.http_date(seen)),
            ("Content-Type", spec.content_type),
            ("Content-Length", str(len(body))),
        ]
        response = _response(spec.status_line, headers, body)
        service = Service(ip, spec.port, seen, net, response=response, jarm=spec.jarm)
        if spec.cert is not None:
            template = {**dict(_BENIGN_CERTS), **_LOOKALIKE_CERTS}[spec.cert]
            service.cert = self.certificate(template, seen)
        return service

    def benign(self, count: int) -> list[dict[str, Any]]:
        records = []
        for index in range(count):
            service = self.benign_service(index)
            # Shift the engine every nine records, so the fixed slots of the nine-cycle (the
            # pinned look-alikes, the non-HTTP banners) reach all three engines.
            choice = (index + index // 9) % 3
            if choice == 0:
                record = shodan_banner(service)
            elif choice == 1:
                record = censys_host(service.ip, service.network, [censys_service(service)])
                if index % 2:
                    record = {"host_v1": {"resource": record, "extensions": {}}}
            else:
                record = legacy_host(service.ip, service.network, [legacy_service(service)],
                                     service.seen)  # fmt: skip
            observations = self.matcher.match(record)
            if observations:
                # A look-alike that a rule matches is a false positive of that rule, not a
                # benign example: report it and keep it out of the must-not-match file.
                for rule_id in sorted({o.rule_id for o in observations}):
                    self.result.benign_matches.append(f"{rule_id} <- {_describe(service)}")
                continue
            records.append(record)
        return records

    # -- honeypots -------------------------------------------------------------------------

    def _honeypot_ports(self, records: list[dict[str, Any]], engine: Engine) -> list[int]:
        """Each family keeps its usual port when free (rules often pin it), else a high one."""
        taken: set[int] = set()
        ports = []
        for record in records:
            port = _record_port(record, engine)
            while port is None or port in taken:
                port = self.rng.randrange(1024, 65000)
            taken.add(port)
            ports.append(port)
        return ports

    def honeypots(
        self, positives: list[tuple[str, Engine, dict[str, Any]]], hosts: int
    ) -> list[dict[str, Any]]:
        by_engine: dict[Engine, list[tuple[str, dict[str, Any]]]] = {}
        for rule_id, engine, record in positives:
            by_engine.setdefault(engine, []).append((rule_id, record))

        records: list[dict[str, Any]] = []
        for number in range(hosts):
            engine = (Engine.SHODAN, Engine.CENSYS, Engine.CENSYS_LEGACY)[number % 3]
            pool = by_engine.get(engine, [])
            if not pool:
                continue
            picks = self.rng.sample(pool, min(len(pool), self.rng.randrange(8, 16)))
            ip, net = self.ip(), self.network()
            ports = self._honeypot_ports([record for _, record in picks], engine)
            if engine is Engine.SHODAN:
                tagged = number % 2 == 0
                for (_, record), port in zip(picks, ports, strict=True):
                    banner = copy.deepcopy(record)
                    banner.update(ip_str=ip, ip=int(ipaddress.IPv4Address(ip)), port=port)
                    if tagged:
                        banner["tags"] = sorted({*banner.get("tags", []), "honeypot"})
                    records.append(banner)
                continue

            services: list[dict[str, Any]] = []
            for (_, record), port in zip(picks, ports, strict=True):
                for service in record.get("services", [])[:1]:
                    moved = copy.deepcopy(service)
                    moved["port"] = port
                    for endpoint in moved.get("endpoints") or []:
                        if isinstance(endpoint, dict):
                            endpoint["port"] = port
                    services.append(moved)
            seen = self.when()
            if engine is Engine.CENSYS:
                records.append(censys_host(ip, net, services))
            else:
                records.append(legacy_host(ip, net, services, seen))
        return records


def _record_port(record: Mapping[str, Any], engine: Engine) -> int | None:
    if engine is Engine.SHODAN:
        port = record.get("port")
    else:
        services = record.get("services") or [{}]
        port = services[0].get("port") if isinstance(services[0], dict) else None
    return port if isinstance(port, int) else None


def _describe(service: Service) -> str:
    """The part of a look-alike that rules look at: its certificate, else its response."""
    if service.cert is not None:
        return f"port {service.port}, certificate {service.cert.subject.rfc4514_string()}"
    if service.response is not None:
        server = service.response.header("Server") or "-"
        return f"port {service.port}, {service.response.status_line}, Server: {server}"
    return f"port {service.port}, banner {(service.raw_banner or '')[:40]!r}"


def _refresh_shodan_hashes(banner: dict[str, Any], pinned: Mapping[str, Any]) -> None:
    """Recomputes the hashes of fields the test record set, unless it pinned the hash too."""
    http = banner.get("http")
    pinned_http = _dict(pinned.get("http"))
    if isinstance(banner.get("data"), str) and "data" in pinned and "hash" not in pinned:
        banner["hash"] = banner_hash(banner["data"])
        if isinstance(http, dict) and "headers_hash" not in pinned_http:
            http["headers_hash"] = headers_hash(banner["data"])
    if not isinstance(http, dict):
        return
    for name, hasher in (("html", html_hash), ("title", title_hash), ("server", server_hash)):
        if name in pinned_http and f"{name}_hash" not in pinned_http:
            value = http.get(name)
            http[f"{name}_hash"] = hasher(value) if isinstance(value, str) else None
    favicon = pinned_http.get("favicon")
    pinned_hash_only = isinstance(favicon, dict) and "hash" in favicon and "data" not in favicon
    if pinned_hash_only and isinstance(http.get("favicon"), dict):
        http["favicon"].pop("data", None)  # the icon behind a pinned hash is unknown


def generate(
    rules: Sequence[Any] | None = None,
    *,
    seed: int = 1,
    size: int = 3000,
    anchor: datetime = DEFAULT_ANCHOR,
) -> SampleSet:
    """Builds the sample in memory; ``size`` is the approximate number of records."""
    if rules is None:
        from c2tracker.rules import load_rules

        rules = list(load_rules())
    builder = _SampleBuilder(rules, seed, anchor)

    cases = sum(1 for rule in builder.rules for test in rule.tests if test.expect == "match")
    variants = max(1, round(size * 0.4 / max(cases, 1)))
    positives = builder.positives(variants)
    builder.result.files["positives.json.gz"] = [record for _, _, record in positives]
    builder.result.files["honeypots.json.gz"] = builder.honeypots(positives, max(3, size // 400))
    benign = max(0, size - len(positives) - len(builder.result.files["honeypots.json.gz"]))
    builder.result.files["benign.json.gz"] = builder.benign(benign)
    return builder.result


def write_sample(sample: SampleSet, out: Path) -> list[Path]:
    """Writes each file as gzip JSON Lines (``json.dumps`` like ``shodan download``, whose
    integers may exceed 64 bits) with a fixed gzip mtime, so reruns are byte-identical."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, records in sample.files.items():
        path = out / name
        with (
            path.open("wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as stream,
        ):
            for record in records:
                stream.write(json.dumps(record, sort_keys=True).encode() + b"\n")
        written.append(path)
    return written


def iter_labels(sample: SampleSet) -> Iterator[str]:
    """Human-readable problems found while generating."""
    for label in sample.unmatched:
        yield f"rule test record does not match its own rule: {label}"
    for label, count in sorted(Counter(sample.benign_matches).items()):
        yield f"benign look-alike matched by a rule ({count}x, left out): {label}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m c2tracker.scandata.samples",
        description="Generate sample Shodan and Censys records for the rule corpus.",
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", type=int, default=3000, help="approximate number of records")
    parser.add_argument("--rules", type=Path, default=None, help="rule directory")
    parser.add_argument(
        "--anchor",
        default=DEFAULT_ANCHOR.date().isoformat(),
        help="date of the newest record (YYYY-MM-DD); records spread over 6 weeks before it",
    )
    args = parser.parse_args(argv)

    from c2tracker.errors import C2TrackerError
    from c2tracker.rules import load_rules

    try:
        rules = list(load_rules(args.rules))
        anchor = datetime.fromisoformat(args.anchor).replace(tzinfo=UTC)
    except (C2TrackerError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    sample = generate(rules, seed=args.seed, size=args.size, anchor=anchor)
    for path in write_sample(sample, args.out):
        counts = sample.counts()[path.name]
        shown = ", ".join(f"{n} {engine}" for engine, n in sorted(counts.items()))
        print(f"{path}: {path.stat().st_size} bytes ({shown})", file=sys.stderr)
    print(
        f"{len(sample.fallbacks)} positive(s) fell back to the rule's bare test record",
        file=sys.stderr,
    )
    problems = list(iter_labels(sample))
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
