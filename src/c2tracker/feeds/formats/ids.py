"""Suricata and Snort rules: one alert per active indicator, with a stable sid and metadata.

``alert ip $HOME_NET any -> <ip> any (…)``: any traffic from the protected network to a listed
server. Dual-use tools get the ``policy-violation`` class (lower priority) instead of
``trojan-activity``.

Sids: ``SID_BASE + (first 8 bytes of sha256("<rule id>|<ip>") mod SID_SPAN)``, i.e. in
[1,100,000,000, 2,100,000,000): above the ranges that Snort (< 1,000,000), local rules
(1,000,000–1,999,999) and Emerging Threats (2,000,000–2,999,999 and 2,800,000+) use, and below
2^31 so that tools reading sids as signed 32-bit integers cope. A collision (about one in a
thousand at a million rules) takes the next free sid in stream order (rule id, then IP), so a
sid changes only in that rare case. Both files give the same indicator the same sid.

Escaping (Suricata rule format, "msg"): ``\\``, ``"`` and ``;`` are backslash-escaped, control
characters removed; metadata values are reduced to ``[A-Za-z0-9_.-]``, since ``,`` and ``;``
separate metadata entries and options.
"""

from __future__ import annotations

import hashlib
import re
from typing import ClassVar

from c2tracker.feeds.base import FeedContext, RowExporter, as_utc
from c2tracker.feeds.bounded import SidSet
from c2tracker.model import Indicator

__all__ = ["SID_BASE", "SID_SPAN", "SidAllocator", "SnortRules", "SuricataRules", "escape_msg"]

SID_BASE = 1_100_000_000
SID_SPAN = 1_000_000_000

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_META_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def escape_msg(text: str) -> str:
    """Text safe inside a quoted rule option value."""
    text = _CONTROL.sub("", text)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace(";", "\\;")


def meta_value(text: str) -> str:
    return _META_UNSAFE.sub("_", text).strip("_") or "none"


def preferred_sid(rule_id: str, ip: str) -> int:
    digest = hashlib.sha256(f"{rule_id}|{ip}".encode()).digest()
    return SID_BASE + int.from_bytes(digest[:8], "big") % SID_SPAN


class SidAllocator:
    """Hands out unique sids; the Suricata and Snort exporters share one per build.

    Both exporters ask in the same order, so the allocator remembers the last answer and gives
    it again to the second asker instead of keeping a map of every indicator. The sids in use
    are kept in a :class:`~c2tracker.feeds.bounded.SidSet` (4 bytes a sid rather than the
    60 of a Python set).
    """

    def __init__(self) -> None:
        self._used = SidSet()
        self._last: tuple[str, str] | None = None
        self._last_sid = 0
        self._askers: set[int] = set()

    def sid(self, rule_id: str, ip: str, asker: object) -> int:
        key = (rule_id, ip)
        if key == self._last and id(asker) not in self._askers:
            self._askers.add(id(asker))
            return self._last_sid
        sid = preferred_sid(rule_id, ip)
        while sid in self._used:
            sid = SID_BASE + (sid - SID_BASE + 1) % SID_SPAN
        self._used.add(sid)
        self._last, self._last_sid, self._askers = key, sid, {id(asker)}
        return sid


class IdsRules(RowExporter):
    """Shared rule writer; dialects differ in file name, header and a few options."""

    dialect: ClassVar[str]
    extra_options: ClassVar[str] = ""
    prefix: ClassVar[str] = "C2TRACKER"

    def __init__(self, context: FeedContext, sids: SidAllocator) -> None:
        super().__init__(context)
        self.sids = sids

    def header(self) -> str:
        stamp = as_utc(self.context.generated_at).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f"# C2 Tracker {self.dialect} rules, generated {stamp}\n"
            f"# sids {SID_BASE}-{SID_BASE + SID_SPAN - 1}, derived from rule id and IP\n"
        )

    def row(self, indicator: Indicator) -> str:
        family = self.context.family(indicator)
        classtype = "policy-violation" if indicator.dual_use else "trojan-activity"
        msg = escape_msg(
            f"{self.prefix} {family.name} {indicator.category.value} server {indicator.ip}"
        )
        references = "".join(
            f"reference:url,malpedia.caad.fkie.fraunhofer.de/details/{meta_value(m)}; "
            for m in family.malpedia
        ) + "".join(
            f"reference:url,attack.mitre.org/software/{meta_value(s)}; " for s in family.mitre
        )
        metadata = ", ".join(
            (
                f"c2tracker_rule {meta_value(indicator.rule_id)}",
                f"c2tracker_category {indicator.category.value}",
                f"first_seen {as_utc(indicator.first_seen).strftime('%Y_%m_%d')}",
                f"last_seen {as_utc(indicator.last_seen).strftime('%Y_%m_%d')}",
                f"confidence {indicator.confidence}",
                f"dual_use {'true' if indicator.dual_use else 'false'}",
            )
        )
        sid = self.sids.sid(indicator.rule_id, indicator.ip, self)
        return (
            f"alert ip $HOME_NET any -> {indicator.ip} any "
            f'(msg:"{msg}"; {references}classtype:{classtype}; {self.extra_options}'
            f"sid:{sid}; rev:1; metadata:{metadata};)\n"
        )


class SuricataRules(IdsRules):
    format = "suricata"
    path = "ids/suricata.rules"
    dialect = "Suricata"
    # Suricata-only: marks the listed address as the target in alerts (EVE "target" field).
    extra_options = "target:dest_ip; "


class SnortRules(IdsRules):
    format = "snort"
    path = "ids/snort.rules"
    dialect = "Snort"
