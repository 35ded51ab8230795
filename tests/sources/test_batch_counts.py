"""Batched free counts (sources.batchcount): one facet request instead of one count a query.

The property that matters: a batched count gives every query the count a single count would
(so no non-empty query is skipped as empty, and windows are sized the same), or falls back to
single counts. Checked differentially on a corpus with hostile values, and under truncated
facets, refused facets, failing batches and a server whose buckets the evaluator cannot place.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from c2tracker.model import Engine, QueryOutcome
from c2tracker.querylang import parse_query
from c2tracker.sources.base import PlannedQuery
from c2tracker.sources.batchcount import (
    FACETABLE_FILTERS,
    CountBatcher,
    FacetCount,
    attribute,
    batch_query,
    batchable,
)
from c2tracker.sources.runner import run_engine
from c2tracker.sources.shodan import ShodanSource
from fakes.base import Fault
from fakes.corpus import shodan_banner
from fakes.recorder import MemoryHistory
from fakes.shodan import BAD_FACET, FakeShodan

KEY = "test-key"


def _banner(n: int, product: str | None, **http: Any) -> dict[str, Any]:
    banner = shodan_banner(f"198.51.100.{n % 250}", product, port=8000 + n % 3)
    if http:
        banner["http"] = http
    return banner


def _corpus() -> list[dict[str, Any]]:
    products = (
        ["Quasar RAT"] * 7
        + ["QUASAR RAT"] * 2  # a case variant of the same label
        + ["Cobalt Strike Beacon"] * 5
        + ["Cobalt Strike Team Server"] * 3
        + ["Evil, Inc"] * 4  # a comma inside a value
        + ['He said "hi"'] * 2  # double quotes inside a value
        + ["O'Brien Panel"] * 3
        + ["nginx"] * 20
    )
    corpus = [_banner(n, p) for n, p in enumerate(products)]
    corpus += [_banner(100 + n, None, favicon={"hash": -127886975}) for n in range(6)]
    corpus += [
        _banner(200 + n, None, favicon={"hash": 1234}, title="Vshell - 登录") for n in range(3)
    ]
    corpus += [_banner(300 + n, None, title="Hookbot Panel Login") for n in range(2)]
    return corpus


#: Queries of every kind: batchable and not, empty and not, overlapping, hostile.
QUERIES = [
    "product:'Quasar RAT'",
    'product:"quasar rat"',
    'product:"Cobalt Strike"',  # matches two distinct products (phrase within)
    'product:"Cobalt Strike Beacon"',
    "product:Evil",  # matches the value with a comma
    'product:"Evil, Inc"',  # a comma: two values OR-ed, not batchable
    "product:'He said \"hi\"'",  # a double quote: not batchable
    'product:"O\'Brien Panel"',
    "product:'Remcos Pro RAT Trojan'",  # empty
    "product:Nothing",  # empty
    "product:nginx port:80",  # two terms: not batchable
    "http.favicon.hash:-127886975",
    "http.favicon.hash:1234",
    "http.favicon.hash:-1",  # empty
    "http.title:'Vshell - 登录'",
    "http.title:'Hookbot Panel'",
    "title:'hookbot'",  # legacy name, same filter
    "http.title:'Nothing Here'",  # empty
]


@pytest.fixture
def fake() -> Iterator[FakeShodan]:
    server = FakeShodan(_corpus(), keys={KEY: 1000})
    server.start()
    yield server
    server.stop()


def _source(fake: FakeShodan) -> ShodanSource:
    return ShodanSource(KEY, fake.url, rate=1000.0)


def _single_counts(fake: FakeShodan, queries: list[str]) -> dict[str, int]:
    source = _source(fake)
    counts = {q: source.count(q) for q in queries}
    source.close()
    return counts


def _count_requests(fake: FakeShodan) -> list[Any]:
    return [r for r in fake.log if r.endpoint == "count"]


def test_batched_counts_equal_single_counts_with_fewer_requests(fake: FakeShodan) -> None:
    expected = _single_counts(fake, QUERIES)
    fake.log.clear()
    source = _source(fake)
    batcher = CountBatcher.for_queries(source, QUERIES)

    counts = {q: batcher.count(q) for q in QUERIES}
    source.close()

    assert counts == expected
    # The corpus has the cases that matter: empties, overlaps, case variants.
    assert expected["product:Nothing"] == 0 and expected["product:'Quasar RAT'"] == 9
    assert expected['product:"Cobalt Strike"'] == 8 and expected["product:Evil"] == 4
    # 3 batches (product, favicon, title) + 3 single counts (comma, quote, two terms).
    requests = _count_requests(fake)
    assert batcher.batches == 3
    assert len(requests) == 6
    assert sorted(r.facets for r in requests if r.facets) == [
        "http.favicon.hash:100",
        "http.title:100",
        "product:100",
    ]


def test_truncated_facets_fall_back_to_single_counts(fake: FakeShodan) -> None:
    expected = _single_counts(fake, QUERIES)
    source = _source(fake)
    # Two buckets a facet: product has more distinct matching values, so its list is cut.
    batcher = CountBatcher.for_queries(source, QUERIES)
    batcher.size = 2

    counts = {q: batcher.count(q) for q in QUERIES}
    source.close()

    assert counts == expected


def test_a_refused_facet_is_remembered_and_counts_stay_right() -> None:
    server = FakeShodan(_corpus(), keys={KEY: 1000}, facetable=frozenset({"http.title"}))
    with server:
        expected = _single_counts(server, QUERIES)
        server.log.clear()
        source = _source(server)
        batcher = CountBatcher.for_queries(source, QUERIES, max_group=2)

        counts = {q: batcher.count(q) for q in QUERIES}
        source.close()

    assert counts == expected
    assert batcher.refused == {"product", "http.favicon.hash"}
    refused = [r for r in server.log if r.status == 400]
    # One refusal per filter, not one per group of two.
    assert sorted(r.facets.split(":")[0] for r in refused if r.facets) == [
        "http.favicon.hash",
        "product",
    ]
    assert BAD_FACET.format(name="product")


def test_a_failing_batch_falls_back_to_single_counts(fake: FakeShodan) -> None:
    expected = _single_counts(fake, QUERIES)
    product_batch = batch_query(
        "product",
        [
            "Quasar RAT",
            "quasar rat",
            "Cobalt Strike",
            "Cobalt Strike Beacon",
            "Evil",
            "O'Brien Panel",
            "Remcos Pro RAT Trojan",
            "Nothing",
        ],
    )
    assert product_batch is not None
    fake.inject(Fault("http-503", query=product_batch, endpoint="count", times=None))
    source = ShodanSource(KEY, fake.url, rate=1000.0, policy=_fast())
    batcher = CountBatcher.for_queries(source, QUERIES)

    counts = {q: batcher.count(q) for q in QUERIES}
    source.close()

    assert counts == expected
    assert any(r.query == product_batch and r.status == 503 for r in fake.log)


class _OddFacets(FakeShodan):
    """A server whose bucket values are not what its banners hold (here: upper-cased and
    suffixed), so the evaluator cannot attribute them."""

    def handle(self, request: Any, headers: Any, params: dict[str, str], body: Any) -> Any:
        reply = super().handle(request, headers, params, body)
        if request.facets and reply.status == 200:
            import json

            data = json.loads(reply.body)
            for buckets in data.get("facets", {}).values():
                for bucket in buckets:
                    bucket["value"] = f"{bucket['value']}".upper() + " X9"
            reply.body = json.dumps(data).encode()
        return reply


def test_buckets_the_evaluator_cannot_place_are_not_trusted() -> None:
    server = _OddFacets(_corpus(), keys={KEY: 1000})
    with server:
        expected = _single_counts(server, QUERIES)
        source = _source(server)
        batcher = CountBatcher.for_queries(source, QUERIES)
        counts = {q: batcher.count(q) for q in QUERIES}
        source.close()

    assert counts == expected
    assert not batcher.known or all(counts[q] == n for q, n in batcher.known.items())


def test_batch_query_reads_back_exactly_or_not_at_all() -> None:
    assert batch_query("http.favicon.hash", ["-1", "2"]) == "http.favicon.hash:-1,2"
    assert batch_query("product", ["Quasar RAT", "O'Brien"]) == 'product:"Quasar RAT,O\'Brien"'
    # Spaces at the edge of a value would not survive the round trip unchanged.
    for values in (["a ", "b"], ["", "b"]):
        text = batch_query("product", values)
        if text is not None:
            node = parse_query(Engine.SHODAN, text).root
            assert [v.value for v in node.value.values] == values  # type: ignore[union-attr]
    assert batchable('product:"a,b"') is None
    assert batchable("product:'say \"hi\"'") is None
    assert batchable("-product:a") is None
    assert batchable("product:a port:1") is None
    assert batchable("http.html:panel") is None  # not a facetable filter
    found = batchable("title:'Hookbot'")
    assert found is not None and found[:2] == ("http.title", "Hookbot")


def test_attribution_needs_a_provably_complete_answer() -> None:
    members = [(q, parse_query(Engine.SHODAN, q)) for q in ("product:A", "product:B")]

    assert attribute(members, "product", FacetCount(0, []), 100) == {"product:A": 0, "product:B": 0}
    assert attribute(members, "product", FacetCount(5, [("a", 5)]), 100) == {
        "product:A": 5,
        "product:B": 0,
    }
    # Bucket counts short of the total: buckets missing.
    assert attribute(members, "product", FacetCount(6, [("a", 5)]), 100) is None
    # As many buckets as asked for: the list may have been cut.
    assert attribute(members, "product", FacetCount(5, [("a", 3), ("b", 2)]), 2) is None
    # A bucket no member matches: the server and the evaluator disagree.
    assert attribute(members, "product", FacetCount(5, [("a", 3), ("c", 2)]), 100) is None


def test_fake_facets_are_counted_over_all_matches_largest_first(fake: FakeShodan) -> None:
    import httpx

    params = {"key": KEY, "query": 'product:"Quasar RAT,Cobalt Strike"', "facets": "product:2"}
    count = httpx.get(f"{fake.url}/shodan/host/count", params=params).json()
    assert count["total"] == 17
    assert count["facets"] == {
        "product": [
            {"count": 7, "value": "Quasar RAT"},
            {"count": 5, "value": "Cobalt Strike Beacon"},
        ]
    }
    params = {
        "key": KEY,
        "query": "http.favicon.hash:-127886975,1234",
        "facets": "port,http.favicon.hash",
    }
    search = httpx.get(f"{fake.url}/shodan/host/search", params=params).json()
    assert len(search["matches"]) == 9
    assert search["facets"]["http.favicon.hash"] == [
        {"count": 6, "value": -127886975},
        {"count": 3, "value": 1234},
    ]
    assert all(isinstance(b["value"], int) for b in search["facets"]["port"])
    bad = httpx.get(f"{fake.url}/shodan/host/count", params={**params, "facets": "http.html"})
    assert bad.status_code == 400 and "facet" in bad.json()["error"]
    assert set(FACETABLE_FILTERS) <= fake.facetable


def test_runner_skips_empty_queries_from_one_batch(fake: FakeShodan) -> None:
    plan = [
        PlannedQuery(f"rule-{n}", f"Rule {n}", Engine.SHODAN, query)
        for n, query in enumerate(QUERIES)
    ]
    history = MemoryHistory()
    source = _source(fake)

    report = run_engine(source, plan, history.begin_run())
    source.close()

    expected = _single_counts(fake, QUERIES)
    for result in report.results:
        empty = expected[result.planned.query] == 0
        assert (result.outcome is QueryOutcome.SKIPPED_EMPTY) == empty, result
        if not empty:
            assert result.outcome is QueryOutcome.OK
            assert result.results == expected[result.planned.query]
    assert report.credits == sum(1 for n in expected.values() if n)


def _fast() -> Any:
    from fakes.kits import FAST

    return FAST
