"""Where a query's fields live in a scan record, and how a value in the record is compared.

Two halves:

- **Shodan**: :data:`SHODAN_FILTERS` maps each filter name to the banner values it reads and the
  kind of comparison it uses (``shodan.md`` §4.2). Extractors never raise: a missing object, a
  ``null``, or a value of the wrong JSON type simply yields no values, so it cannot match.
- **Censys**: :func:`resolve` walks a dotted path through a host record, existentially over
  arrays at every level (``censys.md`` §4.3), with the HTTP-header special cases of §3.1/§3.2
  handled by :class:`HeaderMap`.

Every reading the reference marks as *inferred* is a named constant or function here, so that a
test can pin it and a reviewer can find it.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeGuard

import mmh3

# --------------------------------------------------------------------------------------------
# Shared value helpers


def is_int(value: Any) -> TypeGuard[int]:
    """True for JSON integers; booleans are not numbers here (``true`` is not port 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """True for JSON numbers (not booleans, not NaN or infinities)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


_INT_TEXT = re.compile(r"[+-]?\d+")
_FLOAT_TEXT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")


def parse_number(text: str) -> int | float | None:
    """The number a query value spells (``"443"``, ``"-1957161625"``, ``"2.5"``), else None."""
    text = text.strip()
    if _INT_TEXT.fullmatch(text):
        return int(text)
    if _FLOAT_TEXT.fullmatch(text):
        number = float(text)
        return number if math.isfinite(number) else None
    return None


def parse_bool(text: str) -> bool | None:
    """``true``/``false`` (any case, also ``yes``/``no``/``1``/``0``) as a bool, else None."""
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    return None


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address from text, IPv4-mapped IPv6 unwrapped; None when it is not one."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A network from ``a.b.c.d/n`` or a single address (a /32 or /128); None otherwise."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def address_in(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> bool:
    """CIDR containment that is False (not an error) across address families."""
    return address.version == network.version and address in network


def parse_datetime(text: str) -> datetime | None:
    """ISO 8601 dates and times, Shodan's zone-less timestamps and ``dd/mm/yyyy``, as UTC.

    A time without a zone is UTC: Shodan writes ``timestamp`` that way (``shodan.md`` §2.1).
    """
    text = text.strip()
    if not text:
        return None
    try:
        if re.fullmatch(r"\d{2}/\d{2}/\d{4}", text):
            parsed = datetime.strptime(text, "%d/%m/%Y")
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def as_text(value: Any) -> str | None:
    """A record value read as text: strings as they are, numbers in decimal, others None.

    Numbers are accepted because real banners carry them in text fields (a ``version`` of 47,
    ``shodan.md`` §2.1); booleans, objects and lists are not text.
    """
    if isinstance(value, str):
        return value
    if is_number(value):
        return str(value)
    return None


def values_of(value: Any) -> list[Any]:
    """A field's value as a list: ``None`` → ``[]``, a list → its non-null items, else ``[x]``.

    One level of list only: a banner field is a scalar or a list of scalars; anything deeper is
    a malformed record whose inner lists simply fail the type checks of the comparison.
    """
    if value is None:
        return []
    if isinstance(value, list):
        return [item for item in value if item is not None]
    return [value]


def is_map(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """A JSON object (dicts checked first: the ABC test is slow on hot paths)."""
    return type(value) is dict or isinstance(value, Mapping)


def dig(record: Any, *path: str) -> Any:
    """``record[a][b]…`` through objects only; None once a step is missing or not an object."""
    node = record
    for key in path:
        # Records parsed from JSON are plain dicts; the exact type test is much cheaper than an
        # isinstance check against the Mapping ABC on this hot path.
        if type(node) is dict or isinstance(node, Mapping):
            node = node.get(key)
        else:
            return None
    return node


# --------------------------------------------------------------------------------------------
# Shodan text matching (shodan.md §4.3 "Case" and "Phrase vs substring")


class TextReading(StrEnum):
    """How a Shodan word or phrase matches a text field (the reference leaves this open)."""

    TOKENS = "tokens"
    """Lower-case, split on non-alphanumerics; a phrase matches a contiguous run of tokens."""
    SUBSTRING = "substring"
    """Lower-case substring of the field text."""


#: The reading this engine uses. Shodan's documentation says bare terms match banners that
#: "partially contain those terms" and the reference recommends token/phrase matching
#: (shodan.md §4.3); it is the stricter of the two readings, so a rule that matches offline also
#: matches on Shodan, and ``product:Metasploit`` does not match ``Metasploitable``.
SHODAN_TEXT_READING = TextReading.TOKENS

_NON_WORD = re.compile(r"[\W_]+")


def token_text(text: str) -> str:
    """``text`` lower-cased with every run of non-alphanumerics turned into one space, padded.

    A phrase then matches when ``" " + " ".join(tokens) + " "`` occurs in it, which keeps the
    phrase test a single substring search.
    """
    return " " + _NON_WORD.sub(" ", text.lower()) + " "


def query_tokens(phrase: str) -> tuple[str, ...]:
    """The tokens of a query word or phrase, lower-cased."""
    return tuple(token for token in _NON_WORD.split(phrase.lower()) if token)


def phrase_needle(phrase: str, reading: TextReading = SHODAN_TEXT_READING) -> str:
    """What to search for in the prepared field text under ``reading``.

    Under the token reading, a phrase with no alphanumerics at all (``"<>"``) falls back to a
    substring search, since it has no tokens to match.
    """
    if reading is TextReading.TOKENS:
        tokens = query_tokens(phrase)
        if tokens:
            return " " + " ".join(tokens) + " "
    return phrase.lower()


def uses_tokens(phrase: str, reading: TextReading = SHODAN_TEXT_READING) -> bool:
    """True when ``phrase`` is searched in :func:`token_text` rather than in lower-cased text."""
    return reading is TextReading.TOKENS and bool(query_tokens(phrase))


def text_matches(phrase: str, text: str, reading: TextReading = SHODAN_TEXT_READING) -> bool:
    """Whether the Shodan word or phrase ``phrase`` matches field text ``text``."""
    needle = phrase_needle(phrase, reading)
    if uses_tokens(phrase, reading):
        return needle in token_text(text)
    return needle in text.lower()


#: Words found in most web pages and HTTP headers. A prefilter literal made of one of them would
#: select nearly every HTTP banner, so :func:`required_literal` prefers any other token of the
#: phrase and the matcher ranks such literals as unselective as a port number.
_COMMON_WORDS = """
    a about account admin all an and api app application are as at auth be body bootstrap by
    cache charset class close com connection content control copyright css dashboard data date
    default div doctype en error for form found from get gmt head header home host href html
    http https id if in index input is it javascript jquery js keep length link loading log
    login logo main management menu meta min name net nginx no not of ok on or org page panel
    password please portal post powered script server service sign span src style submit system
    text the this title to type user username utf var version viewport web welcome width with
    www x you your
"""
COMMON_TOKENS = frozenset(_COMMON_WORDS.split())


def required_literal(phrase: str, reading: TextReading = SHODAN_TEXT_READING) -> str:
    """A lower-case string that the lower-cased field text must contain for ``phrase`` to match.

    Used by the compiled matcher's prefilter: under the token reading every token of the phrase
    is a substring of the lower-cased text; the longest token outside :data:`COMMON_TOKENS` is
    the most selective choice.
    """
    if reading is TextReading.TOKENS:
        tokens = query_tokens(phrase)
        if tokens:
            rare = [token for token in tokens if token not in COMMON_TOKENS]
            return max(rare or tokens, key=len)
    return phrase.lower()


# --------------------------------------------------------------------------------------------
# Shodan filters → banner fields (shodan.md §4.2)


class ShodanKind(StrEnum):
    """How the values of one Shodan filter are compared."""

    INT = "int"
    """Integer equality (signed decimal in the query); ranges compare numerically."""
    SERIAL = "serial"
    """Certificate serial: decimal or hexadecimal in the query, see :func:`parse_serial_query`."""
    TEXT = "text"
    """Case-insensitive word/phrase within the field text (:data:`SHODAN_TEXT_READING`)."""
    KEYWORD = "keyword"
    """Case-insensitive equality of the whole value."""
    PREFIX = "prefix"
    """Case-insensitive prefix (``cpe``)."""
    HOSTNAME = "hostname"
    """The name itself or any name below it (:func:`hostname_matches`)."""
    CIDR = "cidr"
    """Address within a network; a single address is a /32 or /128."""
    BOOL = "bool"
    """``true``/``false``."""
    BEFORE = "before"
    """Record timestamp earlier than the date."""
    AFTER = "after"
    """Record timestamp later than the date."""


Extractor = Callable[[Mapping[str, Any]], list[Any]]


@dataclass(frozen=True, slots=True)
class ShodanFilter:
    """One Shodan filter: its name, comparison kind and the banner values it reads."""

    name: str
    kind: ShodanKind
    extract: Extractor
    path: tuple[str, ...] | None = None
    """The banner path when the filter reads one plain field (lets the matcher walk it inline)."""
    many: bool = False
    """The field holds a list (for ``path`` filters: otherwise a list value is malformed)."""


#: Banners with no ``hash`` but an empty or missing ``data`` hash to 0: Shodan documents that
#: "empty banners always hash to zero" (shodan.md §3), which is what ``-hash:0`` relies on. This
#: is the one place where a missing field still yields a value.
EMPTY_BANNER_HASH = 0


def banner_hash(banner: Mapping[str, Any]) -> list[Any]:
    """The banner's ``hash``; computed from ``data`` (mmh3, signed) when the record lacks it."""
    stored = banner.get("hash")
    if stored is not None:
        return [stored]
    data = banner.get("data")
    if data is None or data == "":
        return [EMPTY_BANNER_HASH]
    if isinstance(data, str):
        return [mmh3.hash(data)]
    return []


_HEX_SERIAL = re.compile(r"(?:0x)?([0-9a-f]+)", re.IGNORECASE)
_COLON_HEX = re.compile(r"[0-9a-f]{1,2}(?::[0-9a-f]{1,2})+", re.IGNORECASE)

#: A serial stored as colon-separated bytes (``08:ba:f3:ee``, OpenSSL's form): only the first
#: byte may drop its leading zero. ``8:b:a`` is not read (a one-digit byte inside is ambiguous),
#: which also lets the raw-line prefilter name the one form each serial takes.
RECORD_COLON_HEX = re.compile(r"[0-9a-f]{1,2}(?::[0-9a-f]{2})+", re.IGNORECASE)


def parse_serial_query(text: str) -> int | None:
    """A serial written in a query: decimal digits as decimal, ``0x…`` or hex letters as hex.

    shodan.md §4.1: ``ssl.cert.serial`` accepts "an integer or hexadecimal string". A value of
    only digits is read as decimal (the form C2 Tracker's ``ssl.cert.serial:146473198`` uses).
    """
    text = text.strip()
    if _INT_TEXT.fullmatch(text):
        return int(text)
    if _COLON_HEX.fullmatch(text):
        return int(text.replace(":", ""), 16)
    match = _HEX_SERIAL.fullmatch(text)
    return int(match.group(1), 16) if match else None


def record_serial(value: Any) -> int | None:
    """A serial as stored in a banner.

    Shodan stores the serial as a JSON integer (shodan.md §2.5). Exports converted by other tools
    sometimes hold it as a string; a string is read as hexadecimal only when that is unambiguous
    (``0x`` prefix, colon-separated bytes as :data:`RECORD_COLON_HEX`, or hex letters present).
    A string of decimal digits could be either base, so it never matches: a wrong guess would be
    a false match.
    """
    if is_int(value):
        return int(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if RECORD_COLON_HEX.fullmatch(text):
        return int(text.replace(":", ""), 16)
    if ":" in text:
        return None
    if text[:2].lower() == "0x" and _HEX_SERIAL.fullmatch(text):
        return int(text[2:], 16)
    if _HEX_SERIAL.fullmatch(text) and not text.isdigit():
        return int(text, 16)
    return None


def hostname_matches(query: str, hostname: str) -> bool:
    """``hostname:example.com`` matches ``example.com`` and ``www.example.com``, any case.

    Inferred (shodan.md §4.2 quotes both "full hostname" and "contains"); matching the name and
    the names below it is the reading that serves hunting without substring false positives.
    """
    query = query.strip().lower().rstrip(".")
    hostname = hostname.strip().lower().rstrip(".")
    return hostname == query or hostname.endswith("." + query)


def _path(*path: str) -> Extractor:
    """A scalar field. A list where a scalar belongs is a malformed record and yields nothing,
    so ``"port": [443]`` is not port 443."""

    def extract(banner: Mapping[str, Any]) -> list[Any]:
        value = dig(banner, *path)
        return [] if value is None or isinstance(value, list) else [value]

    extract.banner_path = path  # type: ignore[attr-defined]
    return extract


def _list_path(*path: str) -> Extractor:
    """A list field (``hostnames``, ``tags``…); a lone scalar counts as a one-item list."""

    def extract(banner: Mapping[str, Any]) -> list[Any]:
        return values_of(dig(banner, *path))

    extract.banner_path = path  # type: ignore[attr-defined]
    extract.many = True  # type: ignore[attr-defined]
    return extract


def _keys_of(*path: str, list_form: bool = False) -> Extractor:
    """Keys of an object; with ``list_form``, a plain list of names is accepted too."""

    def extract(banner: Mapping[str, Any]) -> list[Any]:
        node = dig(banner, *path)
        if isinstance(node, Mapping):
            return list(node.keys())
        if not list_form:
            return []
        return [item for item in values_of(node) if isinstance(item, str)]

    return extract


def _component_categories(banner: Mapping[str, Any]) -> list[Any]:
    components = dig(banner, "http", "components")
    if not isinstance(components, Mapping):
        return []
    categories: list[Any] = []
    for info in components.values():
        categories.extend(values_of(dig(info, "categories")))
    return categories


def _address(banner: Mapping[str, Any]) -> list[Any]:
    for key in ("ip_str", "ipv6"):
        value = banner.get(key)
        if isinstance(value, str):
            return [value]
    value = banner.get("ip")
    if is_int(value) and 0 <= value < 2**32:
        return [str(ipaddress.IPv4Address(value))]
    return []


def _present(*path: str) -> Extractor:
    def extract(banner: Mapping[str, Any]) -> list[Any]:
        node = dig(banner, *path)
        return [node is not None and node != {} and node != [] and node != ""]

    return extract


def _has_screenshot(banner: Mapping[str, Any]) -> list[Any]:
    found = any(
        isinstance(node, Mapping) and bool(node)
        for node in (banner.get("screenshot"), dig(banner, "opts", "screenshot"))
    )
    return [found]


def _screenshot_labels(banner: Mapping[str, Any]) -> list[Any]:
    labels = values_of(dig(banner, "screenshot", "labels"))
    return labels or values_of(dig(banner, "opts", "screenshot", "labels"))


def _cpes(banner: Mapping[str, Any]) -> list[Any]:
    return values_of(banner.get("cpe")) + values_of(banner.get("cpe23"))


def _fingerprints(banner: Mapping[str, Any]) -> list[Any]:
    fingerprint = dig(banner, "ssl", "cert", "fingerprint")
    if not isinstance(fingerprint, Mapping):
        return []
    return values_of(fingerprint.get("sha1")) + values_of(fingerprint.get("sha256"))


def _extension_names(banner: Mapping[str, Any]) -> list[Any]:
    return [dig(ext, "name") for ext in values_of(dig(banner, "ssl", "cert", "extensions"))]


def _ssl_versions(banner: Mapping[str, Any]) -> list[Any]:
    # A leading "-" marks a version the server refused (shodan.md §2.5).
    return [
        version
        for version in values_of(dig(banner, "ssl", "versions"))
        if isinstance(version, str) and not version.startswith("-")
    ]


def _chain_count(banner: Mapping[str, Any]) -> list[Any]:
    chain = dig(banner, "ssl", "chain")
    return [len(chain)] if isinstance(chain, list) else []


def ssl_text(banner: Mapping[str, Any]) -> list[Any]:
    """The text the ``ssl:`` filter searches ("all SSL data", shodan.md §4.2).

    Taken to be: every subject and issuer value, extension data (which carries the SAN names),
    the serial in decimal and hex, the fingerprints, the cipher name, JARM and JA3S. PEM chains
    and handshake details are left out: they are base64 noise that would only add false hits.
    """
    ssl = banner.get("ssl")
    if not is_map(ssl):
        return []
    parts: list[str] = []
    cert = ssl.get("cert")
    if is_map(cert):
        for name in ("subject", "issuer"):
            dn = cert.get(name)
            if is_map(dn):
                for value in dn.values():
                    for item in value if type(value) is list else (value,):
                        text = as_text(item)
                        if text:
                            parts.append(text)
        extensions = cert.get("extensions")
        for ext in extensions if type(extensions) is list else ():
            data = ext.get("data") if is_map(ext) else None
            if type(data) is str:
                parts.append(data)
        serial = record_serial(cert.get("serial"))
        if serial is not None:
            parts.append(str(serial))
            parts.append(format(serial, "x"))
        fingerprint = cert.get("fingerprint")
        if is_map(fingerprint):
            parts.extend(v for v in fingerprint.values() if type(v) is str)
    cipher = ssl.get("cipher")
    for value in (cipher.get("name") if is_map(cipher) else None, ssl.get("jarm"), ssl.get("ja3s")):
        if type(value) is str:
            parts.append(value)
    return ["\n".join(parts)] if parts else []


def _f(name: str, kind: ShodanKind, extract: Extractor) -> tuple[str, ShodanFilter]:
    path = getattr(extract, "banner_path", None)
    return name, ShodanFilter(name, kind, extract, path, getattr(extract, "many", False))


_INT, _TEXT, _KEY = ShodanKind.INT, ShodanKind.TEXT, ShodanKind.KEYWORD

#: Filter name → banner values and comparison (shodan.md §4.2). The legacy names ``html`` and
#: ``title`` are the old top-level copies of ``http.html`` / ``http.title`` (§4.2, inferred).
SHODAN_FILTERS: dict[str, ShodanFilter] = dict(
    [
        _f("port", _INT, _path("port")),
        _f("hash", _INT, banner_hash),
        _f("net", ShodanKind.CIDR, _address),
        _f("ip", ShodanKind.CIDR, _address),
        _f("asn", _KEY, _path("asn")),
        _f("org", _TEXT, _path("org")),
        _f("isp", _TEXT, _path("isp")),
        _f("os", _TEXT, _path("os")),
        _f("product", _TEXT, _path("product")),
        _f("version", _TEXT, _path("version")),
        _f("city", _TEXT, _path("location", "city")),
        _f("region", _TEXT, _path("location", "region_code")),
        _f("state", _TEXT, _path("location", "region_code")),
        _f("postal", _TEXT, _path("location", "postal_code")),
        _f("country", _KEY, _path("location", "country_code")),
        _f("hostname", ShodanKind.HOSTNAME, _list_path("hostnames")),
        _f("domain", _KEY, _list_path("domains")),
        _f("tag", _KEY, _list_path("tags")),
        _f("vuln", _KEY, _keys_of("vulns", list_form=True)),
        _f("cpe", ShodanKind.PREFIX, _cpes),
        _f("shodan.module", _KEY, _path("_shodan", "module")),
        _f("has_screenshot", ShodanKind.BOOL, _has_screenshot),
        _f("has_ssl", ShodanKind.BOOL, _present("ssl")),
        _f("has_ipv6", ShodanKind.BOOL, _present("ipv6")),
        _f("has_vuln", ShodanKind.BOOL, _present("vulns")),
        _f("before", ShodanKind.BEFORE, _path("timestamp")),
        _f("after", ShodanKind.AFTER, _path("timestamp")),
        _f("http.status", _INT, _path("http", "status")),
        _f("http.title", _TEXT, _path("http", "title")),
        _f("title", _TEXT, _path("http", "title")),
        _f("http.html", _TEXT, _path("http", "html")),
        _f("html", _TEXT, _path("http", "html")),
        _f("http.securitytxt", _TEXT, _path("http", "securitytxt")),
        _f("http.waf", _TEXT, _path("http", "waf")),
        _f("http.component", _KEY, _keys_of("http", "components")),
        _f("http.component_category", _KEY, _component_categories),
        _f("http.html_hash", _INT, _path("http", "html_hash")),
        _f("http.headers_hash", _INT, _path("http", "headers_hash")),
        _f("http.title_hash", _INT, _path("http", "title_hash")),
        _f("http.server_hash", _INT, _path("http", "server_hash")),
        _f("http.dom_hash", _INT, _path("http", "dom_hash")),
        _f("http.robots_hash", _INT, _path("http", "robots_hash")),
        _f("http.securitytxt_hash", _INT, _path("http", "securitytxt_hash")),
        _f("http.sitemap_hash", _INT, _path("http", "sitemap_hash")),
        _f("http.favicon.hash", _INT, _path("http", "favicon", "hash")),
        _f("ssl", _TEXT, ssl_text),
        _f("ssl.cert.serial", ShodanKind.SERIAL, _path("ssl", "cert", "serial")),
        _f("ssl.cert.issuer.cn", _TEXT, _path("ssl", "cert", "issuer", "CN")),
        _f("ssl.cert.subject.cn", _TEXT, _path("ssl", "cert", "subject", "CN")),
        _f("ssl.cert.fingerprint", _KEY, _fingerprints),
        _f("ssl.cert.alg", _KEY, _path("ssl", "cert", "sig_alg")),
        _f("ssl.cert.pubkey.type", _KEY, _path("ssl", "cert", "pubkey", "type")),
        _f("ssl.cert.pubkey.bits", _INT, _path("ssl", "cert", "pubkey", "bits")),
        _f("ssl.cert.expired", ShodanKind.BOOL, _path("ssl", "cert", "expired")),
        _f("ssl.cert.extension", _KEY, _extension_names),
        _f("ssl.version", _KEY, _ssl_versions),
        _f("ssl.cipher.version", _KEY, _path("ssl", "cipher", "version")),
        _f("ssl.cipher.bits", _INT, _path("ssl", "cipher", "bits")),
        _f("ssl.cipher.name", _KEY, _path("ssl", "cipher", "name")),
        _f("ssl.alpn", _KEY, _list_path("ssl", "alpn")),
        _f("ssl.chain_count", _INT, _chain_count),
        _f("ssl.jarm", _KEY, _path("ssl", "jarm")),
        _f("ssl.ja3s", _KEY, _path("ssl", "ja3s")),
        _f("ssh.hassh", _KEY, _path("ssh", "hassh")),
        _f("ssh.type", _KEY, _path("ssh", "type")),
        _f("cloud.provider", _KEY, _path("cloud", "provider")),
        _f("cloud.region", _KEY, _path("cloud", "region")),
        _f("cloud.service", _KEY, _path("cloud", "service")),
        _f("screenshot.label", _KEY, _screenshot_labels),
    ]
)

#: The field free text (bare words and phrases) searches on Shodan: only ``data`` (shodan.md §4.1).
SHODAN_FULL_TEXT_FIELD = "data"


def shodan_data(banner: Mapping[str, Any]) -> list[Any]:
    """The banner's ``data``, the one field Shodan free text searches."""
    return values_of(banner.get(SHODAN_FULL_TEXT_FIELD))


# --------------------------------------------------------------------------------------------
# Censys host paths (censys.md §3, §4.3)

#: CenQL paths carry a dataset prefix; host records answer only ``host.`` paths. ``web.`` and
#: ``cert.`` paths address other datasets (web properties, certificates) that a host record does
#: not contain, so a condition on them never holds offline (censys.md §4.2).
CENQL_HOST_PREFIX = "host."
CENQL_OTHER_DATASETS = ("web.", "cert.")

#: Deepest list-in-list nesting followed when flattening arrays; deeper is a hostile record.
MAX_LIST_DEPTH = 16


def cenql_host_path(name: str) -> str | None:
    """The record path a top-level CenQL field reads, or None if it is not a host field.

    ``host.services.port`` → ``services.port``. A path with no dataset prefix is read as a host
    path: the API insists on the prefix, but offline there is only one dataset to mean.
    """
    if name.startswith(CENQL_HOST_PREFIX):
        return name[len(CENQL_HOST_PREFIX) :]
    if name == "host":
        return ""
    if name.startswith(CENQL_OTHER_DATASETS):
        return None
    return name


#: Censys fields that hold numbers (by last path segment). A string there is a malformed record
#: and never matches: otherwise ``port: 443`` would find ``"8443"`` by substring.
CENSYS_NUMERIC_FIELDS = frozenset(
    {"port", "status_code", "asn", "hash_shodan", "shodan_hash", "body_size", "service_count",
     "pubkey_bit_size", "size", "length"}
)  # fmt: skip


def header_name_key(name: str) -> str:
    """How header names compare in a named lookup: lower case, ``-`` read as ``_``.

    Legacy stored JSON writes ``Content_Type`` and queries write ``headers.content_type``; the
    Platform stores the original ``Content-Type`` (censys.md §3.1, §3.2).
    """
    return name.lower().replace("-", "_")


class HeaderMap:
    """An HTTP header map seen as the search index sees it.

    Stored JSON holds headers as a map (Platform: name → ``{"headers": [values]}``; legacy: name
    → ``[values]``); queries address them either as a list of ``{key, value}`` pairs
    (``headers: (key="Server" and value="nginx")``, legacy ``value.headers``) or by name
    (legacy ``headers.server``). :attr:`entries` serves the first form, :meth:`named` the second.
    """

    __slots__ = ("by_name", "entries")

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.entries: list[dict[str, Any]] = []
        self.by_name: dict[str, list[Any]] = {}
        for name, value in raw.items():
            if not isinstance(name, str) or name.startswith("_"):
                continue  # legacy "_encoding" display hints are not headers
            inner = value.get("headers") if isinstance(value, Mapping) else value
            texts = [text for item in values_of(inner) if (text := as_text(item)) is not None]
            self.entries.append({"key": name, "value": {"headers": texts}})
            self.by_name.setdefault(header_name_key(name), []).extend(texts)

    def named(self, name: str) -> list[Any]:
        return self.by_name.get(header_name_key(name), [])

    def __bool__(self) -> bool:
        return bool(self.entries)


def flatten(value: Any, depth: int = 0) -> Iterator[Any]:
    """Items of ``value`` with nested lists spread out (existential arrays); nulls dropped."""
    if value is None:
        return
    if isinstance(value, list):
        if depth >= MAX_LIST_DEPTH:
            return
        for item in value:
            yield from flatten(item, depth + 1)
    else:
        yield value


def _unwrap_header_values(value: Any) -> Any:
    # A CenQL ``value`` inside a header pair means the value list: Platform JSON holds it as
    # {"headers": [...]} (censys.md §3.2), and the key/value query form never names "headers".
    if isinstance(value, Mapping) and len(value) == 1 and "headers" in value:
        return value["headers"]
    return value


def resolve(root: Any, segments: Sequence[str]) -> list[Any]:
    """Every value at ``segments`` below ``root``; arrays are entered at every level.

    The result holds leaves and objects (for ``Exists`` and nested blocks); nulls never appear.
    """
    current: list[Any] = list(flatten(root))
    for segment in segments:
        following: list[Any] = []
        for node in current:
            if isinstance(node, HeaderMap):
                if segment in ("key", "value"):
                    following.extend(entry[segment] for entry in node.entries)
                else:
                    following.extend(node.named(segment))
                continue
            if not isinstance(node, Mapping):
                continue
            value = node.get(segment)
            if segment == "headers" and isinstance(value, Mapping):
                value = HeaderMap(value)
            following.extend(flatten(value))
        current = following
        if not current:
            return []
    result: list[Any] = []
    for node in current:
        result.extend(flatten(_unwrap_header_values(node)))
    return result


def elements_of(value: Any) -> list[Any]:
    """The elements a nested block ranges over: list items, or a header map's pairs."""
    if isinstance(value, HeaderMap):
        return list(value.entries)
    return list(flatten(value))


def is_present(value: Any) -> bool:
    """``field: *``: present with a non-empty value (censys.md §4.3)."""
    if value is None or value == "":
        return False
    if isinstance(value, list | Mapping | HeaderMap):
        return bool(value)
    return True


def iter_string_leaves(root: Any) -> Iterator[tuple[str, str]]:
    """``(path, text)`` for every string in ``root``, walked without recursion.

    Used for Censys free text ("every string leaf", censys.md §4.3). Paths are dotted, array
    indexes omitted, as query paths are written. Legacy ``_encoding`` display hints are skipped.
    """
    stack: list[tuple[str, Any]] = [("", root)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            yield path, node
        elif isinstance(node, Mapping):
            for key, value in reversed(list(node.items())):
                if key == "_encoding" or not isinstance(key, str):
                    continue
                stack.append((f"{path}.{key}" if path else key, value))
        elif isinstance(node, list):
            stack.extend((path, item) for item in reversed(node))
