"""The legacy Censys Search 2.0 source, for users who still hold an API ID and secret.

``POST /v2/hosts/search`` with ``{q, per_page, cursor}`` under HTTP Basic auth, cursor paging
through ``result.links.next`` (censys.md §1.2–1.3, §1.8). A thin client on httpx: the official
``censys-python`` is deprecated in favour of the Platform SDK (§6) and retries a quota-exhausted
429 as if it were a rate limit (§1.7); here the two 429 bodies of §1.5 part ways: the rate limit
is retried, the exhausted quota stops the engine.

Credits: each page is one query against the monthly quota (§1.9), so a page costs 1. There is
no free count.
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
    SourceError,
    TransientError,
)
from c2tracker.model import Engine
from c2tracker.sources.base import (
    PAGE_SIZE,
    Page,
    PlannedQuery,
    observations_from_censys_host,
    pages_for,
)
from c2tracker.sources.http import (
    ApiClient,
    RetryPolicy,
    describe_body,
    parse_json,
    retry_after_seconds,
    transient_status,
)

log = logging.getLogger(__name__)

ENGINE = "censys-legacy"

#: Credits (quota queries) one page costs (censys.md §1.9).
PAGE_CREDITS = 1


def classify(response: httpx.Response) -> Any:
    """Reads a Search 2.0 response; raises the matching source error (censys.md §1.5)."""
    status = response.status_code
    body = parse_json(response)
    message = body.get("error") if isinstance(body, dict) else None
    text = message if isinstance(message, str) else describe_body(response)

    if status == 429:
        # Same status, two meanings (§1.5, §1.9): the monthly quota is gone, or slow down.
        if "full quota" in text.lower():
            raise CreditsExhausted(f"Censys: {text}", engine=ENGINE, status=status)
        raise TransientError(
            f"rate limited: {text}",
            engine=ENGINE,
            status=status,
            retry_after=retry_after_seconds(response),
        )
    if status == 401:
        raise AuthError(f"Censys refused the API ID and secret: {text}", engine=ENGINE, status=401)
    if status == 403:
        raise PlanError(f"Censys: {text}", engine=ENGINE, status=status)
    if transient_status(status):
        raise TransientError(
            f"HTTP {status} with {text}",
            engine=ENGINE,
            status=status,
            retry_after=retry_after_seconds(response),
        )
    if status in (400, 422):
        raise QueryRejected(text, engine=ENGINE, status=status)
    if status >= 400:
        raise SourceError(f"Censys: HTTP {status}: {text}", engine=ENGINE, status=status)
    if isinstance(message, str):
        # A 2xx carrying an error, as the Search 1.0 end-of-life notice did (§6).
        raise SourceError(f"Censys: {message}", engine=ENGINE, status=status)

    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, dict) or not isinstance(result.get("total"), int):
        raise TransientError(
            f"malformed response body ({describe_body(response)})", engine=ENGINE, status=status
        )
    return result


class CensysLegacySource:
    """A Censys Search 2.0 account (API ID and secret)."""

    engine = Engine.CENSYS_LEGACY
    name = "censys-legacy"
    has_free_count = False
    pages_per_request = 1
    """Pages follow one another by token; one request reads one page."""

    def __init__(
        self,
        api_id: str,
        secret: str,
        base_url: str = "https://search.censys.io/api",
        *,
        rate: float = 1.0,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._api = ApiClient(ENGINE, base_url, rate=rate, policy=policy, auth=(api_id, secret))

    @property
    def requests(self) -> int:
        return self._api.requests

    def close(self) -> None:
        self._api.close()

    def count(self, query: str) -> int:
        raise NotImplementedError("legacy Censys has no free count; the planner goes to page 1")

    def balance(self) -> int | None:
        return None

    def page_credits(self, query: str, page: int) -> int:
        return PAGE_CREDITS

    def fetch_page(
        self, planned: PlannedQuery, page: int, token: str | None = None, *, span: int = 1
    ) -> Page:
        # Pages follow a token, one at a time: ``span`` is always 1 (pages_per_request).
        body: dict[str, Any] = {"q": planned.query, "per_page": PAGE_SIZE}
        if token:
            body["cursor"] = token
        result = self._api.call(
            "POST",
            "/v2/hosts/search",
            classify,
            json=body,
            what=f"page {page} of {planned.rule_id}",
        )

        hits = result.get("hits")
        hits = hits if isinstance(hits, list) else []
        observations = []
        dropped = []
        for hit in hits:
            found = (
                observations_from_censys_host(hit, planned, self.name)
                if isinstance(hit, dict)
                else []
            )
            if not found:
                dropped.append("hit without a usable ip")
            observations.extend(found)
        links = result.get("links")
        following = links.get("next") if isinstance(links, dict) else None
        return Page(
            number=page,
            observations=observations,
            total=result["total"],
            next_token=following if isinstance(following, str) and following else None,
            credits=PAGE_CREDITS,
            hits=len(hits),
            dropped=dropped,
        )

    def is_last_page(self, page: Page) -> bool:
        # The last page has no next token (§1.3). Censys' own CLI also stops on an empty page,
        # to be safe from a token that loops; we follow the token past an empty page while the
        # total says more results exist, so a hiccup loses nothing, and the total bounds the loop.
        if page.next_token is None:
            return True
        return page.hits == 0 and page.number >= pages_for(page.total or 0)
