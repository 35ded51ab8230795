"""The bundled corpus: complete against the original C2-Tracker, translated, and tested."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from c2tracker.querylang.ast import And, Engine, Field, Nested, Node, Not, Or
from c2tracker.rules import RuleSet, load_rules
from c2tracker.rules.testing import run_rule_tests


@pytest.fixture(scope="module")
def corpus() -> RuleSet:
    return load_rules()


@pytest.fixture(scope="module")
def original(reference_dir: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (reference_dir / "queries" / "c2-tracker.json").read_text(encoding="utf-8")
    )
    return data


def test_corpus_validates_in_collect_all_mode(corpus: RuleSet) -> None:
    # load_rules() raised nothing, so schema, ids, feed names and every query parse are fine.
    again = load_rules(collect_errors=True)
    assert len(again) == len(corpus) >= 101


def test_every_listed_family_has_a_rule(corpus: RuleSet, original: dict[str, object]) -> None:
    names: set[str] = set()
    for rule in corpus:
        names.update(n.casefold() for n in (rule.name, *rule.aliases, *rule.feed_names))
    listed = original["tracked_families_by_category"]
    assert isinstance(listed, dict)

    missing = [f for family in listed.values() for f in family if f.casefold() not in names]

    assert missing == []


@pytest.mark.parametrize("dict_name", ["shodan", "censys_legacy"])
def test_every_original_query_is_kept_verbatim_under_its_feed_name(
    corpus: RuleSet, original: dict[str, object], dict_name: str
) -> None:
    engine = Engine.SHODAN if dict_name == "shodan" else Engine.CENSYS_LEGACY
    by_feed = corpus.by_feed_name()
    queries = original[dict_name]
    assert isinstance(queries, dict)

    for feed_name, texts in queries.items():
        rule = by_feed.get(feed_name)
        assert rule is not None, f"no rule publishes the feed name {feed_name!r}"
        kept = {q.query for q in rule.queries_for(engine)}
        for text in texts:
            assert text in kept, f"{rule.id}: {engine} query {text!r} missing"


def test_feed_names_are_the_published_dict_keys(
    corpus: RuleSet, original: dict[str, object]
) -> None:
    shodan, legacy = original["shodan"], original["censys_legacy"]
    assert isinstance(shodan, dict) and isinstance(legacy, dict)
    published = set(shodan) | set(legacy)

    for rule in corpus:
        if rule.feed_name in published or rule.extra_feed_names:
            # A family with a Shodan file publishes under its Shodan key first.
            if any(rule.queries_for(Engine.SHODAN)) and rule.feed_name not in shodan:
                pytest.fail(f"{rule.id}: feed_name {rule.feed_name!r} is not its Shodan key")
            assert set(rule.extra_feed_names) <= published


def test_merged_families(corpus: RuleSet) -> None:
    orcus = corpus.get("orcus-rat")
    assert orcus is not None
    assert orcus.feed_names == ["Orcus RAT Trojan", "Orcus RAT"]
    hashcat = corpus.get("hashcat")
    assert hashcat is not None and hashcat.feed_name == "Hachcat"
    remcos = corpus.get("remcos")
    assert remcos is not None and "Remcos Pro RAT Trojan" in remcos.aliases
    nimplant = corpus.get("nimplant")
    assert nimplant is not None and "Nimplant C2" in nimplant.aliases


def test_every_legacy_query_has_a_cenql_translation(corpus: RuleSet) -> None:
    for rule in corpus:
        legacy = rule.queries_for(Engine.CENSYS_LEGACY)
        cenql = rule.queries_for(Engine.CENSYS)
        translations = [q for q in cenql if q.note.startswith("CenQL translation")]
        assert len(translations) >= len(legacy), rule.id
        for query in cenql:
            names = _top_level_fields(query.parsed.root)
            assert names and all(n.startswith("host.") for n in names), (rule.id, query.query)


def _top_level_fields(node: Node) -> list[str]:
    """Field and block names outside nested blocks (inside, names are relative)."""
    if isinstance(node, Field | Nested):
        return [node.name]
    if isinstance(node, And | Or):
        return [name for child in node.children for name in _top_level_fields(child)]
    if isinstance(node, Not):
        return _top_level_fields(node.child)
    return ["<full text>"]


def test_every_engine_of_a_rule_has_positive_and_negative_cases(corpus: RuleSet) -> None:
    for rule in corpus:
        cases = Counter((t.engine, t.expect) for t in rule.tests)
        for engine in rule.engines:
            assert cases[(engine, "match")] >= 1, (rule.id, engine.value)
            assert cases[(engine, "no-match")] >= 1, (rule.id, engine.value)


def test_label_queries_are_low_fidelity(corpus: RuleSet) -> None:
    for rule in corpus:
        for query in rule.queries:
            text = query.query
            if query.engine is Engine.SHODAN and text.startswith("product:"):
                assert query.fidelity.value == "low", (rule.id, text)
            if "software.product" in text and "html_title" not in text:
                assert query.fidelity.value == "low", (rule.id, text)


def test_dual_use_tools_are_flagged(corpus: RuleSet) -> None:
    for rule_id in (
        "burpsuite",
        "gophish",
        "hashcat",
        "mobsf",
        "xmrig",
        "caldera",
        "beef",
        "evilginx",
        "evilgophish",
    ):
        rule = corpus.get(rule_id)
        assert rule is not None and rule.dual_use, rule_id
    # C2 frameworks red teams run but criminals use widely stay blockable (docs/rule-format.md).
    for rule_id in ("cobalt-strike", "metasploit", "sliver", "havoc", "mythic", "brute-ratel-c4"):
        rule = corpus.get(rule_id)
        assert rule is not None and not rule.dual_use, rule_id


def test_every_rule_credits_its_sources(corpus: RuleSet) -> None:
    for rule in corpus:
        assert rule.references, rule.id
        assert rule.authors, rule.id
        if rule.malpedia:
            assert any("malpedia" in ref for ref in rule.references), rule.id


def test_test_records_use_documentation_addresses(corpus: RuleSet) -> None:
    prefixes = ("203.0.113.", "198.51.100.", "192.0.2.")
    for rule in corpus:
        for case in rule.tests:
            ip = case.record.get("ip_str") or case.record.get("ip")
            assert isinstance(ip, str) and ip.startswith(prefixes), (rule.id, ip)


@pytest.mark.slow
def test_all_rule_tests_pass(corpus: RuleSet) -> None:
    results = run_rule_tests(corpus)

    failures = [(r.label, r.engine.value, r.expect, r.error) for r in results if not r.passed]
    assert failures == []
    assert len(results) == sum(len(rule.tests) for rule in corpus)
