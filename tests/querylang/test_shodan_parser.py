"""Shodan search syntax: every construct of shodan.md §4 and every decision of shodan.py."""

from __future__ import annotations

import pytest

from c2tracker.errors import QuerySyntaxError
from c2tracker.querylang import parse_query, shodan
from c2tracker.querylang.ast import (
    And,
    AnyOf,
    Engine,
    Field,
    FullText,
    Node,
    Not,
    Op,
    Quote,
    Span,
    Text,
)
from c2tracker.querylang.shodan import parse_shodan


def f(name: str, *values: str, quote: Quote = Quote.NONE) -> Field:
    """A Shodan filter as the parser should build it."""
    texts = tuple(Text(v, quote) for v in values)
    return Field(name, Op.MATCH, texts[0] if len(texts) == 1 else AnyOf(texts))


def word(value: str) -> FullText:
    return FullText(Text(value))


def phrase(value: str, quote: Quote = Quote.DOUBLE) -> FullText:
    return FullText(Text(value, quote))


def tree(text: str) -> Node:
    return parse_shodan(text).root


def error(text: str) -> QuerySyntaxError:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_shodan(text)
    assert caught.value.engine == "shodan"
    assert caught.value.query == text
    return caught.value


# Every query quoted in shodan.md §4.4 (C2 Tracker's constructs), with its expected tree.
SECTION_4_4 = [
    ("ssl.cert.serial:146473198", f("ssl.cert.serial", "146473198")),
    (
        "hash:-2007783223 port:50050",
        And((f("hash", "-2007783223"), f("port", "50050"))),
    ),
    (
        "product:'Cobalt Strike Beacon'",
        f("product", "Cobalt Strike Beacon", quote=Quote.SINGLE),
    ),
    ("ssl:foren.zik", f("ssl", "foren.zik")),
    ("http.favicon.hash:-127886975", f("http.favicon.hash", "-127886975")),
    (
        "html:unam_lib.js http.favicon.hash:-1278680098,-1531496738",
        And(
            (
                f("http.html", "unam_lib.js"),
                f("http.favicon.hash", "-1278680098", "-1531496738"),
            )
        ),
    ),
    ("http.component:Blazor", f("http.component", "Blazor")),
    ("port:9000,15647", f("port", "9000", "15647")),
    ("http.html_hash:-1957161625", f("http.html_hash", "-1957161625")),
    ("http.headers_hash:1955818171", f("http.headers_hash", "1955818171")),
    ("http.html:'Titan Stealer'", f("http.html", "Titan Stealer", quote=Quote.SINGLE)),
    ('http.title:"Login | CALDERA"', f("http.title", "Login | CALDERA", quote=Quote.DOUBLE)),
    (
        "http.title:'Unam Web Panel &mdash; Login'",
        f("http.title", "Unam Web Panel &mdash; Login", quote=Quote.SINGLE),
    ),
    ("http.title:'Vshell - 登录'", f("http.title", "Vshell - 登录", quote=Quote.SINGLE)),
    (
        "ssl.cert.issuer.cn:'Pantegana Root CA'",
        f("ssl.cert.issuer.cn", "Pantegana Root CA", quote=Quote.SINGLE),
    ),
    ("http.status:307", f("http.status", "307")),
    (
        "http.status:307 http:'307 Temporary Redirect Content-Type: text/html; charset=utf-8 "
        "Location: https://360.net'",
        And(
            (
                f("http.status", "307"),
                word("http:"),
                phrase(
                    "307 Temporary Redirect Content-Type: text/html; charset=utf-8 "
                    "Location: https://360.net",
                    Quote.SINGLE,
                ),
            )
        ),
    ),
    (
        '"HTTP/1.1 404 Not Found" "Cache-Control: no-store, no-cache, must-revalidate" '
        '"Content-Length: 0" -"Server:" -"Pragma:"',
        And(
            (
                phrase("HTTP/1.1 404 Not Found"),
                phrase("Cache-Control: no-store, no-cache, must-revalidate"),
                phrase("Content-Length: 0"),
                Not(phrase("Server:")),
                Not(phrase("Pragma:")),
            )
        ),
    ),
    ("X-Havoc: true", And((word("X-Havoc:"), word("true")))),
    ("'Server: RisePro'", phrase("Server: RisePro", Quote.SINGLE)),
    (
        "http.title:Login http.html:'Welcome to Bandit' 'Content-Length: 4125' port:8080",
        And(
            (
                f("http.title", "Login"),
                f("http.html", "Welcome to Bandit", quote=Quote.SINGLE),
                phrase("Content-Length: 4125", Quote.SINGLE),
                f("port", "8080"),
            )
        ),
    ),
    (
        "ssl:Pantegana ssl:localhost",
        And((f("ssl", "Pantegana"), f("ssl", "localhost"))),
    ),
]


