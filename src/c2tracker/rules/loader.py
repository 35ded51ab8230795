"""Loading rule files: YAML → validated :class:`Rule` objects, with every error placed.

Each file is composed into a PyYAML node tree first, so that a pydantic error location such as
``("queries", 2, "engine")`` can be walked back to the node it came from and reported as
``rules/c2/sliver.yml:14:13: unknown engine 'zoomeye'``. Checks that span files (duplicate ids,
duplicate feed names) and every query's parse happen after the schema, in the same pass.

By default the first problem raises; ``collect_errors=True`` gathers every problem of every file
into one :class:`RuleSetError`, which is what ``c2tracker rules validate`` prints.

Speed: composing is most of the work, so libyaml's parser (``yaml.CSafeLoader``) is used when
PyYAML was built with it; its nodes carry the same marks (line, column and character index),
and a query's caret is placed from the file text when the mark holds no buffer. Each rule's
``id`` location is kept from this one composition, so the cross-file checks read nothing again.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from c2tracker.errors import C2TrackerError, Location, QuerySyntaxError, RuleError, RuleSetError
from c2tracker.model import Category
from c2tracker.querylang import parse_query
from c2tracker.querylang.ast import Engine
from c2tracker.rules.model import Rule, RuleQuery

__all__ = ["RuleSet", "default_rules_dir", "iter_rule_files", "load_rules"]

log = logging.getLogger(__name__)

RULE_SUFFIXES = (".yml", ".yaml")


def default_rules_dir() -> Path:
    """The bundled corpus: ``c2tracker/_corpus`` in a wheel, the repository's ``rules/`` else.

    The ``rules_dir`` setting overrides this; the CLI passes it explicitly.
    """
    packaged = Path(__file__).resolve().parent.parent / "_corpus"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "rules"


@dataclass
class RuleSet:
    """The loaded rules, in file order, with lookup by id."""

    rules: list[Rule] = field(default_factory=list)
    root: Path | None = None

    def __post_init__(self) -> None:
        self._by_id = {rule.id: rule for rule in self.rules}

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._by_id

    def get(self, rule_id: str) -> Rule | None:
        return self._by_id.get(rule_id)

    def by_feed_name(self) -> dict[str, Rule]:
        """Every published feed name (main and extra) → its rule."""
        return {name: rule for rule in self.rules for name in rule.feed_names}


def iter_rule_files(path: Path) -> list[Path]:
    """Rule files under ``path`` (a file or a folder, searched recursively), sorted."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise RuleError(f"no such rule file or folder: {path}")
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in RULE_SUFFIXES)


def load_rules(
    path: Path | Sequence[Path] | None = None, *, collect_errors: bool = False
) -> RuleSet:
    """Loads and validates the rules in ``path`` (default: :func:`default_rules_dir`).

    ``path`` may be one folder, one file, or several of either. Raises the first
    :class:`RuleError` found, or with ``collect_errors`` a :class:`RuleSetError` holding all.
    """
    roots = [default_rules_dir()] if path is None else _as_paths(path)
    collector = _Collector(collect=collect_errors)
    rules: list[Rule] = []
    id_locations: dict[int, Location] = {}

    for root in roots:
        try:
            files = iter_rule_files(root)
        except RuleError as exc:
            collector.add(exc)
            continue
        for file in files:
            rule = _load_file(file, root if root.is_dir() else None, collector, id_locations)
            if rule is not None:
                rules.append(rule)

    _check_across_files(rules, collector, id_locations)
    collector.finish()
    log.debug("loaded %d rules from %s", len(rules), ", ".join(map(str, roots)))
    return RuleSet(rules, roots[0] if len(roots) == 1 and roots[0].is_dir() else None)


def _as_paths(path: Path | Sequence[Path]) -> list[Path]:
    if isinstance(path, str | Path):
        return [Path(path)]
    return [Path(p) for p in path]


class _Collector:
    """Raises at once, or gathers, depending on the mode."""

    def __init__(self, *, collect: bool) -> None:
        self.collect = collect
        self.errors: list[C2TrackerError] = []

    def add(self, error: C2TrackerError) -> None:
        if not self.collect:
            raise error
        self.errors.append(error)

    def finish(self) -> None:
        if self.errors:
            raise RuleSetError(self.errors)


# --- one file -------------------------------------------------------------------------------


#: libyaml's parser when PyYAML has it (about six times faster), else the pure-Python one.
#: Both give nodes with marks; duplicate keys are found by :func:`_duplicate_keys`.
_ComposeLoader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)


def _mark_location(path: Path, mark: yaml.Mark | None) -> Location:
    if mark is None:
        return Location(str(path))
    return Location(str(path), mark.line + 1, mark.column + 1)


