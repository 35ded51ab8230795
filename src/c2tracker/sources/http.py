"""One HTTP client for every search engine: rate limit, timeouts, bounded retries, safe logs.

The three engines fail in the same ways (429, HTML 5xx pages from a proxy, hung connections,
truncated bodies), so the waiting and retrying lives here once and each source only says how
to read its engine's answers: a ``classify`` function turns a response into parsed JSON or one
of the :mod:`c2tracker.errors` source errors, and :class:`~c2tracker.errors.TransientError` is
the one that gets retried.

Every wait has a bound: connect and read timeouts on each request, a cap on attempts, a cap on
any single back-off (a ``Retry-After`` larger than it is clipped) and a cap on the total time
spent waiting for one call. Secrets never reach a log line: the caller names which request
parameters may be shown and everything else is left out of the logged URL.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from c2tracker import __version__
from c2tracker.errors import SourceError, TransientError

log = logging.getLogger(__name__)

USER_AGENT = f"c2tracker/{__version__} (+https://github.com/c2tracker)"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long and how often one call may be retried.

    Defaults suit the real engines: Shodan asks for one request a second (shodan.md §1.7) and
    censys-python gives up after 5 tries and 30 s (censys.md §1.7); we allow a little more
    patience for a weekly job but never an unbounded wait.
    """

    max_attempts: int = 5
    """Attempts per call, the first included."""
    base_delay: float = 1.0
    """First back-off in seconds; doubled after every failed attempt."""
    max_delay: float = 30.0
    """Cap on one back-off, ``Retry-After`` included."""
    max_total_wait: float = 120.0
    """Cap on the time one call spends sleeping between attempts."""
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    """Seconds to wait for the next bytes of a response; search backends can be slow."""

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` is 1-based).

        ``Retry-After`` wins when the server sent one; otherwise exponential back-off with
        "full jitter" (a random share of the step), so clients that failed together do not
        come back together.
        """
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_delay)
        step = min(self.base_delay * 2.0 ** (attempt - 1), self.max_delay)
        return step / 2 + random.uniform(0, step / 2)


class RateLimiter:
    """Spaces request starts at least ``1 / rate`` seconds apart; safe across threads.

    Shodan documents one request per second for every method (shodan.md §1.7) and Censys shows
    a per-account rate; a client that keeps to it never sees a 429 in normal operation. The
    next slot is reserved before sleeping so that concurrent callers queue up in order.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._clock = clock
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Blocks until the next request may start; returns the seconds slept."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        delay = start - now
        if delay > 0:
            time.sleep(delay)
        return delay


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header as seconds (delta or HTTP date, RFC 9110 §10.2.3)."""
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def parse_json(response: httpx.Response) -> Any:
    """The body as JSON, or None when it is not JSON (HTML error pages, truncated bodies)."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


#: Turns a response into parsed JSON or raises a SourceError.
Classifier = Callable[[httpx.Response], Any]


class ApiClient:
    """A rate-limited, retrying JSON client for one engine account."""

    def __init__(
        self,
        engine: str,
        base_url: str,
        *,
        rate: float,
        policy: RetryPolicy | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        loggable_params: Iterable[str] = (),
    ) -> None:
        self.engine = engine
        self.policy = policy or RetryPolicy()
        self.limiter = RateLimiter(rate)
        self.requests = 0
        """HTTP requests sent, retries included."""
        self._loggable = frozenset(loggable_params)
        timeout = httpx.Timeout(
            self.policy.read_timeout,
            connect=self.policy.connect_timeout,
            pool=self.policy.connect_timeout,
        )
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            auth=auth,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        classify: Classifier,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        what: str = "",
    ) -> Any:
        """Sends one API call, retrying transient failures within the policy's bounds.

        Args:
            classify: reads a response; raises TransientError for what is worth retrying.
            what: a short description for log lines (``page 2 of 'query'``).

        Raises:
            SourceError: the call failed; a TransientError when retries ran out.
        """
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._attempt(method, path, classify, params, json, what)
            except TransientError as error:
                delay = self.policy.backoff(attempt, error.retry_after)
                if attempt >= self.policy.max_attempts:
                    raise self._gave_up(error, attempt) from None
                if waited + delay > self.policy.max_total_wait:
                    raise self._gave_up(error, attempt) from None
                log.debug("%s: %s; retry %d in %.2fs", self.engine, error.message, attempt, delay)
                time.sleep(delay)
                waited += delay

    def _attempt(
        self,
        method: str,
        path: str,
        classify: Classifier,
        params: Mapping[str, Any] | None,
        json: Any,
        what: str,
    ) -> Any:
        self.limiter.wait()
        shown = self._shown_url(path, params)
        started = time.monotonic()
        self.requests += 1
        try:
            response = self._http.request(method, path, params=params, json=json)
        except httpx.TimeoutException as exc:
            log.info("%s %s %s -> timeout (%s)", self.engine, method, shown, type(exc).__name__)
            raise TransientError(
                f"no answer within the timeout ({type(exc).__name__})", engine=self.engine
            ) from None
        except httpx.TransportError as exc:
            log.info("%s %s %s -> connection error", self.engine, method, shown)
            raise TransientError(
                f"connection failed ({type(exc).__name__})", engine=self.engine
            ) from None

        elapsed = time.monotonic() - started
        log.info(
            "%s %s %s %s-> %d in %.2fs",
            self.engine,
            method,
            shown,
            f"[{what}] " if what else "",
            response.status_code,
            elapsed,
        )
        return classify(response)

    def _shown_url(self, path: str, params: Mapping[str, Any] | None) -> str:
        # Only parameters named loggable appear; the Shodan key is a query parameter
        # (shodan.md §1.1) and must never be written out.
        if not params:
            return path
        shown = [f"{k}={v}" for k, v in params.items() if k in self._loggable]
        return f"{path}?{'&'.join(shown)}" if shown else path

    def _gave_up(self, error: TransientError, attempts: int) -> TransientError:
        return TransientError(
            f"gave up after {attempts} attempt(s): {error.message}",
            engine=self.engine,
            status=error.status,
        )


def transient_status(status: int) -> bool:
    """Statuses worth retrying: rate limited, request timeout and the 5xx family."""
    return status in (408, 429) or status >= 500


def describe_body(response: httpx.Response, limit: int = 200) -> str:
    """A short, single-line, printable description of an unexpected body for error messages."""
    text = response.text.strip().replace("\r", " ").replace("\n", " ")
    if text.startswith("<"):
        return "an HTML page"
    if not text:
        return "an empty body"
    return repr(text[:limit])


__all__ = [
    "ApiClient",
    "Classifier",
    "RateLimiter",
    "RetryPolicy",
    "SourceError",
    "TransientError",
    "describe_body",
    "parse_json",
    "retry_after_seconds",
    "transient_status",
]
