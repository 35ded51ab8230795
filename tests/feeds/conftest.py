"""Fixtures of the feed tests (data in :mod:`feed_fixtures`)."""

from __future__ import annotations

import pytest

from c2tracker.feeds.base import FamilyInfo, FeedContext
from feeds.feed_fixtures import FAMILIES, NOW, RUNS, FakeStore


@pytest.fixture
def families() -> list[FamilyInfo]:
    return list(FAMILIES)


@pytest.fixture
def context() -> FeedContext:
    return FeedContext.create(FAMILIES, generated_at=NOW, runs=RUNS)


@pytest.fixture
def fake_store() -> FakeStore:
    return FakeStore()
