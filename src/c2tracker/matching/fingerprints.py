"""Shodan-compatible fingerprints computed from raw data.

Shodan stores a MurmurHash3 (x86, 32-bit, seed 0, signed) of several texts in every banner:
``hash`` (of ``data``), ``http.html_hash``, ``http.title_hash``, ``http.server_hash``,
``http.robots_hash``, ``http.headers_hash`` and ``http.favicon.hash``. Rules pin these numbers, so
records built from one's own scans must carry exactly the values Shodan would have stored. The
definitions and their worked vectors are in ``shared/reference/shodan.md`` §3; the functions here
implement them with the ``mmh3`` package and nothing else.
"""

from __future__ import annotations

import base64

import mmh3

__all__ = [
    "FOLDED_HEADER_LINES_SKIPPED",
    "banner_hash",
    "favicon_data",
    "favicon_hash",
    "header_names",
    "headers_hash",
    "html_hash",
    "mmh3_text",
    "robots_hash",
    "server_hash",
    "title_hash",
]

FOLDED_HEADER_LINES_SKIPPED = True
"""Inferred (shodan.md §3, "unknown: handling of folded lines"): a header line starting with a
space or tab continues the previous header's *value*, and values take no part in
``headers_hash``, so such lines contribute nothing. Any other line contributes the text before
its first ``:`` (the whole line when it has no colon), as §3 recommends."""


def mmh3_text(value: str | bytes) -> int:
    """Signed 32-bit MurmurHash3 (seed 0) of ``value``; text is hashed as UTF-8.

    Lone surrogates (text decoded with ``surrogateescape``) are encoded with ``surrogatepass``
    rather than raising, so any Python string hashes. The empty input hashes to 0, which is why
    Shodan documents that "empty banners always hash to zero" (§3).
    """
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    result: int = mmh3.hash(raw, 0, signed=True)
    return result


def banner_hash(data: str | bytes) -> int:
    """Shodan's top-level ``hash``: the hash of the banner's ``data``."""
    return mmh3_text(data)


def html_hash(html: str | bytes) -> int:
    """``http.html_hash``: the hash of the decoded body text ``http.html``."""
    return mmh3_text(html)


def title_hash(title: str) -> int:
    """``http.title_hash``: the hash of ``http.title``."""
    return mmh3_text(title)


def server_hash(server: str) -> int:
    """``http.server_hash``: the hash of the ``Server`` header value ``http.server``."""
    return mmh3_text(server)


def robots_hash(robots: str) -> int:
    """``http.robots_hash``: the hash of the ``/robots.txt`` text ``http.robots``."""
    return mmh3_text(robots)


def header_names(data: str) -> list[str]:
    """The status line, then every header name in order, original case, duplicates kept.

    ``data`` is a Shodan HTTP ``data`` text (status line and headers, ``\\r\\n`` separated). The
    split follows §3: ``\\r\\n`` when present, else ``\\n``; reading stops at the first empty line
    (the end of the header block), so a body that slipped into ``data`` does not count.
    """
    separator = "\r\n" if "\r\n" in data else "\n"
    lines = data.split(separator)
    if not lines or not lines[0]:
        return []

    parts = [lines[0]]
    for line in lines[1:]:
        if not line:
            break
        if FOLDED_HEADER_LINES_SKIPPED and line[0] in " \t":
            continue
        parts.append(line.partition(":")[0])
    return parts


def headers_hash(data: str) -> int:
    """``http.headers_hash``: the hash of :func:`header_names` joined with ``\\n``.

    Derived in shodan.md §3 from two real banners: header values, the blank terminator line and
    a trailing newline are excluded; header order, name case and duplicates matter.
    """
    return mmh3_text("\n".join(header_names(data)))


def favicon_data(icon: bytes) -> str:
    """The ``http.favicon.data`` text: base64 of the icon as ``base64.encodebytes`` writes it.

    That is 76-character lines, each ending in ``\\n`` including the last (§3); an empty icon
    gives the empty text.
    """
    return base64.encodebytes(icon).decode("ascii")


def favicon_hash(icon: bytes) -> int:
    """``http.favicon.hash``: the hash of :func:`favicon_data` of the raw icon bytes."""
    return mmh3_text(favicon_data(icon))
