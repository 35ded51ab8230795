"""The little the store needs to know about rules, as protocols.

:func:`c2tracker.rules.load_rules` returns pydantic ``Rule`` objects that satisfy these
protocols; tests build plain dataclasses instead, so the store is testable without the corpus.
``extra_feed_names`` is optional on a rule (file names the original C2-Tracker used for the same
family in the past).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from c2tracker.model import Category, Fidelity, query_id
from c2tracker.querylang.ast import Engine


class QueryMeta(Protocol):
    @property
    def engine(self) -> Engine: ...
    @property
    def query(self) -> str: ...
    @property
    def fidelity(self) -> Fidelity: ...


class RuleMeta(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def feed_name(self) -> str: ...
    @property
    def category(self) -> Category: ...
    @property
    def kind(self) -> str: ...
    @property
    def dual_use(self) -> bool: ...
    @property
    def aliases(self) -> Sequence[str]: ...
    @property
    def malpedia(self) -> Sequence[str]: ...
    @property
    def mitre(self) -> Sequence[str]: ...
    @property
    def queries(self) -> Sequence[QueryMeta]: ...


RuleSetLike = Iterable[RuleMeta]


@dataclass(frozen=True, slots=True)
class SimpleQuery:
    """A query for tests and for callers without the rules package."""

    engine: Engine
    query: str
    fidelity: Fidelity = Fidelity.MEDIUM


@dataclass(frozen=True, slots=True)
class SimpleRule:
    """A rule with only the fields the store reads."""

    id: str
    name: str
    category: Category = Category.C2
    feed_name: str = ""
    kind: str = "framework"
    dual_use: bool = False
    aliases: tuple[str, ...] = ()
    malpedia: tuple[str, ...] = ()
    mitre: tuple[str, ...] = ()
    queries: tuple[SimpleQuery, ...] = ()
    extra_feed_names: tuple[str, ...] = field(default=())


def extra_feed_names(rule: RuleMeta) -> list[str]:
    return list(getattr(rule, "extra_feed_names", None) or [])


def query_fidelities(rules: RuleSetLike) -> dict[str, Fidelity]:
    """Query id → fidelity for every query of every rule."""
    return {
        query_id(rule.id, q.engine, q.query): Fidelity(q.fidelity)
        for rule in rules
        for q in rule.queries
    }


_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def name_key(text: str) -> str:
    """A spelling-insensitive key: lower case, letters and digits only (``Cobalt Strike`` →
    ``cobaltstrike``)."""
    return _NOT_ALNUM.sub("", text.lower())


def family_keys(rule: RuleMeta) -> set[str]:
    """Every key a rule answers to: its id, name, feed name, aliases and extra feed names."""
    names = [rule.id, rule.name, rule.feed_name, *rule.aliases, *extra_feed_names(rule)]
    return {key for key in (name_key(n) for n in names if n) if key}
