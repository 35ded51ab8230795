"""Writing a run: the :class:`RunHandle` sources record pages through, and the running merge of
the run's observations per IP and family that :meth:`Store.finish_run` folds into indicators.

Every call of a handle commits before it returns, so a killed process loses at most the page in
flight and the run stays resumable; except inside :meth:`RunHandle.bulk`, the section sources
that write from memory back to back use (scan data, imports). There a free page (credits 0,
made again from the file at no cost) and the starts and ends of queries join a group committed
as one transaction once it holds :data:`GROUP_ROWS` rows or is :data:`GROUP_SECONDS` old, when a
page that cost credits comes, before pages are listed or the run finished, and when the section
ends: a crash loses at most that group, which a resumed run stores again. One commit per page
and per query cost more than writing the page's rows when pages come from memory.

A page is the hot path of every collect: plain DB-API calls on one connection held for the run,
its observations written as batches of up to :data:`BATCH_ROWS` rows, one JSON array a batch
(``models.ObservationBatch``).

As a page is written its rows are also merged into the handle's :class:`RunFold`, so that
finishing the run does not read a million observations back. The fold always equals the merge
of the run's batches above the run's watermark (``runs.applied_batch_id``): it starts empty for
a new run (whose watermark is the highest batch id when it began), is replaced by an empty one
when a finish commits, and is not trusted in a resumed handle, when the stored watermark moved
under it (another process finished the run) or after a group was rolled back: the finish then
rebuilds it from the stored batches with the same merge.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from sqlalchemy import select, update

from c2tracker.errors import StoreError
from c2tracker.filters.allowlist import normalize_asn
from c2tracker.filters.honeypots import HONEYPOT_TAG
from c2tracker.model import Observation, PageCheckpoint, QueryOutcome, query_id
from c2tracker.querylang.ast import Engine as QueryEngine
from c2tracker.store.lock import RunLock
from c2tracker.store.models import to_micros
from c2tracker.store.tables import PAGES, QUERY_RUNS, RUNS, now
from c2tracker.store.values import classify_ip, column_text, normalize_port

if TYPE_CHECKING:
    from c2tracker.store.store import Store

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Rows of free pages held in one open transaction before it is committed.
GROUP_ROWS = 50_000

#: Age at which an open group of free pages is committed, whatever its size.
GROUP_SECONDS = 1.0

_ENGINES = frozenset(e.value for e in QueryEngine)

#: Transports as stored, for the spellings nearly every observation carries.
_TRANSPORTS = {"tcp": "tcp", "udp": "udp", "TCP": "tcp", "UDP": "udp"}

#: Observations per stored batch: a page is cut into batches of this size. Small enough that a
#: lookup reading the batches holding an address decodes little else.
BATCH_ROWS = 250

#: Column order of an observation row: the tuples :meth:`RunHandle.record_rows` takes, and the
#: arrays of a batch's JSON. ``evidence`` is an object, ``hostnames`` and ``tags`` arrays or null.
ROW_COLUMNS = (
    "ip",
    "port",
    "transport",
    "seen_at",
    "evidence",
    "hostnames",
    "asn",
    "org",
    "country",
    "tags",
    "source",
    "drop_reason",
)

#: Positions in a row of the columns readers of stored batches pick out.
ROW_IP = ROW_COLUMNS.index("ip")
ROW_EVIDENCE = ROW_COLUMNS.index("evidence")
ROW_TAGS = ROW_COLUMNS.index("tags")
ROW_DROP_REASON = ROW_COLUMNS.index("drop_reason")

#: The cyclic garbage collector's first threshold while a bulk section is open
#: (:func:`_bulk_collector_threshold`).
BULK_GC_THRESHOLD = 100_000

#: An ASN written as the store writes it, up to nine digits so always within 32 bits (what
#: ``normalize_asn`` gives back unchanged).
_CANONICAL_ASN = re.compile(r"AS[1-9][0-9]{0,8}").fullmatch

#: Entries kept in a handle's address and ASN caches before they are emptied.
_CACHE_LIMIT = 1 << 18

_MISSING: Any = object()

#: orjson options for batches: evidence from scans may have non-text keys.
_BATCH_JSON = orjson.OPT_NON_STR_KEYS


def _freeze_heap() -> bool:
    """Moves every object alive when a run starts out of the cyclic collector's sight until the
    run is closed (``gc.freeze``); True when it did.

    A collect records what its sources already hold in memory (a scan-data source matches
    every record before recording), often a million observations with their evidence. Every
    full collection the run's own allocations set off walked all of them again, for nothing:
    they outlive the run. Garbage cycles already unreachable at the start are freed when the
    run is closed instead.
    """
    if not gc.isenabled():
        return False
    gc.freeze()
    return True


class _BulkCollectorThreshold:
    """Raises the cyclic collector's first threshold to :data:`BULK_GC_THRESHOLD` (from
    Python's 700) while any bulk section of the process is open, and puts the old thresholds
    back when the last one closes (sections of several stores may overlap in one process).

    The collector runs when the count of live containers grows by the threshold. A run's fold
    grows by about one container per observation (a pair's record, its sets of ports and
    queries, its list of batches) and lives until the finish, so with the default the
    collector ran every few hundred observations, walking the young part of the fold, and its
    older generations the whole of it: at a million observations the recording took about
    25 % longer than with no collection at all. Cycles the sections' own code leaves behind
    are still collected, only in larger steps: they count towards the threshold too, so at
    most about that many containers wait for a collection. A threshold of 0 (the collector
    switched off this way) is left alone.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = 0
        self._saved: tuple[int, int, int] | None = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if not self._open:
                self._saved = saved = gc.get_threshold()
                if saved[0]:
                    gc.set_threshold(max(saved[0], BULK_GC_THRESHOLD), *saved[1:])
            self._open += 1
        try:
            yield
        finally:
            with self._lock:
                self._open -= 1
                if not self._open and self._saved is not None:
                    gc.set_threshold(*self._saved)
                    self._saved = None


