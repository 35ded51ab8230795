"""The offline engine: run parsed queries over local scan records.

- :func:`evaluate` — one query against one record, with evidence (:mod:`.evaluator`).
- :class:`Matcher` — a whole rule set compiled for one pass over many records
  (:mod:`.compiler`).
- :func:`detect_engine` / :func:`unwrap_censys_host` — what kind of record this is.

Field mappings live in :mod:`.fields`; Shodan-compatible hashes and the raw-response normaliser
live in :mod:`.fingerprints` and :mod:`.normalise`.
"""

from __future__ import annotations

from c2tracker.matching.compiler import Matcher
from c2tracker.matching.evaluator import detect_engine, evaluate, unwrap_censys_host

__all__ = ["Matcher", "detect_engine", "evaluate", "unwrap_censys_host"]
