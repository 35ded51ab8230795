"""Query languages: Shodan search syntax, Censys CenQL and legacy Censys Search 2.0.

``parse_query(engine, text)`` is the one entry point the rest of the tool uses; it returns a
:class:`~c2tracker.querylang.ast.Query` or raises
:class:`~c2tracker.errors.QuerySyntaxError`, never anything else. Parses are cached, since the
same rule queries are parsed by validation, matching and the live sources.
"""

from __future__ import annotations

from functools import lru_cache

from c2tracker.errors import QuerySyntaxError
from c2tracker.querylang.ast import Engine, Query

__all__ = ["Engine", "Query", "QuerySyntaxError", "parse_query"]


@lru_cache(maxsize=4096)
def parse_query(engine: Engine | str, text: str) -> Query:
    """Parses ``text`` in the language of ``engine``.

    Raises:
        QuerySyntaxError: the text is not a valid query, or ``engine`` is unknown.
    """
    try:
        engine = Engine(engine)
    except ValueError:
        raise QuerySyntaxError(
            f"unknown engine {engine!r}; expected one of {', '.join(e.value for e in Engine)}",
            engine=str(engine),
            query=text,
        ) from None

    if engine is Engine.SHODAN:
        from c2tracker.querylang.shodan import parse_shodan

        return parse_shodan(text)
    if engine is Engine.CENSYS:
        from c2tracker.querylang.cenql import parse_cenql

        return parse_cenql(text)
    from c2tracker.querylang.censys_legacy import parse_censys_legacy

    return parse_censys_legacy(text)
