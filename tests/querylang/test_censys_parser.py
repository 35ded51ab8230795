"""Legacy Censys and CenQL: every construct of censys.md §4 and every documented decision."""

from __future__ import annotations

import pytest

from c2tracker.errors import QuerySyntaxError
from c2tracker.querylang import _common, cenql, censys_legacy, parse_query
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
    Quote,
    Range,
    Regex,
    Span,
    Text,
    Value,
)

LEGACY = Engine.CENSYS_LEGACY
CENQL = Engine.CENSYS
BOTH = pytest.mark.parametrize("engine", [LEGACY, CENQL])

Q = Quote


def f(name: str, value: Value | str, op: Op = Op.MATCH) -> Field:
    return Field(name, op, Text(value) if isinstance(value, str) else value)


def t(value: str, quote: Quote = Quote.NONE, wildcard: bool = False) -> Text:
    return Text(value, quote, wildcard)


def tree(engine: Engine, text: str) -> Node:
    query = parse_query.__wrapped__(engine, text)
    assert query.engine is engine
    return query.root


def error(engine: Engine, text: str) -> QuerySyntaxError:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query.__wrapped__(engine, text)
    assert caught.value.engine == engine.value
    return caught.value


# Every query quoted in censys.md §1.10 (C2 Tracker's legacy queries), with its expected tree.
SECTION_1_10 = [
    (
        "services.software.product=`Cobalt Strike`",
        f("services.software.product", t("Cobalt Strike", Q.BACKTICK), Op.EQUALS),
    ),
    ("services.software.product:`SLIVER`", f("services.software.product", t("SLIVER", Q.BACKTICK))),
    ("services.service_name:`GHOST`", f("services.service_name", t("GHOST", Q.BACKTICK))),
    ("services.software.product:RisePro", f("services.software.product", "RisePro")),
    ("services.software.product: Viper", f("services.software.product", "Viper")),
    (
        "services.software.product:'Artemis Rat'",
        f("services.software.product", t("Artemis Rat", Q.SINGLE)),
    ),
    (
        "services.http.response.headers: (key: `Server` and value.headers: `RisePro`)",
        Nested(
            "services.http.response.headers",
            And((f("key", t("Server", Q.BACKTICK)), f("value.headers", t("RisePro", Q.BACKTICK)))),
        ),
    ),
    (
        "services.software: (vendor: Vshell and product: Vshell)",
        Nested("services.software", And((f("vendor", "Vshell"), f("product", "Vshell")))),
    ),
    (
        "services.http.response.html_title:'Vshell - 登录'",
        f("services.http.response.html_title", t("Vshell - 登录", Q.SINGLE)),
    ),
    (
        "services: (http.response.html_title:`Atlantida` and http.response.body:`GY7HXsD.jpg`)",
        Nested(
            "services",
            And(
                (
                    f("http.response.html_title", t("Atlantida", Q.BACKTICK)),
                    f("http.response.body", t("GY7HXsD.jpg", Q.BACKTICK)),
                )
            ),
        ),
    ),
    ("services.software.vendor=SectopRAT", f("services.software.vendor", "SectopRAT", Op.EQUALS)),
    (
        'services.banner_hashes="sha256:0f1e" and (services.port:9000 or services.port:15647)',
        And(
            (
                f("services.banner_hashes", t("sha256:0f1e", Q.DOUBLE), Op.EQUALS),
                Or((f("services.port", "9000"), f("services.port", "15647"))),
            )
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), SECTION_1_10, ids=[q for q, _ in SECTION_1_10])
def test_section_1_10_queries(text: str, expected: Node) -> None:
    assert tree(LEGACY, text) == expected


# --- boolean structure -------------------------------------------------------------------------


@BOTH
def test_precedence_not_over_and_over_or(engine: Engine) -> None:
    assert tree(engine, "a: 1 or not b: 2 and c: 3") == Or(
        (f("a", "1"), And((Not(f("b", "2")), f("c", "3"))))
    )


@BOTH
def test_parentheses_override_precedence(engine: Engine) -> None:
    assert tree(engine, "(a: 1 or b: 2) and c: 3") == And(
        (Or((f("a", "1"), f("b", "2"))), f("c", "3"))
    )


@BOTH
@pytest.mark.parametrize(
    "keywords", [("and", "or", "not"), ("AND", "OR", "NOT"), ("And", "oR", "Not")]
)
def test_keywords_in_any_case(engine: Engine, keywords: tuple[str, str, str]) -> None:
    k_and, k_or, k_not = keywords
    assert tree(engine, f"a: 1 {k_or} {k_not} b: 2 {k_and} c: 3") == Or(
        (f("a", "1"), And((Not(f("b", "2")), f("c", "3"))))
    )


@BOTH
def test_words_that_start_with_keywords_are_words(engine: Engine) -> None:
    assert tree(engine, "android or notable and order") == Or(
        (FullText(t("android")), And((FullText(t("notable")), FullText(t("order")))))
    )


@BOTH
def test_keywords_are_values_after_an_operator(engine: Engine) -> None:
    assert tree(engine, "a: not and b: and") == And((f("a", "not"), f("b", "and")))


@BOTH
def test_two_terms_without_operator_are_rejected(engine: Engine) -> None:
    exc = error(engine, "services.port: 22 services.port: 80")
    assert exc.position == 18
    assert "expected 'and' or 'or'" in exc.message


@BOTH
def test_bare_terms_and_phrases(engine: Engine) -> None:
    assert tree(engine, '(splashtop) and "a b" or `c`') == Or(
        (
            And((FullText(t("splashtop")), FullText(t("a b", Q.DOUBLE)))),
            FullText(t("c", Q.BACKTICK)),
        )
    )


# --- operators and values ------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize(
    ("op_text", "op"), [(":", Op.MATCH), ("=", Op.EQUALS), ("<", Op.LT), ("<=", Op.LE),
                        (">", Op.GT), (">=", Op.GE)]
)  # fmt: skip
def test_operators(engine: Engine, op_text: str, op: Op) -> None:
    assert tree(engine, f"services.port{op_text}443") == f("services.port", "443", op)
    assert tree(engine, f"services.port {op_text} 443") == f("services.port", "443", op)


