"""Parser for Shodan's search syntax (grammar in ``shodan.lark``).

Shodan documents little of its syntax (shodan.md §4.1): ``name:value`` filters, bare words and
double-quoted phrases that search the banner's ``data``, comma lists inside a filter value
meaning OR, a leading ``-`` for negation, and every term AND-ed with the others. The rest is
read from how published queries behave (shodan.md §4.3, §4.4). The result is the shared tree of
:mod:`c2tracker.querylang.ast`: a single term is the root itself, several terms an :class:`And`.

Decisions (each one is a constant or function below, and has a test):

- Only a *known* filter name before ``:`` makes a filter (:data:`KNOWN_FILTERS`, shodan.md
  §4.2/§4.3); ``X-Havoc: true`` is two bare words, ``'Server: RisePro'`` one phrase. Names
  match in any letter case and are stored lower-cased.
- Legacy names are rewritten (:data:`FILTER_ALIASES`): ``html:`` → ``http.html``, ``title:``
  → ``http.title`` (shodan.md §4.2, inferred), and ``ip:`` → ``net:`` (Shodan's own filter
  list calls ``ip`` an alias of ``net``).
- An unknown ``name:`` directly followed by a quoted phrase (``http:'307 Temporary …'``, the
  RedGuard query) is free text, like any other unknown prefix: the word ``http:`` as written
  AND the phrase (:func:`_prefixed_terms`). Shodan's behaviour is unknown (shodan.md §4.2);
  this reading keeps every character of the query as a search term and drops nothing.
- Single quotes are quotes, exactly like double quotes (shodan.md §4.3); in both, a backslash
  escapes the quote character or a backslash (:data:`QUOTE_ESCAPES`). Backticks are ordinary
  characters (:data:`BACKTICK_IS_QUOTE`): Shodan documents no backtick quoting, unlike Censys.
- A quote opens a phrase only at the start of a term or of a filter-value item; inside a word
  (``O'Reilly``) it is an ordinary character.
- Commas split filter values into an :class:`AnyOf`, also inside quotes (the documented
  ``city:"San Diego,Austin"``); each item is stripped of surrounding spaces, and an empty item
  is an error (:func:`_split_items`). Bare quoted phrases are never split.
- ``-`` negates the one term it touches, filter or phrase; ``- x`` (a space after it) is an
  error, and a term cannot be negated twice.
- A ``+`` directly before a known filter separates terms (:data:`PLUS_SEPARATES_FILTERS`):
  it is the URL encoding of a space, copied from a shodan.io address
  (``ssl.jarm:07d1…+port:443``). Elsewhere ``+`` is an ordinary character.
- Integer filters (:data:`INTEGER_FILTERS`) take signed decimal integers (hashes are signed
  int32, shodan.md §3); ``ssl.cert.serial`` takes a decimal or a hexadecimal string with an
  optional ``0x``; boolean filters (:data:`BOOLEAN_FILTERS`) take ``true`` or ``false``. The
  value text is kept in :class:`Text`; the evaluator converts it.
- Whitespace around a filter's colon is not allowed: ``port: 80`` is an error, since the
  filter would have no value.
- An empty query is an error (shodan.md §4.3: the API refuses ``search('')``), and so are an
  empty phrase (``""``) and an empty filter value (``http.title:''``), which search nothing.
"""

from __future__ import annotations

import re
from functools import cache

from lark import Token, Tree
from lark.lexer import PatternRE, TerminalDef

from c2tracker.errors import QuerySyntaxError
from c2tracker.querylang._common import (
    Grammar,
    error_at,
    load_grammar,
    parse_tree,
    unquote,
)
from c2tracker.querylang.ast import (
    And,
    AnyOf,
    Engine,
    Field,
    FullText,
    Node,
    Not,
    Op,
    Query,
    Span,
    Text,
)

__all__ = [
    "BOOLEAN_FILTERS",
    "FILTER_ALIASES",
    "INTEGER_FILTERS",
    "KNOWN_FILTERS",
    "parse_shodan",
]

