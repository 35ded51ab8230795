"""Turns a lark tree of either Censys language into the shared syntax tree.

CenQL (``cenql.lark``) and the legacy Search 2.0 language (``censys_legacy.lark``) share their
boolean structure, nested blocks, value sets and ranges; they differ in a few switches that a
:class:`Dialect` carries: wildcards and ``/regex/`` values (legacy only), the ``=~`` operator
(CenQL only) and ``same_service( … )`` (legacy only). The decisions both languages share are
listed in ``cenql.py`` and ``censys_legacy.py``; the code that carries them out is here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lark import Token, Tree

from c2tracker.errors import QuerySyntaxError
from c2tracker.querylang._common import Grammar, error_at, parse_tree, unquote
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
    Op,
    Or,
    Query,
    Range,
    Regex,
    Span,
    Text,
    Value,
)

#: A field path: dot-separated segments of letters, digits, ``_`` and ``-`` (header names such
#: as ``X-Rancher-Version`` appear as path segments in published queries).
FIELD_NAME = re.compile(r"[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*")

#: The field a legacy ``same_service( … )`` block binds to (censys.md §4.1).
SAME_SERVICE_FIELD = "services"

#: Wildcard characters of unquoted legacy values (censys.md §4.1).
WILDCARD_CHARS = ("*", "?")

#: How each language's terminals read in error messages.
DESCRIBE = {
    "OR": "'or'",
    "AND": "'and'",
    "NOT": "'not'",
    "TO": "'TO'",
    "SAME_SERVICE": "'same_service('",
    "WORD": "a field name or search term",
    "VALUE_WORD": "a value",
    "DQ": "a quoted string",
    "SQ": "a quoted string",
    "BQ": "a `backtick` string",
    "REGEX": "a /regex/",
    "COLON": "':'",
    "EQUALS": "'='",
    "REGEX_OP": "'=~'",
    "LT": "'<'",
    "LE": "'<='",
    "GT": "'>'",
    "GE": "'>='",
    "LPAR": "'('",
    "RPAR": "')'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LBRACK": "'['",
    "RBRACK": "']'",
    "COMMA": "','",
    "$END": "the end of the query",
}

#: Rules that add a nesting level (checked against ``_common.MAX_NESTING``).
NESTING_RULES = ("group", "nested", "same_service", "negation")

_OPS = {
    "COLON": Op.MATCH,
    "EQUALS": Op.EQUALS,
    "REGEX_OP": Op.REGEX,
    "LT": Op.LT,
    "LE": Op.LE,
    "GT": Op.GT,
    "GE": Op.GE,
}
_COMPARISONS = frozenset({Op.LT, Op.LE, Op.GT, Op.GE})


@dataclass(frozen=True, slots=True)
class Dialect:
    """What sets one Censys language apart from the other."""

    engine: Engine
    wildcards: bool
    leading_wildcard: bool
    regex_op: bool


def parse_censys(grammar: Grammar, dialect: Dialect, text: str) -> Query:
    """Parses ``text`` with ``grammar`` and builds the shared tree for ``dialect``."""
    tree = parse_tree(grammar, text)
    return Query(dialect.engine, text, _Builder(dialect, text).node(tree, ()))


@dataclass(frozen=True, slots=True)
class _Builder:
    dialect: Dialect
    text: str

    def node(self, tree: Tree[Token] | Token, prefixes: tuple[str, ...]) -> Node:
        """The node for one lark subtree; ``prefixes`` are the enclosing blocks' full paths."""
        if isinstance(tree, Token):  # a lone term: `?` rules inline single tokens away
            return self.full_text(tree)

        kind = tree.data
        if kind in ("or_expr", "and_expr"):
            children = tuple(self.node(c, prefixes) for c in _operands(tree.children))
            return Or(children) if kind == "or_expr" else And(children)
        if kind == "negation":
            return Not(self.node(tree.children[-1], prefixes))
        if kind == "group":
            return self.node(tree.children[1], prefixes)
        if kind == "nested":
            name_token, body = tree.children[0], tree.children[3]
            assert isinstance(name_token, Token)
            return self.nested(tree, self.field_name(name_token, prefixes), body, prefixes)
        if kind == "same_service":
            name = _relative(SAME_SERVICE_FIELD, prefixes)
            return self.nested(tree, name, tree.children[1], prefixes)
        if kind == "field":
            return self.field(tree, prefixes)
        if kind == "fulltext":
            token = tree.children[0]
            assert isinstance(token, Token)
            return self.full_text(token)
        raise error_at(self.dialect.engine.value, self.text, tree.meta.start_pos, "bad query")

    def nested(
        self,
        tree: Tree[Token],
        name: str,
        body: Tree[Token] | Token,
        prefixes: tuple[str, ...],
    ) -> Nested:
        full = f"{prefixes[-1]}.{name}" if prefixes else name
        span = Span(tree.meta.start_pos, tree.meta.end_pos)
        return Nested(name, self.node(body, (*prefixes, full)), span)

    def field(self, tree: Tree[Token], prefixes: tuple[str, ...]) -> Field:
        name_token, op_tree, value_tree = tree.children
        assert isinstance(name_token, Token) and isinstance(op_tree, Tree)
        op_token = op_tree.children[0]
        assert isinstance(op_token, Token)
        op = _OPS[op_token.type]

        if op is Op.REGEX and not self.dialect.regex_op:
            raise self.error(
                op_token, "'=~' is CenQL; the legacy language writes regexes as field: /re/"
            )
        name = self.field_name(name_token, prefixes)
        value = self.value(op, op_token, value_tree)
        return Field(name, op, value, Span(tree.meta.start_pos, tree.meta.end_pos))

    def field_name(self, token: Token, prefixes: tuple[str, ...]) -> str:
        if not FIELD_NAME.fullmatch(str(token)):
            raise self.error(
                token, f"{str(token)!r} is not a field name (dot-separated letters, digits, _ -)"
            )
        return _relative(str(token), prefixes)

    def value(self, op: Op, op_token: Token, tree: Tree[Token] | Token) -> Value:
        if isinstance(tree, Token) and tree.type == "REGEX":
            if op not in (Op.MATCH, Op.EQUALS):
                raise self.error(tree, f"a /regex/ needs ':' or '=', not {op.value!r}")
            return Regex(_regex_body(str(tree)))

        if isinstance(tree, Token):
            if op is Op.REGEX:
                return Regex(self.pattern_of(tree))
            if tree.type == "VALUE_WORD" and str(tree) == "*":
                if op in _COMPARISONS:
                    raise self.error(tree, f"'*' (field exists) needs ':', not {op.value!r}")
                return Exists()
            return self.text_of(tree, allow_wildcards=op not in _COMPARISONS)

        if op is Op.REGEX or op in _COMPARISONS:
            raise self.error(op_token, f"{op.value!r} takes a single value, not a set or range")
        if tree.data == "value_set":
            items = [c for c in tree.children if isinstance(c, Token) and c.type != "COMMA"]
            scalars = items[1:-1]  # drop the braces
            return AnyOf(tuple(self.set_item(item) for item in scalars))
        return self.range(op, op_token, tree)

    def set_item(self, token: Token) -> Text:
        if token.type == "VALUE_WORD" and str(token) == "*":
            raise self.error(token, "'*' (field exists) cannot be one value of a set")
        return self.text_of(token, allow_wildcards=True)

    def range(self, op: Op, op_token: Token, tree: Tree[Token]) -> Range:
        if op is not Op.MATCH:
            raise self.error(op_token, f"a range needs ':', not {op.value!r}")
        opening, low, _to, high, closing = tree.children
        assert isinstance(opening, Token) and isinstance(closing, Token)
        assert isinstance(low, Token) and isinstance(high, Token)
        return Range(
            self.bound(low),
            self.bound(high),
            include_low=opening.type == "LBRACK",
            include_high=closing.type == "RBRACK",
        )

    def bound(self, token: Token) -> Text | None:
        if token.type == "VALUE_WORD" and str(token) == "*":
            return None
        return self.text_of(token, allow_wildcards=False)

    def text_of(self, token: Token, *, allow_wildcards: bool) -> Text:
        """A value token as :class:`Text`, with quoting undone and wildcards checked."""
        raw = str(token)
        if token.type in ("DQ", "SQ", "BQ"):
            body, quote = unquote(raw, escapes=token.type == "DQ")
            return Text(body, quote)

        if not any(char in raw for char in WILDCARD_CHARS):
            return Text(raw)
        if not self.dialect.wildcards:
            if "*" in raw:
                raise self.error(token, "CenQL has no wildcards; use =~ with a regex instead")
            return Text(raw)  # a '?' is an ordinary character in CenQL
        if not allow_wildcards:
            raise self.error(token, "wildcards are not allowed here; quote the value")
        if raw.startswith(WILDCARD_CHARS) and not self.dialect.leading_wildcard:
            raise self.error(token, "a value cannot start with a wildcard")
        return Text(raw, wildcard=True)

    def pattern_of(self, token: Token) -> str:
        """The pattern of ``field =~ value``: quoting undone, an unquoted pattern as written."""
        if token.type in ("DQ", "SQ", "BQ"):
            return unquote(str(token), escapes=token.type == "DQ")[0]
        return str(token)

    def full_text(self, token: Token) -> FullText:
        span = Span(token.start_pos or 0, token.end_pos or 0)
        return FullText(self.text_of(token, allow_wildcards=True), span)

    def error(self, token: Token, message: str) -> QuerySyntaxError:
        return error_at(self.dialect.engine.value, self.text, token.start_pos or 0, message)


def _operands(children: Sequence[Tree[Token] | Token]) -> list[Tree[Token] | Token]:
    """The operands of an ``and``/``or`` chain, without the keyword tokens between them."""
    return [c for c in children if not (isinstance(c, Token) and c.type in ("AND", "OR"))]


def _relative(name: str, prefixes: tuple[str, ...]) -> str:
    """``name`` relative to the innermost enclosing block, when written as a full path.

    Published queries write inner fields both ways (``same_service(port: 53 …)`` and
    ``same_service(services.port: 53 …)``); the syntax tree promises relative names.
    """
    if prefixes and name.startswith(prefixes[-1] + "."):
        return name[len(prefixes[-1]) + 1 :]
    return name


def _regex_body(raw: str) -> str:
    """The pattern inside ``/…/``: ``\\/`` stands for ``/``; other escapes stay for the regex."""
    return raw[1:-1].replace("\\/", "/")
