"""The raw-line prefilter: which JSON Lines lines no rule can match, decided before parsing.

Parsing a line with orjson costs more than finding out, from its bytes, that no rule could match
it. Every query has a *raw key* set (:func:`raw_keys`): byte strings one of which the raw line
of any record the query matches must contain, ignoring ASCII case (what ``bytes.lower`` folds).
The prefilter searches each line once for every query's raw keys plus a few *force* patterns; a
line with no hit at all cannot match and is passed over unparsed. Results equal parsing and
matching every line (a differential test checks this on the bundled sample, the corpus's test
records written by several JSON producers, and generated records).

Why a key found in the parsed record is also found in the raw line — and where it is not:

- A key is an ASCII run of the lower-cased query value without ``"``, ``\\`` and ``/`` (which
  JSON producers escape: ``\\"``, ``\\\\``, ``\\/``) or control characters; values with
  non-ASCII letters keep their longest ASCII run (``bytes.lower`` cannot fold ``Ж``).
- Producers may write any character as ``\\uXXXX`` (ASCII escapes: Go escapes ``<>&``, .NET
  ``'`` and ``+``). A line holding a ``\\u00XX`` escape of a character some key contains, in
  either case, is always parsed (force pattern), as is a line holding a character whose Unicode
  lower case contains an ASCII letter of a key (``İ`` → ``i̇``, the Kelvin sign → ``k``), in
  UTF-8 or escaped (:func:`ascii_from_lower`).
- Numbers: integer filters compare JSON integers, whose digits the line holds. Text compared
  with a number rendered by Python (``as_text``: ``1.5``, ``1e+16``) may differ from how the
  line spells it, so a literal made only of number characters has no raw key; so does a Censys
  value that is a number (``443`` matches ``443.0`` and ``4.43e2``) or an address (CIDR).
- Values the evaluator computes rather than reads: ``ssl.chain_count`` (no raw key); the
  ``ssl:`` text's serial in decimal and hex (a literal of hex digits only has no raw key);
  ``ssl.cert.serial`` (decimal, hex and colon-hex forms); and ``hash``, computed from ``data``
  when a banner has no stored ``hash``: its key is the digits *and* a guard
  (:func:`stored_hash_is_certain`) parses every line that may hold a Shodan banner
  (:data:`SHODAN_MARKERS`) whose single top-level ``hash`` is not certainly a stored integer.
- Records are detected per line: when some query of an engine has no raw key, every line that
  could hold that engine's record (``"port"`` for Shodan; ``"services"``, ``"host_v1"`` or
  ``"resource"`` for Censys) is parsed; with ``--engine`` naming that engine, the prefilter is
  off (:meth:`~c2tracker.matching.Matcher.raw_prefilter` returns None).

The search is one Hyperscan pass (``hyperscan``: SIMD literal matching, ASCII case ignored by
the engine, about 3 µs for a 5 KB line) when installed; pyahocorasick over the lower-cased line
(about 12 ns a byte, slower than parsing) is the fallback, kept for tests and for machines
without Hyperscan, where :meth:`~c2tracker.matching.Matcher.raw_prefilter` turns the prefilter
off unless asked for it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ahocorasick
import orjson

from c2tracker.matching import fields as f
from c2tracker.matching.evaluator import UNKNOWN_SHODAN_FILTER_MATCHES, censys_bool, censys_path
from c2tracker.querylang.ast import (
    And,
    AnyOf,
    Engine,
    Field,
    FullText,
    Nested,
    Node,
    Not,
    Op,
    Or,
    Query,
    Text,
    Value,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger(__name__)

hyperscan: Any
try:  # which matching library is installed is a property of the environment
    import hyperscan
except ImportError:  # pragma: no cover
    hyperscan = None

#: Marks a raw key set that holds a banner ``hash``: lines need :func:`stored_hash_is_certain`.
HASH_GUARD = b"\x00hash-guard"

#: ASCII characters JSON producers write as a two-character escape (``\\"``, ``\\\\``, ``\\/``)
#: or that are control characters: a key never spans them.
_UNSAFE = frozenset(b'"\\/') | frozenset(range(0x20)) | {0x7F}

#: Characters of a Python rendering of a JSON number (``str(1.5)``, ``str(1e16)``).
_NUMBER_CHARS = frozenset("0123456789.e+-")

#: Words frequent in banners though not in :data:`~c2tracker.matching.fields.COMMON_TOKENS`
#: (a ``cloud`` tag, ``Cloudflare``, User-Agent strings…): poor raw keys, chosen last.
RAW_COMMON_WORDS = frozenset(
    {"cloud", "agent", "framework", "location", "redirect", "security", "mobile", "server",
     "client", "remote", "control", "center", "manager", "true", "false", "null"}
)  # fmt: skip

#: Record keys that make a line a possible Censys host (``detect_engine``, censys.md §2.4).
CENSYS_TRIGGERS = (b'"services"', b'"host_v1"', b'"resource"')
#: The record key every Shodan banner has (``detect_engine``, shodan.md §2.1).
SHODAN_TRIGGERS = (b'"port"',)
#: Wrapper keys: a line holding one may carry banners below its top level.
_WRAPPER_KEYS = (b'"matches"', b'"result"', b'"host_v1"', b'"resource"')

RawKeys = frozenset[bytes]


# --------------------------------------------------------------------------------------------
# Raw keys of one query


def raw_score(keys: RawKeys) -> float:
    """How rarely a raw key set fires on a line; higher is better (empty: never fires)."""
    needles = [key for key in keys if key != HASH_GUARD]
    if not needles:
        return 100.0
    return min(_needle_score(needle) for needle in needles) - 0.1 * (len(needles) - 1)


def _needle_score(needle: bytes) -> float:
    text = needle.decode("ascii")
    if text in f.COMMON_TOKENS or text in RAW_COMMON_WORDS:
        return 1.0
    if text.lstrip("-").isdigit():
        return max(len(text) - 3.0, 0.5)  # digits fill every line: ports, sizes, times
    return float(min(len(text), 16))


def raw_segments(literal: str) -> list[bytes]:
    """Maximal runs of ``literal`` (already lower-cased) made of characters a line holds
    verbatim: printable ASCII other than ``"``, ``\\`` and ``/``."""
    runs: list[bytes] = []
    current = bytearray()
    for char in literal:
        code = ord(char)
        if code < 0x80 and code not in _UNSAFE:
            current.append(code)
        elif current:
            runs.append(bytes(current))
            current = bytearray()
    if current:
        runs.append(bytes(current))
    return runs


