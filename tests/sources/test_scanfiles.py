"""Scan files as a source: the bundled sample moves forward in time, a user's files never."""

from __future__ import annotations

import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from c2tracker.cli import app
from c2tracker.matching import prefilter
from c2tracker.model import IndicatorStatus
from c2tracker.rules import RuleSet, load_rules
from c2tracker.scandata import SAMPLE_DIR, sample_paths
from c2tracker.scandata.samples import DEFAULT_ANCHOR, SPREAD
from c2tracker.sources.scanfiles import (
    collect_scan,
    is_bundled_sample,
    newest_record_time,
    sample_time_shift,
)
from c2tracker.store import Store

FAR_FUTURE = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def corpus() -> RuleSet:
    return load_rules()


def test_sample_shift_puts_the_newest_sample_record_at_now() -> None:
    newest = newest_record_time(sample_paths())
    assert newest is not None and newest <= DEFAULT_ANCHOR

    shift = sample_time_shift(FAR_FUTURE)

    assert newest + shift == FAR_FUTURE
    assert sample_time_shift(newest) == timedelta(0)


def test_newest_record_time_reads_every_engine_shape(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        '{"ip_str": "203.0.113.1", "port": 80, "timestamp": "2026-01-02T03:04:05.000000"}\n'
        '{"host_v1": {"resource": {"ip": "198.51.100.1", "services": '
        '[{"port": 443, "scan_time": "2026-03-01T00:00:00Z"}]}}}\n'
        '{"ip": "192.0.2.1", "last_updated_at": "2026-02-01T00:00:00Z", "services": '
        '[{"port": 22, "service_name": "SSH", "observed_at": "2026-02-03T00:00:00Z"}]}\n'
    )

    assert newest_record_time([path]) == datetime(2026, 3, 1, tzinfo=UTC)
    path.write_text('{"ip_str": "203.0.113.1", "port": 80, "timestamp": "not a time"}\n')
    assert newest_record_time([path]) is None


def test_only_the_bundled_sample_is_recognised(tmp_path: Path) -> None:
    for path in sample_paths():
        assert is_bundled_sample(path)
        assert is_bundled_sample(path.parent / ".." / "sample" / path.name)
    assert is_bundled_sample(SAMPLE_DIR)

    copy = tmp_path / sample_paths()[0].name
    shutil.copyfile(sample_paths()[0], copy)
    assert not is_bundled_sample(copy)
    assert not is_bundled_sample(tmp_path / "missing.json.gz")


@pytest.fixture
def store_clock_at_far_future(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's wall clock (``store.tables.now``, imported by name into its modules) reads
    FAR_FUTURE: it caps every sighting at the time of storing, so a run "in 2031" needs it."""
    import c2tracker.store.tables as tables

    real = tables.now
    for name, module in list(sys.modules.items()):
        if name.startswith("c2tracker.store") and getattr(module, "now", None) is real:
            monkeypatch.setattr(module, "now", lambda: FAR_FUTURE + timedelta(seconds=1))


def _collect_sample_at(url: str, corpus: RuleSet, shift: timedelta | None) -> Store:
    store = Store.open(url)
    with store.begin_run(["scan:sample"], started_at=FAR_FUTURE) as run:
        collect_scan(sample_paths(), corpus, run, source="scan:sample", time_shift=shift)
        store.finish_run(run, corpus)
    return store


@pytest.mark.slow
@pytest.mark.usefixtures("store_clock_at_far_future")
def test_sample_collected_years_later_still_gives_active_indicators(
    tmp_path: Path, corpus: RuleSet
) -> None:
    # Without the shift, a run in 2031 over records from 2026 expires everything: the empty
    # feeds a newcomer would get from a stale demo.
    stale = _collect_sample_at(f"sqlite:///{tmp_path / 'stale.db'}", corpus, None)
    assert list(stale.iter_indicators(status=IndicatorStatus.ACTIVE)) == []
    assert len(list(stale.iter_indicators(status=IndicatorStatus.EXPIRED))) > 1000
    stale.close()

    store = _collect_sample_at(
        f"sqlite:///{tmp_path / 'fresh.db'}", corpus, sample_time_shift(FAR_FUTURE)
    )

    active = list(store.iter_indicators(status=IndicatorStatus.ACTIVE))
    assert len({i.rule_id for i in active}) >= 100
    newest = max(i.last_seen for i in active)
    oldest = min(i.first_seen for i in active)
    assert FAR_FUTURE - timedelta(days=2) <= newest <= FAR_FUTURE
    assert FAR_FUTURE - SPREAD - timedelta(days=1) <= oldest  # the spread is kept
    assert oldest < FAR_FUTURE - timedelta(weeks=4)
    store.close()


@pytest.fixture
def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    for name in (
        "C2TRACKER_CONFIG",
        "C2TRACKER_RULES",
        "SHODAN_API_KEY",
        "CENSYS_API_TOKEN",
        "CENSYS_API_ID",
        "CENSYS_API_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("C2TRACKER_DB", url)
    return url


def _run_collect(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["collect", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.mark.slow
def test_collect_without_credentials_moves_the_sample_to_now(no_credentials: str) -> None:
    before = datetime.now(UTC)

    code, output = _run_collect()

    assert code == 0, output
    assert "SAMPLE" in output and "moved forward" in output
    # Benign look-alikes hold no rule keyword, so the prefilter (Hyperscan) passes most over.
    passed_over = "passed over unparsed" in " ".join(output.split())
    assert passed_over == ("hyperscan" in prefilter.available_backends())
    store = Store.open(no_credentials)
    seen = [i.last_seen for i in store.iter_indicators()]
    store.close()
    # The newest sample record (maybe a benign one) lands on the run's start; the newest
    # sighting is as far before it as the newest matching record was in the sample.
    newest = newest_record_time(sample_paths())
    matching = newest_record_time([p for p in sample_paths() if p.name != "benign.json.gz"])
    assert newest is not None and matching is not None
    assert seen and max(seen) >= before - (newest - matching) - timedelta(minutes=5)
    assert max(seen) <= datetime.now(UTC)


@pytest.mark.slow
def test_collect_keeps_the_times_of_a_users_own_files(no_credentials: str, tmp_path: Path) -> None:
    own = tmp_path / "mine.json.gz"
    shutil.copyfile(next(p for p in sample_paths() if p.name == "positives.json.gz"), own)

    code, output = _run_collect("--source", f"scan:{own}")

    assert code == 0, output
    store = Store.open(no_credentials)
    seen = [i.last_seen for i in store.iter_indicators()]
    store.close()
    assert seen and max(seen) <= DEFAULT_ANCHOR
