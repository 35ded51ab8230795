"""Indicator tables: CSV, JSON Lines and one JSON document; one entry per indicator (IP + family).

An indicator is one address for one family, with its ports joined in one cell, so that each
active indicator appears exactly once; a row per port would repeat it. Text that came from the
internet (organisation names, host names) is folded onto one line and, in CSV, neutralised for
spreadsheets (``=HYPERLINK(…)`` becomes ``'=HYPERLINK(…)``, OWASP CSV injection advice).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any, ClassVar

import orjson

from c2tracker.feeds.base import FeedContext, RowExporter, Window, iso
from c2tracker.model import Indicator
from c2tracker.textsafety import for_spreadsheet

__all__ = ["CSV_COLUMNS", "CsvTable", "JsonDocument", "JsonLines", "indicator_record"]

CSV_COLUMNS = (
    "ip",
    "port",
    "family",
    "category",
    "first_seen",
    "last_seen",
    "confidence",
    "engines",
    "rules",
    "dual_use",
    "valid_until",
    "queries",
    "asn",
    "country",
    "org",
    "hostnames",
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def one_line(text: str) -> str:
    """``text`` with every run of control characters (newlines, tabs, escapes) as one space."""
    return _CONTROL.sub(" ", text).strip()


def indicator_record(indicator: Indicator) -> dict[str, Any]:
    """The JSON object of one indicator (JSON Lines, the JSON document, the delta file)."""
    return {
        "ip": indicator.ip,
        "ports": list(indicator.ports),
        "family": indicator.family,
        "rule": indicator.rule_id,
        "feed_name": indicator.feed_name,
        "category": indicator.category.value,
        "kind": indicator.kind,
        "dual_use": indicator.dual_use,
        "first_seen": iso(indicator.first_seen),
        "last_seen": iso(indicator.last_seen),
        "valid_until": iso(indicator.valid_until),
        "times_seen": indicator.times_seen,
        "confidence": indicator.confidence,
        "engines": list(indicator.engines),
        "queries": list(indicator.queries),
        "malpedia": list(indicator.malpedia),
        "mitre": list(indicator.mitre),
        "asn": indicator.asn,
        "country": indicator.country,
        "org": indicator.org,
        "hostnames": list(indicator.hostnames),
    }


class _LastRow:
    """The text of the last indicator's row, shared by the window copies of one format.

    A publish hands the same :class:`Indicator` object to up to five copies of a format (all
    active plus windows), so the object's identity says whether the text is still current;
    a reference is kept, so the identity cannot be reused by another object meanwhile.
    """

    def __init__(self) -> None:
        self.indicator: Indicator | None = None
        self.text = ""

    def get(self, indicator: Indicator, render: Callable[[Indicator], str]) -> str:
        if indicator is not self.indicator:
            self.indicator, self.text = indicator, render(indicator)
        return self.text


def _json_text(indicator: Indicator) -> str:
    return orjson.dumps(indicator_record(indicator)).decode("utf-8")


class CsvTable(RowExporter):
    format = "csv"
    path = "csv/indicators.csv"
    windowed = True

    def __init__(self, context: FeedContext, window: Window | None = None) -> None:
        super().__init__(context, window)
        self._rule_cells: dict[str, tuple[str, str]] = {}

    def header(self) -> str:
        return self._csv_line(CSV_COLUMNS)

    _last: ClassVar[_LastRow] = _LastRow()

    def row(self, indicator: Indicator) -> str:
        return self._last.get(indicator, self._render)

    def _render(self, indicator: Indicator) -> str:
        # Cells this program formats itself (address, ports, dates, booleans, the category
        # value) cannot hold a formula trigger or a line break; only text from rules and the
        # internet goes through the cleaning, and a rule's cells are cleaned once per rule.
        rule_cells = self._rule_cells.get(indicator.rule_id)
        if rule_cells is None:
            rule_cells = (_cell(indicator.family), _cell(indicator.rule_id))
            self._rule_cells = {indicator.rule_id: rule_cells}  # the stream goes rule by rule
        cells = (
            indicator.ip,
            ";".join(map(str, indicator.ports)),
            rule_cells[0],
            indicator.category.value,
            iso(indicator.first_seen) or "",
            iso(indicator.last_seen) or "",
            _cell(str(indicator.confidence)),
            _cell(";".join(indicator.engines)),
            rule_cells[1],
            "true" if indicator.dual_use else "false",
            iso(indicator.valid_until) or "",
            _cell(";".join(indicator.queries)),
            _cell(indicator.asn or ""),
            _cell(indicator.country or ""),
            _cell(indicator.org or ""),
            _cell(";".join(indicator.hostnames)),
        )
        return ",".join(map(_quoted, cells)) + "\n"

    @staticmethod
    def _csv_line(cells: tuple[str, ...]) -> str:
        # The csv module does the quoting (quotes doubled, cells with commas quoted); cells are
        # first put on one line so that one row is always one line for line-based tools.
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow([_cell(cell) for cell in cells])
        return buffer.getvalue()


def _cell(text: str) -> str:
    """One cell's text on one line, neutralised for spreadsheets."""
    return for_spreadsheet(one_line(text)) if text else text


def _quoted(cell: str) -> str:
    """The csv module's minimal quoting for a cell already on one line (``,`` or ``"``)."""
    if "," in cell or '"' in cell:
        return '"' + cell.replace('"', '""') + '"'
    return cell


class JsonLines(RowExporter):
    format = "jsonl"
    path = "json/indicators.jsonl"
    windowed = True

    _last: ClassVar[_LastRow] = _LastRow()

    def row(self, indicator: Indicator) -> str:
        return self._last.get(indicator, _json_text) + "\n"


class JsonDocument(RowExporter):
    """``{"generated_at": …, "run": …, "count"… , "indicators": [ … ]}``, streamed."""

    format = "json"
    path = "json/indicators.json"
    windowed = True
    separator = ",\n"

    def header(self) -> str:
        run = self.context.run
        meta = {
            "generated_at": iso(self.context.generated_at),
            "producer": self.context.producer,
            "window": self.window.name if self.window else "active",
            "run_id": run.id if run else None,
        }
        head = orjson.dumps(meta).decode("utf-8")
        return head[:-1] + ',"indicators":[\n'

    _last: ClassVar[_LastRow] = _LastRow()

    def row(self, indicator: Indicator) -> str:
        return self._last.get(indicator, _json_text)

    def footer(self) -> str:
        return "\n]}\n" if self.entries else "]}\n"
