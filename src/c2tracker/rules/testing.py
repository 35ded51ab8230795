"""Running the test cases that live inside each rule.

A rule's ``tests`` list holds records that its queries must or must not match. A ``match`` case
passes when **any** of the rule's queries for that engine matches the record (a rule finds a
family if one of its fingerprints does); a ``no-match`` case passes when **none** does. The
record is evaluated by the offline evaluator, :func:`c2tracker.matching.evaluate`, exactly as
scan data would be.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from c2tracker.errors import C2TrackerError, RuleError
from c2tracker.querylang.ast import Engine
from c2tracker.rules.loader import RuleSet
from c2tracker.rules.model import Rule, RuleTest

__all__ = ["RuleTestResult", "run_rule_tests"]


@dataclass(frozen=True, slots=True)
class RuleTestResult:
    """The outcome of one test case of one rule."""

    rule_id: str
    index: int  # position in the rule's ``tests`` list, 0-based
    engine: Engine
    expect: str
    passed: bool
    matched_queries: tuple[str, ...] = ()  # queries that matched the record
    evidence: dict[str, Any] = field(default_factory=dict)  # of the first matching query
    note: str = ""
    error: str | None = None  # set when a query could not be evaluated

    @property
    def label(self) -> str:
        return f"{self.rule_id}#{self.index + 1}"


def run_rule_tests(ruleset: RuleSet, ids: Iterable[str] | None = None) -> list[RuleTestResult]:
    """Runs the test cases of the rules named in ``ids`` (default: every rule).

    Raises:
        RuleError: an id in ``ids`` names no rule.
    """
    rules = _select(ruleset, ids)
    results: list[RuleTestResult] = []
    for rule in rules:
        for index, case in enumerate(rule.tests):
            results.append(_run_case(rule, index, case))
    return results


def _select(ruleset: RuleSet, ids: Iterable[str] | None) -> list[Rule]:
    if ids is None:
        return list(ruleset)
    wanted = list(ids)
    if not wanted:
        return list(ruleset)
    missing = [rule_id for rule_id in wanted if ruleset.get(rule_id) is None]
    if missing:
        raise RuleError(f"no rule with id {', '.join(repr(m) for m in missing)}")
    return [rule for rule_id in wanted if (rule := ruleset.get(rule_id)) is not None]


def _run_case(rule: Rule, index: int, case: RuleTest) -> RuleTestResult:
    # Imported here: the evaluator is a later pipeline stage that imports the rule package.
    from c2tracker.matching import evaluate

    matched: list[str] = []
    evidence: dict[str, Any] = {}
    try:
        for query in rule.queries_for(case.engine):
            found = evaluate(query.parsed, case.record)
            if found is not None:
                matched.append(query.query)
                if not evidence:
                    evidence = dict(found)
    except C2TrackerError as exc:
        return RuleTestResult(
            rule.id, index, case.engine, case.expect, False, note=case.note, error=str(exc)
        )

    passed = bool(matched) if case.expect == "match" else not matched
    return RuleTestResult(
        rule.id, index, case.engine, case.expect, passed, tuple(matched), evidence, case.note
    )
