"""STIX 2.1 objects for the TAXII server, built with the ``stix2`` library from store indicators.

Every identifier is a UUIDv5 of what the object stands for (an IP and a family, a family, a
relationship between the two), so a client polling the server twice sees the same objects with
new versions, never duplicates. The shapes follow the feed's STIX bundle (issue 6): an Indicator
per IP and family with a pattern and ``valid_from``/``valid_until`` from the lifecycle, a Malware
or Tool per family with Malpedia and ATT&CK references, an ``indicates`` relationship between
them, the producer Identity and the TLP:CLEAR (TLP 1.0 WHITE) marking.

A version is the object's ``modified`` time; the server keeps one version per object, the
current one (TAXII 2.1 §3.5 lets a server hold only the latest).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stix2

from c2tracker.model import Category, Indicator, IndicatorStatus
from c2tracker.server.deps import as_utc

#: Namespace of every UUIDv5 this server derives (a fixed random UUID; never change it).
NAMESPACE = uuid.UUID("7d1c3b0e-4a5f-5c8e-9b2d-6f0a1e2c3d4b")

PRODUCER_ID = f"identity--{uuid.uuid5(NAMESPACE, 'producer:c2tracker')}"
PRODUCER_CREATED = datetime(2024, 1, 1, tzinfo=UTC)

#: TLP:CLEAR is TLP 2.0's name for TLP 1.0 WHITE, the marking stix2 predefines.
TLP_CLEAR = stix2.TLP_WHITE

#: Statuses that tell consumers to stop using an indicator (STIX ``revoked``).
WITHDRAWN = frozenset(
    {IndicatorStatus.REVOKED, IndicatorStatus.ALLOWLISTED, IndicatorStatus.HONEYPOT}
)


def to_ms(moment: datetime) -> datetime:
    """``moment`` in UTC truncated to milliseconds, the precision STIX timestamps are sent with."""
    moment = as_utc(moment)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def stix_time(moment: datetime) -> str:
    """A timestamp as STIX and TAXII write it (``2026-01-05T03:00:00.000Z``)."""
    moment = to_ms(moment)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def indicator_id(ip: str, rule_id: str) -> str:
    return f"indicator--{uuid.uuid5(NAMESPACE, f'indicator:{ip}|{rule_id}')}"


def family_id(rule_id: str, category: Category) -> str:
    kind = "tool" if category is Category.TOOL else "malware"
    return f"{kind}--{uuid.uuid5(NAMESPACE, f'family:{rule_id}')}"


def relationship_id(ip: str, rule_id: str) -> str:
    return f"relationship--{uuid.uuid5(NAMESPACE, f'indicates:{ip}|{rule_id}')}"


def pattern_for(ip: str) -> str:
    kind = "ipv6-addr" if ":" in ip else "ipv4-addr"
    return f"[{kind}:value = '{ip}']"


def version_of(indicator: Indicator) -> datetime:
    """The indicator's ``modified``: when it was last seen (never before first seen)."""
    return max(to_ms(indicator.first_seen), to_ms(indicator.last_seen))


def producer() -> stix2.Identity:
    return stix2.Identity(
        id=PRODUCER_ID,
        created=PRODUCER_CREATED,
        modified=PRODUCER_CREATED,
        name="C2 Tracker",
        identity_class="system",
        description="Open-source feed of C2, malware panel, botnet and dual-use tool servers.",
        object_marking_refs=[TLP_CLEAR],
    )


def build_indicator(indicator: Indicator) -> stix2.Indicator:
    """The STIX Indicator for one store indicator (one IP in one family)."""
    first = to_ms(indicator.first_seen)
    modified = version_of(indicator)
    valid_until = to_ms(indicator.valid_until) if indicator.valid_until else None
    if valid_until is not None and valid_until <= first:
        valid_until = None

    ports = ", ".join(str(p) for p in indicator.ports) or "unknown"
    return stix2.Indicator(
        id=indicator_id(indicator.ip, indicator.rule_id),
        created=first,
        modified=modified,
        created_by_ref=PRODUCER_ID,
        name=f"{indicator.family} server {indicator.ip}",
        description=(
            f"{indicator.family} ({indicator.category}) on {indicator.ip}, ports {ports}; "
            f"status {indicator.status}, seen {indicator.times_seen} time(s) by "
            f"{', '.join(indicator.engines) or 'no engine'}."
        ),
        indicator_types=["malicious-activity"],
        pattern=pattern_for(indicator.ip),
        pattern_type="stix",
        valid_from=first,
        valid_until=valid_until,
        confidence=max(0, min(100, indicator.confidence)),
        labels=[str(indicator.category), indicator.rule_id, str(indicator.status)],
        revoked=indicator.status in WITHDRAWN,
        object_marking_refs=[TLP_CLEAR],
        allow_custom=False,
    )


