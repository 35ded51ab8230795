"""Turn a raw HTTP(S) response from one's own scan into a Shodan-shaped banner.

Rules are written against Shodan banners (``shared/reference/shodan.md`` §2), so a response captured
with ``curl -si``, a proxy log or a home-grown scanner becomes matchable once it has the same
fields: ``data`` (status line and headers), ``hash``, ``http.*`` with Shodan's hashes
(:mod:`c2tracker.matching.fingerprints`), and ``ssl.cert`` parsed with ``cryptography`` into the
keys Shodan uses. Everything a user can get wrong (not an HTTP response, a header line without a
colon, a certificate that is neither PEM nor DER, a bad IP, port or JARM) raises
:class:`~c2tracker.errors.RecordError` naming the problem; nothing else escapes.

What is hashed: the whole body, however large. Shodan's crawler truncation limit for ``http.html``
is not documented (shodan.md §7), so a record built here carries and hashes the full decoded body;
``html_hash`` then equals Shodan's whenever Shodan stored the body whole.
"""

from __future__ import annotations

import codecs
import gzip
import html
import ipaddress
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtensionOID, NameOID, SignatureAlgorithmOID

from c2tracker.errors import Location, RecordError
from c2tracker.matching.fingerprints import (
    banner_hash,
    favicon_data,
    favicon_hash,
    headers_hash,
    html_hash,
    robots_hash,
    server_hash,
    title_hash,
)

__all__ = [
    "HEADER_TEXT_ENCODING",
    "TITLE_KEEPS_WHITESPACE",
    "HttpResponse",
    "banner_from_http_response",
    "banner_from_response",
    "decode_body",
    "html_title",
    "parse_certificate",
    "parse_http_response",
    "shodan_timestamp",
    "ssl_from_certificate",
]

TITLE_KEEPS_WHITESPACE = True
"""Inferred: ``http.title`` is the ``<title>`` text with character references decoded and
whitespace kept as sent (shodan.md does not say; ``title_hash`` depends on it)."""

HEADER_TEXT_ENCODING = "utf-8, else latin-1"
"""Inferred: the header block is decoded as UTF-8 and, when that fails, as ISO-8859-1 (which
cannot fail), so odd bytes in a header never lose the record."""

SHODAN_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
"""Banner ``timestamp``: UTC, microseconds, no zone suffix (shodan.md §2.1)."""

CERT_TIME_FORMAT = "%Y%m%d%H%M%SZ"
"""``ssl.cert.issued`` / ``expires`` (shodan.md §2.5)."""

_STATUS_LINE = re.compile(r"HTTP/\d(?:\.\d)? (\d{3})(?: .*)?")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_TITLE_END = re.compile(r"</title\s*>", re.IGNORECASE)
_JARM = re.compile(r"[0-9a-f]{62}")
_TITLE_CHUNK = 65536

# Short names Shodan uses for subject/issuer keys (observed in real banners, shodan.md §2.5);
# they are OpenSSL's short names, which ``cryptography`` does not expose publicly.
_NAME_KEYS: dict[x509.ObjectIdentifier, str] = {
    NameOID.COMMON_NAME: "CN",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COUNTRY_NAME: "C",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.STREET_ADDRESS: "street",
    NameOID.POSTAL_CODE: "postalCode",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.JURISDICTION_COUNTRY_NAME: "jurisdictionC",
    NameOID.JURISDICTION_STATE_OR_PROVINCE_NAME: "jurisdictionST",
    NameOID.JURISDICTION_LOCALITY_NAME: "jurisdictionL",
    NameOID.USER_ID: "UID",
    NameOID.TITLE: "title",
    NameOID.GIVEN_NAME: "GN",
    NameOID.SURNAME: "SN",
}

