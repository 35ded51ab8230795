"""The rule quality report: ``reports/rules.csv`` and ``reports/rules.md``.

Per rule and run (from ``Store.rule_stats()``): hits, new, kept and dropped compared with the
previous run, and the other rules it shares addresses with. The Markdown summary flags rules
worth a look:

- ``noisy``: more than :data:`CHURN_LIMIT` of its hits are new, or it dropped more than
  :data:`CHURN_LIMIT` of what it held (the original feed turned over 9–13 % a week,
  landscape.md §1.1, so half is far outside normal);
- ``overlap``: over :data:`OVERLAP_LIMIT` of its hits also match another rule (a fingerprint
  that is not specific, or a honeypot answering as everything);
- ``silent``: no hit at all in the run.

Churn is a comparison with the rule's previous run, so it is measured only when that run held
something for the rule (kept + dropped > 0). On a first run, or for a rule that found nothing
before, every hit is "new" by construction: churn is left empty ("n/a", the run is the
rule's *baseline*) and the rule is never flagged ``noisy`` for it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from c2tracker.feeds.base import FamilyInfo, WrittenFile
from c2tracker.model import RuleStat
from c2tracker.textsafety import for_spreadsheet

__all__ = ["CHURN_LIMIT", "OVERLAP_LIMIT", "RuleQuality", "write_rule_report"]

CHURN_LIMIT = 0.5
OVERLAP_LIMIT = 0.5
COLUMNS = (
    "run_id",
    "rule",
    "family",
    "category",
    "hits",
    "new",
    "kept",
    "dropped",
    "churn",
    "top_overlap_rule",
    "top_overlap",
    "overlap_rules",
    "flags",
)


@dataclass(slots=True)
class RuleQuality:
    stat: RuleStat
    family: FamilyInfo | None

    @property
    def baseline(self) -> bool:
        """Nothing to compare with: the rule's previous run held no address (or there is none)."""
        return self.stat.kept + self.stat.dropped == 0

    @property
    def churn(self) -> float | None:
        """Share of hits new or of the previous hits dropped; None on a baseline run."""
        if self.baseline:
            return None
        base = max(self.stat.hits, self.stat.kept + self.stat.dropped, 1)
        return max(self.stat.new, self.stat.dropped) / base

    @property
    def top_overlap(self) -> tuple[str, int]:
        if not self.stat.overlap:
            return ("", 0)
        rule, shared = max(self.stat.overlap.items(), key=lambda item: (item[1], item[0]))
        return rule, shared

    @property
    def flags(self) -> list[str]:
        flags = []
        if self.stat.hits == 0:
            flags.append("silent")
        elif self.churn is not None and self.churn > CHURN_LIMIT:
            flags.append("noisy")
        if self.stat.hits and self.top_overlap[1] / self.stat.hits > OVERLAP_LIMIT:
            flags.append("overlap")
        return flags


def write_rule_report(
    root: Path, stats: Sequence[RuleStat], families: Mapping[str, FamilyInfo]
) -> list[WrittenFile]:
    """Writes both report files under ``root/reports``."""
    rows = sorted(
        (RuleQuality(stat, families.get(stat.rule_id)) for stat in stats),
        key=lambda q: (-q.stat.run_id, q.stat.rule_id),
    )
    folder = root / "reports"
    folder.mkdir(parents=True, exist_ok=True)

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for quality in rows:
        stat = quality.stat
        top_rule, top_shared = quality.top_overlap
        cells = (
            str(stat.run_id),
            stat.rule_id,
            quality.family.name if quality.family else "",
            quality.family.category.value if quality.family else "",
            str(stat.hits),
            str(stat.new),
            str(stat.kept),
            str(stat.dropped),
            "" if quality.churn is None else f"{quality.churn:.2f}",
            top_rule,
            str(top_shared),
            ";".join(sorted(stat.overlap)),
            ";".join(quality.flags),
        )
        writer.writerow([for_spreadsheet(cell) for cell in cells])
    (folder / "rules.csv").write_text(buffer.getvalue(), encoding="utf-8")

    (folder / "rules.md").write_text(_markdown(rows), encoding="utf-8")
    return [
        WrittenFile("reports/rules.csv", "report", len(rows), unit="rule-run"),
        WrittenFile("reports/rules.md", "report", len(rows), unit="rule-run"),
    ]


def _cell(text: str) -> str:
    # Markdown table cells: a pipe would open a new column, a newline end the table.
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _markdown(rows: Sequence[RuleQuality]) -> str:
    latest = max((q.stat.run_id for q in rows), default=None)
    current = [q for q in rows if q.stat.run_id == latest]
    flagged = [q for q in current if q.flags]
    lines = ["# Rule quality", ""]
    if latest is None:
        return "\n".join([*lines, "No run statistics yet.", ""])
    lines += [
        f"Run {latest}: {len(current)} rules, {len(flagged)} flagged "
        f"(noisy: churn over {CHURN_LIMIT:.0%}; overlap: over {OVERLAP_LIMIT:.0%} of hits "
        "shared with one other rule; silent: no hits).",
        "",
    ]
    baseline = [q for q in current if q.baseline and q.stat.hits]
    if baseline:
        lines += [
            f"{len(baseline)} rule(s) have no previous run to compare with (first run, or "
            "nothing found before): their churn is n/a and they are not judged noisy.",
            "",
        ]
    if flagged:
        lines += ["## Flagged rules", ""]
        lines += _table(sorted(flagged, key=lambda q: (-(q.churn or 0.0), q.stat.rule_id)))
        lines.append("")
    lines += ["## All rules", ""]
    lines += _table(sorted(current, key=lambda q: (-q.stat.hits, q.stat.rule_id)))
    lines.append("")
    return "\n".join(lines)


def _table(rows: Sequence[RuleQuality]) -> list[str]:
    out = [
        "| Rule | Hits | New | Kept | Dropped | Churn | Top overlap | Flags |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for quality in rows:
        stat = quality.stat
        top_rule, top_shared = quality.top_overlap
        overlap = f"{top_rule} ({top_shared})" if top_rule else ""
        churn = "n/a" if quality.churn is None else f"{quality.churn:.0%}"
        out.append(
            f"| {_cell(stat.rule_id)} | {stat.hits} | {stat.new} | {stat.kept} | "
            f"{stat.dropped} | {churn} | {_cell(overlap)} | "
            f"{', '.join(quality.flags)} |"
        )
    return out
