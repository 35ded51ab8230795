"""A fake Shodan REST API (shodan.md §1): search, count, api-info, with Shodan's error bodies.

- ``GET /shodan/host/search?key&query&page&minify`` → ``{"matches": [...], "total": n}``,
  100 banners a page, ``total`` counting banners; a page costs one query credit when the query
  has a filter or the page is 2 or later (§1.5).
- ``limit``/``offset`` instead of ``page`` (§1.2–1.4): results ``offset`` … ``offset + limit -
  1``, at most :attr:`FakeShodan.max_limit` (an error naming ``limit`` above it). Charged as
  the client assumes (``c2tracker.sources.shodan.RESULTS_PER_CREDIT``, inferred): one credit per
  100-result page the window spans, each by the page rule, so a window costs what paging
  through it costs. ``accepts_limit=False`` makes the fake refuse ``limit`` altogether and
  ``limit_cap`` makes it serve fewer results than asked without saying so.
- ``GET /shodan/host/count?key&query[&facets]`` → ``{"matches": [], "total": n}``, free.
- ``facets=name:N,…`` on count and search (§1.3): ``"facets": {name: [{"count", "value"}]}``
  counted over every banner the query matches (not only the page), one bucket per distinct
  value of the field the filter of that name reads (``SHODAN_FILTERS``' extractor), largest
  count first (ties by value text), cut to the top N (:data:`DEFAULT_FACET_SIZE` without
  ``:N``). Values keep the banner's type, so numeric facets give numbers. A name outside
  :attr:`FakeShodan.facetable` is refused with :data:`BAD_FACET`.
- ``GET /api-info?key`` → the plan object with ``query_credits``.
- Errors as §1.8 gives them: an HTML 401 page for a bad key, a JSON 401 for exhausted
  credits, the rate-limit, upgrade-plan and "timed out or your query was invalid" texts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from c2tracker.errors import QuerySyntaxError
from c2tracker.matching.fields import SHODAN_FILTERS
from c2tracker.querylang import parse_query
from c2tracker.querylang.ast import Engine, Field, Nested
from fakes.base import HTML_401, FakeEngine, Reply, Request, json_reply

PAGE_SIZE = 100
NO_CREDITS = (
    "Insufficient query credits, please upgrade your API plan or wait for the monthly limit to "
    "reset"
)
RATE_LIMITED = (
    "Request rate limit reached (1 request/ second). Please wait a second before trying again "
    "and slow down your API calls."
)
UPGRADE = "Please upgrade your API plan to use filters or paging."
INVALID = "The search request timed out or your query was invalid."
#: What the fake says when it refuses a ``limit``; the real text is unknown (shodan.md §1.8
#: lists none), so it only needs to name the parameter.
BAD_LIMIT = "Invalid value for the limit parameter."
#: What the fake says for a facet it does not know; the real text is unknown, so it only
#: needs to name the facet.
BAD_FACET = "Invalid facet: {name}"
#: Buckets a facet returns without ``:N`` (inferred: Shodan's web stats show the top 5).
DEFAULT_FACET_SIZE = 5
#: Facets the fake computes by default: the filters the client batches, and ``country``.
FACETABLE = frozenset(
    {
        "product",
        "http.title",
        "http.favicon.hash",
        "http.html_hash",
        "http.headers_hash",
        "hash",
        "ssl.jarm",
        "ssl.cert.serial",
        "port",
        "country",
    }
)


def _truthy(value: str | None) -> bool:
    # shodan-python sends Python booleans as True/False (§1.4).
    return (value or "").lower() in ("true", "1")


class FakeShodan(FakeEngine):
    engine = Engine.SHODAN

    def __init__(
        self,
        corpus: list[dict[str, Any]],
        *,
        keys: Mapping[str, int] | None = None,
        rate: float | None = None,
        max_limit: int = 1000,
        accepts_limit: bool = True,
        limit_cap: int | None = None,
        facetable: frozenset[str] = FACETABLE,
    ) -> None:
        super().__init__(corpus, rate=rate)
        self.credits: dict[str, int] = dict(keys or {"test-key": 1000})
        """Query credits left per API key."""
        self.credits_spent = 0
        self.max_limit = max_limit
        self.accepts_limit = accepts_limit
        self.limit_cap = limit_cap
        self.facetable = facetable

    def handle(
        self, request: Request, headers: Mapping[str, str], params: dict[str, str], body: Any
    ) -> Reply:
        key = params.get("key", "")
        request.credential = key
        request.query = params.get("query")
        request.minify = _truthy(params.get("minify", "true"))
        endpoint = {
            "/shodan/host/search": "search",
            "/shodan/host/count": "count",
            "/api-info": "info",
        }.get(request.path, "other")
        request.endpoint = endpoint
        request.facets = params.get("facets")
        window: tuple[int, int] | None = None
        if endpoint == "search":
            try:
                request.page = int(params.get("page") or 1)
                if "limit" in params:
                    window = (int(params.get("offset") or 0), int(params["limit"]))
            except ValueError:
                return json_reply(400, {"error": "Invalid page, limit or offset"})
            if window is not None:
                request.page = max(window[0], 0) // PAGE_SIZE + 1

        if key not in self.credits:
            return Reply(401, HTML_401, "text/html")
        if not self.rate_limit.allow(key):
            return json_reply(429, {"error": RATE_LIMITED})
        facets = self._facet_request(request.facets)
        if isinstance(facets, Reply):
            return facets
        if window is not None:
            offset, limit = window
            if not self.accepts_limit or not 0 < limit <= self.max_limit or offset < 0:
                return json_reply(400, {"error": BAD_LIMIT})

        fault = self._take_fault(endpoint, request.query, request.page)
        if fault is not None:
            request.fault = fault.kind
            reply = self._fault(fault, request, key, window)
            if reply is not None:
                return reply

        if endpoint == "info":
            return json_reply(
                200,
                {
                    "query_credits": self.credits[key],
                    "scan_credits": 100,
                    "plan": "dev",
                    "https": True,
                    "unlocked": True,
                    "unlocked_left": self.credits[key],
                    "telnet": True,
                    "monitored_ips": 16,
                },
            )
        if endpoint == "other":
            return json_reply(404, {"error": "No information available for that IP."})
        return self._search(request, key, endpoint, fault.kind if fault else None, window)

    def _fault(
        self, fault: Any, request: Request, key: str, window: tuple[int, int] | None
    ) -> Reply | None:
        if fault.kind == "invalid-key":
            return Reply(401, HTML_401, "text/html")
        if fault.kind == "no-credits":
            return json_reply(401, {"error": NO_CREDITS})
        if fault.kind == "rejected":
            return json_reply(400, {"error": INVALID})
        if fault.kind == "plan":
            return json_reply(401, {"error": UPGRADE})
        return self.common_fault(
            fault,
            lambda: self._search(request, key, request.endpoint, None, window),
            lambda: json_reply(429, {"error": RATE_LIMITED}),
        )

    def _search(
        self,
        request: Request,
        key: str,
        endpoint: str,
        fault: str | None,
        window: tuple[int, int] | None = None,
    ) -> Reply:
        query = request.query or ""
        try:
            parsed = parse_query(Engine.SHODAN, query)
        except QuerySyntaxError:
            return json_reply(400, {"error": INVALID})
        matches = self.matching(query)
        extra: dict[str, Any] = {}
        wanted = self._facet_request(request.facets)
        if wanted and not isinstance(wanted, Reply):
            extra["facets"] = {name: facet_buckets(matches, name, n) for name, n in wanted}
        if endpoint == "count":
            return json_reply(200, {"matches": [], "total": len(matches), **extra})

        page = request.page or 1
        offset, limit = window or ((page - 1) * PAGE_SIZE, PAGE_SIZE)
        # Every 100-result page the window spans, each by the page rule (§1.5).
        first, last = offset // PAGE_SIZE + 1, -(-(offset + limit) // PAGE_SIZE)
        has_filter = any(isinstance(n, Field | Nested) for n in parsed.iter_nodes())
        cost = sum(1 if has_filter or n >= 2 else 0 for n in range(first, last + 1))
        if cost > self.credits[key]:
            return json_reply(401, {"error": NO_CREDITS})
        self.credits[key] -= cost
        self.credits_spent += cost

        served = min(limit, self.limit_cap) if self.limit_cap and window else limit
        chunk = matches[offset : offset + served]
        if window is not None:
            existing = -(-len(matches) // PAGE_SIZE)
            request.span = max(1, min(-(-served // PAGE_SIZE), existing - first + 1))
        if fault == "short":
            chunk = chunk[: len(chunk) // 2]
        elif fault == "empty":
            chunk = []
        if request.minify:
            chunk = [_minify(banner) for banner in chunk]
        return json_reply(200, {"matches": chunk, "total": len(matches), **extra})

    def _facet_request(self, text: str | None) -> list[tuple[str, int]] | Reply:
        """``name[:N],…`` as (name, N) pairs, or the error reply for an unknown facet."""
        wanted = []
        for item in (text or "").split(","):
            if not item.strip():
                continue
            name, _, size = item.strip().partition(":")
            if name not in self.facetable or (size and not size.isdigit()):
                return json_reply(400, {"error": BAD_FACET.format(name=name)})
            wanted.append((name, int(size) if size else DEFAULT_FACET_SIZE))
        return wanted


def facet_buckets(matches: list[dict[str, Any]], name: str, size: int) -> list[dict[str, Any]]:
    """Per-value counts of field ``name`` over ``matches``, largest first, top ``size``."""
    counts: dict[Any, int] = {}
    extract = SHODAN_FILTERS[name].extract
    for banner in matches:
        for value in dict.fromkeys(_hashable(v) for v in extract(banner)):
            counts[value] = counts.get(value, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    return [{"count": n, "value": value} for value, n in ranked[:size]]


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) else str(value)


def _minify(banner: dict[str, Any]) -> dict[str, Any]:
    # minify=true drops ``opts`` (§1.3, the one documented difference).
    return {k: v for k, v in banner.items() if k != "opts"}
