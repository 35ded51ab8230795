"""The exporter framework: what every feed format shares.

A format is a small subclass of :class:`Exporter` that mostly sets class attributes (where its
file goes, which indicators it holds, whether it gets time windows) and says how one indicator
or one IP becomes text. The builder (:mod:`c2tracker.feeds.build`) streams the store's active
indicators once and hands each one to every exporter; formats that list addresses rather than
indicators (:class:`IpListExporter`) receive sorted, de-duplicated IPs at the end.

Exporters see only :class:`~c2tracker.model.Indicator` objects and a :class:`FeedContext`
(rule metadata, run, generation time), so they are tested without a database.
"""

from __future__ import annotations

import hashlib
import re
import socket
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, ClassVar

from c2tracker.model import Category, Indicator, RunInfo

__all__ = [
    "NAMESPACE",
    "Exporter",
    "FamilyInfo",
    "FeedContext",
    "IpListExporter",
    "RowExporter",
    "Selection",
    "Window",
    "WrittenFile",
    "family_slug",
    "ip_key",
    "ip_text",
    "iso",
    "iso_millis",
    "iso_seconds",
    "original_file_name",
    "stable_uuid",
    "stable_uuid4",
]

#: Namespace of every deterministic id we derive (STIX ids, MISP uuids); fixed forever so that
#: ids stay the same across publishes and machines.
NAMESPACE = uuid.UUID("6f1c2b8e-3d7a-5c4e-9a61-c2c2c2c2c2c2")
_NAMESPACE_BYTES = NAMESPACE.bytes

_V6_OFFSET = 1 << 128


def stable_uuid(*parts: str) -> str:
    """A UUIDv5 from ``parts`` under :data:`NAMESPACE` (same input, same id, everywhere).

    Exactly ``str(uuid.uuid5(NAMESPACE, "|".join(parts)))`` (RFC 4122 §4.3: SHA-1 of the
    namespace bytes and the name, version and variant bits set; a test compares both),
    computed without building ``UUID`` objects: MISP asks for one per attribute.
    """
    digest = hashlib.sha1(_NAMESPACE_BYTES + "|".join(parts).encode("utf-8"), usedforsecurity=False)
    return _uuid_text(bytearray(digest.digest()[:16]), 0x50)


def stable_uuid4(*parts: str) -> str:
    """A UUID with version-4 layout whose bits come from sha256 of ``parts``: deterministic.

    STIX 2.1 §2.9 recommends UUIDv4 for objects other than SCOs (stix2-validator warns on
    others); taking the random bits from a hash keeps that shape and stable ids. The version
    and variant bits are set by hand (what ``uuid.UUID(bytes=…, version=4)`` does, a test
    compares both): building a ``UUID`` object costs more than the hash, twice per indicator.
    """
    raw = bytearray(hashlib.sha256("|".join(parts).encode("utf-8")).digest()[:16])
    return _uuid_text(raw, 0x40)


def _uuid_text(raw: bytearray, version: int) -> str:
    raw[6] = raw[6] & 0x0F | version
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def ip_key(ip: str) -> int:
    """A sort key putting every IPv4 address (numerically) before every IPv6 address.

    Raises:
        ValueError: ``ip`` is not an address (the store only holds normalised ones).
    """
    if ":" in ip:
        return _V6_OFFSET | int.from_bytes(socket.inet_pton(socket.AF_INET6, ip), "big")
    return int.from_bytes(socket.inet_pton(socket.AF_INET, ip), "big")


def ip_text(key: int) -> str:
    """The compressed address text of an :func:`ip_key`."""
    if key >= _V6_OFFSET:
        return socket.inet_ntop(socket.AF_INET6, (key ^ _V6_OFFSET).to_bytes(16, "big"))
    return socket.inet_ntop(socket.AF_INET, key.to_bytes(4, "big"))