# OpenSSL short names of extensions, as in real banners (``ct_precert_scts``,
# ``crlDistributionPoints``), which differ from ``cryptography``'s internal names.
_EXTENSION_NAMES: dict[x509.ObjectIdentifier, str] = {
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER: "authorityKeyIdentifier",
    ExtensionOID.SUBJECT_KEY_IDENTIFIER: "subjectKeyIdentifier",
    ExtensionOID.KEY_USAGE: "keyUsage",
    ExtensionOID.BASIC_CONSTRAINTS: "basicConstraints",
    ExtensionOID.EXTENDED_KEY_USAGE: "extendedKeyUsage",
    ExtensionOID.CERTIFICATE_POLICIES: "certificatePolicies",
    ExtensionOID.CRL_DISTRIBUTION_POINTS: "crlDistributionPoints",
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS: "authorityInfoAccess",
    ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS: "ct_precert_scts",
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME: "subjectAltName",
    ExtensionOID.ISSUER_ALTERNATIVE_NAME: "issuerAltName",
    ExtensionOID.NAME_CONSTRAINTS: "nameConstraints",
    ExtensionOID.POLICY_CONSTRAINTS: "policyConstraints",
    ExtensionOID.INHIBIT_ANY_POLICY: "inhibitAnyPolicy",
    ExtensionOID.TLS_FEATURE: "tlsfeature",
    ExtensionOID.OCSP_NO_CHECK: "noCheck",
}

# OpenSSL long names of signature algorithms, the form Shodan's ``sig_alg`` takes.
_SIG_ALGS: dict[x509.ObjectIdentifier, str] = {
    SignatureAlgorithmOID.RSA_WITH_MD5: "md5WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA1: "sha1WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA224: "sha224WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA256: "sha256WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "sha384WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA512: "sha512WithRSAEncryption",
    SignatureAlgorithmOID.RSASSA_PSS: "rsassaPss",
    SignatureAlgorithmOID.ECDSA_WITH_SHA1: "ecdsa-with-SHA1",
    SignatureAlgorithmOID.ECDSA_WITH_SHA224: "ecdsa-with-SHA224",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "ecdsa-with-SHA256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "ecdsa-with-SHA384",
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: "ecdsa-with-SHA512",
    SignatureAlgorithmOID.DSA_WITH_SHA1: "dsaWithSHA1",
    SignatureAlgorithmOID.DSA_WITH_SHA256: "dsa_with_SHA256",
    SignatureAlgorithmOID.ED25519: "ED25519",
    SignatureAlgorithmOID.ED448: "ED448",
}


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """One HTTP response split into its parts; ``header_lines`` are kept as received."""

    status_line: str
    header_lines: tuple[str, ...]
    body: bytes

    @property
    def status(self) -> int:
        match = _STATUS_LINE.fullmatch(self.status_line)
        return int(match.group(1)) if match else 0

    @property
    def headers(self) -> list[tuple[str, str]]:
        """``(name, value)`` pairs in order; folded continuation lines join their header."""
        pairs: list[tuple[str, str]] = []
        for line in self.header_lines:
            if line[:1] in (" ", "\t") and pairs:
                name, value = pairs[-1]
                pairs[-1] = (name, f"{value} {line.strip()}")
                continue
            name, _, value = line.partition(":")
            pairs.append((name, value.strip()))
        return pairs

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    @property
    def data(self) -> str:
        """Shodan's ``data``: status line and header lines, each ending CRLF, then CRLF."""
        return "".join(f"{line}\r\n" for line in (self.status_line, *self.header_lines)) + "\r\n"


def parse_http_response(raw: bytes, *, source: str | None = None) -> HttpResponse:
    """Split raw response bytes (as ``curl -si`` or a proxy log shows them) into parts.

    Interim ``1xx`` responses in front of the final one are skipped. Line endings may be CRLF or
    bare LF. A chunked body is de-chunked and a gzip/deflate body decompressed when it really is
    in that form (``curl`` has usually decoded it already while leaving the header in place).

    Raises:
        RecordError: the text does not start with an HTTP status line, or a header line has no
            colon or an empty name; ``source`` names the input in the message.
    """
    rest = raw.lstrip(b"\r\n")
    while True:
        head, body = _split_head(rest)
        lines = _decode_head(head).replace("\r\n", "\n").split("\n")
        status_line = lines[0].rstrip("\r")
        match = _STATUS_LINE.fullmatch(status_line)
        if match is None:
            shown = status_line[:60] + ("…" if len(status_line) > 60 else "")
            raise RecordError(
                f"not an HTTP response: first line {shown!r} is not a status line "
                "like 'HTTP/1.1 200 OK'",
                location=Location(source, 1),
            )

        is_interim = match.group(1).startswith("1") and body.lstrip(b"\r\n").startswith(b"HTTP/")
        if not is_interim:
            break
        rest = body.lstrip(b"\r\n")

    header_lines = tuple(line.rstrip("\r") for line in lines[1:])
    _check_header_lines(header_lines, source)

    response = HttpResponse(status_line, header_lines, body)
    return HttpResponse(status_line, header_lines, _decode_transfer(response))


