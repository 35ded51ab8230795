"""Shodan hash definitions against the worked vectors of shodan.md §3."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import mmh3
import pytest

from c2tracker.matching import fingerprints as fp

# A real 2020 Cloudflare banner with the hashes Shodan stored (shodan.md §3, [obs]).
CLOUDFLARE = json.loads(
    (Path(__file__).parent / "data" / "cloudflare-2020-banner.json").read_text()
)

NGINX_HEADERS = [
    "Server",
    "Date",
    "Content-Type",
    "Content-Length",
    "Last-Modified",
    "Connection",
    "Vary",
    "ETag",
    "X-Frame-Options",
    "X-XSS-Protection",
    "X-Content-Type-Options",
    "Accept-Ranges",
]
LINK_HEADERS = [
    "Server",
    "Date",
    "Content-Type",
    "Transfer-Encoding",
    "Connection",
    "Vary",
    "Link",
    "Link",
    "Link",
    "X-Frame-Options",
    "X-XSS-Protection",
    "X-Content-Type-Options",
]


def _data(status: str, names: list[str]) -> str:
    return status + "\r\n" + "".join(f"{name}: value {i}\r\n" for i, name in enumerate(names))


def test_banner_hash_vectors() -> None:
    assert fp.banner_hash("SOMETHING") == -82460412
    assert fp.banner_hash("") == 0
    assert fp.banner_hash(CLOUDFLARE["data"]) == CLOUDFLARE["hash"] == 2101142609


def test_html_hash_of_real_cloudflare_page() -> None:
    assert len(CLOUDFLARE["html"].encode()) == 553  # the banner's Content-Length
    assert fp.html_hash(CLOUDFLARE["html"]) == CLOUDFLARE["html_hash"] == 1471629837


@pytest.mark.parametrize(
    ("title", "expected"),
    [("Artboard", 758560121), ("Home - SC Lowy", 340298613), ("", 0)],
)
def test_title_hash_vectors(title: str, expected: int) -> None:
    assert fp.title_hash(title) == expected


def test_server_and_robots_hash_vectors() -> None:
    assert fp.server_hash("nginx") == -1340961475
    assert fp.robots_hash("User-agent: *\nDisallow:") == 1486140972


def test_hashes_are_signed_int32() -> None:
    value = fp.server_hash("nginx")
    assert value < 0
    assert mmh3.hash("nginx", signed=False) == value + 2**32


def test_headers_hash_vectors_from_real_banners() -> None:
    assert fp.headers_hash(_data("HTTP/1.1 200 OK", NGINX_HEADERS) + "\r\n") == -2017483894
    assert fp.headers_hash(_data("HTTP/1.1 200 OK", LINK_HEADERS) + "\r\n") == 926009531


def test_headers_hash_keeps_duplicates_and_ignores_values() -> None:
    deduplicated = [n for i, n in enumerate(LINK_HEADERS) if n != "Link" or i == 6]
    assert fp.headers_hash(_data("HTTP/1.1 200 OK", deduplicated)) != 926009531

    other_values = "HTTP/1.1 200 OK\r\n" + "".join(f"{n}: x\r\n" for n in NGINX_HEADERS)
    assert fp.headers_hash(other_values) == -2017483894


def test_headers_hash_is_sensitive_to_order_case_and_status() -> None:
    base = fp.headers_hash(_data("HTTP/1.1 200 OK", NGINX_HEADERS))
    assert fp.headers_hash(_data("HTTP/1.1 200 OK", NGINX_HEADERS[::-1])) != base
    assert fp.headers_hash(_data("HTTP/1.1 200 OK", [n.lower() for n in NGINX_HEADERS])) != base
    assert fp.headers_hash(_data("HTTP/1.1 404 Not Found", NGINX_HEADERS)) != base


def test_header_names_split_rules() -> None:
    # LF-only banners fall back to splitting on "\n"; reading stops at the blank line.
    lf = "HTTP/1.0 200 OK\nServer: x\nX-A:b\n\n<html>Not: a header</html>"
    assert fp.header_names(lf) == ["HTTP/1.0 200 OK", "Server", "X-A"]

    # Folded continuation lines add nothing; a line without a colon counts whole.
    odd = "HTTP/1.1 200 OK\r\nX-Long: a\r\n  continued\r\nBroken line\r\n\r\n"
    assert fp.FOLDED_HEADER_LINES_SKIPPED
    assert fp.header_names(odd) == ["HTTP/1.1 200 OK", "X-Long", "Broken line"]
    assert fp.headers_hash(odd) == mmh3.hash("HTTP/1.1 200 OK\nX-Long\nBroken line")

    assert fp.header_names("") == []
    assert fp.headers_hash("") == 0


def test_favicon_hash_worked_example_and_wrong_variants() -> None:
    icon = b"hello favicon"
    assert fp.favicon_data(icon) == "aGVsbG8gZmF2aWNvbg==\n"
    assert fp.favicon_hash(icon) == 508473084
    # Wrong readings of the definition give other numbers (shodan.md §3).
    assert mmh3.hash(base64.b64encode(icon)) == 1005132388
    assert mmh3.hash(icon) == 1354582547


def test_favicon_hash_wraps_lines_after_57_bytes() -> None:
    icon = bytes(range(60))
    data = fp.favicon_data(icon)
    first, second, tail = data.split("\n")
    assert (len(first), second, tail) == (76, "OTo7", "")
    assert fp.favicon_hash(icon) == -609915622
    assert mmh3.hash(base64.b64encode(icon)) == -1062700770


def test_favicon_of_empty_icon_hashes_to_zero() -> None:
    assert fp.favicon_data(b"") == ""
    assert fp.favicon_hash(b"") == 0


def test_text_with_lone_surrogates_hashes_without_error() -> None:
    text = b"caf\xe9".decode("utf-8", "surrogateescape")
    assert fp.mmh3_text(text) == mmh3.hash(text.encode("utf-8", "surrogatepass"))
