"""The FastAPI application behind ``c2tracker serve``: wiring, security headers, lifespan.

:func:`create_app` assembles the REST API (``/api/v1``), TAXII 2.1 (``/taxii2/``), the feed files
(``/feeds/``), the dashboard (``/``) and its static assets, installs the one error shape, and
starts the collect scheduler with the server. Every response carries a strict
Content-Security-Policy (only this origin, no inline script) and the usual hardening headers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from c2tracker import __version__
from c2tracker.errors import C2TrackerError
from c2tracker.server import api, dashboard, feedfiles, taxii
from c2tracker.server.deps import ServerContext, StoreReader, rule_summaries
from c2tracker.server.errors import install_handlers
from c2tracker.server.scheduler import Job, Scheduler, collect_and_publish
from c2tracker.settings import Settings

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"

#: Only this origin may supply anything; no inline script or style; never framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response.

    A plain ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``, which wraps each
    response body in an extra task and costs throughput on the hot lookup path.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


def route_table() -> list[tuple[str, frozenset[str]]]:
    """Every route the server answers (path template, methods), the schema's included or not."""
    routers = [
        (api.router.prefix, api.reader),
        (api.router.prefix, api.operator),
        ("", taxii.router),
        ("", feedfiles.router),
        ("", dashboard.router),
    ]
    table = []
    for prefix, router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                table.append((prefix + route.path, frozenset(route.methods or ())))
    return table


def _load_rules(settings: Settings) -> Iterable[Any]:
    """The rule corpus, or nothing when it cannot be loaded (the server still serves data)."""
    try:
        from c2tracker.rules import load_rules
    except ImportError:
        logger.warning("rule corpus unavailable: c2tracker.rules is not installed")
        return []
    try:
        loaded: Iterable[Any] = load_rules(settings.rules_dir, collect_errors=True)
    except C2TrackerError as exc:
        logger.warning("rule corpus not loaded: %s", exc)
        return []
    return loaded


def _open_store(settings: Settings) -> StoreReader:
    from c2tracker.store import Store

    store: StoreReader = Store.open(settings.db)
    return store


def create_app(
    settings: Settings,
    store: StoreReader | None = None,
    feeds_dir: Path | None = None,
    *,
    rules: Iterable[Any] | None = None,
    job: Job | None = None,
    collect_every: timedelta | None = None,
    cron: str | None = None,
) -> FastAPI:
    """The whole server as an ASGI app.

    Args:
        settings: effective settings (tokens, database URL, feed folder).
        store: the store to serve; opened from ``settings.db`` when None.
        feeds_dir: published feed folder; ``settings.feeds_dir`` when None.
        rules: the rule corpus (a ``RuleSet``); loaded from ``settings.rules_dir`` when None.
        job: what a collect run does; collect then publish (:func:`collect_and_publish`) when
            None.
        collect_every: run the job at this interval while serving.
        cron: or run it at the times of this cron expression.
    """
    opened = store if store is not None else _open_store(settings)
    corpus = rule_summaries(rules if rules is not None else _load_rules(settings))
    served_feeds = feeds_dir or settings.feeds_dir
    scheduler = Scheduler(
        job or (lambda: collect_and_publish(settings, opened, served_feeds)),
        every=collect_every,
        cron=cron,
    )
    ctx = ServerContext(
        settings=settings,
        store=opened,
        feeds_dir=served_feeds,
        rules=corpus,
        scheduler=scheduler,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        scheduler.start()
        try:
            yield
        finally:
            scheduler.stop()

    app = FastAPI(
        title="C2 Tracker",
        version=__version__,
        description="C2, malware panel, botnet and dual-use tool servers with their evidence.",
        openapi_url="/api/v1/openapi.json",
        # The interactive docs pages load their assets from a CDN; the schema is enough.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.context = ctx
    app.state.templates = dashboard.make_templates()
    app.state.taxii_index = taxii.IndexCache()

    install_handlers(app)
    app.add_middleware(SecurityHeaders)
    app.include_router(api.router)
    app.include_router(taxii.router)
    app.include_router(feedfiles.router)
    app.include_router(dashboard.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
