"""Property tests: every parser either returns a Query or raises QuerySyntaxError."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from c2tracker.errors import QuerySyntaxError
from c2tracker.querylang import parse_query
from c2tracker.querylang._common import MAX_NESTING
from c2tracker.querylang.ast import Engine, Query

# Pieces of real syntax, so random texts often get deep into the grammars, not just the lexer.
FRAGMENTS = [
    " ", "  ", "\n", "\t", "(", ")", "{", "}", "[", "]", ",", ":", "=", "=~", "<", "<=", ">",
    ">=", '"', "'", "`", "\\", "/", "*", "?", "-", "+", "and", "or", "not", "AND", "to", "TO",
    "same_service(", "services", "services.port", "host.services", "port", "http.title",
    "ssl.cert.serial", "hash", "has_ssl", "html", "80", "-1", "0x1f", "true", "a", "é", "登录",
    "\x00", "\U0001f600", "1.2.3.0/24",
]  # fmt: skip

texts = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=3)), max_size=25).map("".join),
)


def _parses_or_raises_syntax_error(engine: Engine, text: str) -> None:
    try:
        query = parse_query.__wrapped__(engine, text)
    except QuerySyntaxError as exc:
        assert exc.engine == engine.value
        assert exc.query == text
        assert exc.position is not None and 0 <= exc.position <= len(text)
        exc.caret()  # renders
        return
    assert isinstance(query, Query)
    assert query.text == text
    for node in query.iter_nodes():
        span = getattr(node, "span", None)
        if span is not None:
            assert 0 <= span.start <= span.end <= len(text)


@pytest.mark.parametrize("engine", list(Engine))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts)
def test_any_text_parses_or_raises_query_syntax_error(engine: Engine, text: str) -> None:
    _parses_or_raises_syntax_error(engine, text)


@pytest.mark.parametrize("engine", list(Engine))
@pytest.mark.parametrize(
    "text",
    [
        "(" * 5000,
        ")" * 5000,
        "(" * 5000 + "a" + ")" * 5000,
        "not " * 5000 + "a",
        "a: (" * 3000 + "b: 1" + ")" * 3000,
        "same_service(" * 3000 + "port: 1" + ")" * 3000,
        "-" * 5000 + "a",
        '"' * 5001,
        "a and " * 3000 + "b",
        "a " * 5000,
        "port:" + "1," * 5000 + "1",
    ],
    ids=lambda t: repr(t[:20]),
)
def test_huge_and_deep_inputs_give_clean_errors(engine: Engine, text: str) -> None:
    _parses_or_raises_syntax_error(engine, text)


@pytest.mark.parametrize("engine", [Engine.CENSYS, Engine.CENSYS_LEGACY])
def test_nesting_limit_is_enforced_exactly(engine: Engine) -> None:
    inside = "(" * MAX_NESTING + "a" + ")" * MAX_NESTING
    assert parse_query.__wrapped__(engine, inside).root is not None

    too_deep = "(" * (MAX_NESTING + 1) + "a" + ")" * (MAX_NESTING + 1)
    with pytest.raises(QuerySyntaxError, match="nests deeper") as caught:
        parse_query.__wrapped__(engine, too_deep)
    assert caught.value.position == MAX_NESTING