_bulk_collector_threshold = _BulkCollectorThreshold()


def dump_batch(rows: Sequence[Sequence[Any]]) -> tuple[str, Sequence[Sequence[Any]]]:
    """A batch's rows as the JSON text stored, and the rows that text holds (the same rows
    unless some had to be cleaned: the fold must see what is stored).

    A value JSON cannot hold (evidence nested deeper than orjson writes, integers beyond 64
    bits, text with lone surrogates: hostile scan data can carry all three) is replaced, in
    that row only, by a note saying why (evidence) or a cleaned copy, so one record never
    costs the rest of its page.
    """
    try:
        return orjson.dumps(rows, default=str, option=_BATCH_JSON).decode(), rows
    except orjson.JSONEncodeError:
        cleaned = [_storable(row) for row in rows]
        return orjson.dumps(cleaned, default=str, option=_BATCH_JSON).decode(), cleaned


def kept_rows(text: str) -> Iterator[list[Any]]:
    """The rows of a stored batch's JSON that the filters kept (no drop reason), in order."""
    return (row for row in orjson.loads(text) if row[ROW_DROP_REASON] is None)


def _storable(row: Sequence[Any]) -> list[Any]:
    fixed = list(row)
    for index, value in enumerate(fixed):
        try:
            orjson.dumps(value, default=str, option=_BATCH_JSON)
        except orjson.JSONEncodeError as exc:
            log.warning(
                "observation of %s: %s not storable as JSON (%s), replaced",
                fixed[0],
                ROW_COLUMNS[index],
                exc,
            )
            if isinstance(value, str):
                fixed[index] = value.encode("utf-8", "replace").decode("utf-8")
            elif index == ROW_EVIDENCE:
                fixed[index] = {"c2tracker.unstorable": str(exc)}
            else:
                fixed[index] = None
    return fixed


@dataclass(slots=True)
class PairAgg:
    """One IP × family in the observations being folded in."""

    first: int
    last: int
    ports: set[int] = field(default_factory=set)
    query_runs: set[int] = field(default_factory=set)
    """Query runs that found it: they give its engines and query ids."""
    batches: list[int] = field(default_factory=list)
    """Batches holding its observations, ascending: the by-address index's entries."""
    hostnames: set[str] | None = None
    asn: str | None = None
    org: str | None = None
    country: str | None = None


