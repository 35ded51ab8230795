"""Which queries to run, how each one starts, and what the run will cost.

The planner spends no credit on a query without results and sends no request that is not
needed (issue 4, "Planner and budgets"):

- a query that found results in its last successful run goes straight to page 1, whose answer
  carries the total (:attr:`Start.FETCH`);
- a new query, or one that found nothing last time, is counted first when the engine counts
  for free (Shodan's ``/shodan/host/count``, shodan.md §1.5) and skipped at zero
  (:attr:`Start.COUNT`);
- Censys has no free count (censys.md §2.8; a one-hit page costs as much as a full one), so
  such a query goes straight to page 1 too: the cheapest way to learn it is empty is to ask
  for its first page, and that page is needed anyway when it is not (:attr:`Start.PROBE`).

Budgets are credits per engine per run. A query whose expected cost no longer fits is not
started (outcome ``skipped-budget``) and later, cheaper queries may still run; a query that
turns out larger than expected stops before the page that would exceed the budget.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from c2tracker.errors import ConfigError
from c2tracker.model import Engine, Fidelity
from c2tracker.sources.base import PlannedQuery, Source, pages_for

#: last_result_count(rule_id, engine, query) → results of the last successful run, or None.
History = Callable[[str, Engine, str], "int | None"]


class Start(StrEnum):
    """How a query begins."""

    FETCH = "fetch"
    """Results last time: page 1 straight away."""
    COUNT = "count"
    """New or empty last time, and the engine counts for free: count first."""
    PROBE = "probe"
    """New or empty last time, no free count: page 1 tells."""


@dataclass(slots=True)
class QueryPlan:
    """What the planner expects of one query."""

    planned: PlannedQuery
    start: Start
    last_results: int | None
    counted: int | None = None
    """The free count, when one was taken (dry runs count; real runs count lazily)."""

    @property
    def expected_results(self) -> int | None:
        return self.counted if self.counted is not None else self.last_results

    def expected_pages(self) -> int:
        if self.counted is not None:
            return pages_for(self.counted)
        if self.start is Start.FETCH and self.last_results:
            return pages_for(self.last_results)
        # A probe reads at least page 1; a count still to take may find nothing.
        return 1 if self.start is Start.PROBE else 0


def plan_query(planned: PlannedQuery, source: Source, history: History | None) -> QueryPlan:
    """Decides how one query starts, from its last result count."""
    last = history(planned.rule_id, planned.engine, planned.query) if history else None
    if last:
        return QueryPlan(planned, Start.FETCH, last)
    if source.has_free_count:
        return QueryPlan(planned, Start.COUNT, last)
    return QueryPlan(planned, Start.PROBE, last)


def expected_credits(source: Source, query: str, pages: int, first_page: int = 1) -> int:
    """Credits pages ``first_page`` … ``first_page + pages - 1`` of ``query`` cost."""
    return sum(source.page_credits(query, n) for n in range(first_page, first_page + pages))


def planned_queries(
    rules: Iterable[Any], engines: Iterable[Engine], only: Sequence[str] = ()
) -> list[PlannedQuery]:
    """Every query of the chosen rules for the chosen engines, in corpus order.

    Raises:
        ConfigError: ``only`` names a rule id the corpus does not have.
    """
    wanted = set(engines)
    rules = list(rules)
    known = {rule.id for rule in rules}
    unknown = [rule_id for rule_id in only if rule_id not in known]
    if unknown:
        raise ConfigError(f"unknown rule id(s) for --only: {', '.join(unknown)}")

    queries = []
    for rule in rules:
        if only and rule.id not in only:
            continue
        for rule_query in rule.queries:
            engine = Engine(rule_query.engine)
            if engine in wanted:
                queries.append(
                    PlannedQuery(
                        rule_id=rule.id,
                        family=rule.name,
                        engine=engine,
                        query=rule_query.query,
                        fidelity=Fidelity(rule_query.fidelity),
                    )
                )
    return queries


def parse_budgets(items: Sequence[str], defaults: Mapping[str, int]) -> dict[Engine, int]:
    """``ENGINE=N`` options over the configured budgets.

    Raises:
        ConfigError: an item is not ``ENGINE=N`` with a known engine and a whole N ≥ 0.
    """
    budgets: dict[Engine, int] = {}
    for name, credits in defaults.items():
        budgets[_engine(name)] = int(credits)
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise ConfigError(f"--budget wants ENGINE=CREDITS (a whole number), got {item!r}")
        budgets[_engine(name.strip())] = int(value)
    return budgets


def _engine(name: str) -> Engine:
    try:
        return Engine(name)
    except ValueError:
        known = ", ".join(e.value for e in Engine)
        raise ConfigError(f"unknown engine {name!r} in budget; expected one of {known}") from None


@dataclass(slots=True)
class Budget:
    """Credits one engine may still spend in this run; None means no limit."""

    limit: int | None
    spent: int = 0

    def allows(self, credits: int) -> bool:
        return self.limit is None or self.spent + credits <= self.limit

    def spend(self, credits: int) -> None:
        self.spent += credits

    @property
    def left(self) -> int | None:
        return None if self.limit is None else self.limit - self.spent
