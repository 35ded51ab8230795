"""`c2tracker query` commands: parse queries in the Shodan, CenQL and legacy Censys languages.

``query parse ENGINE QUERY`` prints the syntax tree a query parses into, indented or as JSON;
``query parse ENGINE --file F`` checks a file of queries, one a line. Queries and their parts
are printed through :mod:`c2tracker.textsafety`: they are often pasted from the internet.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from c2tracker.cli import err_console, fail
from c2tracker.errors import QuerySyntaxError
from c2tracker.querylang import parse_query
from c2tracker.querylang._common import line_column
from c2tracker.querylang.ast import (
    And,
    AnyOf,
    Engine,
    Exists,
    Field,
    FullText,
    Nested,
    Node,
    Not,
    Or,
    Query,
    Quote,
    Range,
    Regex,
    Text,
    Value,
)
from c2tracker.textsafety import for_terminal

query_app = typer.Typer(
    name="query",
    help="Query-language tools: parse Shodan, CenQL and legacy Censys queries.",
    no_args_is_help=True,
)

#: What ``query parse`` shows for a query given on the command line instead of in a file.
ARGUMENT_NAME = "<query>"

# Control characters other than newline, replaced one-for-one so the caret stays aligned.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def register(app: typer.Typer) -> None:
    """Adds this module's commands to the main app."""
    app.add_typer(query_app)