class RunFold:
    """The merge of observations per (IP, rule): first and last seen, ports, query runs,
    hostnames, and the network details of the newest sighting; plus, per IP, the engines that
    tagged it ``honeypot``. Rows must be added in the order they were stored (their ids)."""

    def __init__(self, run_time: int, rules: dict[int, tuple[str, str]], base: int) -> None:
        self.run_time = run_time
        self.rules = rules
        """Query run id → (rule id, engine); shared with the handle, which fills it."""
        self.base = base
        """The watermark this fold starts above."""
        self.by_rule: dict[str, dict[str, PairAgg]] = {}
        """Rule id → IP → its merge. Keyed by rule, then IP, rather than by (IP, rule): one
        lookup of the IP's own text per observation costs less than making and hashing a key."""
        self.tagged: dict[str, set[str]] = {}
        self.observations = 0
        self.dropped = 0

    def add_rows(self, query_run_id: int, batch_id: int, rows: Iterable[Sequence[Any]]) -> None:
        """Adds a batch's rows, in :data:`ROW_COLUMNS` order. Batches must be added in the order
        of their ids."""
        run_time = self.run_time
        rule_id, engine = self.rules[query_run_id]
        pairs = self.by_rule.get(rule_id)
        if pairs is None:
            pairs = self.by_rule[rule_id] = {}
        get = pairs.get
        count = dropped = 0
        for ip, port, _, seen, _, hostnames, asn, org, country, tags, _, drop in rows:
            count += 1
            if drop is not None:
                dropped += 1
                continue
            when = run_time if seen is None else seen
            agg = get(ip)
            if agg is None:
                pairs[ip] = PairAgg(
                    when,
                    when,
                    {port} if port is not None else set(),
                    {query_run_id},
                    [batch_id],
                    set(hostnames) if hostnames else None,
                    asn or None,
                    org or None,
                    country or None,
                )
            else:
                if when < agg.first:
                    agg.first = when
                if when >= agg.last:
                    agg.last = when
                    agg.asn = asn or agg.asn
                    agg.org = org or agg.org
                    agg.country = country or agg.country
                elif agg.asn is None:
                    agg.asn, agg.org, agg.country = asn, org, country
                if port is not None:
                    agg.ports.add(port)
                agg.query_runs.add(query_run_id)
                if agg.batches[-1] != batch_id:
                    agg.batches.append(batch_id)
                if hostnames:
                    if agg.hostnames is None:
                        agg.hostnames = set(hostnames)
                    else:
                        agg.hostnames.update(hostnames)
            if tags and HONEYPOT_TAG in tags:
                self.tagged.setdefault(ip, set()).add(engine)
        self.observations += count
        self.dropped += dropped

    def pairs(self) -> Iterator[tuple[tuple[str, str], PairAgg]]:
        """Every ((IP, rule id), merge) of the fold."""
        for rule_id, aggs in self.by_rule.items():
            for ip, agg in aggs.items():
                yield (ip, rule_id), agg

    def ips(self) -> set[str]:
        """The addresses the fold holds."""
        found: set[str] = set()
        for aggs in self.by_rule.values():
            found.update(aggs)
        return found

    def run_ips(self) -> dict[str, tuple[set[str], set[str]]]:
        """Per IP: the families and the engines' honeypot tags in the folded observations, for
        every IP seen as more than one family or tagged (the only ones step 3 can concern)."""
        first: dict[str, str] = {}
        found: dict[str, tuple[set[str], set[str]]] = {}
        for rule_id, aggs in self.by_rule.items():
            for ip in aggs:
                other = first.setdefault(ip, rule_id)
                if other != rule_id:
                    entry = found.get(ip)
                    if entry is None:
                        entry = found[ip] = ({other}, self.tagged.get(ip, set()))
                    entry[0].add(rule_id)
        for ip, engines in self.tagged.items():
            if ip not in found and ip in first:
                found[ip] = ({first[ip]}, engines)
        return found

    def all_ips(self) -> dict[str, tuple[set[str], set[str]]]:
        """:meth:`run_ips` for every IP (a honeypot threshold of one family judges them all)."""
        found: dict[str, tuple[set[str], set[str]]] = {}
        for rule_id, aggs in self.by_rule.items():
            for ip in aggs:
                entry = found.get(ip)
                if entry is None:
                    entry = found[ip] = (set(), self.tagged.get(ip, set()))
                entry[0].add(rule_id)
        return found


