"""`c2tracker rules` commands: list, show, validate, test and scaffold rule files.

Everything printed from a rule goes through :mod:`c2tracker.textsafety` first: rule files are
contributed by outsiders and test records hold banner text copied from the internet.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from c2tracker.cli import err_console, fail, get_state, out_console
from c2tracker.errors import C2TrackerError, QuerySyntaxError, RuleError, RuleSetError
from c2tracker.model import Category, Fidelity
from c2tracker.querylang import parse_query
from c2tracker.querylang.ast import Engine
from c2tracker.rules import Kind, Rule, RuleSet, Status, default_rules_dir, load_rules
from c2tracker.rules.testing import RuleTestResult, run_rule_tests
from c2tracker.textsafety import for_terminal, for_terminal_line

rules_app = typer.Typer(
    name="rules",
    help="Rule corpus tools: list, show, validate, test and create rules.",
    no_args_is_help=True,
)

RulesDirOption = Annotated[
    Path | None,
    typer.Option(
        "--rules", help="rule folder (default: the rules_dir setting or the bundled corpus)"
    ),
]

#: Skeleton records written by ``rules new``: the smallest record of each engine's shape
#: (shodan.md §2, censys.md §3.1-3.2) for the contributor to complete.
SKELETON_RECORDS: dict[Engine, dict[str, Any]] = {
    Engine.SHODAN: {"ip_str": "203.0.113.10", "port": 443, "transport": "tcp"},
    Engine.CENSYS: {
        "ip": "198.51.100.10",
        "services": [{"port": 443, "protocol": "HTTP", "transport_protocol": "tcp"}],
    },
    Engine.CENSYS_LEGACY: {
        "ip": "192.0.2.10",
        "services": [{"port": 443, "service_name": "HTTP", "transport_protocol": "TCP"}],
    },
}


def register(app: typer.Typer) -> None:
    """Adds this module's commands to the main app."""
    app.add_typer(rules_app)


def _rules_dir(ctx: typer.Context, override: Path | None) -> Path:
    if override is not None:
        return override
    configured = get_state(ctx).settings.rules_dir
    return configured if configured is not None else default_rules_dir()


def _safe(text: str) -> str:
    return for_terminal_line(text)


# --- list -----------------------------------------------------------------------------------


