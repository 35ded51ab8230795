"""Finishing a run: folding its observations into indicators.

Steps, in order (docs/store.md, "Writing a run"): 1. bogons (marked on each observation when
it was stored), 2. the allowlist, 3. honeypots, 4. the lifecycle, 5. confidence. All of it is
one transaction, which also moves the run's watermark (``runs.applied_batch_id``) past the
observation batches it folded, so finishing is idempotent and a crash in the middle changes
nothing.

The merge per IP and family comes from the run handle's :class:`~c2tracker.store.ingest.RunFold`
(built as pages were stored), or is rebuilt from the stored batches above the watermark when
the handle cannot vouch for it (a resumed run). Indicators are then written with
``executemany`` of plain tuples in key order, and the batches holding each address are added
to the by-address table in the same order.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
from sqlalchemy import Connection, bindparam, func, insert, select, update

from c2tracker.filters.allowlist import AllowMatcher
from c2tracker.filters.honeypots import HONEYPOT_TAG, HoneypotVerdict, judge
from c2tracker.model import Category, Fidelity, IndicatorStatus, QueryOutcome
from c2tracker.store import confidence, lifecycle, policy
from c2tracker.store.confidence import Factors
from c2tracker.store.ingest import (
    ROW_IP,
    ROW_TAGS,
    PairAgg,
    RunFold,
    RunHandle,
    kept_rows,
    param_mark,
)
from c2tracker.store.models import from_micros, to_micros
from c2tracker.store.rulemeta import RuleMeta, family_keys, name_key, query_fidelities
from c2tracker.store.tables import (
    BATCHES,
    FAMILIES,
    IN_CHUNK,
    INDICATORS,
    MICROS_PER_DAY,
    QUERY_RUNS,
    RUNS,
    UNKNOWN_QUERY_FIDELITY,
    dumps,
    loads_list,
    now,
)
from c2tracker.store.values import column_text

if TYPE_CHECKING:
    from c2tracker.store.store import Store

log = logging.getLogger(__name__)

_ACTIVE = IndicatorStatus.ACTIVE.value

_OK_FOR_STATUS = {QueryOutcome.OK.value, QueryOutcome.SKIPPED_EMPTY.value}

#: Columns the lifecycle step may change on an indicator nobody saw this run.
_SETTLED = ("status", "status_reason", "expired", "valid_until", "confidence")

#: Columns of a new indicator, in the order the insert takes them.
_INSERT_COLUMNS = (
    "ip",
    "rule_id",
    "first_seen",
    "last_seen",
    "times_seen",
    "ports",
    "engines",
    "queries",
    "confidence",
    "status",
    "status_reason",
    "valid_until",
    "expired",
    "honeypot_reason",
    "cohosted",
    "asn",
    "org",
    "country",
    "hostnames",
    "first_run_id",
    "last_run_id",
    "status_changed_at",
)

#: Columns a run may change on a stored indicator: all but its key and the run that made it.
_UPDATE_COLUMNS = tuple(c for c in _INSERT_COLUMNS if c not in {"ip", "rule_id", "first_run_id"})

_TIME_COLUMNS = frozenset({"first_seen", "last_seen", "valid_until", "status_changed_at"})


@contextmanager
def _paused_gc() -> Iterator[None]:
    """Pauses Python's cyclic garbage collector while a run is finished.

    Finishing a big run allocates hundreds of thousands of small containers (indicator rows,
    by-address entries) beside the run's fold, none in reference cycles. Each allocation burst
    made the collector walk all of them again. Reference counting still frees everything as
    usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(slots=True)
class FinishReport:
    """What :meth:`Store.finish_run` did."""

    run_id: int
    status: str
    observations: int = 0
    dropped: int = 0
    new: int = 0
    updated: int = 0
    expired: int = 0
    honeypots: int = 0