def test_regex_operator_is_cenql_only() -> None:
    assert tree(CENQL, 'host.services.threats.name =~ "^Sli"') == f(
        "host.services.threats.name", Regex("^Sli"), Op.REGEX
    )
    exc = error(LEGACY, 'a =~ "x"')
    assert exc.position == 2
    assert "CenQL" in exc.message


def test_cenql_regex_string_unescaping() -> None:
    # censys.md §4.2: in double quotes a regex backslash is doubled; backticks are raw.
    assert tree(CENQL, r'a =~ "x\\.y"') == f("a", Regex(r"x\.y"), Op.REGEX)
    assert tree(CENQL, r"a =~ `x\.y`") == f("a", Regex(r"x\.y"), Op.REGEX)
    assert tree(CENQL, r'a =~ "x\.y"') == f("a", Regex(r"x\.y"), Op.REGEX)
    assert tree(CENQL, "a =~ x.*") == f("a", Regex("x.*"), Op.REGEX)
    assert parse_query.__wrapped__(CENQL, 'a =~ "x"').uses_regex


def test_legacy_slash_regex() -> None:
    assert tree(LEGACY, r"a: /x\/y\.z/ and b=/[a-z]{10}/") == And(
        (f("a", Regex(r"x/y\.z")), f("b", Regex("[a-z]{10}"), Op.EQUALS))
    )
    assert tree(LEGACY, "a: /(co|llc)? ?x/") == f("a", Regex("(co|llc)? ?x"))


def test_slash_regex_is_legacy_only() -> None:
    assert tree(CENQL, "host.services.endpoints.http.path: /admin") == f(
        "host.services.endpoints.http.path", "/admin"
    )


@BOTH
def test_exists(engine: Engine) -> None:
    assert tree(engine, "services.tls: * and not a: *") == And(
        (f("services.tls", Exists()), Not(f("a", Exists())))
    )


@BOTH
def test_value_sets(engine: Engine) -> None:
    assert tree(engine, "services.port: {21, 22, 23}") == f(
        "services.port", AnyOf((t("21"), t("22"), t("23")))
    )
    assert tree(engine, 'location.country: {Canada, "United States"}') == f(
        "location.country", AnyOf((t("Canada"), t("United States", Q.DOUBLE)))
    )
    assert tree(engine, 'title={"A & B", `C`}') == f(
        "title", AnyOf((t("A & B", Q.DOUBLE), t("C", Q.BACKTICK))), Op.EQUALS
    )
    assert tree(engine, "p: {22}") == f("p", AnyOf((t("22"),)))