def text_key(literal: str, *, hex_rendered: bool = False) -> RawKeys | None:
    """The best raw key for a lower-cased literal a record's text must contain, or None.

    None when the literal could be met by a number's rendering (only number characters) or, for
    ``ssl:`` text (``hex_rendered``), by the serial rendered in hex.
    """
    if not literal or set(literal) <= _NUMBER_CHARS:
        return None
    if hex_rendered and set(literal) <= set("0123456789abcdef"):
        return None
    runs = raw_segments(literal)
    if not runs:
        return None
    return frozenset({max(runs, key=lambda run: (_needle_score(run), len(run)))})


def _best(options: Iterable[RawKeys]) -> RawKeys | None:
    chosen: RawKeys | None = None
    for keys in options:
        if chosen is None or raw_score(keys) > raw_score(chosen):
            chosen = keys
    return chosen


def raw_keys(query: Query) -> RawKeys | None:
    """Byte strings one of which the lower-cased raw line of every matching record holds;
    None when the query has none (every line that may hold its engine's record is parsed)."""
    return _keys(query.root, query.engine, at_host=True)


def _keys(node: Node, engine: Engine, at_host: bool) -> RawKeys | None:
    if isinstance(node, And):
        return _best(
            keys for child in node.children if (keys := _keys(child, engine, at_host)) is not None
        )
    if isinstance(node, Or):
        union: set[bytes] = set()
        for child in node.children:
            keys = _keys(child, engine, at_host)
            if keys is None:
                return None
            union |= keys
        return frozenset(union)
    if isinstance(node, Not):
        return None
    if isinstance(node, FullText):
        if engine is Engine.SHODAN:
            return _shodan_text_keys(node.value.value, hex_rendered=False)
        return _censys_text_keys(node.value)
    if isinstance(node, Nested):
        if engine is Engine.SHODAN:
            return frozenset()  # nested blocks do not exist in Shodan's language: never match
        if censys_path(node.name, engine, at_host) is None:
            return frozenset()  # never matches (web./cert. datasets)
        return _keys(node.body, engine, at_host=False)
    if engine is Engine.SHODAN:
        return _alternatives(node.value, lambda value: _shodan_field_keys(node, value))
    if censys_path(node.name, engine, at_host) is None:
        return frozenset()
    return _alternatives(node.value, lambda value: _censys_field_keys(node.op, value))


