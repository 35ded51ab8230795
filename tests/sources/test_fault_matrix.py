"""Every fault on every engine: the run goes on, the failure is recorded, resume completes it.

Three queries run in order: bravo (one page), alpha (three pages, the fault hits its second
request: page 2, or page 3 when Shodan reads two pages a request), charlie (two pages). After
the faulty run the fault is cleared and the run resumed; the fake's request log proves that no
page already stored was fetched again.
"""

from __future__ import annotations

import logging
import time

import pytest

from c2tracker.model import Engine, QueryOutcome
from c2tracker.sources.runner import run_engine
from fakes.base import Fault
from fakes.kits import Kit
from fakes.recorder import MemoryHistory

pytestmark = pytest.mark.slow

ORDER = ("bravo-rat", "alpha-c2", "charlie-loader")

#: Faults that fail the query when they persist on its page 2.
PERSISTENT = (
    "rate-limit",
    "rate-limit-retry-after",
    "http-500",
    "http-502",
    "http-503",
    "hang",
    "malformed",
    "rejected",
)
#: Faults after which no query of the engine can succeed.
FATAL = ("invalid-key", "no-credits", "plan")


def _run(kit: Kit, history: MemoryHistory, *, resume: bool = False) -> tuple[object, float]:
    recorder = history.begin_run(resume=resume)
    source = kit.source()
    started = time.monotonic()
    try:
        report = run_engine(source, [kit.queries[r] for r in ORDER], recorder)
    finally:
        source.close()
    return report, time.monotonic() - started


def _assert_no_page_fetched_twice(kit: Kit) -> None:
    for rule_id in ORDER:
        served = kit.fake.pages_served(kit.queries[rule_id].query)
        assert len(served) == len(set(served)), (rule_id, served)


@pytest.mark.parametrize("fault", PERSISTENT + FATAL)
def test_fault_on_page_two_then_resume(
    kit: Kit, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="c2tracker")
    history = MemoryHistory()
    alpha = kit.queries["alpha-c2"].query
    second = kit.pages_per_request + 1
    kit.fake.inject(Fault(fault, page=second, query=alpha, times=None))

    _, elapsed = _run(kit, history)

    # Nothing hangs: every wait is bounded by the short test policy.
    assert elapsed < 10
    run = history.runs[0]
    alpha_run = run.outcome("alpha-c2")
    assert alpha_run.outcome is QueryOutcome.FAILED
    assert alpha_run.reason
    assert [p.page for p in alpha_run.pages] == [second - 1]
    assert run.outcome("bravo-rat").outcome is QueryOutcome.OK
    charlie = run.outcome("charlie-loader")
    if fault in FATAL:
        assert charlie.outcome is QueryOutcome.FAILED
        assert charlie.reason and charlie.reason.startswith("not run:")
    else:
        assert charlie.outcome is QueryOutcome.OK
        assert len(charlie.observations) == kit.expected("charlie-loader")
    if fault == "rejected":
        engine_text = {
            Engine.SHODAN: "The search request timed out or your query was invalid.",
            Engine.CENSYS: "Field not found: host.foo",
            Engine.CENSYS_LEGACY: "Invalid search. Your query could not be parsed",
        }[kit.engine]
        assert engine_text in alpha_run.reason
    found_before = {o.ip for o in history.observations()}

    # Resume with the fault gone: alpha continues at page 2, nothing stored is fetched again.
    kit.fake.faults.clear()
    _run(kit, history, resume=True)

    assert run.outcome("alpha-c2").outcome is QueryOutcome.OK
    assert run.outcome("charlie-loader").outcome is QueryOutcome.OK
    assert [p.page for p in run.outcome("alpha-c2").pages] == kit.request_pages(3)
    assert kit.fake.pages_served(alpha) == [1, 2, 3]
    _assert_no_page_fetched_twice(kit)
    for rule_id in ORDER:
        assert len(run.outcome(rule_id).observations) == kit.expected(rule_id), rule_id
    assert found_before <= {o.ip for o in history.observations()}
    assert kit.secret not in caplog.text


@pytest.mark.parametrize(
    "fault",
    (
        "rate-limit",
        "rate-limit-retry-after",
        "http-500",
        "http-502",
        "http-503",
        "hang",
        "malformed",
    ),
)
def test_transient_fault_on_page_one_is_retried(kit: Kit, fault: str) -> None:
    history = MemoryHistory()
    kit.fake.inject(Fault(fault, page=1, query=kit.queries["alpha-c2"].query, times=1))

    _run(kit, history)

    alpha = history.runs[0].outcome("alpha-c2")
    assert alpha.outcome is QueryOutcome.OK
    assert len(alpha.observations) == kit.expected("alpha-c2")
    attempts = [r for r in kit.fake.log if r.query == kit.queries["alpha-c2"].query and r.page == 1]
    assert [r.fault for r in attempts if r.endpoint == "search"][:2] == [fault, None]


def test_rejected_on_page_one_reports_engine_message(kit: Kit) -> None:
    history = MemoryHistory()
    kit.fake.inject(Fault("rejected", page=1, query=kit.queries["alpha-c2"].query, times=None))

    _run(kit, history)

    alpha = history.runs[0].outcome("alpha-c2")
    assert alpha.outcome is QueryOutcome.FAILED
    assert alpha.pages == []
    assert history.runs[0].outcome("charlie-loader").outcome is QueryOutcome.OK
    # Shodan's ambiguous "timed out or invalid" is retried once (shodan.AMBIGUOUS_...).
    tries = [
        r
        for r in kit.fake.log
        if r.fault == "rejected" and r.query == kit.queries["alpha-c2"].query
    ]
    assert len(tries) == (2 if kit.engine is Engine.SHODAN else 1)


@pytest.mark.parametrize("fault", ("short", "empty"))
def test_short_and_empty_pages(kit: Kit, fault: str) -> None:
    history = MemoryHistory()
    alpha = kit.queries["alpha-c2"].query
    second = kit.pages_per_request + 1
    kit.fake.inject(Fault(fault, page=second, query=alpha, times=1))

    _run(kit, history)

    run = history.runs[0].outcome("alpha-c2")
    assert run.outcome is QueryOutcome.OK
    # Every engine reads on past a short or empty page while the total says more results
    # exist (shodan.md §1.6; Censys follows its token, censys.md §2.4).
    assert kit.fake.pages_served(alpha) == [1, 2, 3]
    in_request = min(kit.expected("alpha-c2"), 100 * (second - 1) * 2) - 100 * (second - 1)
    missing = in_request // 2 if fault == "short" else in_request
    assert len(run.observations) == kit.expected("alpha-c2") - missing
