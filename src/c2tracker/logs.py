"""Logging set-up for the CLI: ``-v`` shows INFO (one line per external call), ``-vv`` DEBUG.

Library modules only ever call ``logging.getLogger(__name__)``; this module is the one place
that installs handlers. Log lines go to stderr through Rich so they never mix with the JSON a
command prints on stdout. A filter scrubs known secret values from every record, as a second
line of defence behind the rule that secrets are never formatted into messages.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from rich.console import Console
from rich.logging import RichHandler


class SecretScrubber(logging.Filter):
    """Replaces any of the given secret strings in a log record's message with ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        scrubbed = message
        for secret in self.secrets:
            scrubbed = scrubbed.replace(secret, "***")
        if scrubbed != message:
            record.msg = scrubbed
            record.args = None
        return True


def setup_logging(verbosity: int, secrets: Iterable[str] = ()) -> None:
    """Installs one stderr handler; 0 → WARNING, 1 → INFO, 2+ → DEBUG."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = RichHandler(
        console=Console(stderr=True),
        show_path=False,
        rich_tracebacks=False,
        markup=False,
    )
    handler.addFilter(SecretScrubber(secrets))
    root = logging.getLogger("c2tracker")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