def is_v6_key(key: int) -> bool:
    return key >= _V6_OFFSET


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; naive values are taken to be UTC already (the store writes UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso(moment: datetime | None) -> str | None:
    """``2024-05-01T12:00:00Z``: second precision, UTC, the form every text format uses."""
    if moment is None:
        return None
    return iso_seconds(moment)


def iso_seconds(moment: datetime) -> str:
    """:func:`iso` of a datetime; formatted by hand, about four times faster than strftime
    (several calls per indicator in every format)."""
    u = as_utc(moment)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}Z"


def iso_millis(moment: datetime) -> str:
    """``2024-05-01T12:00:00.000Z``: millisecond precision, as stix2 writes timestamps."""
    u = as_utc(moment)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
        f".{u.microsecond // 1000:03d}Z"
    )


_SLUG_DROP = re.compile(r"[^a-z0-9]+")


def family_slug(name: str) -> str:
    """A file-name-safe, stable slug for a family name or rule id (new formats only).

    ASCII letters and digits survive, lower-cased; every other run of characters becomes one
    ``-``. When that loses information (non-ASCII text, slashes, case) a short hash of the
    original is appended, so two different names never share a file and the same name always
    gets the same one.
    """
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = _SLUG_DROP.sub("-", folded.lower()).strip("-")[:60].strip("-")
    if slug == name:
        return slug
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return f"{slug}-{digest}" if slug else f"family-{digest}"


_ORIGINAL_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f]")


def original_file_name(feed_name: str) -> str:
    """``<feed_name> IPs.txt`` as the original C2-Tracker named it, made unable to escape.

    The original layout keeps spaces and case (consumers fetch these exact URLs); only path
    separators and control characters are replaced by ``_`` and a leading dot is escaped, so a
    hostile or mistyped feed name can never leave ``data/`` (rule validation already refuses
    these, this is the second lock).
    """
    safe = _ORIGINAL_UNSAFE.sub("_", feed_name).strip()
    if not safe or safe.startswith("."):
        safe = "_" + safe
    return f"{safe} IPs.txt"


@dataclass(frozen=True, slots=True)
class FamilyInfo:
    """What feeds need to know about one rule (family), independent of the rules package."""

    rule_id: str
    name: str
    feed_name: str
    category: Category
    kind: str = "other"
    dual_use: bool = False
    extra_feed_names: tuple[str, ...] = ()
    malpedia: tuple[str, ...] = ()
    mitre: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    status: str = "stable"
    description: str = ""

    @classmethod
    def from_rule(cls, rule: Any) -> FamilyInfo:
        """Reads the fields of a :class:`c2tracker.rules.Rule` (or anything shaped like one)."""
        return cls(
            rule_id=str(rule.id),
            name=str(rule.name),
            feed_name=str(rule.feed_name),
            category=Category(rule.category),
            kind=str(getattr(rule, "kind", "other")),
            dual_use=bool(getattr(rule, "dual_use", False)),
            extra_feed_names=tuple(getattr(rule, "extra_feed_names", ()) or ()),
            malpedia=tuple(getattr(rule, "malpedia", ()) or ()),
            mitre=tuple(getattr(rule, "mitre", ()) or ()),
            references=tuple(getattr(rule, "references", ()) or ()),
            status=str(getattr(rule, "status", "stable")),
            description=str(getattr(rule, "description", "") or ""),
        )

    @property
    def feed_names(self) -> tuple[str, ...]:
        return (self.feed_name, *self.extra_feed_names)

    @property
    def slug(self) -> str:
        return family_slug(self.rule_id)


@dataclass(frozen=True, slots=True)
class Window:
    """A time window over ``last_seen``: indicators seen at or after ``since``."""

    name: str
    """Folder name: ``last-run``, ``7d``, ``30d`` or ``90d``."""
    since: datetime

    def holds(self, indicator: Indicator) -> bool:
        return as_utc(indicator.last_seen) >= self.since


#: Day windows every windowed format is also published for (C2IntelFeeds offers 7/30/90 days
#: by last activity, landscape.md §1.4).
WINDOW_DAYS = (7, 30, 90)


