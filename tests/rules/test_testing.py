"""run_rule_tests: any query matching passes a match case; none may match a no-match case."""

from __future__ import annotations

from pathlib import Path

import pytest

from c2tracker.errors import RuleError
from c2tracker.rules import load_rules
from c2tracker.rules.testing import run_rule_tests

RULE = """\
id: two-queries
name: Two Queries
feed_name: Two Queries
category: c2
kind: framework
description: Two Shodan queries.
queries:
  - {engine: shodan, query: "http.title:\\"Panel A\\"", fidelity: medium}
  - {engine: shodan, query: "http.favicon.hash:123", fidelity: high}
tests:
  - engine: shodan
    expect: match
    record: {ip_str: 203.0.113.1, port: 80, http: {favicon: {hash: 123}}}
  - engine: shodan
    expect: no-match
    record: {ip_str: 203.0.113.2, port: 80, http: {title: Panel B}}
  - engine: shodan
    expect: match
    record: {ip_str: 203.0.113.3, port: 80, http: {title: Panel B}}
  - engine: shodan
    expect: no-match
    record: {ip_str: 203.0.113.4, port: 80, http: {title: Panel A}}
"""


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    path = tmp_path / "c2" / "two-queries.yml"
    path.parent.mkdir()
    path.write_text(RULE, encoding="utf-8")
    return tmp_path


def test_cases_pass_and_fail_as_expected(rules_dir: Path) -> None:
    results = run_rule_tests(load_rules(rules_dir))

    assert [r.passed for r in results] == [True, True, False, False]
    assert results[0].matched_queries == ("http.favicon.hash:123",)
    assert results[0].evidence
    assert results[3].matched_queries == ('http.title:"Panel A"',)
    assert results[2].label == "two-queries#3"


def test_selecting_ids(rules_dir: Path) -> None:
    ruleset = load_rules(rules_dir)

    assert len(run_rule_tests(ruleset, ["two-queries"])) == 4
    with pytest.raises(RuleError, match="no rule with id 'nope'"):
        run_rule_tests(ruleset, ["nope"])