def _alternatives(value: Value, keys_of: Callable[[Value], RawKeys | None]) -> RawKeys | None:
    union: set[bytes] = set()
    for alternative in value.values if isinstance(value, AnyOf) else (value,):
        keys = keys_of(alternative)
        if keys is None:
            return None
        union |= keys
    return frozenset(union)


def _shodan_text_keys(phrase: str, *, hex_rendered: bool) -> RawKeys | None:
    """A Shodan word or phrase: under the token reading any of its tokens is a substring of the
    lower-cased field text, so the best token is the key; otherwise the phrase itself."""
    if f.uses_tokens(phrase):
        return _best(
            keys
            for token in f.query_tokens(phrase)
            if (keys := text_key(token, hex_rendered=hex_rendered)) is not None
        )
    if hex_rendered:
        return None  # ssl: text is several values joined: a punctuation phrase may span two
    return text_key(phrase.lower())


def _shodan_field_keys(node: Field, value: Value) -> RawKeys | None:
    flt = f.SHODAN_FILTERS.get(node.name)
    if flt is None:
        return None if UNKNOWN_SHODAN_FILTER_MATCHES else frozenset()  # never matches
    if not isinstance(value, Text) or node.op not in (Op.MATCH, Op.EQUALS):
        return None
    kind, query = flt.kind, value.value
    if kind is f.ShodanKind.INT:
        number = f.parse_number(query)
        if not isinstance(number, int):
            return frozenset()  # an integer filter never equals a non-integer
        if flt.name == "ssl.chain_count":
            return None  # computed from the chain's length
        digits = frozenset({str(number).encode()})
        return digits | {HASH_GUARD} if flt.name == "hash" else digits
    if kind is f.ShodanKind.SERIAL:
        serial = f.parse_serial_query(query)
        return frozenset() if serial is None else serial_keys(serial)
    if kind is f.ShodanKind.TEXT:
        return _shodan_text_keys(query, hex_rendered=flt.name == "ssl")
    if kind is f.ShodanKind.KEYWORD or kind is f.ShodanKind.PREFIX:
        return text_key(query.lower())
    if kind is f.ShodanKind.HOSTNAME:
        return text_key(query.strip().lower().rstrip("."))
    return None


def serial_keys(serial: int) -> RawKeys:
    """Every way :func:`~c2tracker.matching.fields.record_serial` reads ``serial`` from a line:
    a JSON integer (decimal), a hex string (with or without ``0x`` or leading zeros) and
    colon-separated bytes (the leading zero of the first byte optional)."""
    hexa = format(serial, "x")
    padded = hexa if len(hexa) % 2 == 0 else "0" + hexa
    pairs = [padded[i : i + 2] for i in range(0, len(padded), 2)]
    pairs[0] = pairs[0].lstrip("0") or "0"
    return frozenset({str(serial).encode(), hexa.encode(), ":".join(pairs).encode()})


def _censys_field_keys(op: Op, value: Value) -> RawKeys | None:
    if not isinstance(value, Text):
        return None
    if value.wildcard:
        if op is not Op.MATCH:
            return None
        return _censys_text_keys(value)
    query = value.value
    if op not in (Op.MATCH, Op.EQUALS):
        return None
    if f.parse_number(query) is not None:
        return None  # numbers compare by value: 443 matches 443.0 and 4.43e2
    if op is Op.MATCH and f.parse_network(query) is not None:
        return None  # addresses compare as addresses
    if censys_bool(query) is not None:
        return frozenset({query.strip().lower().encode()})
    return text_key(query.lower())


def _censys_text_keys(value: Text) -> RawKeys | None:
    if not value.wildcard:
        return text_key(value.value.lower())
    pieces = [p for p in value.value.replace("?", "*").split("*") if p]
    return _best(keys for piece in pieces if (keys := text_key(piece.lower())) is not None)


# --------------------------------------------------------------------------------------------
# The banner hash guard


