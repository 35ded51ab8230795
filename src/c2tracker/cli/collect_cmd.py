"""``c2tracker collect``: run the rules against the engines (or scan files) into the store.

Humans' output goes to stderr (progress bar, skipped sources, the summary table); ``--dry-run``
prints its plan on stdout. Exit status 0 when every query ran, 1 when some failed (what was
gathered is kept and the run is finished in the store), 2 for a usage or configuration error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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

from c2tracker.errors import C2TrackerError
from c2tracker.model import Engine, QueryOutcome
from c2tracker.textsafety import for_terminal

if TYPE_CHECKING:
    from c2tracker.settings import Settings
    from c2tracker.sources.base import Page, PlannedQuery, Source
    from c2tracker.sources.planner import History
    from c2tracker.sources.runner import EngineReport, QueryResult

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
    """The collect command without Typer; returns the exit status."""
    from c2tracker.cli import err_console
    from c2tracker.rules import RuleSet, load_rules
    from c2tracker.sources.collect import build_source, choose_engines, parse_sources
    from c2tracker.sources.http import RetryPolicy
    from c2tracker.sources.planner import parse_budgets, planned_queries

    choice = parse_sources(sources)
    budgets = parse_budgets(budget, settings.budgets)
    all_rules = load_rules(rules_dir or settings.rules_dir)
    rules = all_rules
    if only:
        planned_queries(all_rules, [], only)  # refuses unknown ids before any request
        rules = RuleSet([rule for rule in all_rules if rule.id in set(only)], all_rules.root)

    engines, skipped = choose_engines(settings, choice)
    for line in skipped:
        err_console.print(for_terminal(line), markup=False, highlight=False)
    scan_paths = list(choice.scan_paths)
    if choice.defaulted and not engines:
        from c2tracker.scandata import sample_paths

        scan_paths = list(sample_paths())
        err_console.print(
            "no API credentials configured: collecting from the bundled SAMPLE scan data "
            "(generated records, not live results; their times are moved forward so that the "
            "newest is now)",
            markup=False,
            highlight=False,
        )
    if not engines and not scan_paths:
        err_console.print(
            "nothing to collect: no source has credentials"
            + (" and the bundled sample scan data is missing" if choice.defaulted else ""),
            markup=False,
        )
        return 2

    policy = RetryPolicy(read_timeout=timeout, connect_timeout=min(timeout, 10.0))
    live = [build_source(settings, engine, policy) for engine in engines]
    try:
        queries = planned_queries(rules, engines)
        if dry_run:
            return _print_plan(settings, live, queries, budgets, scan_paths)
        return _collect(settings, live, queries, budgets, scan_paths, rules, all_rules, resume)
    finally:
        for opened in live:
            opened.close()


def _collect(
    settings: Settings,
    live: Sequence[Source],
    queries: Sequence[PlannedQuery],
    budgets: dict[Engine, int],
    scan_paths: Sequence[Path],
    rules: Any,
    all_rules: Any,
    resume: bool,
) -> int:
    from c2tracker.cli import err_console
    from c2tracker.sources.runner import run_engine
    from c2tracker.sources.scanfiles import collect_scan, is_bundled_sample, sample_time_shift
    from c2tracker.store import Store

    names = [f"scan:{path}" for path in scan_paths] + [source.name for source in live]
    store = Store.from_settings(settings)
    reports: list[EngineReport] = []
    with store.begin_run(names, resume=resume) as run:
        # Only the bundled sample is moved in time (see sources.scanfiles); user files never.
        bundled = [is_bundled_sample(path) for path in scan_paths]
        shift = sample_time_shift(run.started_at) if any(bundled) else None
        for path, is_sample in zip(scan_paths, bundled, strict=True):
            with Progress(
                TextColumn("{task.description}"),
                TextColumn("{task.completed} record(s)"),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            ) as bar:
                task = bar.add_task(for_terminal(f"scan:{path}"), total=None)
                scan = collect_scan(
                    [path],
                    rules,
                    run,
                    source=f"scan:{path}",
                    on_record=partial(_show_records, bar, task),
                    time_shift=shift if is_sample else None,
                )
            err_console.print(
                for_terminal(
                    f"scan:{path}: {scan.records} record(s), {scan.skipped} skipped, "
                    f"{scan.observations} observation(s)"
                ),
                markup=False,
                highlight=False,
            )
            for problem in scan.problems[:20]:
                err_console.print(for_terminal(f"  {problem}"), markup=False, highlight=False)

        with _ProgressBar(len(queries)) as progress:
            for source in live:
                mine = [q for q in queries if q.engine is source.engine]
                reports.append(
                    run_engine(
                        source, mine, run, budget=budgets.get(source.engine), progress=progress
                    )
                )
        # Every rule, not only --only's: the store needs the whole corpus for family metadata.
        store.finish_run(run, all_rules)
    store.close()

    _print_summary(reports)
    failed = any(r.outcome is QueryOutcome.FAILED for report in reports for r in report.results)
    return 1 if failed else 0


def _show_records(bar: Progress, task: TaskID, records: int) -> None:
    bar.update(task, completed=records)


class _ProgressBar:
    """A Rich progress bar on stderr: one step per query, the current query named."""

    def __init__(self, total: int) -> None:
        from c2tracker.cli import err_console

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        )
        self._task = self._bar.add_task("collecting", total=total)

    def __enter__(self) -> _ProgressBar:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def query_started(self, planned: PlannedQuery) -> None:
        label = for_terminal(f"{planned.engine.value} {planned.rule_id}")
        self._bar.update(self._task, description=label)

    def page_done(self, planned: PlannedQuery, page: Page) -> None:
        label = for_terminal(f"{planned.engine.value} {planned.rule_id} page {page.number}")
        self._bar.update(self._task, description=label)

    def query_done(self, result: QueryResult) -> None:
        self._bar.advance(self._task)


_STYLE = {
    QueryOutcome.OK: "green",
    QueryOutcome.FAILED: "red",
    QueryOutcome.SKIPPED_BUDGET: "yellow",
    QueryOutcome.SKIPPED_EMPTY: "dim",
}


def _print_summary(reports: Sequence[EngineReport]) -> None:
    from c2tracker.cli import err_console

    if not reports:
        return
    table = Table(title="collect summary")
    for column in ("engine", "rule", "outcome", "pages", "credits", "results", "time", "reason"):
        table.add_column(column, justify="right" if column in ("pages", "credits") else "left")
    for report in reports:
        for result in report.results:
            table.add_row(
                result.planned.engine.value,
                for_terminal(result.planned.rule_id),
                f"[{_STYLE.get(result.outcome, '')}]{result.outcome.value}[/]",
                str(result.pages) + (f" (+{result.resumed_pages})" if result.resumed_pages else ""),
                str(result.credits),
                str(result.results),
                f"{result.duration_s:.1f}s",
                for_terminal(result.reason or "").replace("[", "\\["),
            )
    err_console.print(table)

    for report in reports:
        counts: dict[str, int] = {}
        for result in report.results:
            counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
        shown = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        limit = "no budget" if report.budget is None else f"budget {report.budget}"
        err_console.print(
            f"{report.engine.value}: {shown or 'no queries'}; {report.credits} credit(s) "
            f"({limit}), {report.requests} request(s)",
            markup=False,
            highlight=False,
        )
    not_run = [
        r for report in reports for r in report.results if r.outcome is QueryOutcome.SKIPPED_BUDGET
    ]
    if not_run:
        err_console.print(
            f"not run for lack of budget ({len(not_run)}): "
            + ", ".join(
                for_terminal(f"{r.planned.engine.value}:{r.planned.rule_id}") for r in not_run
            ),
            markup=False,
            highlight=False,
        )


def _print_plan(
    settings: Settings,
    live: Sequence[Source],
    queries: Sequence[PlannedQuery],
    budgets: dict[Engine, int],
    scan_paths: Sequence[Path],
) -> int:
    from c2tracker.cli import out_console
    from c2tracker.sources.runner import dry_run

    history = _history(settings)
    plan = dry_run(live, queries, history, budgets=budgets)
    for path in scan_paths:
        out_console.print(for_terminal(f"scan:{path}: offline matching, no credits"), markup=False)
    for engine, lines in plan.items():
        table = Table(title=f"{engine.value} plan")
        for column in ("rule", "query", "start", "pages", "credits", "note"):
            table.add_column(column)
        for line in lines:
            table.add_row(
                for_terminal(line.plan.planned.rule_id),
                for_terminal(line.plan.planned.query).replace("[", "\\["),
                line.plan.start.value,
                str(line.pages),
                str(line.credits),
                line.note,
            )
        out_console.print(table)
        planned_credits = sum(line.credits for line in lines if not line.note.startswith("skip"))
        pages = sum(line.pages for line in lines if not line.note.startswith("skip"))
        budget = budgets.get(engine)
        out_console.print(
            f"{engine.value}: {len(lines)} quer(ies), {pages} page(s), {planned_credits} "
            f"credit(s) expected" + ("" if budget is None else f" of a budget of {budget}"),
            markup=False,
            highlight=False,
        )
    return 0


def _history(settings: Settings) -> History | None:
    """The store's last result counts (``Store.last_result_count``), read without a run."""
    from c2tracker.store import Store

    try:
        store = Store.from_settings(settings)
    except C2TrackerError as exc:
        log.warning("dry run without history: %s", exc)
        return None
    return store.last_result_count