def _split_head(raw: bytes) -> tuple[bytes, bytes]:
    """Head and body at the first blank line; all head when there is none."""
    ends = [
        (index, len(marker))
        for marker in (b"\r\n\r\n", b"\n\n")
        if (index := raw.find(marker)) >= 0
    ]
    if not ends:
        return raw.rstrip(b"\r\n"), b""
    index, size = min(ends)
    return raw[:index], raw[index + size :]


def _decode_head(head: bytes) -> str:
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError:
        return head.decode("latin-1")


def _check_header_lines(lines: Sequence[str], source: str | None) -> None:
    for number, line in enumerate(lines, start=2):
        if line[:1] in (" ", "\t"):
            if number == 2:
                raise RecordError(
                    "header line starts with whitespace but there is no header to continue",
                    location=Location(source, number),
                )
            continue
        name, colon, _ = line.partition(":")
        if not colon:
            raise RecordError(
                f"header line {line[:60]!r} has no ':'", location=Location(source, number)
            )
        if not name or name != name.strip():
            raise RecordError(
                f"header line {line[:60]!r} has an empty name or whitespace before ':'",
                location=Location(source, number),
            )


def _decode_transfer(response: HttpResponse) -> bytes:
    body = response.body
    encoding = (response.header("Transfer-Encoding") or "").lower()
    if "chunked" in encoding:
        body = _dechunk(body) or body

    content_encoding = (response.header("Content-Encoding") or "").lower().strip()
    try:
        if content_encoding in ("gzip", "x-gzip") and body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        elif content_encoding == "deflate" and body:
            body = _inflate(body)
    except (OSError, EOFError, zlib.error):
        pass  # the body was not really encoded (already decoded by the client): keep it
    return body


def _inflate(body: bytes) -> bytes:
    try:
        return zlib.decompress(body)
    except zlib.error:
        return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate, as some servers send