_HASH_VALUE = re.compile(rb'"hash"[ \t\r\n]*:[ \t\r\n]*-?\d+[ \t\r\n]*[,}]')
_WS = b" \t\r\n"
_HASH_KEY = b'"hash"'
_DATA_KEY = b'"data"'
#: Keys without one of which (or ``"data"``) a record is never taken for a Shodan banner
#: (``detect_engine``): a line without them needs no hash guard (a Censys export).
SHODAN_MARKERS = (b'"ip_str"', b'"ipv6"', b'"_shodan"')


def stored_hash_is_certain(line: bytes, hashes: Sequence[int] | None = None) -> bool:
    """True when ``line`` is one JSON object whose only top-level ``hash`` key holds an integer
    and which wraps no banners — so a banner ``hash`` rule matches it only if the line holds the
    rule's digits. ``hashes``: where ``"hash"`` occurs in ``line``, from a search that has
    already ruled out the wrapper keys (``"matches"``, ``"result"``, ``"host_v1"``,
    ``"resource"``) and a ``"data"`` list; when not given, all of it is checked here.

    Anything else (no top-level ``hash``, ``null``, two of them, a ``data`` list of banners)
    returns False and the line is parsed: the evaluator would compute the hash from ``data``
    (``EMPTY_BANNER_HASH``). Only structure outside strings counts, and in valid JSON the first
    quote of ``"hash"`` is either escaped (inside a string) or opens a string: an occurrence
    preceded by ``{`` other than the line's first is the first key of a nested object, one
    preceded by ``:`` or ``[`` is a value, and one preceded by ``,`` is tested by parsing the
    line up to it with a last key appended, which succeeds only at the top level. A line that is
    not valid JSON never matches, whatever this answers.
    """
    start = 0 if line[:1] == b"{" else len(line) - len(line.lstrip(_WS))
    if line[start : start + 1] != b"{":
        return False
    if hashes is None:
        if any(key in line for key in _WRAPPER_KEYS):
            return False
        if any(_data_is_list(line, at) for at in _positions(line, _DATA_KEY)):
            return False
        hashes = _positions(line, _HASH_KEY)

    found = 0
    for position in hashes:
        before = line[max(start, position - 64) : position].rstrip(_WS)
        last = before[-1:]
        if last == b"{":
            top = position - start <= 64 and not line[start + 1 : position].strip(_WS)
        elif last == b",":
            top = _is_top_level_key(line, position)
        else:
            top = False
        if top:
            found += 1
            if found > 1 or _HASH_VALUE.match(line, position) is None:
                return False
    return found == 1


#: ``"data"`` holding a list: a Shodan host lookup, banners one level down (hash guard).
_DATA_LIST = rb'"data"[ \t\r\n]*:[ \t\r\n]*\['
_DATA_LIST_RE = re.compile(_DATA_LIST)


def _data_is_list(line: bytes, position: int) -> bool:
    return _DATA_LIST_RE.match(line, position) is not None


def _positions(text: bytes, needle: bytes) -> list[int]:
    found = []
    position = text.find(needle)
    while position >= 0:
        found.append(position)
        position = text.find(needle, position + 1)
    return found


def _is_top_level_key(line: bytes, position: int) -> bool:
    try:
        value = orjson.loads(line[:position] + b'"":0}')
    except orjson.JSONDecodeError:
        return False
    return type(value) is dict


# --------------------------------------------------------------------------------------------
# The compiled prefilter


@functools.cache
def ascii_from_lower() -> dict[str, tuple[str, ...]]:
    """ASCII character → the non-ASCII characters whose ``str.lower()`` contains it.

    Computed from this Python's Unicode tables (``İ`` → ``i``, the Kelvin sign → ``k``), so a
    newer table cannot slip past the prefilter.
    """
    table: dict[str, list[str]] = {}
    for code in range(0x80, sys.maxunicode + 1):
        char = chr(code)
        for lowered in char.lower():
            if lowered < "\x80":
                table.setdefault(lowered, []).append(char)
    return {key: tuple(chars) for key, chars in table.items()}


