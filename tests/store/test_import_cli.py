"""The C2-Tracker importer (folder and git history) and the store CLI commands."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from c2tracker.cli import app
from c2tracker.errors import StoreError
from c2tracker.model import IndicatorStatus
from c2tracker.rules import load_rules
from c2tracker.store import Store
from c2tracker.store.importer import import_c2_tracker

from .helpers import RULES, SLIVER, T0, obs, run


def _commit(repo: Path, files: dict[str, str], when: str) -> None:
    data = repo / "data"
    data.mkdir(exist_ok=True)
    for old in data.glob("*.txt"):
        old.unlink()
    for name, text in files.items():
        (data / name).write_text(text)
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
        "GIT_AUTHOR_DATE": when,
        "GIT_COMMITTER_DATE": when,
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)
    subprocess.run(
        ["git", "-C", str(repo), "commit", "-qm", "Weekly Auto Update"], check=True, env=env
    )


@pytest.fixture
def history(tmp_path: Path) -> Path:
    repo = tmp_path / "C2-Tracker"
    repo.mkdir()
    subprocess.run(["git", "-C", str(repo), "init", "-q"], check=True)
    _commit(
        repo,
        {"Cobalt Strike C2 IPs.txt": "45.1.1.1\n45.1.1.2\n", "all.txt": "x"},
        "2024-01-01T06:00:00+00:00",
    )
    _commit(
        repo,
        {
            "Cobalt Strike C2 IPs.txt": "45.1.1.1\n",
            "Sliver C2 IPs.txt": "45.2.2.2\n",
            "Mystery Panel IPs.txt": "45.3.3.3\n10.0.0.1\n",
        },
        "2024-01-08T06:00:00+00:00",
    )
    _commit(
        repo,
        {"Cobalt Strike C2 IPs.txt": "45.1.1.1\n", "Sliver C2 IPs.txt": "45.2.2.2\n"},
        "2024-03-04T06:00:00+00:00",
    )
    return repo


def test_history_import(store: Store, history: Path) -> None:
    rules = [r for r in load_rules() if r.id in ("cobalt-strike", "sliver")]
    report = import_c2_tracker(store, history, rules, history=True)
    assert report.snapshots == 3 and report.refused == 1
    assert report.mapped == {"Cobalt Strike C2": "cobalt-strike", "Sliver C2": "sliver"}
    assert report.unmapped == {"Mystery Panel": "c2-tracker-mystery-panel"}

    one = next(store.iter_indicators(ip="45.1.1.1"))
    assert one.first_seen == datetime(2024, 1, 1, 6, tzinfo=UTC)
    assert one.last_seen == datetime(2024, 3, 4, 6, tzinfo=UTC) and one.times_seen == 3
    assert one.status is IndicatorStatus.ACTIVE
    dropped = next(store.iter_indicators(ip="45.1.1.2"))
    assert dropped.status is IndicatorStatus.EXPIRED  # its file ran again 2 months later
    mystery = next(store.iter_indicators(ip="45.3.3.3"))
    assert mystery.family == "Mystery Panel" and mystery.status is IndicatorStatus.ACTIVE
    assert [r.sources for r in store.runs()] == [("import:c2-tracker",)] * 3

    again = import_c2_tracker(store, history, rules, history=True)
    assert again.snapshots == 0 and again.skipped_snapshots == 3


def test_folder_import_and_errors(store: Store, history: Path, tmp_path: Path) -> None:
    rules = [r for r in load_rules() if r.id in ("cobalt-strike", "sliver")]
    report = import_c2_tracker(store, history / "data", rules)
    assert report.snapshots == 1 and report.observations == 2

    with pytest.raises(StoreError, match="not a C2-Tracker data folder"):
        import_c2_tracker(store, tmp_path, rules)
    with pytest.raises(StoreError, match="not a readable git clone"):
        import_c2_tracker(store, tmp_path, rules, history=True)


@pytest.fixture
def cli(store_url: str, store: Store):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), env={"C2TRACKER_DB": store_url, "USER": "ci"})

    return invoke


def test_cli_lookup_indicators_runs(cli, store: Store) -> None:  # type: ignore[no-untyped-def]
    hostile = obs("45.1.1.1")
    hostile.evidence = {"http.title": "\x1b[31mpwned"}
    run(store, T0, [hostile, obs("45.2.2.2", SLIVER)], rules=RULES)

    result = cli("lookup", "45.1.1.1", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ip"] == "45.1.1.1" and data["indicators"][0]["rule_id"] == "cobalt-strike"
    table = cli("lookup", "45.1.1.1")
    assert table.exit_code == 0 and "\x1b" not in table.stdout
    assert cli("lookup", "45.9.9.9").exit_code == 1

    lines = cli("indicators", "--family", "sliver", "--json").stdout.splitlines()
    assert [json.loads(line)["ip"] for line in lines] == ["45.2.2.2"]
    assert cli("indicators", "--status", "bogus").exit_code == 2
    assert "45.1.1.1" in cli("indicators", "--category", "c2").stdout
    assert json.loads(cli("runs", "--json").stdout)["status"] == "ok"


def test_cli_indicators_since_a_date_a_time_or_a_span_back(cli, store: Store) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    run(store, now, [obs("45.1.1.1", when=now - timedelta(days=10))], rules=RULES)
    run(store, now, [obs("45.2.2.2", when=now - timedelta(hours=2))], rules=RULES)

    def since(value: str) -> list[str]:
        result = cli("indicators", "--since", value, "--json")
        assert result.exit_code == 0, result.output
        return sorted(json.loads(line)["ip"] for line in result.stdout.splitlines())

    assert since("3h") == ["45.2.2.2"]
    assert since("2w") == ["45.1.1.1", "45.2.2.2"]
    assert since((now - timedelta(days=5)).date().isoformat()) == ["45.2.2.2"]
    assert since((now - timedelta(hours=1)).isoformat()) == []

    refused = cli("indicators", "--since", "yesterday")  # exit 2 through main(): see below
    assert isinstance(refused.exception, StoreError)
    assert "--since 'yesterday'" in str(refused.exception)
    assert "span back from now like 12h" in str(refused.exception)


def test_cli_revoke_and_allow(cli, store: Store) -> None:  # type: ignore[no-untyped-def]
    run(store, T0, [obs("45.1.1.1"), obs("45.2.2.2")], rules=RULES)
    assert cli("revoke", "45.1.1.1", "--reason", "FP").exit_code == 0
    assert next(store.iter_indicators(ip="45.1.1.1")).status is IndicatorStatus.REVOKED
    assert cli("revoke", "45.1.1.1", "--undo").exit_code == 0
    assert next(store.iter_indicators(ip="45.1.1.1")).status is IndicatorStatus.ACTIVE
    assert cli("allow", "45.2.2.0/24", "--reason", "lab").exit_code == 0
    assert "45.2.2.0/24" in cli("allow", "--list").stdout
    assert next(store.iter_indicators(ip="45.2.2.2")).status is IndicatorStatus.ALLOWLISTED
    assert cli("allow", "45.2.2.0/24", "--remove").exit_code == 0
    assert [a.action for a in store.audit_log()] == ["unallow", "allow", "unrevoke", "revoke"]
    assert store.audit_log()[-1].actor == "ci"


@pytest.mark.slow
def test_cli_user_errors_exit_2_without_traceback(store_url: str, store: Store) -> None:
    import os
    import sys

    env = {**os.environ, "C2TRACKER_DB": store_url}
    exe = Path(sys.executable).with_name("c2tracker")
    for args in (
        ["revoke", "010.1.1.1", "--reason", "x"],
        ["allow", "nope", "--reason", "x"],
        ["revoke", "45.1.1.1"],
        ["indicators", "--since", "yesterday"],
    ):
        result = subprocess.run([str(exe), *args], capture_output=True, text=True, env=env)
        assert result.returncode == 2, result
        assert "Traceback" not in result.stderr and "error:" in result.stderr


def test_cli_import(cli, history: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("import", "c2-tracker", str(history), "--history")
    assert result.exit_code == 0, result.output
    assert "imported 3 snapshot(s)" in result.stderr
    assert "no rule for Mystery Panel" in result.stderr
