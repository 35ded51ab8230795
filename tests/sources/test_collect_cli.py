"""``c2tracker collect`` end to end: env vars point the real clients at the fake engines.

The CLI runs in-process (Typer's runner) against a SQLite store in a temporary folder, with a
small rule folder whose queries the fakes' corpora answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from c2tracker.cli import app
from c2tracker.model import Engine, QueryOutcome
from c2tracker.store import Store
from fakes.base import Fault
from fakes.kits import (
    CENSYS_TOKEN,
    LEGACY_ID,
    LEGACY_SECRET,
    ORG,
    SHODAN_KEY,
    Kit,
    make_kit,
    write_rules,
)


@pytest.fixture
def kits() -> Iterator[dict[Engine, Kit]]:
    made = {engine: make_kit(engine) for engine in Engine}
    for kit in made.values():
        kit.fake.start()
    try:
        yield made
    finally:
        for kit in made.values():
            kit.fake.stop()


@pytest.fixture
def env(kits: dict[Engine, Kit], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    for name in ("C2TRACKER_CONFIG", "SHODAN_API_KEY", "CENSYS_API_TOKEN", "CENSYS_API_ID"):
        monkeypatch.delenv(name, raising=False)
    values = {
        "C2TRACKER_DB": f"sqlite:///{tmp_path / 'store.sqlite'}",
        "C2TRACKER_RULES": str(write_rules(tmp_path / "rules")),
        "SHODAN_API_KEY": SHODAN_KEY,
        "SHODAN_API_URL": kits[Engine.SHODAN].fake.url,
        "SHODAN_RATE_LIMIT": "200",
        "CENSYS_API_TOKEN": CENSYS_TOKEN,
        "CENSYS_ORG_ID": ORG,
        "CENSYS_PLATFORM_URL": kits[Engine.CENSYS].fake.url,
        "CENSYS_RATE_LIMIT": "200",
        "CENSYS_API_ID": LEGACY_ID,
        "CENSYS_API_SECRET": LEGACY_SECRET,
        "CENSYS_API_URL": kits[Engine.CENSYS_LEGACY].fake.url + "/api",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def _collect(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["-vv", "collect", "--timeout", "0.5", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_collect_all_engines_into_the_store(
    env: dict[str, str], kits: dict[Engine, Kit], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="c2tracker")

    code, output = _collect()

    assert code == 0, output
    store = Store.open(env["C2TRACKER_DB"])
    runs = store.runs()
    assert len(runs) == 1
    outcomes = {(q.engine, q.rule_id): q for q in store.query_runs(runs[0].id)}
    assert len(outcomes) == 12
    for engine, kit in kits.items():
        for rule_id in ("alpha-c2", "bravo-rat", "charlie-loader"):
            query_run = outcomes[(engine.value, rule_id)]
            assert query_run.outcome is QueryOutcome.OK
            assert query_run.results >= kit.expected(rule_id)
    # The empty family: Shodan counts it for free and skips; Censys has no free count and
    # reads its (empty) first page.
    assert outcomes[("shodan", "delta-stealer")].outcome is QueryOutcome.SKIPPED_EMPTY
    assert outcomes[("shodan", "delta-stealer")].credits == 0
    assert outcomes[("censys", "delta-stealer")].outcome is QueryOutcome.OK
    assert {i.rule_id for i in store.iter_indicators()} == {
        "alpha-c2",
        "bravo-rat",
        "charlie-loader",
    }
    assert "collect summary" in output
    for secret in (SHODAN_KEY, CENSYS_TOKEN, LEGACY_SECRET):
        assert secret not in output
        assert secret not in caplog.text
    store.close()


def test_failed_query_exits_1_and_resume_completes_it(
    env: dict[str, str], kits: dict[Engine, Kit]
) -> None:
    shodan = kits[Engine.SHODAN]
    alpha = shodan.queries["alpha-c2"].query
    # One limit/offset request reads all of alpha's 250 results, so the fault hits it.
    shodan.fake.inject(Fault("http-503", page=1, query=alpha, times=None))

    code, output = _collect("--source", "shodan")

    assert code == 1, output
    assert "failed" in output
    kits[Engine.SHODAN].fake.faults.clear()

    code, output = _collect("--source", "shodan", "--resume")

    assert code == 0, output
    assert shodan.fake.pages_served(alpha) == [1, 2, 3]
    # The queries that succeeded the first time are not fetched again.
    assert shodan.fake.pages_served(shodan.queries["charlie-loader"].query) == [1, 2]
    assert shodan.fake.pages_served(shodan.queries["bravo-rat"].query) == [1]
    store = Store.open(env["C2TRACKER_DB"])
    runs = store.runs()
    assert len(runs) == 1
    alpha_run = next(q for q in store.query_runs(runs[0].id) if q.rule_id == "alpha-c2")
    assert alpha_run.outcome is QueryOutcome.OK
    assert alpha_run.results == shodan.expected("alpha-c2")
    store.close()


def test_second_run_goes_straight_to_page_one(env: dict[str, str], kits: dict[Engine, Kit]) -> None:
    shodan = kits[Engine.SHODAN].fake
    _collect("--source", "shodan")
    counts_first = [r for r in shodan.log if r.endpoint == "count"]

    shodan.log.clear()
    code, output = _collect("--source", "shodan")

    assert code == 0, output
    counted = {r.query for r in shodan.log if r.endpoint == "count"}
    # The four new queries are counted together (one product facet), then only the query
    # that found nothing last time is counted again.
    assert [r.facets for r in counts_first] == ["product:100"]
    assert counted == {kits[Engine.SHODAN].queries["delta-stealer"].query}


def test_budget_stops_before_it_is_exceeded(env: dict[str, str], kits: dict[Engine, Kit]) -> None:
    code, output = _collect("--source", "shodan", "--budget", "shodan=4")

    assert code == 0, output
    assert kits[Engine.SHODAN].fake.credits_spent <= 4
    assert "not run for lack of budget" in output
    store = Store.open(env["C2TRACKER_DB"])
    runs = store.runs()
    skipped = [q for q in store.query_runs(runs[0].id) if q.outcome is QueryOutcome.SKIPPED_BUDGET]
    assert skipped
    assert sum(q.credits for q in store.query_runs(runs[0].id)) <= 4
    store.close()


def test_dry_run_prints_plan_and_spends_nothing(
    env: dict[str, str], kits: dict[Engine, Kit]
) -> None:
    code, output = _collect("--dry-run")

    assert code == 0, output
    assert "shodan plan" in output and "censys plan" in output
    assert "counted 250" in output
    for kit in kits.values():
        assert not kit.fake.searches()
        assert kit.fake.credits_spent == 0


def test_source_without_credentials_is_skipped_with_one_line(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CENSYS_API_TOKEN")

    code, output = _collect("--source", "shodan", "--source", "censys")

    assert code == 0, output
    assert "censys: skipped, no credentials (set CENSYS_API_TOKEN)" in output


def test_unknown_source_and_rule_are_usage_errors(env: dict[str, str]) -> None:
    for args in (["--source", "bing"], ["--only", "no-such-rule"], ["--budget", "shodan=x"]):
        result = CliRunner().invoke(app, ["collect", *args])
        assert result.exit_code != 0
        assert "Traceback" not in result.output