@pytest.mark.parametrize(("text", "expected"), SECTION_4_4, ids=[q for q, _ in SECTION_4_4])
def test_section_4_4_queries(text: str, expected: Node) -> None:
    query = parse_shodan(text)
    assert query.root == expected
    assert query.engine is Engine.SHODAN
    assert query.text == text


def test_parse_query_dispatches_to_shodan() -> None:
    assert parse_query("shodan", "port:22").root == f("port", "22")


# --- documented rules (shodan.md §4.1) -----------------------------------------------------


def test_comma_or_splits_inside_double_quotes() -> None:
    # The documented example: the comma splits values even inside double quotes.
    expected = f("city", "San Diego", "Austin", quote=Quote.DOUBLE)
    assert tree('city:"San Diego,Austin"') == expected


def test_comma_items_are_stripped_and_may_mix_quotes() -> None:
    assert tree("""product:"a, b",c,'d'""") == Field(
        "product",
        Op.MATCH,
        AnyOf(
            (
                Text("a", Quote.DOUBLE),
                Text("b", Quote.DOUBLE),
                Text("c"),
                Text("d", Quote.SINGLE),
            )
        ),
    )


def test_commas_do_not_split_bare_phrases() -> None:
    assert tree('"a, b"') == phrase("a, b")


def test_negated_filter_and_bare_phrase() -> None:
    assert tree('port:23 -hash:0 -"Server:"') == And(
        (f("port", "23"), Not(f("hash", "0")), Not(phrase("Server:")))
    )


def test_negated_bare_word() -> None:
    assert tree("-nginx") == Not(word("nginx"))


def test_all_terms_are_anded() -> None:
    assert tree("a port:1 'b c'") == And((word("a"), f("port", "1"), phrase("b c", Quote.SINGLE)))


def test_single_term_is_the_root() -> None:
    assert tree("  port:1  ") == f("port", "1")


def test_filter_names_are_lower_cased() -> None:
    assert tree("Port:80 HTTP.Title:x") == And((f("port", "80"), f("http.title", "x")))


# --- decisions (shodan.py "Decisions") -----------------------------------------------------


def test_only_known_filter_names_make_filters() -> None:
    assert "port" in shodan.KNOWN_FILTERS
    assert "x-havoc" not in shodan.KNOWN_FILTERS
    assert tree("portal:80") == word("portal:80")
    assert tree("http.titles:x") == word("http.titles:x")


@pytest.mark.parametrize(
    ("alias", "target"), [("html", "http.html"), ("title", "http.title"), ("ip", "net")]
)
def test_legacy_aliases(alias: str, target: str) -> None:
    assert shodan.FILTER_ALIASES[alias] == target
    assert tree(f"{alias}:x") == f(target, "x")


def test_unknown_prefix_with_phrase_is_word_and_phrase() -> None:
    assert tree('foo:"a b"') == And((word("foo:"), phrase("a b")))
    assert tree("-foo:'a b'") == Not(And((word("foo:"), phrase("a b", Quote.SINGLE))))


def test_single_quotes_are_quotes_with_escapes() -> None:
    assert tree(r"product:'it\'s'") == f("product", "it's", quote=Quote.SINGLE)
    assert tree(r'"a \"b\" \\ \d"') == phrase(r'a "b" \ \d')
    assert shodan.QUOTE_ESCAPES == ("\\",)


