"""``c2tracker match``: run the rule corpus over local scan files, offline.

Prints one JSON object a match on stdout (the keys of
:meth:`~c2tracker.model.Observation.to_match_json`), so the output pipes into ``jq`` or a file;
everything for humans — the progress bar on big inputs and the closing summary of records read,
skipped and matched, with ``path:line`` of every bad record at ``-v`` — goes to stderr. JSON is
written ASCII-escaped, so hostile banner text cannot reach a terminal as control characters.

JSON Lines go through the raw-line prefilter (:meth:`~c2tracker.matching.Matcher.raw_prefilter`):
a line no rule can match is passed over unparsed, so it is counted but not checked;
``--parse-all`` parses and checks every line.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from c2tracker.querylang.ast import Engine

if TYPE_CHECKING:
    from rich.console import Console

    from c2tracker.model import Observation
    from c2tracker.scandata import ReadStats, ScanRecord

#: Inputs at least this large (bytes, all paths together) get a progress display on stderr.
PROGRESS_MIN_BYTES = 16 * 1024 * 1024


def register(app: typer.Typer) -> None:
    """Adds ``match`` to the main app."""

    @app.command("match")
    def match(
        ctx: typer.Context,
        paths: Annotated[
            list[str],
            typer.Argument(
                metavar="PATH",
                help="scan files or folders (Shodan/Censys JSON, JSONL, .gz); - = stdin",
            ),
        ],
        rules_dir: Annotated[
            Path | None, typer.Option("--rules", help="rule folder (default: the bundled rules)")
        ] = None,
        engine: Annotated[
            Engine | None,
            typer.Option(
                "--engine",
                help="treat every record as this engine's (default: detected per record)",
            ),
        ] = None,
        parse_all: Annotated[
            bool,
            typer.Option(
                "--parse-all",
                help="parse and check every line (slower); by default JSON Lines no rule can "
                "match are passed over unparsed, so their problems are not reported",
            ),
        ] = False,
    ) -> None:
        """Match every rule against local scan records; one JSON object a match on stdout."""
        from c2tracker.cli import err_console, fail, get_state
        from c2tracker.matching import Matcher
        from c2tracker.rules import load_rules
        from c2tracker.scandata import ReadStats, iter_records
        from c2tracker.textsafety import for_terminal

        # A path that is not there is a mistake in the command, not bad data inside a file:
        # say so before any work (bad records inside files are counted and skipped instead).
        missing = [path for path in paths if path != "-" and not Path(path).exists()]
        if missing:
            raise fail(f"error: {missing[0]}: no such file or folder")

        state = get_state(ctx)
        folder = rules_dir or state.settings.rules_dir
        rules = load_rules(folder)
        matcher = Matcher(rules)

        stats = ReadStats()
        summary = MatchSummary()
        prefilter = None if parse_all else matcher.raw_prefilter(engine)
        records = iter_records(paths, stats, prefilter=prefilter)
        if _input_size(paths) >= PROGRESS_MIN_BYTES and err_console.is_terminal:
            records = _with_progress(records, summary, stats, err_console)
        for record in records:
            chosen = engine or record.engine
            if chosen is None:
                stats.add_error(
                    record.path, record.line, "neither a Shodan banner nor a Censys host"
                )
                continue
            source = f"scan:{record.path}"
            observations = matcher.match(record.data, chosen, source=source)
            summary.examined += 1
            if observations:
                summary.matched_records += 1
                summary.matches += len(observations)
                _write(sys.stdout, observations)

        text = stats.summary() if state.verbosity >= 1 else stats.summary().splitlines()[0]
        err_console.print(for_terminal(text), markup=False, highlight=False, soft_wrap=True)
        err_console.print(
            f"{summary.matched_records} record(s) matched, {summary.matches} match(es) "
            f"from {matcher.rule_count} rule(s) ({matcher.query_count} queries)",
            markup=False,
            highlight=False,
        )
        if stats.error_count and state.verbosity == 0:
            err_console.print("(-v lists the problems with file:line)", markup=False)


class MatchSummary:
    """Counts for the closing line."""

    def __init__(self) -> None:
        self.examined = 0
        self.matched_records = 0
        self.matches = 0


def _write(out: TextIO, observations: list[Observation]) -> None:
    for observation in observations:
        # json, not orjson: certificate serials exceed 64 bits (shodan.md §2.5).
        out.write(json.dumps(observation.to_match_json(), ensure_ascii=True) + "\n")
    out.flush()


def _input_size(paths: list[str]) -> int:
    total = 0
    for name in paths:
        if name == "-":
            continue
        path = Path(name)
        try:
            if path.is_dir():
                for folder, _, files in os.walk(path):
                    total += sum(_size(Path(folder) / file) for file in files)
            else:
                total += _size(path)
        except OSError:
            continue
    return total


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _with_progress(
    records: Iterator[ScanRecord], summary: MatchSummary, stats: ReadStats, console: Console
) -> Iterator[ScanRecord]:
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.completed:,} lines"),
        TextColumn("{task.fields[matches]:,} matches"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("matching", total=None, matches=0)
        for count, record in enumerate(records, 1):
            yield record
            if count % 1000 == 0:
                # Lines the prefilter passed over yield no record but are progress too.
                read = stats.records + stats.passed_over
                progress.update(task, completed=read, matches=summary.matches)
