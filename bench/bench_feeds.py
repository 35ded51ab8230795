"""Benchmark: writing every feed format for N active indicators (default 1,000,000).

Indicators are generated (110 families, 1-3 ports, a third of the addresses shared between
families) and streamed as the store streams them. ``--per-format`` first times each format
alone on the same stream; then all formats are written in one pass, and a full publish
(delta, manifest, validation, swap) is timed, then a second publish over a changed set (5 %
of the indicators gone, as many new ones) so that the delta merges against a previous build.

Peak memory is the process's high-water mark (``VmHWM`` of ``/proc/self/status``), reset before
each step (``/proc/self/clear_refs``) so every line shows its own peak; it must stay bounded
(target under 400 MB) because every format is written as it streams and whatever must be
sorted or checked across the whole feed is sorted externally.

    .venv/bin/python bench/bench_feeds.py --per-format   # 1,000,000 indicators
    .venv/bin/python bench/bench_feeds.py --quick        # 20,000, a smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from c2tracker.feeds.base import Exporter, FamilyInfo, FeedContext
from c2tracker.feeds.build import build_feeds
from c2tracker.feeds.formats import standard_exporters
from c2tracker.feeds.publish import publish
from c2tracker.model import Category, Indicator, IndicatorStatus, RunInfo
from c2tracker.settings import Settings

NOW = datetime(2026, 5, 4, tzinfo=UTC)
CATEGORIES = [Category.C2, Category.MALWARE, Category.BOTNET, Category.TOOL]


def families(count: int = 110) -> list[FamilyInfo]:
    return [
        FamilyInfo(
            rule_id=f"family-{n}",
            name=f"Family {n}",
            feed_name=f"Family {n}",
            category=CATEGORIES[n % 4],
            kind="rat",
            dual_use=n % 4 == 3,
            malpedia=(f"win.family_{n}",),
            mitre=(f"S{n:04d}",),
        )
        for n in range(count)
    ]


def _ip(number: int) -> str:
    a, b, c, d = (
        11 + number // 16777216 % 200,
        number // 65536 % 256,
        number // 256 % 256,
        number % 256,
    )
    return f"{a}.{b}.{c}.{d}"


def indicators(n: int, family_list: list[FamilyInfo], shift: int = 0) -> Iterator[Indicator]:
    """``n`` indicators ordered by family, as the store streams them.

    ``shift`` > 0 leaves out every 20th indicator and adds as many new addresses in their
    place (a week's turnover of 5 %), for the second publish's delta.
    """
    per_family = n // len(family_list) + 1
    produced = 0
    for index, family in enumerate(family_list):
        for k in range(per_family):
            if produced == n:
                return
            if shift and k % 20 == 7:
                k += per_family * shift
            # Every third address is shared with the other families (same number).
            number = k * len(family_list) + (0 if k % 3 == 0 else index)
            last = NOW - timedelta(hours=k % 2000)
            yield Indicator(
                ip=_ip(number),
                rule_id=family.rule_id,
                family=family.name,
                feed_name=family.feed_name,
                category=family.category,
                kind=family.kind,
                dual_use=family.dual_use,
                first_seen=last - timedelta(days=30),
                last_seen=last,
                times_seen=k % 9 + 1,
                ports=tuple(443 + p for p in range(k % 3 + 1)),
                engines=("shodan",),
                queries=(f"{family.rule_id}:shodan:00000000",),
                confidence=k % 100,
                status=IndicatorStatus.ACTIVE,
                valid_until=last + timedelta(days=30),
                malpedia=family.malpedia,
                mitre=family.mitre,
                org="Example Hosting",
            )
            produced += 1


class GeneratedStore:
    """The read side of the store that publish uses, over generated indicators."""

    def __init__(self, n: int, family_list: list[FamilyInfo]) -> None:
        self.n, self.family_list = n, family_list
        self.shift = 0

    def iter_indicators(self, **_: Any) -> Iterator[Indicator]:
        return indicators(self.n, self.family_list, self.shift)

    def runs(self, limit: int = 20) -> list[RunInfo]:
        return [RunInfo(1, NOW, NOW, "ok", ("shodan",), self.n, 1, 0, 0, {})]

    def query_runs(self, run_id: int) -> list[Any]:
        return []

    def engine_status(self) -> dict[str, datetime | None]:
        return {"shodan": NOW}

    def rule_stats(self, run_id: int | None = None) -> list[Any]:
        return []


def peak_mb() -> float:
    """The process's resident high-water mark since the last :func:`reset_peak`, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Resets VmHWM to the current resident size (Linux ``clear_refs`` value 5)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def main() -> None:
    parser = argparse.ArgumentParser(description="time and memory of writing every feed format")
    parser.add_argument("--n", type=int, default=1_000_000, help="active indicators")
    parser.add_argument("--quick", action="store_true", help="20,000 indicators")
    parser.add_argument("--per-format", action="store_true", help="also time each format alone")
    args = parser.parse_args()
    n = 20_000 if args.quick else args.n
    family_list = families()
    store = GeneratedStore(n, family_list)
    context = FeedContext.create(family_list, generated_at=NOW, runs=store.runs())
    work = Path(tempfile.mkdtemp(prefix="bench-feeds-"))
    print(f"{n:,} indicators, {len(family_list)} families")

    try:
        if args.per_format:
            groups: dict[str, list[Exporter]] = {}
            for exporter in standard_exporters(context):
                groups.setdefault(exporter.format, []).append(exporter)
            started = time.perf_counter()
            for _ in indicators(n, family_list):
                pass
            generating = time.perf_counter() - started
            print(f"  {'(generating)':14s} {generating:8.1f} s  (included in each line below)")
            for name, group in groups.items():
                reset_peak()
                started = time.perf_counter()
                build_feeds(indicators(n, family_list), group, context, work / name)
                elapsed = time.perf_counter() - started
                files = f"{len(group):4d} files"
                print(f"  {name:14s} {elapsed:8.1f} s  {files}  peak {peak_mb():5.0f} MB")
                shutil.rmtree(work / name)

        reset_peak()
        started = time.perf_counter()
        result = build_feeds(
            indicators(n, family_list), standard_exporters(context), context, work / "all"
        )
        elapsed = time.perf_counter() - started
        print(
            f"all formats in one pass: {elapsed:.1f} s, {len(result.files)} files, "
            f"peak {peak_mb():.0f} MB"
        )
        shutil.rmtree(work / "all")

        peaks = []
        for label, shift, moment in (("first", 0, NOW), ("second", 1, NOW + timedelta(days=7))):
            store.shift = shift
            reset_peak()
            started = time.perf_counter()
            manifest = publish(store, family_list, work / "feeds", settings=Settings(), now=moment)
            elapsed = time.perf_counter() - started
            peaks.append(peak_mb())
            counts = manifest.counts
            print(
                f"{label} full publish (build, delta, manifest, validation, swap): "
                f"{elapsed:.1f} s, +{counts['added']:,} / -{counts['removed']:,}, "
                f"peak {peaks[-1]:.0f} MB"
            )
        print(f"peak RSS {max(peaks):.0f} MB (target < 400 MB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
