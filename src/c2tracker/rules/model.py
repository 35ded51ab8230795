"""The rule format: one YAML file per family, validated by the pydantic models below.

A rule names a family (a C2 framework, a malware panel, a dual-use tool or a botnet), says
where it comes from (``authors``, ``references``), how it appears in the original C2-Tracker
feed (``feed_name``, ``extra_feed_names``), which engine queries find it, and which records those
queries must and must not match (``tests``). ``docs/rule-format.md`` describes every field for
contributors; the models here are the authority.

Unknown keys are errors (``extra="forbid"``) so that a misspelt ``qeury`` cannot silently drop a
fingerprint.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from c2tracker.model import Category, Fidelity
from c2tracker.querylang import Query, parse_query
from c2tracker.querylang.ast import Engine

__all__ = ["Category", "Engine", "Fidelity", "Kind", "Rule", "RuleQuery", "RuleTest", "Status"]

#: Rule ids are stable slugs: they name feed files, store rows and API paths.
RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]*[a-z0-9]$"

#: Malpedia family ids: ``<platform>.<name>`` (``win.cobalt_strike``, ``elf.mozi``).
MALPEDIA_PATTERN = r"^[a-z0-9]+\.[a-z0-9_]+$"

#: MITRE ATT&CK software ids (``S0154``).
MITRE_PATTERN = r"^S\d{4}$"

#: Characters a feed name may not hold: it becomes ``data/<feed_name> IPs.txt`` on every OS.
_FEED_NAME_FORBIDDEN = re.compile(r'[/\\:*?"<>|\x00-\x1f]')


class Kind(StrEnum):
    """What sort of software a family is; a closed list so that feeds can group by it."""

    FRAMEWORK = "framework"  # post-exploitation / C2 framework with a team server
    RAT = "rat"
    BACKDOOR = "backdoor"
    STEALER = "stealer"
    LOADER = "loader"
    BANKER = "banker"
    SPYWARE = "spyware"
    RANSOMWARE = "ransomware"
    MINER = "miner"
    PHISHING = "phishing"
    SCANNER = "scanner"  # web / app security testing tools
    CRACKER = "cracker"  # password cracking
    REDIRECTOR = "redirector"  # C2 front proxies
    BOTNET = "botnet"
    TROJAN = "trojan"  # generic trojan with no better-known role
    WEBSHELL = "webshell"
    OTHER = "other"


class Status(StrEnum):
    """How far a rule can be trusted: ``test`` rules are collected but flagged in feeds."""

    STABLE = "stable"
    TEST = "test"
    DEPRECATED = "deprecated"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class RuleQuery(_Strict):
    """One engine query of a rule."""

    engine: Engine
    query: str = Field(min_length=1)
    fidelity: Fidelity
    note: str = ""

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query is blank")
        return value

    @property
    def parsed(self) -> Query:
        """The query's syntax tree (``parse_query`` caches parses)."""
        return parse_query(self.engine, self.query)


class RuleTest(_Strict):
    """A record that the rule's queries for ``engine`` must (or must not) match."""

    engine: Engine
    expect: Literal["match", "no-match"]
    record: dict[str, Any]
    note: str = ""


class Rule(_Strict):
    """One family and the queries that find it."""

    id: str = Field(pattern=RULE_ID_PATTERN)
    name: str = Field(min_length=1)
    feed_name: str = Field(min_length=1)
    extra_feed_names: list[str] = Field(default_factory=list)
    category: Category
    kind: Kind
    status: Status = Status.STABLE
    dual_use: bool = False
    description: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    malpedia: list[str] = Field(default_factory=list)
    mitre: list[str] = Field(default_factory=list)
    authors: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    queries: list[RuleQuery] = Field(default_factory=list)
    tests: list[RuleTest] = Field(default_factory=list)

    _path: Path | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | None:
        """The file the rule was loaded from (None for rules built in code)."""
        return self._path

    @property
    def engines(self) -> list[Engine]:
        """Engines this rule has queries for, in a fixed order."""
        present = {q.engine for q in self.queries}
        return [engine for engine in Engine if engine in present]

    @property
    def feed_names(self) -> list[str]:
        """Every feed name the rule publishes under: ``feed_name`` first."""
        return [self.feed_name, *self.extra_feed_names]

    def queries_for(self, engine: Engine | str) -> list[RuleQuery]:
        engine = Engine(engine)
        return [q for q in self.queries if q.engine is engine]

    @field_validator("feed_name", "extra_feed_names")
    @classmethod
    def _file_safe(cls, value: str | list[str]) -> str | list[str]:
        for name in [value] if isinstance(value, str) else value:
            if _FEED_NAME_FORBIDDEN.search(name) or name.strip() != name or not name:
                raise ValueError(
                    f'feed name {name!r} cannot be a file name (no / \\ : * ? " < > | or '
                    "control characters, no surrounding spaces)"
                )
            if name.lower() == "all":
                raise ValueError("feed name 'all' is reserved for data/all.txt")
        return value

    @field_validator("malpedia")
    @classmethod
    def _malpedia_ids(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.match(MALPEDIA_PATTERN, item):
                raise ValueError(f"{item!r} is not a Malpedia id like 'win.cobalt_strike'")
        return value

    @field_validator("mitre")
    @classmethod
    def _mitre_ids(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.match(MITRE_PATTERN, item):
                raise ValueError(f"{item!r} is not an ATT&CK software id like 'S0154'")
        return value

    @field_validator("references")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.match(r"^https?://\S+$", item):
                raise ValueError(f"reference {item!r} is not an http(s) URL")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.status is Status.STABLE and not self.queries:
            raise ValueError("a stable rule needs at least one query (use status: test)")
        return self