@query_app.command("parse")
def parse_command(
    engine: Annotated[
        str, typer.Argument(metavar="ENGINE", help="shodan, censys (CenQL) or censys-legacy")
    ],
    query: Annotated[
        str | None, typer.Argument(metavar="QUERY", help="the query (quote it for the shell)")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="check a file: one query a line, '#' comments"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a tree")] = False,
) -> None:
    """Parse a query and print its syntax tree, or check every query in a file."""
    chosen = _engine(engine)
    if (query is None) == (file is None):
        raise fail("give either a QUERY or --file F")

    if file is not None:
        failed = _check_file(chosen, file, as_json=as_json)
        raise typer.Exit(1 if failed else 0)

    assert query is not None
    try:
        parsed = parse_query(chosen, query)
    except QuerySyntaxError as exc:
        _print_error(ARGUMENT_NAME, exc)
        raise typer.Exit(2) from None

    if as_json:
        print(json.dumps(query_to_json(parsed), ensure_ascii=False, indent=2))
    else:
        print(for_terminal(render_tree(parsed.root)))


def _engine(name: str) -> Engine:
    try:
        return Engine(name)
    except ValueError:
        choices = ", ".join(engine.value for engine in Engine)
        raise fail(f"unknown engine {name!r}; expected one of {choices}") from None


def _check_file(engine: Engine, path: Path, *, as_json: bool) -> int:
    """Prints one result a query line; returns how many queries failed."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise fail(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise fail(f"{path}: not UTF-8 text (byte offset {exc.start})") from None

    checked = failed = 0
    # split("\n") rather than splitlines(), so line numbers match what editors show.
    for number, line in enumerate(text.split("\n"), start=1):
        query = line.removesuffix("\r")
        if not query.strip() or query.lstrip().startswith("#"):
            continue
        checked += 1
        try:
            parsed = parse_query(engine, query)
        except QuerySyntaxError as exc:
            failed += 1
            column = (exc.position or 0) + 1
            if as_json:
                _print_json_line({"line": number, "ok": False, "column": column,
                                  "error": exc.message})  # fmt: skip
            else:
                where = f"{path}:{number}:{column}"
                print(for_terminal(f"{where}: {exc.message}"))
            continue
        if as_json:
            _print_json_line({"line": number, "ok": True, "tree": query_to_json(parsed)["root"]})
        else:
            print("ok")

    err_console.print(
        for_terminal(f"{checked} queries checked, {failed} failed"), markup=False, highlight=False
    )
    return failed


def _print_json_line(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, ensure_ascii=False))


def _print_error(name: str, exc: QuerySyntaxError) -> None:
    position = exc.position or 0
    line, column = line_column(exc.query, position)
    caret = _CONTROL.sub("\ufffd", exc.caret())
    message = f"{name}:{line}:{column}: {exc.message}\n" + "\n".join(
        "  " + row for row in caret.split("\n")
    )
    err_console.print(for_terminal(message), markup=False, highlight=False, soft_wrap=True)


# --- rendering ----------------------------------------------------------------------------------


def render_tree(node: Node, indent: int = 0) -> str:
    """The tree as indented lines: one node a line, children two spaces further in."""
    pad = "  " * indent
    span = _span_text(node)
    if isinstance(node, And | Or):
        label = "and" if isinstance(node, And) else "or"
        lines = [f"{pad}{label}"] + [render_tree(child, indent + 1) for child in node.children]
        return "\n".join(lines)
    if isinstance(node, Not):
        return f"{pad}not\n{render_tree(node.child, indent + 1)}"
    if isinstance(node, Nested):
        return f"{pad}nested {node.name}{span}\n{render_tree(node.body, indent + 1)}"
    if isinstance(node, Field):
        return f"{pad}field {node.name} {node.op.value} {render_value(node.value)}{span}"
    return f"{pad}text {render_value(node.value)}{span}"


def render_value(value: Value) -> str:
    """A value written back in a readable, unambiguous form."""
    if isinstance(value, Text):
        notes = [] if value.quote is Quote.NONE else [value.quote.value]
        if value.wildcard:
            notes.append("wildcard")
        suffix = f" ({', '.join(notes)})" if notes else ""
        return json.dumps(value.value, ensure_ascii=False) + suffix
    if isinstance(value, Regex):
        return f"regex {json.dumps(value.pattern, ensure_ascii=False)}"
    if isinstance(value, AnyOf):
        return "any of {" + ", ".join(render_value(v) for v in value.values) + "}"
    if isinstance(value, Range):
        low = "*" if value.low is None else render_value(value.low)
        high = "*" if value.high is None else render_value(value.high)
        opening = "[" if value.include_low else "{"
        closing = "]" if value.include_high else "}"
        return f"range {opening}{low} TO {high}{closing}"
    return "* (exists)"


def _span_text(node: Node) -> str:
    span = getattr(node, "span", None)
    return "" if span is None else f"  @{span.start}-{span.end}"


def query_to_json(query: Query) -> dict[str, Any]:
    """A JSON-ready form of a parsed query."""
    return {"engine": query.engine.value, "text": query.text, "root": node_to_json(query.root)}


def node_to_json(node: Node) -> dict[str, Any]:
    """A JSON-ready form of one node and everything under it."""
    if isinstance(node, And | Or):
        kind = "and" if isinstance(node, And) else "or"
        return {"type": kind, "children": [node_to_json(child) for child in node.children]}
    if isinstance(node, Not):
        return {"type": "not", "child": node_to_json(node.child)}

    out: dict[str, Any]
    if isinstance(node, Nested):
        out = {"type": "nested", "name": node.name, "body": node_to_json(node.body)}
    elif isinstance(node, Field):
        out = {"type": "field", "name": node.name, "op": node.op.value}
        out["value"] = value_to_json(node.value)
    else:
        assert isinstance(node, FullText)
        out = {"type": "fulltext", "value": value_to_json(node.value)}
    if node.span is not None:
        out["span"] = [node.span.start, node.span.end]
    return out


def value_to_json(value: Value) -> dict[str, Any]:
    """A JSON-ready form of a value."""
    if isinstance(value, Text):
        return {
            "type": "text",
            "value": value.value,
            "quote": value.quote.value,
            "wildcard": value.wildcard,
        }
    if isinstance(value, Regex):
        return {"type": "regex", "pattern": value.pattern}
    if isinstance(value, AnyOf):
        return {"type": "any_of", "values": [value_to_json(v) for v in value.values]}
    if isinstance(value, Range):
        return {
            "type": "range",
            "low": None if value.low is None else value_to_json(value.low),
            "high": None if value.high is None else value_to_json(value.high),
            "include_low": value.include_low,
            "include_high": value.include_high,
        }
    assert isinstance(value, Exists)
    return {"type": "exists"}
