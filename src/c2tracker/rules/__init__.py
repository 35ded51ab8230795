"""The rule corpus: the rule format, loading with located errors, and rule self-tests.

``load_rules()`` returns a :class:`RuleSet` of validated :class:`Rule` objects; see
``docs/rule-format.md`` for the file format and ``CONTRIBUTING.md`` for how to write rules.
"""

from __future__ import annotations

from c2tracker.rules.loader import RuleSet, default_rules_dir, iter_rule_files, load_rules
from c2tracker.rules.model import Kind, Rule, RuleQuery, RuleTest, Status

__all__ = [
    "Kind",
    "Rule",
    "RuleQuery",
    "RuleSet",
    "RuleTest",
    "Status",
    "default_rules_dir",
    "iter_rule_files",
    "load_rules",
]
