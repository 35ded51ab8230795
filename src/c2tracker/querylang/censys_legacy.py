"""Parser for the legacy Censys Search 2.0 language (grammar in ``censys_legacy.lark``).

This is the language of ``search.censys.io`` and the v2 API (censys.md §4.1), the one most
published Censys hunting queries are written in (``services.software.product: Sliver``). It
parses into the shared tree of :mod:`c2tracker.querylang.ast`; the conversion code is shared
with CenQL in ``_censys.py``.

Decisions (censys.md §4.1/§4.3 leave these open; each has a test):

- Precedence is ``not`` > ``and`` > ``or`` (censys.md §4.3); keywords are accepted in any
  letter case (``AND`` appears in third-party queries).
- Two terms without an operator between them are an error, not an implicit OR: the only
  documented default is Search 1.0's, and guessing would change what a rule matches
  (censys.md §4.3).
- Quoting: double quotes take the escapes ``\\"`` and ``\\\\``; any other backslash is kept as
  written (``CN=\\*.aliyun.com`` keeps its ``\\*``). Single quotes are literal up to the next
  ``'``; backticks are raw literals (censys.md §4.1, §4.3). Numbers may be quoted; the tree
  keeps the quote kind.
- Wildcards (:data:`WILDCARDS`): ``*`` and ``?`` in an *unquoted* value or bare word make a
  wildcard :class:`Text`; a leading wildcard is an error (:data:`LEADING_WILDCARD`: "in any
  combination except initially", censys.md §4.1). In quotes they are ordinary characters.
  ``field: *`` is :class:`Exists`. Range bounds and comparisons take no wildcards.
- Regexes are ``field: /re/`` or ``field = /re/``; inside them ``\\/`` stands for ``/`` and
  every other escape is left for the regex engine. ``=~`` is CenQL only and gets an error
  that says so.
- ``same_service( … )`` is a :class:`Nested` block on ``services`` (:data:`SAME_SERVICE_FIELD`),
  the same as ``services: ( … )``. Inside any nested block a field written as a full path
  (``same_service(services.port: 22)``) is made relative to the block (``port``), as the tree
  promises; published queries write both forms.
- Ranges ``[a TO b]`` include their bounds, ``{a TO b}`` exclude them, and the two brackets may
  be mixed; ``TO`` may be written ``to`` (Search 2.0 acceptance of lower case is unverified,
  censys.md §4.1); ``*`` is an open bound. Ranges need ``:``.
- Value sets ``{a, b}`` become :class:`AnyOf` with ``:`` or ``=`` (``html_title={"A", "B"}``
  is published).
- Comparison operators ``<  <=  >  >=`` take one value.
- Unquoted values may hold ``:`` and ``/`` after their first character, so CIDR values
  (``ip: 23.20.0.0/14``) and hash prefixes need no quotes.
- Field names are dot-separated segments of letters, digits, ``_`` and ``-``
  (:data:`FIELD_NAME`); anything else before an operator is an error.
"""

from __future__ import annotations

from functools import cache

from c2tracker.querylang._censys import (
    DESCRIBE,
    FIELD_NAME,
    NESTING_RULES,
    SAME_SERVICE_FIELD,
    Dialect,
    parse_censys,
)
from c2tracker.querylang._common import Grammar, load_grammar
from c2tracker.querylang.ast import Engine, Query

__all__ = [
    "FIELD_NAME",
    "LEADING_WILDCARD",
    "SAME_SERVICE_FIELD",
    "WILDCARDS",
    "parse_censys_legacy",
]

#: Unquoted legacy values and bare words may use ``*`` and ``?`` wildcards.
WILDCARDS = True

#: Wildcards work "in any combination except initially" (censys.md §4.1), so ``*.gov`` is an
#: error. One published query (awesome-censys-queries, ``dns.names: *.gov``) disagrees; flip
#: this if Censys is shown to accept it.
LEADING_WILDCARD = False

DIALECT = Dialect(
    Engine.CENSYS_LEGACY,
    wildcards=WILDCARDS,
    leading_wildcard=LEADING_WILDCARD,
    regex_op=False,
)


def parse_censys_legacy(text: str) -> Query:
    """Parses a legacy Censys Search 2.0 query.

    Raises:
        QuerySyntaxError: the text is empty or not valid in the legacy language.
    """
    return parse_censys(_grammar(), DIALECT, text)


@cache
def _grammar() -> Grammar:
    return load_grammar(
        "censys_legacy.lark",
        engine=Engine.CENSYS_LEGACY.value,
        describe=DESCRIBE,
        nesting_rules=NESTING_RULES,
    )