@BOTH
def test_ranges(engine: Engine) -> None:
    assert tree(engine, "p: [14000 TO 17000]") == f("p", Range(t("14000"), t("17000")))
    assert tree(engine, "p: {1 TO 9}") == f(
        "p", Range(t("1"), t("9"), include_low=False, include_high=False)
    )
    assert tree(engine, "p: [1 to 9}") == f("p", Range(t("1"), t("9"), include_high=False))
    assert tree(engine, 'd: [* TO "2024-01-01"]') == f("d", Range(None, t("2024-01-01", Q.DOUBLE)))
    assert tree(engine, "d: [2023-01-01T00:00:00Z TO *]") == f(
        "d", Range(t("2023-01-01T00:00:00Z"), None)
    )


@BOTH
def test_cidr_values(engine: Engine) -> None:
    assert tree(engine, "ip: 23.20.0.0/14") == f("ip", "23.20.0.0/14")
    assert tree(engine, "host.ip: '1.1.1.0/24'") == f("host.ip", t("1.1.1.0/24", Q.SINGLE))
    assert tree(engine, "not ip: 0.0.0.0/0") == Not(f("ip", "0.0.0.0/0"))
    assert tree(engine, "ip: 2001:db8::/32") == f("ip", "2001:db8::/32")


@BOTH
def test_quoted_numbers_keep_their_quotes(engine: Engine) -> None:
    assert tree(engine, 'port="443"') == f("port", t("443", Q.DOUBLE), Op.EQUALS)


@BOTH
def test_quoting_and_escapes(engine: Engine) -> None:
    # Double quotes: \" and \\ only; other backslashes stay.
    assert tree(engine, r'a: "say \"hi\" \\ \* \,"') == f("a", t(r'say "hi" \ \* \,', Q.DOUBLE))
    # Single quotes: literal to the next quote.
    assert tree(engine, r"a: 'whoami\n' and b: 'x\'") == And(
        (f("a", t(r"whoami\n", Q.SINGLE)), f("b", t("x\\", Q.SINGLE)))
    )
    # Backticks: raw, may hold quotes.
    assert tree(engine, 'a: `Basic realm= "x (y+)"`') == f(
        "a", t('Basic realm= "x (y+)"', Q.BACKTICK)
    )


# --- wildcards ------------------------------------------------------------------------------


def test_legacy_wildcards_in_unquoted_values() -> None:
    assert censys_legacy.WILDCARDS is True
    assert tree(LEGACY, 'a: ntop* and b: "ntop*" and c: a?c and d: `x*`') == And(
        (
            f("a", t("ntop*", wildcard=True)),
            f("b", t("ntop*", Q.DOUBLE)),
            f("c", t("a?c", wildcard=True)),
            f("d", t("x*", Q.BACKTICK)),
        )
    )
    assert tree(LEGACY, "foo*") == FullText(t("foo*", wildcard=True))
    assert tree(LEGACY, "a: {x*, y}") == f("a", AnyOf((t("x*", wildcard=True), t("y"))))


def test_legacy_rejects_leading_wildcards() -> None:
    assert censys_legacy.LEADING_WILDCARD is False
    exc = error(LEGACY, "dns.names: *.gov")
    assert exc.position == 11
    assert "cannot start with a wildcard" in exc.message


def test_wildcards_are_not_allowed_in_ranges_and_comparisons() -> None:
    assert "not allowed" in error(LEGACY, "p: [1* TO 5]").message
    assert "not allowed" in error(LEGACY, "p > 1*").message


def test_cenql_has_no_wildcards() -> None:
    assert cenql.WILDCARDS is False
    exc = error(CENQL, "host.services.software.product: Cobalt*")
    assert exc.position == 32
    assert "=~" in exc.message
    assert tree(CENQL, "a: x?y") == f("a", "x?y")
    assert tree(CENQL, 'a: "x*"') == f("a", t("x*", Q.DOUBLE))


# --- nested blocks ------------------------------------------------------------------------------