#: Filter names Shodan lists in its filter reference (general, HTTP, SSL, SSH, cloud,
#: screenshot, NTP, telnet, SNMP and bitcoin groups; shodan.md §4.1, §4.2).
SHODAN_FILTERS: frozenset[str] = frozenset(
    {
        # general
        "after", "asn", "before", "city", "country", "cpe", "device", "domain", "geo",
        "has_ipv6", "has_screenshot", "has_ssl", "has_vuln", "hash", "hostname", "ip", "isp",
        "link", "net", "org", "os", "port", "postal", "product", "region", "scan",
        "shodan.module", "state", "tag", "version", "vuln",
        # screenshot and cloud
        "screenshot.label", "cloud.provider", "cloud.region", "cloud.service",
        # http
        "http.component", "http.component_category", "http.dom_hash", "http.favicon.hash",
        "http.headers_hash", "http.html", "http.html_hash", "http.robots_hash",
        "http.securitytxt", "http.server_hash", "http.status", "http.title", "http.title_hash",
        "http.waf",
        # ssl
        "ssl", "ssl.alpn", "ssl.cert.alg", "ssl.cert.expired", "ssl.cert.extension",
        "ssl.cert.fingerprint", "ssl.cert.issuer.cn", "ssl.cert.pubkey.bits",
        "ssl.cert.pubkey.type", "ssl.cert.serial", "ssl.cert.subject.cn", "ssl.chain_count",
        "ssl.cipher.bits", "ssl.cipher.name", "ssl.cipher.version", "ssl.ja3s", "ssl.jarm",
        "ssl.version",
        # ssh, ntp, telnet, snmp, bitcoin
        "ssh.hassh", "ssh.type",
        "ntp.ip", "ntp.ip_count", "ntp.more", "ntp.port",
        "telnet.do", "telnet.dont", "telnet.option", "telnet.will", "telnet.wont",
        "snmp.contact", "snmp.location", "snmp.name",
        "bitcoin.ip", "bitcoin.ip_count", "bitcoin.port", "bitcoin.version",
    }
)  # fmt: skip

#: Old or alias filter names and the name they stand for (shodan.md §4.2).
FILTER_ALIASES: dict[str, str] = {"html": "http.html", "title": "http.title", "ip": "net"}

#: Every name that makes ``name:value`` a filter rather than free text.
KNOWN_FILTERS: frozenset[str] = SHODAN_FILTERS | frozenset(FILTER_ALIASES)

#: Filters whose values are integers (signed: Shodan hashes are signed int32; shodan.md §3, §4.1).
INTEGER_FILTERS: frozenset[str] = frozenset(
    {
        "port", "hash", "http.status", "http.html_hash", "http.headers_hash",
        "http.title_hash", "http.server_hash", "http.dom_hash", "http.robots_hash",
        "http.favicon.hash", "ssl.chain_count", "ssl.cert.pubkey.bits", "ssl.cipher.bits",
        "ntp.ip_count", "ntp.port", "bitcoin.port", "bitcoin.ip_count",
    }
)  # fmt: skip

#: Filters whose values are booleans (shodan.md §4.1).
BOOLEAN_FILTERS: frozenset[str] = frozenset(
    {"has_ipv6", "has_screenshot", "has_ssl", "has_vuln", "ssl.cert.expired", "ntp.more"}
)

#: ``ssl.cert.serial`` is "an integer or hexadecimal string" (shodan.md §4.1).
SERIAL_FILTER = "ssl.cert.serial"

#: Characters a backslash escapes inside Shodan quotes (besides the quote itself).
QUOTE_ESCAPES = ("\\",)

#: Backticks quote nothing in Shodan (only double quotes are documented, single quotes observed).
BACKTICK_IS_QUOTE = False

#: ``a+port:443`` reads as ``a port:443`` (see the module docstring).
PLUS_SEPARATES_FILTERS = True

_INTEGER = re.compile(r"-?[0-9]+")
_SERIAL = re.compile(r"-?[0-9]+|(?:0[xX])?[0-9a-fA-F]+")
_BOOLEAN = frozenset({"true", "false"})
_FILTERS_MARK = "__FILTERS__"

_DESCRIBE = {
    "FILTER": "a filter (name:value)",
    "PREFIX": "a word",
    "DQ": "a quoted phrase",
    "SQ": "a quoted phrase",
    "BARE": "a filter value",
    "WORD": "a word",
    "NEG": "'-'",
    "COMMA": "','",
    "_SEP": "a space",
    "$END": "the end of the query",
}


def parse_shodan(text: str) -> Query:
    """Parses a Shodan search query.

    Raises:
        QuerySyntaxError: the text is empty or not valid Shodan syntax.
    """
    tree = parse_tree(_grammar(), text)

    terms: list[Node] = []
    for child in tree.children:
        assert isinstance(child, Tree)
        terms.extend(_term(child, text))

    root = terms[0] if len(terms) == 1 else And(tuple(terms))
    return Query(Engine.SHODAN, text, root)


