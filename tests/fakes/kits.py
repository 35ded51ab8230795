"""Each engine under test as a kit: its fake server, a client factory and its queries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from c2tracker.model import Engine
from c2tracker.sources.base import PlannedQuery, Source
from c2tracker.sources.censys_legacy import CensysLegacySource
from c2tracker.sources.censys_platform import CensysPlatformSource
from c2tracker.sources.http import RetryPolicy
from c2tracker.sources.shodan import ShodanSource
from fakes.base import FakeEngine
from fakes.censys import FakeCensysLegacy, FakeCensysPlatform
from fakes.corpus import (
    FAMILIES,
    censys_corpus,
    censys_query,
    legacy_query,
    shodan_corpus,
    shodan_query,
)
from fakes.shodan import FakeShodan

#: Short bounds so that a fault test never waits long: a "hang" (3 s on the fake) times out
#: after 0.4 s; back-offs are tens of milliseconds.
FAST = RetryPolicy(
    max_attempts=3,
    base_delay=0.01,
    max_delay=0.1,
    max_total_wait=1.0,
    connect_timeout=1.0,
    read_timeout=0.4,
)

SHODAN_KEY = "sk-SECRET-shodan-0123456789"
CENSYS_TOKEN = "censys_SECRET_pat_abcdef"
LEGACY_ID, LEGACY_SECRET = "legacy-id-0001", "legacy-SECRET-xyz"
ORG = "11111111-2222-3333-4444-555555555555"


@dataclass
class Kit:
    """One engine under test: its fake, a way to build clients, and its queries by rule id."""

    engine: Engine
    fake: FakeEngine
    make_source: Callable[..., Source]
    queries: dict[str, PlannedQuery]
    secret: str
    pages_per_request: int = 1
    """Pages one search request of the kit's client reads (Shodan ``limit``; 1 elsewhere)."""

    @property
    def name(self) -> str:
        return f"{self.engine.value}-limit" if self.pages_per_request > 1 else self.engine.value

    def source(self, **kwargs: Any) -> Source:
        return self.make_source(**kwargs)

    def request_pages(self, total_pages: int) -> list[int]:
        """The page numbers checkpoints hold after reading ``total_pages`` pages: the last
        page of each request."""
        step = self.pages_per_request
        return [min(n, total_pages) for n in range(step, total_pages + step, step)]

    def expected(self, rule_id: str) -> int:
        """Results the query has in the corpus (banners for Shodan, hosts for Censys)."""
        return len(self.fake.matching(self.queries[rule_id].query))


def _queries(engine: Engine, make: Callable[[str], str], column: int) -> dict[str, PlannedQuery]:
    return {
        family[0]: PlannedQuery(family[0], family[1], engine, make(family[column]))
        for family in FAMILIES
    }


def make_kit(engine: Engine, rate: float | None = None, *, shodan_pages: int = 1) -> Kit:
    """The kit for ``engine``; ``shodan_pages`` is how many pages one Shodan request reads
    (``limit`` = 100 × that; 1 sends ``page`` as shodan-python does by default)."""
    if engine is Engine.SHODAN:
        shodan = FakeShodan(shodan_corpus(), keys={SHODAN_KEY: 10_000}, rate=rate)
        return Kit(
            engine,
            shodan,
            lambda key=SHODAN_KEY, rate=1000.0, policy=FAST, max_limit=100 * shodan_pages: (
                ShodanSource(key, shodan.url, rate=rate, policy=policy, max_limit=max_limit)
            ),
            _queries(engine, shodan_query, 2),
            SHODAN_KEY,
            shodan_pages,
        )
    if engine is Engine.CENSYS:
        platform = FakeCensysPlatform(
            censys_corpus(), tokens={CENSYS_TOKEN: 100_000}, org_id=ORG, rate=rate
        )
        return Kit(
            engine,
            platform,
            lambda token=CENSYS_TOKEN, rate=1000.0, policy=FAST: CensysPlatformSource(
                token, ORG, platform.url, rate=rate, policy=policy
            ),
            _queries(engine, censys_query, 3),
            CENSYS_TOKEN,
        )
    legacy = FakeCensysLegacy(
        censys_corpus(legacy=True), accounts={(LEGACY_ID, LEGACY_SECRET): 1000}, rate=rate
    )
    return Kit(
        engine,
        legacy,
        lambda secret=LEGACY_SECRET, rate=1000.0, policy=FAST: CensysLegacySource(
            LEGACY_ID, secret, legacy.url + "/api", rate=rate, policy=policy
        ),
        _queries(engine, legacy_query, 3),
        LEGACY_SECRET,
    )


def write_rules(folder: Path) -> Path:
    """A rule folder with one rule per test family, querying all three engines."""
    for rule_id, name, shodan_product, censys_product, _ in FAMILIES:
        rule = {
            "id": rule_id,
            "name": name,
            "feed_name": name,
            "category": "c2",
            "kind": "framework",
            "description": f"Test family {name}.",
            "queries": [
                {"engine": "shodan", "query": shodan_query(shodan_product), "fidelity": "high"},
                {"engine": "censys", "query": censys_query(censys_product), "fidelity": "high"},
                {
                    "engine": "censys-legacy",
                    "query": legacy_query(censys_product),
                    "fidelity": "high",
                },
            ],
        }
        (folder / "c2").mkdir(parents=True, exist_ok=True)
        (folder / "c2" / f"{rule_id}.yml").write_text(yaml.safe_dump(rule, sort_keys=False))
    return folder
