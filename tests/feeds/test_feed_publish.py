"""Publishing: atomic swap, validation, deltas, status, git, webhook, rule report, CLI."""

from __future__ import annotations

import json
import logging
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from c2tracker.errors import PublishError
from c2tracker.feeds import publish
from c2tracker.feeds.base import FeedContext
from c2tracker.feeds.formats import standard_exporters
from c2tracker.feeds.formats.tables import CsvTable
from c2tracker.feeds.manifest import file_sha256, read_manifest
from c2tracker.feeds.publish import builds_dir
from c2tracker.model import RuleStat, RunInfo
from c2tracker.settings import Settings
from feeds.feed_fixtures import FAMILIES, NOW, FakeStore, indicator

SETTINGS = Settings()


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".git"
    }


def test_publish_writes_a_verified_manifest_and_status(tmp_path: Path) -> None:
    out = tmp_path / "feeds"
    manifest = publish(FakeStore(), FAMILIES, out, settings=SETTINGS, now=NOW)
    assert out.is_symlink()
    listed = {entry.path for entry in manifest.files}
    on_disk = set(_tree(out)) - {"manifest.json"}
    assert listed == on_disk
    for entry in manifest.files:
        assert file_sha256(out / entry.path) == entry.sha256
    assert read_manifest(out) == manifest
    entry = manifest.file("lists/7d/blocklist.txt")
    assert entry is not None and entry.window == "7d" and entry.run_id == 7
    status = json.loads((out / "status.json").read_text())
    assert status["stale"] is False
    assert status["failed_queries"] == [
        {"rule": "sliver", "engine": "censys", "outcome": "failed", "reason": "HTTP 502"}
    ]
    assert status["engines"]["censys"]["last_success"] == "2026-04-26T02:24:00Z"


def test_status_is_stale_without_a_recent_successful_run(tmp_path: Path) -> None:
    store = FakeStore()
    store.run_list = [replace(store.run_list[0], status="failed"), store.run_list[1]]
    publish(store, FAMILIES, tmp_path / "feeds", settings=SETTINGS, now=NOW + timedelta(days=1))
    assert json.loads((tmp_path / "feeds" / "status.json").read_text())["stale"] is True


def test_second_publish_swaps_keeps_previous_and_reports_deltas(tmp_path: Path) -> None:
    out = tmp_path / "feeds"
    store = FakeStore()
    publish(store, FAMILIES, out, settings=SETTINGS, now=NOW)
    first = out.resolve()
    store.indicators = [i for i in store.indicators if i.ip != "9.9.9.9"] + [
        indicator("192.0.2.200", "havoc", last=0.1)
    ]
    manifest = publish(store, FAMILIES, out, settings=SETTINGS, now=NOW + timedelta(hours=1))
    assert out.resolve() != first and first.is_dir()  # previous build kept for rollback
    assert (out / "delta/added.txt").read_text() == "192.0.2.200\n"
    assert (out / "delta/removed.txt").read_text() == "9.9.9.9\n"
    assert manifest.counts["added"] == 1 and manifest.counts["removed"] == 1
    assert (out / "data/Havoc C2 IPs.txt").read_text() == "192.0.2.200\n"

    publish(store, FAMILIES, out, settings=SETTINGS, now=NOW + timedelta(hours=2))
    assert not first.exists()  # older builds are cleaned
    assert len([p for p in builds_dir(out).iterdir() if p.is_dir()]) == 2


def test_a_failing_exporter_leaves_the_previous_feed_untouched(tmp_path: Path) -> None:
    out = tmp_path / "feeds"
    publish(FakeStore(), FAMILIES, out, settings=SETTINGS, now=NOW)
    before = _tree(out)

    class Broken(CsvTable):
        def row(self, indicator: Any) -> str:
            raise RuntimeError("disk on fire")

    def exporters(context: FeedContext) -> list[Any]:
        return [*standard_exporters(context), Broken(context)]

    with pytest.raises(PublishError, match="csv exporter failed to write"):
        publish(FakeStore(), FAMILIES, out, settings=SETTINGS, now=NOW, exporters=exporters)
    assert _tree(out) == before
    assert [p.name for p in builds_dir(out).iterdir() if p.name.startswith("tmp-")] == []


