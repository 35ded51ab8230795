"""The offline evaluator: does one parsed query match one scan record, and on what evidence.

:func:`evaluate` answers for a Shodan banner (Shodan queries) or a Censys host record (CenQL and
legacy queries; Platform ``host_v1.resource`` / ``result.resource`` / bare, legacy bare /
``result``). It returns the record values that satisfied the query's positive conditions, keyed
by the field path as the query wrote it, or None when the record does not match.

Semantics follow ``shodan.md`` §4 and ``censys.md`` §4.3. The choices the references leave open
are named here or in :mod:`c2tracker.matching.fields`:

- :data:`NOT_OF_MISSING_IS_TRUE` — ``not X`` holds whenever ``X`` does not, including when X's
  field is missing (search-engine semantics). A missing or null field never satisfies X itself.
- :data:`UNKNOWN_SHODAN_FILTER_MATCHES` — a filter the table does not know never matches.
- Censys ``:`` is a case-insensitive substring; ``=`` exact and case-sensitive (numbers by value,
  quoted numerals on numeric fields by value); CenQL ``=~`` is ``re.search``, case-sensitive;
  legacy ``/re/`` is a whole-value match, case-insensitive after ``:``, sensitive after ``=``;
  legacy wildcards are anchored and case-insensitive.
- Regular expressions come from reviewed rules, never from records; Python's ``re`` has no
  timeout, so a catastrophic pattern would stall matching. Patterns are compiled once (cached).

:class:`RecordView` prepares one record (unwrapping, cached field values and prepared texts) so
that the compiled :class:`~c2tracker.matching.compiler.Matcher` can evaluate many queries on it
while doing each extraction once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from c2tracker.matching import fields as f
from c2tracker.querylang.ast import (
    And,
    AnyOf,
    Engine,
    Exists,
    Field,
    FullText,
    Nested,
    Node,
    Not,
    Op,
    Or,
    Query,
    Range,
    Regex,
    Text,
    Value,
)

log = logging.getLogger(__name__)

#: ``not X`` is true when X is false, including when X's field is missing or null. This is how
#: search engines treat negation (``-hash:0`` keeps banners without the field); "missing never
#: satisfies" applies to the positive condition inside.
NOT_OF_MISSING_IS_TRUE = True

#: A Shodan filter missing from :data:`~c2tracker.matching.fields.SHODAN_FILTERS` never matches:
#: its field is unknown, and guessing would risk false matches (shodan.md §4.2 on ``http:``).
UNKNOWN_SHODAN_FILTER_MATCHES = False

#: Longest text kept as evidence; longer values (an HTML body) become an excerpt around the hit.
EVIDENCE_MAX_CHARS = 200

#: Values kept per evidence key; a host with thousands of matching values is hostile or a
#: honeypot, and the first few make the case.
MAX_EVIDENCE_VALUES = 20

#: Evidence for free-text hits names at most this many record leaves.
MAX_FULLTEXT_EVIDENCE = 3


# --------------------------------------------------------------------------------------------
# Records


def unwrap_censys_host(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The host inside a Censys record: ``host_v1.resource``, ``result.resource``, ``result``,
    ``resource``, or the record itself (censys.md §2.4, §2.5, §1.3)."""
    for path in (("host_v1", "resource"), ("result", "resource"), ("resource",), ("result",)):
        node = f.dig(record, *path)
        if isinstance(node, Mapping):
            return node
    return record


def detect_engine(record: Mapping[str, Any]) -> Engine | None:
    """Which engine's queries apply to ``record``: Shodan banner, Censys Platform or legacy host.

    Shodan: ``ip_str`` or ``ipv6`` (names only Shodan uses) with ``port``, or a numeric ``ip``
    with ``port`` and ``data`` or ``_shodan``. Platform: ``host_v1``/``resource`` wrappers, or
    services with ``protocol`` or ``endpoints``. Legacy: services with ``service_name`` or
    ``_decoded``. None when the shape is unknown.
    """
    if "port" in record and (
        "ip_str" in record
        or "ipv6" in record
        or ("ip" in record and ("data" in record or "_shodan" in record))
    ):
        return Engine.SHODAN
    if (
        "host_v1" in record
        or "resource" in record
        or isinstance(f.dig(record, "result", "resource"), Mapping)
    ):
        return Engine.CENSYS
    host = unwrap_censys_host(record)
    for service in f.values_of(host.get("services")):
        if not isinstance(service, Mapping):
            continue
        if "service_name" in service or "_decoded" in service:
            return Engine.CENSYS_LEGACY
        if "protocol" in service or "endpoints" in service:
            return Engine.CENSYS
    return None


