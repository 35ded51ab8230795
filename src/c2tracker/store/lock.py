"""The run lock: at most one collect or import writes a run at a time, on any database.

The lock is a row in ``run_lock`` (so it works the same on SQLite and PostgreSQL, and across
hosts sharing a PostgreSQL server) naming its owner's host and pid, with a heartbeat that a
background thread refreshes. A second run waits up to a bound for the row to go away, then
raises :class:`RunLocked` naming the holder. A lock is *stale*, and is taken over with a
warning, when its heartbeat is older than ``stale_after`` seconds, or when its owner ran on this
host and that process no longer exists (a run killed with SIGKILL leaves its row behind).
Take-over is a compare-and-swap on the old owner, so two waiters cannot both win.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Engine, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from c2tracker.errors import RunLocked
from c2tracker.store.models import RunLockRow

log = logging.getLogger(__name__)

LOCK_NAME = "collect"
DEFAULT_WAIT_S = 10.0
DEFAULT_STALE_AFTER_S = 120.0
HEARTBEAT_EVERY_S = 15.0

_table = cast(Table, RunLockRow.__table__)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Holder:
    owner: str
    host: str
    pid: int
    acquired_at: datetime
    heartbeat_at: datetime


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """The store's run lock, held by one :class:`RunHandle`."""

    def __init__(
        self,
        engine: Engine,
        *,
        stale_after: float = DEFAULT_STALE_AFTER_S,
        heartbeat_every: float = HEARTBEAT_EVERY_S,
    ) -> None:
        self._engine = engine
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.owner = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self.stale_after = stale_after
        self.heartbeat_every = heartbeat_every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.held = False

    def acquire(self, wait: float = DEFAULT_WAIT_S) -> None:
        """Takes the lock, waiting up to ``wait`` seconds.

        Raises:
            RunLocked: another live run still holds it after ``wait`` seconds.
        """
        deadline = time.monotonic() + wait
        while True:
            holder = self._try_acquire()
            if holder is None:
                self.held = True
                self._start_heartbeat()
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RunLocked(self._locked_message(holder, wait))
            time.sleep(min(0.1, remaining))

    def _try_acquire(self) -> _Holder | None:
        """None when acquired, else the row of the live holder."""
        now = _now()
        try:
            with self._engine.begin() as conn:
                row = conn.execute(select(_table).where(_table.c.name == LOCK_NAME)).first()
                if row is None:
                    conn.execute(
                        insert(_table).values(
                            name=LOCK_NAME,
                            owner=self.owner,
                            host=self.host,
                            pid=self.pid,
                            acquired_at=now,
                            heartbeat_at=now,
                        )
                    )
                    return None
                holder = _Holder(row.owner, row.host, row.pid, row.acquired_at, row.heartbeat_at)
                if holder.owner == self.owner:
                    return None
                if not self._is_stale(holder, now):
                    return holder
                taken = conn.execute(
                    update(_table)
                    .where(_table.c.name == LOCK_NAME, _table.c.owner == holder.owner)
                    .values(
                        owner=self.owner,
                        host=self.host,
                        pid=self.pid,
                        acquired_at=now,
                        heartbeat_at=now,
                    )
                )
                if taken.rowcount == 1:
                    log.warning(
                        "took over a stale run lock from pid %s on %s (last heartbeat %s)",
                        holder.pid,
                        holder.host,
                        holder.heartbeat_at.isoformat(timespec="seconds"),
                    )
                    return None
                return holder
        except IntegrityError:
            # Another process inserted the row between our read and our insert: retry.
            return self._placeholder()

    def _placeholder(self) -> _Holder:
        now = _now()
        return _Holder("?", "?", 0, now, now)

    def _is_stale(self, holder: _Holder, now: datetime) -> bool:
        if (now - holder.heartbeat_at).total_seconds() > self.stale_after:
            return True
        return holder.host == self.host and not _process_exists(holder.pid)

    def _locked_message(self, holder: _Holder, wait: float) -> str:
        return (
            f"another run holds the store's run lock (pid {holder.pid} on {holder.host}, since "
            f"{holder.acquired_at:%Y-%m-%d %H:%M:%S} UTC, last heartbeat "
            f"{holder.heartbeat_at:%H:%M:%S} UTC); waited {wait:.0f}s. Let it finish; a lock "
            f"whose heartbeat stops for {self.stale_after:.0f}s is taken over automatically"
        )

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="c2tracker-run-lock", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_every):
            try:
                with self._engine.begin() as conn:
                    result = conn.execute(
                        update(_table)
                        .where(_table.c.name == LOCK_NAME, _table.c.owner == self.owner)
                        .values(heartbeat_at=_now())
                    )
                if result.rowcount == 0:
                    log.error("the run lock was taken over by another process")
                    return
            except Exception as exc:  # a missed beat is retried; the lock goes stale otherwise
                log.warning("run lock heartbeat failed: %s", exc)

    def release(self) -> None:
        if not self.held:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._engine.begin() as conn:
            conn.execute(
                delete(_table).where(_table.c.name == LOCK_NAME, _table.c.owner == self.owner)
            )
        self.held = False
