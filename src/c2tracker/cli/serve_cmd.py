"""`c2tracker serve`: the HTTP API, TAXII 2.1 server and dashboard on uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from c2tracker.cli import err_console, get_state
from c2tracker.server.scheduler import check_cron, parse_interval

#: Loopback by default: exposing the server is a decision the operator makes with --host.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = DEFAULT_HOST,
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="TCP port to listen on")
    ] = DEFAULT_PORT,
    feeds: Annotated[
        Path | None,
        typer.Option("--feeds", help="published feed folder to serve (default: feeds_dir)"),
    ] = None,
    collect_every: Annotated[
        str | None,
        typer.Option("--collect-every", help="collect and publish at this interval (e.g. 7d)"),
    ] = None,
    cron: Annotated[
        str | None,
        typer.Option("--cron", help='collect and publish on a cron schedule ("0 3 * * 1")'),
    ] = None,
) -> None:
    """Serve the HTTP API (/api/v1), TAXII 2.1 (/taxii2/), feed files (/feeds/) and dashboard."""
    import uvicorn

    from c2tracker.server import create_app

    settings = get_state(ctx).settings
    every = parse_interval(collect_every) if collect_every else None
    schedule = check_cron(cron) if cron else None

    app = create_app(settings, feeds_dir=feeds, collect_every=every, cron=schedule)
    reading = "token-protected" if settings.read_token else "public"
    acting = "enabled" if settings.server_token else "disabled (no server_token)"
    err_console.print(
        f"serving on http://{host}:{port}/ — reading {reading}, operator actions {acting}",
        markup=False,
        highlight=False,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)


def register(app: typer.Typer) -> None:
    """Adds this module's commands to the main app."""
    app.command("serve")(serve)