def test_backticks_are_ordinary_characters() -> None:
    assert shodan.BACKTICK_IS_QUOTE is False
    assert tree("`a b`") == And((word("`a"), word("b`")))


def test_quote_inside_a_word_is_ordinary() -> None:
    assert tree("O'Reilly http.title:O'Reilly") == And(
        (word("O'Reilly"), f("http.title", "O'Reilly"))
    )


def test_plus_before_a_filter_separates_terms() -> None:
    # BushidoUK's Cobalt Strike query, copied from a shodan.io address.
    jarm = "07d14d16d21d21d07c42d41d00041d24a458a375eef0c576d23a7bab9a9fb1"
    assert shodan.PLUS_SEPARATES_FILTERS is True
    assert tree(f"ssl.jarm:{jarm}+port:443") == And((f("ssl.jarm", jarm), f("port", "443")))
    assert tree("nginx+port:80") == And((word("nginx"), f("port", "80")))


def test_plus_elsewhere_is_ordinary() -> None:
    assert tree("a+b c++") == And((word("a+b"), word("c++")))
    assert tree("http.html:a+b") == f("http.html", "a+b")


@pytest.mark.parametrize("value", ["-2007783223", "0", "2147483647"])
def test_integer_filters_take_signed_integers(value: str) -> None:
    for name in ("hash", "http.favicon.hash", "http.html_hash", "port"):
        assert name in shodan.INTEGER_FILTERS
        assert tree(f"{name}:{value}") == f(name, value)


@pytest.mark.parametrize("value", ["146473198", "0x8BB00EE", "8bb00ee", "-5"])
def test_serial_takes_decimal_or_hex(value: str) -> None:
    assert tree(f"ssl.cert.serial:{value}") == f("ssl.cert.serial", value)


def test_boolean_filters() -> None:
    assert "has_screenshot" in shodan.BOOLEAN_FILTERS
    assert tree("has_screenshot:true -ssl.cert.expired:FALSE") == And(
        (f("has_screenshot", "true"), Not(f("ssl.cert.expired", "FALSE")))
    )


# --- spans -----------------------------------------------------------------------------------


def test_spans_cover_filters_and_phrases() -> None:
    text = 'port:22,80 -"x y" w'
    root = parse_shodan(text).root
    assert isinstance(root, And)
    field, negated, bare = root.children
    assert isinstance(field, Field) and isinstance(negated, Not) and isinstance(bare, FullText)
    assert isinstance(negated.child, FullText)
    assert field.span == Span(0, 10)
    assert negated.child.span == Span(12, 17)
    assert bare.span == Span(18, 19)
    assert text[12:17] == '"x y"'


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("", 0, "empty query"),
        ("   \n ", 0, "empty query"),
        ("port:abc", 5, "port: expects an integer, not 'abc'"),
        ("port:22,abc", 8, "port: expects an integer, not 'abc'"),
        ('port:"22, x"', 10, "port: expects an integer, not 'x'"),
        ("hash:1.5", 5, "expects an integer"),
        ("ssl.cert.serial:xyz", 16, "decimal or hexadecimal"),
        ("has_ssl:maybe", 8, "true or false"),
        ("port:", 5, "expected"),
        ("port: 80", 5, "unexpected ' '"),
        ("port:22,", 8, "expected"),
        ('city:"a,,b"', 5, "empty value in a comma-separated"),
        ("http.title:''", 11, "empty filter value"),
        ('x ""', 2, "empty phrase"),
        ("-' '", 1, "empty phrase"),
        ('"abc', 0, "unterminated double-quoted string"),
        ("x 'abc", 2, "unterminated single-quoted string"),
        ("foo -", 5, "unexpected end of query"),
        ("- foo", 1, "unexpected ' '"),
        ("--foo", 1, "unexpected '-foo'"),
        ('http.title:"a"b', 14, "unexpected 'b'"),
    ],
)
def test_errors_name_the_position(text: str, position: int, message: str) -> None:
    exc = error(text)
    assert exc.position == position
    assert message in exc.message


def test_error_caret_points_at_the_problem() -> None:
    exc = error("ssl:x port:abc")
    assert exc.caret() == "ssl:x port:abc\n           ^"
