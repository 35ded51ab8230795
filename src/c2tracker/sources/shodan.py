"""The Shodan source: free counts, paged searches, the credit balance, Shodan's error texts.

Why a thin client on httpx and not the official ``shodan`` library: the library sets no HTTP
timeout, so a hung server blocks a run forever (shodan.md §1.7, PR #151); its
``search_cursor`` fetches page 1 outside any retry and retries later pages on *any* error,
invalid key and exhausted credits included (§1.6); and it turns every HTML error page into
``Unable to parse JSON response`` (§1.8), which hides the difference between an invalid key and
an overloaded proxy. Our client (:mod:`.http`) bounds every wait, retries only what is worth
retrying, page 1 included, and maps the texts of §1.8 onto :mod:`c2tracker.errors`.

Credits (§1.5): a page costs one query credit when the query uses a filter or the page is 2 or
later; ``/shodan/host/count`` and ``/api-info`` are free. The key travels as the ``key`` query
parameter (§1.1) and never appears in a log line.

Several pages in one request: ``/shodan/host/search`` also takes ``limit`` and ``offset``
(§1.2); the official library sends them instead of ``page`` and its CLI caps ``limit`` at 1000
(§1.3, §1.4). When the planner knows a query's total (from the free count or the last run),
one request reads up to :data:`MAX_LIMIT` results, so a query is fetched in
``ceil(total / 1000)`` requests instead of ``ceil(total / 100)``. Windows always start on a page
boundary and are whole pages long, so a window is exactly pages ``offset / 100 + 1`` …
``(offset + limit) / 100`` and checkpoints stay page numbers (:mod:`.base`).

What such a request costs is not documented. Decision (inferred from §1.5's "one credit buys one
page of 100 results", see :func:`window_credits`): a window is charged as the pages it spans,
each by the page rule. Reading a query in windows then costs exactly what paging it costs.

If Shodan refuses ``limit`` (an error naming ``limit`` or ``offset``), or answers a window with
fewer whole pages than the total says it holds (a silent cap), the source goes back to pages
of 100 (or to the cap) for the rest of the session; no result is skipped either way.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from c2tracker.errors import (
    AuthError,
    CreditsExhausted,
    PlanError,
    QueryRejected,
    QuerySyntaxError,
    SourceError,
    TransientError,
)
from c2tracker.model import Engine
from c2tracker.querylang import parse_query
from c2tracker.querylang.ast import Field, Nested
from c2tracker.sources.base import (
    PAGE_SIZE,
    Page,
    PlannedQuery,
    observation_from_shodan,
    pages_for,
)
from c2tracker.sources.batchcount import FacetCount, FacetRefused
from c2tracker.sources.http import (
    ApiClient,
    RetryPolicy,
    describe_body,
    parse_json,
    retry_after_seconds,
    transient_status,
)

log = logging.getLogger(__name__)

ENGINE = "shodan"

#: The search backend answers this when a query times out *or* does not parse (§1.8); the two
#: cannot be told apart. Decision: retry it once (a timeout may pass), then report it as a
#: rejected query with Shodan's own text.
AMBIGUOUS_REJECTION_RETRIES = 1


#: Most results one ``limit``/``offset`` request asks for: the official CLI's cap (shodan.md
#: §1.3). The API's own maximum is not documented.
MAX_LIMIT = 1000

#: Inferred, not documented (shodan.md §1.2–1.5): a ``limit``/``offset`` request costs the
#: credits of the 100-result pages its window spans, each by the page rule of §1.5 — that is,
#: one credit per 100 results requested (page 1 free for a query without a filter). The fake
#: Shodan charges the same way; :func:`window_credits` is the one place that applies it.
RESULTS_PER_CREDIT = PAGE_SIZE


class _AmbiguousRejection(QueryRejected):
    """ "timed out or your query was invalid": retried once before it counts as rejected."""


class _LimitRejected(QueryRejected):
    """Shodan refused the ``limit``/``offset`` parameters; the source falls back to pages."""


def classify(response: httpx.Response) -> Any:
    """Reads a Shodan response; raises the matching source error (shodan.md §1.8)."""
    status = response.status_code
    body = parse_json(response)
    message = body.get("error") if isinstance(body, dict) else None

    # An invalid key gets an HTML 401 page; exhausted credits a JSON 401 (§1.8 table).
    if status == 401 and not isinstance(message, str):
        raise AuthError("Shodan refused the API key (HTTP 401)", engine=ENGINE, status=status)
    if status == 403:
        raise AuthError("Shodan denied access (HTTP 403)", engine=ENGINE, status=status)
    if isinstance(message, str):
        raise _error_for_message(message, status, response)
    if transient_status(status):
        raise TransientError(
            f"HTTP {status} with {describe_body(response)}",
            engine=ENGINE,
            status=status,
            retry_after=retry_after_seconds(response),
        )
    if status >= 400:
        raise SourceError(f"HTTP {status} with {describe_body(response)}", engine=ENGINE)
    if not isinstance(body, dict) or not isinstance(body.get("total"), int):
        # A truncated or garbled body on a 200: worth another try.
        raise TransientError(
            f"malformed response body ({describe_body(response)})", engine=ENGINE, status=status
        )
    return body


def _error_for_message(message: str, status: int, response: httpx.Response) -> SourceError:
    lowered = message.lower()
    if "insufficient query credits" in lowered:
        return CreditsExhausted(f"Shodan: {message}", engine=ENGINE, status=status)
    if "upgrade your api plan" in lowered:
        return PlanError(f"Shodan: {message}", engine=ENGINE, status=status)
    if "rate limit" in lowered:
        return TransientError(
            f"rate limited: {message}",
            engine=ENGINE,
            status=status,
            retry_after=retry_after_seconds(response),
        )
    if "timed out or your query was invalid" in lowered:
        return _AmbiguousRejection(message, engine=ENGINE, status=status)
    # Before the "limit" and "invalid" texts: an error about a facet (a field Shodan does not
    # facet) sends the batched counts back to single counts (.batchcount).
    if "facet" in lowered:
        return FacetRefused(f"Shodan: {message}", engine=ENGINE, status=status)
    # After the credit and rate-limit texts, which also say "limit" (§1.8): an error about the
    # window parameters themselves.
    if "limit" in lowered or "offset" in lowered:
        return _LimitRejected(message, engine=ENGINE, status=status)
    if "invalid" in lowered or "timed out" in lowered or status in (400, 422):
        return QueryRejected(message, engine=ENGINE, status=status)
    if status == 401:
        return AuthError(f"Shodan: {message}", engine=ENGINE, status=status)
    if transient_status(status):
        return TransientError(f"HTTP {status}: {message}", engine=ENGINE, status=status)
    return SourceError(f"Shodan: {message}", engine=ENGINE, status=status)


def uses_filter(query: str) -> bool:
    """True when the query has a filter, which makes even page 1 cost a credit (§1.5).

    A query that does not parse is assumed to use one: over-estimating a cost is safe.
    """
    try:
        parsed = parse_query(Engine.SHODAN, query)
    except QuerySyntaxError:
        return True
    return any(isinstance(node, Field | Nested) for node in parsed.iter_nodes())


def page_credits(query: str, page: int) -> int:
    """Credits of page ``page`` of ``query`` (§1.5): 1 with a filter or from page 2 on."""
    return 1 if page >= 2 or uses_filter(query) else 0


def window_credits(query: str, first_page: int, pages: int) -> int:
    """Credits of a ``limit``/``offset`` request over pages ``first_page`` … ``+ pages - 1``.

    Inferred (:data:`RESULTS_PER_CREDIT`): one credit per 100 results, charged as the pages
    the window spans, so a window costs exactly what paging through it costs.
    """
    if pages <= 0:
        return 0
    filtered = uses_filter(query)
    return sum(1 if n >= 2 or filtered else 0 for n in range(first_page, first_page + pages))


class ShodanSource:
    """A Shodan account, searched through the REST API."""

    engine = Engine.SHODAN
    name = "shodan"
    has_free_count = True

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://api.shodan.io",
        *,
        rate: float = 1.0,
        policy: RetryPolicy | None = None,
        max_limit: int = MAX_LIMIT,
    ) -> None:
        """
        Args:
            max_limit: most results one request asks for, a whole number of pages (tests use
                small windows to exercise several windows per query).
        """
        if max_limit < PAGE_SIZE or max_limit % PAGE_SIZE:
            raise ValueError(f"max_limit must be a positive multiple of {PAGE_SIZE}")
        self._key = api_key
        self._window_pages = max_limit // PAGE_SIZE
        self._api = ApiClient(
            ENGINE,
            base_url,
            rate=rate,
            policy=policy,
            loggable_params=("query", "page", "limit", "offset", "facets"),
        )

    @property
    def pages_per_request(self) -> int:
        """Pages one search request may read: ``max_limit / 100``, or 1 once Shodan refused
        ``limit`` (fewer once it capped a window)."""
        return self._window_pages

    @property
    def requests(self) -> int:
        return self._api.requests

    def close(self) -> None:
        self._api.close()

    def count(self, query: str) -> int:
        body = self._get("/shodan/host/count", {"query": query}, what="count")
        return int(body["total"])

    def count_facets(self, query: str, facet: str, size: int) -> FacetCount:
        """The free count of ``query`` broken down by ``facet`` (``facets=name:N``, §1.3).

        Raises:
            FacetRefused: Shodan's error names the facet.
        """
        body = self._get(
            "/shodan/host/count",
            {"query": query, "facets": f"{facet}:{size}"},
            what=f"count by {facet}",
        )
        facets = body.get("facets")
        raw = facets.get(facet) if isinstance(facets, dict) else None
        if not isinstance(raw, list):
            raise FacetRefused(f"no {facet!r} facet in the answer", engine=ENGINE)
        buckets = []
        for bucket in raw:
            count = bucket.get("count") if isinstance(bucket, dict) else None
            if not isinstance(count, int) or isinstance(count, bool) or "value" not in bucket:
                raise FacetRefused(f"malformed {facet!r} facet bucket", engine=ENGINE)
            buckets.append((bucket["value"], count))
        return FacetCount(int(body["total"]), buckets)

    def balance(self) -> int | None:
        body = self._api.call("GET", "/api-info", _classify_info, params={"key": self._key})
        credits = body.get("query_credits")
        return credits if isinstance(credits, int) else None

    def page_credits(self, query: str, page: int) -> int:
        return page_credits(query, page)

    def fetch_page(
        self, planned: PlannedQuery, page: int, token: str | None = None, *, span: int = 1
    ) -> Page:
        """Page ``page`` (``span`` 1: the ``page`` parameter, as shodan-python sends it) or
        pages ``page`` … ``page + span - 1`` in one ``limit``/``offset`` request."""
        span = max(1, min(span, self._window_pages))
        if span == 1:
            body = self._get(
                "/shodan/host/search",
                {"query": planned.query, "page": page, "minify": "true"},
                what=f"page {page}",
            )
            return self._page(planned, body, page, 1, page_credits(planned.query, page))

        offset, limit = (page - 1) * PAGE_SIZE, span * PAGE_SIZE
        try:
            body = self._get(
                "/shodan/host/search",
                {"query": planned.query, "limit": limit, "offset": offset, "minify": "true"},
                what=f"pages {page}-{page + span - 1}",
            )
        except _LimitRejected as error:
            log.warning(
                "shodan refused limit/offset (%s); reading 100 results a request from now on",
                error.message,
            )
            self._window_pages = 1
            return self.fetch_page(planned, page)

        covered = span
        served = len(body["matches"]) if isinstance(body.get("matches"), list) else 0
        due = min(limit, max(int(body["total"]) - offset, 0))
        if 0 < served < due and served % PAGE_SIZE == 0:
            # Whole pages, fewer than the total says the window holds: Shodan capped the
            # window. Only those pages count as read, so the next request starts right after
            # them and nothing is skipped; later windows keep to the cap.
            covered = served // PAGE_SIZE
            self._window_pages = covered
            log.warning(
                "shodan returned %d of %d results for limit=%d; reading %d a request from now on",
                served,
                due,
                limit,
                served,
            )
        # Charged for the window asked for (RESULTS_PER_CREDIT), even when it was capped.
        credits = window_credits(planned.query, page, span)
        return self._page(planned, body, page + covered - 1, covered, credits)

    def _page(
        self, planned: PlannedQuery, body: dict[str, Any], last: int, span: int, credits: int
    ) -> Page:
        matches = body.get("matches")
        matches = matches if isinstance(matches, list) else []
        observations = []
        dropped = []
        for banner in matches:
            observation = (
                observation_from_shodan(banner, planned) if isinstance(banner, dict) else None
            )
            if observation is None:
                dropped.append("banner without a usable ip_str, ipv6 or ip")
            else:
                observations.append(observation)
        return Page(
            number=last,
            observations=observations,
            total=int(body["total"]),
            next_token=None,
            credits=credits,
            hits=len(matches),
            dropped=dropped,
            span=span,
        )

    def is_last_page(self, page: Page) -> bool:
        # Read up to the page count that ``total`` implies; a short or empty page before then
        # is passed over, as shodan-python 1.30.1 fixed for partial results (§1.6).
        return page.number >= pages_for(page.total or 0)

    def _get(self, path: str, params: dict[str, Any], *, what: str) -> Any:
        attempts = 0
        while True:
            try:
                return self._api.call(
                    "GET", path, classify, params={**params, "key": self._key}, what=what
                )
            except _AmbiguousRejection as error:
                if attempts >= AMBIGUOUS_REJECTION_RETRIES:
                    raise QueryRejected(error.message, engine=ENGINE, status=error.status) from None
                attempts += 1
                log.debug("shodan: %s; retrying once", error.message)


def _classify_info(response: httpx.Response) -> Any:
    body = parse_json(response)
    if response.status_code == 200 and isinstance(body, dict) and "error" not in body:
        return body
    return classify(response)
