"""The indicator store (SQLite or PostgreSQL): runs, observations, indicators and their
lifecycle, operator actions. See :mod:`c2tracker.store.store` and ``docs/store.md``."""

from __future__ import annotations

from c2tracker.store.store import AuditRecord, FinishReport, RunHandle, Store

__all__ = ["AuditRecord", "FinishReport", "RunHandle", "Store"]
