"""The original C2-Tracker layout: ``data/<feed_name> IPs.txt`` per family and ``data/all.txt``.

Existing consumers fetch these exact names (spaces included), so they are kept as the original
published them: one address per line, nothing else. Two things differ on purpose: every family
of the rule set keeps its file even when it has no active indicator (the original deleted empty
files and consumers got 404s, landscape.md §1.1 weakness 4), and lines are sorted numerically
(IPv4 then IPv6) and unique. The original wrote addresses in engine result order, so no
consumer can depend on an order; a stable one keeps the git diffs between publishes small.

``all.txt`` holds every active indicator, dual-use tools included, as the original merged them;
``lists/blocklist.txt`` is the file meant for blocking.
"""

from __future__ import annotations

from typing import ClassVar

from c2tracker.feeds.base import FeedContext, IpListExporter, original_file_name
from c2tracker.model import Indicator

__all__ = ["OriginalAll", "OriginalFamily"]


class OriginalAll(IpListExporter):
    format = "original"
    path = "data/all.txt"


class OriginalFamily(IpListExporter):
    """``data/<feed_name> IPs.txt`` for one feed name of one rule."""

    format = "original"
    path: ClassVar[str] = "data/{name}"

    def __init__(self, context: FeedContext, rule_id: str, feed_name: str) -> None:
        super().__init__(context)
        self.rule_id = rule_id
        self.feed_name = feed_name

    @property
    def relative_path(self) -> str:
        return f"data/{original_file_name(self.feed_name)}"

    def accepts(self, indicator: Indicator) -> bool:
        return indicator.rule_id == self.rule_id
