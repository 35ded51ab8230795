"""The ``c2tracker`` command: a thin Typer layer over the library.

Each command group lives in a module of its own that adds its commands to :data:`app` through a
``register`` function; this module owns only the global options (``-v``/``-vv``, ``--config``)
and turns the tool's own errors into one clean line and exit status 2, never a traceback.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from c2tracker import __version__
from c2tracker.errors import C2TrackerError
from c2tracker.logs import setup_logging
from c2tracker.settings import SECRETS, Settings, load_settings
from c2tracker.textsafety import for_terminal

app = typer.Typer(
    name="c2tracker",
    help="Find C2 servers with community fingerprints on Shodan and Censys; publish IOC feeds.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Rich console for human output on stderr; stdout stays free for data (JSON lines, tables).
err_console = Console(stderr=True)
out_console = Console()


@dataclass
class State:
    """What the global options decided; commands read it from ``ctx.obj``."""

    config_path: Path | None = None
    verbosity: int = 0
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings


def _version(value: bool) -> None:
    if value:
        print(f"c2tracker {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="-v: INFO, -vv: DEBUG logs")
    ] = 0,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="TOML config file (default $C2TRACKER_CONFIG)"),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="show version")
    ] = False,
) -> None:
    state = State(config_path=config, verbosity=verbose)
    ctx.obj = state
    secrets: list[str] = []
    try:
        settings = state.settings
        for name in SECRETS:
            value = getattr(settings, name)
            if value is not None:
                secrets.append(value.get_secret_value())
    except C2TrackerError:
        # Reported by the command that needs the settings; logging still gets set up.
        pass
    setup_logging(verbose, secrets)


def get_state(ctx: typer.Context) -> State:
    state = ctx.find_root().obj
    assert isinstance(state, State)
    return state


def fail(message: str, code: int = 2) -> typer.Exit:
    """Prints ``message`` (terminal-safe) to stderr and returns the Exit to raise."""
    err_console.print(for_terminal(message), markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _register_commands() -> None:
    from c2tracker.cli import (
        collect_cmd,
        config_cmd,
        match_cmd,
        publish_cmd,
        query_cmd,
        rules_cmd,
        serve_cmd,
        store_cmd,
    )

    for module in (
        collect_cmd,
        match_cmd,
        publish_cmd,
        serve_cmd,
        store_cmd,
        rules_cmd,
        query_cmd,
        config_cmd,
    ):
        module.register(app)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except C2TrackerError as exc:
        err_console.print(
            for_terminal(f"error: {exc}"), markup=False, highlight=False, soft_wrap=True
        )
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted", markup=False)
        sys.exit(130)
