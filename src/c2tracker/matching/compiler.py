"""The compiled matcher: a whole rule set run over each record in one pass.

Evaluating every query of every rule on every record costs rules × records. Instead, each query
contributes a *necessary key*: a value or literal that any record it matches must contain.

- exact keys (hashes, serials, ports, JARM, fingerprints, ``=`` values…) go into dictionaries
  per field, so a record's values are looked up, not compared rule by rule;
- text literals (``product:``, ``http.title:``, ``ssl:``, Censys ``:`` values, free text) go
  into one Aho-Corasick automaton per field (pyahocorasick), searched over the lower-cased text
  of that field only — or, where cheaper (long texts, few literals), plain substring tests
  (:class:`_LiteralChannel`, costs measured by ``bench/bench_matching.py``).

Only queries whose key fired (plus the few with no key at all) are evaluated with the full
tree, by :mod:`c2tracker.matching.evaluator`, so results are exactly those of evaluating every
query, at a cost that grows with the number of candidate rules rather than with the corpus.

How a key is chosen (:func:`necessary_keys`): a field condition gives the set of keys one of
which must be present (several for a value set or a comma list); ``and`` keeps its most selective
child's set (:func:`selectivity`); ``or`` needs a set from every branch and unites them; ``not``
and conditions such as regexes, ranges, CIDR and existence give none.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ahocorasick

from c2tracker.matching import fields as f
from c2tracker.matching.evaluator import (
    Detail,
    RecordView,
    censys_bool,
    censys_path,
    detect_engine,
    evaluate_view,
    unwrap_censys_host,
)
from c2tracker.model import Observation
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
    from c2tracker.matching.prefilter import RawPrefilter
    from c2tracker.rules import Rule

log = logging.getLogger(__name__)

#: Censys free text searches every string of the host; its literal channel has this name.
FULL_TEXT_CHANNEL = "*"

#: Exact-value fields whose values are shared by many hosts (a port, a country): keys on them
#: are chosen only when nothing more selective is in the same ``and``.
_COMMON_SHODAN = frozenset(
    {"port", "http.status", "country", "asn", "tag", "ssl.version", "ssl.cipher.version",
     "ssl.cipher.bits", "ssl.cert.pubkey.bits", "ssl.cert.pubkey.type", "ssl.chain_count",
     "ssl.alpn", "shodan.module", "http.component", "http.component_category", "cloud.provider",
     "cloud.region", "cloud.service", "ssh.type", "ssl.cert.alg", "ssl.cert.extension",
     "domain", "vuln", "screenshot.label"}
)  # fmt: skip
_COMMON_CENSYS_SUFFIXES = (
    "port", "protocol", "service_name", "extended_service_name", "status_code",
    "transport_protocol", "country_code", "country", "asn", "version_selected", "labels",
    "labels.value", "truncated", "endpoint_type",
)  # fmt: skip

Key = tuple[str, str, Hashable]
"""``("eq", channel, value)`` or ``("lit", channel, lower-case literal)``."""


# --------------------------------------------------------------------------------------------
# Necessary keys


def selectivity(keys: frozenset[Key], engine: Engine) -> float:
    """How rarely a key set fires; higher is better. Hashes beat long literals beat ports."""
    if not keys:
        return 100.0  # can never fire: the query cannot match a record of this kind
    scores = []
    for kind, channel, value in keys:
        if kind == "eq":
            common = (
                channel in _COMMON_SHODAN
                if engine is Engine.SHODAN
                else channel.endswith(_COMMON_CENSYS_SUFFIXES)
            )
            scores.append(1.0 if common else 10.0)
        elif str(value) in f.COMMON_TOKENS or len(str(value)) < 3:
            scores.append(1.0)
        else:
            scores.append(min(len(str(value)), 16) / 2)
    return min(scores) - 0.1 * (len(keys) - 1)


def necessary_keys(query: Query) -> frozenset[Key] | None:
    """Keys one of which every record matching ``query`` contains; None when there are none."""
    return _keys(query.root, query.engine, "", at_host=True)


def _keys(node: Node, engine: Engine, prefix: str, at_host: bool) -> frozenset[Key] | None:
    if isinstance(node, And):
        options = [
            keys
            for child in node.children
            if (keys := _keys(child, engine, prefix, at_host)) is not None
        ]
        return max(options, key=lambda k: selectivity(k, engine)) if options else None
    if isinstance(node, Or):
        union: set[Key] = set()
        for child in node.children:
            keys = _keys(child, engine, prefix, at_host)
            if keys is None:
                return None
            union |= keys
        return frozenset(union)
    if isinstance(node, Not):
        return None
    if isinstance(node, FullText):
        return _full_text_keys(node.value, engine)
    if isinstance(node, Nested):
        path = censys_path(node.name, engine, at_host) if engine is not Engine.SHODAN else None
        if path is None:
            return frozenset() if engine is not Engine.SHODAN else None
        return _keys(node.body, engine, _join(prefix, path), at_host=False)
    if engine is Engine.SHODAN:
        return _alternatives_keys(node.value, lambda v: _shodan_keys(node, v))
    path = censys_path(node.name, engine, at_host)
    if path is None:
        return frozenset()
    full = _join(prefix, path)
    return _alternatives_keys(node.value, lambda v: _censys_keys(full, node.op, v))


def _join(prefix: str, path: str) -> str:
    return f"{prefix}.{path}" if prefix and path else prefix or path


def _alternatives_keys(value: Value, keys_of: Any) -> frozenset[Key] | None:
    union: set[Key] = set()
    for alternative in value.values if isinstance(value, AnyOf) else (value,):
        keys = keys_of(alternative)
        if keys is None:
            return None
        union |= keys
    return frozenset(union)


def _full_text_keys(value: Text, engine: Engine) -> frozenset[Key] | None:
    if engine is Engine.SHODAN:
        required = f.required_literal(value.value)
        return frozenset({("lit", f.SHODAN_FULL_TEXT_FIELD, required)}) if required else None
    literal = _fixed_literal(value)
    return frozenset({("lit", FULL_TEXT_CHANNEL, literal)}) if literal else None


def _fixed_literal(value: Text) -> str | None:
    """A lower-case literal a case-insensitive match of ``value`` must contain, if any."""
    if not value.wildcard:
        return value.value.lower() or None
    pieces = [p for p in value.value.replace("?", "*").split("*") if p]
    longest = max(pieces, key=len, default="")
    return longest.lower() if len(longest) >= 3 else None


def _shodan_keys(node: Field, value: Value) -> frozenset[Key] | None:
    flt = f.SHODAN_FILTERS.get(node.name)
    if flt is None or not isinstance(value, Text) or node.op not in (Op.MATCH, Op.EQUALS):
        return None if flt is not None else frozenset()
    kind, query = flt.kind, value.value
    if kind is f.ShodanKind.INT:
        number = f.parse_number(query)
        return frozenset({("eq", flt.name, number)}) if isinstance(number, int) else frozenset()
    if kind is f.ShodanKind.SERIAL:
        serial = f.parse_serial_query(query)
        return frozenset({("eq", flt.name, serial)}) if serial is not None else frozenset()
    if kind is f.ShodanKind.KEYWORD:
        return frozenset({("eq", flt.name, query.lower())})
    if kind in (f.ShodanKind.TEXT, f.ShodanKind.PREFIX, f.ShodanKind.HOSTNAME):
        if kind is f.ShodanKind.TEXT:
            literal = f.required_literal(query)
        elif kind is f.ShodanKind.HOSTNAME:
            literal = query.strip().lower().rstrip(".")
        else:
            literal = query.lower()
        return frozenset({("lit", flt.name, literal)}) if literal else None
    return None


def _censys_keys(path: str, op: Op, value: Value) -> frozenset[Key] | None:
    if not isinstance(value, Text):
        return None
    if value.wildcard:
        if op is not Op.MATCH:
            return None
        literal = _fixed_literal(value)
        return frozenset({("lit", path, literal)}) if literal else None
    query = value.value
    keys: set[Key] = set()
    number = f.parse_number(query)
    boolean = censys_bool(query)
    if number is not None:
        keys.add(("eq", path, ("n", _number_key(number))))
    if boolean is not None:
        keys.add(("eq", path, ("b", boolean)))
    if op is Op.EQUALS:
        keys.add(("eq", path, ("s", query)))
        return frozenset(keys)
    if op is Op.MATCH:
        if f.parse_network(query) is not None:
            return None  # CIDR or address: compared as addresses, not as text
        if not query:
            return None
        keys.add(("lit", path, query.lower()))
        return frozenset(keys)
    return None


def _number_key(number: int | float) -> int | float:
    if isinstance(number, float) and number.is_integer():
        return int(number)
    return number


def _censys_record_keys(leaf: Any) -> Hashable | None:
    if isinstance(leaf, bool):
        return ("b", leaf)
    if f.is_number(leaf):
        return ("n", _number_key(leaf))
    if isinstance(leaf, str):
        return ("s", leaf)
    return None


# --------------------------------------------------------------------------------------------
# The compiled index


@dataclass(slots=True)
class CompiledQuery:
    """One query of one rule, ready to evaluate."""

    rule: Rule
    query: Query
    text: str
    keys: frozenset[Key] | None


class _LiteralChannel:
    """Literals searched in one field's lower-cased text.

    Two ways to search: one ``in`` test per literal (CPython's substring search: cheap per
    character, one pass per literal) or one pass of a pyahocorasick automaton (one pass for all
    literals, but far costlier per character). Each text takes whichever is cheaper for its length
    and the channel's literal count, by the per-call and per-character costs measured with
    ``bench/bench_matching.py`` (:data:`SCAN_COSTS_NS`).
    """

    __slots__ = ("automaton", "automaton_below", "by_literal", "literals")

    def __init__(self) -> None:
        self.by_literal: dict[str, list[int]] = {}
        self.literals: tuple[str, ...] = ()
        self.automaton: Any = None
        self.automaton_below = 0
        """Texts shorter than this many characters are searched with the automaton."""

    def add(self, literal: str, index: int) -> None:
        self.by_literal.setdefault(literal, []).append(index)

    def finish(self) -> None:
        self.literals = tuple(self.by_literal)
        count = len(self.literals)
        in_call, in_char, ac_call, ac_char = SCAN_COSTS_NS
        # count * (in_call + in_char * n) > ac_call + ac_char * n  ⇔  automaton is cheaper
        slope = ac_char - count * in_char
        gain = count * in_call - ac_call
        if gain <= 0:
            return
        self.automaton_below = int(gain / slope) if slope > 0 else 2**62
        self.automaton = ahocorasick.Automaton()
        for literal in self.literals:
            self.automaton.add_word(literal, literal)
        self.automaton.make_automaton()

    def scan(self, text: str, found: set[int]) -> None:
        by_literal = self.by_literal
        if len(text) < self.automaton_below:
            for _, literal in self.automaton.iter(text):
                found.update(by_literal[literal])
            return
        for literal in self.literals:
            if literal in text:
                found.update(by_literal[literal])


#: (``in`` per call, ``in`` per character, automaton per call, automaton per character), in ns,
#: measured on a 2-core VM with ``bench/bench_matching.py`` (HTML bodies of ~4 KB): a substring
#: test runs at about a character per nanosecond, pyahocorasick's walk at about 28 ns a character.
SCAN_COSTS_NS = (60.0, 0.8, 400.0, 28.0)


@dataclass(slots=True)
class _EngineIndex:
    engine: Engine
    queries: list[CompiledQuery] = field(default_factory=list)
    eq: dict[str, dict[Hashable, list[int]]] = field(default_factory=dict)
    literals: dict[str, _LiteralChannel] = field(default_factory=dict)
    always: list[int] = field(default_factory=list)
    shodan_eq: list[tuple[f.ShodanFilter, dict[Hashable, list[int]]]] = field(default_factory=list)
    shodan_literals: list[tuple[f.ShodanFilter | None, _LiteralChannel]] = field(
        default_factory=list
    )

    def add(self, compiled: CompiledQuery) -> None:
        index = len(self.queries)
        self.queries.append(compiled)
        if compiled.keys is None:
            self.always.append(index)
            return
        for kind, channel, value in compiled.keys:
            if kind == "eq":
                self.eq.setdefault(channel, {}).setdefault(value, []).append(index)
            else:
                self.literals.setdefault(channel, _LiteralChannel()).add(str(value), index)

    def finish(self) -> None:
        for channel in self.literals.values():
            channel.finish()
        if self.engine is Engine.SHODAN:
            self.shodan_eq = [(f.SHODAN_FILTERS[name], table) for name, table in self.eq.items()]
            self.shodan_literals = [
                (f.SHODAN_FILTERS.get(name) if name != f.SHODAN_FULL_TEXT_FIELD else None, ch)
                for name, ch in self.literals.items()
            ]


class Matcher:
    """A rule set compiled for matching many records, each examined once.

    ``match(record)`` returns one :class:`~c2tracker.model.Observation` per matching query (and,
    for a Censys host, per matched service port); results equal evaluating every query with
    :func:`~c2tracker.matching.evaluate`.
    """

    def __init__(self, rules: Iterable[Rule], engines: Iterable[Engine | str] | None = None):
        wanted = {Engine(e) for e in engines} if engines is not None else set(Engine)
        self._indexes = {engine: _EngineIndex(engine) for engine in wanted}
        self.rule_count = 0
        self.evaluations = 0
        """Full-tree evaluations done so far (for benchmarks and tests of the prefilter)."""
        for rule in rules:
            self.rule_count += 1
            for rule_query in rule.queries:
                index = self._indexes.get(Engine(rule_query.engine))
                if index is None:
                    continue
                parsed = rule_query.parsed
                index.add(CompiledQuery(rule, parsed, rule_query.query, necessary_keys(parsed)))
        for index in self._indexes.values():
            index.finish()

    @property
    def query_count(self) -> int:
        return sum(len(index.queries) for index in self._indexes.values())

    def raw_prefilter(
        self, engine: Engine | str | None = None, *, backend: str | None = None
    ) -> RawPrefilter | None:
        """A :class:`~c2tracker.matching.prefilter.RawPrefilter` for JSON Lines of records (all
        taken as ``engine``'s when given), or None when it could not pass over any line: the
        forced engine has a query without a raw key, or no fast automaton is installed and no
        ``backend`` is asked for (pyahocorasick alone costs more than it saves)."""
        from c2tracker.matching import prefilter

        forced = Engine(engine) if engine is not None else None
        queries = [
            (index.engine, compiled.text, compiled.query)
            for index in self._indexes.values()
            for compiled in index.queries
        ]
        the_plan = prefilter.plan(queries, forced)
        if forced is not None and forced in the_plan.unfiltered:
            return None
        if backend is None and "hyperscan" not in prefilter.available_backends():
            return None
        return prefilter.RawPrefilter(the_plan, backend)

    def unkeyed_queries(self) -> list[CompiledQuery]:
        """Queries evaluated on every record because they have no necessary key."""
        return [ix.queries[i] for ix in self._indexes.values() for i in ix.always]

    def match(
        self, record: Mapping[str, Any], engine: Engine | str | None = None, *, source: str = "scan"
    ) -> list[Observation]:
        """Observations for every query of the rule set that ``record`` matches."""
        chosen = Engine(engine) if engine is not None else detect_engine(record)
        index = self._indexes.get(chosen) if chosen is not None else None
        if index is None or not index.queries:
            return []

        if chosen is Engine.SHODAN:
            candidates = _shodan_candidates(index, record)
        else:
            candidates = _censys_candidates(index, unwrap_censys_host(record))
        if not candidates:
            return []

        view = RecordView(record, index.engine)
        observations: list[Observation] = []
        for position in sorted(candidates):
            compiled = index.queries[position]
            self.evaluations += 1
            detail = evaluate_view(compiled.query, view)
            if detail is not None:
                observations.extend(observations_for(compiled, view, detail, source))
        return observations


def _shodan_candidates(index: _EngineIndex, banner: Mapping[str, Any]) -> set[int]:
    """Queries whose necessary key the banner holds (plus those without a key)."""
    found = set(index.always)
    plain = type(banner) is dict
    values: Sequence[Any]
    for flt, table in index.shodan_eq:
        path = flt.path
        if plain and path is not None:
            node: Any = banner
            for key in path:
                node = node.get(key) if type(node) is dict else None
            if type(node) is list:
                values = node if flt.many else ()
            else:
                values = () if node is None else (node,)
        else:
            values = flt.extract(banner)
        kind = flt.kind
        for value in values:
            if kind is f.ShodanKind.INT:
                key_value: Any = value if type(value) is int else None
            elif kind is f.ShodanKind.SERIAL:
                key_value = f.record_serial(value)
            else:
                text = f.as_text(value)
                key_value = text.lower() if text is not None else None
            if key_value is not None:
                hits = table.get(key_value)
                if hits:
                    found.update(hits)
    for flt_or_data, channel in index.shodan_literals:
        if flt_or_data is None:
            values = f.shodan_data(banner)
        elif plain and flt_or_data.path is not None:
            node = banner
            for key in flt_or_data.path:
                node = node.get(key) if type(node) is dict else None
            if type(node) is list:
                values = node if flt_or_data.many else ()
            else:
                values = () if node is None else (node,)
        else:
            values = flt_or_data.extract(banner)
        for value in values:
            if type(value) is str:
                if value:
                    channel.scan(value.lower(), found)
            else:
                text = f.as_text(value)
                if text:
                    channel.scan(text.lower(), found)
    return found


def _censys_candidates(index: _EngineIndex, host: Mapping[str, Any]) -> set[int]:
    found = set(index.always)
    for path, table in index.eq.items():
        for leaf in f.resolve(host, path.split(".") if path else []):
            key = _censys_record_keys(leaf)
            hits = table.get(key) if key is not None else None
            if hits:
                found.update(hits)
    for path, channel in index.literals.items():
        if path == FULL_TEXT_CHANNEL:
            texts: Iterable[str] = (text for _, text in f.iter_string_leaves(host))
        else:
            texts = (leaf for leaf in f.resolve(host, path.split(".")) if isinstance(leaf, str))
        for text in texts:
            channel.scan(text.lower(), found)
    return found


# --------------------------------------------------------------------------------------------
# Observations


def normalise_ip(value: Any) -> str | None:
    """Compressed address text (IPv4-mapped IPv6 unwrapped), or None when it is not an IP."""
    if f.is_int(value) and 0 <= value < 2**32:
        return str(ipaddress.IPv4Address(value))
    if not isinstance(value, str):
        return None
    address = f.parse_ip(value)
    return address.compressed if address is not None else None


def normalise_asn(value: Any) -> str | None:
    """``"AS14061"`` from ``"AS14061"``, ``"as14061"``, ``"14061"`` or ``14061``."""
    if f.is_int(value) and value >= 0:
        return f"AS{value}"
    if isinstance(value, str):
        text = value.strip().upper()
        digits = text[2:] if text.startswith("AS") else text
        if digits.isdigit():
            return f"AS{int(digits)}"
    return None


#: Names kept per observation; a hostile record could carry millions.
MAX_HOSTNAMES = 50

#: A record with no ``transport`` is TCP: old Shodan banners lack the field (shodan.md §2.1) and
#: nearly every service Shodan and Censys scan is TCP.
DEFAULT_TRANSPORT = "tcp"


def _strings(values: Iterable[Any], limit: int = MAX_HOSTNAMES) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        if isinstance(value, str) and value and value not in out:
            out.append(value)
            if len(out) >= limit:
                break
    return tuple(out)


def _transport(value: Any) -> str:
    return value.strip().lower() if isinstance(value, str) and value.strip() else DEFAULT_TRANSPORT


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class _Place:
    """Where an observation was seen: the parts that differ between a banner and a host."""

    ip: str
    hostnames: tuple[str, ...]
    asn: str | None
    org: str | None
    country: str | None
    tags: tuple[str, ...]


def _observation(
    compiled: CompiledQuery,
    detail: Detail,
    source: str,
    place: _Place,
    port: int | None,
    transport: str,
    timestamp: datetime | None,
) -> Observation:
    return Observation(
        ip=place.ip,
        port=port,
        transport=transport,
        rule_id=compiled.rule.id,
        family=compiled.rule.name,
        engine=compiled.query.engine,
        query=compiled.text,
        timestamp=timestamp,
        evidence=detail.as_evidence(),
        source=source,
        hostnames=place.hostnames,
        asn=place.asn,
        org=place.org,
        country=place.country,
        tags=place.tags,
    )


def observations_for(
    compiled: CompiledQuery, view: RecordView, detail: Detail, source: str
) -> list[Observation]:
    """The observations one matching query yields for one record (none without a usable IP)."""
    root = view.root
    if view.engine is Engine.SHODAN:
        ip = normalise_ip(root.get("ip_str") or root.get("ipv6") or root.get("ip"))
        if ip is None:
            log.debug("banner without a usable address skipped")
            return []
        place = _Place(
            ip=ip,
            hostnames=_strings(f.values_of(root.get("hostnames"))),
            asn=normalise_asn(root.get("asn")),
            org=_text_or_none(root.get("org")),
            country=_text_or_none(f.dig(root, "location", "country_code")),
            tags=_strings(f.values_of(root.get("tags"))),
        )
        port = root.get("port")
        return [
            _observation(
                compiled,
                detail,
                source,
                place,
                port if f.is_int(port) else None,
                _transport(root.get("transport")),
                _time(root.get("timestamp")),
            )
        ]

    ip = normalise_ip(root.get("ip"))
    if ip is None:
        log.debug("Censys host without a usable address skipped")
        return []
    system = root.get("autonomous_system")
    names = f.values_of(f.dig(root, "dns", "names"))
    names += f.values_of(f.dig(root, "dns", "reverse_dns", "names"))
    place = _Place(
        ip=ip,
        hostnames=_strings(names),
        asn=normalise_asn(f.dig(system, "asn")),
        org=_text_or_none(f.dig(system, "name")) or _text_or_none(f.dig(system, "description")),
        country=_text_or_none(f.dig(root, "location", "country_code")),
        tags=_strings(
            label.get("value") if isinstance(label, Mapping) else label
            for label in f.values_of(root.get("labels"))
        ),
    )
    host_time = _time(root.get("last_updated_at"))

    # One observation per matched service with a port (services carry the port, censys.md
    # §3); a match on host-level fields only has no port.
    observations = []
    for service in detail.services:
        port = service.get("port")
        if not f.is_int(port):
            continue
        seen = _time(service.get("scan_time")) or _time(service.get("observed_at")) or host_time
        transport = _transport(service.get("transport_protocol"))
        observations.append(_observation(compiled, detail, source, place, port, transport, seen))
    if not observations:
        seen = host_time or _latest_service_time(root)
        observations.append(
            _observation(compiled, detail, source, place, None, DEFAULT_TRANSPORT, seen)
        )
    return observations


def _time(value: Any) -> datetime | None:
    return f.parse_datetime(value) if isinstance(value, str) else None


def _latest_service_time(host: Mapping[str, Any]) -> datetime | None:
    times = [
        t
        for service in f.values_of(host.get("services"))
        if isinstance(service, Mapping)
        for t in (_time(service.get("scan_time")), _time(service.get("observed_at")))
        if t is not None
    ]
    return max(times) if times else None