@cache
def _grammar() -> Grammar:
    pattern = "|".join(re.escape(name) for name in sorted(KNOWN_FILTERS, key=len, reverse=True))

    def fill_in_filters(terminal: TerminalDef) -> None:
        if isinstance(terminal.pattern, PatternRE) and _FILTERS_MARK in terminal.pattern.value:
            value = terminal.pattern.value.replace(_FILTERS_MARK, pattern)
            terminal.pattern = PatternRE(value, terminal.pattern.flags)

    return load_grammar(
        "shodan.lark",
        engine=Engine.SHODAN.value,
        describe=_DESCRIBE,
        nesting_rules=("negated",),
        edit_terminals=fill_in_filters,
    )


def _term(tree: Tree[Token], text: str) -> list[Node]:
    """The node(s) one term stands for; an unknown prefix with a phrase gives two."""
    if tree.data == "negated":
        inner = tree.children[1]
        assert isinstance(inner, Tree)
        nodes = _term(inner, text)
        return [Not(nodes[0] if len(nodes) == 1 else And(tuple(nodes)))]
    if tree.data == "filter":
        return [_filter(tree, text)]
    if tree.data == "prefixed":
        return _prefixed_terms(tree, text)
    token = tree.children[0]
    assert isinstance(token, Token)
    return [_full_text(token, text)]


def _filter(tree: Tree[Token], text: str) -> Field:
    name_token, fvalue = tree.children
    assert isinstance(name_token, Token) and isinstance(fvalue, Tree)
    written = str(name_token)[:-1].lower()
    name = FILTER_ALIASES.get(written, written)

    values: list[Text] = []
    for item in fvalue.children:
        assert isinstance(item, Token)
        if item.type == "COMMA":
            continue
        for value, position in _split_items(item, text):
            _check_type(name, value, text, position)
            values.append(value)

    span = Span(tree.meta.start_pos, tree.meta.end_pos)
    if len(values) == 1:
        return Field(name, Op.MATCH, values[0], span)
    return Field(name, Op.MATCH, AnyOf(tuple(values)), span)


def _split_items(item: Token, text: str) -> list[tuple[Text, int]]:
    """A filter-value item as values with their offsets: commas split quoted values too."""
    start = item.start_pos or 0
    if item.type == "BARE":
        return [(Text(str(item)), start)]

    body, quote = unquote(str(item), escapes=True)
    if not body.strip():
        raise error_at(Engine.SHODAN.value, text, start, "empty filter value")
    values: list[tuple[Text, int]] = []
    raw = str(item)
    cursor = 1
    for part in body.split(","):
        stripped = part.strip()
        if not stripped:
            raise error_at(
                Engine.SHODAN.value,
                text,
                start,
                "empty value in a comma-separated filter value",
            )
        # Offsets are exact unless escapes shortened the body; then the item start is close.
        found = raw.find(stripped, cursor)
        position = start + found if found >= 0 else start
        cursor = max(cursor, found + len(stripped)) if found >= 0 else cursor
        values.append((Text(stripped, quote), position))
    return values


def _check_type(name: str, value: Text, text: str, position: int) -> None:
    """Integer, serial and boolean filters must hold values of their type."""
    if name in INTEGER_FILTERS and not _INTEGER.fullmatch(value.value):
        raise _bad_value(name, value, "an integer", text, position)
    if name == SERIAL_FILTER and not _SERIAL.fullmatch(value.value):
        raise _bad_value(name, value, "a decimal or hexadecimal serial", text, position)
    if name in BOOLEAN_FILTERS and value.value.lower() not in _BOOLEAN:
        raise _bad_value(name, value, "true or false", text, position)


def _bad_value(name: str, value: Text, wanted: str, text: str, position: int) -> QuerySyntaxError:
    return error_at(
        Engine.SHODAN.value, text, position, f"{name}: expects {wanted}, not {value.value!r}"
    )


def _prefixed_terms(tree: Tree[Token], text: str) -> list[Node]:
    """``name:'phrase'`` with an unknown name: the word ``name:`` AND the phrase."""
    prefix, phrase = tree.children
    assert isinstance(prefix, Token) and isinstance(phrase, Token)
    return [_full_text(prefix, text), _full_text(phrase, text)]


def _full_text(token: Token, text: str) -> FullText:
    span = Span(token.start_pos or 0, token.end_pos or 0)
    raw = str(token)
    if token.type not in ("DQ", "SQ"):
        return FullText(Text(raw), span)

    body, quote = unquote(raw, escapes=True)
    if not body.strip():
        raise error_at(Engine.SHODAN.value, text, span.start, "empty phrase")
    return FullText(Text(body, quote), span)