def _dechunk(body: bytes) -> bytes | None:
    """The de-chunked body, or None when ``body`` is not in chunked form."""
    out = bytearray()
    position = 0
    while True:
        line_end = body.find(b"\n", position)
        if line_end < 0:
            return None
        size_text = body[position:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return None
        if size == 0:
            return bytes(out)
        start = line_end + 1
        if start + size > len(body):
            return None
        out += body[start : start + size]
        position = start + size
        if body[position : position + 2] == b"\r\n":
            position += 2
        elif body[position : position + 1] == b"\n":
            position += 1


def decode_body(body: bytes, content_type: str | None) -> str:
    """The body as text: charset from ``Content-Type``, else UTF-8; bad bytes become U+FFFD."""
    encoding = "utf-8"
    match = _CHARSET.search(content_type or "")
    if match:
        try:
            encoding = codecs.lookup(match.group(1)).name
        except LookupError:
            encoding = "utf-8"
    return body.decode(encoding, errors="replace")


class _TitleFinder(HTMLParser):
    """Finds where the first ``<title>`` start tag ends, skipping comments and scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.found: tuple[int, int, int] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and self.found is None:
            line, column = self.getpos()
            self.found = (line, column, len(self.get_starttag_text() or ""))


def html_title(text: str) -> str | None:
    """The document's title, as a browser reads it; None when there is no ``<title>``.

    ``html.parser`` locates the first title start tag (ignoring ones inside comments or scripts);
    the title is then the raw text up to ``</title>`` with character references decoded, since
    title content is RCDATA in HTML (markup inside it is text). An unclosed title runs to the
    end of the document, as in browsers. Parsing stops as soon as the tag is found, so a huge
    body costs little when its title comes early.
    """
    finder = _TitleFinder()
    for start in range(0, len(text), _TITLE_CHUNK):
        finder.feed(text[start : start + _TITLE_CHUNK])
        if finder.found is not None:
            break
    if finder.found is None:
        finder.close()
        if finder.found is None:
            return None

    line, column, tag_length = finder.found
    offset = _offset_of(text, line, column) + tag_length
    end = _TITLE_END.search(text, offset)
    raw = text[offset : end.start() if end else len(text)]
    title = html.unescape(raw)
    return title if TITLE_KEEPS_WHITESPACE else title.strip()


def _offset_of(text: str, line: int, column: int) -> int:
    """Character offset of 1-based ``line`` / 0-based ``column`` as ``HTMLParser`` counts."""
    offset = 0
    for _ in range(line - 1):
        offset = text.index("\n", offset) + 1
    return offset + column


def parse_certificate(data: bytes | str, *, what: str = "TLS certificate") -> x509.Certificate:
    """A certificate from PEM text or DER bytes.

    Raises:
        RecordError: the input is neither a PEM certificate nor DER.
    """
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(raw.strip())
        return x509.load_der_x509_certificate(raw)
    except ValueError as error:
        raise RecordError(f"{what} is neither a PEM nor a DER certificate ({error})") from None


def ssl_from_certificate(
    cert: bytes | str | x509.Certificate,
    *,
    chain: Sequence[bytes | str] = (),
    jarm: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Shodan's ``ssl`` object for a leaf certificate, its chain and an optional JARM."""
    leaf = cert if isinstance(cert, x509.Certificate) else parse_certificate(cert)
    others = [
        parse_certificate(item, what=f"chain certificate {index}")
        for index, item in enumerate(chain, start=1)
    ]
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)

    certificates = [leaf, *others]
    ssl: dict[str, Any] = {
        "cert": cert_record(leaf, now=moment),
        "chain": [c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certificates],
        "chain_sha256": [c.fingerprint(hashes.SHA256()).hex() for c in certificates],
    }
    if jarm is not None:
        ssl["jarm"] = _checked_jarm(jarm)
    return ssl


def cert_record(cert: x509.Certificate, *, now: datetime) -> dict[str, Any]:
    """Shodan's ``ssl.cert`` object (shodan.md §2.5) for one certificate."""
    not_before = cert.not_valid_before_utc
    not_after = cert.not_valid_after_utc
    return {
        "serial": cert.serial_number,
        "subject": _name_dict(cert.subject),
        "issuer": _name_dict(cert.issuer),
        "issued": not_before.strftime(CERT_TIME_FORMAT),
        "expires": not_after.strftime(CERT_TIME_FORMAT),
        "expired": now > not_after,
        "fingerprint": {
            "sha1": cert.fingerprint(hashes.SHA1()).hex(),
            "sha256": cert.fingerprint(hashes.SHA256()).hex(),
        },
        "sig_alg": _SIG_ALGS.get(
            cert.signature_algorithm_oid, cert.signature_algorithm_oid.dotted_string
        ),
        "pubkey": _pubkey(cert),
        "extensions": _extensions(cert),
        "version": cert.version.value,
    }


def _name_dict(name: x509.Name) -> dict[str, str]:
    """RDNs keyed by short name; when an attribute repeats the last one wins (inferred,
    as a dict built from the components in order behaves)."""
    result: dict[str, str] = {}
    for attribute in name:
        key = _NAME_KEYS.get(attribute.oid, attribute.oid.dotted_string)
        value = attribute.value
        result[key] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return result


def _pubkey(cert: x509.Certificate) -> dict[str, Any]:
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return {"type": cert.public_key_algorithm_oid.dotted_string, "bits": None}
    if isinstance(key, rsa.RSAPublicKey):
        return {"type": "rsa", "bits": key.key_size}
    if isinstance(key, ec.EllipticCurvePublicKey):
        # Shodan reports ECDSA keys with type "dsa" (observed, shodan.md §2.5).
        return {"type": "dsa", "bits": key.curve.key_size}
    if isinstance(key, dsa.DSAPublicKey):
        return {"type": "dsa", "bits": key.key_size}
    if isinstance(key, ed25519.Ed25519PublicKey):
        return {"type": "ed25519", "bits": 256}
    if isinstance(key, ed448.Ed448PublicKey):
        return {"type": "ed448", "bits": 456}
    return {"type": cert.public_key_algorithm_oid.dotted_string, "bits": None}