Hit = tuple[Any, Mapping[str, Any] | None]
"""A value found in a Censys host and the service it belongs to (None: host-level)."""


class RecordView:
    """One record made ready for evaluation; every extraction is computed once and cached."""

    __slots__ = ("_full_text", "_lower", "_paths", "_shodan", "_tokens", "engine", "root")

    def __init__(self, record: Mapping[str, Any], engine: Engine) -> None:
        self.engine = engine
        self.root: Mapping[str, Any] = (
            record if engine is Engine.SHODAN else unwrap_censys_host(record)
        )
        self._shodan: dict[str, list[Any]] = {}
        self._tokens: dict[str, list[str | None]] = {}
        self._lower: dict[str, list[str | None]] = {}
        self._paths: dict[str, list[Hit]] = {}
        self._full_text: str | None = None

    # Shodan ----------------------------------------------------------------------------------

    def shodan_values(self, name: str) -> list[Any]:
        """The banner values a Shodan filter (or ``data`` for free text) reads."""
        cached = self._shodan.get(name)
        if cached is None:
            if name == f.SHODAN_FULL_TEXT_FIELD:
                cached = f.shodan_data(self.root)
            else:
                cached = SHODAN_FILTER_EXTRACT[name](self.root)
            self._shodan[name] = cached
        return cached

    def lower_texts(self, name: str) -> list[str | None]:
        """Lower-cased text of each value of ``name`` (None where a value is not text)."""
        cached = self._lower.get(name)
        if cached is None:
            cached = [
                text.lower() if (text := f.as_text(v)) is not None else None
                for v in self.shodan_values(name)
            ]
            self._lower[name] = cached
        return cached

    def token_texts(self, name: str) -> list[str | None]:
        """:func:`~c2tracker.matching.fields.token_text` of each value of ``name``."""
        cached = self._tokens.get(name)
        if cached is None:
            cached = [
                f.token_text(text) if (text := f.as_text(v)) is not None else None
                for v in self.shodan_values(name)
            ]
            self._tokens[name] = cached
        return cached

    # Censys ----------------------------------------------------------------------------------

    def host_hits(self, path: str) -> list[Hit]:
        """Values at ``path`` (relative to the host), each with the service it lies in."""
        cached = self._paths.get(path)
        if cached is None:
            cached = []
            segments = path.split(".") if path else []
            if segments and segments[0] == "services":
                for service in f.flatten(self.root.get("services")):
                    if isinstance(service, Mapping):
                        cached.extend((v, service) for v in f.resolve(service, segments[1:]))
            else:
                cached.extend((v, None) for v in f.resolve(self.root, segments))
            self._paths[path] = cached
        return cached

    def full_text(self) -> str:
        """Every string leaf of the host, lower-cased, joined by NUL (for free text)."""
        if self._full_text is None:
            self._full_text = "\x00".join(
                text.lower() for _, text in f.iter_string_leaves(self.root)
            )
        return self._full_text


SHODAN_FILTER_EXTRACT = {name: flt.extract for name, flt in f.SHODAN_FILTERS.items()}


# --------------------------------------------------------------------------------------------
# Results