class Finisher:
    """One application of :meth:`Store.finish_run` (steps in :meth:`run`). The caller holds
    the run lock and the handle's mutex."""

    def __init__(self, store: Store, handle: RunHandle, rules: list[RuleMeta]) -> None:
        self.store = store
        self.handle = handle
        self.rules = rules
        self.run_id = handle.run_id
        self.report = FinishReport(run_id=handle.run_id, status="running")

    def run(self) -> FinishReport:
        with _paused_gc():
            # The run's fold and what was built from it are dropped before the collector
            # resumes, so it does not walk a million dead containers.
            return self._run()

    def _run(self) -> FinishReport:
        store = self.store
        with store._write.begin() as conn:
            self._refresh_families(conn)
            run_row = conn.execute(select(RUNS).where(RUNS.c.id == self.run_id)).one()
            run_time = run_row.started_at
            query_runs = self._query_runs(conn)

            # The run lock keeps every other run from writing observations, so nothing above
            # the current highest batch id can belong to another run.
            watermark = int(run_row.applied_batch_id)
            top_id = max(int(conn.execute(select(func.max(BATCHES.c.id))).scalar() or 0), 0)
            fold = self.handle.take_fold(watermark)
            if fold is not None and fold.observations != self._stored(conn, watermark, top_id):
                # Rows this handle did not write (a misuse, such as recording without the
                # lock): trust the database.
                log.warning("run %d: stored observations differ from the run's", self.run_id)
                fold = None
            whole_run = fold is not None and self.handle.fold_is_whole_run
            if fold is None:
                fold = self._rebuild(conn, watermark, top_id)
            self.report.observations = fold.observations
            self.report.dropped = fold.dropped
            if not whole_run:
                run_ips = self._run_ip_families(conn, query_runs)
            elif self.store.settings.honeypot_min_families <= 1:
                run_ips = fold.all_ips()
            else:
                run_ips = fold.run_ips()

            keys = self._family_keys(conn)
            verdicts = self._verdicts(run_ips, keys)
            honeypot_ips = {ip for ip, verdict in verdicts.items() if verdict.is_honeypot}
            self.report.honeypots = len(honeypot_ips)

            clock = policy.check_clock(conn, self.rules)
            settler = _Settler(
                report=self.report,
                clock=clock,
                windows=policy.Windows(conn, store.settings),
                revoked=policy.revocations(conn),
                matcher=policy.allow_matcher(conn),
                dual_use=dict(conn.execute(select(FAMILIES.c.rule_id, FAMILIES.c.dual_use)).all()),
                fidelity=query_fidelities(self.rules),
                latest_run=policy.latest_run_time(conn) or run_time,
            )
            existing = self._existing(conn, fold, honeypot_ips)
            # In key order: indicators and by-address entries are then written like appends.
            pairs = sorted(fold.pairs(), key=_address_of)
            new_rows, changed = self._merge(
                pairs, query_runs, existing, verdicts, honeypot_ips, settler
            )

            # Lifecycle candidates: active indicators whose window closed before the newest
            # check. Touched and honeypot-affected rows are already in hand.
            candidates: dict[int, dict[str, Any]] = {}
            newest_check = max(clock.last_check.values(), default=None)
            if newest_check is not None:
                for row in conn.execute(
                    select(INDICATORS).where(
                        INDICATORS.c.expired.is_(False),
                        INDICATORS.c.valid_until < newest_check,
                    )
                ):
                    if row.id not in changed:
                        candidates[row.id] = dict(row._mapping)

            for values in changed.values():
                settler.settle(values)
            for row_id, values in candidates.items():
                before = tuple(values[c] for c in _SETTLED)
                settler.settle(values)
                if before != tuple(values[c] for c in _SETTLED):
                    changed[row_id] = values

            self._write_indicators(conn, new_rows, list(changed.values()))
            self._index_sightings(conn, pairs)

            status = self._run_status(query_runs)
            applied = max(top_id, watermark)
            conn.execute(
                update(RUNS)
                .where(RUNS.c.id == self.run_id)
                .values(status=status, finished_at=now(), applied_batch_id=applied)
            )
        self.handle.folded(applied)
        self.report.status = status
        self.report.new = len(new_rows)
        self.report.updated = len(changed)
        log.info(
            "run %d finished (%s): %d observations, %d dropped, %d new and %d updated "
            "indicators, %d expired, %d honeypot IPs",
            self.run_id,
            status,
            self.report.observations,
            self.report.dropped,
            self.report.new,
            self.report.updated,
            self.report.expired,
            self.report.honeypots,
        )
        return self.report

    # ------------------------------------------------------------------------- reading

    def _refresh_families(self, conn: Connection) -> None:
        if not self.rules:
            return
        stamp = now()
        known = {row[0] for row in conn.execute(select(FAMILIES.c.rule_id))}
        rows = [
            {
                "rule_id": rule.id,
                "name": rule.name,
                "feed_name": rule.feed_name or rule.name,
                "category": Category(rule.category).value,
                "kind": rule.kind,
                "dual_use": bool(rule.dual_use),
                "malpedia": dumps(list(rule.malpedia)),
                "mitre": dumps(list(rule.mitre)),
                "aliases": dumps(list(rule.aliases)),
                "synthetic": False,
                "updated_at": stamp,
            }
            for rule in self.rules
        ]
        fresh = [row for row in rows if row["rule_id"] not in known]
        stale = [{**row, "_rule_id": row["rule_id"]} for row in rows if row["rule_id"] in known]
        if fresh:
            conn.execute(insert(FAMILIES), fresh)
        if stale:
            columns = [c for c in rows[0] if c != "rule_id"]
            conn.execute(
                update(FAMILIES)
                .where(FAMILIES.c.rule_id == bindparam("_rule_id"))
                .values({c: bindparam(c) for c in columns}),
                [{k: v for k, v in row.items() if k != "rule_id"} for row in stale],
            )

    def _query_runs(self, conn: Connection) -> dict[int, tuple[str, str, str, str]]:
        return {
            row.id: (row.rule_id, row.engine, row.query_id, row.outcome)
            for row in conn.execute(
                select(
                    QUERY_RUNS.c.id,
                    QUERY_RUNS.c.rule_id,
                    QUERY_RUNS.c.engine,
                    QUERY_RUNS.c.query_id,
                    QUERY_RUNS.c.outcome,
                ).where(QUERY_RUNS.c.run_id == self.run_id)
            )
        }

    def _stored(self, conn: Connection, watermark: int, top_id: int) -> int:
        """How many of the run's observations lie in batches above the watermark."""
        count = conn.execute(
            select(func.sum(BATCHES.c.observations)).where(
                BATCHES.c.run_id == self.run_id,
                BATCHES.c.id > watermark,
                BATCHES.c.id <= top_id,
            )
        ).scalar()
        return int(count or 0)

    def _rebuild(self, conn: Connection, watermark: int, top_id: int) -> RunFold:
        """The fold of the run's stored batches above the watermark, read in id order."""
        fold = self.handle.empty_fold()
        query = (
            select(BATCHES.c.query_run_id, BATCHES.c.id, BATCHES.c.rows)
            .where(
                BATCHES.c.run_id == self.run_id,
                BATCHES.c.id > watermark,
                BATCHES.c.id <= top_id,
            )
            .order_by(BATCHES.c.id)
        )
        for query_run_id, batch_id, rows in conn.execute(query.execution_options(yield_per=200)):
            fold.add_rows(query_run_id, batch_id, orjson.loads(rows))
        return fold

    def _run_ip_families(
        self, conn: Connection, query_runs: dict[int, tuple[str, str, str, str]]
    ) -> dict[str, tuple[set[str], set[str]]]:
        """Per IP families and honeypot tags over the whole run (re-application after resume)."""
        run_ips: dict[str, tuple[set[str], set[str]]] = {}
        query = select(BATCHES.c.query_run_id, BATCHES.c.rows).where(
            BATCHES.c.run_id == self.run_id
        )
        for query_run_id, rows in conn.execute(query.execution_options(yield_per=200)):
            rule_id, engine, _, _ = query_runs[query_run_id]
            for row in kept_rows(rows):
                families, tagged = run_ips.setdefault(row[ROW_IP], (set(), set()))
                families.add(rule_id)
                if row[ROW_TAGS] and HONEYPOT_TAG in row[ROW_TAGS]:
                    tagged.add(engine)
        return run_ips

    def _family_keys(self, conn: Connection) -> dict[str, set[str]]:
        keys = {rule.id: family_keys(rule) for rule in self.rules}
        for rule_id, name, feed_name, aliases in conn.execute(
            select(FAMILIES.c.rule_id, FAMILIES.c.name, FAMILIES.c.feed_name, FAMILIES.c.aliases)
        ):
            if rule_id not in keys:
                names = [rule_id, name, feed_name, *loads_list(aliases)]
                keys[rule_id] = {name_key(n) for n in names if n and name_key(n)}
        return keys

    def _verdicts(
        self, run_ips: dict[str, tuple[set[str], set[str]]], keys: dict[str, set[str]]
    ) -> dict[str, HoneypotVerdict]:
        """Step 3's verdict for every IP it can concern. An untagged IP seen as one family is
        one independent group: neither a honeypot (unless the threshold is 1) nor co-hosted,
        which is what an IP without a verdict means, so those are not judged one by one."""
        minimum = self.store.settings.honeypot_min_families
        return {
            ip: judge(families, keys, min_families=minimum, tagged_by=tagged)
            for ip, (families, tagged) in run_ips.items()
            if len(families) > 1 or tagged or minimum <= 1
        }

    def _existing(
        self, conn: Connection, fold: RunFold, honeypot_ips: set[str]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """Stored indicators of every IP in the fold, and of every family of a honeypot IP."""
        existing: dict[tuple[str, str], dict[str, Any]] = {}
        if conn.execute(select(INDICATORS.c.id).limit(1)).first() is None:
            return existing
        ips = sorted(fold.ips() | honeypot_ips)
        for start in range(0, len(ips), IN_CHUNK):
            chunk = ips[start : start + IN_CHUNK]
            for row in conn.execute(select(INDICATORS).where(INDICATORS.c.ip.in_(chunk))):
                existing[(row.ip, row.rule_id)] = dict(row._mapping)
        return existing

    # ------------------------------------------------------------------------- merging

    def _merge(
        self,
        pairs: list[tuple[tuple[str, str], PairAgg]],
        query_runs: dict[int, tuple[str, str, str, str]],
        existing: dict[tuple[str, str], dict[str, Any]],
        verdicts: dict[str, HoneypotVerdict],
        honeypot_ips: set[str],
        settler: _Settler,
    ) -> tuple[list[tuple[Any, ...]], dict[int, dict[str, Any]]]:
        """Step 3 (honeypots) and the merge of new sightings into stored indicators; new
        indicators come back settled, as tuples in :data:`_INSERT_COLUMNS` order."""
        new_rows: list[tuple[Any, ...]] = []
        changed: dict[int, dict[str, Any]] = {}
        found_by: dict[frozenset[int], tuple[list[str], list[str], str, str]] = {}
        # Most indicators of a run share one of a few port sets.
        port_texts: dict[frozenset[int], str] = {}
        decide, run_id = settler.decide, self.run_id

        for key, agg in pairs:
            ip, rule_id = key
            verdict = verdicts.get(ip)
            honeypot = verdict.reason if verdict is not None and verdict.is_honeypot else None
            cohosted = max(verdict.groups - 1, 0) if verdict is not None else 0
            # Many pairs share the same set of finding queries: name it once.
            qrids = frozenset(agg.query_runs)
            names = found_by.get(qrids)
            if names is None:
                engine_list = sorted({query_runs[q][1] for q in qrids})
                query_list = sorted({query_runs[q][2] for q in qrids})
                names = found_by[qrids] = (
                    engine_list,
                    query_list,
                    dumps(engine_list),
                    dumps(query_list),
                )
            engines, queries, engines_text, queries_text = names
            stored = existing.get(key) if existing else None
            if stored is None:
                port_set = frozenset(agg.ports)
                ports_text = port_texts.get(port_set)
                if ports_text is None:
                    ports_text = port_texts[port_set] = dumps(sorted(port_set))
                settled = decide(
                    ip,
                    rule_id,
                    agg.asn,
                    queries_text,
                    engines_text,
                    1,
                    honeypot,
                    cohosted,
                    agg.last,
                )
                if settled.expired:
                    self.report.expired += 1
                new_rows.append(
                    (
                        ip,
                        rule_id,
                        agg.first,
                        agg.last,
                        1,
                        ports_text,
                        engines_text,
                        queries_text,
                        settled.confidence,
                        settled.status,
                        settled.reason,
                        settled.valid_until,
                        settled.expired,
                        honeypot,
                        cohosted,
                        agg.asn,
                        column_text(agg.org),
                        column_text(agg.country),
                        dumps(sorted(agg.hostnames)[:50]) if agg.hostnames else "[]",
                        run_id,
                        run_id,
                        None,
                    )
                )
                continue
            values = dict(stored)
            first = min(to_micros(values["first_seen"]), agg.first)
            last = max(to_micros(values["last_seen"]), agg.last)
            if agg.last >= to_micros(values["last_seen"]):
                values["asn"] = agg.asn or values["asn"]
                values["org"] = column_text(agg.org) or values["org"]
                values["country"] = column_text(agg.country) or values["country"]
            values["first_seen"] = from_micros(first)
            values["last_seen"] = from_micros(last)
            if values["last_run_id"] != self.run_id:
                values["times_seen"] += 1
                values["last_run_id"] = max(values["last_run_id"], self.run_id)
            values["ports"] = _union(values["ports"], agg.ports)
            values["engines"] = _union(values["engines"], engines)
            values["queries"] = _union(values["queries"], queries)
            values["hostnames"] = dumps(
                sorted(set(loads_list(values["hostnames"])) | (agg.hostnames or set()))[:50]
            )
            values["honeypot_reason"] = honeypot
            values["cohosted"] = cohosted
            changed[values["id"]] = values

        # A honeypot taints every family the IP is stored under, seen this run or not.
        for (ip, _), stored in existing.items():
            if ip in honeypot_ips and stored["id"] not in changed:
                values = dict(stored)
                values["honeypot_reason"] = verdicts[ip].reason
                changed[values["id"]] = values
        return new_rows, changed

    # ------------------------------------------------------------------------- writing

    def _write_indicators(
        self, conn: Connection, new_rows: list[tuple[Any, ...]], updates: list[dict[str, Any]]
    ) -> None:
        # Driver-level executemany of plain tuples: at hundreds of thousands of indicators
        # the per-row work of typed bind parameters costs more than the database does.
        mark = param_mark(conn.dialect.name)
        if new_rows:
            conn.exec_driver_sql(
                f"INSERT INTO indicators ({', '.join(_INSERT_COLUMNS)}) "
                f"VALUES ({', '.join([mark] * len(_INSERT_COLUMNS))})",
                new_rows,
            )
        if updates:
            assignments = ", ".join(f"{c} = {mark}" for c in _UPDATE_COLUMNS)
            conn.exec_driver_sql(
                f"UPDATE indicators SET {assignments} WHERE id = {mark}",
                [(*_as_params(row, _UPDATE_COLUMNS), row["id"]) for row in updates],
            )

    def _index_sightings(
        self, conn: Connection, pairs: list[tuple[tuple[str, str], PairAgg]]
    ) -> None:
        """Makes the folded observations findable by address: one ``observation_ips`` entry
        per address listing its batches, written in key order (``pairs`` is sorted by IP) so
        the table's B-tree is filled like an append."""
        entries: list[tuple[str, int, str]] = []
        ip: str | None = None
        batches: list[int] = []
        for (pair_ip, _), agg in pairs:
            if pair_ip != ip:
                if batches:
                    entries.append((ip, batches[0], dumps(batches)))  # type: ignore[arg-type]
                ip, batches = pair_ip, agg.batches
            else:
                # Another family of the same address: its batches are other query runs'.
                batches = sorted({*batches, *agg.batches})
        if batches:
            entries.append((ip, batches[0], dumps(batches)))  # type: ignore[arg-type]
        if entries:
            mark = param_mark(conn.dialect.name)
            conn.exec_driver_sql(
                "INSERT INTO observation_ips (ip, batch_id, batches) "
                f"VALUES ({mark}, {mark}, {mark}) ON CONFLICT DO NOTHING",
                entries,
            )

    def _run_status(self, query_runs: dict[int, tuple[str, str, str, str]]) -> str:
        outcomes = [outcome for *_, outcome in query_runs.values()]
        if all(o in _OK_FOR_STATUS for o in outcomes):
            return "ok"
        if not any(o == QueryOutcome.OK.value for o in outcomes) and any(
            o in (QueryOutcome.FAILED.value, QueryOutcome.PENDING.value) for o in outcomes
        ):
            return "failed"
        return "partial"


class Settled(NamedTuple):
    """What steps 2, 4 and 5 decide for one indicator (a named tuple: one is made for every
    indicator a run touches)."""

    valid_until: int
    """Microseconds since the epoch."""
    expired: bool
    confidence: int
    status: str
    reason: str | None


class _Settler:
    """Steps 2, 4 and 5 for one indicator at a time: allowlist, lifecycle, confidence and
    status (:mod:`~c2tracker.store.lifecycle`, :mod:`~c2tracker.store.confidence`).

    Times are integer microseconds here, as stored; datetimes are made only for the status
    reasons that print dates. Results that depend on few inputs (the clock and fidelity of a
    set of queries, the score of a set of factors) are remembered, as a big run repeats them
    for most of its indicators.
    """

    def __init__(
        self,
        *,
        report: FinishReport,
        clock: lifecycle.CheckClock,
        windows: policy.Windows,
        revoked: policy.Revoked,
        matcher: AllowMatcher,
        dual_use: dict[str, bool],
        fidelity: dict[str, Fidelity],
        latest_run: datetime,
    ) -> None:
        self.report = report
        self.clock = clock
        self.windows = windows
        self.revoked = revoked
        self.matcher = matcher
        self.dual_use = dual_use
        self.fidelity = fidelity
        self.latest_run = latest_run
        self._latest_run = to_micros(latest_run)
        self._nothing_listed = not revoked and not matcher
        """No revocation and no allowlist entry can apply to any indicator."""
        self.changed_at = now()
        """The time a status this finish changes is stamped with."""
        self._queries: dict[tuple[str, str], tuple[int, datetime | None, Fidelity]] = {}
        self._engines: dict[str, int] = {}
        self._scores: dict[Factors, int] = {}
        self._decided: dict[
            tuple[str, str, str, int, bool, int], tuple[int, datetime | None, int | None, int]
        ] = {}

    def settle(self, values: dict[str, Any]) -> None:
        """Settles an indicator held as a dict of column values (datetimes for times), and
        stamps ``status_changed_at`` when its status changes."""
        settled = self.decide(
            values["ip"],
            values["rule_id"],
            values["asn"],
            values["queries"],
            values["engines"],
            values["times_seen"],
            values["honeypot_reason"],
            values.get("cohosted") or 0,
            to_micros(values["last_seen"]),
        )
        if settled.expired and not values.get("expired"):
            self.report.expired += 1
        values["valid_until"] = from_micros(settled.valid_until)
        values["expired"] = settled.expired
        values["confidence"] = settled.confidence
        if settled.status != values["status"]:
            values["status_changed_at"] = self.changed_at
        values["status"] = settled.status
        values["status_reason"] = settled.reason

    def decide(
        self,
        ip: str,
        rule_id: str,
        asn: str | None,
        queries: str,
        engines: str,
        times_seen: int,
        honeypot: str | None,
        cohosted: int,
        last_seen: int,
    ) -> Settled:
        """Settles one indicator (arguments by position: this runs for every indicator a run
        touches). ``queries`` and ``engines`` are the stored JSON lists."""
        key = (rule_id, queries, engines, times_seen, honeypot is not None, cohosted)
        known = self._decided.get(key)
        if known is None:
            known = self._decided[key] = self._inputs(
                rule_id, queries, engines, times_seen, honeypot is not None, cohosted
            )
        window, when, when_us, score = known
        until = last_seen + window * MICROS_PER_DAY
        # lifecycle.is_expired, on integers: a check after the window closed.
        expired = when_us is not None and when_us > until

        revoked = allowed = None
        if not self._nothing_listed:
            # Looked up only when some revocation or allowlist entry exists: with none, nearly
            # every indicator of a big run is settled on the plain path below without them.
            revoked = policy.revoked_reason(self.revoked, ip, rule_id) if self.revoked else None
            allowed = policy.allowlisted(self.matcher, ip, asn)
        if (
            revoked is None
            and allowed is None
            and honeypot is None
            and not expired
            and self._latest_run <= until
        ):
            # lifecycle.derive_status's answer for a plain indicator inside its window.
            return Settled(until, False, score, _ACTIVE, None)
        status, reason = lifecycle.derive_status(
            lifecycle.StatusInputs(
                expired=expired,
                valid_until=from_micros(until),
                last_seen=from_micros(last_seen),
                clock=when,
                window_days=window,
                revoked=revoked,
                allowlisted=allowed,
                honeypot=honeypot,
                latest_run=self.latest_run,
            )
        )
        return Settled(until, expired, score, status.value, reason)

    def _inputs(
        self,
        rule_id: str,
        queries: str,
        engines: str,
        times_seen: int,
        honeypot: bool,
        cohosted: int,
    ) -> tuple[int, datetime | None, int | None, int]:
        """(window in days, the lifecycle clock, the same in microseconds, confidence) for the
        inputs many indicators of a run share: remembered by :meth:`decide`."""
        count, when, best = self._about_queries(rule_id, queries)
        factors = Factors(
            fidelity=best,
            queries=count,
            engines=self._independent_engines(engines),
            times_seen=times_seen,
            dual_use=bool(self.dual_use.get(rule_id, False)),
            honeypot=honeypot,
            cohosted=cohosted,
        )
        score = self._scores.get(factors)
        if score is None:
            score = self._scores[factors] = confidence.score(factors)
        return self.windows(rule_id), when, None if when is None else to_micros(when), score

    def _about_queries(self, rule_id: str, text: str) -> tuple[int, datetime | None, Fidelity]:
        """(how many, the lifecycle clock, the best fidelity) of an indicator's queries."""
        key = (rule_id, text)
        known = self._queries.get(key)
        if known is None:
            queries = loads_list(text)
            best = confidence.best_fidelity(
                self.fidelity.get(q, UNKNOWN_QUERY_FIDELITY) for q in queries
            )
            known = self._queries[key] = (len(queries), self.clock.clock(rule_id, queries), best)
        return known

    def _independent_engines(self, text: str) -> int:
        count = self._engines.get(text)
        if count is None:
            count = self._engines[text] = confidence.independent_engines(loads_list(text))
        return count


def _address_of(pair: tuple[tuple[str, str], PairAgg]) -> str:
    """Sort key of a folded pair: its IP. Comparing text is cheaper than comparing (IP, rule)
    tuples, and the families of one IP stay together, which is all the writers need."""
    return pair[0][0]


def _union(text: str, more: Iterable[Any]) -> str:
    return dumps(sorted(set(loads_list(text)) | set(more)))


def _as_params(row: dict[str, Any], columns: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(
        (None if row[c] is None else to_micros(row[c]))
        if c in _TIME_COLUMNS
        else bool(row[c])
        if c == "expired"
        else row[c]
        for c in columns
    )


__all__ = ["FinishReport", "Finisher"]
