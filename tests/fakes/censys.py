"""Fake Censys Platform (v3) and legacy Search 2.0 APIs (censys.md §1–2, §7).

Platform: ``POST /v3/global/search/query`` with a Bearer token, ``organization_id`` as query
parameter or ``X-Organization-ID`` header, body ``{query, page_size ≤ 100, page_token}``;
answers ``{"result": {total_hits, next_page_token, previous_page_token,
query_duration_millis, hits: [{"host_v1": {resource, extensions, matched_services}}]}}``; a
page costs 5 credits, 8 for a regex query (§2.8), and an empty wallet answers 422
"insufficient balance" (§2.6); errors are problem+json, a bad token the 401
AuthenticationError body.

Legacy: ``POST /api/v2/hosts/search`` with Basic auth, body ``{q, per_page, cursor}``;
answers ``{code, status, result: {query, total, duration, hits, links: {prev, next}}}``;
each page is one query of the monthly quota; the two 429 bodies of §1.5 (rate limit and full
quota); 400 for a query that does not parse; 422 for an unknown cursor.

Page tokens and cursors are opaque random strings the fake remembers.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from c2tracker.errors import QuerySyntaxError
from c2tracker.matching import evaluate
from c2tracker.querylang import parse_query
from c2tracker.querylang.ast import Engine
from fakes.base import FakeEngine, Fault, Reply, Request, json_reply

PAGE_SIZE = 100
STANDARD_PAGE_CREDITS = 5
ADVANCED_PAGE_CREDITS = 8

PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, messages: tuple[str, ...] = ()) -> Reply:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "errors": [{"message": m} for m in messages],
    }
    return json_reply(status, body, PROBLEM)


class _Pager:
    """Opaque page tokens: token → (query, offset)."""

    def __init__(self) -> None:
        self.tokens: dict[str, tuple[str, int]] = {}

    def issue(self, query: str, offset: int) -> str:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = (query, offset)
        return token

    def offset(self, token: str | None, query: str) -> int | None:
        if not token:
            return 0
        found = self.tokens.get(token)
        if found is None or found[0] != query:
            return None
        return found[1]


class FakeCensysPlatform(FakeEngine):
    engine = Engine.CENSYS

    def __init__(
        self,
        corpus: list[dict[str, Any]],
        *,
        tokens: Mapping[str, int] | None = None,
        org_id: str = "11111111-2222-3333-4444-555555555555",
        rate: float | None = None,
    ) -> None:
        super().__init__(corpus, rate=rate)
        self.balance: dict[str, int] = dict(tokens or {"test-token": 10_000})
        """Credits left per personal access token."""
        self.org_id = org_id
        self.credits_spent = 0
        self._pager = _Pager()

    def handle(
        self, request: Request, headers: Mapping[str, str], params: dict[str, str], body: Any
    ) -> Reply:
        request.endpoint = "search" if request.path == "/v3/global/search/query" else "other"
        auth = headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        request.credential = token
        query = body.get("query") if isinstance(body, dict) else None
        request.query = query if isinstance(query, str) else None
        page_token = body.get("page_token") if isinstance(body, dict) else None
        offset = self._pager.offset(page_token, request.query or "")
        if offset is not None:
            request.page = offset // PAGE_SIZE + 1

        if token not in self.balance:
            return _unauthorized()
        if not self.rate_limit.allow(token):
            return _rate_limited()
        if request.endpoint != "search" or request.method != "POST":
            return problem(404, "Not Found", "no such endpoint")
        org = params.get("organization_id") or headers.get("X-Organization-ID")
        if org != self.org_id:
            return problem(403, "Forbidden", "not a member of this organization")

        fault = self._take_fault("search", request.query, request.page)
        if fault is not None:
            request.fault = fault.kind
            reply = self._fault(fault, request, token, body, offset)
            if reply is not None:
                return reply
        return self._search(request, token, body, offset, None)

    def _fault(
        self, fault: Fault, request: Request, token: str, body: Any, offset: int | None
    ) -> Reply | None:
        if fault.kind == "invalid-key":
            return _unauthorized()
        if fault.kind == "no-credits":
            return _insufficient()
        if fault.kind == "rejected":
            return problem(
                422, "Unprocessable Entity", "invalid query", ("Field not found: host.foo",)
            )
        if fault.kind == "plan":
            return problem(403, "Forbidden", "Your plan does not include this feature.")
        return self.common_fault(
            fault,
            lambda: self._search(request, token, body, offset, None),
            _rate_limited,
        )

    def _search(
        self, request: Request, token: str, body: Any, offset: int | None, fault: str | None
    ) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return problem(400, "Bad Request", "Property query is required but is missing.")
        size = body.get("page_size", PAGE_SIZE)
        if not isinstance(size, int) or not 1 <= size <= PAGE_SIZE:
            return problem(400, "Bad Request", "page_size must be between 1 and 100")
        if offset is None:
            return problem(400, "Bad Request", "invalid page token")
        query = body["query"]
        try:
            parsed = parse_query(Engine.CENSYS, query)
        except QuerySyntaxError as exc:
            return problem(400, "Bad Request", f"invalid query: {exc.message}")

        cost = ADVANCED_PAGE_CREDITS if parsed.uses_regex else STANDARD_PAGE_CREDITS
        if cost > self.balance[token]:
            return _insufficient()
        self.balance[token] -= cost
        self.credits_spent += cost

        hosts = self.matching(query)
        chunk = hosts[offset : offset + size]
        following = offset + size
        next_token = self._pager.issue(query, following) if following < len(hosts) else ""
        if request.fault == "short":
            chunk = chunk[: len(chunk) // 2]
        elif request.fault == "empty":
            chunk = []
        hits = [
            {
                "host_v1": {
                    "resource": host,
                    "extensions": {},
                    "matched_services": _matched_services(parsed, host),
                }
            }
            for host in chunk
        ]
        result = {
            "total_hits": float(len(hosts)),
            "next_page_token": next_token,
            "previous_page_token": "",
            "query_duration_millis": 12,
            "hits": hits,
        }
        return json_reply(200, {"result": result})


def _matched_services(parsed: Any, host: dict[str, Any]) -> list[dict[str, Any]]:
    # The services that satisfy the query on their own; all of them when none does alone
    # (a query across services, or on host-level fields).
    services = [s for s in host.get("services") or [] if isinstance(s, dict)]
    alone = [s for s in services if evaluate(parsed, {**host, "services": [s]}) is not None]
    return [
        {
            "port": s.get("port"),
            "protocol": s.get("protocol", ""),
            "transport_protocol": str(s.get("transport_protocol", "tcp")).lower(),
        }
        for s in (alone or services)
    ]


def _unauthorized() -> Reply:
    return json_reply(
        401,
        {
            "error": {
                "code": 401,
                "status": "Unauthorized",
                "message": "Access credentials are invalid",
                "reason": "Access token is not active",
                "request": str(uuid.uuid4()),
            }
        },
    )


def _insufficient() -> Reply:
    return json_reply(
        422,
        {
            "title": "Unprocessable Entity",
            "status": 422,
            "detail": "Unprocessable Entity",
            "errors": [{"message": "insufficient balance"}],
        },
        PROBLEM,
    )


def _rate_limited() -> Reply:
    return problem(429, "Too Many Requests", "rate limit exceeded")


# --------------------------------------------------------------------------------------------


class FakeCensysLegacy(FakeEngine):
    engine = Engine.CENSYS_LEGACY

    def __init__(
        self,
        corpus: list[dict[str, Any]],
        *,
        accounts: Mapping[tuple[str, str], int] | None = None,
        rate: float | None = None,
    ) -> None:
        super().__init__(corpus, rate=rate)
        self.quota: dict[tuple[str, str], int] = dict(accounts or {("test-id", "test-secret"): 250})
        """Queries left this month per (API ID, secret)."""
        self.credits_spent = 0
        self._pager = _Pager()

    def handle(
        self, request: Request, headers: Mapping[str, str], params: dict[str, str], body: Any
    ) -> Reply:
        request.endpoint = "search" if request.path == "/api/v2/hosts/search" else "other"
        account = _basic(headers.get("Authorization", ""))
        request.credential = account[0] if account else None
        query = body.get("q") if isinstance(body, dict) else None
        request.query = query if isinstance(query, str) else None
        cursor = body.get("cursor") if isinstance(body, dict) else None
        offset = self._pager.offset(cursor, request.query or "")
        if offset is not None:
            request.page = offset // PAGE_SIZE + 1

        if account not in self.quota:
            return _legacy_error(401, "You must authenticate with a valid API ID and secret.")
        assert account is not None
        if not self.rate_limit.allow(account[0]):
            return _legacy_rate_limited()
        if request.endpoint != "search":
            return _legacy_error(404, "Not found")

        fault = self._take_fault("search", request.query, request.page)
        if fault is not None:
            request.fault = fault.kind
            reply = self._fault(fault, request, account, body, offset)
            if reply is not None:
                return reply
        return self._search(request, account, body, offset)

    def _fault(
        self,
        fault: Fault,
        request: Request,
        account: tuple[str, str],
        body: Any,
        offset: int | None,
    ) -> Reply | None:
        if fault.kind == "invalid-key":
            return _legacy_error(401, "You must authenticate with a valid API ID and secret.")
        if fault.kind == "no-credits":
            return _legacy_error(429, "You have used your full quota for this billing period.")
        if fault.kind == "rejected":
            return _legacy_error(400, "Invalid search. Your query could not be parsed")
        if fault.kind == "plan":
            return _legacy_error(403, "Access was denied for this resource or feature.")
        if fault.kind == "error-200":
            return json_reply(200, {"error": "Search 1.0 has reached its End of Life."})
        return self.common_fault(
            fault, lambda: self._search(request, account, body, offset), _legacy_rate_limited
        )

    def _search(
        self, request: Request, account: tuple[str, str], body: Any, offset: int | None
    ) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("q"), str):
            return _legacy_error(400, "Invalid search. Your query could not be parsed")
        size = body.get("per_page", 50)
        if not isinstance(size, int) or not 1 <= size <= PAGE_SIZE:
            return _legacy_error(400, "per_page must be between 1 and 100")
        if offset is None:
            return _legacy_error(422, "Invalid cursor")
        query = body["q"]
        try:
            parse_query(Engine.CENSYS_LEGACY, query)
        except QuerySyntaxError:
            return _legacy_error(400, "Invalid search. Your query could not be parsed")
        if self.quota[account] <= 0:
            return _legacy_error(429, "You have used your full quota for this billing period.")
        self.quota[account] -= 1
        self.credits_spent += 1

        hosts = self.matching(query)
        chunk = hosts[offset : offset + size]
        following = offset + size
        if request.fault == "short":
            chunk = chunk[: len(chunk) // 2]
        elif request.fault == "empty":
            chunk = []
        result = {
            "query": query,
            "total": len(hosts),
            "duration": 42,
            "hits": chunk,
            "links": {
                "prev": "",
                "next": self._pager.issue(query, following) if following < len(hosts) else "",
            },
        }
        return json_reply(200, {"code": 200, "status": "OK", "result": result})


def _basic(header: str) -> tuple[str, str] | None:
    if not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:]).decode()
    except ValueError:
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
}


def _legacy_error(status: int, message: str) -> Reply:
    return json_reply(
        status, {"code": status, "status": _REASONS.get(status, "Error"), "error": message}
    )


def _legacy_rate_limited() -> Reply:
    # The rate-limit body has no ``code`` key, unlike the quota one (censys.md §1.5).
    return json_reply(
        429,
        {
            "error": "Rate limit exceeded. See https://search.censys.io/account for rate limit "
            "details.",
            "status": "error",
            "error_type": "rate_limit_exceeded",
        },
    )
