"""What the three fake engines share: a real HTTP server in a thread, faults, rate limits, logs.

Each fake is a :class:`http.server.ThreadingHTTPServer` on 127.0.0.1 with an ephemeral port, so
the real clients talk to it over real HTTP. Searches run through the offline engine
(:func:`c2tracker.matching.evaluate` over a corpus of records), so a fake answers a rule's
query the way the real engine would answer it for that corpus.

Tests steer a fake with :class:`Fault` objects (invalid key, no credits, 429 with and without
``Retry-After``, HTML 5xx pages, a response that never arrives, malformed JSON, short and empty
pages, rejected queries), optionally limited to one page and a number of occurrences, and
assert on :attr:`FakeEngine.log`, the list of every request the fake received.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from c2tracker.matching import evaluate
from c2tracker.querylang import parse_query
from c2tracker.querylang.ast import Engine

#: Fault kinds every fake understands.
FAULT_KINDS = (
    "invalid-key",  # the engine's own 401
    "no-credits",  # out of credits / insufficient balance / full quota
    "rate-limit",  # 429 without Retry-After
    "rate-limit-retry-after",  # 429 with Retry-After: 0.05 (fractional, as delta-seconds)
    "http-500",
    "http-502",
    "http-503",
    "hang",  # never answers within the client's timeout
    "malformed",  # 200 with a truncated JSON body
    "short",  # the page has half its results
    "empty",  # the page has no results
    "rejected",  # the engine refuses the query
    "plan",  # the plan does not allow the request (Shodan filters/paging, Censys 403)
    "error-200",  # a 2xx body carrying an error (legacy Censys)
)


@dataclass(slots=True)
class Fault:
    """One fault to inject.

    ``page`` limits it to requests for that page (search requests only; Censys pages are
    numbered by the fake from the page token; a Shodan ``limit``/``offset`` request is matched
    by the first page it reads); ``query`` to one query text; ``times`` to that many
    occurrences (None: every time).
    """

    kind: str
    page: int | None = None
    query: str | None = None
    times: int | None = 1
    endpoint: str = "search"
    """``search``, ``count`` or ``any``."""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}")


@dataclass(slots=True)
class Request:
    """One request as the fake saw it."""

    at: float
    method: str
    path: str
    endpoint: str
    query: str | None
    page: int | None
    status: int = 0
    fault: str | None = None
    credential: str | None = None
    minify: bool = True
    span: int = 1
    facets: str | None = None
    """The ``facets`` parameter (Shodan), as sent."""
    """Pages of 100 results the request read, from ``page`` on (Shodan ``limit``/``offset``)."""


class RateLimit:
    """A token bucket per credential: ``rate`` per second, bursts of ``burst``.

    Shodan documents one request a second with "some bursting possible" (shodan.md §1.7).
    """

    def __init__(self, rate: float | None, burst: float = 2.0) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, credential: str) -> bool:
        if self.rate is None:
            return True
        with self._lock:
            now = time.monotonic()
            tokens, last = self._buckets.get(credential, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[credential] = (tokens - 1.0 if allowed else tokens, now)
            return allowed


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, body: Any, content_type: str = "application/json") -> Reply:
    return Reply(status, json.dumps(body).encode(), content_type)


HTML_401 = (
    b'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n'
    b"<title>401 Unauthorized</title>\n</head><body>\n<h1>Unauthorized</h1>\n"
    b"<p>This server could not verify that you are authorized to access the document you "
    b"requested.</p>\n</body></html>\n"
)


def html_error(status: int) -> Reply:
    """An nginx-style HTML error page, what a proxy in front of an API sends."""
    reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    text = f"{status} {reason.get(status, 'Error')}"
    page = f"<html><head><title>{text}</title></head><body><center><h1>{text}</h1></center>"
    return Reply(status, (page + "<hr><center>nginx</center></body></html>").encode(), "text/html")


class FakeEngine:
    """Base of the three fakes: serving, the request log, faults, rate limit, matching."""

    engine: Engine
    hang_seconds = 3.0
    """How long a "hang" fault sleeps: longer than the tests' client timeouts."""

    def __init__(self, corpus: list[dict[str, Any]], *, rate: float | None = None) -> None:
        self.corpus = corpus
        self.faults: list[Fault] = []
        self.log: list[Request] = []
        self.rate_limit = RateLimit(rate)
        self.rate_limited = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stop_hanging = threading.Event()
        self._matches: dict[str, list[dict[str, Any]]] = {}

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeEngine:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's
            # algorithm and delayed ACKs add ~40 ms to every keep-alive response.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop_hanging.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- helpers for tests ---------------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def searches(self, query: str | None = None) -> list[Request]:
        """Search requests whose page the client received (200, not hung or garbled), in order."""
        return [
            r
            for r in self.log
            if r.endpoint == "search"
            and r.status == 200
            and r.fault not in ("hang", "malformed")
            and (query is None or r.query == query)
        ]

    def pages_served(self, query: str) -> list[int]:
        """Every page of 100 results the client received for ``query``, in request order; a
        request for several pages at once (Shodan ``limit``) lists each of them."""
        return [
            n
            for r in self.searches(query)
            if r.page is not None
            for n in range(r.page, r.page + r.span)
        ]

    def matching(self, query: str) -> list[dict[str, Any]]:
        """Records of the corpus the query matches, in corpus order (cached per query)."""
        with self._lock:
            cached = self._matches.get(query)
        if cached is None:
            parsed = parse_query(self.engine, query)
            cached = [record for record in self.corpus if evaluate(parsed, record) is not None]
            with self._lock:
                self._matches[query] = cached
        return cached

    # -- serving -------------------------------------------------------------------------

    def _take_fault(self, endpoint: str, query: str | None, page: int | None) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.endpoint not in ("any", endpoint):
                    continue
                if fault.page is not None and fault.page != page:
                    continue
                if fault.query is not None and fault.query != query:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        request = Request(time.monotonic(), method, parts.path, "other", None, None)
        with self._lock:
            self.log.append(request)

        reply = self.handle(request, handler.headers, params, body)
        request.status = reply.status
        if reply.status == 429:
            self.rate_limited += 1
        if request.fault == "hang":
            self._stop_hanging.wait(self.hang_seconds)
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", reply.content_type)
            handler.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def handle(
        self,
        request: Request,
        headers: Mapping[str, str],
        params: dict[str, str],
        body: Any,
    ) -> Reply:
        raise NotImplementedError

    def common_fault(
        self, fault: Fault, page_body: Callable[[], Reply], rate_limited: Callable[[], Reply]
    ) -> Reply | None:
        """Replies for the faults that look alike on every engine."""
        if fault.kind == "rate-limit":
            return rate_limited()
        if fault.kind == "rate-limit-retry-after":
            reply = rate_limited()
            reply.headers["Retry-After"] = "0.05"
            return reply
        if fault.kind.startswith("http-"):
            return html_error(int(fault.kind[5:]))
        if fault.kind == "hang":
            return page_body()
        if fault.kind == "malformed":
            whole = page_body().body
            return Reply(200, whole[: max(1, len(whole) // 2)])
        return None
