"""The README's command table against the CLI: users and scripts read one and run the other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from c2tracker.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def _documented_commands() -> list[tuple[list[str], list[str], list[str]]]:
    """(command words, positional placeholders, options) of each command the README lists."""
    text = README.read_text(encoding="utf-8")
    table = text.split("## Commands", 1)[1].split("\n## ", 1)[0]
    commands = []
    for cell in re.findall(r"`(c2tracker [^`]+)`", table.replace("\\|", "|")):
        tokens = cell.split()[1:]
        words: list[str] = []
        while tokens and re.fullmatch(r"[a-z0-9|-]+", tokens[0]):
            words.append(tokens.pop(0))

        placeholders = []
        for token in tokens:
            if not re.fullmatch(r"[A-Z]+…?", token):
                break
            placeholders.append(token.rstrip("…"))

        options = re.findall(r"(?<![\w-])--[a-z][a-z-]*", " ".join(tokens))
        *group, last = words
        for name in last.split("|"):
            commands.append(([*group, name], placeholders, options))

    return commands


COMMANDS = _documented_commands()


def test_the_readme_lists_the_commands_of_the_design() -> None:
    names = {" ".join(words) for words, _, _ in COMMANDS}

    assert {"collect", "match", "publish", "serve", "lookup", "indicators", "runs"} <= names
    assert {"revoke", "allow", "import c2-tracker", "rules test", "query parse"} <= names


@pytest.mark.parametrize(
    ("words", "placeholders", "options"), COMMANDS, ids=[" ".join(c[0]) for c in COMMANDS]
)
def test_each_documented_command_has_its_arguments_and_options(
    words: list[str], placeholders: list[str], options: list[str]
) -> None:
    result = CliRunner().invoke(
        app, [*words, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    )

    assert result.exit_code == 0, result.output
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    for placeholder in placeholders:
        assert re.search(rf"[{{\[]{placeholder}[}}\]]", usage), (placeholder, usage)
    for option in options:
        assert option in result.output, (option, result.output)
