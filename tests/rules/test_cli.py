"""`c2tracker rules …`: exit codes and output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from c2tracker.cli import app
from c2tracker.rules import load_rules

from .test_loader import GOOD, write


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.delenv("C2TRACKER_RULES", raising=False)
    monkeypatch.delenv("C2TRACKER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_validate_passes_on_the_corpus(runner: CliRunner) -> None:
    result = runner.invoke(app, ["rules", "validate"])

    assert result.exit_code == 0, result.output
    assert "ok: " in result.output and " rules, " in result.output


def test_validate_lists_every_problem_and_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    rules = tmp_path / "bad"
    write(rules, "c2/my-c2.yml", GOOD.replace("kind: framework", "kind: framework\ncolour: red"))
    bad_query = GOOD.replace("id: my-c2", "id: other").replace("feed_name: My C2", "feed_name: O")
    bad_query = bad_query.replace('query: http.title:"My C2 Login"', 'query: http.title:"open')
    write(rules, "c2/other.yml", bad_query)

    result = runner.invoke(app, ["rules", "validate", str(rules)])

    assert result.exit_code == 2
    assert f"{rules / 'c2/my-c2.yml'}:6:1: unknown key 'colour'" in result.output
    assert f"{rules / 'c2/other.yml'}:9:" in result.output
    assert "shodan query does not parse" in result.output
    assert "^" in result.output
    assert "2 problem(s) in 2 file(s)" in result.output
    assert "Traceback" not in result.output


def test_list_filters_and_json(runner: CliRunner) -> None:
    result = runner.invoke(app, ["rules", "list", "--category", "tool", "--json"])

    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {row["category"] for row in rows} == {"tool"}
    assert any(row["id"] == "gophish" for row in rows)

    result = runner.invoke(app, ["rules", "list", "--engine", "censys-legacy", "--json"])
    rows = json.loads(result.stdout)
    assert all("censys-legacy" in row["engines"] for row in rows)
    assert not any(row["id"] == "mobsf" for row in rows)

    table = runner.invoke(app, ["rules", "list", "--status", "stable"])
    assert table.exit_code == 0 and "cobalt-strike" in table.stdout


def test_show(runner: CliRunner) -> None:
    result = runner.invoke(app, ["rules", "show", "cobalt-strike"])

    assert result.exit_code == 0, result.output
    assert "cobalt-strike" in result.stdout and "Cobalt Strike C2" in result.stdout
    assert "queries" in result.stdout and "test cases:" in result.stdout

    as_json = runner.invoke(app, ["rules", "show", "cobalt-strike", "--json"])
    shown = json.loads(as_json.stdout)
    assert {
        "engine": "shodan",
        "query": "ssl.cert.serial:146473198",
        "fidelity": "high",
    }.items() <= (shown["queries"][0].items())

    missing = runner.invoke(app, ["rules", "show", "no-such-rule"])
    assert missing.exit_code == 2 and "no rule with id 'no-such-rule'" in missing.output


def test_test_command_exit_codes(runner: CliRunner, tmp_path: Path) -> None:
    rules = tmp_path / "r"
    write(rules, "c2/my-c2.yml", GOOD)
    ok = runner.invoke(app, ["rules", "test", "--rules", str(rules)])
    assert ok.exit_code == 0, ok.output
    assert "1 passed, 0 failed" in ok.output

    failing = GOOD.replace("title: My C2 Login}", "title: Something Else}")
    write(rules, "c2/my-c2.yml", failing)
    bad = runner.invoke(app, ["rules", "test", "--rules", str(rules), "my-c2"])
    assert bad.exit_code == 1
    assert "FAIL" in bad.stdout and "0 passed, 1 failed" in bad.output

    unknown = runner.invoke(app, ["rules", "test", "--rules", str(rules), "nope"])
    assert unknown.exit_code != 0


def test_new_writes_a_valid_rule_and_refuses_overwrite(runner: CliRunner, tmp_path: Path) -> None:
    rules = tmp_path / "new"
    args = [
        "rules", "new", "--rules", str(rules), "--id", "shiny-c2", "--name", "Shiny C2",
        "--category", "c2", "--kind", "framework", "--engine", "censys",
        "--query", 'host.services.endpoints.http.html_title: "Shiny"', "--fidelity", "medium",
        "--description", "A shiny C2.", "--author", "tester",
    ]  # fmt: skip

    first = runner.invoke(app, args)

    assert first.exit_code == 0, first.output
    rule = load_rules(rules).get("shiny-c2")
    assert rule is not None and rule.status.value == "test"
    assert [t.expect for t in rule.tests] == ["match", "no-match"]

    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "already exists" in again.output


def test_new_asks_interactively_and_rejects_bad_queries(runner: CliRunner, tmp_path: Path) -> None:
    rules = tmp_path / "ask"
    answers = 'ask-c2\nAsk C2\nc2\nframework\nshodan\nhttp.title:"Ask"\nhigh\nAn ask C2.\nme\n'

    result = runner.invoke(app, ["rules", "new", "--rules", str(rules)], input=answers)

    assert result.exit_code == 0, result.output
    assert (rules / "c2" / "ask-c2.yml").is_file()

    bad = runner.invoke(
        app,
        ["rules", "new", "--rules", str(rules), "--id", "bad-c2", "--name", "Bad",
         "--category", "c2", "--kind", "rat", "--engine", "censys", "--query", "host.ip: (",
         "--fidelity", "low", "--description", "x", "--author", ""],
    )  # fmt: skip
    assert bad.exit_code == 2 and "does not parse" in bad.output
    assert not (rules / "c2" / "bad-c2.yml").exists()
