"""The syntax tree that all three query languages parse into.

Shodan's search syntax, Censys CenQL and the legacy Censys Search 2.0 language each have a parser
of their own (``shodan.py``, ``cenql.py``, ``censys_legacy.py``) but they all build the same small
set of frozen dataclasses below, so that the offline evaluator, the rule tooling and the live
sources share one representation.

Conventions:

- ``Field.name`` is the field exactly as the query wrote it, lower-cased for Shodan filter names
  and kept as written for Censys paths (``host.services.port``, ``services.port``). Inside a
  :class:`Nested` block, field names are relative to the block's field.
- A Shodan comma list (``port:22,80``) and a Censys value set (``{22, 80}``) are both
  :class:`AnyOf`.
- Spans are offsets into :attr:`Query.text`; they do not take part in equality, so a test can
  compare trees built by hand with parsed ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum


class Engine(StrEnum):
    """A query language, named as rule files and the CLI name it."""

    SHODAN = "shodan"
    CENSYS = "censys"
    CENSYS_LEGACY = "censys-legacy"


class Quote(StrEnum):
    """How a value or phrase was quoted in the query text."""

    NONE = "none"
    DOUBLE = "double"
    SINGLE = "single"
    BACKTICK = "backtick"


class Op(StrEnum):
    """The operator between a field and its value."""

    MATCH = ":"
    EQUALS = "="
    REGEX = "=~"
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


@dataclass(frozen=True, slots=True)
class Span:
    """Offsets ``[start, end)`` of a node in the query text."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Text:
    """A literal value or phrase, after unquoting and unescaping.

    ``wildcard`` is set when an unquoted legacy Censys value holds ``*`` or ``?``.
    """

    value: str
    quote: Quote = Quote.NONE
    wildcard: bool = False


@dataclass(frozen=True, slots=True)
class Regex:
    """A regular expression: CenQL ``=~ "re"`` or legacy ``field: /re/``."""

    pattern: str


@dataclass(frozen=True, slots=True)
class Range:
    """A range ``[low TO high]``; a missing bound is open (``*``)."""

    low: Text | None
    high: Text | None
    include_low: bool = True
    include_high: bool = True


@dataclass(frozen=True, slots=True)
class AnyOf:
    """Several alternative values for one field: Shodan ``a,b`` or Censys ``{a, b}``."""

    values: tuple[Text, ...]


@dataclass(frozen=True, slots=True)
class Exists:
    """``field: *``: the field is present with a non-empty value."""


Value = Text | Regex | Range | AnyOf | Exists


@dataclass(frozen=True, slots=True)
class Field:
    """A condition on one field."""

    name: str
    op: Op
    value: Value
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class FullText:
    """A bare word or quoted phrase with no field: Shodan searches ``data``, Censys all text."""

    value: Text
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Nested:
    """``field: ( … )``: every condition of ``body`` must hold for one element of ``field``."""

    name: str
    body: Node
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


Node = Field | FullText | Nested | And | Or | Not


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: the engine whose language it is, its text, and its tree."""

    engine: Engine
    text: str
    root: Node

    def iter_nodes(self) -> Iterator[Node]:
        """Yields every node of the tree, parents before children."""
        return iter_nodes(self.root)

    @property
    def uses_regex(self) -> bool:
        """True when the query holds a regex (Censys bills those as advanced queries)."""
        return any(
            isinstance(node, Field) and isinstance(node.value, Regex) for node in self.iter_nodes()
        )


def iter_nodes(node: Node) -> Iterator[Node]:
    """Yields ``node`` and all nodes below it, parents before children."""
    yield node
    if isinstance(node, And | Or):
        for child in node.children:
            yield from iter_nodes(child)
    elif isinstance(node, Not):
        yield from iter_nodes(node.child)
    elif isinstance(node, Nested):
        yield from iter_nodes(node.body)