@dataclass(slots=True)
class FeedContext:
    """Everything an exporter may need besides the indicators themselves."""

    generated_at: datetime
    families: dict[str, FamilyInfo]
    """Rule id → family, for every rule in the rule set (empty families included)."""
    run: RunInfo | None = None
    """The latest collect run, when there is one."""
    previous_run: RunInfo | None = None
    producer: str = "C2 Tracker"
    windows: list[Window] = field(default_factory=list)
    block_min_confidence: int = 0
    """Lowest confidence that enters blocking feeds (settings ``block_min_confidence``)."""

    def blocks(self, indicator: Indicator) -> bool:
        """True when the indicator belongs in blocking feeds: active, not a dual-use tool, and
        corroborated enough (a lone low-fidelity sighting stays out until it is confirmed)."""
        return indicator.is_blockable and indicator.confidence >= self.block_min_confidence

    @classmethod
    def create(
        cls,
        families: Iterable[FamilyInfo],
        *,
        generated_at: datetime | None = None,
        runs: Sequence[RunInfo] = (),
        block_min_confidence: int = 0,
    ) -> FeedContext:
        """A context with the standard windows, from the newest-first run list."""
        now = as_utc(generated_at or datetime.now(UTC)).replace(microsecond=0)
        run = runs[0] if runs else None
        previous = runs[1] if len(runs) > 1 else None
        context = cls(
            generated_at=now,
            families={family.rule_id: family for family in families},
            run=run,
            previous_run=previous,
            block_min_confidence=block_min_confidence,
        )
        context.windows = standard_windows(now, previous)
        return context

    def family(self, indicator: Indicator) -> FamilyInfo:
        """The indicator's family; one the rule set no longer has is described from itself."""
        known = self.families.get(indicator.rule_id)
        if known is not None:
            return known
        return FamilyInfo(
            rule_id=indicator.rule_id,
            name=indicator.family,
            feed_name=indicator.feed_name,
            category=indicator.category,
            kind=indicator.kind,
            dual_use=indicator.dual_use,
            malpedia=indicator.malpedia,
            mitre=indicator.mitre,
        )


def standard_windows(now: datetime, previous_run: RunInfo | None) -> list[Window]:
    """``last-run`` plus the day windows.

    Indicators carry no run id, only ``last_seen`` (the engine's own timestamp), so "seen in the
    latest run" is taken to mean seen since the run before it started: anything newer than that
    can only have come from the latest run. With a single run every active indicator is in it.
    """
    since_last = (
        as_utc(previous_run.started_at) if previous_run else datetime.min.replace(tzinfo=UTC)
    )
    windows = [Window("last-run", since_last)]
    windows += [Window(f"{days}d", now - timedelta(days=days)) for days in WINDOW_DAYS]
    return windows


class Selection(StrEnum):
    """Which active indicators a file holds."""

    ACTIVE = "active"
    """Every active indicator, dual-use tools included (as the original ``all.txt``)."""
    BLOCKABLE = "blockable"
    """Active, not a dual-use tool, and confident enough to block (:meth:`FeedContext.blocks`)."""


@dataclass(slots=True)
class WrittenFile:
    """One file an exporter produced, for the manifest."""

    path: str
    """Relative to the feed root, ``/``-separated."""
    format: str
    entries: int
    window: str | None = None
    unit: str = "indicator"
    """What one entry is: ``indicator`` (IP + family), ``ip`` or ``family``."""


