"""Raw HTTP(S) responses → Shodan-shaped banners."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from c2tracker.errors import RecordError
from c2tracker.matching import fingerprints as fp
from c2tracker.matching.normalise import (
    TITLE_KEEPS_WHITESPACE,
    banner_from_http_response,
    decode_body,
    html_title,
    parse_certificate,
    parse_http_response,
    shodan_timestamp,
    ssl_from_certificate,
)

DATA = Path(__file__).parent / "data"
CLOUDFLARE = json.loads((DATA / "cloudflare-2020-banner.json").read_text())
CLOUDFLARE_DATA: str = CLOUDFLARE["data"]
CLOUDFLARE_HTML: str = CLOUDFLARE["html"]
JARM = "2ad2ad16d2ad2ad22c42d42d00042d58c7162162b6a603d3d90a2b76865b53"


def _self_signed(common_name: str = "localhost", *, days: int = 365) -> x509.Certificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme & Sons"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    start = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x1234ABCD)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(common_name), x509.DNSName("www.test")]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )


def test_real_cloudflare_response_round_trips_to_stored_hashes() -> None:
    raw = (CLOUDFLARE_DATA + CLOUDFLARE_HTML).encode()
    when = datetime(2020, 9, 29, 12, 44, 48, 931685, tzinfo=UTC)

    banner = banner_from_http_response(raw, ip="104.18.166.49", port=80, timestamp=when)

    assert banner["data"] == CLOUDFLARE_DATA
    assert banner["hash"] == 2101142609
    assert banner["ip"] == 1746052657
    assert banner["ip_str"] == "104.18.166.49"
    assert banner["timestamp"] == "2020-09-29T12:44:48.931685"
    http = banner["http"]
    assert http["html"] == CLOUDFLARE_HTML
    assert http["html_hash"] == 1471629837
    assert http["title"] == "403 Forbidden"
    assert http["title_hash"] == fp.title_hash("403 Forbidden")
    assert http["server"] == "cloudflare"
    assert http["server_hash"] == fp.server_hash("cloudflare")
    assert http["status"] == 403
    assert http["headers_hash"] == fp.mmh3_text(
        "HTTP/1.1 403 Forbidden\nServer\nDate\nContent-Type\nContent-Length\nConnection\n"
        "CF-RAY\ncf-request-id"
    )
    assert banner["_shodan"]["module"] == "http"
    json.dumps(banner)  # JSON-serialisable as the readers and the matcher expect


def test_real_certificate_gives_the_fields_shodan_stored() -> None:
    # The stored ssl.cert of the 2020 Cloudflare banner (shodan.md §2.5 sources).
    pem = (DATA / "cloudflare-2020-leaf.pem").read_text()
    ssl = ssl_from_certificate(pem, now=datetime(2020, 9, 29, tzinfo=UTC))
    cert = ssl["cert"]

    assert cert["issued"] == "20200520000000Z"
    assert cert["expires"] == "20201126235959Z"
    assert cert["expired"] is False
    assert cert["version"] == 2
    assert cert["sig_alg"] == "ecdsa-with-SHA256"
    assert cert["pubkey"] == {"type": "dsa", "bits": 256}
    assert cert["fingerprint"] == {
        "sha256": "7872e3d5dd476590e98509e6c1f869161edf51bbad75ba75a63bb649883d94d2",
        "sha1": "75c991b23b944860a986a90fb90591193d74a9fd",
    }
    assert cert["subject"] == {"CN": "ssl891870.cloudflaressl.com"}
    assert cert["issuer"] == {
        "L": "Salford",
        "ST": "Greater Manchester",
        "CN": "COMODO ECC Domain Validation Secure Server CA 2",
        "C": "GB",
        "O": "COMODO CA Limited",
    }
    assert isinstance(cert["serial"], int)
    assert f"{cert['serial']:.16e}" == f"{2.5879735000124514e38:.16e}"
    assert [e["name"] for e in cert["extensions"]] == [
        "authorityKeyIdentifier",
        "subjectKeyIdentifier",
        "keyUsage",
        "basicConstraints",
        "extendedKeyUsage",
        "certificatePolicies",
        "crlDistributionPoints",
        "authorityInfoAccess",
        "ct_precert_scts",
        "subjectAltName",
    ]
    by_name = {e["name"]: e for e in cert["extensions"]}
    assert by_name["subjectAltName"]["data"] == (
        "0S\\x82\\x1bssl891870.cloudflaressl.com\\x82\\x1a*.qa.si.v1.wemshowcase.com"
        "\\x82\\x18qa.si.v1.wemshowcase.com"
    )
    assert by_name["keyUsage"] == {
        "name": "keyUsage",
        "data": "\\x03\\x02\\x07\\x80",
        "critical": True,
    }
    assert by_name["authorityKeyIdentifier"]["data"] == (
        "0\\x16\\x80\\x14@\\tag\\xf0\\xbc\\x83qO\\xde\\x12\\x08,o\\xd4\\xd4+v=\\x96"
    )
    assert "critical" not in by_name["subjectAltName"]
    assert ssl["chain_sha256"] == [cert["fingerprint"]["sha256"]]
    assert ssl["chain"][0].startswith("-----BEGIN CERTIFICATE-----\n")


NGINX_RAW = (
    b"HTTP/1.1 200 OK\r\n"
    b"Server: nginx/1.24.0\r\n"
    b"Date: Mon, 02 Nov 2026 10:00:00 GMT\r\n"
    b"Content-Type: text/html; charset=iso-8859-1\r\n"
    b"Connection: keep-alive\r\n"
    b"\r\n"
    b"<html><head><!-- <title>not this</title> -->"
    b"<script>var t = '<title>nor this</title>';</script>"
    b"<title>Caf\xe9 &amp; <b>Bar</b> &#x41;</title></head><body>Welcome</body></html>"
)


def test_nginx_response_with_pem_and_der_certificates() -> None:
    cert = _self_signed("panel.test")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    der = cert.public_bytes(serialization.Encoding.DER)
    icon = bytes(range(200))
    when = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)

    from_pem = banner_from_http_response(
        NGINX_RAW,
        ip="203.0.113.7",
        port=8443,
        tls_cert=pem.decode(),
        jarm=JARM.upper(),
        favicon=icon,
        hostname="panel.test",
        timestamp=when,
    )
    from_der = banner_from_http_response(
        NGINX_RAW,
        ip="203.0.113.7",
        port=8443,
        tls_cert=der,
        jarm=JARM,
        favicon=icon,
        hostname="panel.test",
        timestamp=when,
    )
    assert from_pem == from_der

    http = from_pem["http"]
    # Title content is RCDATA: markup inside is text; entities decode; the charset is honoured;
    # titles in comments and scripts do not count.
    assert http["title"] == "Café & <b>Bar</b> A"
    assert http["title_hash"] == fp.title_hash("Café & <b>Bar</b> A")
    assert http["html"].endswith("Welcome</body></html>")
    assert http["html_hash"] == fp.html_hash(NGINX_RAW.split(b"\r\n\r\n", 1)[1].decode("latin-1"))
    assert from_pem["hash"] == fp.banner_hash(
        NGINX_RAW.split(b"\r\n\r\n", 1)[0].decode() + "\r\n\r\n"
    )
    assert http["server"] == "nginx/1.24.0"
    assert http["favicon"] == {
        "hash": fp.favicon_hash(icon),
        "data": fp.favicon_data(icon),
        "location": "https://panel.test:8443/favicon.ico",
    }
    assert http["host"] == "panel.test"
    assert from_pem["hostnames"] == ["panel.test"]
    assert from_pem["_shodan"]["module"] == "https"

    ssl = from_pem["ssl"]
    assert ssl["jarm"] == JARM
    assert ssl["cert"]["serial"] == 0x1234ABCD
    assert ssl["cert"]["issuer"] == {"C": "US", "O": "Acme & Sons", "CN": "panel.test"}
    assert ssl["cert"]["subject"] == ssl["cert"]["issuer"]
    assert ssl["cert"]["issued"] == "20260102030405Z"
    assert ssl["cert"]["sig_alg"] == "sha256WithRSAEncryption"
    assert ssl["cert"]["pubkey"] == {"type": "rsa", "bits": 2048}
    assert ssl["cert"]["fingerprint"]["sha256"] == cert.fingerprint(hashes.SHA256()).hex()
    san = [e for e in ssl["cert"]["extensions"] if e["name"] == "subjectAltName"]
    assert "panel.test" in san[0]["data"] and "www.test" in san[0]["data"]
    assert "self-signed" in from_pem["tags"]


def test_expired_flag_follows_the_banner_time() -> None:
    cert = _self_signed(days=10)
    later = datetime(2026, 3, 1, tzinfo=UTC)
    assert ssl_from_certificate(cert, now=later)["cert"]["expired"] is True
    earlier = datetime(2026, 1, 5, tzinfo=UTC)
    assert ssl_from_certificate(cert, now=earlier)["cert"]["expired"] is False


def test_ec_key_reported_as_dsa_like_shodan() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(datetime(2026, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2027, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA384())
    )
    record = ssl_from_certificate(cert, now=datetime(2026, 6, 1, tzinfo=UTC))["cert"]
    assert record["pubkey"] == {"type": "dsa", "bits": 384}
    assert record["sig_alg"] == "ecdsa-with-SHA384"


def test_curl_style_input_with_lf_interim_and_chunked_and_gzip_bodies() -> None:
    body = b"<title>Gz</title>hello"
    chunked = b"6\r\n" + body[:6] + b"\r\n" + f"{len(body) - 6:x}".encode() + b"\r\n" + body[6:]
    raw = (
        b"HTTP/1.1 100 Continue\n\n"
        b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nContent-Encoding: gzip\n\n"
    )
    zipped = gzip.compress(body)
    chunked = f"{len(zipped):x}".encode() + b"\r\n" + zipped + b"\r\n0\r\n\r\n"
    response = parse_http_response(raw + chunked)
    assert response.status == 200
    assert response.body == body
    assert response.data == (
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
    )

    # curl has usually decoded the body already while keeping the headers: keep it as is.
    plain = parse_http_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nhi there")
    assert plain.body == b"hi there"


def test_folded_header_joins_the_previous_value() -> None:
    response = parse_http_response(b"HTTP/1.0 200 OK\r\nX-A: one\r\n two\r\n\r\n")
    assert response.headers == [("X-A", "one two")]
    assert response.header("x-a") == "one two"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"<html>not http</html>", "scan.txt:1: not an HTTP response"),
        (b"HTTP/1.1 200 OK\r\nServer nginx\r\n\r\n", "scan.txt:2: header line 'Server nginx'"),
        (b"HTTP/1.1 200 OK\r\n  folded\r\n\r\n", "scan.txt:2: header line starts with"),
        (b"HTTP/1.1 200 OK\r\nServer : x\r\n\r\n", "whitespace before ':'"),
        (b"HTTP/1.1 200 OK\r\n: x\r\n\r\n", "empty name"),
        (b"\xff\xfe\x00garbage", "not an HTTP response"),
    ],
)
def test_malformed_responses_raise_record_error(raw: bytes, message: str) -> None:
    with pytest.raises(RecordError) as caught:
        banner_from_http_response(raw, ip="198.51.100.1", port=80, source="scan.txt")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ip": "999.1.1.1"}, "not an IP address"),
        ({"port": 70000}, "port must be"),
        ({"port": "80"}, "port must be"),
        ({"jarm": "abc"}, "JARM fingerprint"),
        ({"tls_cert": b"\x30\x03garbage"}, "neither a PEM nor a DER"),
        ({"tls_cert": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"}, "PEM"),
    ],
)
def test_bad_parts_raise_record_error(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"ip": "198.51.100.1", "port": 80, **kwargs}
    with pytest.raises(RecordError, match=message):
        banner_from_http_response(b"HTTP/1.1 200 OK\r\n\r\n", **arguments)  # type: ignore[arg-type]


def test_non_utf8_headers_and_body_never_fail() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nContent-Type: text/html\r\n\r\n"
        b"\xff\xfe<title>x\xff</title>"
    )
    banner = banner_from_http_response(raw, ip="198.51.100.1", port=80)
    assert "X-Name: café" in banner["data"]  # latin-1 fallback for the header block
    assert banner["http"]["title"] == "x\ufffd"  # undecodable body bytes replaced
    assert banner["http"]["html"].startswith("\ufffd\ufffd")


def test_unknown_charset_falls_back_to_utf8() -> None:
    assert decode_body("é".encode(), "text/html; charset=klingon") == "é"
    assert decode_body("Ж".encode("cp1251"), 'text/html; charset="windows-1251"') == "Ж"


def test_title_edge_cases() -> None:
    assert html_title("<html><body>no title</body></html>") is None
    assert html_title("<title></title>") == ""
    assert html_title("<TITLE lang=en>Upper</TITLE >") == "Upper"
    assert html_title("<title>unclosed to the end") == "unclosed to the end"
    assert TITLE_KEEPS_WHITESPACE
    assert html_title("<title>\n  Login\n</title>") == "\n  Login\n"
    assert html_title("<svg>\n<title>first</title></svg><title>second</title>") == "first"


def test_huge_body_is_hashed_whole() -> None:
    body = b"<title>big</title>" + b"A" * (10 * 1024 * 1024)
    banner = banner_from_http_response(
        b"HTTP/1.1 200 OK\r\n\r\n" + body, ip="198.51.100.1", port=80
    )
    assert banner["http"]["title"] == "big"
    assert len(banner["http"]["html"]) == len(body)
    assert banner["http"]["html_hash"] == fp.html_hash(body.decode())


def test_ipv6_and_mapped_addresses() -> None:
    v6 = banner_from_http_response(b"HTTP/1.1 200 OK\r\n\r\n", ip="2001:db8::1", port=80)
    assert v6["ipv6"] == v6["ip_str"] == "2001:db8::1"
    assert "ip" not in v6
    mapped = banner_from_http_response(
        b"HTTP/1.1 200 OK\r\n\r\n", ip="::ffff:198.51.100.9", port=80
    )
    assert mapped["ip_str"] == "198.51.100.9"


def test_timestamp_format_and_extra_fields() -> None:
    naive = datetime(2026, 1, 2, 3, 4, 5, 6)
    assert shodan_timestamp(naive) == "2026-01-02T03:04:05.000006"
    aware = datetime(2026, 1, 2, 5, 4, 5, tzinfo=UTC).astimezone()
    assert shodan_timestamp(aware) == "2026-01-02T05:04:05.000000"
    banner = banner_from_http_response(
        b"HTTP/1.1 200 OK\r\n\r\n", ip="198.51.100.1", port=80, extra={"org": "Example"}
    )
    assert banner["org"] == "Example"
    assert banner["http"]["title"] is None and banner["http"]["title_hash"] is None


def test_parse_certificate_accepts_pem_with_leading_whitespace() -> None:
    pem = _self_signed().public_bytes(serialization.Encoding.PEM)
    assert parse_certificate(b"\n  " + pem).serial_number == 0x1234ABCD


def test_command_line_prints_a_banner_and_reports_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from c2tracker.matching.normalise import main

    response = tmp_path / "response.txt"
    response.write_bytes((CLOUDFLARE_DATA + CLOUDFLARE_HTML).encode())
    cert = tmp_path / "leaf.pem"
    cert.write_text((DATA / "cloudflare-2020-leaf.pem").read_text())

    code = main([str(response), "--ip", "104.18.166.49", "--port", "443", "--cert", str(cert),
                 "--jarm", JARM, "--timestamp", "2020-09-29T12:44:48"])  # fmt: skip

    assert code == 0
    banner = json.loads(capsys.readouterr().out)
    assert banner["hash"] == 2101142609
    assert banner["ssl"]["cert"]["subject"] == {"CN": "ssl891870.cloudflaressl.com"}
    assert banner["ssl"]["cert"]["expired"] is False

    response.write_bytes(b"garbage\r\n\r\n")
    assert main([str(response), "--ip", "104.18.166.49", "--port", "80"]) == 2
    assert f"{response}:1: not an HTTP response" in capsys.readouterr().err
