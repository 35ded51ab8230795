"""Plumbing the three query-language parsers share.

Each language has a lark grammar file beside its module; this module loads those grammars,
runs the LALR parser, turns every lark failure into a :class:`QuerySyntaxError` whose message
says what was expected where, bounds the nesting depth, and undoes quoting.

Why a nesting bound: lark's LALR parser keeps its stack in a list, so ``'(' * 5000`` does not
overflow the interpreter stack while parsing, but the tree it builds would then be walked
recursively by the converters here, by the offline evaluator and by ``dataclasses`` equality.
:data:`MAX_NESTING` keeps every tree shallow enough for all of those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import TerminalDef

from c2tracker.errors import QuerySyntaxError
from c2tracker.querylang.ast import Quote

#: Decision: the deepest nesting of parentheses, nested blocks and ``not``/``-`` a query may use.
#: No published hunting query goes past 3; 64 leaves room while keeping every recursive walk of
#: the tree far from Python's recursion limit.
MAX_NESTING = 64

#: Characters a quoted string may open with, and the :class:`Quote` each one means.
QUOTE_KINDS: Mapping[str, Quote] = {'"': Quote.DOUBLE, "'": Quote.SINGLE, "`": Quote.BACKTICK}


@dataclass(frozen=True, slots=True)
class Grammar:
    """A compiled grammar and how its terminals read in error messages."""

    engine: str
    parser: Lark
    describe: Mapping[str, str]
    nesting_rules: frozenset[str]


def load_grammar(
    filename: str,
    *,
    engine: str,
    describe: Mapping[str, str],
    nesting_rules: Iterable[str],
    edit_terminals: Callable[[TerminalDef], None] | None = None,
) -> Grammar:
    """Compiles the lark grammar ``filename`` that ships in this package."""
    text = resources.files("c2tracker.querylang").joinpath(filename).read_text("utf-8")
    parser = Lark(
        text,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        edit_terminals=edit_terminals,
    )
    return Grammar(engine, parser, describe, frozenset(nesting_rules))


def parse_tree(grammar: Grammar, text: str) -> Tree[Token]:
    """Runs the grammar's parser over ``text`` and checks the nesting depth.

    Raises:
        QuerySyntaxError: on an empty query, any lark error, or nesting past MAX_NESTING.
    """
    if not isinstance(text, str):
        raise QuerySyntaxError(
            f"a query must be text, not {type(text).__name__}", engine=grammar.engine, query=""
        )
    if not text.strip():
        raise QuerySyntaxError(
            "empty query: expected at least one search term",
            engine=grammar.engine,
            query=text,
            position=0,
        )

    try:
        tree = grammar.parser.parse(text)
    except UnexpectedInput as exc:
        raise _translate(grammar, text, exc) from None
    except LarkError as exc:  # lark's other errors carry no position
        raise QuerySyntaxError(
            f"cannot parse the query: {exc}", engine=grammar.engine, query=text, position=0
        ) from None

    check_nesting(grammar, text, tree)
    return tree


def check_nesting(grammar: Grammar, text: str, tree: Tree[Token]) -> None:
    """Rejects trees nested deeper than :data:`MAX_NESTING`, walking them without recursion."""
    stack: list[tuple[Tree[Token], int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if node.data in grammar.nesting_rules:
            depth += 1
            if depth > MAX_NESTING:
                raise QuerySyntaxError(
                    f"query nests deeper than {MAX_NESTING} levels of parentheses, nested "
                    "blocks or negations",
                    engine=grammar.engine,
                    query=text,
                    position=node.meta.start_pos,
                )
        stack.extend((child, depth) for child in node.children if isinstance(child, Tree))


def error_at(grammar: Grammar | str, text: str, position: int, message: str) -> QuerySyntaxError:
    """A :class:`QuerySyntaxError` for ``text`` at ``position``."""
    engine = grammar if isinstance(grammar, str) else grammar.engine
    return QuerySyntaxError(message, engine=engine, query=text, position=position)


def _translate(grammar: Grammar, text: str, exc: UnexpectedInput) -> QuerySyntaxError:
    """Turns a lark error into a message that names what was found and what was expected."""
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            position = len(text)
            found = "end of query"
        else:
            position = token.start_pos if token.start_pos is not None else 0
            found = repr(_shorten(str(token)))
        if str(token).startswith("/") and "REGEX" in exc.expected:
            return error_at(grammar, text, position, "unterminated /regex/")
        if _is_adjacent_term(exc.expected, token):
            return error_at(
                grammar,
                text,
                position,
                f"unexpected {found}: expected 'and' or 'or' before it "
                "(two terms need an operator between them)",
            )
        expected = _expected(grammar, exc.expected)
        return error_at(grammar, text, position, f"unexpected {found}: expected {expected}")

    if isinstance(exc, UnexpectedCharacters):
        position = exc.pos_in_stream or 0
        char = text[position] if position < len(text) else ""
        if char in QUOTE_KINDS:
            return error_at(
                grammar, text, position, f"unterminated {QUOTE_KINDS[char].value}-quoted string"
            )
        expected = _expected(grammar, exc.allowed or set())
        return error_at(grammar, text, position, f"unexpected {char!r}: expected {expected}")

    position = getattr(exc, "pos_in_stream", None) or 0
    return error_at(grammar, text, position, "unexpected end of query")


def _expected(grammar: Grammar, names: Iterable[str]) -> str:
    wanted = sorted({grammar.describe.get(name, name) for name in names})
    if not wanted:
        return "nothing more"
    if len(wanted) == 1:
        return wanted[0]
    return ", ".join(wanted[:-1]) + " or " + wanted[-1]


def _is_adjacent_term(expected: Iterable[str], token: Token) -> bool:
    """True for the error users hit most: two Censys terms with no operator between them."""
    return {"AND", "OR"} <= set(expected) and token.type not in {"$END", "RPAR", "AND", "OR"}


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unquote(raw: str, *, escapes: bool) -> tuple[str, Quote]:
    """The text inside a quoted token and its quote kind.

    With ``escapes``, a backslash before the closing quote character or before another
    backslash stands for that character; any other backslash is kept as written, so regex and
    DN escapes (``\\d``, ``\\*``, ``\\,``) reach the evaluator unchanged.
    """
    quote = QUOTE_KINDS[raw[0]]
    body = raw[1:-1]
    if not escapes or "\\" not in body:
        return body, quote
    return unescape(body, raw[0]), quote


def unescape(body: str, quote_char: str) -> str:
    """Resolves ``\\<quote_char>`` and ``\\\\`` in ``body``; keeps other backslashes."""
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body) and body[index + 1] in (quote_char, "\\"):
            out.append(body[index + 1])
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def line_column(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of ``position`` in ``text``."""
    before = text[:position]
    line = before.count("\n") + 1
    column = position - (before.rfind("\n") + 1) + 1
    return line, column
