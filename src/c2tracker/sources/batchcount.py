"""Free counts for many one-filter queries in one request (Shodan facets).

On a first run every query is new, so the planner counts each one before it spends a credit
(issue 4). Each count is free but still one rate-limited request. Most of the corpus' Shodan
queries are one filter term (``product:'Quasar RAT'``, ``http.favicon.hash:-127886975``), and
Shodan ORs comma-separated values inside one filter (shodan.md §4.1) and breaks a count down
by a field with ``facets=name:N`` (§1.2–1.3). So queries on the same filter are counted
together: ``product:"A,B,C"`` with ``facets=product:100`` returns the total and one
``{"value", "count"}`` bucket per distinct product among the matches.

How a bucket is attributed to a query: the offline evaluator runs each query of the group on a
banner that holds only the bucket's value in the filter's field. A one-filter query reads
nothing else, so it matches that banner exactly when it matches every banner of the bucket.

Why a batched count never makes a non-empty query look empty. Let ``B`` be the batch query and
``q`` one of its members. Every banner that ``q`` matches has ``q``'s value in the field, so
``B`` matches it too, and it falls in the bucket of its field value, which the evaluator
attributes to ``q``. The count of ``q`` is therefore the sum of the buckets attributed to it,
provided every bucket was returned. That is trusted only when the answer proves it:

- fewer buckets than asked for, and their counts add up to the total (a one-valued field puts
  each banner in exactly one bucket);
- every bucket is attributed to at least one member (otherwise the server and the evaluator
  disagree about what the batch matches).

If either check fails, the batch is not trusted and each of its queries is counted on its own.
A total of 0 needs no buckets: no member can match what their union does not. A filter the
server refuses to facet (an error naming ``facet``) is not batched again in the run; any other
error of a batch (except those that stop the engine) also falls back to single counts, so a
query that fails does so with its own error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from c2tracker.errors import (
    AuthError,
    CreditsExhausted,
    PlanError,
    QuerySyntaxError,
    SourceError,
)
from c2tracker.model import Engine
from c2tracker.querylang import parse_query
from c2tracker.querylang.ast import AnyOf, Field, Op, Query, Text

log = logging.getLogger(__name__)

#: Filters whose queries are counted in batches, with the banner field each one reads (the
#: path of ``c2tracker.matching.fields.SHODAN_FILTERS``). Which filters Shodan can facet is not
#: in the reference (shodan.md §1.2 lists ``/shodan/host/search/facets`` but not its answer):
#: inferred, chosen as one-valued fields that the corpus' one-term queries use. A filter the
#: server refuses is dropped for the run (see the module docstring).
FACETABLE_FILTERS: dict[str, tuple[str, ...]] = {
    "product": ("product",),
    "http.title": ("http", "title"),
    "http.favicon.hash": ("http", "favicon", "hash"),
    "http.html_hash": ("http", "html_hash"),
    "http.headers_hash": ("http", "headers_hash"),
    "hash": ("hash",),
    "ssl.jarm": ("ssl", "jarm"),
    "ssl.cert.serial": ("ssl", "cert", "serial"),
    "port": ("port",),
}

#: Most queries counted in one request: keeps the query string short (a few KB at most).
MAX_GROUP = 20

#: Buckets asked for (``facets=name:N``). More than a group's queries, so that a filter
#: matching several distinct values per query still returns every bucket.
FACET_SIZE = 100

#: A value written without quotes in the batch query; anything else is double-quoted.
_PLAIN = re.compile(r"-?[0-9A-Za-z]+")

#: Errors after which the engine stops anyway: a batch passes them on.
_ENGINE_FATAL = (AuthError, CreditsExhausted, PlanError)


@dataclass(frozen=True, slots=True)
class FacetCount:
    """A count broken down by one field: the total and ``(value, count)`` buckets."""

    total: int
    buckets: list[tuple[Any, int]]


class FacetRefused(SourceError):
    """The engine does not facet this field (its error names ``facet``)."""


@runtime_checkable
class FacetCounting(Protocol):
    """A source whose free count can break its total down by a field."""

    def count(self, query: str) -> int: ...

    def count_facets(self, query: str, facet: str, size: int) -> FacetCount: ...


@dataclass(slots=True)
class _Member:
    query: str
    parsed: Query
    value: str


@dataclass(slots=True)
class _Group:
    filter: str
    members: list[_Member]
    tried: bool = False


def batchable(query: str) -> tuple[str, str, Query] | None:
    """``(filter, value, parsed)`` when ``query`` is one filter term that can join a batch."""
    try:
        parsed = parse_query(Engine.SHODAN, query)
    except QuerySyntaxError:
        return None
    node = parsed.root
    if not isinstance(node, Field) or node.op is not Op.MATCH:
        return None
    if node.name not in FACETABLE_FILTERS or not isinstance(node.value, Text):
        return None
    value = node.value
    if value.wildcard or not value.value or "," in value.value or '"' in value.value:
        return None
    return node.name, value.value, parsed


def batch_query(name: str, values: Sequence[str]) -> str | None:
    """``name:v1,v2`` or ``name:"v1,v2"``; None when the text would not read back as exactly
    those values (checked with the parser, so no hostile value can widen or narrow it)."""
    if all(_PLAIN.fullmatch(v) for v in values):
        text = f"{name}:{','.join(values)}"
    else:
        text = f'{name}:"{",".join(values)}"'
    try:
        node = parse_query(Engine.SHODAN, text).root
    except QuerySyntaxError:
        return None
    if not isinstance(node, Field) or node.name != name or not isinstance(node.value, AnyOf):
        return None
    read = [v.value for v in node.value.values if not v.wildcard]
    return text if read == list(values) else None


def synthetic_banner(name: str, value: Any) -> dict[str, Any]:
    """A banner holding only ``value`` at the field filter ``name`` reads."""
    path = FACETABLE_FILTERS[name]
    banner: dict[str, Any] = {}
    current = banner
    for part in path[:-1]:
        current = current.setdefault(part, {})
    current[path[-1]] = value
    return banner


def attribute(
    members: Sequence[tuple[str, Query]], name: str, answer: FacetCount, size: int
) -> dict[str, int] | None:
    """Each member query's count from a batch answer; None when the answer does not prove it
    (see the module docstring)."""
    from c2tracker.matching import evaluate

    if answer.total == 0:
        return {query: 0 for query, _ in members}
    if len(answer.buckets) >= size or sum(n for _, n in answer.buckets) != answer.total:
        return None

    counts = {query: 0 for query, _ in members}
    for value, n in answer.buckets:
        banner = synthetic_banner(name, value)
        owners = [query for query, parsed in members if evaluate(parsed, banner) is not None]
        if not owners:
            return None
        for query in owners:
            counts[query] += n
    return counts


@dataclass(slots=True)
class CountBatcher:
    """Answers the runner's free counts, batching the one-filter queries it was given."""

    source: FacetCounting
    size: int = FACET_SIZE
    known: dict[str, int] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)
    """Filters the server refused to facet in this run."""
    batches: int = 0
    _groups: dict[str, _Group] = field(default_factory=dict)

    @classmethod
    def for_queries(
        cls, source: FacetCounting, queries: Sequence[str], *, max_group: int = MAX_GROUP
    ) -> CountBatcher:
        """Groups ``queries`` (the ones that will be counted) by filter, in order."""
        batcher = cls(source)
        by_filter: dict[str, list[_Member]] = {}
        seen: set[str] = set()
        for query in queries:
            found = None if query in seen else batchable(query)
            seen.add(query)
            if found is not None:
                name, value, parsed = found
                by_filter.setdefault(name, []).append(_Member(query, parsed, value))
        for name, members in by_filter.items():
            for start in range(0, len(members), max_group):
                chunk = members[start : start + max_group]
                if len(chunk) < 2:
                    continue
                group = _Group(name, chunk)
                for member in chunk:
                    batcher._groups[member.query] = group
        return batcher

    def batch_queries(self) -> list[str]:
        """The text of every batch this batcher may send, in order (benchmarks warm them)."""
        texts = []
        for group in dict.fromkeys(id(g) for g in self._groups.values()):
            found = next(g for g in self._groups.values() if id(g) == group)
            text = batch_query(found.filter, list(dict.fromkeys(m.value for m in found.members)))
            if text is not None:
                texts.append(text)
        return texts

    def count(self, query: str) -> int:
        """The free count of ``query``: from its group's batch when that proves it, otherwise
        one count request."""
        if query not in self.known:
            group = self._groups.get(query)
            if group is not None and not group.tried and group.filter not in self.refused:
                group.tried = True
                self._count_group(group)
        if query in self.known:
            return self.known[query]
        return self.source.count(query)

    def _count_group(self, group: _Group) -> None:
        values = list(dict.fromkeys(m.value for m in group.members))
        text = batch_query(group.filter, values)
        if text is None:
            return
        try:
            answer = self.source.count_facets(text, group.filter, self.size)
        except FacetRefused as error:
            log.warning("shodan: no facet for %s (%s); counting one by one", group.filter, error)
            self.refused.add(group.filter)
            return
        except _ENGINE_FATAL:
            raise
        except SourceError as error:
            log.info("batched count of %s failed (%s); counting one by one", group.filter, error)
            return
        self.batches += 1

        counts = attribute(
            [(m.query, m.parsed) for m in group.members], group.filter, answer, self.size
        )
        if counts is None:
            log.info("batched count of %s not conclusive; counting one by one", group.filter)
            return
        self.known.update(counts)


def counter_for(source: Any, queries: Sequence[str]) -> Callable[[str], int]:
    """The count function the runner uses: batched when the source can facet."""
    if isinstance(source, FacetCounting):
        return CountBatcher.for_queries(source, queries).count
    count: Callable[[str], int] = source.count
    return count
