"""What changed since the previous publish: ``delta/added.txt``, ``removed.txt``, ``delta.json``.

The previous state is the previous build's ``json/indicators.jsonl`` (every active indicator),
found through the publish directory's current link; an indicator is one (rule, IP) pair, so an
address that moves from one family to another shows as removed from one and added to the
other. The text files hold unique addresses (sorted as every list); ``delta.json`` holds the
indicators with their family. With no previous publish everything counts as added and
``previous_build`` is null.

Memory: two sets of 64-bit hashes of ``rule<TAB>ip``, then a second read of each file to write
the entries out, so no indicator text is held for the whole feed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from c2tracker.feeds.base import WrittenFile, ip_key, ip_text

__all__ = ["Delta", "compute_delta"]

CURRENT_STATE = "json/indicators.jsonl"
#: Added entries quoted per family in the webhook and the summary.
SAMPLE_PER_FAMILY = 10


@dataclass(slots=True)
class Delta:
    previous_build: str | None
    added: int = 0
    removed: int = 0
    added_by_family: dict[str, int] = field(default_factory=dict)
    removed_by_family: dict[str, int] = field(default_factory=dict)
    sample_added: dict[str, list[str]] = field(default_factory=dict)
    files: list[WrittenFile] = field(default_factory=list)


def _records(path: Path | None) -> Iterator[dict[str, Any]]:
    if path is None or not path.is_file():
        return
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                yield orjson.loads(line)


def _key(record: dict[str, Any]) -> int:
    return hash(f"{record['rule']}\t{record['ip']}")


def compute_delta(root: Path, previous_root: Path | None, previous_build: str | None) -> Delta:
    """Writes the delta files into ``root`` (the new build) and returns the summary."""
    current = root / CURRENT_STATE
    previous = previous_root / CURRENT_STATE if previous_root else None
    delta = Delta(previous_build=previous_build if previous and previous.is_file() else None)
    old = {_key(record) for record in _records(previous)}
    new = {_key(record) for record in _records(current)}

    (root / "delta").mkdir(parents=True, exist_ok=True)
    added_ips: set[int] = set()
    removed_ips: set[int] = set()
    with (root / "delta" / "delta.json").open("wb") as out:
        head = {"previous_build": delta.previous_build}
        out.write(orjson.dumps(head)[:-1] + b',"added":[\n')
        delta.added = _write_side(out, _records(current), old, added_ips, delta, "added")
        out.write(b'\n],"removed":[\n')
        delta.removed = _write_side(out, _records(previous), new, removed_ips, delta, "removed")
        out.write(b"\n]}\n")
    del old, new

    for name, ips in (("added", added_ips), ("removed", removed_ips)):
        with (root / "delta" / f"{name}.txt").open("w", encoding="utf-8", newline="\n") as out:
            for key in sorted(ips):
                out.write(ip_text(key) + "\n")
        delta.files.append(WrittenFile(f"delta/{name}.txt", "delta", len(ips), unit="ip"))
    delta.files.append(WrittenFile("delta/delta.json", "delta", delta.added + delta.removed))
    return delta


def _write_side(
    out: Any,
    records: Iterator[dict[str, Any]],
    other: set[int],
    ips: set[int],
    delta: Delta,
    side: str,
) -> int:
    count = 0
    by_family = delta.added_by_family if side == "added" else delta.removed_by_family
    for record in records:
        if _key(record) in other:
            continue
        if count:
            out.write(b",\n")
        out.write(orjson.dumps(record))
        count += 1
        ips.add(ip_key(record["ip"]))
        family = record["family"]
        by_family[family] = by_family.get(family, 0) + 1
        if side == "added":
            sample = delta.sample_added.setdefault(family, [])
            if len(sample) < SAMPLE_PER_FAMILY:
                sample.append(record["ip"])
    return count