@dataclass(frozen=True, slots=True)
class _QueryRunKey:
    rule_id: str
    engine: str
    query_id: str


class _Group:
    """Pages written in the open transaction of a handle's page connection, not yet committed,
    and the counters to add to their query runs when it is."""

    __slots__ = ("calls", "opened_at", "pages", "query_runs", "rows")

    def __init__(self) -> None:
        self.opened_at: float | None = None
        self.calls = 0
        """Calls of the handle that wrote in the group."""
        self.pages = 0
        self.rows = 0
        self.query_runs: dict[int, tuple[int, int, int]] = {}
        """Query run id → (pages, credits, results) written in the group."""

    @property
    def open(self) -> bool:
        return self.opened_at is not None

    def begin(self) -> None:
        self.opened_at = time.monotonic()

    def count(self, query_run_id: int, rows: int, credits: int) -> None:
        pages, spent, results = self.query_runs.get(query_run_id, (0, 0, 0))
        self.query_runs[query_run_id] = (pages + 1, spent + credits, results + rows)
        self.pages += 1
        self.rows += rows

    def due(self) -> bool:
        """Big or old enough to commit."""
        opened = self.opened_at
        return self.rows >= GROUP_ROWS or (
            opened is not None and time.monotonic() - opened >= GROUP_SECONDS
        )