def test_same_service_is_nested_on_services() -> None:
    assert censys_legacy.SAME_SERVICE_FIELD == "services"
    text = 'same_service(port: 10001 and banner: "IN-TANK INVENTORY")'
    query = parse_query.__wrapped__(LEGACY, text)
    assert query.root == Nested(
        "services", And((f("port", "10001"), f("banner", t("IN-TANK INVENTORY", Q.DOUBLE))))
    )
    assert isinstance(query.root, Nested)
    assert query.root.span == Span(0, len(text))


def test_same_service_is_legacy_only() -> None:
    error(CENQL, "same_service(port: 1)")


@BOTH
def test_full_paths_inside_blocks_become_relative(engine: Engine) -> None:
    assert tree(engine, "services: (services.port: 53 and not services.service_name: DNS)") == (
        Nested("services", And((f("port", "53"), Not(f("service_name", "DNS")))))
    )


def test_cenql_deep_nesting() -> None:
    text = 'host.services: (port=443 and endpoints.http.headers: (key="X" and value="Y"))'
    assert tree(CENQL, text) == Nested(
        "host.services",
        And(
            (
                f("port", "443", Op.EQUALS),
                Nested(
                    "endpoints.http.headers",
                    And(
                        (
                            f("key", t("X", Q.DOUBLE), Op.EQUALS),
                            f("value", t("Y", Q.DOUBLE), Op.EQUALS),
                        )
                    ),
                ),
            )
        ),
    )


def test_relative_paths_in_inner_blocks_use_the_full_block_path() -> None:
    text = "host.services: (endpoints.http: (host.services.endpoints.http.path: x))"
    assert tree(CENQL, text) == Nested("host.services", Nested("endpoints.http", f("path", "x")))


# --- spans ---------------------------------------------------------------------------------


def test_spans() -> None:
    text = 'a: 1 and services: (port: 22) and "ph"'
    root = tree(LEGACY, text)
    assert isinstance(root, And)
    field, nested, full = root.children
    assert isinstance(field, Field) and isinstance(nested, Nested) and isinstance(full, FullText)
    assert field.span == Span(0, 4)
    assert nested.span == Span(9, 29)
    assert text[9:29] == "services: (port: 22)"
    assert isinstance(nested.body, Field) and nested.body.span == Span(20, 28)
    assert full.span == Span(34, 38)


# --- errors --------------------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("", 0, "empty query"),
        ("a: (b: 1", 8, "expected ')'"),
        ("a: 1)", 4, "unexpected ')'"),
        ("a and and b", 6, "unexpected 'and'"),
        ("a: {}", 4, "unexpected '}'"),
        ('a: "abc', 3, "unterminated double-quoted string"),
        ("a: 'abc", 3, "unterminated single-quoted string"),
        ("a: `abc", 3, "unterminated backtick-quoted string"),
        ("a < {1, 2}", 2, "takes a single value"),
        ("a = [1 TO 2]", 2, "a range needs ':'"),
        ("a > *", 4, "needs ':'"),
        ("a: {*, b}", 4, "cannot be one value of a set"),
        ("HTTP/1.1: x", 0, "not a field name"),
        ("a..b: x", 0, "not a field name"),
        ("a:", 2, "unexpected end of query"),
        ("a = (b: 1)", 4, "unexpected '('"),
    ],
)
def test_errors_name_the_position(engine: Engine, text: str, position: int, message: str) -> None:
    exc = error(engine, text)
    assert exc.position == position
    assert message in exc.message


def test_unterminated_legacy_regex() -> None:
    exc = error(LEGACY, "a: /abc")
    assert exc.position == 3
    assert exc.message == "unterminated /regex/"


def test_nesting_limit_counts_negations_and_blocks() -> None:
    ok = "not " * _common.MAX_NESTING + "a"
    assert tree(CENQL, ok) is not None
    exc = error(CENQL, "not " * (_common.MAX_NESTING + 1) + "a")
    assert exc.position == 4 * _common.MAX_NESTING
    blocks = "a: (" * (_common.MAX_NESTING + 1) + "b: 1" + ")" * (_common.MAX_NESTING + 1)
    assert "nests deeper" in error(LEGACY, blocks).message


def test_unknown_engine() -> None:
    with pytest.raises(QuerySyntaxError, match="unknown engine 'zoomeye'"):
        parse_query("zoomeye", "a")