class Exporter:
    """Base of every format. Subclasses set the class attributes and override a few hooks.

    Life cycle: ``open(root)``, then ``write(indicator)`` for each accepted indicator (the
    builder calls :meth:`accepts` first), then ``close()`` returning the files written.
    """

    format: ClassVar[str]
    """Name in the manifest (``csv``, ``stix``…)."""
    path: ClassVar[str]
    """File path relative to the feed root; windowed copies go in a ``<window>/`` sub-folder."""
    selection: ClassVar[Selection] = Selection.ACTIVE
    category: ClassVar[Category | None] = None
    """When set, only indicators of this category."""
    windowed: ClassVar[bool] = False
    unit: ClassVar[str] = "indicator"
    counted: ClassVar[bool] = True
    """Whether the file at :attr:`relative_path` holds one entry per accepted indicator (or
    address, for lists); the validation checks those counts."""

    def __init__(self, context: FeedContext, window: Window | None = None) -> None:
        self.context = context
        self.window = window
        self.entries = 0

    @property
    def relative_path(self) -> str:
        if self.window is None:
            return self.path
        folder, _, name = self.path.rpartition("/")
        return f"{folder}/{self.window.name}/{name}" if folder else f"{self.window.name}/{name}"

    def accepts(self, indicator: Indicator) -> bool:
        if self.selection is Selection.BLOCKABLE and not self.context.blocks(indicator):
            return False
        if self.category is not None and indicator.category != self.category:
            return False
        return self.window is None or self.window.holds(indicator)

    def open(self, root: Path) -> None:
        """Prepares output under ``root``."""

    def write(self, indicator: Indicator) -> None:
        """Takes one accepted indicator."""

    def close(self) -> list[WrittenFile]:
        """Finishes every file and says what was written."""
        return []

    def _file(self, root: Path, relative: str) -> IO[str]:
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        return target.open("w", encoding="utf-8", newline="\n")


class RowExporter(Exporter):
    """A single file with a header, one text row per indicator and a footer (CSV, JSON…)."""

    separator: ClassVar[str] = ""
    """Written between two rows (``,`` in a JSON array)."""

    def open(self, root: Path) -> None:
        self._out = self._file(root, self.relative_path)
        self._out.write(self.header())

    def write(self, indicator: Indicator) -> None:
        if self.entries and self.separator:
            self._out.write(self.separator)
        self._out.write(self.row(indicator))
        self.entries += 1

    def close(self) -> list[WrittenFile]:
        self._out.write(self.footer())
        self._out.close()
        return [
            WrittenFile(
                self.relative_path,
                self.format,
                self.entries,
                self.window.name if self.window else None,
                self.unit,
            )
        ]

    def header(self) -> str:
        return ""

    def row(self, indicator: Indicator) -> str:
        raise NotImplementedError

    def footer(self) -> str:
        return ""


class IpListExporter(Exporter):
    """A file of unique addresses, IPv4 (numerically sorted) then IPv6, written at the end.

    The builder keeps one shared index of every active address with a bit per IP exporter, so
    de-duplicating and sorting costs one dictionary for all of them together. ``expected`` is
    the count that index holds for this exporter, known before the first line is written.
    """

    unit = "ip"
    header_text: ClassVar[str] = ""
    footer_text: ClassVar[str] = ""
    line_text: ClassVar[str] = "{ip}\n"

    def open(self, root: Path) -> None:
        self._root = root
        self.expected = 0

    def begin(self, expected: int, expected_v6: int) -> None:
        """Called once the counts are known, just before the first address."""
        self.expected = expected
        self.expected_v6 = expected_v6
        self._out = self._file(self._root, self.relative_path)
        self._out.write(self.header(expected - expected_v6, expected_v6))

    def add_ip(self, ip: str, v6: bool) -> None:
        self._out.write(self.line(ip, v6))
        self.entries += 1

    def close(self) -> list[WrittenFile]:
        self._out.write(self.footer())
        self._out.close()
        return [
            WrittenFile(
                self.relative_path,
                self.format,
                self.entries,
                self.window.name if self.window else None,
                self.unit,
            )
        ]

    def header(self, v4_count: int, v6_count: int) -> str:
        return self.header_text

    def line(self, ip: str, v6: bool) -> str:
        return self.line_text.format(ip=ip)

    def footer(self) -> str:
        return self.footer_text
