"""From settings and ``--source`` options to the engines (live sources) of one collect run.

``--source`` takes ``shodan``, ``censys``, ``censys-legacy`` or ``scan:PATH`` and may be
repeated (design.md). Without it, every engine that has credentials runs; an engine without
credentials is skipped with one line saying which setting is missing; with no credentials at
all the bundled sample scan data stands in, and the caller says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from c2tracker.errors import ConfigError
from c2tracker.model import Engine
from c2tracker.settings import Settings
from c2tracker.sources.base import Source
from c2tracker.sources.censys_legacy import CensysLegacySource
from c2tracker.sources.censys_platform import CensysPlatformSource
from c2tracker.sources.http import RetryPolicy
from c2tracker.sources.shodan import ShodanSource

#: What each engine needs, as the environment names it (design.md "Settings").
NEEDS = {
    Engine.SHODAN: "SHODAN_API_KEY",
    Engine.CENSYS: "CENSYS_API_TOKEN",
    Engine.CENSYS_LEGACY: "CENSYS_API_ID and CENSYS_API_SECRET",
}


@dataclass(slots=True)
class SourceChoice:
    """What ``--source`` asked for."""

    engines: list[Engine] = field(default_factory=list)
    scan_paths: list[Path] = field(default_factory=list)

    @property
    def defaulted(self) -> bool:
        return not self.engines and not self.scan_paths


def parse_sources(values: Sequence[str]) -> SourceChoice:
    """Reads ``--source`` values.

    Raises:
        ConfigError: an unknown engine, or ``scan:`` without a path, or a path that is missing.
    """
    choice = SourceChoice()
    for value in values:
        if value.startswith("scan:"):
            path = Path(value[len("scan:") :])
            if not str(path) or value == "scan:":
                raise ConfigError("--source scan: needs a path, e.g. scan:exports/shodan.json.gz")
            if not path.exists():
                raise ConfigError(f"--source {value}: no such file or folder")
            choice.scan_paths.append(path)
            continue
        try:
            engine = Engine(value)
        except ValueError:
            known = ", ".join([*(e.value for e in Engine), "scan:PATH"])
            raise ConfigError(f"unknown source {value!r}; expected one of {known}") from None
        if engine not in choice.engines:
            choice.engines.append(engine)
    return choice


def has_credentials(settings: Settings, engine: Engine) -> bool:
    if engine is Engine.SHODAN:
        return settings.shodan_api_key is not None
    if engine is Engine.CENSYS:
        return settings.censys_api_token is not None
    return settings.censys_api_id is not None and settings.censys_api_secret is not None


def build_source(settings: Settings, engine: Engine, policy: RetryPolicy | None = None) -> Source:
    """The live source for ``engine``, configured from settings (credentials required)."""
    if engine is Engine.SHODAN:
        assert settings.shodan_api_key is not None
        return ShodanSource(
            settings.shodan_api_key.get_secret_value(),
            settings.shodan_api_url,
            rate=settings.shodan_rate_limit,
            policy=policy,
        )
    if engine is Engine.CENSYS:
        assert settings.censys_api_token is not None
        return CensysPlatformSource(
            settings.censys_api_token.get_secret_value(),
            settings.censys_org_id,
            settings.censys_platform_url,
            rate=settings.censys_rate_limit,
            policy=policy,
        )
    assert settings.censys_api_id is not None and settings.censys_api_secret is not None
    return CensysLegacySource(
        settings.censys_api_id,
        settings.censys_api_secret.get_secret_value(),
        settings.censys_api_url,
        rate=settings.censys_rate_limit,
        policy=policy,
    )


def choose_engines(settings: Settings, choice: SourceChoice) -> tuple[list[Engine], list[str]]:
    """The engines to run and one line per engine skipped for want of credentials."""
    wanted = choice.engines or ([] if choice.scan_paths else list(Engine))
    engines = []
    skipped = []
    for engine in wanted:
        if has_credentials(settings, engine):
            engines.append(engine)
        else:
            skipped.append(f"{engine.value}: skipped, no credentials (set {NEEDS[engine]})")
    return engines, skipped
