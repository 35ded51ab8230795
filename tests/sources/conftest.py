"""Fixtures for the source tests: each engine's fake server, its client and its queries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from c2tracker.model import Engine
from fakes.kits import Kit, make_kit

#: Every engine, and Shodan twice: one page a request (``page``, as shodan-python pages, and
#: what the client falls back to) and two pages a request (``limit``/``offset`` windows, small
#: so that a three-page query takes two requests).
KITS = (
    (Engine.SHODAN, 1),
    (Engine.SHODAN, 2),
    (Engine.CENSYS, 1),
    (Engine.CENSYS_LEGACY, 1),
)


@pytest.fixture(
    params=KITS,
    ids=[engine.value + ("-limit" if pages > 1 else "") for engine, pages in KITS],
)
def kit(request: pytest.FixtureRequest) -> Iterator[Kit]:
    engine, pages = request.param
    made = make_kit(engine, shodan_pages=pages)
    made.fake.start()
    try:
        yield made
    finally:
        made.fake.stop()