def force_patterns(needles: Iterable[bytes]) -> set[bytes]:
    """Patterns whose presence means the needles' raw forms cannot be trusted: ``\\u00XX``
    escapes of their characters (either case), and raw forms of non-ASCII characters that
    lower-case to one of them."""
    chars = {chr(byte) for needle in needles for byte in needle}
    patterns: set[bytes] = set()
    special = ascii_from_lower()
    for char in chars:
        for variant in {char, char.upper()}:
            if len(variant) == 1 and variant < "\x80":
                patterns.add(b"\\u%04x" % ord(variant))
        for other in special.get(char, ()):
            patterns.add(other.encode("utf-8", "surrogatepass").lower())
            if ord(other) <= 0xFFFF:
                patterns.add(b"\\u%04x" % ord(other))
            else:
                high, low = divmod(ord(other) - 0x10000, 0x400)
                patterns.add(b"\\u%04x\\u%04x" % (0xD800 + high, 0xDC00 + low))
    return patterns


BACKENDS = ("hyperscan", "pyahocorasick")


def available_backends() -> tuple[str, ...]:
    """The pattern-matching libraries importable here, fastest first."""
    return BACKENDS if hyperscan is not None else BACKENDS[1:]


@dataclass(slots=True)
class Scan:
    """What one line holds: a key or force pattern (``keyed``), where ``"hash"`` is, and whether
    a Shodan banner's keys may be there (:data:`SHODAN_MARKERS` or ``"data"``)."""

    keyed: bool = False
    hashes: list[int] = field(default_factory=list)
    shodan: bool = False


_MARKER_WORDS = (*SHODAN_MARKERS, _DATA_KEY)


def _hs_literal(pattern: bytes) -> bytes:
    return b"".join(b"\\x%02x" % byte for byte in pattern)


class _Searcher:
    """One pass over a raw line for many byte patterns.

    ``needles`` (raw keys, force patterns, wrapper keys) are matched ignoring ASCII case; the
    first one found ends the pass. With ``guard`` (the banner hash guard), the pass also finds
    every ``"hash"``, whether a Shodan banner's keys are present, and a ``"data"`` list (which
    counts as a needle), all as written. Backends: Hyperscan (SIMD literal matching, caseless in
    the engine, about 0.6 ns a byte; the guard's patterns report at most once each, except
    ``"hash"``, since every report is a Python call) or pyahocorasick over the lower-cased line
    (about 12 ns a byte: correct, but slower than parsing, so only a fallback).
    """

    def __init__(self, needles: Sequence[bytes], guard: bool, backend: str) -> None:
        self.backend = backend
        self._count = len(needles)
        self._hs: Any = None
        self._py: Any = None
        if not needles and not guard:
            return
        if backend == "hyperscan":
            if hyperscan is None:
                raise ValueError("hyperscan is not installed")
            single = hyperscan.HS_FLAG_SINGLEMATCH
            expressions = [_hs_literal(needle) for needle in needles]
            flags = [hyperscan.HS_FLAG_CASELESS | single] * len(needles)
            if guard:
                markers = b"|".join(_hs_literal(word) for word in _MARKER_WORDS)
                expressions += [_DATA_LIST, b"(?:" + markers + b")", _hs_literal(_HASH_KEY)]
                flags += [single, single, 0]
            self._hs = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            self._hs.compile(
                expressions=expressions,
                ids=list(range(len(expressions))),
                elements=len(expressions),
                flags=flags,
            )
            self._scratch = hyperscan.Scratch(self._hs)
        elif backend == "pyahocorasick":
            # pyahocorasick here searches str: latin-1 maps each byte to one character. Case is
            # folded as bytes.lower folds it (ASCII only), never as str.lower would fold the
            # latin-1 characters that stand for UTF-8 bytes.
            self._py = ahocorasick.Automaton()
            for index, needle in enumerate(needles):
                self._py.add_word(needle.lower().decode("latin-1"), (index, needle))
            if guard:
                for word in (*_MARKER_WORDS, _HASH_KEY):
                    self._py.add_word(word.decode("latin-1"), (-1, word))
            self._py.make_automaton()
        else:
            raise ValueError(f"unknown pattern backend {backend!r}; one of {BACKENDS}")

    def scan(self, line: bytes) -> Scan:
        if self._hs is not None:
            return self._scan_hs(line)
        if self._py is not None:
            return self._scan_py(line)
        return Scan()

    def _scan_hs(self, line: bytes) -> Scan:
        found = Scan()
        count = self._count
        hashes = found.hashes

        def on_match(index: int, start: int, end: int, flags: int, context: Any) -> bool:
            if index <= count:  # a needle, or a "data" list
                found.keyed = True
                return True  # stop: the line is parsed
            if index == count + 1:
                found.shodan = True
            else:
                hashes.append(end - 6)
            return False

        with contextlib.suppress(hyperscan.ScanTerminated):  # the early stop above
            self._hs.scan(line, match_event_handler=on_match, scratch=self._scratch)
        return found

    def _scan_py(self, line: bytes) -> Scan:
        found = Scan()
        for end, (index, pattern) in self._py.iter(line.lower().decode("latin-1")):
            if index >= 0:
                found.keyed = True
                return found
            start = end - len(pattern) + 1
            if line[start : start + len(pattern)] != pattern:
                continue  # the guard's words count as written only
            if pattern == _HASH_KEY:
                found.hashes.append(start)
            else:
                found.shodan = True
                if pattern == _DATA_KEY and _data_is_list(line, start):
                    found.keyed = True
                    return found
        return found


