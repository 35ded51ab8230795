"""The Censys Platform source: CenQL searches with page tokens, a PAT and an organization.

``POST /v3/global/search/query`` with ``{query, page_size, page_token}``, Bearer personal
access token, ``organization_id`` query parameter (censys.md §2.1–2.4). Pages follow
``next_page_token`` and end on an empty token or an empty page (§2.4).

Why not the official ``censys-platform`` SDK (version 0.16 was read for this decision): its
retry loop sleeps for whatever ``Retry-After`` the server sends with no upper bound and caps
only elapsed time, not
attempts, checked *before* the sleep (``utils/retries.py``), so one answer can stall a weekly
job for hours; it retries nothing that arrives as a 200 with a broken body; and it validates
every hit into pydantic models, while the feed needs the engine's record exactly as sent, to
run the offline evaluator on it and keep its evidence. The shared client in :mod:`.http` gives
all three engines the same bounded waits, rate limit and log lines; the request and response
shapes are the SDK's (``SearchQueryInputBody``, ``SearchQueryResponse``).

Credits: Censys has no free count, and its price per page depends on the plan (§2.8): Starter
pays 5 credits a page and 8 for regex ("advanced") queries; Core/Enterprise pay 1 a page. We
charge the Starter prices (:data:`STANDARD_PAGE_CREDITS`, :data:`ADVANCED_PAGE_CREDITS`), so a
budget is never overspent on either plan; Enterprise users see their budget go further than
it reads.
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

ENGINE = "censys"

#: Credits a standard page costs on the Starter plan (censys.md §2.8).
STANDARD_PAGE_CREDITS = 5
#: Credits a page of a regex ("advanced") query costs on the Starter plan (§2.8).
ADVANCED_PAGE_CREDITS = 8


def classify(response: httpx.Response) -> Any:
    """Reads a Platform response; raises the matching source error (censys.md §2.6)."""
    status = response.status_code
    body = parse_json(response)

    if status == 401:
        raise AuthError(
            f"Censys refused the personal access token: {_auth_message(body)}",
            engine=ENGINE,
            status=status,
        )
    if transient_status(status):
        raise TransientError(
            f"HTTP {status} with {_detail(body) or describe_body(response)}",
            engine=ENGINE,
            status=status,
            retry_after=retry_after_seconds(response),
        )
    if status >= 400:
        detail = _detail(body) or describe_body(response)
        if "insufficient balance" in detail.lower():
            raise CreditsExhausted(f"Censys: {detail}", engine=ENGINE, status=status)
        if status == 403:
            raise PlanError(f"Censys: {detail}", engine=ENGINE, status=status)
        if status in (400, 422):
            raise QueryRejected(detail, engine=ENGINE, status=status)
        raise SourceError(f"Censys: HTTP {status}: {detail}", engine=ENGINE, status=status)

    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, dict) or not isinstance(result.get("total_hits"), int | float):
        raise TransientError(
            f"malformed response body ({describe_body(response)})", engine=ENGINE, status=status
        )
    return result


def _detail(body: Any) -> str:
    """problem+json text: the detail, then each error's message (the useful part of a 422)."""
    if not isinstance(body, dict):
        return ""
    parts = []
    for key in ("detail", "title"):
        if isinstance(body.get(key), str) and body[key] not in parts:
            parts.append(body[key])
            break
    errors = body.get("errors")
    if isinstance(errors, list):
        for error in errors:
            message = error.get("message") if isinstance(error, dict) else None
            if isinstance(message, str) and message not in parts:
                parts.append(message)
    return ": ".join(parts)


def _auth_message(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        texts = [error.get(k) for k in ("message", "reason")]
        shown = [t for t in texts if isinstance(t, str)]
        if shown:
            return "; ".join(shown)
    return "HTTP 401"


def is_advanced(query: str) -> bool:
    """Regex queries are billed as advanced (censys.md §2.8); unparsable ones assumed so."""
    try:
        return parse_query(Engine.CENSYS, query).uses_regex
    except QuerySyntaxError:
        return True


class CensysPlatformSource:
    """A Censys Platform organization, searched with CenQL."""

    engine = Engine.CENSYS
    name = "censys"
    has_free_count = False
    pages_per_request = 1
    """Pages follow one another by token; one request reads one page."""

    def __init__(
        self,
        token: str,
        organization_id: str | None,
        base_url: str = "https://api.platform.censys.io",
        *,
        rate: float = 1.0,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._org = organization_id
        self._api = ApiClient(
            ENGINE,
            base_url,
            rate=rate,
            policy=policy,
            headers={"Authorization": f"Bearer {token}"},
            loggable_params=("organization_id",),
        )

    @property
    def requests(self) -> int:
        return self._api.requests

    def close(self) -> None:
        self._api.close()

    def count(self, query: str) -> int:
        raise NotImplementedError("Censys has no free count; the planner goes to page 1")

    def balance(self) -> int | None:
        return None

    def page_credits(self, query: str, page: int) -> int:
        return ADVANCED_PAGE_CREDITS if is_advanced(query) else STANDARD_PAGE_CREDITS

    def fetch_page(
        self, planned: PlannedQuery, page: int, token: str | None = None, *, span: int = 1
    ) -> Page:
        # Pages follow a token, one at a time: ``span`` is always 1 (pages_per_request).
        body: dict[str, Any] = {"query": planned.query, "page_size": PAGE_SIZE}
        if token:
            body["page_token"] = token
        params = {"organization_id": self._org} if self._org else None
        result = self._api.call(
            "POST",
            "/v3/global/search/query",
            classify,
            params=params,
            json=body,
            what=f"page {page} of {planned.rule_id}",
        )

        hits = result.get("hits") or []
        observations = []
        dropped = []
        for hit in hits if isinstance(hits, list) else []:
            host = hit.get("host_v1") if isinstance(hit, dict) else None
            resource = host.get("resource") if isinstance(host, dict) else None
            if not isinstance(host, dict) or not isinstance(resource, dict):
                # Web-property and certificate hits name no IP (§2.4).
                dropped.append("hit without host_v1.resource")
                continue
            found = observations_from_censys_host(
                resource, planned, self.name, host.get("matched_services")
            )
            if not found:
                dropped.append("host without a usable ip")
            observations.extend(found)
        next_token = result.get("next_page_token")
        return Page(
            number=page,
            observations=observations,
            total=int(result["total_hits"]),
            next_token=next_token if isinstance(next_token, str) and next_token else None,
            credits=self.page_credits(planned.query, page),
            hits=len(hits) if isinstance(hits, list) else 0,
            dropped=dropped,
        )

    def is_last_page(self, page: Page) -> bool:
        # The last page has no next token (§2.4). Censys' own CLI also stops on an empty page,
        # to be safe from a token that loops; we follow the token past an empty page while the
        # total says more results exist, so a hiccup loses nothing, and the total bounds the loop.
        if page.next_token is None:
            return True
        return page.hits == 0 and page.number >= pages_for(page.total or 0)
