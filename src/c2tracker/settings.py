"""Effective settings: defaults, then the TOML config file, then the environment.

The config file is the one named by ``--config`` or ``C2TRACKER_CONFIG``, else
``./c2tracker.toml`` when present. Its keys are the lower-case environment names without a
prefix where the design fixes one (``shodan_api_key``, ``censys_api_token``, ``db``…), so the
table in ``docs`` and ``c2tracker config`` read the same. Secrets are :class:`SecretStr` and are
only ever shown redacted.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from c2tracker.errors import ConfigError, Location

#: Setting name → environment variable. Settings missing here are file-only.
ENVIRONMENT: dict[str, str] = {
    "db": "C2TRACKER_DB",
    "rules_dir": "C2TRACKER_RULES",
    "feeds_dir": "C2TRACKER_FEEDS",
    "data_dir": "C2TRACKER_DATA",
    "shodan_api_key": "SHODAN_API_KEY",
    "shodan_api_url": "SHODAN_API_URL",
    "shodan_rate_limit": "SHODAN_RATE_LIMIT",
    "censys_api_token": "CENSYS_API_TOKEN",
    "censys_org_id": "CENSYS_ORG_ID",
    "censys_platform_url": "CENSYS_PLATFORM_URL",
    "censys_rate_limit": "CENSYS_RATE_LIMIT",
    "censys_api_id": "CENSYS_API_ID",
    "censys_api_secret": "CENSYS_API_SECRET",
    "censys_api_url": "CENSYS_API_URL",
    "server_token": "C2TRACKER_SERVER_TOKEN",
    "read_token": "C2TRACKER_READ_TOKEN",
    "webhook_url": "C2TRACKER_WEBHOOK_URL",
}

SECRETS = frozenset(
    {
        "shodan_api_key",
        "censys_api_token",
        "censys_api_secret",
        "server_token",
        "read_token",
        "webhook_url",
    }
)


class Settings(BaseModel):
    """Every setting the tool reads. Field docs are the help text ``c2tracker config`` shows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    db: str = Field("sqlite:///c2tracker.sqlite", description="SQLAlchemy URL of the store")
    rules_dir: Path | None = Field(None, description="rule corpus; default the bundled rules")
    feeds_dir: Path = Field(Path("feeds"), description="where publish writes feeds")
    data_dir: Path = Field(Path("."), description="working folder for locks and run files")

    shodan_api_key: SecretStr | None = None
    shodan_api_url: str = "https://api.shodan.io"
    shodan_rate_limit: float = Field(1.0, gt=0, description="Shodan requests per second")

    censys_api_token: SecretStr | None = None
    censys_org_id: str | None = None
    censys_platform_url: str = "https://api.platform.censys.io"
    censys_rate_limit: float = Field(1.0, gt=0, description="Censys requests per second")

    censys_api_id: str | None = None
    censys_api_secret: SecretStr | None = None
    censys_api_url: str = "https://search.censys.io/api"

    budgets: dict[str, int] = Field(
        default_factory=dict, description="credit budget per engine per run"
    )
    window_days: int = Field(30, gt=0, description="days an indicator stays active unseen")
    window_days_by_category: dict[str, int] = Field(default_factory=dict)
    window_days_by_family: dict[str, int] = Field(default_factory=dict)
    honeypot_min_families: int = Field(3, ge=2)
    block_min_confidence: int = Field(
        30,
        ge=0,
        le=100,
        description="lowest confidence an indicator needs to enter the blocking feeds",
    )

    server_token: SecretStr | None = None
    read_token: SecretStr | None = None
    webhook_url: SecretStr | None = None
    webhook_style: str = Field("generic", pattern="^(generic|slack|teams)$")

    def redacted(self) -> dict[str, Any]:
        """Every setting as plain values, secrets replaced by ``***`` (or None when unset)."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in SECRETS:
                shown[name] = None if value is None else "***"
            elif name == "db":
                shown[name] = redact_url(value)
            elif isinstance(value, Path):
                shown[name] = str(value)
            else:
                shown[name] = value
        return shown

    def window_for(self, rule_id: str, category: str) -> int:
        """Days an indicator of this family stays active after it was last seen."""
        if rule_id in self.window_days_by_family:
            return self.window_days_by_family[rule_id]
        return self.window_days_by_category.get(category, self.window_days)


def redact_url(url: str) -> str:
    """A database URL with any password replaced by ``***``."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return url
    if parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True)


def load_settings(
    config_path: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Reads the config file (if any) and the environment into :class:`Settings`.

    Raises:
        ConfigError: the file is not valid TOML, or a value has the wrong type.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}

    path = config_path or _default_config_path(environ)
    if path is not None:
        try:
            values.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise ConfigError(
                f"cannot read config file: {exc.strerror}", location=Location(str(path))
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", location=Location(str(path))) from None

    for name, variable in ENVIRONMENT.items():
        raw = environ.get(variable)
        if raw is not None and raw != "":
            values[name] = raw

    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        where = Location(str(path)) if path else None
        raise ConfigError(f"invalid settings: {problems}", location=where) from None


def _default_config_path(environ: Mapping[str, str]) -> Path | None:
    named = environ.get("C2TRACKER_CONFIG")
    if named:
        return Path(named)
    local = Path("c2tracker.toml")
    return local if local.is_file() else None


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta | None:
    """``30m``, ``12h``, ``7d``, ``2w`` → a timedelta; None when the text is not a whole number
    and one unit letter (s, m, h, d, w), so each caller can name its own option in the error."""
    match = _DURATION.match(text)
    if match is None:
        return None
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