@dataclass(frozen=True, slots=True)
class PrefilterPlan:
    """What the prefilter searches for, and why (for reports and tests)."""

    needles: frozenset[bytes]
    """Raw keys of all queries."""
    forces: frozenset[bytes]
    """Patterns that make a line be parsed whatever else it holds."""
    hash_guard: bool
    """Some query's key is a banner ``hash``: :func:`stored_hash_is_certain` runs on lines that
    may hold a Shodan banner."""
    unkeyed: tuple[str, ...]
    """Queries without a raw key (``engine: query``)."""
    unfiltered: frozenset[Engine]
    """Engines with an unkeyed query: their records' lines are always parsed."""
    engine: Engine | None = None
    """The engine every record is taken for (``--engine``), None when detected."""


def plan(queries: Iterable[tuple[Engine, str, Query]], engine: Engine | None) -> PrefilterPlan:
    """The patterns for ``queries`` (engine, text, parsed); ``engine``: records forced to it."""
    needles: set[bytes] = set()
    hash_guard = False
    unkeyed: list[str] = []
    unfiltered: set[Engine] = set()
    for query_engine, text, parsed in queries:
        if engine is not None and query_engine is not engine:
            continue
        keys = raw_keys(parsed)
        if keys is None:
            unkeyed.append(f"{query_engine.value}: {text}")
            unfiltered.add(query_engine)
            continue
        hash_guard = hash_guard or HASH_GUARD in keys
        needles |= keys - {HASH_GUARD}

    forces: set[bytes] = set()
    if Engine.SHODAN in unfiltered:
        forces.update(SHODAN_TRIGGERS)
    if unfiltered & {Engine.CENSYS, Engine.CENSYS_LEGACY}:
        forces.update(CENSYS_TRIGGERS)
    spelled = set(needles) | forces
    if hash_guard:
        spelled |= {_HASH_KEY, _DATA_KEY, *_WRAPPER_KEYS, *SHODAN_MARKERS}
    forces |= force_patterns(spelled)
    return PrefilterPlan(
        frozenset(needles),
        frozenset(forces),
        hash_guard,
        tuple(unkeyed),
        frozenset(unfiltered),
        engine,
    )


class RawPrefilter:
    """``admits(line)``: False only when no query of the plan can match the line's records."""

    def __init__(self, plan: PrefilterPlan, backend: str | None = None) -> None:
        self.plan = plan
        needles = sorted(plan.needles | plan.forces)
        if plan.hash_guard:
            needles += [key for key in _WRAPPER_KEYS if key not in needles]
        chosen = backend or available_backends()[0]
        self.searcher = _Searcher(needles, plan.hash_guard, chosen)
        self.backend = self.searcher.backend
        self.passed_over = 0
        """Lines this prefilter ruled out so far."""

    def admits(self, line: bytes) -> bool:
        """True when some query of the plan could match a record of ``line`` (parse it)."""
        found = self.searcher.scan(line)
        if found.keyed:
            return True
        if (
            self.plan.hash_guard
            and (found.shodan or self.plan.engine is Engine.SHODAN)
            and not stored_hash_is_certain(line, found.hashes)
        ):
            return True
        self.passed_over += 1
        return False

    __call__ = admits