def build_family(rule_id: str, sample: Indicator, created: datetime) -> Any:
    """The Malware (or, for dual-use tools, Tool) object of a family."""
    references: list[dict[str, str]] = [
        {"source_name": "malpedia", "url": url} for url in sample.malpedia
    ]
    references += [
        {
            "source_name": "mitre-attack",
            "external_id": technique,
            "url": f"https://attack.mitre.org/{_attack_path(technique)}/",
        }
        for technique in sample.mitre
    ]
    common: dict[str, Any] = {
        "id": family_id(rule_id, sample.category),
        "created": created,
        "modified": created,
        "created_by_ref": PRODUCER_ID,
        "name": sample.family,
        "labels": [str(sample.category), rule_id],
        "object_marking_refs": [TLP_CLEAR],
    }
    if references:
        common["external_references"] = references
    if sample.category is Category.TOOL:
        return stix2.Tool(tool_types=["remote-access"], **common)
    return stix2.Malware(
        is_family=True,
        malware_types=["bot"] if sample.category is Category.BOTNET else ["remote-access-trojan"],
        **common,
    )


def build_relationship(indicator: Indicator) -> stix2.Relationship:
    return stix2.Relationship(
        id=relationship_id(indicator.ip, indicator.rule_id),
        created=to_ms(indicator.first_seen),
        modified=version_of(indicator),
        created_by_ref=PRODUCER_ID,
        relationship_type="indicates",
        source_ref=indicator_id(indicator.ip, indicator.rule_id),
        target_ref=family_id(indicator.rule_id, indicator.category),
        object_marking_refs=[TLP_CLEAR],
    )


def _attack_path(technique: str) -> str:
    # T1071.001 → techniques/T1071/001; S0154 → software/S0154; G0016 → groups/G0016.
    if technique.startswith("T"):
        return "techniques/" + technique.replace(".", "/")
    if technique.startswith("S"):
        return f"software/{technique}"
    return f"groups/{technique}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One object of a collection as TAXII sees it, before the STIX object is built."""

    date_added: datetime
    id: str
    version: datetime
    kind: str
    """``identity``, ``family``, ``indicator`` or ``relationship``."""
    indicator: Indicator | None
    rule_id: str | None

    @property
    def type(self) -> str:
        return self.id.split("--", 1)[0]

    def build(self, family_created: dict[str, datetime]) -> Any:
        """The STIX object this entry stands for."""
        if self.kind == "identity":
            return producer()
        assert self.indicator is not None
        if self.kind == "indicator":
            return build_indicator(self.indicator)
        if self.kind == "relationship":
            return build_relationship(self.indicator)
        assert self.rule_id is not None
        return build_family(self.rule_id, self.indicator, family_created[self.rule_id])


def entries_for(indicators: list[Indicator]) -> tuple[list[Entry], dict[str, datetime]]:
    """Every object the given indicators produce, sorted by (date_added, id).

    Returns the entries and, per family, the creation time of its Malware/Tool object (the
    earliest first-seen among its indicators, which stays stable between polls).
    """
    family_created: dict[str, datetime] = {}
    family_sample: dict[str, Indicator] = {}
    entries: list[Entry] = []

    for indicator in indicators:
        first = to_ms(indicator.first_seen)
        known = family_created.get(indicator.rule_id)
        if known is None or first < known:
            family_created[indicator.rule_id] = first
            family_sample[indicator.rule_id] = indicator
        version = version_of(indicator)
        key = (indicator.ip, indicator.rule_id)
        entries.append(
            Entry(version, indicator_id(*key), version, "indicator", indicator, indicator.rule_id)
        )
        entries.append(
            Entry(
                version,
                relationship_id(*key),
                version,
                "relationship",
                indicator,
                indicator.rule_id,
            )
        )

    for rule_id, created in family_created.items():
        sample = family_sample[rule_id]
        entries.append(
            Entry(created, family_id(rule_id, sample.category), created, "family", sample, rule_id)
        )
    if indicators:
        entries.append(
            Entry(PRODUCER_CREATED, PRODUCER_ID, PRODUCER_CREATED, "identity", None, None)
        )

    entries.sort(key=lambda e: (e.date_added, e.id))
    return entries, family_created
