"""Parser for the Censys Query Language, CenQL (grammar in ``cenql.lark``).

CenQL is the language of the Censys Platform API (censys.md §4.2): dataset-prefixed fields
(``host.services.port``), ``:`` for a case-insensitive match, ``=`` for exact equality,
``=~`` for a regex, comparisons, nested blocks and value sets. It parses into the shared tree
of :mod:`c2tracker.querylang.ast`; the conversion code is shared with the legacy language in
``_censys.py``.

Decisions (censys.md §4.2/§4.3 leave these open; each has a test):

- Precedence is ``not`` > ``and`` > ``or``; keywords are accepted in any letter case.
- Two terms without an operator between them are an error, not an implicit OR
  (censys.md §4.3).
- Quoting: double quotes take the escapes ``\\"`` and ``\\\\``; any other backslash is kept as
  written. So in ``field =~ "a\\\\.b"`` the string unescaping turns ``\\\\.`` into ``\\.`` and the
  regex gets ``a\\.b`` (a literal dot), as the Censys regex docs intend; ``"a\\.b"`` also gives
  ``a\\.b``, since an unknown escape is kept. Single quotes are literal up to the next ``'``;
  backticks are raw (censys.md §4.2).
- No wildcards (:data:`WILDCARDS`): CenQL dropped them for regexes (censys.md §4.2), so an
  unquoted value holding ``*`` is an error that says to use ``=~``; ``?`` is an ordinary
  character. ``field: *`` still means :class:`Exists` (Censys publishes ``host.ip: *``).
- ``=~`` takes one value (quoted, backticked or bare) as a :class:`Regex`; the parser does not
  check the pattern, which Censys and the evaluator interpret.
- Nested blocks ``host.services: ( … )`` nest to any depth; a field written as a full path
  inside a block is made relative to the block. There is no ``same_service( … )``.
- Ranges ``[a TO b]`` / ``{a TO b}`` (``to`` in any case) and value sets ``{a, b}`` carry over
  from the legacy language (censys.md §4.2 "Value sets carry over"; ranges are unverified).
- Unquoted values may hold ``:`` and ``/`` after their first character, so CIDR values need
  no quotes; ``host.ip: '198.51.100.0/24'`` works quoted as well.
"""

from __future__ import annotations

from functools import cache

from c2tracker.querylang._censys import DESCRIBE, NESTING_RULES, Dialect, parse_censys
from c2tracker.querylang._common import Grammar, load_grammar
from c2tracker.querylang.ast import Engine, Query

__all__ = ["WILDCARDS", "parse_cenql"]

#: CenQL has no ``*``/``?`` wildcards (censys.md §4.2); ``field: *`` alone tests existence.
WILDCARDS = False

DIALECT = Dialect(Engine.CENSYS, wildcards=WILDCARDS, leading_wildcard=False, regex_op=True)


def parse_cenql(text: str) -> Query:
    """Parses a CenQL (Censys Platform) query.

    Raises:
        QuerySyntaxError: the text is empty or not valid CenQL.
    """
    return parse_censys(_grammar(), DIALECT, text)


@cache
def _grammar() -> Grammar:
    return load_grammar(
        "cenql.lark",
        engine=Engine.CENSYS.value,
        describe=DESCRIBE,
        nesting_rules=NESTING_RULES,
    )
