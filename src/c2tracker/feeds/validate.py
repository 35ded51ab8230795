"""Checks a staged build before it may replace the published feed.

1. Every file in the manifest exists with the recorded sha256.
2. Exactly once: each file the builder counted holds exactly the entries it was handed,
   no entry twice (address lists must be strictly ascending, which also rules out
   duplicates; indicator files have unique rule + IP keys, checked in bounded memory by
   :class:`~c2tracker.feeds.bounded.RepeatFinder` over 64-bit hashes of the keys).
3. Each ecosystem's own tool: ``stix2-validator`` on the STIX bundle, PyMISP loading every
   MISP event (plus the manifest and ``hashes.csv`` agreeing with the events), the ``idstools``
   rule parser on the Suricata and Snort rules (Suricata itself is not packaged for Debian
   bookworm, so ``suricata -T`` cannot run here).

Large feeds: the STIX validator needs about 2.5 ms per object and idstools 45 µs per rule, so
above :data:`STIX_CHECK_LIMIT` indicator objects (STIX) and :data:`FULL_CHECK_LIMIT` rules or
MISP attributes they check an evenly spread sample of that size (every family-level object and
the last entry included), while the structural checks of step 2 still read every line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from c2tracker.errors import PublishError
from c2tracker.feeds.base import ip_key
from c2tracker.feeds.bounded import RepeatFinder
from c2tracker.feeds.manifest import Manifest, file_sha256

__all__ = ["FULL_CHECK_LIMIT", "validate_build"]

log = logging.getLogger(__name__)

FULL_CHECK_LIMIT = 20_000
#: stix2-validator costs about 2.5 ms per object (jsonschema reference resolution), so the
#: bundle's per-indicator objects are checked in an evenly spread sample of this size; every
#: family-level object (marking, identity, malware/tool, infrastructure) is always checked.
STIX_CHECK_LIMIT = 1_000

_Entry = Callable[[str], Any]


def _ip_line(line: str) -> str | None:
    return line.strip() or None


def _ipset_line(line: str) -> str | None:
    return line.split()[2] if line.startswith("add ") else None


def _nft_line(line: str) -> str | None:
    if not line.startswith("add element"):
        return None
    return line.split("{", 1)[1].split("}", 1)[0].strip()


_LIST_PARSERS: dict[str, Callable[[str], str | None]] = {
    "original": _ip_line,
    "list": _ip_line,
    "paloalto-edl": _ip_line,
    "ipset": _ipset_line,
    "nftables": _nft_line,
}


def _csv_key(line: str) -> Any:
    # Without a quote character a CSV line is its cells split at commas (every row is one
    # line); only quoted lines need the csv module, which costs far more per line.
    if '"' not in line:
        row = line.split(",", 9)
    else:
        import csv

        row = next(csv.reader([line]))
    return (row[8], row[0])


def _json_key(line: str) -> Any:
    record = orjson.loads(line.rstrip(",\n"))
    return (record["rule"], record["ip"])


_SID = re.compile(r"sid:(\d+);")
_RULE_META = re.compile(r"c2tracker_rule ([^,;]+)")


def _ids_key(line: str) -> Any:
    rule = _RULE_META.search(line)
    target = line.split(" ")[5]
    return (rule.group(1) if rule else "", target)


def _zeek_key(line: str) -> Any:
    fields = line.rstrip("\n").split("\t")
    return (fields[2], fields[0])


def _stix_key(line: str) -> Any:
    obj = orjson.loads(line.rstrip().rstrip(","))
    return obj["id"] if obj.get("type") == "indicator" else None


# Format → (is this line an entry?, its identity).
_ROW_PARSERS: dict[str, tuple[Callable[[str], bool], _Entry]] = {
    "csv": (lambda line: not line.startswith("ip,"), _csv_key),
    "jsonl": (lambda line: line.startswith("{"), _json_key),
    "json": (lambda line: line.startswith('{"ip"'), _json_key),
    "suricata": (lambda line: line.startswith("alert "), _ids_key),
    "snort": (lambda line: line.startswith("alert "), _ids_key),
    "zeek": (lambda line: not line.startswith("#"), _zeek_key),
    "stix": (lambda line: '"type":"indicator"' in line, _stix_key),
}


def validate_build(root: Path, manifest: Manifest, expected: Mapping[str, int]) -> None:
    """Raises :class:`PublishError` naming the first problem found in the build at ``root``."""
    _check_checksums(root, manifest)
    formats = {entry.path: entry.format for entry in manifest.files}
    for path, count in sorted(expected.items()):
        fmt = formats.get(path)
        if fmt is None:
            raise PublishError(f"{path}: built but missing from the manifest")
        if fmt in _LIST_PARSERS:
            _check_list(root / path, path, _LIST_PARSERS[fmt], count)
        elif fmt in _ROW_PARSERS:
            _check_rows(root / path, path, fmt, count)
    if "stix/bundle.json" in formats:
        check_stix(root / "stix" / "bundle.json")
    if "misp/manifest.json" in formats:
        check_misp(root / "misp")
    for path in ("ids/suricata.rules", "ids/snort.rules"):
        if path in formats:
            check_ids_rules(root / path)


def _check_checksums(root: Path, manifest: Manifest) -> None:
    for entry in manifest.files:
        path = root / entry.path
        if not path.is_file():
            raise PublishError(f"{entry.path}: listed in the manifest but not written")
        if file_sha256(path) != entry.sha256:
            raise PublishError(f"{entry.path}: sha256 differs from the manifest")


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", newline="\n") as handle:
        yield from handle


def _check_list(path: Path, name: str, parse: Callable[[str], str | None], count: int) -> None:
    previous = -1
    seen = 0
    for number, line in enumerate(_lines(path), 1):
        ip = parse(line)
        if ip is None:
            continue
        try:
            key = ip_key(ip)
        except (OSError, ValueError):
            raise PublishError(f"{name}:{number}: not an address: {ip!r}") from None
        if key <= previous:
            raise PublishError(f"{name}:{number}: {ip} out of order or repeated")
        previous = key
        seen += 1
    if seen != count:
        raise PublishError(f"{name}: {seen} addresses, expected {count}")


def _check_rows(path: Path, name: str, fmt: str, count: int) -> None:
    is_entry, identity = _ROW_PARSERS[fmt]
    repeats = RepeatFinder(path.parent, expected=count)
    try:
        for number, line in enumerate(_lines(path), 1):
            if not line.strip() or not is_entry(line):
                continue
            try:
                key = identity(line)
            except (ValueError, IndexError, KeyError) as exc:
                raise PublishError(f"{name}:{number}: unreadable entry: {exc}") from None
            repeats.add(hash(key), number)
        repeat = repeats.first_repeat()
        if repeat is not None:
            raise PublishError(
                f"{name}:{repeat[1]}: indicator appears twice (first at line {repeat[0]})"
            )
        if repeats.count != count:
            raise PublishError(f"{name}: {repeats.count} entries, expected {count}")
    finally:
        repeats.close()


def _stride(total: int, limit: int) -> int:
    """Check every n-th entry so that about ``limit`` entries of ``total`` are checked."""
    return max(1, -(-total // limit))


def _picked(index: int, total: int, stride: int) -> bool:
    return index % stride == 0 or index == total - 1


def check_stix(path: Path) -> None:
    """Runs stix2-validator on the bundle (or an evenly spread sample of it when large).

    The bundle is read twice as lines (one object per line, as the exporter writes it): once to
    count, once to pick the sample, so memory stays at the sample's size.
    """
    from stix2validator import ValidationOptions, validate_instance

    def objects() -> Iterator[bytes]:
        with path.open("rb") as handle:
            for raw in handle:
                line = raw.strip().rstrip(b",")
                if line.startswith(b"{") and not line.startswith(b'{"type": "bundle"'):
                    yield line

    def per_indicator(line: bytes) -> bool:
        return line.startswith((b'{"type":"indicator"', b'{"type":"relationship"'))

    with path.open("rb") as handle:
        head = handle.readline().strip()
    if not head.startswith(b'{"type": "bundle"'):
        raise PublishError(f"{path.name}: not a STIX bundle")
    bundle_id = orjson.loads(head + b"]}")["id"]
    total = sum(1 for line in objects() if per_indicator(line))
    stride = _stride(total, STIX_CHECK_LIMIT)
    sample: list[Any] = []
    index = 0
    for line in objects():
        if not per_indicator(line):
            sample.append(orjson.loads(line))
            continue
        if _picked(index, total, stride):
            sample.append(orjson.loads(line))
        index += 1
    results = validate_instance(
        {"type": "bundle", "id": bundle_id, "objects": sample},
        ValidationOptions(version="2.1"),
    )
    if not results.is_valid:
        problems = []
        for result in results.object_results:
            problems += [f"{result.object_id}: {error}" for error in result.errors]
        raise PublishError(f"{path.name}: STIX validation failed: {'; '.join(problems[:5])}")


def check_misp(folder: Path) -> None:
    """Loads every event with PyMISP and checks the manifest and hashes.csv against them.

    Events are read as lines (one attribute per line, as the exporter writes them); an event
    with more than :data:`FULL_CHECK_LIMIT` attributes is loaded with a spread sample of them.
    """
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    events = sorted(p.stem for p in folder.glob("*.json") if p.name != "manifest.json")
    if sorted(manifest) != events:
        raise PublishError("misp/manifest.json does not list exactly the event files")
    with (folder / "hashes.csv").open("rb") as handle:
        hash_lines = sum(1 for _ in handle)
    parts = 0
    for uuid in events:
        parts += _check_event(folder / f"{uuid}.json", uuid, manifest[uuid])
    if parts != hash_lines:
        raise PublishError(f"misp/hashes.csv: {hash_lines} lines, expected {parts}")


def _check_event(path: Path, uuid: str, header: Mapping[str, Any]) -> int:
    from pymisp import MISPEvent

    name = f"misp/{path.name}"
    if path.stat().st_size < 1 << 24:
        raw = orjson.loads(path.read_bytes())
        attributes = raw["Event"].get("Attribute", [])
        parts = sum(len(str(a["value"]).split("|")) for a in attributes)
    else:
        raw, parts = _sampled_event(path)
    event = MISPEvent()
    try:
        event.load(raw)
    except Exception as exc:
        raise PublishError(f"{name}: PyMISP cannot load it: {exc}") from exc
    if event.uuid != uuid or header["info"] != event.info:
        raise PublishError(f"{name}: uuid or info differs from the manifest")
    return parts


def _sampled_event(path: Path) -> tuple[Any, int]:
    total = 0
    with path.open("rb") as handle:
        head = handle.readline()
        for line in handle:
            if line.startswith(b"{"):
                total += 1
    stride = _stride(total, FULL_CHECK_LIMIT)
    sample: list[Any] = []
    parts = 0
    index = 0
    tail = b""
    with path.open("rb") as handle:
        handle.readline()
        for line in handle:
            if not line.startswith(b"{"):
                tail = line
                continue
            attribute = orjson.loads(line.rstrip().rstrip(b","))
            parts += len(str(attribute["value"]).split("|"))
            if _picked(index, total, stride):
                sample.append(attribute)
            index += 1
    raw = orjson.loads(head.rstrip() + b"]" + tail.strip()[1:])
    raw["Event"]["Attribute"] = sample
    return raw, parts


def check_ids_rules(path: Path) -> None:
    """Checks sids are unique, then parses the rules with idstools (a sample when large)."""
    from idstools import rule as idsrule

    sids = RepeatFinder(path.parent)
    try:
        for number, line in enumerate(_lines(path), 1):
            if not line.startswith("alert "):
                continue
            match = _SID.search(line)
            if match is None:
                raise PublishError(f"{path.name}:{number}: rule without sid")
            sids.add(int(match.group(1)), number)
        repeat = sids.first_repeat()
        if repeat is not None:
            raise PublishError(
                f"{path.name}:{repeat[1]}: sid used twice (first at line {repeat[0]})"
            )
        total = sids.count
    finally:
        sids.close()
    stride = _stride(total, FULL_CHECK_LIMIT)
    index = 0
    for number, line in enumerate(_lines(path), 1):
        if not line.startswith("alert "):
            continue
        if _picked(index, total, stride):
            parsed = idsrule.parse(line)
            if parsed is None or not parsed.msg or not line.rstrip().endswith(")"):
                raise PublishError(f"{path.name}:{number}: idstools cannot parse the rule")
        index += 1
