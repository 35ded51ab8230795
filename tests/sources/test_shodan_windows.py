"""Shodan's ``limit``/``offset`` windows: fewer requests for the same credits, and fallbacks.

shodan.md §1.2–1.4: ``/shodan/host/search`` takes ``limit`` and ``offset`` instead of ``page``
(the official CLI caps ``limit`` at 1000). Their credit cost is undocumented; the client and the
fake both charge one credit per 100-result page a window spans (``RESULTS_PER_CREDIT``).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from c2tracker.errors import CreditsExhausted, QueryRejected, TransientError
from c2tracker.model import Engine, QueryOutcome
from c2tracker.sources.runner import dry_run, run_engine
from c2tracker.sources.shodan import (
    MAX_LIMIT,
    RESULTS_PER_CREDIT,
    ShodanSource,
    classify,
    window_credits,
)
from fakes.corpus import shodan_banner
from fakes.kits import Kit, make_kit
from fakes.recorder import MemoryHistory
from fakes.shodan import BAD_LIMIT, NO_CREDITS, RATE_LIMITED, FakeShodan

ALPHA = "alpha-c2"  # 250 results: three pages
ORDER = ("bravo-rat", "alpha-c2", "charlie-loader", "delta-stealer")


@pytest.fixture
def shodan() -> Iterator[Kit]:
    kit = make_kit(Engine.SHODAN, shodan_pages=MAX_LIMIT // 100)
    kit.fake.start()
    yield kit
    kit.fake.stop()


def _searches(kit: Kit, rule_id: str) -> list[tuple[int | None, int]]:
    """(first page, pages) of every search request the fake answered for the rule's query."""
    return [(r.page, r.span) for r in kit.fake.searches(kit.queries[rule_id].query)]


def _add_alpha_banners(fake: FakeShodan, count: int) -> None:
    fake.corpus.extend(shodan_banner(f"203.0.113.{n}", "Alpha Beacon") for n in range(count))
    fake._matches.clear()  # the fake caches matches per query


def test_window_credits_follow_the_page_rule() -> None:
    # Inferred (shodan.md §1.5): one credit per 100 results, page 1 free without a filter.
    assert RESULTS_PER_CREDIT == 100
    assert window_credits("apache", 1, 3) == 2
    assert window_credits('product:"mongodb"', 1, 3) == 3
    assert window_credits("apache", 4, 10) == 10
    assert window_credits("apache", 1, 0) == 0


def test_counted_queries_take_one_request_each_for_the_same_credits(shodan: Kit) -> None:
    history = MemoryHistory()
    source = shodan.source()

    report = run_engine(source, [shodan.queries[r] for r in ORDER], history.begin_run())
    source.close()

    # One free count for the four product queries (a facet), then one window per query with
    # results, sized from the facet's per-query counts.
    assert [r.endpoint for r in shodan.fake.log].count("count") == 1
    assert _searches(shodan, ALPHA) == [(1, 3)]
    assert _searches(shodan, "charlie-loader") == [(1, 2)]
    assert report.requests == 1 + 3
    # Credits are what paging would cost: one per page of 100 (all queries have a filter).
    assert shodan.fake.credits_spent == 3 + 1 + 2 == report.credits
    alpha = history.runs[0].outcome(ALPHA)
    assert [p.page for p in alpha.pages] == [3]
    assert len(alpha.observations) == 250
    (result,) = [r for r in report.results if r.planned.rule_id == ALPHA]
    assert (result.pages, result.requests, result.credits) == (3, 1, 3)


def test_second_run_trusts_the_last_count_and_sends_no_count(shodan: Kit) -> None:
    history = MemoryHistory()
    queries = [shodan.queries[r] for r in ORDER]
    source = shodan.source()
    run_engine(source, queries, history.begin_run())
    shodan.fake.log.clear()
    spent = shodan.fake.credits_spent

    report = run_engine(source, queries, history.begin_run())
    source.close()

    # Only the empty query is counted again; each other query is one request.
    counted = [r.query for r in shodan.fake.log if r.endpoint == "count"]
    assert counted == [shodan.queries["delta-stealer"].query]
    assert report.requests == 1 + 3
    assert shodan.fake.credits_spent - spent == 6


def test_a_grown_query_reads_the_rest_in_another_window(shodan: Kit) -> None:
    history = MemoryHistory()
    source = shodan.source()
    run_engine(source, [shodan.queries[ALPHA]], history.begin_run())
    _add_alpha_banners(shodan.fake, 120)  # 370 now: four pages
    shodan.fake.log.clear()

    run_engine(source, [shodan.queries[ALPHA]], history.begin_run())
    source.close()

    # Last run's 250 sized the first window (pages 1–3); its total asked for page 4.
    assert _searches(shodan, ALPHA) == [(1, 3), (4, 1)]
    assert len(history.runs[1].outcome(ALPHA).observations) == 370


