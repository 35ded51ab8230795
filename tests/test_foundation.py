"""The root error type, text safety helpers and settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from c2tracker.errors import ConfigError, Location, QuerySyntaxError, RuleError
from c2tracker.settings import load_settings
from c2tracker.textsafety import for_spreadsheet, for_terminal


def test_error_message_starts_with_location() -> None:
    error = RuleError("unknown key 'qeury'", location=Location("rules/c2/x.yml", 12, 5))
    assert str(error) == "rules/c2/x.yml:12:5: unknown key 'qeury'"


def test_query_error_caret_points_at_position() -> None:
    error = QuerySyntaxError("bad", engine="shodan", query="port:22 (", position=8)
    assert error.caret() == "port:22 (\n        ^"


def test_terminal_text_loses_escape_sequences() -> None:
    assert for_terminal("ok\x1b[31mred\x9b") == "ok\\x1b[31mred\\x9b"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-1957161625", "-1957161625"),
        ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
        ("nginx", "nginx"),
    ],
)
def test_spreadsheet_cells_cannot_run(cell: str, expected: str) -> None:
    assert for_spreadsheet(cell) == expected


def test_environment_overrides_file_and_secrets_are_redacted(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        'shodan_api_key = "from-file"\nwindow_days = 7\ndb = "postgresql+psycopg://u:pw@h/db"\n'
    )
    settings = load_settings(config, {"SHODAN_API_KEY": "from-env-secret"})
    assert settings.shodan_api_key is not None
    assert settings.shodan_api_key.get_secret_value() == "from-env-secret"
    shown = settings.redacted()
    assert shown["shodan_api_key"] == "***"
    assert "pw" not in shown["db"]
    assert settings.window_days == 7


def test_bad_config_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("window_days = 'soon'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, {})
    assert str(config) in str(info.value)
