"""Store commands: ``lookup``, ``indicators``, ``runs``, ``revoke``, ``allow`` and ``import``.

Tables by default (Rich, on stdout), ``--json`` for scripts. Everything that came from a scan
(families found in banners, evidence values, hostnames, org names) goes through
:func:`~c2tracker.textsafety.for_terminal_line` before it reaches a terminal.
"""

from __future__ import annotations

import getpass
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from c2tracker.cli import err_console, fail, get_state, out_console
from c2tracker.errors import StoreError
from c2tracker.model import IndicatorStatus
from c2tracker.settings import parse_duration
from c2tracker.store import Store
from c2tracker.textsafety import for_terminal_line


def _safe(value: object) -> str:
    return for_terminal_line("" if value is None else str(value))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError


def _print_json(value: Any) -> None:
    sys.stdout.write(
        orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode() + "\n"
    )


def _open(ctx: typer.Context) -> Store:
    settings = get_state(ctx).settings
    return Store.open(settings.db, settings=settings)


def _day(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d}" if value else ""


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return getpass.getuser()
    except Exception:
        return "operator"


def _parse_since(text: str | None) -> datetime | None:
    """An ISO date or time (UTC unless it says otherwise), or a span back from now (``7d``)."""
    if text is None:
        return None

    span = parse_duration(text)
    if span is not None:
        return datetime.now(UTC) - span

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise StoreError(
            f"--since {text!r}: expected a date like 2026-01-31, a time like "
            "2026-01-31T12:00Z, or a span back from now like 12h, 7d or 2w"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def lookup(
    ctx: typer.Context,
    ips: Annotated[list[str], typer.Argument(metavar="IP", help="IP addresses")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per IP")] = False,
) -> None:
    """History and evidence of IPs; exit 1 when an IP is unknown."""
    unknown = 0
    with _open(ctx) as store:
        for ip in ips:
            history = store.lookup(ip)
            if not history.indicators and not history.sightings:
                unknown += 1
                err_console.print(f"{_safe(history.ip)}: unknown", markup=False, highlight=False)
                continue
            if as_json:
                _print_json(asdict(history))
                continue
            table = Table(title=f"{history.ip}", title_justify="left")
            for column in (
                "family",
                "status",
                "first seen",
                "last seen",
                "runs",
                "ports",
                "engines",
                "confidence",
                "reason",
            ):
                table.add_column(column)
            for ind in history.indicators:
                table.add_row(
                    _safe(ind.family),
                    ind.status.value,
                    _day(ind.first_seen),
                    _day(ind.last_seen),
                    str(ind.times_seen),
                    ",".join(map(str, ind.ports)),
                    ",".join(ind.engines),
                    str(ind.confidence),
                    _safe(ind.status_reason),
                )
            out_console.print(table)
            sightings = Table(title="sightings", title_justify="left")
            for column in ("seen", "port", "rule", "engine", "run", "evidence"):
                sightings.add_column(column)
            for s in history.sightings:
                sightings.add_row(
                    f"{s.seen_at:%Y-%m-%d %H:%M}",
                    str(s.port or ""),
                    _safe(s.rule_id),
                    _safe(s.engine),
                    str(s.run_id),
                    _safe(orjson.dumps(s.evidence, default=str).decode()[:120]),
                )
            out_console.print(sightings)
            if history.allowlisted:
                out_console.print(f"allowlisted: {_safe(history.allowlisted)}", markup=False)
    if unknown:
        raise typer.Exit(1)


def indicators(
    ctx: typer.Context,
    family: Annotated[str | None, typer.Option(help="rule id, family name or feed name")] = None,
    category: Annotated[str | None, typer.Option(help="c2, malware, tool or botnet")] = None,
    status: Annotated[str | None, typer.Option(help="active, expired, revoked, honeypot…")] = None,
    since: Annotated[
        str | None,
        typer.Option(help="last seen on or after: an ISO date or time, or a span back (7d, 12h)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
) -> None:
    """Lists indicators."""
    if status is not None and status not in {s.value for s in IndicatorStatus}:
        raise fail(
            f"unknown status {status!r}: one of {', '.join(s.value for s in IndicatorStatus)}"
        )
    if category is not None and category not in {"c2", "malware", "tool", "botnet"}:
        raise fail(f"unknown category {category!r}: one of c2, malware, tool, botnet")
    seen_since = _parse_since(since)

    with _open(ctx) as store:
        found = store.iter_indicators(
            status=status, category=category, family=family, since=seen_since
        )
        if as_json:
            for ind in found:
                _print_json(asdict(ind))
            return
        table = Table()
        for column in (
            "ip",
            "family",
            "category",
            "status",
            "ports",
            "first seen",
            "last seen",
            "conf",
        ):
            table.add_column(column)
        count = 0
        for ind in found:
            count += 1
            table.add_row(
                ind.ip,
                _safe(ind.family),
                ind.category.value,
                ind.status.value,
                ",".join(map(str, ind.ports)),
                _day(ind.first_seen),
                _day(ind.last_seen),
                str(ind.confidence),
            )
        out_console.print(table)
        err_console.print(f"{count} indicator(s)", markup=False)


def runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="how many runs")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run history, newest first."""
    with _open(ctx) as store:
        infos = store.runs(limit)
    if as_json:
        for info in infos:
            _print_json(asdict(info))
        return
    table = Table()
    for column in (
        "run",
        "started",
        "status",
        "sources",
        "observations",
        "ok",
        "failed",
        "skipped",
        "credits",
    ):
        table.add_column(column)
    for info in infos:
        table.add_row(
            str(info.id),
            f"{info.started_at:%Y-%m-%d %H:%M}",
            info.status,
            _safe(",".join(info.sources)),
            str(info.observations),
            str(info.queries_ok),
            str(info.queries_failed),
            str(info.queries_skipped),
            " ".join(f"{k}={v}" for k, v in sorted(info.credits.items())),
        )
    out_console.print(table)


def revoke(
    ctx: typer.Context,
    ip: Annotated[str, typer.Argument(metavar="IP", help="IP to revoke")],
    reason: Annotated[str, typer.Option("--reason", help="why (kept in the audit log)")] = "",
    family: Annotated[str | None, typer.Option(help="rule id; default every family")] = None,
    undo: Annotated[bool, typer.Option("--undo", help="lift the revocation")] = False,
    actor: Annotated[str | None, typer.Option(help="who (default: your user name)")] = None,
) -> None:
    """Revokes an IP (one family or all), or lifts a revocation with --undo."""
    with _open(ctx) as store:
        if undo:
            changed = store.unrevoke(ip, family, _actor(actor), reason or None)
            err_console.print(f"revocation lifted; {changed} indicator(s) updated", markup=False)
        else:
            changed = store.revoke(ip, family, reason, _actor(actor))
            err_console.print(f"revoked; {changed} indicator(s) updated", markup=False)


def allow(
    ctx: typer.Context,
    value: Annotated[
        str | None, typer.Argument(metavar="VALUE", help="IP, CIDR or ASN (AS123)")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="why (kept in the audit log)")] = "",
    remove: Annotated[bool, typer.Option("--remove", help="take it off the allowlist")] = False,
    show: Annotated[bool, typer.Option("--list", help="show the allowlist")] = False,
    actor: Annotated[str | None, typer.Option(help="who (default: your user name)")] = None,
) -> None:
    """Allowlists an IP, CIDR or ASN (or removes it with --remove, lists with --list)."""
    with _open(ctx) as store:
        if show or value is None:
            table = Table()
            for column in ("kind", "value", "reason", "by", "since"):
                table.add_column(column)
            for entry in store.allowlist():
                table.add_row(
                    entry["kind"],
                    entry["value"],
                    _safe(entry["reason"]),
                    _safe(entry["actor"]),
                    _day(entry["created_at"]),
                )
            out_console.print(table)
            return
        if remove:
            changed = store.unallow(value, _actor(actor), reason or None)
            err_console.print(f"removed; {changed} indicator(s) updated", markup=False)
        else:
            changed = store.allow(value, reason, _actor(actor))
            err_console.print(f"allowlisted; {changed} indicator(s) updated", markup=False)


import_app = typer.Typer(help="Import indicators from other feeds.", no_args_is_help=True)


@import_app.command("c2-tracker")
def import_c2_tracker_cmd(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(metavar="PATH", help="a C2-Tracker data/ folder or git clone")
    ],
    history: Annotated[bool, typer.Option("--history", help="one snapshot per commit")] = False,
    rules_dir: Annotated[Path | None, typer.Option("--rules", help="rule corpus")] = None,
) -> None:
    """Imports the original C2-Tracker feed, keeping its history with --history."""
    from c2tracker.rules import load_rules
    from c2tracker.store.importer import import_c2_tracker

    settings = get_state(ctx).settings
    rules = load_rules(rules_dir or settings.rules_dir)
    with _open(ctx) as store:
        report = import_c2_tracker(
            store,
            path,
            rules,
            history=history,
            progress=lambda i, n: err_console.print(f"snapshot {i}/{n}", end="\r", markup=False),
        )
    err_console.print(
        f"imported {report.snapshots} snapshot(s) ({report.skipped_snapshots} already there), "
        f"{report.observations} sightings, {report.refused} refused lines",
        markup=False,
    )
    for name, rule_id in sorted(report.unmapped.items()):
        err_console.print(
            f"no rule for {_safe(name)!s}: imported as {rule_id}", markup=False, highlight=False
        )


def register(app: typer.Typer) -> None:
    """Adds this module's commands to the main app."""
    app.command("lookup")(lookup)
    app.command("indicators")(indicators)
    app.command("runs")(runs)
    app.command("revoke")(revoke)
    app.command("allow")(allow)
    app.add_typer(import_app, name="import")
