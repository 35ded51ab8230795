"""Plain address lists: ``lists/blocklist.txt``, one list per category and one per family.

``blocklist.txt`` is the list to block: active indicators only (honeypots, revoked,
allowlisted and expired ones never are), and no dual-use tools (BurpSuite, GoPhish, XMRig… are
run by testers and researchers too, landscape.md §1.1). Category lists hold every active
indicator of their category, dual-use included; they say what runs where, not what to block.
Per-family lists use safe slugs of the rule id (``lists/families/<slug>.txt``).
"""

from __future__ import annotations

from c2tracker.feeds.base import FamilyInfo, FeedContext, IpListExporter, Selection, Window
from c2tracker.model import Category, Indicator

__all__ = ["Blocklist", "CategoryList", "FamilyList", "category_lists"]


class Blocklist(IpListExporter):
    format = "list"
    path = "lists/blocklist.txt"
    selection = Selection.BLOCKABLE
    windowed = True


class CategoryList(IpListExporter):
    format = "list"
    windowed = True

    def __init__(self, context: FeedContext, window: Window | None = None) -> None:
        super().__init__(context, window)


class C2List(CategoryList):
    path = "lists/c2.txt"
    category = Category.C2


class MalwareList(CategoryList):
    path = "lists/malware.txt"
    category = Category.MALWARE


class BotnetList(CategoryList):
    path = "lists/botnet.txt"
    category = Category.BOTNET


class ToolList(CategoryList):
    path = "lists/tool.txt"
    category = Category.TOOL


def category_lists() -> list[type[CategoryList]]:
    return [C2List, MalwareList, BotnetList, ToolList]


class FamilyList(IpListExporter):
    """``lists/families/<slug>.txt``: one family's active addresses; kept when empty."""

    format = "list"
    path = "lists/families/{slug}.txt"

    def __init__(self, context: FeedContext, family: FamilyInfo) -> None:
        super().__init__(context)
        self.family = family

    @property
    def relative_path(self) -> str:
        return f"lists/families/{self.family.slug}.txt"

    def accepts(self, indicator: Indicator) -> bool:
        return indicator.rule_id == self.family.rule_id
