"""Loader errors: every kind of problem is reported with the file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from c2tracker.errors import RuleError, RuleSetError
from c2tracker.rules import Rule, load_rules, loader

GOOD = """\
id: my-c2
name: My C2
feed_name: My C2
category: c2
kind: framework
description: A test family.
queries:
  - engine: shodan
    query: http.title:"My C2 Login"
    fidelity: medium
tests:
  - engine: shodan
    expect: match
    record: {ip_str: 203.0.113.10, port: 80, http: {title: My C2 Login}}
"""


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def only_error(root: Path) -> RuleError:
    with pytest.raises(RuleError) as info:
        load_rules(root)
    return info.value


def test_good_rule_loads_with_path_and_parsed_queries(tmp_path: Path) -> None:
    path = write(tmp_path, "c2/my-c2.yml", GOOD)

    ruleset = load_rules(tmp_path)

    rule = ruleset.get("my-c2")
    assert isinstance(rule, Rule)
    assert rule.path == path
    assert [e.value for e in rule.engines] == ["shodan"]
    assert rule.queries[0].parsed.text == 'http.title:"My C2 Login"'
    assert len(ruleset) == 1 and "my-c2" in ruleset


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    write(tmp_path, "c2/my-c2.yml", GOOD.replace("kind: framework", "kind: [framework"))

    error = only_error(tmp_path)

    assert str(error.location).startswith(str(tmp_path / "c2/my-c2.yml") + ":")
    assert "YAML syntax error" in error.message
    assert error.location is not None and error.location.line is not None


def test_unknown_key_points_at_the_key_and_suggests(tmp_path: Path) -> None:
    text = GOOD.replace("    query: http.title", "    qeury: http.title")
    write(tmp_path, "c2/my-c2.yml", text)

    with pytest.raises(RuleSetError) as info:
        load_rules(tmp_path, collect_errors=True)

    messages = [str(e) for e in info.value.errors]
    assert any(":9:5: unknown key 'qeury'; did you mean 'query'?" in m for m in messages)
    assert any("missing required key 'query'" in m for m in messages)


def test_missing_field_and_wrong_type(tmp_path: Path) -> None:
    text = GOOD.replace("\nname: My C2\n", "\n").replace(
        "description: A test family.", "description: 5"
    )
    text = text.replace("category: c2", "category: c2\ndual_use: maybe")
    write(tmp_path, "c2/my-c2.yml", text)

    with pytest.raises(RuleSetError) as info:
        load_rules(tmp_path, collect_errors=True)

    messages = [str(e) for e in info.value.errors]
    path = str(tmp_path / "c2/my-c2.yml")
    assert f"{path}:1:1: missing required key 'name'" in messages
    assert any(m.startswith(f"{path}:4:11: dual_use:") for m in messages)
    assert any(m.startswith(f"{path}:6:14: description:") for m in messages)


def test_unknown_engine_is_located(tmp_path: Path) -> None:
    write(
        tmp_path,
        "c2/my-c2.yml",
        GOOD.replace("  - engine: shodan\n    query", "  - engine: zoomeye\n    query"),
    )

    with pytest.raises(RuleSetError) as info:
        load_rules(tmp_path, collect_errors=True)

    first = str(info.value.errors[0])
    assert first.endswith(
        "c2/my-c2.yml:8:13: unknown engine 'zoomeye'; expected one of shodan, censys, censys-legacy"
    )


def test_duplicate_ids_name_both_places(tmp_path: Path) -> None:
    write(tmp_path, "c2/my-c2.yml", GOOD)
    write(
        tmp_path,
        "tool/my-c2.yml",
        GOOD.replace("category: c2", "category: tool").replace(
            "feed_name: My C2", "feed_name: Other"
        ),
    )

    error = only_error(tmp_path)

    assert str(error) == (
        f"{tmp_path / 'tool/my-c2.yml'}:1:5: duplicate rule id 'my-c2'; "
        f"also defined in {tmp_path / 'c2/my-c2.yml'}:1:5"
    )


def test_id_must_equal_file_stem(tmp_path: Path) -> None:
    write(tmp_path, "c2/other.yml", GOOD)

    error = only_error(tmp_path)

    assert str(error).endswith("c2/other.yml:1:5: id 'my-c2' must equal the file name stem 'other'")


def test_category_must_match_folder(tmp_path: Path) -> None:
    write(tmp_path, "malware/my-c2.yml", GOOD)

    error = only_error(tmp_path)

    assert str(error).endswith(
        "malware/my-c2.yml:4:11: category 'c2' does not match the folder 'malware' "
        "(rules live in <category>/<id>.yml)"
    )


def test_duplicate_feed_name_across_rules(tmp_path: Path) -> None:
    write(tmp_path, "c2/my-c2.yml", GOOD)
    write(
        tmp_path,
        "c2/my-c3.yml",
        GOOD.replace("id: my-c2", "id: my-c3").replace(
            "feed_name: My C2", "feed_name: Other\nextra_feed_names: [my c2]"
        ),
    )

    error = only_error(tmp_path)

    assert "c2/my-c3.yml:1:5: duplicate feed name 'my c2'; also used by rule 'my-c2'" in str(error)


def test_unparsable_query_has_caret_and_position(tmp_path: Path) -> None:
    bad = GOOD.replace('query: http.title:"My C2 Login"', 'query: "host.services: (port: 80"')
    bad = bad.replace("engine: shodan\n    query", "engine: censys\n    query")
    bad = bad.replace("tests:", "tests: []\nx_unused:").split("tests: []")[0] + "tests: []\n"
    write(tmp_path, "c2/my-c2.yml", bad)

    error = only_error(tmp_path)

    text = str(error)
    first_line, query_line, caret_line = text.splitlines()
    assert first_line.startswith(f"{tmp_path / 'c2/my-c2.yml'}:9:")
    assert "censys query does not parse" in first_line
    assert query_line == "    host.services: (port: 80"
    assert caret_line.strip() == "^"
    column = int(first_line.split(":")[2])
    # The column in the file is the query's column (after the opening quote) plus the offset.
    assert column >= len('    query: "') + 1


def test_control_character_in_a_query_is_refused_with_its_place(tmp_path: Path) -> None:
    # A YAML escape puts a NUL in the query: the engines refuse it, and so would PostgreSQL.
    bad = GOOD.replace('query: http.title:"My C2 Login"', 'query: "http.title:My\\0C2"')
    bad = bad.replace("tests:", "tests: []\nx_unused:").split("tests: []")[0] + "tests: []\n"
    write(tmp_path, "c2/my-c2.yml", bad)

    error = only_error(tmp_path)

    assert "shodan query holds the control character U+0000 at offset 13" in str(error)
    assert str(error).startswith(f"{tmp_path / 'c2/my-c2.yml'}:9:")


def test_duplicate_query_in_a_rule(tmp_path: Path) -> None:
    text = GOOD.replace(
        "tests:",
        '  - engine: shodan\n    query: http.title:"My C2 Login"\n    fidelity: low\ntests:',
    )
    write(tmp_path, "c2/my-c2.yml", text)

    error = only_error(tmp_path)

    assert str(error).endswith(
        "c2/my-c2.yml:12:12: duplicate shodan query (same as the one on line 8)"
    )


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    write(tmp_path, "c2/my-c2.yml", GOOD.replace("kind: framework", "kind: framework\nkind: rat"))

    error = only_error(tmp_path)

    assert str(error).endswith("c2/my-c2.yml:6:1: duplicate key 'kind' (first on line 5)")


def test_test_case_for_engine_without_queries(tmp_path: Path) -> None:
    text = GOOD.replace("  - engine: shodan\n    expect", "  - engine: censys\n    expect")
    write(tmp_path, "c2/my-c2.yml", text)

    error = only_error(tmp_path)

    assert "c2/my-c2.yml:12:13: test case for engine 'censys'" in str(error)


def test_collect_all_reports_every_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        "c2/a-one.yml",
        GOOD.replace("id: my-c2", "id: a-one").replace(
            "feed_name: My C2", "feed_name: A\ncolour: red"
        ),
    )
    write(tmp_path, "c2/b-two.yml", "id: b-two\nname: [unclosed\n")
    write(
        tmp_path,
        "tool/c-three.yml",
        GOOD.replace("id: my-c2", "id: c-three")
        .replace("category: c2", "category: tool")
        .replace("fidelity: medium", "fidelity: great"),
    )
    write(tmp_path, "botnet/d-four.yml", GOOD.replace("id: my-c2", "id: wrong"))

    with pytest.raises(RuleSetError) as info:
        load_rules(tmp_path, collect_errors=True)

    files = sorted({Path(str(e.location.path)).name for e in info.value.errors if e.location})
    assert files == ["a-one.yml", "b-two.yml", "c-three.yml", "d-four.yml"]
    assert all(e.location and e.location.line for e in info.value.errors)


def test_fail_fast_is_the_default(tmp_path: Path) -> None:
    write(tmp_path, "c2/b-two.yml", "id: b-two\nname: [unclosed\n")
    write(tmp_path, "c2/c-three.yml", "- just a list\n")

    error = only_error(tmp_path)

    assert not isinstance(error, RuleSetError)
    assert "b-two.yml" in str(error)


def test_not_a_mapping(tmp_path: Path) -> None:
    write(tmp_path, "c2/c-three.yml", "- just a list\n")

    error = only_error(tmp_path)

    assert str(error).endswith(
        "c-three.yml:1:1: a rule file must be a YAML mapping (id:, name:, queries: …)"
    )


def _all_messages(root: Path) -> list[str]:
    with pytest.raises(RuleSetError) as info:
        load_rules(root, collect_errors=True)
    return sorted(str(error) for error in info.value.errors)


@pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="PyYAML built without libyaml")
def test_libyaml_and_pure_python_composition_place_errors_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Non-ASCII text before the query: libyaml's marks count characters like PyYAML's, and the
    # caret column is computed from the file text when a mark carries no buffer.
    bad_query = GOOD.replace("description: A test family.", "description: Vshell - 登录 panel.")
    bad_query = bad_query.replace(
        'query: http.title:"My C2 Login"', "query: 'http.title:\"登录\" port:80,'"
    )
    write(tmp_path, "c2/my-c2.yml", bad_query)
    write(tmp_path, "c2/b-two.yml", GOOD.replace("id: my-c2", "id: b-two") + "colour: red\n")
    write(tmp_path, "tool/my-c2.yml", GOOD.replace("category: c2", "category: tool"))
    write(tmp_path, "c2/c-three.yml", "id: c-three\nname: [unclosed\n")

    fast = _all_messages(tmp_path)
    monkeypatch.setattr(loader, "_ComposeLoader", yaml.SafeLoader)
    slow = _all_messages(tmp_path)

    assert loader._ComposeLoader is yaml.SafeLoader
    assert [m.split(": ", 1)[0] for m in fast] == [m.split(": ", 1)[0] for m in slow]
    caret = next(m for m in fast if "does not parse" in m)
    line, column = (int(part) for part in caret.split(":")[1:3])
    assert line == 9 and column > len("    query: '") + len('http.title:"登录"')