@dataclass(slots=True)
class Detail:
    """A match: evidence values by field path, and the Censys services it is bound to."""

    evidence: dict[str, list[Any]] = field(default_factory=dict)
    _services: dict[int, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def services(self) -> list[Mapping[str, Any]]:
        """Matched services in the order first seen."""
        return list(self._services.values())

    def add(self, key: str, value: Any) -> None:
        values = self.evidence.setdefault(key, [])
        if len(values) < MAX_EVIDENCE_VALUES and value not in values:
            values.append(value)

    def add_service(self, service: Mapping[str, Any] | None) -> None:
        if service is not None:
            self._services.setdefault(id(service), service)

    def merge(self, other: Detail) -> None:
        for key, values in other.evidence.items():
            for value in values:
                self.add(key, value)
        for ident, service in other._services.items():
            self._services.setdefault(ident, service)

    def as_evidence(self) -> dict[str, Any]:
        """Evidence for output: one value as itself, several as a list."""
        return {key: v[0] if len(v) == 1 else list(v) for key, v in self.evidence.items()}


def evaluate(query: Query, record: Mapping[str, Any]) -> dict[str, Any] | None:
    """Evidence (field path → value or values that satisfied) if ``record`` matches, else None.

    Never raises on record content: wrong types, nulls and odd shapes simply do not match.
    """
    detail = evaluate_view(query, RecordView(record, query.engine))
    return None if detail is None else detail.as_evidence()


def evaluate_view(query: Query, view: RecordView) -> Detail | None:
    """:func:`evaluate` on a prepared record, keeping the matched services."""
    scope = _Scope(view.root, "", None, at_host=True)
    return _eval(query.root, query.engine, view, scope)


@dataclass(frozen=True, slots=True)
class _Scope:
    """Where relative paths start: the host, or one element of a nested block."""

    root: Any
    prefix: str
    """Evidence keys inside a nested block start with the block's path."""
    service: Mapping[str, Any] | None
    at_host: bool


def _eval(node: Node, engine: Engine, view: RecordView, scope: _Scope) -> Detail | None:
    if isinstance(node, And):
        result = Detail()
        for child in node.children:
            found = _eval(child, engine, view, scope)
            if found is None:
                return None
            result.merge(found)
        return result
    if isinstance(node, Or):
        for child in node.children:
            found = _eval(child, engine, view, scope)
            if found is not None:
                return found
        return None
    if isinstance(node, Not):
        inner = _eval(node.child, engine, view, scope)
        return Detail() if inner is None and NOT_OF_MISSING_IS_TRUE else None
    if engine is Engine.SHODAN:
        if isinstance(node, Field):
            return _shodan_field(node, view)
        if isinstance(node, FullText):
            return _shodan_full_text(node.value, view)
        return None  # nested blocks do not exist in Shodan's language
    if isinstance(node, Field):
        return _censys_field(node, engine, view, scope)
    if isinstance(node, FullText):
        return _censys_full_text(node.value, engine, view, scope)
    return _censys_nested(node, engine, view, scope)


def _alternatives(value: Value) -> tuple[Value, ...]:
    return value.values if isinstance(value, AnyOf) else (value,)


def excerpt(text: str, needle: str = "") -> str:
    """``text`` if short, else :data:`EVIDENCE_MAX_CHARS` characters around ``needle``."""
    if len(text) <= EVIDENCE_MAX_CHARS:
        return text
    at = text.lower().find(needle.lower()) if needle else -1
    start = max(0, at - EVIDENCE_MAX_CHARS // 4) if at >= 0 else 0
    end = start + EVIDENCE_MAX_CHARS
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


def _evidence_value(value: Any, needle: str = "") -> Any:
    if isinstance(value, str):
        return excerpt(value, needle)
    if isinstance(value, bool | int | float):
        return value
    return True  # an object or list satisfied an existence test; do not copy it


# --------------------------------------------------------------------------------------------
# Shodan


def _shodan_field(node: Field, view: RecordView) -> Detail | None:
    flt = f.SHODAN_FILTERS.get(node.name)
    if flt is None:
        return Detail() if UNKNOWN_SHODAN_FILTER_MATCHES else None
    values = view.shodan_values(flt.name)
    if not values:
        return None

    result: Detail | None = None
    for alternative in _alternatives(node.value):
        for index in _shodan_matching_indexes(flt, node.op, alternative, view):
            result = result or Detail()
            needle = f.required_literal(alternative.value) if isinstance(alternative, Text) else ""
            result.add(node.name, _evidence_value(values[index], needle))
    return result


def _shodan_matching_indexes(
    flt: f.ShodanFilter, op: Op, value: Value, view: RecordView
) -> list[int]:
    """Indexes of the filter's banner values that ``value`` matches."""
    values = view.shodan_values(flt.name)
    if isinstance(value, Exists):
        return [i for i, v in enumerate(values) if f.is_present(v)]
    if isinstance(value, Range):
        return [i for i, v in enumerate(values) if _in_range(v, value, shodan_kind=flt.kind)]
    if not isinstance(value, Text):
        return []  # regular expressions are not part of Shodan's language
    kind = flt.kind
    query = value.value

    if kind is f.ShodanKind.TEXT:
        if f.uses_tokens(query):
            texts = view.token_texts(flt.name)
        else:
            texts = view.lower_texts(flt.name)
        needle = _phrase_needle(query)
        return [i for i, text in enumerate(texts) if text is not None and needle in text]
    if kind in (f.ShodanKind.INT, f.ShodanKind.SERIAL):
        number = f.parse_serial_query(query) if kind is f.ShodanKind.SERIAL else None
        if kind is f.ShodanKind.INT:
            parsed = f.parse_number(query)
            number = parsed if isinstance(parsed, int) else None
        if number is None:
            return []
        read = f.record_serial if kind is f.ShodanKind.SERIAL else _record_int
        return [
            i
            for i, v in enumerate(values)
            if (n := read(v)) is not None and _compare_op(op, n, number)
        ]
    return [i for i, v in enumerate(values) if _shodan_scalar_matches(kind, query, v)]


def _record_int(value: Any) -> int | None:
    # Numeric filters take JSON integers only: a port or hash written as a string is a malformed
    # record, and reading it anyway could turn a broken exporter into false matches.
    return int(value) if f.is_int(value) else None


def _compare_op(op: Op, left: Any, right: Any) -> bool:
    if op is Op.LT:
        return bool(left < right)
    if op is Op.LE:
        return bool(left <= right)
    if op is Op.GT:
        return bool(left > right)
    if op is Op.GE:
        return bool(left >= right)
    return bool(left == right)


def _shodan_scalar_matches(kind: f.ShodanKind, query: str, value: Any) -> bool:
    if kind is f.ShodanKind.BOOL:
        wanted = f.parse_bool(query)
        return isinstance(value, bool) and wanted is not None and value is wanted
    if kind in (f.ShodanKind.BEFORE, f.ShodanKind.AFTER):
        limit = f.parse_datetime(query)
        seen = f.parse_datetime(value) if isinstance(value, str) else None
        if limit is None or seen is None:
            return False
        return seen < limit if kind is f.ShodanKind.BEFORE else seen > limit
    if kind is f.ShodanKind.CIDR:
        network = _network(query)
        address = f.parse_ip(value) if isinstance(value, str) else None
        return network is not None and address is not None and f.address_in(address, network)
    text = f.as_text(value)
    if text is None:
        return False
    if kind is f.ShodanKind.KEYWORD:
        return text.lower() == query.lower()
    if kind is f.ShodanKind.PREFIX:
        return text.lower().startswith(query.lower())
    if kind is f.ShodanKind.HOSTNAME:
        return f.hostname_matches(query, text)
    return False


def _shodan_full_text(value: Text, view: RecordView) -> Detail | None:
    name = f.SHODAN_FULL_TEXT_FIELD
    if f.uses_tokens(value.value):
        texts = view.token_texts(name)
    else:
        texts = view.lower_texts(name)
    needle = _phrase_needle(value.value)
    data = view.shodan_values(name)
    for index, text in enumerate(texts):
        if text is not None and needle in text:
            detail = Detail()
            detail.add(name, _evidence_value(data[index], f.required_literal(value.value)))
            return detail
    return None


@lru_cache(maxsize=8192)
def _phrase_needle(phrase: str) -> str:
    return f.phrase_needle(phrase)


@lru_cache(maxsize=4096)
def _network(text: str) -> Any:
    return f.parse_network(text)


# --------------------------------------------------------------------------------------------
# Censys


def censys_path(name: str, engine: Engine, scope_at_host: bool) -> str | None:
    """The record path of a Censys query field; None when no host record can hold it."""
    if engine is Engine.CENSYS and scope_at_host:
        return f.cenql_host_path(name)
    return name


def _hits(view: RecordView, scope: _Scope, path: str) -> list[Hit]:
    if scope.at_host:
        return view.host_hits(path)
    segments = path.split(".") if path else []
    return [(v, scope.service) for v in f.resolve(scope.root, segments)]


def _censys_field(node: Field, engine: Engine, view: RecordView, scope: _Scope) -> Detail | None:
    path = censys_path(node.name, engine, scope.at_host)
    if path is None:
        return None
    hits = _hits(view, scope, path)
    if not hits:
        return None

    result: Detail | None = None
    key = scope.prefix + node.name
    numeric = path.rpartition(".")[2] in f.CENSYS_NUMERIC_FIELDS
    for alternative in _alternatives(node.value):
        needle = alternative.value if isinstance(alternative, Text) else ""
        for value, service in hits:
            if numeric and not f.is_number(value) and not isinstance(alternative, Exists):
                continue
            if censys_value_matches(node.op, alternative, value, engine):
                result = result or Detail()
                result.add(key, _evidence_value(value, needle))
                result.add_service(service)
    return result


def censys_value_matches(op: Op, value: Value, leaf: Any, engine: Engine) -> bool:
    """Whether one record value satisfies ``op value`` (censys.md §4.3)."""
    if isinstance(value, AnyOf):
        return any(censys_value_matches(op, alt, leaf, engine) for alt in value.values)
    if isinstance(value, Exists):
        return f.is_present(leaf)
    if isinstance(leaf, Mapping | list | f.HeaderMap) or leaf is None:
        return False
    if isinstance(value, Regex):
        return _regex_matches(op, value.pattern, leaf, engine)
    if isinstance(value, Range):
        return _in_range(leaf, value)
    if value.wildcard:
        text = f.as_text(leaf)
        return text is not None and _wildcard(value.value).fullmatch(text) is not None
    if op is Op.REGEX:
        return _regex_matches(op, value.value, leaf, engine)
    if op in (Op.LT, Op.LE, Op.GT, Op.GE):
        order = compare_values(leaf, value.value)
        return order is not None and _compare_op(op, order, 0)
    if op is Op.EQUALS:
        return censys_equals(leaf, value.value)
    return censys_contains(leaf, value.value)


def censys_contains(leaf: Any, query: str) -> bool:
    """Censys ``:``: case-insensitive substring on text; value equality on numbers and booleans;
    address equality or CIDR membership when both sides are IPs."""
    if isinstance(leaf, bool):
        return censys_bool(query) is leaf
    if f.is_number(leaf):
        number = f.parse_number(query)
        return number is not None and leaf == number
    if not isinstance(leaf, str):
        return False
    network = _network(query) if _looks_like_ip(query) else None
    if network is not None:
        address = f.parse_ip(leaf)
        if address is not None:
            return f.address_in(address, network)
    return query.lower() in leaf.lower()


def censys_equals(leaf: Any, query: str) -> bool:
    """Censys ``=``: exact and case-sensitive on text; numbers by value, so ``port="443"`` on a
    numeric field holds (censys.md §4.3 "quoted numerals compare as numbers")."""
    if isinstance(leaf, bool):
        return censys_bool(query) is leaf
    if f.is_number(leaf):
        number = f.parse_number(query)
        return number is not None and leaf == number
    return isinstance(leaf, str) and leaf == query


def censys_bool(query: str) -> bool | None:
    """A Censys boolean value: only the words ``true`` and ``false`` (any case)."""
    lowered = query.strip().lower()
    return True if lowered == "true" else False if lowered == "false" else None


def _looks_like_ip(text: str) -> bool:
    return bool(text) and (text[0].isdigit() or ":" in text)


def compare_values(leaf: Any, query: str) -> int | None:
    """-1, 0 or 1 ordering ``leaf`` against the query value, or None when they do not compare.

    Numbers compare as numbers, IP addresses as addresses, ISO dates as instants, other text as
    text (censys.md §4.2 comparisons "on strings, numbers, dates, IPs").
    """
    left: Any
    right: Any
    if isinstance(leaf, bool):
        return None
    if f.is_number(leaf):
        left, right = leaf, f.parse_number(query)
    elif isinstance(leaf, str):
        left, right = leaf, query
        ip_left, ip_right = f.parse_ip(leaf), f.parse_ip(query)
        if ip_left is not None and ip_right is not None:
            if ip_left.version != ip_right.version:
                return None
            left, right = int(ip_left), int(ip_right)
        elif _looks_like_date(leaf) and _looks_like_date(query):
            date_left, date_right = f.parse_datetime(leaf), f.parse_datetime(query)
            if date_left is not None and date_right is not None:
                left, right = date_left, date_right
    else:
        return None
    if right is None:
        return None
    return int((left > right) - (left < right))


def _looks_like_date(text: str) -> bool:
    return len(text) >= 8 and text[:4].isdigit() and text[4:5] == "-"


def _in_range(leaf: Any, value: Range, shodan_kind: f.ShodanKind | None = None) -> bool:
    if shodan_kind is not None and shodan_kind is not f.ShodanKind.INT:
        return False
    if shodan_kind is not None and not f.is_int(leaf):
        return False
    if value.low is not None:
        order = compare_values(leaf, value.low.value)
        if order is None or order < 0 or (order == 0 and not value.include_low):
            return False
    if value.high is not None:
        order = compare_values(leaf, value.high.value)
        if order is None or order > 0 or (order == 0 and not value.include_high):
            return False
    return True


def _regex_matches(op: Op, pattern: str, leaf: Any, engine: Engine) -> bool:
    text = f.as_text(leaf)
    if text is None:
        return False
    if op is Op.REGEX or engine is Engine.CENSYS:
        compiled = _compile(pattern, 0)
        return compiled is not None and compiled.search(text) is not None
    # Legacy /re/ is Lucene-style: the whole value must match; case-insensitive after ":" and
    # case-sensitive after "=" (censys.md §4.1, §4.3).
    flags = re.IGNORECASE if op is Op.MATCH else 0
    compiled = _compile(pattern, flags)
    return compiled is not None and compiled.fullmatch(text) is not None


@lru_cache(maxsize=2048)
def _compile(pattern: str, flags: int) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, flags | re.DOTALL)
    except re.error as exc:
        log.warning("invalid regular expression %r never matches: %s", pattern, exc)
        return None


@lru_cache(maxsize=2048)
def _wildcard(value: str) -> re.Pattern[str]:
    """Legacy wildcards: ``*`` any run, ``?`` one character, anchored, case-insensitive."""
    parts = [".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in value]
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _censys_full_text(
    value: Text, engine: Engine, view: RecordView, scope: _Scope
) -> Detail | None:
    needle = value.value.lower()
    if not needle:
        return None
    if value.wildcard:
        pattern = _wildcard(value.value)
        leaves = [(p, t) for p, t in f.iter_string_leaves(scope.root) if pattern.fullmatch(t)]
        if not leaves:
            return None
    else:
        if scope.at_host and needle not in view.full_text():
            return None
        leaves = [(p, t) for p, t in f.iter_string_leaves(scope.root) if needle in t.lower()]
        if not leaves:
            return None

    detail = Detail()
    dataset = "host." if engine is Engine.CENSYS and scope.at_host else ""
    for path, text in leaves[:MAX_FULLTEXT_EVIDENCE]:
        detail.add(scope.prefix + dataset + path, excerpt(text, value.value))
    return detail


def _censys_nested(node: Nested, engine: Engine, view: RecordView, scope: _Scope) -> Detail | None:
    path = censys_path(node.name, engine, scope.at_host)
    if path is None:
        return None
    key = scope.prefix + node.name
    port_key = ("host." if engine is Engine.CENSYS else "") + "services.port"

    result: Detail | None = None
    for value, service in _hits(view, scope, path):
        for element in f.elements_of(value):
            if not isinstance(element, Mapping):
                continue
            bound = service
            if bound is None and scope.at_host and path == "services":
                bound = element
            inner = _Scope(element, key + ".", bound, at_host=False)
            found = _eval(node.body, engine, view, inner)
            if found is None:
                continue
            result = result or Detail()
            result.merge(found)
            result.add_service(bound)
            port = bound.get("port") if bound is not None else None
            if f.is_int(port):
                result.add(port_key, port)
    return result
