"""Every store test runs on SQLite and on PostgreSQL (see tests/store_fixtures.py)."""

from __future__ import annotations

from store_fixtures import store, store_url

__all__ = ["store", "store_url"]