class RunHandle:
    """One run in progress: the :class:`~c2tracker.model.RunRecorder` sources write through.

    Each method commits its own transaction before returning. Use as a context manager: the
    run lock is released on exit, and an exception marks the run ``failed`` (resumable).
    """

    def __init__(
        self,
        store: Store,
        run_id: int,
        started_at: datetime,
        lock: RunLock,
        *,
        resumed: bool,
        watermark: int = 0,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.started_at = started_at
        self.lock = lock
        self.resumed = resumed
        self._query_runs: dict[int, _QueryRunKey] = {}
        self._rules: dict[int, tuple[str, str]] = {}
        self._mutex = threading.Lock()
        self._page_conn: Any = None
        """The DB-API connection pages are written on, held for the run: checking one out of
        the pool for every page cost as much as writing the page's rows."""
        self._fold: RunFold | None = (
            None if resumed else RunFold(to_micros(started_at), self._rules, watermark)
        )
        self.fold_is_whole_run = not resumed
        """True while the fold holds every observation of the run (a fresh, unfinished run)."""
        self._group = _Group()
        self._bulk = 0
        """Depth of :meth:`bulk` sections: writes are grouped while it is above zero."""
        self._frozen = _freeze_heap()
        # Plain dicts in front of the address and ASN normalisers: an lru_cache hit cost a
        # tenth of a row's whole handling. Cleared past _CACHE_LIMIT entries.
        self._kept: dict[str, str] = {}
        """Address text → its canonical text, for addresses the store keeps (nearly all): the
        value is one shared string, so the fold's keys compare by identity."""
        self._refused: dict[str, tuple[str, str]] = {}
        """Address text → (text as stored, why it is dropped)."""
        self._asns: dict[Any, str | None] = {}

    def __enter__(self) -> RunHandle:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        try:
            # Whole pages held in the group are worth keeping even when the run failed.
            try:
                self.flush()
            except StoreError:
                if exc_type is None:
                    raise
                log.warning("run %d: the last group of pages was not stored", self.run_id)
            if exc_type is not None:
                with self.store._write.begin() as conn:
                    conn.execute(
                        update(RUNS)
                        .where(RUNS.c.id == self.run_id, RUNS.c.status == "running")
                        .values(status="failed", finished_at=now())
                    )
        finally:
            self.close()

    def close(self) -> None:
        """Commits the pages held in the open group and releases the run lock (the run itself
        stays resumable until finished)."""
        with self._mutex:
            try:
                self._flush_locked()
            finally:
                self._drop_page_conn()
                self.lock.release()
                if self._frozen:
                    self._frozen = False
                    gc.unfreeze()

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """Groups the writes made inside into transactions (see the module's docstring)."""
        self._bulk += 1
        try:
            with _bulk_collector_threshold() if self._bulk == 1 else nullcontext():
                yield
        finally:
            self._bulk -= 1
            if not self._bulk:
                self.flush()

    def flush(self) -> None:
        """Commits the writes held in the open group (see the module's docstring)."""
        with self._mutex:
            self._flush_locked()

    def _open_page_conn(self) -> Any:
        conn = self.store._write.raw_connection()
        if self.store.dialect == "sqlite":
            # Every row's query run was checked to be this run's (_key) before the row was
            # built, so SQLite's per-row foreign-key lookup only repeats that check, and cost
            # as much as writing the row. The connection is discarded, never pooled, after.
            cursor = conn.cursor()
            cursor.execute("PRAGMA foreign_keys=OFF")
            cursor.close()
        return conn

    def _drop_page_conn(self) -> None:
        conn, self._page_conn = self._page_conn, None
        if conn is not None:
            conn.invalidate()

    # --------------------------------------------------------------------- RunRecorder

    def start_query(self, rule_id: str, engine: QueryEngine | str, query: str) -> int:
        engine_name = str(engine.value if isinstance(engine, QueryEngine) else engine)
        qid = (
            query_id(rule_id, engine_name, query)
            if engine_name in _ENGINES
            else _pseudo_query_id(rule_id, engine_name, query)
        )
        sql = self.store._sql

        def register(cursor: Any) -> int:
            cursor.execute(sql.select_query_run, (self.run_id, qid))
            row = cursor.fetchone()
            if row is not None:
                if row[1] != QueryOutcome.OK.value:
                    cursor.execute(sql.reopen_query_run, (QueryOutcome.PENDING.value, row[0]))
                return int(row[0])
            cursor.execute(
                sql.insert_query_run,
                (
                    self.run_id,
                    rule_id,
                    engine_name,
                    query,
                    qid,
                    QueryOutcome.PENDING.value,
                    to_micros(now()),
                ),
            )
            return int(cursor.fetchone()[0])

        qrid = self._join_or_commit(register, f"starting query {qid}")
        self._remember(qrid, _QueryRunKey(rule_id, engine_name, qid))
        return qrid

    def stored_pages(self, query_run_id: int) -> Sequence[PageCheckpoint]:
        self.flush()
        with self.store._read.connect() as conn:
            rows = conn.execute(
                select(PAGES.c.page, PAGES.c.next_token, PAGES.c.total, PAGES.c.credits)
                .where(PAGES.c.query_run_id == query_run_id)
                .order_by(PAGES.c.page)
            ).all()
        return [PageCheckpoint(r.page, r.next_token, r.total, r.credits) for r in rows]

    def record_page(
        self,
        query_run_id: int,
        page: int,
        observations: Sequence[Observation],
        *,
        credits: int,
        next_token: str | None = None,
        total: int | None = None,
    ) -> None:
        key = self._key(query_run_id)
        rows = self._rows(query_run_id, key, observations)
        self._store_rows(
            query_run_id, page, rows, credits=credits, next_token=next_token, total=total
        )

    def record_rows(
        self, query_run_id: int, page: int, rows: Sequence[tuple[Any, ...]], *, credits: int = 0
    ) -> None:
        """Stores pre-built observation rows, tuples in :data:`ROW_COLUMNS` order with addresses
        already classified (the importer's fast path)."""
        self._key(query_run_id)
        self._store_rows(query_run_id, page, rows, credits=credits, next_token=None, total=None)

    def finish_query(
        self,
        query_run_id: int,
        outcome: QueryOutcome,
        *,
        reason: str | None = None,
        duration_s: float | None = None,
    ) -> None:
        values = (
            QueryOutcome(outcome).value,
            column_text(reason),
            duration_s,
            to_micros(now()),
            query_run_id,
        )

        def record(cursor: Any) -> None:
            cursor.execute(self.store._sql.finish_query_run, values)

        self._join_or_commit(record, f"finishing query run {query_run_id}")

    def last_result_count(self, rule_id: str, engine: QueryEngine, query: str) -> int | None:
        return self.store.last_result_count(rule_id, engine, query)

    # ------------------------------------------- for finish_run, which holds self._mutex

    def take_fold(self, watermark: int) -> RunFold | None:
        """The fold of the run's observations above ``watermark`` (the stored one), or None
        when this handle cannot vouch for it (resumed, or the watermark moved elsewhere)."""
        fold = self._fold
        return fold if fold is not None and fold.base == watermark else None

    def empty_fold(self) -> RunFold:
        """A fold for rebuilding from stored rows, knowing every query run of the run."""
        with self.store._read.connect() as conn:
            for row in conn.execute(
                select(
                    QUERY_RUNS.c.id,
                    QUERY_RUNS.c.rule_id,
                    QUERY_RUNS.c.engine,
                    QUERY_RUNS.c.query_id,
                ).where(QUERY_RUNS.c.run_id == self.run_id)
            ):
                self._remember(int(row.id), _QueryRunKey(row.rule_id, row.engine, row.query_id))
        return RunFold(to_micros(self.started_at), self._rules, -1)

    def folded(self, watermark: int) -> None:
        """The finish committed up to ``watermark``: later pages start a new fold."""
        self._fold = RunFold(to_micros(self.started_at), self._rules, watermark)
        self.fold_is_whole_run = False

    # ----------------------------------------------------------------------- internals

    def _remember(self, query_run_id: int, key: _QueryRunKey) -> None:
        self._query_runs[query_run_id] = key
        self._rules[query_run_id] = (key.rule_id, key.engine)

    def _store_rows(
        self,
        query_run_id: int,
        page: int,
        rows: Sequence[tuple[Any, ...]],
        *,
        credits: int,
        next_token: str | None,
        total: int | None,
    ) -> None:
        sql = self.store._sql
        with self._mutex:
            try:
                cursor = self._group_cursor()
                group = self._group
                cursor.execute(
                    sql.insert_page,
                    (query_run_id, page, next_token, total, credits, len(rows), to_micros(now())),
                )
                if cursor.rowcount == 0:
                    log.debug("page %d of query run %d is already stored", page, query_run_id)
                else:
                    group.count(query_run_id, len(rows), credits)
                    for start in range(0, len(rows), BATCH_ROWS):
                        text, batch = dump_batch(rows[start : start + BATCH_ROWS])
                        cursor.execute(
                            sql.insert_batch,
                            (self.run_id, query_run_id, page, len(batch), text),
                        )
                        batch_id = int(cursor.fetchone()[0])
                        if self._fold is not None:
                            # Folded while the rows are fresh in memory; a group that is rolled
                            # back takes the whole fold with it (_abandon_group).
                            self._fold.add_rows(query_run_id, batch_id, batch)
            except BaseException as exc:
                self._abandon_group(exc, f"storing page {page} of query run {query_run_id}")
                raise
            if credits > 0 or not self._bulk or group.due():
                self._flush_locked()

    def _group_cursor(self) -> Any:
        """A cursor of the page connection inside the open group, opening both if need be.
        The caller holds ``self._mutex``."""
        raw = self._page_conn
        if raw is None:
            raw = self._page_conn = self._open_page_conn()
        cursor = raw.cursor()
        if not self._group.open:
            if self.store.dialect == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
            self._group.begin()
        self._group.calls += 1
        return cursor

    def _flush_locked(self) -> None:
        """Commits the open group with its counters. The caller holds ``self._mutex``."""
        group = self._group
        if not group.open:
            return
        raw = self._page_conn
        sql = self.store._sql
        try:
            cursor = raw.cursor()
            for query_run_id, (pages, credits, results) in group.query_runs.items():
                cursor.execute(sql.count_query_run, (pages, credits, results, query_run_id))
            if group.rows:
                cursor.execute(sql.count_run, (group.rows, self.run_id))
            raw.commit()
        except BaseException as exc:
            self._abandon_group(exc, f"committing {group.pages} page(s) of run {self.run_id}")
            raise
        self._group = _Group()

    def _join_or_commit(self, work: Callable[[Any], _T], doing: str) -> _T:
        """Runs ``work(cursor)`` on the page connection: inside a bulk section in its group
        (opened if need be), to be committed with it (a crash loses both, and a resumed run
        does both again), otherwise in a transaction of its own, committed before returning."""
        with self._mutex:
            try:
                result = work(self._group_cursor())
            except BaseException as exc:
                self._abandon_group(exc, doing)
                raise
            if not self._bulk:
                self._flush_locked()
            return result

    def _abandon_group(self, exc: BaseException, doing: str) -> None:
        """Rolls the open transaction back (the group's pages are not stored: a resume fetches
        them again) and turns a driver error into a :class:`StoreError`."""
        lost, self._group = self._group, _Group()
        if lost.pages or lost.calls > 1:
            # Rows folded from the lost group, or batch ids handed out in it that may be given
            # again: the fold is not trusted any more (the finish rebuilds it from the stored
            # batches); query runs started in it are gone, so they are looked up again (and
            # refused).
            self._fold = None
            self.fold_is_whole_run = False
            self._query_runs.clear()
            self._rules.clear()
        raw = self._page_conn
        if raw is not None:
            try:
                raw.rollback()
            except Exception:  # the connection is dropped below anyway
                log.debug("rollback after a failed page write failed", exc_info=True)
        if isinstance(exc, self.store._write.dialect.loaded_dbapi.Error):
            # The connection may be broken: the next page takes a fresh one.
            self._drop_page_conn()
            raise StoreError(
                f"{doing} failed: {exc}"
                + (f" ({lost.pages} page(s) of the open group not stored)" if lost.pages else "")
            ) from exc

    def _key(self, query_run_id: int) -> _QueryRunKey:
        key = self._query_runs.get(query_run_id)
        if key is None:
            with self.store._read.connect() as conn:
                row = conn.execute(
                    select(QUERY_RUNS.c.rule_id, QUERY_RUNS.c.engine, QUERY_RUNS.c.query_id).where(
                        QUERY_RUNS.c.id == query_run_id, QUERY_RUNS.c.run_id == self.run_id
                    )
                ).first()
            if row is None:
                raise StoreError(f"query run {query_run_id} does not belong to run {self.run_id}")
            key = _QueryRunKey(row.rule_id, row.engine, row.query_id)
            self._remember(query_run_id, key)
        return key

    def _classify(self, text: str) -> tuple[str, str | None]:
        """(address as stored, why it is dropped or None) for an address the caches lack;
        remembers the answer in the cache it belongs to."""
        ip, drop = classify_ip(text)
        if drop is None:
            self._kept[text] = ip
        else:
            self._refused[text] = (ip, drop)
        return ip, drop

    def _rows(
        self, query_run_id: int, key: _QueryRunKey, observations: Sequence[Observation]
    ) -> list[tuple[Any, ...]]:
        """The observations as rows in :data:`ROW_COLUMNS` order: addresses normalised and
        bogons marked, ports checked, record times clamped to now. One loop with everything
        bound locally: it runs for every observation."""
        rule_id = key.rule_id
        stamp = to_micros(now())
        transports = _TRANSPORTS
        kept, refused, asns = self._kept, self._refused, self._asns
        for cache in (kept, refused, asns):
            if len(cache) > _CACHE_LIMIT:
                cache.clear()
        canonical_asn = _CANONICAL_ASN
        rows: list[tuple[Any, ...]] = []
        append = rows.append
        for obs in observations:
            if obs.rule_id != rule_id:
                raise StoreError(
                    f"observation of rule {obs.rule_id!r} recorded on a query run of {rule_id!r}"
                )
            text = obs.ip
            ip = kept.get(text)
            drop: str | None = None
            if ip is None:
                ip, drop = refused.get(text) or self._classify(text)
            asn = obs.asn
            # A canonical "AS<digits>" is taken as it is: checking it costs less than finding
            # it among tens of thousands of cached ASNs.
            if type(asn) is not str or canonical_asn(asn) is None:
                asn = asns.get(obs.asn, _MISSING)
                if asn is _MISSING:
                    asn = asns[obs.asn] = normalize_asn(obs.asn)
            port = obs.port
            if port is not None and (type(port) is not int or not 0 <= port <= 65535):
                try:
                    port = normalize_port(port)
                except StoreError as exc:
                    port, drop = None, drop or exc.message
            # micros(), inlined: this loop runs for every observation.
            stamped = obs.timestamp
            seen: int | None = None
            if stamped is not None:
                if stamped.tzinfo is None:
                    stamped = stamped.replace(tzinfo=UTC)
                seen = round(stamped.timestamp() * 1_000_000)
                if seen > stamp:
                    seen = stamp
            transport = transports.get(obs.transport)
            if transport is None:
                transport = (obs.transport or "tcp").lower()[:8]
            append(
                (
                    ip,
                    port,
                    transport,
                    seen,
                    obs.evidence,
                    obs.hostnames or None,
                    asn,
                    obs.org,
                    obs.country,
                    obs.tags or None,
                    obs.source,
                    drop,
                )
            )
        return rows


@dataclass(frozen=True, slots=True)
class HotSql:
    """The page-writing statements in the driver's own parameter style."""

    insert_page: str
    insert_batch: str
    count_query_run: str
    count_run: str
    select_query_run: str
    reopen_query_run: str
    insert_query_run: str
    finish_query_run: str

    @classmethod
    def for_dialect(cls, dialect: str) -> HotSql:
        mark = param_mark(dialect)

        def marks(n: int) -> str:
            return ", ".join([mark] * n)

        return cls(
            insert_page=(
                "INSERT INTO pages (query_run_id, page, next_token, total, credits, "
                f"observations, stored_at) VALUES ({marks(7)}) "
                "ON CONFLICT (query_run_id, page) DO NOTHING"
            ),
            insert_batch=(
                "INSERT INTO observation_batches (run_id, query_run_id, page, observations, rows) "
                f"VALUES ({marks(5)}) RETURNING id"
            ),
            count_query_run=(
                f"UPDATE query_runs SET pages = pages + {mark}, credits = credits + {mark}, "
                f"results = results + {mark} WHERE id = {mark}"
            ),
            count_run=f"UPDATE runs SET observations = observations + {mark} WHERE id = {mark}",
            select_query_run=(
                f"SELECT id, outcome FROM query_runs WHERE run_id = {mark} AND query_id = {mark}"
            ),
            reopen_query_run=(
                f"UPDATE query_runs SET outcome = {mark}, reason = NULL WHERE id = {mark}"
            ),
            insert_query_run=(
                "INSERT INTO query_runs (run_id, rule_id, engine, query, query_id, outcome, "
                f"pages, credits, results, started_at) VALUES ({marks(6)}, 0, 0, 0, {mark}) "
                "RETURNING id"
            ),
            finish_query_run=(
                f"UPDATE query_runs SET outcome = {mark}, reason = {mark}, duration_s = {mark}, "
                f"finished_at = {mark} WHERE id = {mark}"
            ),
        )


def param_mark(dialect: str) -> str:
    """The DB-API parameter marker of the store's drivers (sqlite3: qmark, psycopg: format)."""
    return "?" if dialect == "sqlite" else "%s"


def _pseudo_query_id(rule_id: str, engine: str, query: str) -> str:
    """Like :func:`query_id` for a non-engine source such as an imported feed file."""
    digest = hashlib.sha256(query.strip().encode("utf-8")).hexdigest()[:8]
    return f"{rule_id}:{engine}:{digest}"
