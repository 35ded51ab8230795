"""`c2tracker match`: JSON lines on stdout, summary and bad-record places on stderr."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from c2tracker.cli import app
from c2tracker.errors import C2TrackerError
from c2tracker.matching.prefilter import available_backends

RULE_YAML = """\
id: test-family
name: Test Family
feed_name: Test Family C2
category: c2
kind: framework
description: A family for the match command tests.
queries:
  - engine: shodan
    query: "ssl.cert.serial:146473198"
    fidelity: high
  - engine: shodan
    query: "http.title:'Test Panel'"
    fidelity: medium
  - engine: censys
    query: 'host.services: (port=443 and software.product="test family")'
    fidelity: high
  - engine: censys-legacy
    query: "services.software.product: `Test Family`"
    fidelity: high
"""

SHODAN_HIT = {
    "ip_str": "203.0.113.5",
    "port": 443,
    "transport": "tcp",
    "data": "",
    "timestamp": "2026-03-01T12:00:00.000000",
    "ssl": {"cert": {"serial": 146473198}},
}
SHODAN_MISS = {"ip_str": "203.0.113.6", "port": 80, "data": "HTTP/1.1 200 OK\r\n\r\n"}
PLATFORM_HIT = {
    "host_v1": {
        "resource": {
            "ip": "198.51.100.5",
            "services": [
                {"port": 22, "protocol": "SSH", "software": [{"product": "test family"}]},
                {"port": 443, "protocol": "HTTP", "scan_time": "2026-03-02T00:00:00Z",
                 "software": [{"product": "test family"}]},
            ],
        }
    }
}  # fmt: skip
LEGACY_HIT = {
    "ip": "192.0.2.5",
    "services": [
        {"port": 8080, "service_name": "HTTP", "software": [{"product": "Test Family C2"}]}
    ],
}

#: The prefilter runs by default only with Hyperscan installed (Matcher.raw_prefilter).
FAST_PREFILTER = "hyperscan" in available_backends()

MATCH_KEYS = {
    "ip",
    "port",
    "transport",
    "rule",
    "family",
    "engine",
    "query",
    "timestamp",
    "evidence",
}


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules" / "c2"
    folder.mkdir(parents=True)
    (folder / "test-family.yml").write_text(RULE_YAML, encoding="utf-8")
    return tmp_path / "rules"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.delenv("C2TRACKER_CONFIG", raising=False)
    monkeypatch.delenv("C2TRACKER_RULES", raising=False)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def write_jsonl(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    return path


def test_match_prints_one_json_object_per_match(
    runner: CliRunner, rules_dir: Path, tmp_path: Path
) -> None:
    scan = write_jsonl(
        tmp_path / "scan.json.gz",
        [json.dumps(r) for r in (SHODAN_HIT, SHODAN_MISS, PLATFORM_HIT, LEGACY_HIT)],
    )
    result = runner.invoke(app, ["match", "--rules", str(rules_dir), str(scan)])
    assert result.exit_code == 0, result.output

    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(set(line) == MATCH_KEYS for line in lines)
    assert [(m["ip"], m["port"], m["engine"]) for m in lines] == [
        ("203.0.113.5", 443, "shodan"),
        ("198.51.100.5", 443, "censys"),
        ("192.0.2.5", 8080, "censys-legacy"),
    ]
    shodan = lines[0]
    assert shodan["rule"] == "test-family"
    assert shodan["family"] == "Test Family"
    assert shodan["query"] == "ssl.cert.serial:146473198"
    assert shodan["timestamp"] == "2026-03-01T12:00:00+00:00"
    assert shodan["evidence"] == {"ssl.cert.serial": 146473198}
    assert lines[1]["evidence"] == {
        "host.services.port": 443,
        "host.services.software.product": "test family",
    }
    if FAST_PREFILTER:
        # The miss is passed over by the raw-line prefilter: counted, never parsed.
        assert "3 record(s) read from 1 file(s), 1 line(s) passed over unparsed" in result.stderr
    else:
        assert "4 record(s) read from 1 file(s), 0 skipped" in result.stderr
    assert "3 record(s) matched, 3 match(es)" in result.stderr

    every = runner.invoke(app, ["match", "--parse-all", "--rules", str(rules_dir), str(scan)])
    assert every.exit_code == 0, every.output
    assert every.stdout == result.stdout
    assert "4 record(s) read from 1 file(s), 0 skipped" in every.stderr


def test_prefilter_does_not_report_bad_lines_parse_all_does(
    runner: CliRunner, rules_dir: Path, tmp_path: Path
) -> None:
    scan = write_jsonl(
        tmp_path / "scan.json.gz",
        [json.dumps(SHODAN_HIT), "{not json", json.dumps(SHODAN_MISS), '{"broken": 146473198'],
    )
    result = runner.invoke(app, ["-v", "match", "--rules", str(rules_dir), str(scan)])
    assert result.exit_code == 0, result.output
    # Line 2 holds no rule's key: passed over unparsed. Line 4 holds the serial: parsed, reported.
    assert "scan.json.gz:4: not valid JSON" in result.stderr
    if FAST_PREFILTER:
        assert "2 line(s) passed over unparsed" in result.stderr
        assert "scan.json.gz:2:" not in result.stderr
    else:  # without Hyperscan the prefilter is off: every line is parsed
        assert "scan.json.gz:2: not valid JSON" in result.stderr

    every = runner.invoke(app, ["-v", "match", "--parse-all", "--rules", str(rules_dir), str(scan)])
    assert "scan.json.gz:2: not valid JSON" in every.stderr
    assert "scan.json.gz:4: not valid JSON" in every.stderr
    assert every.stdout == result.stdout


def test_engine_option_forces_the_language(
    runner: CliRunner, rules_dir: Path, tmp_path: Path
) -> None:
    scan = write_jsonl(tmp_path / "scan.json.gz", [json.dumps(SHODAN_HIT)])
    result = runner.invoke(
        app, ["match", "--rules", str(rules_dir), "--engine", "censys", str(scan)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    result = runner.invoke(
        app, ["match", "--rules", str(rules_dir), "--engine", "shodan", str(scan)]
    )
    assert len(result.stdout.splitlines()) == 1


def test_bad_records_are_counted_and_placed_with_verbose(
    runner: CliRunner, rules_dir: Path, tmp_path: Path
) -> None:
    scan = tmp_path / "scan.jsonl"
    scan.write_text(
        "\n".join(["{not json", json.dumps({"what": "ever"}), json.dumps(SHODAN_HIT), "[1, 2]"])
        + "\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["match", "--rules", str(rules_dir), str(scan)])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1
    assert "skipped" in result.stderr
    assert f"{scan}:1" not in result.stderr

    result = runner.invoke(app, ["-v", "match", "--rules", str(rules_dir), str(scan)])
    assert f"{scan}:1:" in result.stderr
    assert f"{scan}:2: neither a Shodan banner nor a Censys host" in result.stderr


def test_hostile_text_is_ascii_escaped_on_stdout(
    runner: CliRunner, rules_dir: Path, tmp_path: Path
) -> None:
    banner = dict(SHODAN_MISS, http={"title": "Test Panel \x1b[31m\u009b"})
    scan = write_jsonl(tmp_path / "scan.json.gz", [json.dumps(banner)])
    result = runner.invoke(app, ["match", "--rules", str(rules_dir), str(scan)])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\u009b" not in result.stdout
    [line] = result.stdout.splitlines()
    assert json.loads(line)["evidence"]["http.title"] == "Test Panel \x1b[31m\u009b"


def test_big_serials_survive_output() -> None:
    # orjson refuses integers beyond 64 bits (real certificate serials); the output path must not.
    import io

    from c2tracker.cli.match_cmd import _write
    from c2tracker.model import Observation
    from c2tracker.querylang.ast import Engine

    serial = 309605225371369031172612128943112984376251
    observation = Observation(
        ip="192.0.2.1", port=443, transport="tcp", rule_id="x1", family="X", engine=Engine.SHODAN,
        query=f"ssl.cert.serial:{serial}", timestamp=None,
        evidence={"ssl.cert.serial": serial}, source="scan:x",
    )  # fmt: skip
    out = io.StringIO()
    _write(out, [observation])
    assert json.loads(out.getvalue())["evidence"] == {"ssl.cert.serial": serial}


def test_bad_rules_folder_is_a_clean_error(runner: CliRunner, tmp_path: Path) -> None:
    scan = tmp_path / "scan.jsonl"
    scan.write_text(json.dumps(SHODAN_HIT) + "\n")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.yml").write_text("id: [unclosed\n")
    result = runner.invoke(app, ["match", "--rules", str(broken), str(scan)])
    assert result.exit_code != 0
    # The tool's own error, which cli.main prints as one line with exit status 2.
    assert isinstance(result.exception, C2TrackerError)
    assert "x.yml" in str(result.exception)


def test_a_missing_path_fails_before_any_work(runner: CliRunner, tmp_path: Path) -> None:
    scan = tmp_path / "scan.jsonl"
    scan.write_text(json.dumps(SHODAN_HIT) + "\n")
    missing = tmp_path / "not-there.json.gz"

    result = runner.invoke(app, ["match", str(scan), str(missing)])

    assert result.exit_code == 2
    assert f"{missing}: no such file or folder" in " ".join(result.output.split())
    assert '"rule"' not in result.stdout


def test_progress_display_passes_every_record_through() -> None:
    import io

    from rich.console import Console

    from c2tracker.cli.match_cmd import MatchSummary, _with_progress
    from c2tracker.scandata import ReadStats

    console = Console(file=io.StringIO(), force_terminal=True, width=80)
    records = [object() for _ in range(2500)]
    summary = MatchSummary()
    stats = ReadStats(records=2500, passed_over=7000)
    assert list(_with_progress(iter(records), summary, stats, console)) == records  # type: ignore[arg-type]


def test_bundled_sample_with_the_real_corpus(runner: CliRunner) -> None:
    from c2tracker.scandata import SAMPLE_DIR

    benign = SAMPLE_DIR / "benign.json.gz"
    positives = SAMPLE_DIR / "positives.json.gz"
    result = runner.invoke(app, ["match", str(benign)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    result = runner.invoke(app, ["match", str(positives)])
    engines = {json.loads(line)["engine"] for line in result.stdout.splitlines()}
    assert engines == {"shodan", "censys", "censys-legacy"}
