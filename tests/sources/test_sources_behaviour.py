"""Client, planner and budget behaviour of the live sources, against the fake engines."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from c2tracker.errors import CreditsExhausted, TransientError
from c2tracker.model import Engine, QueryOutcome
from c2tracker.rules import Rule
from c2tracker.sources.base import PlannedQuery, observation_from_shodan
from c2tracker.sources.censys_platform import ADVANCED_PAGE_CREDITS, STANDARD_PAGE_CREDITS
from c2tracker.sources.http import RateLimiter, RetryPolicy
from c2tracker.sources.runner import run_engine
from c2tracker.sources.scanfiles import collect_scan
from c2tracker.sources.shodan import ShodanSource, uses_filter
from fakes.base import Fault
from fakes.corpus import shodan_banner
from fakes.kits import SHODAN_KEY, Kit, make_kit
from fakes.recorder import MemoryHistory


@pytest.fixture
def shodan() -> Iterator[Kit]:
    kit = make_kit(Engine.SHODAN)
    kit.fake.start()
    yield kit
    kit.fake.stop()


def test_retry_after_is_honoured_but_capped() -> None:
    policy = RetryPolicy(max_delay=30.0)
    assert policy.backoff(1, 2.5) == 2.5
    assert policy.backoff(1, 86_400) == 30.0
    for attempt in range(1, 8):
        assert 0 < policy.backoff(attempt, None) <= 30.0


def test_rate_limiter_spaces_requests() -> None:
    limiter = RateLimiter(50)
    started = time.monotonic()
    for _ in range(11):
        limiter.wait()
    assert time.monotonic() - started >= 10 / 50 * 0.95


def test_persistent_429_gives_up_within_the_total_wait(shodan: Kit) -> None:
    shodan.fake.inject(Fault("rate-limit", times=None))
    policy = RetryPolicy(max_attempts=50, base_delay=0.05, max_delay=0.1, max_total_wait=0.3)
    source = shodan.source(policy=policy)

    started = time.monotonic()
    with pytest.raises(TransientError, match="gave up after"):
        source.fetch_page(shodan.queries["alpha-c2"], 1)

    assert time.monotonic() - started < 1.5
    source.close()


def test_client_faster_than_the_engine_is_slowed_by_429s_and_completes() -> None:
    kit = make_kit(Engine.SHODAN, rate=20)
    with kit.fake:
        policy = RetryPolicy(max_attempts=8, base_delay=0.05, max_delay=0.2, max_total_wait=5)
        source = kit.source(rate=1000.0, policy=policy)
        history = MemoryHistory()
        run_engine(source, list(kit.queries.values()), history.begin_run())
        source.close()
    assert kit.fake.rate_limited > 0
    assert all(q.outcome is not QueryOutcome.FAILED for q in history.query_runs)


def test_client_at_the_engine_rate_never_sees_a_429() -> None:
    kit = make_kit(Engine.SHODAN, rate=40)
    with kit.fake:
        source = kit.source(rate=40.0)
        run_engine(source, list(kit.queries.values()), MemoryHistory().begin_run())
        source.close()
    assert kit.fake.rate_limited == 0


def test_shodan_page_credits_follow_the_filter_rule() -> None:
    # shodan.md §1.5: page 1 is free without a filter; a filter or page ≥ 2 costs one credit.
    assert not uses_filter("apache")
    assert uses_filter('product:"mongodb"')
    source = ShodanSource("k", "http://127.0.0.1:9")
    assert source.page_credits("apache", 1) == 0
    assert source.page_credits("apache", 3) == 1
    assert source.page_credits("product:mongodb", 1) == 1
    source.close()


def test_shodan_balance_and_exhausted_credits(shodan: Kit) -> None:
    shodan.fake.credits[SHODAN_KEY] = 2
    source = shodan.source()
    assert source.balance() == 2

    history = MemoryHistory()
    report = run_engine(
        source,
        [shodan.queries[r] for r in ("alpha-c2", "bravo-rat")],
        history.begin_run(),
    )
    source.close()

    alpha, bravo = report.results
    assert alpha.outcome is QueryOutcome.FAILED
    assert "Insufficient query credits" in (alpha.reason or "")
    assert alpha.pages == 2
    assert bravo.outcome is QueryOutcome.FAILED
    assert (bravo.reason or "").startswith("not run:")
    # No request was spent on the query that could not run.
    assert not [r for r in shodan.fake.log if r.query == shodan.queries["bravo-rat"].query]
    with pytest.raises(CreditsExhausted):
        shodan.source().fetch_page(shodan.queries["alpha-c2"], 3)


def test_censys_has_no_free_count_so_a_new_empty_query_costs_one_page() -> None:
    kit = make_kit(Engine.CENSYS)
    with kit.fake:
        source = kit.source()
        history = MemoryHistory()
        report = run_engine(source, [kit.queries["delta-stealer"]], history.begin_run())
        source.close()
    (delta,) = report.results
    assert delta.outcome is QueryOutcome.OK
    assert (delta.pages, delta.credits, delta.results) == (1, STANDARD_PAGE_CREDITS, 0)
    assert kit.fake.credits_spent == STANDARD_PAGE_CREDITS


def test_censys_regex_queries_are_billed_as_advanced() -> None:
    kit = make_kit(Engine.CENSYS)
    regex = PlannedQuery(
        "alpha-c2", "Alpha", Engine.CENSYS, 'host.services.software.product=~"Alph.*"'
    )
    with kit.fake:
        source = kit.source()
        report = run_engine(source, [regex], MemoryHistory().begin_run())
        source.close()
    (result,) = report.results
    assert result.pages == 3
    assert result.credits == 3 * ADVANCED_PAGE_CREDITS == kit.fake.credits_spent


def test_budget_stops_a_larger_than_expected_query_and_resume_finishes_it() -> None:
    kit = make_kit(Engine.CENSYS)
    with kit.fake:
        history = MemoryHistory()
        source = kit.source()
        report = run_engine(
            source, [kit.queries["alpha-c2"]], history.begin_run(), budget=2 * STANDARD_PAGE_CREDITS
        )
        (alpha,) = report.results
        assert alpha.outcome is QueryOutcome.SKIPPED_BUDGET
        assert alpha.pages == 2
        assert "budget reached before page 3" in (alpha.reason or "")

        report = run_engine(source, [kit.queries["alpha-c2"]], history.begin_run(resume=True))
        source.close()
    (alpha,) = report.results
    assert (alpha.outcome, alpha.pages, alpha.resumed_pages) == (QueryOutcome.OK, 1, 2)
    assert kit.fake.pages_served(kit.queries["alpha-c2"].query) == [1, 2, 3]


def test_query_that_does_not_fit_is_skipped_and_cheaper_ones_still_run(shodan: Kit) -> None:
    source = shodan.source()
    queries = [shodan.queries[r] for r in ("alpha-c2", "bravo-rat")]
    report = run_engine(source, queries, MemoryHistory().begin_run(), budget=2)
    source.close()
    alpha, bravo = report.results
    assert alpha.outcome is QueryOutcome.SKIPPED_BUDGET
    assert "needs about 3 credit(s), 2 left" in (alpha.reason or "")
    assert alpha.credits == 0
    assert bravo.outcome is QueryOutcome.OK
    assert shodan.fake.credits_spent == 1


def test_ipv6_banner_and_minified_banner_become_observations() -> None:
    planned = PlannedQuery("x", "X", Engine.SHODAN, 'http.html:"secret panel"')
    banner = shodan_banner("192.0.2.1", "X")
    del banner["ip_str"], banner["ip"]
    banner["ipv6"] = "2001:db8:0:0::1"

    observation = observation_from_shodan(banner, planned)

    assert observation is not None
    assert observation.ip == "2001:db8::1"
    # The banner came back without ``http`` (minified): the engine's word is the evidence.
    assert observation.evidence["engine_match"] == planned.query
    assert observation.evidence["product"] == "X"


def test_scan_files_record_one_ok_query_run_per_rule_query(tmp_path: Path) -> None:
    path = tmp_path / "banners.jsonl.gz"
    banners = [shodan_banner(f"198.51.100.{n}", "Alpha Beacon") for n in range(1, 6)]
    banners.append(shodan_banner("198.51.100.99", "nginx"))
    with gzip.open(path, "wt") as handle:
        for banner in banners:
            handle.write(json.dumps(banner) + "\n")
        # Broken, but it names a product a rule looks for, so no raw-line prefilter may pass it
        # over unparsed: it must be reported with its place.
        handle.write('{"product": "Alpha Beacon", not json\n')
    rule = Rule(
        id="alpha-c2",
        name="Alpha C2",
        feed_name="Alpha C2",
        category="c2",
        kind="framework",
        description="test",
        queries=[
            {"engine": "shodan", "query": 'product:"Alpha Beacon"', "fidelity": "high"},
            {
                "engine": "censys",
                "query": 'host.services.software.product="Alpha"',
                "fidelity": "high",
            },
        ],
    )
    history = MemoryHistory()
    recorder = history.begin_run()

    report = collect_scan([path], [rule], recorder, source=f"scan:{path}")
    # Everything is in memory once matched: the pages are written in one bulk section.
    assert (recorder.bulk_sections, recorder.pages_in_bulk) == (1, 1)

    assert (report.skipped, report.observations) == (1, 5)
    # Lines a raw-line prefilter rules out unparsed (the nginx banner) are counted apart.
    assert report.records + getattr(report, "passed_over", 0) == 6
    assert report.problems and ":7:" in report.problems[0]
    # The files hold no Censys record, so the Censys query is not recorded as a clean run.
    (query_run,) = history.query_runs
    assert query_run.key[1] is Engine.SHODAN
    assert query_run.outcome is QueryOutcome.OK
    assert {o.source for o in query_run.observations} == {f"scan:{path}"}
