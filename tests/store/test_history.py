"""Store.last_result_count, and ``collect --dry-run`` planning from it without opening a run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from c2tracker.cli import app
from c2tracker.model import Engine
from c2tracker.store import Store
from fakes.corpus import censys_query
from fakes.kits import CENSYS_TOKEN, ORG, Kit, make_kit

from .helpers import CS, T0, days, obs, run


def test_last_result_count_is_the_latest_successful_run(store: Store) -> None:
    q = CS.queries[0]
    assert store.last_result_count(CS.id, q.engine, q.query) is None

    run(store, T0, [obs("45.1.1.1"), obs("45.1.1.2")])
    assert store.last_result_count(CS.id, q.engine, q.query) == 2
    other = CS.queries[1]
    assert store.last_result_count(CS.id, other.engine, other.query) == 0

    # A failed run of the query found one result: it does not replace the last good count.
    run(store, T0 + days(7), [obs("45.1.1.1")], failed=[(CS, 0)])
    assert store.last_result_count(CS.id, q.engine, q.query) == 2
    run(store, T0 + days(14), [obs("45.1.1.3")])
    assert store.last_result_count(CS.id, q.engine, q.query) == 1
    assert store.runs(1)[0].status == "ok"  # reading history opened no run


@pytest.fixture
def censys() -> Iterator[Kit]:
    kit = make_kit(Engine.CENSYS)
    kit.fake.start()
    try:
        yield kit
    finally:
        kit.fake.stop()


def test_dry_run_plans_from_the_stores_history(
    censys: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = censys_query("Alpha")
    rules = tmp_path / "rules" / "c2"
    rules.mkdir(parents=True)
    rule = {
        "id": "alpha-c2",
        "name": "Alpha C2",
        "feed_name": "Alpha C2",
        "category": "c2",
        "kind": "framework",
        "description": "Test family Alpha.",
        "queries": [{"engine": "censys", "query": query, "fidelity": "high"}],
    }
    (rules / "alpha-c2.yml").write_text(yaml.safe_dump(rule, sort_keys=False))
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    for name in ("C2TRACKER_CONFIG", "SHODAN_API_KEY", "CENSYS_API_ID", "CENSYS_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "C2TRACKER_DB": url,
        "C2TRACKER_RULES": str(tmp_path / "rules"),
        "CENSYS_API_TOKEN": CENSYS_TOKEN,
        "CENSYS_ORG_ID": ORG,
        "CENSYS_PLATFORM_URL": censys.fake.url,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "250")  # the plan table unwrapped

    def plan() -> str:
        result = CliRunner().invoke(app, ["collect", "--source", "censys", "--dry-run"])
        assert result.exit_code == 0, result.output
        return result.output

    # No history: Censys has no free count, so the plan probes page 1.
    before = plan()
    assert " probe " in before and " fetch " not in before

    with Store.open(url) as store:
        with store.begin_run(["censys"]) as handle:
            qrid = handle.start_query("alpha-c2", Engine.CENSYS, query)
            found = [obs(f"45.2.0.{i}") for i in range(1, 4)]
            for o in found:
                o.rule_id, o.engine, o.query = "alpha-c2", Engine.CENSYS, query
            handle.record_page(qrid, 1, found, credits=1)
            handle.finish_query(qrid, "ok")  # type: ignore[arg-type]
            store.finish_run(handle, [])
        runs_before = len(store.runs())

    after = plan()
    assert " fetch " in after and " probe " not in after
    assert not censys.fake.searches()
    with Store.open(url) as store:
        assert len(store.runs()) == runs_before