def _extensions(cert: x509.Certificate) -> list[dict[str, Any]]:
    """Extensions as Shodan lists them: OpenSSL short name, the DER of the value escaped like
    Python 2's ``string_escape`` (checked against a real banner), ``critical`` only when set."""
    try:
        extensions = list(cert.extensions)
    except ValueError:
        return []  # malformed or duplicate extensions: report none rather than fail the record

    result: list[dict[str, Any]] = []
    for extension in extensions:
        value = extension.value
        try:
            raw = (
                value.value
                if isinstance(value, x509.UnrecognizedExtension)
                else value.public_bytes()
            )
        except (NotImplementedError, ValueError):
            raw = b""
        entry: dict[str, Any] = {
            "name": _EXTENSION_NAMES.get(extension.oid, extension.oid.dotted_string),
            "data": _escape_bytes(raw),
        }
        if extension.critical:
            entry["critical"] = True
        result.append(entry)
    return result


def _escape_bytes(raw: bytes) -> str:
    """Printable ASCII as is; ``\\t \\n \\r \\\\ \\'`` escaped; every other byte as ``\\xNN``."""
    special = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x5C: "\\\\", 0x27: "\\'"}
    parts = []
    for byte in raw:
        if byte in special:
            parts.append(special[byte])
        elif 0x20 <= byte < 0x7F:
            parts.append(chr(byte))
        else:
            parts.append(f"\\x{byte:02x}")
    return "".join(parts)


def _checked_jarm(jarm: str) -> str:
    value = jarm.strip().lower()
    if not _JARM.fullmatch(value):
        raise RecordError(f"JARM fingerprint must be 62 hex characters, got {jarm[:70]!r}")
    return value


def shodan_timestamp(moment: datetime) -> str:
    """A banner ``timestamp``: UTC, no zone suffix; naive datetimes are taken as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(SHODAN_TIMESTAMP_FORMAT)


def _checked_ip(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        raise RecordError(f"not an IP address: {ip[:60]!r}") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def banner_from_response(
    response: HttpResponse,
    *,
    ip: str,
    port: int,
    tls_cert: bytes | str | None = None,
    tls_chain: Sequence[bytes | str] = (),
    jarm: str | None = None,
    favicon: bytes | None = None,
    favicon_url: str | None = None,
    robots: str | None = None,
    hostname: str | None = None,
    timestamp: datetime | None = None,
    location: str = "/",
    transport: str = "tcp",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A Shodan banner for a parsed response (see :func:`banner_from_http_response`)."""
    address = _checked_ip(ip)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise RecordError(f"port must be an integer 0-65535, got {port!r}")
    moment = timestamp or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # naive times are UTC, as in Shodan's timestamps
    is_tls = tls_cert is not None or jarm is not None

    data = response.data
    body_text = decode_body(response.body, response.header("Content-Type"))
    title = html_title(body_text)
    server = response.header("Server")
    host = hostname or str(address)

    http: dict[str, Any] = {
        "status": response.status,
        "title": title,
        "title_hash": title_hash(title) if title is not None else None,
        "html": body_text,
        "html_hash": html_hash(body_text),
        "server": server,
        "server_hash": server_hash(server) if server is not None else None,
        "headers_hash": headers_hash(data),
        "host": host,
        "location": location,
        "redirects": [],
        "robots": robots,
        "robots_hash": robots_hash(robots) if robots is not None else None,
        "favicon": None,
        "components": {},
    }
    if favicon is not None:
        scheme = "https" if is_tls else "http"
        http["favicon"] = {
            "hash": favicon_hash(favicon),
            "data": favicon_data(favicon),
            "location": favicon_url or f"{scheme}://{host}:{port}/favicon.ico",
        }

    banner: dict[str, Any] = {
        "port": port,
        "transport": transport,
        "timestamp": shodan_timestamp(moment),
        "hostnames": [hostname] if hostname else [],
        "domains": [],
        "tags": [],
        "data": data,
        "hash": banner_hash(data),
        "_shodan": {"module": "https" if is_tls else "http", "id": None, "options": {}},
        "http": http,
    }
    if isinstance(address, ipaddress.IPv4Address):
        banner["ip"] = int(address)
        banner["ip_str"] = str(address)
    else:
        # Shodan puts IPv6 banners under ``ipv6`` (§2.1); ``ip_str`` is set as well so that
        # consumers keyed on it keep working.
        banner["ipv6"] = str(address)
        banner["ip_str"] = str(address)

    if tls_cert is not None:
        banner["ssl"] = ssl_from_certificate(tls_cert, chain=tls_chain, jarm=jarm, now=moment)
        cert = banner["ssl"]["cert"]
        if cert["subject"] == cert["issuer"]:
            banner["tags"].append("self-signed")
    elif jarm is not None:
        banner["ssl"] = {"jarm": _checked_jarm(jarm)}

    if extra:
        banner.update(extra)
    return banner


