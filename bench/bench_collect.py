"""Credits, requests and wall time of planned collection against blind paging, side by side.

Blind paging is what the original tracker does with shodan-python's ``search_cursor``: page 1
of every query, then every further page the total implies, with no count first (shodan.md
§1.6). Both sides talk to the same fake Shodan (tests/fakes) over real HTTP, with the same
client rate limit and the fake enforcing that rate per key, on a plan like the original's
anchor: 103 queries of which 25 find nothing, the rest needing 141 pages in all.

The planned side reads up to 1000 results a request with ``limit``/``offset`` (shodan.md
§1.2–1.4) once it knows a query's total, from the free count (first run) or the last run's
result count (second run). Its credits for such a request are inferred (one per 100 results,
``c2tracker.sources.shodan.RESULTS_PER_CREDIT``), and the fake charges the same way. The
"pages only" rows show the planner when Shodan refuses ``limit`` and the client falls back to
pages of 100.

Printed figures:
- credits spent ÷ the minimum the results need (target 1.0; blind paging: 166 / 141);
- API requests and wall time, first run and second run, for both;
- wall time ÷ (requests ÷ rate) (target ≤ 1.1) and the number of 429s (target 0).

On a first run the planner must count every query it has never run (issue 4: no credit on a
query without results). Counts of one-filter queries on the same filter go in one request
(``sources.batchcount``: ``product:"A,B,…"`` with ``facets=product:100``, up to 20 queries a
request), so the 103 new queries here take 6 count requests, not 103.

Run: ``.venv/bin/python bench/bench_collect.py`` (full size, 20 requests a second) or
``--quick`` (a small plan at a high rate, for smoke tests).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from c2tracker.model import Engine
from c2tracker.sources.base import PlannedQuery, pages_for
from c2tracker.sources.batchcount import CountBatcher
from c2tracker.sources.http import RetryPolicy
from c2tracker.sources.runner import run_engine
from c2tracker.sources.shodan import MAX_LIMIT, ShodanSource
from fakes.corpus import shodan_banner
from fakes.recorder import MemoryHistory
from fakes.shodan import FakeShodan

KEY = "bench-key"


def build_plan(queries: int, empty: int, pages: int) -> tuple[list[PlannedQuery], list[dict]]:
    """``queries`` queries, ``empty`` of them with no result, the rest needing ``pages`` pages.

    Result counts are spread so that every non-empty query needs at least one page and the
    page total is exact: sizes of 1–100 results for one page, 101–200 for two, and so on.
    """
    full = queries - empty
    if pages < full:
        raise SystemExit("pages must be at least the number of non-empty queries")
    extra = pages - full
    page_counts = [1] * full
    for n in range(extra):
        page_counts[n % full] += 1

    plan = []
    corpus: list[dict] = []
    ip = 0
    for n in range(queries):
        product = f"Family {n:03d}"
        plan.append(PlannedQuery(f"family-{n:03d}", product, Engine.SHODAN, f'product:"{product}"'))
        if n < empty:
            continue
        needed = page_counts[n - empty]
        results = (needed - 1) * 100 + 1 + (n * 37) % 100
        for _ in range(results):
            ip += 1
            corpus.append(shodan_banner(f"10.{ip >> 16 & 255}.{ip >> 8 & 255}.{ip & 255}", product))
    # Reorder so that empty queries are spread among the others, as in a real corpus.
    plan.sort(key=lambda q: hash(q.rule_id) % 997)
    return plan, corpus


@dataclass
class Figures:
    requests: int
    credits: int
    seconds: float
    rate_limited: int
    counts: int = 0
    """Free ``/shodan/host/count`` requests among ``requests``."""


def blind_paging(fake: FakeShodan, plan: list[PlannedQuery], rate: float) -> Figures:
    """search_cursor over every query: page 1, then pages 2…ceil(total/100)."""
    source = ShodanSource(KEY, fake.url, rate=rate, policy=RetryPolicy(max_attempts=6))
    before_credits, before_429 = fake.credits_spent, fake.rate_limited
    started = time.monotonic()
    for planned in plan:
        first = source.fetch_page(planned, 1)
        for page in range(2, pages_for(first.total or 0) + 1):
            source.fetch_page(planned, page)
    seconds = time.monotonic() - started
    source.close()
    return Figures(
        source.requests,
        fake.credits_spent - before_credits,
        seconds,
        fake.rate_limited - before_429,
    )


def planned(
    fake: FakeShodan,
    plan: list[PlannedQuery],
    rate: float,
    history: MemoryHistory,
    *,
    max_limit: int = MAX_LIMIT,
) -> Figures:
    """The planner and runner, reading up to ``max_limit`` results a request."""
    source = ShodanSource(
        KEY, fake.url, rate=rate, policy=RetryPolicy(max_attempts=6), max_limit=max_limit
    )
    before_credits, before_429 = fake.credits_spent, fake.rate_limited
    before_log = len(fake.log)
    started = time.monotonic()
    run_engine(source, plan, history.begin_run())
    seconds = time.monotonic() - started
    source.close()
    return Figures(
        source.requests,
        fake.credits_spent - before_credits,
        seconds,
        fake.rate_limited - before_429,
        counts=sum(1 for r in fake.log[before_log:] if r.endpoint == "count"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small plan, fast rate")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second")
    parser.add_argument("--queries", type=int, default=103)
    parser.add_argument("--empty", type=int, default=25)
    parser.add_argument("--pages", type=int, default=141)
    parser.add_argument(
        "--no-pages-only", action="store_true", help="skip the runs without limit/offset"
    )
    args = parser.parse_args()
    if args.quick:
        args.queries, args.empty, args.pages, args.rate = 12, 3, 16, 100.0

    plan, corpus = build_plan(args.queries, args.empty, args.pages)
    fake = FakeShodan(corpus, keys={KEY: 1_000_000}, rate=args.rate).start()
    # The fake's own matching is cached per query: warm it so neither side pays for it (the
    # batched counts' queries included, with the groups a first and a second run form).
    warm = [q.query for q in plan]
    second = [q.query for q in plan if not fake.matching(q.query)]
    grouping = ShodanSource(KEY, fake.url)
    for queries in (warm, second):
        warm += CountBatcher.for_queries(grouping, queries).batch_queries()
    grouping.close()
    for query in warm:
        fake.matching(query)
    minimum = args.pages
    try:
        history = MemoryHistory()
        paged = MemoryHistory()
        rows = [
            ("blind paging, run 1", blind_paging(fake, plan, args.rate)),
            ("planned, run 1", planned(fake, plan, args.rate, history)),
            ("blind paging, run 2", blind_paging(fake, plan, args.rate)),
            ("planned, run 2", planned(fake, plan, args.rate, history)),
        ]
        if not args.no_pages_only:
            rows += [
                ("pages only, run 1", planned(fake, plan, args.rate, paged, max_limit=100)),
                ("pages only, run 2", planned(fake, plan, args.rate, paged, max_limit=100)),
            ]
    finally:
        fake.stop()

    print(
        f"plan: {args.queries} queries, {args.empty} without results, {minimum} pages needed; "
        f"rate {args.rate:g} req/s on both sides"
    )
    print(
        f"{'':22} {'requests':>8} {'(counts)':>8} {'credits':>8} {'credits/min':>11} "
        f"{'wall s':>8} {'wall/(req/rate)':>15} {'429s':>5}"
    )
    for name, fig in rows:
        ideal = fig.requests / args.rate
        print(
            f"{name:22} {fig.requests:8d} {fig.counts:8d} {fig.credits:8d} "
            f"{fig.credits / minimum:11.3f} "
            f"{fig.seconds:8.2f} {fig.seconds / ideal:15.3f} {fig.rate_limited:5d}"
        )
    blind1, plan1, blind2, plan2 = (fig for _, fig in rows[:4])
    print(
        f"run 1: planned/blind requests {plan1.requests / blind1.requests:.3f}, "
        f"wall {plan1.seconds / blind1.seconds:.3f}; "
        f"run 2: requests {plan2.requests / blind2.requests:.3f}, "
        f"wall {plan2.seconds / blind2.seconds:.3f}"
    )
    print(
        f"run 1: {plan1.counts} count request(s) for {args.queries} new queries (batched by "
        f"filter), then {plan1.requests - plan1.counts} window(s); blind paging: "
        f"{args.queries} first pages and {minimum - (args.queries - args.empty)} later page(s)"
    )


if __name__ == "__main__":
    main()
