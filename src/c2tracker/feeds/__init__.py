"""Feeds: every format defenders ingest, built from the store and published atomically.

``publish(store, rules, out_dir, settings=...)`` is the entry point; the formats live in
:mod:`c2tracker.feeds.formats`, one module each, on the exporter framework of
:mod:`c2tracker.feeds.base`.
"""

from __future__ import annotations

from c2tracker.feeds.base import FamilyInfo, FeedContext
from c2tracker.feeds.manifest import Manifest
from c2tracker.feeds.publish import publish

__all__ = ["FamilyInfo", "FeedContext", "Manifest", "publish"]
