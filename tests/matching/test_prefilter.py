"""The raw-line prefilter never passes over a line whose records some rule matches.

Differential tests compare matching with the prefilter against matching every line: on the
bundled sample, on the corpus's own test records written by several JSON producers, and on
generated banners and hosts (hypothesis). Targeted tests pin each way a key's raw form can
differ from the parsed value: escapes, case folding, numbers, computed values, wrappers.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import mmh3
import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from c2tracker.matching import Matcher, prefilter as pf
from c2tracker.matching.fields import record_serial
from c2tracker.querylang import parse_query
from c2tracker.querylang.ast import Engine
from c2tracker.rules import Rule, RuleQuery, load_rules
from c2tracker.scandata import ReadStats, iter_records, sample_paths

BACKENDS = pf.available_backends()

# --------------------------------------------------------------------------------------------
# JSON producers: every way a record can be written on one line


def _escape_every_char(value: Any) -> str:
    """A pathological but valid producer: every ASCII letter and digit as ``\\u00XX``."""
    if isinstance(value, dict):
        items = (f"{_escape_every_char(k)}:{_escape_every_char(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_escape_every_char(item) for item in value) + "]"
    if isinstance(value, str):
        chars = (
            f"\\u{ord(c):04x}" if c.isascii() and c.isalnum() else json.dumps(c)[1:-1]
            for c in value
        )
        return '"' + "".join(chars) + '"'
    return json.dumps(value)


def _upper_escapes(text: str) -> str:
    return re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), text)


def _go_style(text: str) -> str:
    # Go's encoding/json escapes <, > and & (they only ever occur inside strings).
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _dotnet_style(text: str) -> str:
    # System.Text.Json's default encoder: HTML-sensitive characters, ' and + as upper-case \u.
    for char in "<>&'+":
        text = text.replace(char, f"\\u{ord(char):04X}")
    return _upper_escapes(text)


PRODUCERS: dict[str, Callable[[Any], bytes]] = {
    "json-ascii": lambda r: json.dumps(r).encode(),
    "json-utf8": lambda r: json.dumps(r, ensure_ascii=False).encode(),
    "json-spaced": lambda r: json.dumps(r, separators=(" , ", " :  ")).encode(),
    "orjson": orjson.dumps,
    "slash-escaped": lambda r: json.dumps(r).replace("/", "\\/").encode(),
    "upper-escapes": lambda r: _upper_escapes(json.dumps(r)).encode(),
    "go": lambda r: _go_style(json.dumps(r, ensure_ascii=False)).encode(),
    "dotnet": lambda r: _dotnet_style(json.dumps(r)).encode(),
    "every-char-escaped": lambda r: _escape_every_char(r).encode(),
}


# --------------------------------------------------------------------------------------------
# Helpers


def matches_of(matcher: Matcher, path: Path, prefilter: Any) -> list[tuple[Any, ...]]:
    stats = ReadStats()
    return [
        (record.line, o.rule_id, o.query, o.ip, o.port)
        for record in iter_records([path], stats, prefilter=prefilter)
        for o in matcher.match(record.data, record.engine)
    ]


def write_lines(path: Path, lines: Iterable[bytes], *, gzipped: bool = False) -> Path:
    # A first line the reader always parses, so the lines under test go through the prefilter.
    body = b"\n".join([b'{"filler": true}', *lines]) + b"\n"
    if gzipped:
        path.write_bytes(gzip.compress(body))
    else:
        path.write_bytes(body)
    return path


def make_rule(rule_id: str, queries: list[tuple[Engine, str]]) -> Rule:
    return Rule(
        id=rule_id,
        name=rule_id.title(),
        feed_name=rule_id.title(),
        category="c2",
        kind="framework",
        description="test rule",
        queries=[RuleQuery(engine=e, query=q, fidelity="high") for e, q in queries],
    )


def one_query_matcher(engine: Engine, query: str) -> Matcher:
    return Matcher([make_rule("one-rule", [(engine, query)])])


def admitted(matcher: Matcher, line: bytes, backend: str, engine: Engine | None = None) -> bool:
    prefilter = matcher.raw_prefilter(engine, backend=backend)
    assert prefilter is not None
    return prefilter.admits(line)


def matched(matcher: Matcher, record: dict[str, Any], engine: Engine | None = None) -> bool:
    return bool(matcher.match(record, engine))


# --------------------------------------------------------------------------------------------
# The corpus, the sample, the corpus's test records


@pytest.fixture(scope="module")
def corpus_matcher() -> Matcher:
    return Matcher(load_rules())


def test_every_corpus_query_has_a_raw_key(corpus_matcher: Matcher) -> None:
    prefilter = corpus_matcher.raw_prefilter(backend="pyahocorasick")
    assert prefilter is not None
    assert prefilter.plan.unkeyed == ()
    assert prefilter.plan.unfiltered == frozenset()
    assert prefilter.plan.hash_guard  # the corpus has hash: queries


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_bundled_sample_same_matches_with_and_without_prefilter(
    corpus_matcher: Matcher, backend: str
) -> None:
    for path in sample_paths():
        prefilter = corpus_matcher.raw_prefilter(backend=backend)
        with_prefilter = matches_of(corpus_matcher, path, prefilter)
        assert with_prefilter == matches_of(corpus_matcher, path, None), path.name
        assert prefilter is not None
        if path.name == "benign.json.gz":
            assert with_prefilter == []
            assert prefilter.passed_over > 0


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("producer", sorted(PRODUCERS))
def test_corpus_test_records_in_every_producer_form(
    corpus_matcher: Matcher, tmp_path: Path, producer: str, backend: str
) -> None:
    rules = load_rules()
    write = PRODUCERS[producer]
    lines = [write(case.record) for rule in rules for case in rule.tests]
    path = write_lines(tmp_path / "records.jsonl.gz", lines, gzipped=True)
    found = matches_of(corpus_matcher, path, corpus_matcher.raw_prefilter(backend=backend))
    assert found == matches_of(corpus_matcher, path, None)
    assert len(found) >= 100

    # Each record as its test's engine says (``--engine``), line by line.
    forced = {engine: corpus_matcher.raw_prefilter(engine, backend=backend) for engine in Engine}
    checked = 0
    for rule in rules:
        for case in rule.tests:
            if matched(corpus_matcher, case.record, case.engine):
                line = write(case.record)
                prefilter = forced[case.engine]
                assert prefilter is not None and prefilter.admits(line), (rule.id, line)
                checked += 1
    assert checked >= 100


# --------------------------------------------------------------------------------------------
# Generated records against rules built to reach every kind of raw key

DATA_HASHED = "HTTP/1.1 200 OK\r\nServer: Hak5\r\n\r\n"
PROPERTY_QUERIES: list[tuple[Engine, str]] = [
    (Engine.SHODAN, f"hash:{mmh3.hash(DATA_HASHED)}"),
    (Engine.SHODAN, "product:'Hak5 Cloud C2'"),
    (Engine.SHODAN, "http.title:'Mimi Panel' port:8443"),
    (Engine.SHODAN, "http.html:'<b>sliver</b>'"),
    (Engine.SHODAN, 'http.html:"<>"'),
    (Engine.SHODAN, "ssl.cert.serial:146473198"),
    (Engine.SHODAN, "ssl:foren.zik"),
    (Engine.SHODAN, "http.favicon.hash:-127886975"),
    (Engine.SHODAN, "hostname:evil.example"),
    (Engine.SHODAN, "cpe:cpe:/a:apache"),
    (Engine.SHODAN, "ssl.cert.subject.cn:'Ünïcödé Kraken'"),
    (Engine.SHODAN, "'X-Kraken: yes'"),
    (Engine.CENSYS, 'host.services.software.product: "ares rat"'),
    (Engine.CENSYS, 'host.services.banner: "<title>a/b</title>"'),
    (Engine.CENSYS, 'host.services: (port: 22 and software.product = "Vshell - 登录")'),
    (Engine.CENSYS_LEGACY, "services.software.product: Mimi*"),
]
PROPERTY_RULES = [make_rule(f"p{i}", [query]) for i, query in enumerate(PROPERTY_QUERIES)]
PROPERTY_MATCHER = Matcher(PROPERTY_RULES)

WORDS = [
    "Hak5", "HAK5", "ha\u212a5", "Cloud", "CLOUD", "C2", "Mimi", "MIM\u0130", "Panel", "<b>",
    "</b>", "Sliver", "SLIVER", "<>", "foren.zik", "FOREN.ZIK", "evil.example", "EVIL.example",
    "cpe:/a:apache", "CPE:/A:Apache", "Ünïcödé", "ÜNÏCÖDÉ", "Kraken", "\u212aRAKEN", "x-kraken:",
    "yes", "ares", "RAT", "<title>a/b</title>", "Vshell - 登录", "\\", '"', "\n", "\u2028", "+",
    "'", "&", "",
]  # fmt: skip
texts = st.lists(st.sampled_from(WORDS), max_size=4).map(" ".join)


@st.composite
def banners(draw: st.DrawFn) -> dict[str, Any]:
    banner: dict[str, Any] = {
        "ip_str": "192.0.2.7",
        "port": draw(st.sampled_from([443, 8443, 22])),
        "data": draw(st.one_of(texts, st.just(DATA_HASHED), st.just(""), st.none())),
    }
    hashed = draw(st.sampled_from(["missing", "null", "stored", "other", "string"]))
    if hashed != "missing":
        banner["hash"] = {
            "null": None,
            "stored": mmh3.hash(DATA_HASHED),
            "other": 12345,
            "string": str(mmh3.hash(DATA_HASHED)),
        }[hashed]
    if draw(st.booleans()):
        banner["product"] = draw(texts)
    if draw(st.booleans()):
        banner["hostnames"] = [draw(texts)]
        banner["cpe"] = [draw(texts)]
    if draw(st.booleans()):
        banner["http"] = {
            "title": draw(texts),
            "html": draw(texts),
            "favicon": {"hash": draw(st.sampled_from([-127886975, 1])), "data": "AAAA"},
        }
    if draw(st.booleans()):
        serial = draw(
            st.sampled_from([146473198, 146473198.0, "0x8BB00EE", "08:BB:00:EE", "8bb00ee", 7])
        )
        banner["ssl"] = {
            "cert": {"serial": serial, "subject": {"CN": draw(texts)}, "issuer": {"O": "x"}},
        }
    return banner


@st.composite
def hosts(draw: st.DrawFn) -> dict[str, Any]:
    legacy = draw(st.booleans())
    services = []
    for _ in range(draw(st.integers(0, 2))):
        service: dict[str, Any] = {
            "port": draw(st.sampled_from([22, 443, 22.0])),
            "banner": draw(texts),
            "software": [{"product": draw(texts)}],
        }
        service["service_name" if legacy else "protocol"] = "HTTP"
        services.append(service)
    host = {"ip": "198.51.100.4", "services": services}
    return host if legacy or draw(st.booleans()) else {"host_v1": {"resource": host}}


def wrapped(record: dict[str, Any], shape: str) -> Any:
    if shape == "matches":
        return {"matches": [record], "total": 1}
    if shape == "lookup":
        inner = {k: v for k, v in record.items() if k not in ("ip_str", "hash")}
        return {"ip_str": "192.0.2.7", "hash": 99, "data": [inner]}
    if shape == "array":
        return [record]
    return record


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    record=st.one_of(banners(), hosts()),
    shape=st.sampled_from(["bare", "bare", "matches", "lookup", "array"]),
    producer=st.sampled_from(sorted(PRODUCERS)),
)
def test_generated_records_never_passed_over_when_they_match(
    tmp_path_factory: pytest.TempPathFactory, record: dict[str, Any], shape: str, producer: str
) -> None:
    line = PRODUCERS[producer](wrapped(record, shape))
    path = write_lines(tmp_path_factory.mktemp("p") / "one.jsonl", [line])
    expected = matches_of(PROPERTY_MATCHER, path, None)
    for backend in BACKENDS:
        prefilter = PROPERTY_MATCHER.raw_prefilter(backend=backend)
        assert matches_of(PROPERTY_MATCHER, path, prefilter) == expected, (backend, line)


def test_property_rules_reach_every_kind_of_key() -> None:
    prefilter = PROPERTY_MATCHER.raw_prefilter(backend="pyahocorasick")
    assert prefilter is not None
    plan = prefilter.plan
    assert plan.hash_guard
    assert plan.unkeyed == ()  # so every line could be passed over: the test has teeth
    assert {b"hak5", b"mimi", b"sliver", b"<>", b"kraken", b"ares rat"} <= plan.needles
    assert {b"146473198", b"8bb00ee", b"8:bb:00:ee", b"a:apache", b"evil.example"} <= plan.needles
    assert b"<title>a" in plan.needles  # "/" splits the literal: it may be written "\/"
    assert b"vshell - " in plan.needles  # the ASCII run of a value with CJK letters
    assert {b"\\u0130", "İ".encode(), b"\\u212a", "\u212a".encode()} <= plan.forces


# --------------------------------------------------------------------------------------------
# Targeted cases

BANNER = '{"ip_str":"1.2.3.4","port":1,'


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("query", "record"),
    [
        # An ASCII letter written as an escape hides the key: the line is parsed.
        ("product:sliver", '{"ip_str":"1.2.3.4","port":1,"product":"\\u0053liver"}'),
        ("product:sliver", '{"ip_str":"1.2.3.4","port":1,"product":"\\u0053LIVER"}'),
        ("product:sliver", '{"ip_str":"1.2.3.4","port":1,"product":"S\\u004CIVER"}'),
        # Upper case in the line, lower case in the query.
        ("product:sliver", '{"ip_str":"1.2.3.4","port":1,"product":"SLIVER C2"}'),
        # The Kelvin sign lower-cases to "k" and dotted capital I to "i" + U+0307.
        ("product:hak5", '{"ip_str":"1.2.3.4","port":1,"product":"HA\\u212a5"}'),
        ("product:hak5", '{"ip_str":"1.2.3.4","port":1,"product":"HA\u212a5"}'),
        ("product:mimi", '{"ip_str":"1.2.3.4","port":1,"product":"MIM\\u0130"}'),
        ("product:mimi", '{"ip_str":"1.2.3.4","port":1,"product":"MIM\u0130"}'),
        # "/" written "\/" (PHP, some Java producers): the key is a run without "/".
        ("cpe:cpe:/a:apache", '{"ip_str":"1.2.3.4","port":1,"cpe":["cpe:\\/a:apache:x"]}'),
        # Non-ASCII written raw or escaped; the key is its ASCII run.
        (
            "ssl.cert.subject.cn:'Ünïcödé Kraken'",
            '{"ip_str":"1.2.3.4","port":1,"ssl":{"cert":{"subject":{"CN":"\\u00dcn\\u00efc'
            '\\u00f6d\\u00e9 kraken"}}}}',
        ),
        # Integers as digits; a negative hash with its sign.
        ("http.favicon.hash:-127886975", BANNER + '"http":{"favicon":{"hash":-127886975}}}'),
        # Serials: integer, 0x hex, bare hex with letters, colon bytes (either case).
        ("ssl.cert.serial:146473198", BANNER + '"ssl":{"cert":{"serial":146473198}}}'),
        ("ssl.cert.serial:146473198", BANNER + '"ssl":{"cert":{"serial":"0x08BB00EE"}}}'),
        ("ssl.cert.serial:146473198", BANNER + '"ssl":{"cert":{"serial":"8bb00ee"}}}'),
        ("ssl.cert.serial:146473198", BANNER + '"ssl":{"cert":{"serial":"08:BB:00:EE"}}}'),
        ("ssl.cert.serial:146473198", BANNER + '"ssl":{"cert":{"serial":"8:bb:00:ee"}}}'),
        # Entities are not decoded by the evaluator: the raw "&mdash;" holds the key.
        ("http.title:'Panel &mdash; Login'", BANNER + '"http":{"title":"Panel &mdash; Login"}}'),
        # Censys: wrapped hosts, substring values, legacy wildcards.
        (
            'host.services.software.product: "ares rat"',
            '{"host_v1":{"resource":{"ip":"1.2.3.4","services":[{"port":1,"protocol":"X",'
            '"software":[{"product":"The ARES RAT panel"}]}]}}}',
        ),
        (
            "services.software.product: Mimi*",
            '{"ip":"1.2.3.4","services":[{"port":1,"service_name":"X",'
            '"software":[{"product":"MIMIKATZ"}]}]}',
        ),
    ],
)  # fmt: skip
def test_escaping_cases_are_parsed(query: str, record: str, backend: str) -> None:
    engine = Engine.SHODAN if '"ip_str"' in record else None
    if engine is None:
        engine = Engine.CENSYS if "host_v1" in record else Engine.CENSYS_LEGACY
    matcher = one_query_matcher(engine, query)
    data = json.loads(record)
    assert matched(matcher, data, engine), "the case must be a real match"
    line = record.encode()
    assert admitted(matcher, line, backend, engine)
    assert admitted(matcher, line, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lines_without_any_key_are_passed_over(backend: str) -> None:
    matcher = one_query_matcher(Engine.SHODAN, "product:sliver")
    line = b'{"ip_str":"1.2.3.4","port":1,"product":"nginx","data":"\\u00e9t\\u00e9"}'
    assert not admitted(matcher, line, backend)
    # An escape of a letter the key does not contain changes nothing.
    assert not admitted(matcher, line.replace(b"nginx", b"\\u006eginx"), backend)


@pytest.mark.parametrize(
    "query",
    [
        "version:1.5",  # text compared with a number's Python rendering
        "ssl:abc123",  # hex digits only: the serial is rendered in hex in ssl: text
        "ssl.chain_count:2",  # computed from the chain
        "-product:nginx",  # negation
        "net:10.0.0.0/8",  # addresses
        "product:Панель",  # letters bytes.lower cannot fold
        'http.title:"\\\\"',  # only a character JSON escapes
    ],
)
def test_queries_without_a_raw_key(query: str) -> None:
    assert pf.raw_keys(parse_query(Engine.SHODAN, query)) is None
    matcher = one_query_matcher(Engine.SHODAN, query)
    assert matcher.raw_prefilter(Engine.SHODAN, backend="pyahocorasick") is None
    prefilter = matcher.raw_prefilter(backend="pyahocorasick")
    assert prefilter is not None and prefilter.plan.unkeyed == (f"shodan: {query}",)
    # Every line that may hold a Shodan banner is parsed; others can hold none.
    assert prefilter.admits(b'{"ip_str":"1.2.3.4","port":1}')
    assert prefilter.admits(b'{"ip_str":"1.2.3.4","p\\u006frt":1}')
    assert not prefilter.admits(b'{"ip":"1.2.3.4","services":[]}')


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("query", "record"),
    [
        ("version:1.5", {"ip_str": "1.2.3.4", "port": 1, "version": 15e-1}),
        ("ssl:abc123", {"ip_str": "1.2.3.4", "port": 1, "ssl": {"cert": {"serial": 0xABC123}}}),
        ("ssl.chain_count:2", {"ip_str": "1.2.3.4", "port": 1, "ssl": {"chain": ["a", "b"]}}),
    ],
)
def test_unkeyed_queries_still_match_through_the_prefilter(
    query: str, record: dict[str, Any], backend: str
) -> None:
    matcher = one_query_matcher(Engine.SHODAN, query)
    assert matched(matcher, record, Engine.SHODAN)
    line = json.dumps(record).replace("1.5", "15e-1").encode()
    assert admitted(matcher, line, backend)


def test_censys_numbers_and_addresses_have_no_raw_key() -> None:
    for query in ("host.services.port: 50050", "host.ip: 10.0.0.0/8", "host.services.port=443"):
        assert pf.raw_keys(parse_query(Engine.CENSYS, query)) is None
    matcher = one_query_matcher(Engine.CENSYS, "host.services.port: 50050")
    record = {"ip": "1.2.3.4", "services": [{"port": 5.005e4, "protocol": "HTTP"}]}
    assert matched(matcher, record, Engine.CENSYS)
    prefilter = matcher.raw_prefilter(backend="pyahocorasick")
    assert prefilter is not None and prefilter.admits(json.dumps(record).encode())
    assert not prefilter.admits(b'{"ip_str":"1.2.3.4","port":50050}')


def test_censys_booleans_and_wildcards() -> None:
    keys = pf.raw_keys(parse_query(Engine.CENSYS, "host.services.tls.ja4: true"))
    assert keys == frozenset({b"true"})
    keys = pf.raw_keys(parse_query(Engine.CENSYS_LEGACY, "services.banner: cobalt*strike?"))
    assert keys in (frozenset({b"cobalt"}), frozenset({b"strike"}))


def test_and_takes_the_rarest_raw_key_or_every_branch() -> None:
    def keys(query: str) -> set[bytes] | None:
        found = pf.raw_keys(parse_query(Engine.SHODAN, query))
        return set(found) if found is not None else None

    assert keys("product:'Hak5 Cloud C2'") == {b"hak5"}  # "cloud" fills banners
    assert keys("http.title:Login http.html:'Welcome to Bandit' port:8080") == {b"bandit"}
    assert keys("port:443 -product:nginx") == {b"443"}
    assert keys("product:sliver,havoc") == {b"sliver", b"havoc"}
    assert keys("product:sliver,'\\\\'") is None
    assert keys("hash:-2007783223") == {b"-2007783223", pf.HASH_GUARD}
    assert pf.serial_keys(0xABC) == {b"2748", b"abc", b"a:bc"}
    assert pf.serial_keys(0) == {b"0"}


def test_record_serial_reads_colon_bytes_only() -> None:
    assert record_serial("08:BB:00:EE") == 0x8BB00EE
    assert record_serial("8:bb:00:ee") == 0x8BB00EE
    # A one-digit byte after the first is ambiguous and never read.
    assert record_serial("8b:b0:0e:e") is None
    assert record_serial("8:b:b0:0e") is None


# --------------------------------------------------------------------------------------------
# The banner hash guard

HASHED = mmh3.hash(DATA_HASHED)


@pytest.mark.parametrize(
    ("line", "certain"),
    [
        (b'{"hash":5,"data":"x"}', True),
        (b'  {"port":1, "hash" : -5 , "data":"x"}', True),
        (b'{"port":1,"hash":5}', True),
        (b'{"port":1,"data":"x"}', False),  # no stored hash: computed from data
        (b'{"port":1,"hash":null,"data":"x"}', False),
        (b'{"port":1,"hash":"5","data":"x"}', False),
        (b'{"port":1,"hash":5.0,"data":"x"}', False),
        (b'{"port":1,"hash":5,"data":"x","hash":null}', False),  # duplicate: the last wins
        (b'{"port":1,"http":{"favicon":{"hash":5}},"data":"x"}', False),  # nested only
        (b'{"port":1,"http":{"x":1,"hash":5},"data":"x"}', False),  # nested, after a comma
        (b'{"port":1,"data":"a \\"hash\\":5 b"}', False),  # inside a string
        (b'{"port":1,"data":"a,\\"hash\\":5"}', False),
        (b'{"hash":5,"data":[{"port":1}]}', False),  # a host lookup: banners one level down
        (b'{"hash":5,"data" : [ ]}', False),
        (b'[{"hash":5}]', False),
        (b'{"port":1,"HASH":5,"data":"x"}', False),  # another key
    ],
)
def test_stored_hash_is_certain(line: bytes, certain: bool) -> None:
    assert pf.stored_hash_is_certain(line) is certain


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "record",
    [
        {"ip_str": "1.2.3.4", "port": 1, "data": DATA_HASHED},
        {"ip_str": "1.2.3.4", "port": 1, "data": DATA_HASHED, "hash": None},
        {"ip_str": "1.2.3.4", "port": 1, "data": DATA_HASHED, "http": {"favicon": {"hash": 3}}},
        {"matches": [{"ip_str": "1.2.3.4", "port": 1, "data": DATA_HASHED}], "hash": 3},
        {"ip_str": "1.2.3.4", "hash": 3, "data": [{"port": 1, "data": DATA_HASHED}]},
    ],
)
def test_computed_banner_hash_is_never_passed_over(
    record: dict[str, Any], backend: str, tmp_path: Path
) -> None:
    matcher = one_query_matcher(Engine.SHODAN, f"hash:{HASHED}")
    path = write_lines(tmp_path / "h.jsonl", [json.dumps(record).encode()])
    found = matches_of(matcher, path, matcher.raw_prefilter(backend=backend))
    assert found and found == matches_of(matcher, path, None)


@pytest.mark.parametrize("backend", BACKENDS)
def test_stored_other_hash_is_passed_over(backend: str) -> None:
    matcher = one_query_matcher(Engine.SHODAN, f"hash:{HASHED}")
    line = json.dumps({"ip_str": "1.2.3.4", "port": 1, "hash": 12, "data": DATA_HASHED})
    assert not admitted(matcher, line.encode(), backend)
    assert admitted(matcher, line.replace('"hash"', '"h\\u0061sh"').encode(), backend)


# --------------------------------------------------------------------------------------------
# The reader path


def test_reader_keeps_line_numbers_and_counts_passed_over_lines(tmp_path: Path) -> None:
    matcher = one_query_matcher(Engine.SHODAN, "product:sliver")
    hit = b'{"ip_str":"192.0.2.1","port":1,"product":"Sliver"}'
    miss = b'{"ip_str":"192.0.2.2","port":1,"product":"nginx"}'
    path = write_lines(tmp_path / "r.jsonl", [miss, b"", b"   ", miss, hit, b"not json", hit])
    stats = ReadStats()
    prefilter = matcher.raw_prefilter(backend="pyahocorasick")
    records = list(iter_records([path], stats, prefilter=prefilter))
    assert [r.line for r in records] == [1, 6, 8]  # the first line is always parsed
    assert stats.passed_over == 3  # two misses and the broken line; blank lines not counted
    assert stats.error_count == 0
    assert "3 line(s) passed over unparsed" in stats.summary()

    every = ReadStats()
    assert len(list(iter_records([path], every))) == 5
    assert every.error_count == 1 and every.passed_over == 0


def test_reader_reports_a_truncated_gzip_with_the_prefilter(tmp_path: Path) -> None:
    matcher = one_query_matcher(Engine.SHODAN, "product:sliver")
    hit = b'{"ip_str":"192.0.2.1","port":1,"product":"Sliver"}'
    miss = b'{"ip_str":"192.0.2.2","port":1,"product":"nginx"}'
    blob = gzip.compress(b"\n".join([hit, miss] * 2000) + b"\n")
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(blob[: len(blob) // 2])
    stats = ReadStats()
    records = list(
        iter_records([path], stats, prefilter=matcher.raw_prefilter(backend="pyahocorasick"))
    )
    assert records and all(r.data["product"] == "Sliver" for r in records)
    assert stats.error_count == 1 and "truncated" in stats.errors[0].message


def test_whole_documents_are_not_prefiltered(tmp_path: Path) -> None:
    matcher = one_query_matcher(Engine.SHODAN, "product:sliver")
    document = {"matches": [{"ip_str": "192.0.2.1", "port": 1, "product": "nginx"}] * 3}
    path = tmp_path / "search.json"
    path.write_text(json.dumps(document, indent=2))
    stats = ReadStats()
    records = list(
        iter_records([path], stats, prefilter=matcher.raw_prefilter(backend="pyahocorasick"))
    )
    assert len(records) == 3 and stats.passed_over == 0


def test_forced_engine_and_backends() -> None:
    matcher = one_query_matcher(Engine.SHODAN, "product:sliver")
    prefilter = matcher.raw_prefilter(Engine.CENSYS, backend="pyahocorasick")
    assert prefilter is not None and prefilter.plan.needles == frozenset()
    assert not prefilter.admits(b'{"product":"sliver"}')  # no Censys query: nothing can match
    with pytest.raises(ValueError, match="unknown pattern backend"):
        matcher.raw_prefilter(backend="grep")
    if "hyperscan" in BACKENDS:
        fast = matcher.raw_prefilter()
        assert fast is not None and fast.backend == "hyperscan"


@pytest.mark.parametrize("backend", BACKENDS)
def test_hash_guard_only_for_lines_that_may_hold_a_banner(backend: str) -> None:
    matcher = one_query_matcher(Engine.SHODAN, f"hash:{HASHED}")
    host = {"ip": "1.2.3.4", "services": [{"port": 1, "protocol": "HTTP", "banner": "x"}]}
    line = json.dumps(host).encode()
    assert not admitted(matcher, line, backend)  # a Censys host: no Shodan query applies
    assert admitted(matcher, line, backend, Engine.SHODAN)  # unless taken as a banner
    for marker in (b'"ip_str":"1.2.3.4",', b'"ipv6":"::1",', b'"_shodan":{},', b'"data":"",'):
        assert admitted(matcher, line.replace(b"{", b"{" + marker, 1), backend), marker
    # An escaped spelling of a marker is an escape of a letter a spelled word holds.
    assert admitted(matcher, line.replace(b"{", b'{"ip_\\u0073tr":"1.2.3.4",', 1), backend)
