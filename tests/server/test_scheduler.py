"""Scheduled and triggered collect runs: intervals, cron, never two at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from c2tracker.errors import ConfigError
from c2tracker.server.scheduler import Scheduler, check_cron, parse_interval
from c2tracker.store import Store


def test_parse_interval() -> None:
    assert parse_interval("7d") == timedelta(days=7)
    assert parse_interval(" 12h ") == timedelta(hours=12)
    assert parse_interval("2w") == timedelta(weeks=2)
    for bad in ("7", "d", "7 days", "-1d", "30s", ""):
        with pytest.raises(ConfigError, match="--collect-every"):
            parse_interval(bad)


def test_cron_expressions() -> None:
    assert check_cron("0 3 * * 1") == "0 3 * * 1"
    with pytest.raises(ConfigError, match="--cron"):
        check_cron("every monday")

    monday_noon = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    scheduler = Scheduler(lambda: None, cron="0 3 * * 1")
    assert scheduler.compute_next(monday_noon) == datetime(2026, 1, 12, 3, 0, tzinfo=UTC)
    assert Scheduler(lambda: None).compute_next(monday_noon) is None


def test_interval_and_cron_together_are_refused() -> None:
    with pytest.raises(ConfigError, match="not both"):
        Scheduler(lambda: None, every=timedelta(days=1), cron="0 3 * * 1")


class BlockingJob:
    """A job that waits until released, counting how many run at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        self.running = 0
        self.most_at_once = 0
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.started.release()
        self.release.wait(10)
        with self._lock:
            self.running -= 1


@pytest.fixture
def job() -> Iterator[BlockingJob]:
    blocking = BlockingJob()
    yield blocking
    blocking.release.set()


def test_trigger_refuses_while_a_run_is_in_progress(job: BlockingJob) -> None:
    scheduler = Scheduler(job)

    assert scheduler.trigger() is True
    assert job.started.acquire(timeout=5)
    assert scheduler.is_running
    assert scheduler.trigger() is False
    assert scheduler.run_once() is False
    assert scheduler.runs_skipped == 2

    job.release.set()
    for _ in range(500):
        if not scheduler.is_running:
            break
        threading.Event().wait(0.01)
    assert not scheduler.is_running
    assert scheduler.trigger() is True
    assert job.started.acquire(timeout=5)
    assert job.calls == 2 and job.most_at_once == 1


def test_schedule_runs_repeatedly_and_never_overlaps_a_triggered_run(job: BlockingJob) -> None:
    # A clock that jumps a day per reading makes every scheduled run due at once.
    moments = iter(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=n) for n in range(10**6))
    scheduler = Scheduler(job, every=timedelta(days=1), clock=lambda: next(moments))
    assert scheduler.trigger() is True
    assert job.started.acquire(timeout=5)

    scheduler.start()
    try:
        for _ in range(200):
            if scheduler.runs_skipped >= 3:
                break
            threading.Event().wait(0.01)
        # While the triggered run holds the lock, scheduled runs are skipped, not stacked.
        assert scheduler.runs_skipped >= 3
        assert job.most_at_once == 1

        job.release.set()
        for _ in range(500):
            if job.calls >= 3:
                break
            threading.Event().wait(0.01)
        assert job.calls >= 3
        assert job.most_at_once == 1
        assert scheduler.next_time is not None
    finally:
        scheduler.stop()


def test_failures_are_recorded_and_the_scheduler_goes_on() -> None:
    calls: list[int] = []

    def failing() -> None:
        calls.append(1)
        raise ConfigError("no source has credentials")

    scheduler = Scheduler(failing)
    assert scheduler.run_once() is True
    assert scheduler.last_error == "no source has credentials"
    assert scheduler.run_once() is True
    assert len(calls) == 2 and not scheduler.is_running


def test_the_store_run_lock_keeps_other_processes_out(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    with Store.open(url) as store:

        def collect() -> None:
            with store.begin_run(["shodan"], wait=0):
                pass

        scheduler = Scheduler(collect)
        # Another collect (here in the same process, as `c2tracker collect` would elsewhere)
        # holds the store's run lock: the scheduled run is skipped with a clear reason.
        with store.begin_run(["scan:x"]):
            assert scheduler.run_once() is True
            assert scheduler.last_error is not None
            assert "lock" in scheduler.last_error.lower() or "run" in scheduler.last_error

        assert scheduler.run_once() is True
        assert scheduler.last_error is None
