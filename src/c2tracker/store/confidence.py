"""Confidence: how sure the store is that an indicator is what its family says, 0–100.

The score is a sum of parts, clamped to 0–100::

    score = fidelity + query_agreement + engine_agreement + persistence
            - dual_use_penalty - honeypot_penalty

    fidelity          the highest fidelity among the queries that found it
                      (high 60, medium 40, low 20; a query no current rule has: low)
    query_agreement   8 for each further independent query that found it, at most 16
    engine_agreement  10 when two independent data sources found it (Shodan and Censys;
                      ``censys`` and ``censys-legacy`` are one source: the same scans)
    persistence       3 for each run it was seen in beyond the first, at most 15
    dual_use_penalty  25 for dual-use tools (BurpSuite, GoPhish…): legitimate teams run them
    honeypot_penalty  40 when the IP is judged a honeypot; otherwise 10 for each unrelated
                      family the IP also answered as in its latest run, at most 30

Every part moves the score one way only, so the score is monotonic in each factor (more
fidelity, queries, engines or runs never lower it; a penalty never raises it); tests check this.
A high-fidelity hit found by one query once scores 60; the same hit confirmed by three queries on
both engines over six runs reaches 100.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from c2tracker.model import Fidelity

FIDELITY_POINTS = {Fidelity.HIGH: 60, Fidelity.MEDIUM: 40, Fidelity.LOW: 20}
PER_EXTRA_QUERY, MAX_QUERY_AGREEMENT = 8, 16
ENGINE_AGREEMENT = 10
PER_EXTRA_RUN, MAX_PERSISTENCE = 3, 15
DUAL_USE_PENALTY = 25
HONEYPOT_PENALTY = 40
PER_COHOSTED_FAMILY, MAX_COHOSTED_PENALTY = 10, 30

#: Engines that read the same underlying scans count as one source of agreement.
ENGINE_SOURCE = {"censys-legacy": "censys"}

_RANK = {Fidelity.LOW: 0, Fidelity.MEDIUM: 1, Fidelity.HIGH: 2}


@dataclass(frozen=True, slots=True)
class Factors:
    fidelity: Fidelity
    queries: int
    engines: int
    """Independent data sources (see :func:`independent_engines`)."""
    times_seen: int
    dual_use: bool = False
    honeypot: bool = False
    cohosted: int = 0


def best_fidelity(fidelities: Iterable[Fidelity]) -> Fidelity:
    best = Fidelity.LOW
    for fidelity in fidelities:
        if _RANK[fidelity] > _RANK[best]:
            best = fidelity
    return best


def independent_engines(engines: Iterable[str]) -> int:
    return len({ENGINE_SOURCE.get(engine, engine) for engine in engines})


def score(factors: Factors) -> int:
    """The confidence for these factors (formula in the module docstring)."""
    total = FIDELITY_POINTS[factors.fidelity]
    total += min(PER_EXTRA_QUERY * max(factors.queries - 1, 0), MAX_QUERY_AGREEMENT)
    total += ENGINE_AGREEMENT if factors.engines >= 2 else 0
    total += min(PER_EXTRA_RUN * max(factors.times_seen - 1, 0), MAX_PERSISTENCE)
    if factors.dual_use:
        total -= DUAL_USE_PENALTY
    if factors.honeypot:
        total -= HONEYPOT_PENALTY
    else:
        total -= min(PER_COHOSTED_FAMILY * max(factors.cohosted, 0), MAX_COHOSTED_PENALTY)
    return max(0, min(100, total))