@rules_app.command("list")
def list_rules(
    ctx: typer.Context,
    rules_dir: RulesDirOption = None,
    category: Annotated[Category | None, typer.Option(help="only this category")] = None,
    engine: Annotated[Engine | None, typer.Option(help="only rules with a query for it")] = None,
    status: Annotated[Status | None, typer.Option(help="only rules with this status")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON array on stdout")] = False,
) -> None:
    """Lists the rules of the corpus."""
    ruleset = load_rules(_rules_dir(ctx, rules_dir))
    selected = [
        rule
        for rule in ruleset
        if (category is None or rule.category is category)
        and (engine is None or engine in rule.engines)
        and (status is None or rule.status is status)
    ]

    if as_json:
        rows = [
            {
                "id": rule.id,
                "name": rule.name,
                "feed_name": rule.feed_name,
                "category": rule.category.value,
                "kind": rule.kind.value,
                "status": rule.status.value,
                "dual_use": rule.dual_use,
                "engines": [e.value for e in rule.engines],
                "queries": len(rule.queries),
            }
            for rule in selected
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return

    table = Table(title=f"{len(selected)} rule(s)")
    for column in ("id", "name", "category", "kind", "status", "engines", "#queries"):
        table.add_column(
            column,
            justify="right" if column == "#queries" else "left",
            no_wrap=column == "id",
        )
    for rule in selected:
        table.add_row(
            _safe(rule.id),
            _safe(rule.name),
            rule.category.value,
            rule.kind.value,
            rule.status.value,
            ", ".join(e.value for e in rule.engines) or "-",
            str(len(rule.queries)),
        )
    out_console.print(table)


# --- show -----------------------------------------------------------------------------------


@rules_app.command("show")
def show_rule(
    ctx: typer.Context,
    rule_id: Annotated[str, typer.Argument(metavar="ID", help="rule id")],
    rules_dir: RulesDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="the rule as JSON on stdout")] = False,
) -> None:
    """Shows every field of one rule, its queries with their fidelity, and its test cases."""
    ruleset = load_rules(_rules_dir(ctx, rules_dir))
    rule = ruleset.get(rule_id)
    if rule is None:
        raise fail(f"no rule with id {rule_id!r} ({len(ruleset)} rules loaded)")

    if as_json:
        print(json.dumps(rule.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return

    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    rows: list[tuple[str, str]] = [
        ("id", rule.id),
        ("name", rule.name),
        ("feed name", ", ".join(rule.feed_names)),
        ("category", rule.category.value),
        ("kind", rule.kind.value),
        ("status", rule.status.value),
        ("dual use", "yes" if rule.dual_use else "no"),
        ("description", rule.description),
        ("aliases", ", ".join(rule.aliases)),
        ("malpedia", ", ".join(rule.malpedia)),
        ("mitre", ", ".join(rule.mitre)),
        ("authors", ", ".join(rule.authors)),
        ("references", "\n".join(rule.references)),
        ("file", str(rule.path) if rule.path else "-"),
    ]
    for label, value in rows:
        fields.add_row(label, for_terminal(value) or "-")
    out_console.print(fields)

    queries = Table(title="queries")
    for column in ("engine", "fidelity", "query", "note"):
        queries.add_column(column, overflow="fold")
    for query in rule.queries:
        queries.add_row(
            query.engine.value, query.fidelity.value, _safe(query.query), _safe(query.note)
        )
    out_console.print(queries)

    counts = Counter((t.engine.value, t.expect) for t in rule.tests)
    summary = ", ".join(f"{engine} {expect}: {n}" for (engine, expect), n in sorted(counts.items()))
    out_console.print(f"test cases: {len(rule.tests)}" + (f" ({summary})" if summary else ""))


# --- validate -------------------------------------------------------------------------------


@rules_app.command("validate")
def validate(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="PATH",
            help="rule files or folders (default: the corpus)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Checks rule files: schema, ids, feed names, and that every query parses.

    Reports every problem as file:line:col (exit 2), or prints counts (exit 0).
    """
    targets: list[Path] = list(paths) if paths else [_rules_dir(ctx, None)]
    try:
        ruleset = load_rules(targets, collect_errors=True)
    except RuleSetError as exc:
        for error in exc.errors:
            err_console.print(
                for_terminal(str(error)), markup=False, highlight=False, soft_wrap=True
            )
        files = {e.location.path for e in exc.errors if e.location is not None}
        raise fail(f"{len(exc.errors)} problem(s) in {len(files)} file(s)") from None

    engines = Counter(q.engine.value for rule in ruleset for q in rule.queries)
    tests = sum(len(rule.tests) for rule in ruleset)
    per_engine = ", ".join(f"{engine} {engines.get(engine.value, 0)}" for engine in Engine)
    err_console.print(
        f"ok: {len(ruleset)} rules, {sum(engines.values())} queries ({per_engine}), "
        f"{tests} test cases",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


# --- test -----------------------------------------------------------------------------------


@rules_app.command("test")
def test_rules(
    ctx: typer.Context,
    ids: Annotated[
        list[str] | None, typer.Argument(metavar="ID", help="rule ids (default: all)")
    ] = None,
    rules_dir: RulesDirOption = None,
    show_all: Annotated[bool, typer.Option("--all", help="list passing cases too")] = False,
) -> None:
    """Runs the rules' test cases through the offline evaluator; exit 1 if any fails."""
    ruleset = load_rules(_rules_dir(ctx, rules_dir))
    results = run_rule_tests(ruleset, ids or None)
    failures = [r for r in results if not r.passed]
    shown = results if show_all else failures

    if shown:
        out_console.print(_results_table(shown, ruleset))
    by_engine = Counter(r.engine.value for r in results)
    per_engine = ", ".join(f"{e} {n}" for e, n in sorted(by_engine.items()))
    err_console.print(
        f"{len(results) - len(failures)} passed, {len(failures)} failed "
        f"({len(results)} cases: {per_engine or 'none'})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if failures:
        raise typer.Exit(1)


def _results_table(results: list[RuleTestResult], ruleset: RuleSet) -> Table:
    table = Table(title="rule test cases")
    for column in ("case", "engine", "expect", "result", "detail"):
        table.add_column(column, overflow="fold")
    for result in results:
        if result.error:
            detail = result.error
        elif result.matched_queries:
            detail = "matched: " + " | ".join(result.matched_queries)
        else:
            detail = result.note or "no query matched"
        rule = ruleset.get(result.rule_id)
        where = f" ({rule.path})" if rule is not None and rule.path is not None else ""
        table.add_row(
            _safe(result.label) + _safe(where),
            result.engine.value,
            result.expect,
            "[green]pass[/]" if result.passed else "[red]FAIL[/]",
            _safe(detail),
        )
    return table


# --- new ------------------------------------------------------------------------------------


@rules_app.command("new")
def new_rule(
    ctx: typer.Context,
    rule_id: Annotated[str | None, typer.Option("--id", help="rule id (slug)")] = None,
    name: Annotated[str | None, typer.Option(help="family name")] = None,
    category: Annotated[Category | None, typer.Option(help="category")] = None,
    kind: Annotated[Kind | None, typer.Option(help="kind of software")] = None,
    engine: Annotated[Engine | None, typer.Option(help="engine of the first query")] = None,
    query: Annotated[str | None, typer.Option(help="the first query")] = None,
    fidelity: Annotated[Fidelity | None, typer.Option(help="fidelity of the query")] = None,
    feed_name: Annotated[str | None, typer.Option(help="feed file stem (default: name)")] = None,
    description: Annotated[str | None, typer.Option(help="one-sentence description")] = None,
    author: Annotated[str | None, typer.Option(help="your name or handle")] = None,
    rules_dir: RulesDirOption = None,
) -> None:
    """Writes a new rule file with a test-case skeleton; asks for anything not given."""
    root = _rules_dir(ctx, rules_dir)
    rule_id = rule_id or typer.prompt("rule id (lower-case slug, e.g. my-c2)")
    name = name or typer.prompt("family name")
    category = category or Category(_ask_choice("category", Category, Category.C2))
    kind = kind or Kind(_ask_choice("kind", Kind, Kind.FRAMEWORK))
    engine = engine or Engine(_ask_choice("engine", Engine, Engine.SHODAN))
    query = query or typer.prompt("query")
    fidelity = fidelity or Fidelity(_ask_choice("fidelity", Fidelity, Fidelity.MEDIUM))
    feed_name = feed_name or name
    if description is None:
        description = typer.prompt("description", default=f"{name}.")
    if author is None:
        author = typer.prompt("author (credit)", default="")

    try:
        parse_query(engine, query)
    except QuerySyntaxError as exc:
        raise fail(f"{engine.value} query does not parse: {exc.message}\n{exc.caret()}") from None

    data: dict[str, Any] = {
        "id": rule_id,
        "name": name,
        "feed_name": feed_name,
        "category": category.value,
        "kind": kind.value,
        "status": Status.TEST.value,
        "dual_use": False,
        "description": description,
        "aliases": [],
        "authors": [author] if author else [],
        "references": [],
        "queries": [
            {
                "engine": engine.value,
                "query": query,
                "fidelity": fidelity.value,
                "note": "what this query keys on",
            }
        ],
        "tests": [
            {
                "engine": engine.value,
                "expect": "match",
                "record": SKELETON_RECORDS[engine],
                "note": "fill in the fields the query needs (rules test fails until then)",
            },
            {
                "engine": engine.value,
                "expect": "no-match",
                "record": SKELETON_RECORDS[engine],
                "note": "a look-alike that must not match",
            },
        ],
    }
    try:
        Rule.model_validate(data)
    except ValueError as exc:
        raise fail(f"the answers do not make a valid rule:\n{exc}") from None

    target = root / category.value / f"{rule_id}.yml"
    if target.exists():
        raise fail(f"{target} already exists; not overwriting it")
    _refuse_duplicates(root, rule_id, feed_name)

    target.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=4096)
    with target.open("x", encoding="utf-8") as handle:
        handle.write(text)
    load_rules(target)
    err_console.print(
        for_terminal(
            f"wrote {target}; complete the test records, then run: c2tracker rules test {rule_id}"
        ),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _ask_choice(
    label: str, enum: type[Category] | type[Kind] | type[Engine] | type[Fidelity], default: str
) -> str:
    """Prompts until the answer is one of the enum's values."""
    choices = [member.value for member in enum]
    while True:
        answer = str(typer.prompt(f"{label} ({', '.join(choices)})", default=str(default)))
        if answer in choices:
            return answer
        err_console.print(f"not one of: {', '.join(choices)}", markup=False, highlight=False)


def _refuse_duplicates(root: Path, rule_id: str, feed_name: str) -> None:
    if not root.is_dir():
        return
    try:
        existing = load_rules(root)
    except C2TrackerError:
        # A broken corpus is reported by `rules validate`; only ids and names matter here.
        return
    if rule_id in existing:
        raise RuleError(f"rule id {rule_id!r} already exists in {root}")
    taken = {name.casefold() for name in existing.by_feed_name()}
    if feed_name.casefold() in taken:
        raise RuleError(f"feed name {feed_name!r} is already used in {root}")