def _compose(path: Path, text: str) -> yaml.Node | None:
    loader = _ComposeLoader(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
        return node
    finally:
        loader.dispose()


def _construct(node: yaml.Node) -> Any:
    """Python objects from a composed node (the safe constructor, no parser needed)."""
    return yaml.constructor.SafeConstructor().construct_document(node)


def _duplicate_keys(path: Path, node: yaml.Node) -> Iterator[RuleError]:
    """YAML allows a key twice and PyYAML keeps the last; a rule file must not."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, yaml.Node] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    first = seen[key.value].start_mark.line + 1
                    yield RuleError(
                        f"duplicate key {key.value!r} (first on line {first})",
                        location=_mark_location(path, key.start_mark),
                    )
                seen.setdefault(key.value, key)
            yield from _duplicate_keys(path, value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _duplicate_keys(path, item)


def _load_file(
    path: Path, root: Path | None, collector: _Collector, id_locations: dict[int, Location]
) -> Rule | None:
    """One rule file, or None after reporting its problems; notes where its ``id`` is written
    in ``id_locations`` (by ``id()`` of the rule: rules are frozen models)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        collector.add(RuleError(f"cannot read rule file: {exc}", location=Location(str(path))))
        return None

    try:
        node = _compose(path, text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        collector.add(
            RuleError(f"YAML syntax error: {problem}", location=_mark_location(path, mark))
        )
        return None
    except yaml.YAMLError as exc:
        collector.add(RuleError(f"YAML error: {exc}", location=Location(str(path))))
        return None

    if node is None or not isinstance(node, yaml.MappingNode):
        collector.add(
            RuleError(
                "a rule file must be a YAML mapping (id:, name:, queries: …)",
                location=_mark_location(path, node.start_mark if node else None),
            )
        )
        return None

    problems = list(_duplicate_keys(path, node))
    data = _construct(node)
    rule: Rule | None = None
    try:
        rule = Rule.model_validate(data)
    except ValidationError as exc:
        problems.extend(_schema_errors(path, node, exc))

    if rule is not None:
        rule._path = path
        id_node, _ = _node_at(node, ("id",))
        id_locations[id(rule)] = _mark_location(path, id_node.start_mark)
        problems.extend(_check_rule(path, node, rule, root, text))

    for found in problems:
        collector.add(found)
    return rule if not problems else None


# --- schema errors --------------------------------------------------------------------------


def _child(node: yaml.Node, key: str | int) -> tuple[yaml.Node | None, yaml.Node | None]:
    """The (key node, value node) under ``node`` for a pydantic location part."""
    if isinstance(node, yaml.MappingNode) and isinstance(key, str):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return key_node, value_node
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        return None, node.value[key]
    return None, None


def _node_at(node: yaml.Node, loc: Iterable[str | int]) -> tuple[yaml.Node, yaml.Node | None]:
    """The deepest node along ``loc`` and, when the last step was a key, that key's node."""
    current: yaml.Node = node
    key_node: yaml.Node | None = None
    for part in loc:
        found_key, found = _child(current, part)
        if found is None:
            break
        current, key_node = found, found_key
    return current, key_node


def _schema_errors(path: Path, root: yaml.Node, exc: ValidationError) -> Iterator[RuleError]:
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        node, key_node = _node_at(root, loc)
        if error["type"] == "extra_forbidden" and key_node is not None:
            node = key_node
        yield RuleError(_schema_message(error, loc), location=_mark_location(path, node.start_mark))


def _schema_message(error: ErrorDetails, loc: tuple[str | int, ...]) -> str:
    where = ".".join(str(part) for part in loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        return f"unknown key {loc[-1]!r}{suggestion}"
    if kind == "missing":
        return f"missing required key {loc[-1]!r}" + (f" in {where}" if len(loc) > 1 else "")
    if loc and loc[-1] == "engine" and kind == "enum":
        value = error.get("input")
        engines = ", ".join(engine.value for engine in Engine)
        return f"unknown engine {value!r}; expected one of {engines}"
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _allowed_keys(loc: tuple[str | int, ...]) -> list[str]:
    from c2tracker.rules.model import RuleTest

    names = [part for part in loc if isinstance(part, str)]
    model: type[Rule] | type[RuleQuery] | type[RuleTest] = Rule
    if names[-1:] == ["queries"]:
        model = RuleQuery
    elif names[-1:] == ["tests"]:
        model = RuleTest
    return list(model.model_fields)


# --- checks inside one rule -----------------------------------------------------------------


def _check_rule(
    path: Path, node: yaml.Node, rule: Rule, root: Path | None, text: str
) -> list[RuleError]:
    problems: list[RuleError] = []

    def at(*loc: str | int) -> Location:
        found, _ = _node_at(node, loc)
        return _mark_location(path, found.start_mark)

    if rule.id != path.stem:
        problems.append(
            RuleError(
                f"id {rule.id!r} must equal the file name stem {path.stem!r}", location=at("id")
            )
        )

    folder = path.parent.name
    folder_is_category = folder in {c.value for c in Category}
    if (root is not None or folder_is_category) and folder != rule.category.value:
        problems.append(
            RuleError(
                f"category {rule.category.value!r} does not match the folder {folder!r} "
                f"(rules live in <category>/<id>.yml)",
                location=at("category"),
            )
        )

    seen: dict[tuple[Engine, str], int] = {}
    for index, query in enumerate(rule.queries):
        key = (query.engine, query.query.strip())
        if key in seen:
            first = at("queries", seen[key]).line
            problems.append(
                RuleError(
                    f"duplicate {query.engine.value} query (same as the one on line {first})",
                    location=at("queries", index, "query"),
                )
            )
        seen.setdefault(key, index)
        problems.extend(_check_query(path, node, index, query, text))

    engines = set(rule.engines)
    for index, test in enumerate(rule.tests):
        if test.engine not in engines:
            problems.append(
                RuleError(
                    f"test case for engine {test.engine.value!r}, but the rule has no "
                    f"{test.engine.value} query",
                    location=at("tests", index, "engine"),
                )
            )
    return problems


#: Control characters a query may not hold (tab, line feed and carriage return are
#: whitespace to the parsers). A YAML escape such as ``"\0"`` puts them there by mistake; the
#: engines refuse them and PostgreSQL text cannot hold NUL.
_QUERY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _check_query(
    path: Path, node: yaml.Node, index: int, query: RuleQuery, text: str
) -> list[RuleError]:
    control = _QUERY_CONTROL.search(query.query)
    if control is not None:
        scalar, _ = _node_at(node, ("queries", index, "query"))
        return [
            RuleError(
                f"{query.engine.value} query holds the control character "
                f"U+{ord(control.group()):04X} at offset {control.start()}",
                location=_query_location(path, scalar, query.query, control.start(), text),
            )
        ]
    try:
        parse_query(query.engine, query.query)
    except QuerySyntaxError as exc:
        scalar, _ = _node_at(node, ("queries", index, "query"))
        location = _query_location(path, scalar, query.query, exc.position, text)
        caret = "\n".join("    " + line for line in exc.caret().splitlines())
        return [
            RuleError(
                f"{query.engine.value} query does not parse: {exc.message}\n{caret}",
                location=location,
            )
        ]
    return []


def _query_location(
    path: Path, scalar: yaml.Node, text: str, position: int | None, source: str
) -> Location:
    """The file position of the query's offending character when the scalar is on one line.

    Plain and quoted one-line scalars map offsets directly (quoted ones after the opening
    quote, as long as no escape changed the length); anything else points at the scalar.
    ``source`` is the file's text: libyaml's marks carry character indexes but no buffer.
    """
    start = scalar.start_mark
    base = _mark_location(path, start)
    if position is None or scalar.end_mark.line != start.line:
        return base
    buffer = start.buffer if start.buffer is not None else source
    raw = buffer[start.index : scalar.end_mark.index]
    if raw == text:
        offset = position
    elif len(raw) >= 2 and raw[0] in "'\"" and raw[1:-1] == text:
        offset = position + 1
    else:
        return base
    return Location(str(path), start.line + 1, start.column + 1 + offset)


# --- checks across files --------------------------------------------------------------------


def _check_across_files(
    rules: list[Rule], collector: _Collector, id_locations: dict[int, Location]
) -> None:
    """Duplicate ids and feed names; locations come from the one composition of each file."""

    def _rule_location(rule: Rule) -> Location:
        return id_locations.get(id(rule)) or Location(str(rule.path or f"<rule {rule.id}>"))

    by_id: dict[str, Rule] = {}
    by_feed: dict[str, Rule] = {}
    for rule in rules:
        location = _rule_location(rule)
        if rule.id in by_id:
            collector.add(
                RuleError(
                    f"duplicate rule id {rule.id!r}; also defined in "
                    f"{_rule_location(by_id[rule.id])}",
                    location=location,
                )
            )
        by_id.setdefault(rule.id, rule)

        for name in rule.feed_names:
            other = by_feed.get(name.casefold())
            if other is not None and other is not rule:
                collector.add(
                    RuleError(
                        f"duplicate feed name {name!r}; also used by rule {other.id!r} in "
                        f"{_rule_location(other)}",
                        location=location,
                    )
                )
            by_feed.setdefault(name.casefold(), rule)
