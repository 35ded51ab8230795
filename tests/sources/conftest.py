"""Fixtures for the source tests: each engine's fake server, its client and its queries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from c2tracker.model import Engine
from fakes.kits import Kit, make_kit


@pytest.fixture(params=list(Engine), ids=[e.value for e in Engine])
def kit(request: pytest.FixtureRequest) -> Iterator[Kit]:
    made = make_kit(request.param)
    made.fake.start()
    try:
        yield made
    finally:
        made.fake.stop()