def test_a_shrunken_query_costs_the_window_sized_from_last_run(shodan: Kit) -> None:
    # The known cost of trusting the last run: under the inferred charging a window is billed
    # as the pages asked for, so a query that shrank from three pages to one pays three.
    history = MemoryHistory()
    source = shodan.source()
    run_engine(source, [shodan.queries[ALPHA]], history.begin_run())
    shodan.fake.corpus[:] = [b for b in shodan.fake.corpus if b.get("product") != "Alpha Beacon"]
    _add_alpha_banners(shodan.fake, 40)
    spent = shodan.fake.credits_spent

    report = run_engine(source, [shodan.queries[ALPHA]], history.begin_run())
    source.close()

    assert report.requests == 1
    assert shodan.fake.credits_spent - spent == report.credits == 3
    assert len(history.runs[1].outcome(ALPHA).observations) == 40


def test_budget_shrinks_the_window_and_resume_finishes(shodan: Kit) -> None:
    history = MemoryHistory()
    source = shodan.source()
    run_engine(source, [shodan.queries[ALPHA]], history.begin_run())
    _add_alpha_banners(shodan.fake, 120)  # four pages now; the plan expects three
    shodan.fake.log.clear()

    report = run_engine(source, [shodan.queries[ALPHA]], history.begin_run(), budget=3)
    (alpha,) = report.results
    assert alpha.outcome is QueryOutcome.SKIPPED_BUDGET
    assert "budget reached before page 4" in (alpha.reason or "")
    assert report.credits == 3

    report = run_engine(source, [shodan.queries[ALPHA]], history.begin_run(resume=True))
    source.close()
    (alpha,) = report.results
    assert (alpha.outcome, alpha.resumed_pages, alpha.pages) == (QueryOutcome.OK, 3, 1)
    assert shodan.fake.pages_served(shodan.queries[ALPHA].query) == [1, 2, 3, 4]


def test_windows_larger_than_the_engine_allows_are_split() -> None:
    kit = make_kit(Engine.SHODAN, shodan_pages=2)
    with kit.fake:
        source = kit.source()
        history = MemoryHistory()
        run_engine(source, [kit.queries[ALPHA]], history.begin_run())
        source.close()
    assert _searches(kit, ALPHA) == [(1, 2), (3, 1)]
    assert [p.page for p in history.runs[0].outcome(ALPHA).pages] == [2, 3]
    assert [p.credits for p in history.runs[0].outcome(ALPHA).pages] == [2, 1]


def test_refused_limit_falls_back_to_pages_of_100(shodan: Kit) -> None:
    assert isinstance(shodan.fake, FakeShodan)
    shodan.fake.accepts_limit = False
    history = MemoryHistory()
    source = shodan.source()

    report = run_engine(
        source, [shodan.queries[r] for r in (ALPHA, "charlie-loader")], history.begin_run()
    )
    source.close()

    assert all(r.outcome is QueryOutcome.OK for r in report.results)
    # One refused window, then pages; the refusal cost nothing and is not tried again.
    refused = [r for r in shodan.fake.log if r.status == 400]
    assert len(refused) == 1
    assert source.pages_per_request == 1
    assert _searches(shodan, ALPHA) == [(1, 1), (2, 1), (3, 1)]
    assert _searches(shodan, "charlie-loader") == [(1, 1), (2, 1)]
    assert shodan.fake.credits_spent == 5
    assert len(history.runs[0].outcome(ALPHA).observations) == 250


def test_silently_capped_window_skips_nothing(shodan: Kit) -> None:
    assert isinstance(shodan.fake, FakeShodan)
    shodan.fake.limit_cap = 100
    history = MemoryHistory()
    source = shodan.source()

    run_engine(source, [shodan.queries[ALPHA]], history.begin_run())
    source.close()

    alpha = history.runs[0].outcome(ALPHA)
    assert alpha.outcome is QueryOutcome.OK
    # 100 of 250 came back for limit=300: only page 1 counts as read, the rest is paged.
    assert [p.page for p in alpha.pages] == [1, 2, 3]
    assert len({o.ip for o in alpha.observations}) == len(alpha.observations) == 250
    assert source.pages_per_request == 1


def test_texts_that_say_limit_but_are_not_about_the_window() -> None:
    request = httpx.Request("GET", "http://shodan.test/shodan/host/search")

    def answer(status: int, error: str) -> httpx.Response:
        return httpx.Response(status, json={"error": error}, request=request)

    # shodan.md §1.8: the rate-limit and credit texts contain "limit" too.
    with pytest.raises(TransientError):
        classify(answer(429, RATE_LIMITED))
    with pytest.raises(CreditsExhausted):
        classify(answer(401, NO_CREDITS))
    with pytest.raises(QueryRejected) as refused:
        classify(answer(400, BAD_LIMIT))
    assert type(refused.value).__name__ == "_LimitRejected"


def test_dry_run_counts_requests_with_windows(shodan: Kit) -> None:
    source = shodan.source()
    queries = [shodan.queries[r] for r in ORDER]

    plan = dry_run([source], queries, None)
    source.close()

    lines = {line.plan.planned.rule_id: line for line in plan[Engine.SHODAN]}
    assert (lines[ALPHA].pages, lines[ALPHA].credits, lines[ALPHA].requests) == (3, 3, 2)
    assert lines["delta-stealer"].requests == 1
    assert not shodan.fake.searches()


def test_max_limit_must_be_whole_pages() -> None:
    with pytest.raises(ValueError, match="multiple of 100"):
        ShodanSource("k", "http://127.0.0.1:9", max_limit=250)
