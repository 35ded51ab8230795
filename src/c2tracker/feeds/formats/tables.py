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

from c2tracker.feeds.base import RowExporter, iso
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

    A publish writes the same indicator into up to five copies of a format (all active plus
    windows); (rule id, IP) identifies an indicator within one stream.
    """

    def __init__(self) -> None:
        self.key: tuple[str, str] | None = None
        self.text = ""

    def get(self, indicator: Indicator, render: Callable[[Indicator], str]) -> str:
        key = (indicator.rule_id, indicator.ip)
        if key != self.key:
            self.key, self.text = key, render(indicator)
        return self.text


def _json_text(indicator: Indicator) -> str:
    return orjson.dumps(indicator_record(indicator)).decode("utf-8")


class CsvTable(RowExporter):
    format = "csv"
    path = "csv/indicators.csv"
    windowed = True

    def header(self) -> str:
        return self._csv_line(CSV_COLUMNS)

    _last: ClassVar[_LastRow] = _LastRow()

    def row(self, indicator: Indicator) -> str:
        return self._last.get(indicator, self._render)

    def _render(self, indicator: Indicator) -> str:
        cells = (
            indicator.ip,
            ";".join(str(port) for port in indicator.ports),
            indicator.family,
            indicator.category.value,
            iso(indicator.first_seen) or "",
            iso(indicator.last_seen) or "",
            str(indicator.confidence),
            ";".join(indicator.engines),
            indicator.rule_id,
            "true" if indicator.dual_use else "false",
            iso(indicator.valid_until) or "",
            ";".join(indicator.queries),
            indicator.asn or "",
            indicator.country or "",
            indicator.org or "",
            ";".join(indicator.hostnames),
        )
        return self._csv_line(cells)

    @staticmethod
    def _csv_line(cells: tuple[str, ...]) -> str:
        # The csv module does the quoting (quotes doubled, cells with commas quoted); cells are
        # first put on one line so that one row is always one line for line-based tools.
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(
            [for_spreadsheet(one_line(cell)) for cell in cells]
        )
        return buffer.getvalue()


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
