"""The STIX 2.1 objects the TAXII server serves: the feed's own STIX objects, indexed for TAXII.

Objects come from :mod:`c2tracker.feeds.formats.stix`, the module that writes the published
STIX bundle, so an indicator has the same id and content over TAXII as in the bundle and
consumers that take both never see duplicates: Indicator and ``indicates`` Relationship per IP
and family, Malware or Tool plus Infrastructure and ``hosts`` per family, the producer Identity
and the TLP:CLEAR marking definition. The one addition is ``revoked: true`` on indicators whose
status withdraws them (revoked, allowlisted, honeypot), which the bundle leaves out instead.

The TAXII side needs each object's id, version and ``date_added`` before building it, so that a
page of 100 objects out of 200,000 costs 100 builds; :class:`Entry` carries those. An object's
version is its ``modified``; the server keeps the current version only (TAXII 2.1 §3.5 allows
this). ``date_added`` of an indicator is its version time (the last sighting or status change),
so polling with ``added_after`` returns every indicator seen again or withdrawn since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from c2tracker.feeds.base import FamilyInfo
from c2tracker.feeds.formats.stix import (
    IDENTITY,
    TLP_CLEAR,
    family_objects,
    indicator_modified,
    indicator_objects,
    indicator_stix_id,
    relationship_stix_id,
)
from c2tracker.model import Indicator, IndicatorStatus
from c2tracker.server.deps import RuleSummary, as_utc

#: Creation time the feed gives the producer, marking and family objects (fixed there too).
FIXED_CREATED = datetime(2024, 1, 1, tzinfo=UTC)

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


# The ids are the published bundle's own, so TAXII and the STIX file name objects alike.
indicator_id = indicator_stix_id
relationship_id = relationship_stix_id


def version_of(indicator: Indicator) -> datetime:
    """The indicator's ``modified``: its latest sighting or status change (never before first
    seen), as the published bundle writes it."""
    return to_ms(indicator_modified(indicator))


def family_info(sample: Indicator, rule: RuleSummary | None) -> FamilyInfo:
    """What the feed's STIX builders need about a family, from one of its indicators."""
    return FamilyInfo(
        rule_id=sample.rule_id,
        name=sample.family,
        feed_name=sample.feed_name,
        category=sample.category,
        kind=sample.kind,
        dual_use=sample.dual_use,
        malpedia=tuple(sample.malpedia),
        mitre=tuple(sample.mitre),
        description=rule.description if rule is not None else "",
    )


def _as_dict(obj: Any) -> dict[str, Any]:
    loaded = orjson.loads(obj.serialize())
    assert isinstance(loaded, dict)
    return loaded


@dataclass(frozen=True, slots=True)
class Entry:
    """One object of a collection as TAXII sees it, before the STIX object is built."""

    date_added: datetime
    id: str
    version: datetime
    kind: str
    """``shared`` (identity, marking), ``family`` or ``indicator`` / ``relationship``."""
    rule_id: str | None
    indicator: Indicator | None = None
    position: int = 0
    """For family entries: which of the family's objects (Malware/Tool, Infrastructure, hosts)."""
    category: str | None = None
    """The family's category; None for the objects every collection shares."""

    @property
    def type(self) -> str:
        return self.id.split("--", 1)[0]

    def build(self, families: dict[str, FamilyInfo]) -> dict[str, Any]:
        """The STIX object this entry stands for, as JSON-ready values."""
        if self.kind == "shared":
            return _as_dict(IDENTITY if self.id == IDENTITY.id else TLP_CLEAR)
        assert self.rule_id is not None
        family = families[self.rule_id]
        if self.kind == "family":
            return _as_dict(family_objects(family)[self.position])

        assert self.indicator is not None
        indicator, relationship = indicator_objects(self.indicator, family)
        if self.kind == "relationship":
            return relationship
        if self.indicator.status in WITHDRAWN:
            indicator = {**indicator, "revoked": True}
        return indicator


def entries_for(
    indicators: list[Indicator], rules: dict[str, RuleSummary]
) -> tuple[list[Entry], dict[str, FamilyInfo]]:
    """Every object the given indicators produce, sorted by (date_added, id), and the family
    descriptions the objects are built from."""
    families: dict[str, FamilyInfo] = {}
    entries: list[Entry] = []

    for indicator in indicators:
        if indicator.rule_id not in families:
            families[indicator.rule_id] = family_info(indicator, rules.get(indicator.rule_id))
        version = version_of(indicator)
        first = to_ms(indicator.first_seen)
        ip, rule_id = indicator.ip, indicator.rule_id
        entries.append(
            Entry(
                version,
                indicator_id(ip, rule_id),
                version,
                "indicator",
                rule_id,
                indicator,
                category=str(indicator.category),
            )
        )
        entries.append(
            Entry(
                version,
                relationship_id(ip, rule_id),
                first,
                "relationship",
                rule_id,
                indicator,
                category=str(indicator.category),
            )
        )

    for rule_id, family in families.items():
        for position, obj in enumerate(family_objects(family)):
            entries.append(
                Entry(
                    FIXED_CREATED,
                    obj.id,
                    FIXED_CREATED,
                    "family",
                    rule_id,
                    position=position,
                    category=str(family.category),
                )
            )
    if indicators:
        for shared in (IDENTITY, TLP_CLEAR):
            created = to_ms(as_utc(shared.created))
            entries.append(Entry(created, shared.id, created, "shared", None))

    entries.sort(key=lambda e: (e.date_added, e.id))
    return entries, families