def banner_from_http_response(
    raw: bytes,
    *,
    ip: str,
    port: int,
    tls_cert: bytes | str | None = None,
    tls_chain: Sequence[bytes | str] = (),
    jarm: str | None = None,
    favicon: bytes | None = None,
    favicon_url: str | None = None,
    robots: str | None = None,
    hostname: str | None = None,
    timestamp: datetime | None = None,
    location: str = "/",
    transport: str = "tcp",
    source: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A Shodan-shaped banner from raw response bytes and what else the scan saw.

    ``tls_cert`` is the leaf certificate (PEM text or DER bytes), ``tls_chain`` the rest of the
    chain; ``favicon`` the icon's raw bytes and ``favicon_url`` where it was fetched; ``timestamp``
    when the service was seen (default now). ``extra`` is merged into the top level last (e.g.
    ``org``, ``asn``, ``location``).

    Raises:
        RecordError: any part is malformed; the message says which and, for the response text,
            where (``source:line``).
    """
    response = parse_http_response(raw, source=source)
    return banner_from_response(
        response,
        ip=ip,
        port=port,
        tls_cert=tls_cert,
        tls_chain=tls_chain,
        jarm=jarm,
        favicon=favicon,
        favicon_url=favicon_url,
        robots=robots,
        hostname=hostname,
        timestamp=timestamp,
        location=location,
        transport=transport,
        extra=extra,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m c2tracker.matching.normalise RESPONSE --ip IP --port N [...]``.

    Prints one Shodan-shaped banner as a JSON line, ready for ``c2tracker match -``.
    """
    import argparse
    import json
    import sys
    from pathlib import Path

    parser = argparse.ArgumentParser(
        prog="python -m c2tracker.matching.normalise",
        description="Turn a raw HTTP response (curl -si output, a proxy log entry) into a "
        "Shodan-shaped banner on stdout.",
    )
    parser.add_argument("response", type=Path, help="file with the raw response bytes")
    parser.add_argument("--ip", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", type=Path, help="leaf certificate, PEM or DER")
    parser.add_argument("--chain", type=Path, action="append", default=[], help="chain cert")
    parser.add_argument("--jarm", help="JARM fingerprint (62 hex characters)")
    parser.add_argument("--favicon", type=Path, help="raw favicon bytes")
    parser.add_argument("--favicon-url", help="where the favicon was fetched")
    parser.add_argument("--hostname", help="host name used for the request")
    parser.add_argument("--timestamp", help="when it was seen, ISO 8601 (default: now)")
    args = parser.parse_args(argv)

    try:
        moment = datetime.fromisoformat(args.timestamp) if args.timestamp else None
        banner = banner_from_http_response(
            args.response.read_bytes(),
            ip=args.ip,
            port=args.port,
            tls_cert=args.cert.read_bytes() if args.cert else None,
            tls_chain=[path.read_bytes() for path in args.chain],
            jarm=args.jarm,
            favicon=args.favicon.read_bytes() if args.favicon else None,
            favicon_url=args.favicon_url,
            hostname=args.hostname,
            timestamp=moment,
            source=str(args.response),
        )
    except (RecordError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(banner))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
