"""`c2tracker query parse`: tree and JSON output, error reports with a caret, file checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from c2tracker.cli import app


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.delenv("C2TRACKER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_parse_prints_an_indented_tree(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["query", "parse", "shodan", 'http.title:"Login | CALDERA" -"Server:" port:22,80']
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "and",
        '  field http.title : "Login | CALDERA" (double)  @0-28',
        "  not",
        '    text "Server:" (double)  @30-39',
        '  field port : any of {"22", "80"}  @40-50',
    ]


def test_parse_renders_every_censys_construct(runner: CliRunner) -> None:
    query = (
        "same_service(services.port: {80, 443} and not services.banner: /x.*/) "
        "or p: [1 TO *} and q: ntop* and r: *"
    )
    result = runner.invoke(app, ["query", "parse", "censys-legacy", query])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "or",
        "  nested services  @0-69",
        "    and",
        '      field port : any of {"80", "443"}  @13-37',
        "      not",
        '        field banner : regex "x.*"  @46-68',
        "  and",
        '    field p : range ["1" TO *}  @73-84',
        '    field q : "ntop*" (wildcard)  @89-97',
        "    field r : * (exists)  @102-106",
    ]


def test_parse_json(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["query", "parse", "censys", "host.services: (port=443) and x =~ `a.b`", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "engine": "censys",
        "text": "host.services: (port=443) and x =~ `a.b`",
        "root": {
            "type": "and",
            "children": [
                {
                    "type": "nested",
                    "name": "host.services",
                    "body": {
                        "type": "field",
                        "name": "port",
                        "op": "=",
                        "value": {"type": "text", "value": "443", "quote": "none",
                                  "wildcard": False},
                        "span": [16, 24],
                    },
                    "span": [0, 25],
                },
                {
                    "type": "field",
                    "name": "x",
                    "op": "=~",
                    "value": {"type": "regex", "pattern": "a.b"},
                    "span": [30, 40],
                },
            ],
        },
    }  # fmt: skip


def test_parse_error_shows_line_column_and_caret(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["query", "parse", "censys", "host.services: (port=443 and\n foo bar)"]
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("<query>:2:6: unexpected 'bar': expected 'and' or 'or'")
    assert lines[1] == "  host.services: (port=443 and  foo bar)"
    assert lines[2] == "  " + " " * 34 + "^"


def test_parse_error_neutralises_control_characters(runner: CliRunner) -> None:
    result = runner.invoke(app, ["query", "parse", "shodan", "\x1b[31m port:x"])
    assert result.exit_code == 2
    assert "\x1b" not in result.output
    assert "port: expects an integer" in result.stderr
    # The caret stays under the bad value: each control character became one visible character.
    caret_row = result.stderr.splitlines()[2]
    assert caret_row.index("^") == 2 + len("\x1b[31m port:")


def test_unknown_engine_is_a_clear_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["query", "parse", "zoomeye", "port:80"])
    assert result.exit_code == 2
    assert "unknown engine 'zoomeye'; expected one of shodan, censys, censys-legacy" in (
        " ".join(result.stderr.split())
    )


def test_query_and_file_are_exclusive(runner: CliRunner, tmp_path: Path) -> None:
    neither = runner.invoke(app, ["query", "parse", "shodan"])
    assert neither.exit_code == 2 and "either a QUERY or --file" in neither.stderr
    (tmp_path / "q.txt").write_text("port:1\n")
    both = runner.invoke(app, ["query", "parse", "shodan", "port:1", "--file", "q.txt"])
    assert both.exit_code == 2


def test_file_reports_each_query(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "queries.txt"
    path.write_text('port:22\n\n# a comment\n  # indented comment\nport:x\r\n  "abc\nssl:a\n')

    result = runner.invoke(app, ["query", "parse", "shodan", "--file", str(path)])

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "ok",
        f"{path}:5:6: port: expects an integer, not 'x'",
        f"{path}:6:3: unterminated double-quoted string",
        "ok",
    ]
    assert "4 queries checked, 2 failed" in result.stderr


def test_file_all_ok_exits_0(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "ok.txt"
    path.write_text("services.port: 22 and services.service_name: SSH\nfoo*\n")
    result = runner.invoke(app, ["query", "parse", "censys-legacy", "--file", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["ok", "ok"]


def test_file_json_lines(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text("port:22\nport:\n")
    result = runner.invoke(app, ["query", "parse", "shodan", "--file", str(path), "--json"])
    assert result.exit_code == 1
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["ok"] is True and first["line"] == 1 and first["tree"]["name"] == "port"
    assert second["ok"] is False and second["line"] == 2 and second["column"] == 6


@pytest.mark.parametrize(
    ("content", "message"), [(None, "cannot read"), (b"port:1\n\xff\n", "not UTF-8")]
)
def test_unreadable_files(
    runner: CliRunner, tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "q.txt"
    if content is not None:
        path.write_bytes(content)
    result = runner.invoke(app, ["query", "parse", "shodan", "--file", str(path)])
    assert result.exit_code == 2
    # cli.fail() prints through Rich, which wraps long lines at 80 columns outside a terminal.
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output