def test_validation_failure_keeps_the_previous_feed(tmp_path: Path) -> None:
    out = tmp_path / "feeds"
    publish(FakeStore(), FAMILIES, out, settings=SETTINGS, now=NOW)
    before = _tree(out)

    class Duplicating(CsvTable):
        def row(self, indicator: Any) -> str:
            return super().row(indicator) * 2

    def exporters(context: FeedContext) -> list[Any]:
        return [
            e if not isinstance(e, CsvTable) or e.window else Duplicating(context)
            for e in standard_exporters(context)
        ]

    with pytest.raises(PublishError, match="appears twice"):
        publish(FakeStore(), FAMILIES, out, settings=SETTINGS, now=NOW, exporters=exporters)
    assert _tree(out) == before


_KILL_SCRIPT = """
import sys
from datetime import timedelta
sys.path.insert(0, {tests!r})
from c2tracker.feeds import publish
from c2tracker.settings import Settings
from feeds.feed_fixtures import FAMILIES, NOW, FakeStore, indicator
store = FakeStore()
store.indicators = [indicator(f"10.{{i // 65536 % 256}}.{{i // 256 % 256}}.{{i % 256}}",
                              FAMILIES[i % 5].rule_id, ports=(i % 60000 + 1,))
                    for i in range(int(sys.argv[2]))]
later = NOW + timedelta(minutes=int(sys.argv[3]))
publish(store, FAMILIES, sys.argv[1], settings=Settings(), now=later)
"""


