"""Every error C2 Tracker raises on purpose, under one root.

Catch :class:`C2TrackerError` to handle anything the tool reports itself; anything else that
escapes is a bug. Errors about a place in a file or a query carry a :class:`Location`, and their
message starts with it (``rules/c2/sliver.yml:12:5: unknown key 'qeury'``), so editors and CI logs
can jump to it.

The tree::

    C2TrackerError
    ├── ConfigError              settings file or environment is unusable
    ├── RuleError                a rule file is malformed (schema, YAML, duplicate id)
    │   └── RuleSetError         several rule problems gathered in collect-all mode
    ├── QuerySyntaxError         a query does not parse in its engine's language
    ├── RecordError              a scan record cannot be read (reader keeps going)
    ├── SourceError              a search engine call failed
    │   ├── AuthError            key or token refused
    │   ├── CreditsExhausted     no credits left / insufficient balance
    │   ├── PlanError            plan does not allow the request (filters, paging, fields)
    │   ├── QueryRejected        the engine refused the query; carries the engine's message
    │   └── TransientError       429, 5xx, timeouts, broken bodies: worth retrying
    ├── StoreError               the store is unusable (locked, migration failed, bad value)
    │   └── RunLocked            another collect run holds the lock
    └── PublishError             a feed failed to build or validate; the old feed is kept
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a file or in a query string; line and column are 1-based."""

    path: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.path or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


class C2TrackerError(Exception):
    """Root of every error the tool raises on purpose."""

    def __init__(self, message: str, *, location: Location | None = None) -> None:
        self.message = message
        self.location = location
        super().__init__(message)

    def __str__(self) -> str:
        if self.location is None:
            return self.message
        return f"{self.location}: {self.message}"


class ConfigError(C2TrackerError):
    """The settings file or environment cannot be used."""


class RuleError(C2TrackerError):
    """A rule file is malformed."""


class RuleSetError(RuleError):
    """Several rule problems, gathered so that all of them are reported at once."""

    def __init__(self, errors: list[C2TrackerError]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} problem(s) in the rule set")

    def __str__(self) -> str:
        return "\n".join(str(error) for error in self.errors)


class QuerySyntaxError(C2TrackerError):
    """A query does not parse.

    ``query`` is the text, ``position`` the 0-based offset of the problem within it. ``caret()``
    renders the query with a caret under that position.
    """

    def __init__(
        self,
        message: str,
        *,
        engine: str,
        query: str,
        position: int | None = None,
        location: Location | None = None,
    ) -> None:
        self.engine = engine
        self.query = query
        self.position = position
        super().__init__(message, location=location)

    def caret(self) -> str:
        """The query on one line and a caret under the offending position."""
        flat = self.query.replace("\n", " ").replace("\t", " ")
        if self.position is None:
            return flat
        return f"{flat}\n{' ' * min(self.position, len(flat))}^"


class RecordError(C2TrackerError):
    """A scan record cannot be read or has the wrong shape."""


class SourceError(C2TrackerError):
    """A search-engine call failed; ``engine`` names the engine."""

    def __init__(self, message: str, *, engine: str, status: int | None = None) -> None:
        self.engine = engine
        self.status = status
        super().__init__(message)


class AuthError(SourceError):
    """The engine refused the key or token."""


class CreditsExhausted(SourceError):
    """The account has no query credits left."""


class PlanError(SourceError):
    """The account's plan does not allow this request."""


class QueryRejected(SourceError):
    """The engine rejected the query; the message is the engine's own."""


class TransientError(SourceError):
    """A failure worth retrying: rate limit, server error, timeout, broken body."""

    def __init__(
        self,
        message: str,
        *,
        engine: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, engine=engine, status=status)


class StoreError(C2TrackerError):
    """The store cannot be used, or a value cannot be stored."""


class RunLocked(StoreError):
    """Another collect run holds the store's run lock."""


class PublishError(C2TrackerError):
    """A feed could not be built or failed validation; the previous feed is untouched."""
