"""Indicator lifecycle: when an indicator is active, expired, revoked, allowlisted or a honeypot.

Ageing is measured in *successful checks*, never in wall-clock time:

1. **Window.** Each family has a window ``W`` in days: ``settings.window_days_by_family[rule]``,
   else ``window_days_by_category[category]``, else ``window_days`` (30).
2. **Last seen.** ``last_seen`` is the newest record timestamp of any sighting (the engine's own
   time, clamped to the moment it was stored), or the run's time when a record had none. A new
   sighting moves ``last_seen`` forward and re-activates an expired indicator.
3. **Valid until.** ``valid_until = last_seen + W``, published as the nominal expiry.
4. **Checks.** A query is *checked* in a run when its query run there ended ``ok``. The
   indicator's *clock* is the time of the latest run in which one of the queries that found it
   was checked. When none of those queries belongs to its rule any more (the query was edited or
   removed, or the indicator was imported), the clock is the latest check of any current query of
   its rule, so such indicators still age.
5. **Expiry.** The indicator is expired exactly when ``clock > valid_until``: a successful run
   of its queries happened after its window closed and did not find it again.
6. **Failures never expire.** Failed, skipped or interrupted query runs are not checks, so the
   clock does not move; neither does time passing with no run at all. An indicator kept alive
   this way past ``valid_until`` stays active with a reason saying since when it is unchecked.
7. **Operator and filter states** take precedence, in this order: revoked (an operator revoked
   the IP for this family or for all families) > allowlisted (IP, CIDR or ASN) > honeypot >
   expired/active. Revocation and allowlisting are stored apart from the lifecycle, so sightings
   keep updating first/last seen underneath them, and undoing them restores the computed state.
   A revocation therefore survives later sightings until it is undone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from c2tracker.model import IndicatorStatus


def valid_until(last_seen: datetime, window_days: int) -> datetime:
    return last_seen + timedelta(days=window_days)


@dataclass(frozen=True, slots=True)
class CheckClock:
    """When each query last ran successfully, and which queries each rule has now."""

    last_check: Mapping[str, datetime]
    """Query id → time of the latest run in which it ended ``ok``."""
    rule_queries: Mapping[str, frozenset[str]]
    """Rule id → query ids of the rule in the current rule set."""

    def clock(self, rule_id: str, queries: Iterable[str]) -> datetime | None:
        """Rule 4: the latest check of the indicator's finding queries (or of its rule's)."""
        found_by = set(queries)
        times = [self.last_check[q] for q in found_by if q in self.last_check]
        current = self.rule_queries.get(rule_id, frozenset())
        if current and not (found_by & current):
            times.extend(self.last_check[q] for q in current if q in self.last_check)
        return max(times) if times else None


def is_expired(valid_until: datetime, clock: datetime | None) -> bool:
    """Rule 5: expired when a check happened after the window closed."""
    return clock is not None and clock > valid_until


@dataclass(frozen=True, slots=True)
class StatusInputs:
    expired: bool
    valid_until: datetime
    last_seen: datetime
    clock: datetime | None
    window_days: int
    revoked: str | None = None
    allowlisted: str | None = None
    honeypot: str | None = None
    latest_run: datetime | None = None
    """The newest run's time, to explain an active indicator kept past ``valid_until``."""


def derive_status(inputs: StatusInputs) -> tuple[IndicatorStatus, str | None]:
    """Rule 7: the published status and its reason."""
    if inputs.revoked is not None:
        return IndicatorStatus.REVOKED, inputs.revoked
    if inputs.allowlisted is not None:
        return IndicatorStatus.ALLOWLISTED, inputs.allowlisted
    if inputs.honeypot is not None:
        return IndicatorStatus.HONEYPOT, inputs.honeypot
    if inputs.expired:
        checked = f"{inputs.clock:%Y-%m-%d}" if inputs.clock else "never"
        return IndicatorStatus.EXPIRED, (
            f"expired: not seen since {inputs.last_seen:%Y-%m-%d} "
            f"(window {inputs.window_days} days); its queries last ran successfully {checked}"
        )
    if inputs.latest_run is not None:
        return IndicatorStatus.ACTIVE, held_reason(
            inputs.valid_until, inputs.clock, inputs.latest_run
        )
    return IndicatorStatus.ACTIVE, None


def held_reason(valid_until: datetime, clock: datetime | None, now: datetime) -> str | None:
    """Rule 6: why an active indicator outlived ``valid_until`` (its queries went unchecked)."""
    if now <= valid_until:
        return None
    checked = f"{clock:%Y-%m-%d}" if clock else "never"
    return (
        f"kept active: window closed {valid_until:%Y-%m-%d} but its queries have not run "
        f"successfully since {checked}"
    )
