"""What changed since the previous publish: ``delta/added.txt``, ``removed.txt``, ``delta.json``.

The previous state is the previous build's ``json/indicators.jsonl`` (every active indicator),
found through the publish directory's current link; an indicator is one (rule, IP) pair, so an
address that moves from one family to another shows as removed from one and added to the
other. The text files hold unique addresses (sorted as every list); ``delta.json`` holds the
indicators with their family. With no previous publish everything counts as added and
``previous_build`` is null.

Memory stays bounded: each side's keys (rule, address, byte offset of the line) are sorted
externally (:class:`~c2tracker.feeds.bounded.ExternalSort`) and the two sorted streams are
merged; an entry found on one side only is read back from its file by offset. Entries come
out ordered by rule id, then address (numerically), on both sides.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson

from c2tracker.feeds.base import WrittenFile, ip_key, ip_text
from c2tracker.feeds.bounded import ExternalSort

__all__ = ["Delta", "compute_delta"]

log = logging.getLogger(__name__)

CURRENT_STATE = "json/indicators.jsonl"
#: Added entries quoted per family in the webhook and the summary.
SAMPLE_PER_FAMILY = 10
#: Bytes of an address key in the sorted address files (129 bits: IPv6 is flagged).
_IP_WIDTH = 17


@dataclass(slots=True)
class Delta:
    previous_build: str | None
    added: int = 0
    removed: int = 0
    added_by_family: dict[str, int] = field(default_factory=dict)
    removed_by_family: dict[str, int] = field(default_factory=dict)
    sample_added: dict[str, list[str]] = field(default_factory=dict)
    files: list[WrittenFile] = field(default_factory=list)


def _sorted_keys(path: Path | None, folder: Path) -> ExternalSort[bytes]:
    """``<rule as JSON>\t<address key, 33 hex digits>\t<line offset>`` for every entry.

    The rule is written as a JSON string so that no tab or newline can appear in it; the key
    part before the last tab is equal on both sides exactly when the indicator is.
    """
    keys: ExternalSort[bytes] = ExternalSort(folder)
    if path is None or not path.is_file():
        return keys
    try:
        with path.open("rb") as handle:
            offset = 0
            for line in handle:
                if line.strip():
                    record = orjson.loads(line)
                    rule = orjson.dumps(record["rule"])
                    keys.add(rule + b"\t%033x\t%d" % (ip_key(record["ip"]), offset))
                offset += len(line)
    except BaseException:
        keys.close()
        raise
    return keys


def _split(entry: bytes | None) -> tuple[bytes, int]:
    if entry is None:
        return b"", -1
    key, _, offset = entry.rpartition(b"\t")
    return key, int(offset)


def compute_delta(root: Path, previous_root: Path | None, previous_build: str | None) -> Delta:
    """Writes the delta files into ``root`` (the new build) and returns the summary."""
    current = root / CURRENT_STATE
    previous = previous_root / CURRENT_STATE if previous_root else None
    has_previous = previous is not None and previous.is_file()
    folder = root / "delta"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        old_keys = _sorted_keys(previous if has_previous else None, folder)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        # A damaged previous build must not block every later publish: start afresh.
        log.warning(
            "previous build's %s is unreadable (%s); deltas start afresh", CURRENT_STATE, exc
        )
        has_previous = False
        old_keys = ExternalSort(folder)
    delta = Delta(previous_build=previous_build if has_previous else None)

    with (
        _sorted_keys(current, folder) as new_keys,
        old_keys,
        ExternalSort[int](folder, width=_IP_WIDTH) as added_ips,
        ExternalSort[int](folder, width=_IP_WIDTH) as removed_ips,
    ):
        removed_part = folder / ".removed.part"
        with (
            (folder / "delta.json").open("wb") as out,
            removed_part.open("w+b") as removed_out,
            current.open("rb") as new_file,
            _open_or_empty(previous if has_previous else None) as old_file,
        ):
            head = {"previous_build": delta.previous_build}
            out.write(orjson.dumps(head)[:-1] + b',"added":[\n')
            for side, offset in _diff(iter(new_keys), iter(old_keys)):
                if side == "added":
                    _entry(new_file, offset, out, delta.added, added_ips, delta, side)
                    delta.added += 1
                else:
                    _entry(old_file, offset, removed_out, delta.removed, removed_ips, delta, side)
                    delta.removed += 1
            out.write(b'\n],"removed":[\n')
            removed_out.seek(0)
            while chunk := removed_out.read(1 << 20):
                out.write(chunk)
            out.write(b"\n]}\n")
        removed_part.unlink()

        for name, ips in (("added", added_ips), ("removed", removed_ips)):
            written = 0
            with (folder / f"{name}.txt").open("w", encoding="utf-8", newline="\n") as text:
                for key in ips.unique():
                    text.write(ip_text(key) + "\n")
                    written += 1
            delta.files.append(WrittenFile(f"delta/{name}.txt", "delta", written, unit="ip"))
    delta.files.append(WrittenFile("delta/delta.json", "delta", delta.added + delta.removed))
    return delta


def _open_or_empty(path: Path | None) -> IO[bytes]:
    return path.open("rb") if path is not None else open(os.devnull, "rb")


def _diff(new: Iterator[bytes], old: Iterator[bytes]) -> Iterator[tuple[str, int]]:
    """Merges two sorted key streams: ("added", offset in new) / ("removed", offset in old)."""
    new_key, new_offset = _split(next(new, None))
    old_key, old_offset = _split(next(old, None))
    while new_offset >= 0 or old_offset >= 0:
        if old_offset < 0 or (new_offset >= 0 and new_key < old_key):
            yield "added", new_offset
            new_key, new_offset = _split(next(new, None))
        elif new_offset < 0 or old_key < new_key:
            yield "removed", old_offset
            old_key, old_offset = _split(next(old, None))
        else:
            new_key, new_offset = _split(next(new, None))
            old_key, old_offset = _split(next(old, None))


def _entry(
    source: IO[bytes],
    offset: int,
    out: IO[bytes],
    written: int,
    ips: ExternalSort[int],
    delta: Delta,
    side: str,
) -> None:
    source.seek(offset)
    line = source.readline().rstrip(b"\n")
    record = orjson.loads(line)
    if written:
        out.write(b",\n")
    out.write(line)
    ips.add(ip_key(record["ip"]))
    family = record["family"]
    by_family = delta.added_by_family if side == "added" else delta.removed_by_family
    by_family[family] = by_family.get(family, 0) + 1
    if side == "added":
        sample = delta.sample_added.setdefault(family, [])
        if len(sample) < SAMPLE_PER_FAMILY:
            sample.append(record["ip"])
