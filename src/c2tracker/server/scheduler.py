"""Collect-and-publish runs inside ``serve``: on a schedule, on demand, never two at once.

A :class:`Scheduler` owns one background thread that sleeps until the next due time (a fixed
interval such as ``7d``, or a cron expression through croniter) and runs the job. ``POST
/api/v1/runs`` calls :meth:`Scheduler.trigger`, which starts the job at once in its own thread.
An in-process lock keeps runs from overlapping inside this server; the store's run lock, taken
by the job through ``Store.begin_run``, keeps them from overlapping with a ``c2tracker collect``
started elsewhere (that shows up as :class:`~c2tracker.errors.RunLocked`, logged and skipped).

The job itself is :func:`collect_and_publish`, the one place that calls into the collector and
the publisher; tests inject their own job function.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from croniter import croniter

from c2tracker.errors import C2TrackerError, ConfigError, RunLocked
from c2tracker.settings import Settings, parse_duration

logger = logging.getLogger(__name__)

Job = Callable[[], None]


#: Shortest interval accepted for ``--collect-every``: live engines bill per query.
MIN_INTERVAL = timedelta(minutes=1)


def parse_interval(text: str) -> timedelta:
    """``30m``, ``12h``, ``7d``, ``2w`` → a timedelta.

    Raises:
        ConfigError: the text is not a positive number and one unit letter, or is below
            :data:`MIN_INTERVAL`.
    """
    interval = parse_duration(text)
    if interval is None:
        raise ConfigError(f"--collect-every: expected a number and a unit (s/m/h/d/w): {text!r}")
    if interval < MIN_INTERVAL:
        raise ConfigError(f"--collect-every: shortest interval is 1m, got {text!r}")
    return interval


def check_cron(expression: str) -> str:
    """``expression`` when croniter accepts it.

    Raises:
        ConfigError: the expression is not valid cron syntax.
    """
    if not croniter.is_valid(expression):
        raise ConfigError(f"--cron: not a valid cron expression: {expression!r}")
    return expression


class Scheduler:
    """Runs ``job`` every ``every``, or at each time of ``cron``, or only when triggered."""

    def __init__(
        self,
        job: Job,
        *,
        every: timedelta | None = None,
        cron: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if every is not None and cron is not None:
            raise ConfigError("use either --collect-every or --cron, not both")
        self.job = job
        self.every = every
        self.cron = check_cron(cron) if cron is not None else None
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.next_time: datetime | None = None
        self.runs_started = 0
        self.runs_skipped = 0
        self.last_error: str | None = None

    @property
    def is_running(self) -> bool:
        """True while a run holds the lock."""
        return self._lock.locked()

    def compute_next(self, after: datetime) -> datetime | None:
        """When the next scheduled run is due after ``after``; None without a schedule."""
        if self.every is not None:
            return after + self.every
        if self.cron is not None:
            upcoming = croniter(self.cron, after).get_next(datetime)
            assert isinstance(upcoming, datetime)
            return upcoming
        return None

    def run_once(self) -> bool:
        """Runs the job now in this thread unless one is running; True when it ran."""
        if not self._lock.acquire(blocking=False):
            self.runs_skipped += 1
            logger.warning("collect run skipped: another run is still in progress")
            return False
        try:
            self._run_job()
        finally:
            self._lock.release()
        return True

    def trigger(self) -> bool:
        """Starts the job in a background thread; False when a run is already in progress."""
        if not self._lock.acquire(blocking=False):
            self.runs_skipped += 1
            return False

        def work() -> None:
            try:
                self._run_job()
            finally:
                self._lock.release()

        threading.Thread(target=work, name="c2tracker-collect", daemon=True).start()
        return True

    def _run_job(self) -> None:
        self.runs_started += 1
        try:
            self.job()
            self.last_error = None
        except RunLocked as exc:
            # Another process (a cron'd `c2tracker collect`) holds the store's run lock.
            self.last_error = str(exc)
            logger.warning("collect run skipped: %s", exc)
        except C2TrackerError as exc:
            self.last_error = str(exc)
            logger.error("collect run failed: %s", exc)
        except Exception as exc:
            self.last_error = f"unexpected error: {type(exc).__name__}"
            logger.exception("collect run crashed")

    def start(self) -> None:
        """Starts the schedule thread (a no-op without a schedule)."""
        if self.every is None and self.cron is None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="c2tracker-schedule", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the schedule thread; a run in progress finishes in its own time."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        self.next_time = self.compute_next(self._clock())
        while self.next_time is not None:
            wait = (self.next_time - self._clock()).total_seconds()
            if wait > 0 and self._stop.wait(min(wait, 60.0)):
                return
            if self._stop.is_set():
                return
            if self._clock() < self.next_time:
                continue
            self.next_time = self.compute_next(self._clock())
            self.run_once()


#: Seconds a scheduled run waits for one engine answer (the collect command's default).
COLLECT_TIMEOUT_S = 60.0


def collect_and_publish(settings: Settings, store: Any, out_dir: Path | None = None) -> None:
    """One scheduled run: collect from every configured source into ``store``, then publish.

    Uses the collector's library entry point (:func:`c2tracker.sources.collect`), which takes
    the store's run lock and prints nothing, and :func:`c2tracker.feeds.publish`, which swaps
    the feed folder atomically. Both are imported at call time so that the server starts even
    when a run could not.

    Raises:
        C2TrackerError: collect found nothing to do or some query failed (what was gathered is
            kept in the store; the feed is not republished).
    """
    from c2tracker.feeds import publish
    from c2tracker.rules import load_rules
    from c2tracker.sources import collect

    logger.info("scheduled collect starting")
    rules = load_rules(settings.rules_dir)
    report = collect(settings, store, rules, timeout=COLLECT_TIMEOUT_S)
    for line in report.notices:
        logger.info("collect: %s", line)
    if report.failed:
        reasons = "; ".join(
            f"{r.planned.engine.value} {r.planned.rule_id}: {r.reason}" for r in report.failed[:3]
        )
        raise C2TrackerError(
            f"collect: {len(report.failed)} quer(ies) failed ({reasons}); "
            "the feed was not republished"
        )

    publish(store, rules, out_dir or settings.feeds_dir, settings=settings)
    logger.info("scheduled collect and publish finished (run %s)", report.run_id)
