"""A STIX 2.1 bundle: Indicator per active indicator, Malware or Tool and Infrastructure per family.

Objects and their links (STIX 2.1 §4 relationship tables):

- ``indicator --indicates--> malware|tool`` for every indicator (IP + family), with the pattern
  ``[ipv4-addr:value = '…']`` (or ``ipv6-addr``), ``valid_from`` = first seen, ``valid_until``
  from the lifecycle, and the confidence;
- one Malware (``is_family: true``) or Tool per family (Tool for the ``tool`` category) with
  Malpedia and ATT&CK external references;
- one Infrastructure per family (``command-and-control``, or ``botnet``) and
  ``infrastructure --hosts--> malware|tool``;
- an Identity for the producer (``created_by_ref`` of everything) and the TLP 2.0 CLEAR marking.

Ids are UUIDv5 from stable keys (rule id, IP), so an indicator keeps its id across publishes.

Why the per-indicator objects are not built as ``stix2`` objects: constructing one
``stix2.Indicator`` parses its pattern and costs about 0.9 ms with its relationship, a quarter
of an hour for a million indicators. They are emitted as plain dicts with exactly the JSON the
``stix2`` objects serialise to (a test builds both and compares them for every fixture), while
the family-level objects, identity and marking are real ``stix2`` objects; the publish step runs
``stix2-validator`` on the bundle (see :mod:`c2tracker.feeds.validate`). The bundle is streamed,
one object per line, so memory does not grow with the feed.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
import stix2

from c2tracker.feeds.base import (
    FamilyInfo,
    FeedContext,
    RowExporter,
    as_utc,
    iso_millis,
    iso_seconds,
    stable_uuid4,
)
from c2tracker.model import Category, Indicator

__all__ = [
    "IDENTITY_ID",
    "TLP_CLEAR",
    "StixBundle",
    "family_objects",
    "indicator_objects",
    "indicator_objects_stix2",
]

#: TLP 2.0 CLEAR as published by OASIS (cti-stix-common-objects, extension-definition
#: 60a3c5c5…). stix2 3.0 ships only the TLP 1.0 markings (TLP_WHITE), hence defined here.
TLP_CLEAR_ID = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
TLP_CLEAR = stix2.MarkingDefinition(
    id=TLP_CLEAR_ID,
    created="2022-10-01T00:00:00.000Z",
    name="TLP:CLEAR",
    extensions={
        "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
            "extension_type": "property-extension",
            "tlp_2_0": "clear",
        }
    },
    allow_custom=True,
)

IDENTITY_ID = f"identity--{stable_uuid4('identity', 'c2tracker')}"
#: Creation time of the objects that describe families and the producer: fixed, so that they
#: are byte-identical from one publish to the next.
_FIXED_CREATED = "2024-01-01T00:00:00.000Z"

IDENTITY = stix2.Identity(
    id=IDENTITY_ID,
    created=_FIXED_CREATED,
    modified=_FIXED_CREATED,
    name="C2 Tracker",
    identity_class="system",
    description="Open-source tracker of C2, malware-panel and dual-use tool servers.",
    object_marking_refs=[TLP_CLEAR_ID],
)

# Rule kinds onto the STIX open vocabularies malware-type-ov and tool-type-ov (STIX 2.1 §10).
_MALWARE_TYPES = {
    "framework": "remote-access-trojan",
    "rat": "remote-access-trojan",
    "backdoor": "backdoor",
    "stealer": "spyware",
    "spyware": "spyware",
    "loader": "downloader",
    "banker": "trojan",
    "ransomware": "ransomware",
    "miner": "resource-exploitation",
    "botnet": "bot",
    "trojan": "trojan",
    "webshell": "webshell",
}
_TOOL_TYPES = {
    "framework": "remote-access",
    "rat": "remote-access",
    "scanner": "vulnerability-scanning",
    "cracker": "credential-exploitation",
    "phishing": "exploitation",
}
_MALPEDIA_URL = "https://malpedia.caad.fkie.fraunhofer.de/details/{}"
_ATTACK_URL = "https://attack.mitre.org/software/{}"


#: Millisecond precision, as stix2 serialises ``created``/``modified``.
_stamp = iso_millis
#: Second precision, as stix2 serialises ``valid_from``/``valid_until`` given seconds.
_instant = iso_seconds


def family_sdo_id(family: FamilyInfo) -> str:
    return _sdo_id(family.category is Category.TOOL, family.rule_id)


def indicator_stix_id(ip: str, rule_id: str) -> str:
    """The stable id of the Indicator for ``ip`` in family ``rule_id``; TAXII serves it too."""
    return f"indicator--{stable_uuid4('indicator', rule_id, ip)}"


def relationship_stix_id(ip: str, rule_id: str) -> str:
    """The stable id of the ``indicates`` relationship of that Indicator."""
    return f"relationship--{stable_uuid4('indicates', rule_id, ip)}"


@lru_cache(maxsize=4096)
def _sdo_id(tool: bool, rule_id: str) -> str:
    # Asked once per indicator (its relationship's target): cached per family.
    kind = "tool" if tool else "malware"
    return f"{kind}--{stable_uuid4(kind, rule_id)}"


def family_objects(family: FamilyInfo) -> list[Any]:
    """Malware or Tool, Infrastructure and the ``hosts`` relationship for one family."""
    references = [
        {"source_name": "malpedia", "external_id": mid, "url": _MALPEDIA_URL.format(mid)}
        for mid in family.malpedia
    ] + [
        {"source_name": "mitre-attack", "external_id": sid, "url": _ATTACK_URL.format(sid)}
        for sid in family.mitre
    ]
    common: dict[str, Any] = {
        "id": family_sdo_id(family),
        "created": _FIXED_CREATED,
        "modified": _FIXED_CREATED,
        "created_by_ref": IDENTITY_ID,
        "name": family.name,
        "object_marking_refs": [TLP_CLEAR_ID],
    }
    if family.description:
        common["description"] = family.description
    if references:
        common["external_references"] = references
    sdo: Any
    if family.category is Category.TOOL:
        sdo = stix2.Tool(tool_types=[_TOOL_TYPES.get(family.kind, "unknown")], **common)
    else:
        sdo = stix2.Malware(
            is_family=True,
            malware_types=[_MALWARE_TYPES.get(family.kind, "unknown")],
            **common,
        )

    infrastructure_type = "botnet" if family.category is Category.BOTNET else "command-and-control"
    infrastructure = stix2.Infrastructure(
        id=f"infrastructure--{stable_uuid4('infrastructure', family.rule_id)}",
        created=_FIXED_CREATED,
        modified=_FIXED_CREATED,
        created_by_ref=IDENTITY_ID,
        name=f"{family.name} servers",
        infrastructure_types=[infrastructure_type],
        object_marking_refs=[TLP_CLEAR_ID],
    )
    hosts = stix2.Relationship(
        id=f"relationship--{stable_uuid4('hosts', family.rule_id)}",
        created=_FIXED_CREATED,
        modified=_FIXED_CREATED,
        created_by_ref=IDENTITY_ID,
        relationship_type="hosts",
        source_ref=infrastructure.id,
        target_ref=sdo.id,
        object_marking_refs=[TLP_CLEAR_ID],
    )
    return [sdo, infrastructure, hosts]


def indicator_modified(indicator: Indicator) -> datetime:
    """An indicator's STIX version: its latest sighting or status change, never before it was
    first seen. A status change (revoked, expired, allowlisted…) makes a new version, so TAXII
    clients polling for changes learn of it."""
    moments = [as_utc(indicator.first_seen), as_utc(indicator.last_seen)]
    if indicator.status_changed_at is not None:
        moments.append(as_utc(indicator.status_changed_at))
    return max(moments)


def _indicator_fields(indicator: Indicator, family: FamilyInfo) -> dict[str, Any]:
    kind = "ipv6-addr" if ":" in indicator.ip else "ipv4-addr"
    created = indicator.first_seen
    modified = indicator_modified(indicator)
    ports = ", ".join(str(port) for port in indicator.ports) or "unknown"
    fields: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": indicator_stix_id(indicator.ip, indicator.rule_id),
        "created_by_ref": IDENTITY_ID,
        "created": _stamp(created),
        "modified": _stamp(modified),
        "name": f"{family.name} server {indicator.ip}",
        "description": (
            f"{family.name} ({indicator.category.value}) on {indicator.ip}, ports {ports}; "
            f"seen by {', '.join(indicator.engines) or 'unknown'}"
        ),
        "indicator_types": ["anomalous-activity" if indicator.dual_use else "malicious-activity"],
        "pattern": f"[{kind}:value = '{indicator.ip}']",
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": _instant(indicator.first_seen),
    }
    if indicator.valid_until is not None and as_utc(indicator.valid_until) > as_utc(
        indicator.first_seen
    ):
        fields["valid_until"] = _instant(indicator.valid_until)
    fields["labels"] = [indicator.category.value, indicator.rule_id]
    fields["confidence"] = max(0, min(100, indicator.confidence))
    fields["object_marking_refs"] = [TLP_CLEAR_ID]
    return fields


def _relationship_fields(
    indicator: Indicator, family: FamilyInfo, indicator_id: str
) -> dict[str, Any]:
    stamp = _stamp(indicator.first_seen)
    return {
        "type": "relationship",
        "spec_version": "2.1",
        "id": relationship_stix_id(indicator.ip, indicator.rule_id),
        "created_by_ref": IDENTITY_ID,
        "created": stamp,
        "modified": stamp,
        "relationship_type": "indicates",
        "source_ref": indicator_id,
        "target_ref": family_sdo_id(family),
        "object_marking_refs": [TLP_CLEAR_ID],
    }


def indicator_objects(indicator: Indicator, family: FamilyInfo) -> list[dict[str, Any]]:
    """The Indicator and its ``indicates`` relationship, as the JSON dicts stix2 would write."""
    fields = _indicator_fields(indicator, family)
    return [fields, _relationship_fields(indicator, family, fields["id"])]


def indicator_objects_stix2(indicator: Indicator, family: FamilyInfo) -> list[Any]:
    """The same two objects built by the stix2 library (the reference the fast path matches)."""
    fields = _indicator_fields(indicator, family)
    relationship = _relationship_fields(indicator, family, fields["id"])
    return [
        stix2.Indicator(**{k: v for k, v in fields.items() if k != "type"}),
        stix2.Relationship(**{k: v for k, v in relationship.items() if k != "type"}),
    ]


class StixBundle(RowExporter):
    format = "stix"
    path = "stix/bundle.json"
    separator = ",\n"

    def __init__(self, context: FeedContext) -> None:
        super().__init__(context)
        self._families_written: set[str] = set()
        self.objects = 0

    def header(self) -> str:
        bundle_id = f"bundle--{stable_uuid4('bundle', _stamp(self.context.generated_at))}"
        head = f'{{"type": "bundle", "id": "{bundle_id}", "objects": [\n'
        self.objects = 2
        return head + str(TLP_CLEAR.serialize()) + ",\n" + str(IDENTITY.serialize())

    def row(self, indicator: Indicator) -> str:
        family = self.context.family(indicator)
        lines = []
        if family.rule_id not in self._families_written:
            self._families_written.add(family.rule_id)
            lines += [sdo.serialize() for sdo in family_objects(family)]
        lines += [orjson.dumps(obj).decode("utf-8") for obj in indicator_objects(indicator, family)]
        self.objects += len(lines)
        return ",\n" + ",\n".join(lines)

    def write(self, indicator: Indicator) -> None:
        # The header already wrote two objects, so every row starts with its own separator.
        self._out.write(self.row(indicator))
        self.entries += 1

    def footer(self) -> str:
        return "\n]}\n"
