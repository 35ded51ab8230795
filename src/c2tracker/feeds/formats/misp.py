"""A MISP feed directory: ``misp/manifest.json``, one event per family, ``misp/hashes.csv``.

The layout is MISP's own feed format (landscape.md §1.14): ``<event uuid>.json`` in MISP core
format, a manifest mapping each event uuid to its header, and ``hashes.csv`` with the MD5 of
every attribute value part and its event uuid (what PyMISP's ``to_feed(with_meta=True)``
produces). Event headers and the manifest are built with PyMISP; attributes are written as the
dicts PyMISP's ``MISPAttribute._to_feed()`` returns (a test compares both for every fixture),
streamed per family so that a family with a million addresses never sits in memory.

One attribute per port (``ip-dst|port``), or one ``ip-dst`` when no port is known.
``to_ids`` is set for every attribute except dual-use tools, whose servers are often legitimate
(MISP exports ``to_ids`` attributes to IDS and blocking integrations). Event and attribute
uuids are UUIDv5 of the rule id (and IP, port), stable across publishes. Families with no
active indicator get no event: MISP has nothing to import from an empty one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO, Any

import orjson
from pymisp import MISPEvent, MISPOrganisation

from c2tracker.feeds.base import (
    Exporter,
    FamilyInfo,
    FeedContext,
    WrittenFile,
    as_utc,
    stable_uuid,
)
from c2tracker.model import Category, Indicator

__all__ = ["MispFeed", "attribute_dicts", "event_header", "event_uuid"]

ORG_UUID = stable_uuid("misp-org", "c2tracker")
_PLACEHOLDER = "__c2tracker_attributes__"


def event_uuid(rule_id: str) -> str:
    return stable_uuid("misp-event", rule_id)


def _misp_time(moment: Any) -> str:
    # PyMISP renders first_seen/last_seen with isoformat() of an aware datetime.
    return str(as_utc(moment).isoformat())


def attribute_dicts(indicator: Indicator) -> list[dict[str, Any]]:
    """The feed form of the indicator's attributes, key for key as PyMISP writes them."""
    timestamp = str(int(as_utc(indicator.last_seen).timestamp()))
    first_seen = _misp_time(indicator.first_seen)
    last_seen = _misp_time(max(as_utc(indicator.last_seen), as_utc(indicator.first_seen)))
    comment = f"{indicator.family} ({indicator.category.value}), confidence {indicator.confidence}"
    values: list[tuple[str, str, str]] = []
    if indicator.ports:
        for port in indicator.ports:
            values.append(("ip-dst|port", f"{indicator.ip}|{port}", str(port)))
    else:
        values.append(("ip-dst", indicator.ip, ""))
    return [
        {
            "category": "Network activity",
            "comment": comment,
            "disable_correlation": False,
            "first_seen": first_seen,
            "last_seen": last_seen,
            "timestamp": timestamp,
            "to_ids": not indicator.dual_use,
            "type": kind,
            "uuid": stable_uuid("misp-attribute", indicator.rule_id, indicator.ip, port),
            "value": value,
        }
        for kind, value, port in values
    ]


def _tags(family: FamilyInfo) -> list[str]:
    tags = ["tlp:clear", f'c2tracker:category="{family.category.value}"']
    if family.malpedia:
        tags.append(f'misp-galaxy:malpedia="{family.name}"')
    galaxy = "mitre-tool" if family.category is Category.TOOL else "mitre-malware"
    tags += [f'misp-galaxy:{galaxy}="{family.name} - {sid}"' for sid in family.mitre]
    return tags


def event_header(family: FamilyInfo, context: FeedContext) -> MISPEvent:
    """The PyMISP event for a family, without its attributes."""
    event = MISPEvent()
    event.uuid = event_uuid(family.rule_id)
    event.info = f"C2 Tracker: {family.name} ({family.category.value}) servers"
    event.set_date(context.generated_at.date())
    event.timestamp = context.generated_at
    event.publish_timestamp = context.generated_at
    event.published = True
    event.analysis = 2
    event.threat_level_id = 3 if family.dual_use else 2
    org = MISPOrganisation()
    org.name = context.producer
    org.uuid = ORG_UUID
    event.Orgc = org
    for tag in _tags(family):
        event.add_tag(tag)
    return event


class MispFeed(Exporter):
    format = "misp"
    path = "misp/manifest.json"
    counted = False

    def __init__(self, context: FeedContext) -> None:
        super().__init__(context)
        self._bodies: dict[str, IO[bytes]] = {}
        self._counts: dict[str, int] = {}
        self._families: dict[str, FamilyInfo] = {}
        self.attributes = 0

    def open(self, root: Path) -> None:
        self._root = root
        (root / "misp").mkdir(parents=True, exist_ok=True)
        self._hashes = (root / "misp" / "hashes.csv").open("w", encoding="utf-8", newline="\n")

    def write(self, indicator: Indicator) -> None:
        uuid = event_uuid(indicator.rule_id)
        body = self._bodies.get(indicator.rule_id)
        if body is None:
            body = (self._root / "misp" / f"{uuid}.part").open("wb")
            self._bodies[indicator.rule_id] = body
            self._counts[indicator.rule_id] = 0
            self._families[indicator.rule_id] = self.context.family(indicator)
        for attribute in attribute_dicts(indicator):
            if self._counts[indicator.rule_id]:
                body.write(b",\n")
            body.write(orjson.dumps(attribute))
            self._counts[indicator.rule_id] += 1
            self.attributes += 1
            for part in attribute["value"].split("|"):
                digest = hashlib.md5(part.encode("utf-8"), usedforsecurity=False).hexdigest()
                self._hashes.write(f"{digest},{uuid}\n")
        self.entries += 1

    def close(self) -> list[WrittenFile]:
        self._hashes.close()
        manifest: dict[str, Any] = {}
        files: list[WrittenFile] = []
        for rule_id in sorted(self._bodies):
            event = event_header(self._families[rule_id], self.context)
            manifest.update(event.manifest)
            files.append(self._assemble(event, rule_id))
        manifest_path = self._root / "misp" / "manifest.json"
        manifest_path.write_bytes(orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS))
        files.append(WrittenFile("misp/manifest.json", self.format, len(manifest), unit="event"))
        files.append(WrittenFile("misp/hashes.csv", self.format, self.attributes, unit="hash"))
        return files

    def _assemble(self, event: MISPEvent, rule_id: str) -> WrittenFile:
        # The header comes from PyMISP; the streamed attribute body is spliced into it.
        body = self._bodies[rule_id]
        body.close()
        feed = event.to_feed()
        feed["Event"]["Attribute"] = _PLACEHOLDER
        head, tail = orjson.dumps(feed).split(orjson.dumps(_PLACEHOLDER))
        part = self._root / "misp" / f"{event.uuid}.part"
        target = self._root / "misp" / f"{event.uuid}.json"
        with target.open("wb") as out, part.open("rb") as source:
            out.write(head + b"[\n")
            while chunk := source.read(1 << 20):
                out.write(chunk)
            out.write(b"\n]" + tail)
        part.unlink()
        return WrittenFile(
            f"misp/{event.uuid}.json", self.format, self._counts[rule_id], unit="attribute"
        )
