"""``c2tracker.sources.collect``, the library entry point, and the scheduler job built on it.

The real clients talk to the fake engines over HTTP; the store is a real SQLite store. The
library prints nothing: everything a human sees comes through the progress object or the
returned report.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from c2tracker.errors import C2TrackerError, ConfigError
from c2tracker.model import Engine, QueryOutcome
from c2tracker.rules import RuleSet, load_rules
from c2tracker.server.scheduler import collect_and_publish
from c2tracker.settings import Settings, load_settings
from c2tracker.sources import QuietProgress, collect
from c2tracker.sources.base import Page, PlannedQuery
from c2tracker.sources.runner import QueryResult
from c2tracker.store import Store
from fakes.base import Fault
from fakes.kits import CENSYS_TOKEN, ORG, SHODAN_KEY, Kit, make_kit, write_rules


class Recording(QuietProgress):
    def __init__(self) -> None:
        self.events: list[str] = []

    def notice(self, line: str) -> None:
        self.events.append(f"notice {line}")

    def queries_planned(self, count: int) -> None:
        self.events.append(f"planned {count}")

    def query_started(self, planned: PlannedQuery) -> None:
        self.events.append(f"start {planned.engine.value} {planned.rule_id}")

    def page_done(self, planned: PlannedQuery, page: Page) -> None:
        self.events.append(f"page {planned.rule_id} {page.first}-{page.number}")

    def query_done(self, result: QueryResult) -> None:
        self.events.append(f"done {result.planned.rule_id} {result.outcome.value}")


@pytest.fixture
def kits() -> Iterator[dict[Engine, Kit]]:
    made = {engine: make_kit(engine) for engine in (Engine.SHODAN, Engine.CENSYS)}
    for kit in made.values():
        kit.fake.start()
    try:
        yield made
    finally:
        for kit in made.values():
            kit.fake.stop()


@pytest.fixture
def settings(kits: dict[Engine, Kit], tmp_path: Path) -> Settings:
    return load_settings(
        environ={
            "C2TRACKER_DB": f"sqlite:///{tmp_path / 'store.sqlite'}",
            "C2TRACKER_RULES": str(write_rules(tmp_path / "rules")),
            "C2TRACKER_FEEDS": str(tmp_path / "feeds"),
            "SHODAN_API_KEY": SHODAN_KEY,
            "SHODAN_API_URL": kits[Engine.SHODAN].fake.url,
            "SHODAN_RATE_LIMIT": "200",
            "CENSYS_API_TOKEN": CENSYS_TOKEN,
            "CENSYS_ORG_ID": ORG,
            "CENSYS_PLATFORM_URL": kits[Engine.CENSYS].fake.url,
            "CENSYS_RATE_LIMIT": "200",
        }
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store.from_settings(settings)
    yield opened
    opened.close()


@pytest.fixture
def rules(settings: Settings) -> RuleSet:
    return load_rules(settings.rules_dir)


def test_collect_returns_a_report_and_prints_nothing(
    settings: Settings,
    store: Store,
    rules: RuleSet,
    kits: dict[Engine, Kit],
    capsys: pytest.CaptureFixture[str],
) -> None:
    progress = Recording()

    report = collect(settings, store, rules, only=["alpha-c2", "delta-stealer"], progress=progress)

    assert capsys.readouterr() == ("", "")
    assert report.exit_status == 0 and report.run_id is not None
    # censys-legacy has no credentials here: one notice, through the progress and the report.
    assert report.notices == [
        "censys-legacy: skipped, no credentials (set CENSYS_API_ID and CENSYS_API_SECRET)"
    ]
    assert progress.events[0] == f"notice {report.notices[0]}"
    assert progress.events[1] == "planned 4"
    outcomes = {(r.planned.engine, r.planned.rule_id): r for r in report.results}
    assert outcomes[(Engine.SHODAN, "alpha-c2")].requests == 1
    assert outcomes[(Engine.SHODAN, "delta-stealer")].outcome is QueryOutcome.SKIPPED_EMPTY
    assert outcomes[(Engine.CENSYS, "alpha-c2")].pages == 3
    assert "page alpha-c2 1-3" in progress.events
    assert report.finished is not None and report.finished.run_id == report.run_id
    assert {i.rule_id for i in store.iter_indicators()} == {"alpha-c2"}
    assert [q.rule_id for q in store.query_runs(report.run_id)].count("alpha-c2") == 2


def test_library_budgets_override_the_configured_ones(
    settings: Settings, store: Store, rules: RuleSet, kits: dict[Engine, Kit]
) -> None:
    report = collect(settings, store, rules, sources=["shodan"], budgets={Engine.SHODAN: 1})

    assert report.budgets == {Engine.SHODAN: 1}
    assert kits[Engine.SHODAN].fake.credits_spent == 1
    skipped = [r for r in report.results if r.outcome is QueryOutcome.SKIPPED_BUDGET]
    assert {r.planned.rule_id for r in skipped} == {"alpha-c2", "charlie-loader"}


def test_dry_run_plans_from_the_store_and_spends_nothing(
    settings: Settings, store: Store, rules: RuleSet, kits: dict[Engine, Kit]
) -> None:
    collect(settings, store, rules, sources=["shodan"])
    runs_before = len(store.runs())
    kits[Engine.SHODAN].fake.log.clear()

    report = collect(settings, store, rules, sources=["shodan"], dry_run=True)

    assert report.run_id is None and not report.engines
    lines = {line.plan.planned.rule_id: line for line in report.plan[Engine.SHODAN]}
    # Results last run: the real run would skip the count and read all three pages at once.
    assert (lines["alpha-c2"].pages, lines["alpha-c2"].requests) == (3, 1)
    assert lines["alpha-c2"].plan.last_results == 250
    assert lines["delta-stealer"].note == "skip: counted 0"
    assert not kits[Engine.SHODAN].fake.searches()
    assert len(store.runs()) == runs_before


def test_nothing_to_collect_and_bad_options_are_config_errors(
    settings: Settings, store: Store, rules: RuleSet
) -> None:
    bare = settings.model_copy(update={"shodan_api_key": None, "censys_api_token": None})
    with pytest.raises(ConfigError, match="nothing to collect"):
        collect(bare, store, rules, sources=["shodan"])
    with pytest.raises(ConfigError, match="unknown rule id"):
        collect(settings, store, rules, only=["no-such-rule"])
    with pytest.raises(ConfigError, match="unknown engine"):
        collect(settings, store, rules, budgets={"bing": 3})
    assert store.runs() == []


@pytest.mark.slow
def test_scheduler_job_collects_and_publishes(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    collect_and_publish(settings, store, tmp_path / "feeds")

    assert store.runs()[0].status == "ok"
    published = {path.name for path in (tmp_path / "feeds").rglob("*") if path.is_file()}
    assert "manifest.json" in published


def test_scheduler_job_keeps_the_feed_when_a_query_fails(
    settings: Settings, store: Store, kits: dict[Engine, Kit], tmp_path: Path
) -> None:
    alpha = kits[Engine.SHODAN].queries["alpha-c2"].query
    kits[Engine.SHODAN].fake.inject(Fault("rejected", query=alpha, times=None))

    with pytest.raises(C2TrackerError, match=r"1 quer\(ies\) failed .*shodan alpha-c2"):
        collect_and_publish(settings, store, tmp_path / "feeds")

    assert not (tmp_path / "feeds").exists()
    # What the other queries found is kept in the store.
    assert {i.rule_id for i in store.iter_indicators()} >= {"bravo-rat", "charlie-loader"}
