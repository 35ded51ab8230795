"""``c2tracker collect``: run the rules against the engines (or scan files) into the store.

The work is :func:`c2tracker.sources.collect`; this module only turns options into its
arguments and renders its progress and report. Humans' output goes to stderr (progress bars,
skipped sources, the summary table); ``--dry-run`` prints its plan on stdout. Exit status 0
when every query ran, 1 when some failed (what was gathered is kept and the run is finished in
the store), 2 for a usage or configuration error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from c2tracker.model import QueryOutcome
from c2tracker.textsafety import for_terminal

if TYPE_CHECKING:
    from c2tracker.settings import Settings
    from c2tracker.sources import CollectReport
    from c2tracker.sources.base import Page, PlannedQuery
    from c2tracker.sources.runner import QueryResult
    from c2tracker.sources.scanfiles import ScanReport

log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    """Adds ``collect`` to the main app."""

    @app.command("collect")
    def collect(
        ctx: typer.Context,
        source: Annotated[
            list[str] | None,
            typer.Option(
                "--source",
                help="shodan, censys, censys-legacy or scan:PATH; repeatable "
                "(default: every engine with credentials)",
            ),
        ] = None,
        rules_dir: Annotated[
            Path | None, typer.Option("--rules", help="rule folder (default: the bundled rules)")
        ] = None,
        only: Annotated[
            list[str] | None, typer.Option("--only", help="run only this rule id; repeatable")
        ] = None,
        budget: Annotated[
            list[str] | None,
            typer.Option("--budget", help="credit budget for this run, ENGINE=N; repeatable"),
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="print the plan; spend no credit")
        ] = False,
        resume: Annotated[
            bool, typer.Option("--resume", help="continue the last interrupted or failed run")
        ] = False,
        timeout: Annotated[
            float,
            typer.Option("--timeout", min=0.1, help="seconds to wait for an engine's answer"),
        ] = 60.0,
    ) -> None:
        """Run the rules against Shodan, Censys or scan files and store what they find."""
        from c2tracker.cli import get_state

        settings = get_state(ctx).settings
        code = run_collect(
            settings,
            sources=source or [],
            rules_dir=rules_dir,
            only=_split(only or []),
            budget=budget or [],
            dry_run=dry_run,
            resume=resume,
            timeout=timeout,
        )
        raise typer.Exit(code)


def _split(values: Sequence[str]) -> list[str]:
    # ``--only a,b`` and ``--only a --only b`` both work.
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def run_collect(
    settings: Settings,
    *,
    sources: Sequence[str],
    rules_dir: Path | None,
    only: Sequence[str],
    budget: Sequence[str],
    dry_run: bool,
    resume: bool,
    timeout: float,
) -> int:
    """The collect command without Typer: :func:`c2tracker.sources.collect` with the CLI's
    progress display and report; returns the exit status.

    Raises:
        C2TrackerError: a usage or configuration error (``cli.main`` prints it, exit 2).
    """
    from c2tracker.rules import load_rules
    from c2tracker.sources import collect
    from c2tracker.sources.planner import parse_budgets
    from c2tracker.store import Store

    budgets = parse_budgets(budget, {})
    rules = load_rules(rules_dir or settings.rules_dir)
    store = Store.from_settings(settings)
    try:
        with _CliProgress() as progress:
            report = collect(
                settings,
                store,
                rules,
                sources=sources,
                only=only,
                budgets=budgets,
                resume=resume,
                dry_run=dry_run,
                progress=progress,
                timeout=timeout,
            )
    finally:
        store.close()

    if dry_run:
        _print_plan(report)
        return 0
    _print_summary(report)
    return report.exit_status


class _CliProgress:
    """Rich progress bars on stderr: records read per scan file, then one step per query."""

    def __init__(self) -> None:
        self._scan: Progress | None = None
        self._scan_task: TaskID | None = None
        self._queries: Progress | None = None
        self._query_task: TaskID | None = None

    def __enter__(self) -> _CliProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        for bar in (self._scan, self._queries):
            if bar is not None:
                bar.stop()

    def notice(self, line: str) -> None:
        from c2tracker.cli import err_console

        err_console.print(for_terminal(line), markup=False, highlight=False)

    def scan_started(self, path: Path) -> None:
        from c2tracker.cli import err_console

        self._scan = Progress(
            TextColumn("{task.description}"),
            TextColumn("{task.completed} record(s)"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        )
        self._scan_task = self._scan.add_task(for_terminal(f"scan:{path}"), total=None)
        self._scan.start()

    def scan_records(self, path: Path, records: int) -> None:
        if self._scan is not None and self._scan_task is not None:
            self._scan.update(self._scan_task, completed=records)

    def scan_done(self, path: Path, report: ScanReport) -> None:
        from c2tracker.cli import err_console

        if self._scan is not None:
            self._scan.stop()
            self._scan = None
        passed = (
            f", {report.passed_over} line(s) passed over unparsed (no rule keyword)"
            if report.passed_over
            else ""
        )
        err_console.print(
            for_terminal(
                f"scan:{path}: {report.records} record(s), {report.skipped} skipped, "
                f"{report.observations} observation(s){passed}"
            ),
            markup=False,
            highlight=False,
        )
        for problem in report.problems[:20]:
            err_console.print(for_terminal(f"  {problem}"), markup=False, highlight=False)

    def queries_planned(self, count: int) -> None:
        from c2tracker.cli import err_console

        if count == 0:
            return
        self._queries = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        )
        self._query_task = self._queries.add_task("collecting", total=count)
        self._queries.start()

    def query_started(self, planned: PlannedQuery) -> None:
        self._describe(f"{planned.engine.value} {planned.rule_id}")

    def page_done(self, planned: PlannedQuery, page: Page) -> None:
        pages = f"page {page.number}" if page.span == 1 else f"pages {page.first}-{page.number}"
        self._describe(f"{planned.engine.value} {planned.rule_id} {pages}")

    def query_done(self, result: QueryResult) -> None:
        if self._queries is not None and self._query_task is not None:
            self._queries.advance(self._query_task)

    def _describe(self, text: str) -> None:
        if self._queries is not None and self._query_task is not None:
            self._queries.update(self._query_task, description=for_terminal(text))


_STYLE = {
    QueryOutcome.OK: "green",
    QueryOutcome.FAILED: "red",
    QueryOutcome.SKIPPED_BUDGET: "yellow",
    QueryOutcome.SKIPPED_EMPTY: "dim",
}


def _print_summary(report: CollectReport) -> None:
    from c2tracker.cli import err_console

    if not report.engines:
        return
    table = Table(title="collect summary")
    columns = ("engine", "rule", "outcome", "pages", "requests", "credits", "results", "time")
    for column in (*columns, "reason"):
        table.add_column(column, justify="right" if column in ("pages", "requests") else "left")
    for engine in report.engines:
        for result in engine.results:
            table.add_row(
                result.planned.engine.value,
                for_terminal(result.planned.rule_id),
                f"[{_STYLE.get(result.outcome, '')}]{result.outcome.value}[/]",
                str(result.pages) + (f" (+{result.resumed_pages})" if result.resumed_pages else ""),
                str(result.requests),
                str(result.credits),
                str(result.results),
                f"{result.duration_s:.1f}s",
                for_terminal(result.reason or "").replace("[", "\\["),
            )
    err_console.print(table)

    for engine in report.engines:
        counts: dict[str, int] = {}
        for result in engine.results:
            counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
        shown = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        limit = "no budget" if engine.budget is None else f"budget {engine.budget}"
        err_console.print(
            f"{engine.engine.value}: {shown or 'no queries'}; {engine.credits} credit(s) "
            f"({limit}), {engine.requests} request(s)",
            markup=False,
            highlight=False,
        )
    not_run = [r for r in report.results if r.outcome is QueryOutcome.SKIPPED_BUDGET]
    if not_run:
        err_console.print(
            f"not run for lack of budget ({len(not_run)}): "
            + ", ".join(
                for_terminal(f"{r.planned.engine.value}:{r.planned.rule_id}") for r in not_run
            ),
            markup=False,
            highlight=False,
        )


def _print_plan(report: CollectReport) -> None:
    from c2tracker.cli import out_console

    for path in report.plan_scans:
        out_console.print(for_terminal(f"scan:{path}: offline matching, no credits"), markup=False)
    for engine, lines in report.plan.items():
        table = Table(title=f"{engine.value} plan")
        for column in ("rule", "query", "start", "pages", "requests", "credits", "note"):
            table.add_column(column)
        for line in lines:
            table.add_row(
                for_terminal(line.plan.planned.rule_id),
                for_terminal(line.plan.planned.query).replace("[", "\\["),
                line.plan.start.value,
                str(line.pages),
                str(line.requests),
                str(line.credits),
                line.note,
            )
        out_console.print(table)
        run = [line for line in lines if not line.note.startswith("skip")]
        budget = report.budgets.get(engine)
        out_console.print(
            f"{engine.value}: {len(lines)} quer(ies), {sum(line.pages for line in run)} page(s) "
            f"in {sum(line.requests for line in lines)} request(s), "
            f"{sum(line.credits for line in run)} credit(s) expected"
            + ("" if budget is None else f" of a budget of {budget}"),
            markup=False,
            highlight=False,
        )
