"""``c2tracker publish``: build every feed format from the store and swap it in atomically.

Humans get a progress bar during the export and a summary table afterwards, both on stderr;
``--json`` prints the manifest's counts and files on stdout for scripts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from c2tracker.feeds.manifest import Manifest


def register(app: typer.Typer) -> None:
    """Adds ``publish`` to the main app."""

    @app.command("publish")
    def publish(
        ctx: typer.Context,
        out: Annotated[
            Path | None,
            typer.Option("--out", help="publish directory (default: settings feeds_dir, ./feeds)"),
        ] = None,
        git: Annotated[
            bool, typer.Option("--git", help="commit the publish, and push if a remote exists")
        ] = False,
        rules_dir: Annotated[
            Path | None, typer.Option("--rules", help="rule folder (default: the bundled rules)")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print the manifest summary")] = False,
    ) -> None:
        """Build every feed format atomically (default ./feeds)."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        from c2tracker.cli import err_console, get_state
        from c2tracker.feeds import publish as publish_feeds
        from c2tracker.rules import load_rules
        from c2tracker.store import Store

        settings = get_state(ctx).settings
        rules = load_rules(rules_dir or settings.rules_dir)
        target = out or settings.feeds_dir
        with Store.open(settings.db, settings=settings) as store:
            total = sum(count for _rule, count in store.families())
            with Progress(
                TextColumn("exporting indicators"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            ) as progress:
                task = progress.add_task("export", total=total or None)
                manifest = publish_feeds(
                    store,
                    rules,
                    target,
                    settings=settings,
                    git=git,
                    progress=lambda done: progress.update(task, completed=done),
                )
        _summary(manifest, target)
        if as_json:
            print(
                json.dumps(
                    {
                        "build": manifest.build,
                        "data_source": manifest.data_source,
                        "notice": manifest.notice,
                        "counts": manifest.counts,
                        "files": [{"path": f.path, "entries": f.entries} for f in manifest.files],
                    }
                )
            )


def _summary(manifest: Manifest, target: Path) -> None:
    from rich.table import Table

    from c2tracker.cli import err_console

    by_format: dict[str, tuple[int, int]] = {}
    for entry in manifest.files:
        files, entries = by_format.get(entry.format, (0, 0))
        main = entry.window is None and entry.unit != "hash"
        by_format[entry.format] = (files + 1, entries + (entry.entries if main else 0))
    table = Table(title=f"published {manifest.build} into {target}", title_justify="left")
    table.add_column("format")
    table.add_column("files", justify="right")
    table.add_column("entries (all-active files)", justify="right")
    for name, (files, entries) in sorted(by_format.items()):
        table.add_row(name, str(files), str(entries))
    err_console.print(table)
    counts = manifest.counts
    stale = " — source is STALE" if counts.get("stale") else ""
    err_console.print(
        f"{counts.get('indicators', 0)} indicators on {counts.get('addresses', 0)} addresses; "
        f"+{counts.get('added', 0)} / -{counts.get('removed', 0)} since the last publish{stale}",
        markup=False,
        highlight=False,
    )
    err_console.print(f"data source: {manifest.data_source}", markup=False, highlight=False)
    if manifest.notice:
        err_console.print(f"NOTE: {manifest.notice}", style="bold yellow", markup=False)