@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_old_or_new_feed(tmp_path: Path) -> None:
    script = tmp_path / "publish_once.py"
    script.write_text(_KILL_SCRIPT.format(tests=str(Path(__file__).parents[1])))
    out = tmp_path / "feeds"
    run = [sys.executable, str(script), str(out), "300"]
    started = time.monotonic()
    subprocess.run([*run, "0"], check=True, timeout=120)
    full = time.monotonic() - started

    randomiser = random.Random(1234)
    for attempt in range(4):
        before = read_manifest(out)
        old = _tree(out)
        process = subprocess.Popen([*run, str(attempt + 2)])
        time.sleep(randomiser.uniform(0.05, full * 1.1))
        process.send_signal(signal.SIGKILL)
        process.wait()
        manifest = read_manifest(out)
        assert manifest is not None and before is not None
        current = _tree(out)
        if manifest.build == before.build:
            assert current == old  # exactly the old feed
        else:  # exactly the new one: whole, every file as its manifest says
            assert set(current) - {"manifest.json"} == {e.path for e in manifest.files}
            for entry in manifest.files:
                assert file_sha256(out / entry.path) == entry.sha256
    # A later publish cleans what the killed ones left behind.
    subprocess.run([*run, "9"], check=True, timeout=120)
    leftovers = [p.name for p in builds_dir(out).iterdir() if p.name.startswith("tmp-")]
    assert leftovers == []


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def test_git_publish_commits_once_per_publish_and_pushes(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    out = tmp_path / "feeds"
    publish(FakeStore(), FAMILIES, out, settings=SETTINGS, now=NOW, git=True)
    _git("remote", "add", "origin", str(remote), cwd=out)
    store = FakeStore()
    store.indicators = store.indicators[1:]
    publish(store, FAMILIES, out, settings=SETTINGS, now=NOW + timedelta(hours=1), git=True)

    log = _git("log", "--format=%s", cwd=out).splitlines()
    assert len(log) == 2 and all(line.startswith("Feed publish") for line in log)
    assert _git("status", "--porcelain", cwd=out) == ""
    branch = _git("symbolic-ref", "--short", "HEAD", cwd=out).strip()
    pushed = _git("log", "--format=%s", branch, cwd=remote).splitlines()
    assert pushed == log
    assert "data/all.txt" in _git("ls-tree", "-r", "--name-only", branch, cwd=remote)


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    status = 200

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook_url() -> Iterator[str]:
    _Hook.received = []
    _Hook.status = 200
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/SECRET-TOKEN"
    server.shutdown()


@pytest.mark.parametrize("style", ["generic", "slack", "teams"])
def test_webhook_announces_deltas_in_each_style(
    tmp_path: Path, hook_url: str, style: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(webhook_url=hook_url, webhook_style=style)
    with caplog.at_level(logging.DEBUG):
        publish(FakeStore(), FAMILIES, tmp_path / "feeds", settings=settings, now=NOW)
    assert len(_Hook.received) == 1
    body = _Hook.received[0]
    if style == "generic":
        assert body["added"] == 9 and body["removed"] == 0
        assert body["added_by_family"]["Cobalt Strike"] == 3
    elif style == "slack":
        assert body["text"].startswith("C2 Tracker feed") and body["blocks"][0]["type"] == "section"
    else:
        card = body["attachments"][0]
        assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert card["content"]["type"] == "AdaptiveCard"
    assert "SECRET-TOKEN" not in caplog.text


def test_webhook_failure_never_fails_the_publish(
    tmp_path: Path, hook_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    _Hook.status = 500
    settings = Settings(webhook_url=hook_url)
    publish(FakeStore(), FAMILIES, tmp_path / "a", settings=settings, now=NOW)
    dead = Settings(webhook_url="http://127.0.0.1:9/hooks/SECRET-TOKEN")
    with caplog.at_level(logging.DEBUG):
        publish(FakeStore(), FAMILIES, tmp_path / "b", settings=dead, now=NOW)
    assert (tmp_path / "b" / "manifest.json").is_file()
    assert "webhook" in caplog.text and "SECRET-TOKEN" not in caplog.text


def test_rule_report_flags_noisy_overlapping_and_silent_rules(tmp_path: Path) -> None:
    store = FakeStore()
    store.stats = [
        RuleStat(7, "cobalt-strike", hits=100, new=5, kept=95, dropped=4, overlap={"sliver": 2}),
        RuleStat(7, "mozi", hits=50, new=40, kept=10, dropped=30, overlap={}),
        RuleStat(7, "gophish", hits=10, new=1, kept=9, dropped=0, overlap={"lumma-stealer": 9}),
        RuleStat(7, "havoc", hits=0, new=0, kept=0, dropped=0, overlap={}),
        RuleStat(7, "=cmd|x", hits=1, new=0, kept=1, dropped=0, overlap={}),
    ]
    publish(store, FAMILIES, tmp_path / "feeds", settings=SETTINGS, now=NOW)
    rows = {
        r.split(",")[1]: r for r in (tmp_path / "feeds/reports/rules.csv").read_text().splitlines()
    }
    assert rows["mozi"].endswith(",noisy")
    assert rows["gophish"].endswith(",overlap")
    assert rows["havoc"].endswith(",silent")
    assert rows["cobalt-strike"].endswith(",")
    assert "'=cmd|x" in rows
    markdown = (tmp_path / "feeds/reports/rules.md").read_text()
    flagged = markdown.split("## Flagged rules")[1].split("## All rules")[0]
    assert "mozi" in flagged and "cobalt-strike" not in flagged
    assert "=cmd\\|x" in markdown


def test_publish_command_through_the_real_store(tmp_path: Path) -> None:
    from c2tracker.cli import app

    db = tmp_path / "store.sqlite"
    env = {"C2TRACKER_DB": f"sqlite:///{db}", "C2TRACKER_CONFIG": str(tmp_path / "none.toml")}
    (tmp_path / "none.toml").write_text("")
    out = tmp_path / "feeds"
    result = CliRunner().invoke(app, ["publish", "--out", str(out), "--json"], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["counts"]["indicators"] == 0
    # Every rule of the bundled corpus keeps its original-layout file, empty.
    data_files = sorted(p.name for p in (out / "data").iterdir())
    assert "all.txt" in data_files and len(data_files) > 10
    assert all((out / "data" / name).read_bytes() == b"" for name in data_files)
    assert json.loads((out / "status.json").read_text())["stale"] is True


def test_first_run_rules_are_a_baseline_not_noisy(tmp_path: Path) -> None:
    store = FakeStore()
    # A first run: every hit is new, nothing kept or dropped (what the store reports).
    store.stats = [
        RuleStat(1, "cobalt-strike", hits=40, new=40, kept=0, dropped=0, overlap={}),
        RuleStat(1, "gophish", hits=10, new=10, kept=0, dropped=0, overlap={"lumma-stealer": 9}),
        RuleStat(1, "havoc", hits=0, new=0, kept=0, dropped=0, overlap={}),
    ]
    publish(store, FAMILIES, tmp_path / "feeds", settings=SETTINGS, now=NOW)
    rows = {
        r.split(",")[1]: r.split(",")
        for r in (tmp_path / "feeds/reports/rules.csv").read_text().splitlines()
    }
    assert rows["cobalt-strike"][8] == "" and rows["cobalt-strike"][-1] == ""
    assert rows["gophish"][-1] == "overlap"  # overlap needs no previous run
    assert rows["havoc"][-1] == "silent"
    markdown = (tmp_path / "feeds/reports/rules.md").read_text()
    assert "noisy" not in markdown.split("## All rules")[1]
    assert "| cobalt-strike | 40 | 40 | 0 | 0 | n/a |" in markdown
    assert "2 rule(s) have no previous run to compare with" in markdown

    # The next run compares with it: a rule that replaced most of its hits is noisy.
    store.stats = [
        RuleStat(2, "cobalt-strike", hits=40, new=30, kept=10, dropped=30, overlap={}),
    ]
    publish(store, FAMILIES, tmp_path / "feeds", settings=SETTINGS, now=NOW)
    row = (tmp_path / "feeds/reports/rules.csv").read_text().splitlines()[1].split(",")
    assert row[8] == "0.75" and row[-1] == "noisy"


def _run(run_id: int, days_ago: float, *sources: str) -> RunInfo:
    started = NOW - timedelta(days=days_ago)
    return RunInfo(run_id, started, started, "ok", sources, 1, 1, 0, 0, {})


@pytest.mark.parametrize(
    ("runs", "expected", "notice"),
    [
        ([("sample",)], "sample", "SAMPLE scan data"),
        ([("shodan", "censys")], "live", None),
        ([("own",)], "scan-files", None),
        ([("shodan",), ("sample",)], "mixed", "Part of these feeds"),
        ([("shodan", "own")], "mixed", None),
        ([], "none", None),
    ],
)
def test_status_and_manifest_say_where_the_data_came_from(
    tmp_path: Path, runs: list[tuple[str, ...]], expected: str, notice: str | None
) -> None:
    from c2tracker.scandata import sample_paths

    names = {
        "sample": [f"scan:{path}" for path in sample_paths()],
        "own": [f"scan:{tmp_path / 'exports' / 'shodan.json.gz'}"],
        "shodan": ["shodan"],
        "censys": ["censys"],
    }
    store = FakeStore()
    store.run_list = [
        _run(10 - position, position + 0.5, *[n for kind in kinds for n in names[kind]])
        for position, kinds in enumerate(runs)
    ]
    assert sample_paths()  # the bundled sample exists, so "sample" is really exercised
    manifest = publish(store, FAMILIES, tmp_path / "feeds", settings=SETTINGS, now=NOW)
    status = json.loads((tmp_path / "feeds/status.json").read_text())
    written = json.loads((tmp_path / "feeds/manifest.json").read_text())
    assert status["data_source"] == written["data_source"] == manifest.data_source == expected
    if notice is None:
        assert status["notice"] is None and written["notice"] is None
    else:
        assert notice in status["notice"] and status["notice"] == written["notice"]


def test_runs_whose_indicators_expired_do_not_count_as_data_source(tmp_path: Path) -> None:
    from c2tracker.scandata import sample_paths

    store = FakeStore()
    store.run_list = [
        _run(9, 1, "shodan"),
        _run(8, 45, *[f"scan:{path}" for path in sample_paths()]),  # beyond the 30-day window
    ]
    manifest = publish(store, FAMILIES, tmp_path / "feeds", settings=SETTINGS, now=NOW)
    assert manifest.data_source == "live" and manifest.notice is None
    longer = Settings(window_days_by_category={"c2": 60})
    manifest = publish(store, FAMILIES, tmp_path / "feeds", settings=longer, now=NOW)
    assert manifest.data_source == "mixed" and manifest.notice is not None


def test_publish_command_shows_the_sample_notice(tmp_path: Path) -> None:
    from c2tracker.cli import app
    from c2tracker.scandata import sample_paths
    from c2tracker.store import Store

    db = tmp_path / "store.sqlite"
    env = {"C2TRACKER_DB": f"sqlite:///{db}", "C2TRACKER_CONFIG": str(tmp_path / "none.toml")}
    (tmp_path / "none.toml").write_text("")
    with (
        Store.open(f"sqlite:///{db}") as store,
        store.begin_run([f"scan:{path}" for path in sample_paths()]) as run,
    ):
        store.finish_run(run, [])
    result = CliRunner().invoke(
        app, ["publish", "--out", str(tmp_path / "feeds"), "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "data source: sample" in result.stderr and "SAMPLE scan data" in result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["data_source"] == "sample" and "SAMPLE" in summary["notice"]
