"""``c2tracker config``: the effective settings, secrets redacted."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from c2tracker.settings import ENVIRONMENT


def register(app: typer.Typer) -> None:
    """Adds ``config`` to the main app."""

    @app.command("config")
    def config(
        ctx: typer.Context,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Show the effective settings (environment over config file over defaults)."""
        from c2tracker.cli import get_state, out_console

        shown = get_state(ctx).settings.redacted()
        if as_json:
            print(json.dumps(shown, indent=2, sort_keys=True, default=str))
            return
        table = Table("setting", "environment", "value")
        for name, value in shown.items():
            table.add_row(name, ENVIRONMENT.get(name, ""), "" if value is None else str(value))
        out_console.print(table)
