"""Observation batches, grouped commits of free pages, the observations view and the move of
row-per-observation stores (revision 0003) into batches — on both backends."""

from __future__ import annotations

import gc
import json
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from c2tracker.errors import StoreError
from c2tracker.model import QueryOutcome
from c2tracker.store import Store, ingest, migrate

from .helpers import CS, RULES, SLIVER, T0, obs


def _count(store: Store, sql: str) -> int:
    """A count read on a connection of its own: it sees committed rows only."""
    with store._read.connect() as conn:
        return int(conn.execute(text(sql)).scalar() or 0)


def test_free_pages_wait_for_their_group_and_paid_pages_do_not(store: Store) -> None:
    q = CS.queries[0]
    with store.begin_run(["scan"]) as handle:
        with handle.bulk():
            qrid = handle.start_query(CS.id, q.engine, q.query)
            handle.record_page(qrid, 1, [obs("45.0.0.1")], credits=0)
            assert _count(store, "SELECT count(*) FROM pages") == 0
            assert _count(store, "SELECT count(*) FROM query_runs") == 0

            handle.record_page(qrid, 2, [obs("45.0.0.2")], credits=1)
            assert _count(store, "SELECT count(*) FROM pages") == 2

            handle.record_page(qrid, 3, [obs("45.0.0.3")], credits=0)
            assert [p.page for p in handle.stored_pages(qrid)] == [1, 2, 3]
            handle.record_page(qrid, 4, [obs("45.0.0.4")], credits=0)
            handle.finish_query(qrid, QueryOutcome.OK)
            assert _count(store, "SELECT count(*) FROM pages") == 3
        assert _count(store, "SELECT count(*) FROM pages") == 4
        assert _count(store, f"SELECT pages FROM query_runs WHERE id = {qrid}") == 4
        assert _count(store, f"SELECT results FROM query_runs WHERE id = {qrid}") == 4
        assert _count(store, f"SELECT credits FROM query_runs WHERE id = {qrid}") == 1
        assert store.query_runs(handle.run_id)[0].outcome == QueryOutcome.OK
        store.finish_run(handle, RULES)
    assert sorted(i.ip for i in store.iter_indicators()) == [f"45.0.0.{n}" for n in (1, 2, 3, 4)]
    assert store.runs(1)[0].observations == 4


def test_outside_a_bulk_section_every_call_commits(store: Store) -> None:
    q = CS.queries[0]
    with store.begin_run(["scan"]) as handle:
        qrid = handle.start_query(CS.id, q.engine, q.query)
        assert _count(store, "SELECT count(*) FROM query_runs") == 1
        handle.record_page(qrid, 1, [obs("45.0.0.1")], credits=0)
        assert _count(store, "SELECT count(*) FROM pages") == 1
        handle.finish_query(qrid, QueryOutcome.OK)
        assert store.query_runs(handle.run_id)[0].outcome == QueryOutcome.OK


def test_a_group_is_committed_once_it_is_big_enough(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "GROUP_ROWS", 3)
    q = CS.queries[0]
    with store.begin_run(["scan"]) as handle, handle.bulk():
        qrid = handle.start_query(CS.id, q.engine, q.query)
        handle.record_page(qrid, 1, [obs("45.0.0.1"), obs("45.0.0.2")], credits=0)
        assert _count(store, "SELECT count(*) FROM pages") == 0
        handle.record_page(qrid, 2, [obs("45.0.0.3")], credits=0)
        assert _count(store, "SELECT count(*) FROM pages") == 2


def test_a_page_recorded_twice_in_one_group_is_stored_once(store: Store) -> None:
    q = CS.queries[0]
    with store.begin_run(["scan"]) as handle:
        with handle.bulk():
            qrid = handle.start_query(CS.id, q.engine, q.query)
            handle.record_page(qrid, 1, [obs("45.0.0.1")], credits=0)
            handle.record_page(qrid, 1, [obs("45.0.0.9")], credits=0)
            handle.finish_query(qrid, QueryOutcome.OK)
        store.finish_run(handle, RULES)
    assert [i.ip for i in store.iter_indicators()] == ["45.0.0.1"]
    assert store.runs(1)[0].observations == 1


def test_a_failed_group_stores_nothing_and_leaves_no_indicator(store: Store) -> None:
    q = CS.queries[0]
    with store.begin_run(["scan"]) as handle:
        qrid = handle.start_query(CS.id, q.engine, q.query)
        handle.record_page(qrid, 1, [obs("45.0.0.1")], credits=1)
        good = store._sql
        # A counter update the database refuses makes the commit of the group fail.
        store._sql = replace(good, count_query_run="UPDATE no_such_table SET x = 1")
        with handle.bulk():
            handle.record_page(qrid, 2, [obs("45.0.0.2")], credits=0)
            handle.finish_query(qrid, QueryOutcome.OK)  # joins the open group
            with pytest.raises(StoreError, match="page"):
                handle.stored_pages(qrid)
        store._sql = good

        assert [p.page for p in handle.stored_pages(qrid)] == [1]
        handle.record_page(qrid, 3, [obs("45.0.0.3")], credits=0)
        handle.finish_query(qrid, QueryOutcome.OK)
        report = store.finish_run(handle, RULES)
    # The fold saw page 2 before its group failed: it was dropped and rebuilt from storage.
    assert sorted(i.ip for i in store.iter_indicators()) == ["45.0.0.1", "45.0.0.3"]
    assert report.observations == 2
    assert store.lookup("45.0.0.2").sightings == []


CRASHER = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from c2tracker.store import Store
    from store.helpers import CS, obs
    store = Store.open({url!r})
    handle = store.begin_run(["scan"])
    q = CS.queries[0]
    qrid = handle.start_query(CS.id, q.engine, q.query)
    with handle.bulk():
        handle.record_page(qrid, 1, [obs("45.0.0.1")], credits=0)
        handle.stored_pages(qrid)
        handle.record_page(qrid, 2, [obs("45.0.0.2")], credits=0)
        print(handle.run_id, qrid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.slow
def test_a_killed_process_loses_only_its_open_group(store: Store, store_url: str) -> None:
    tests_dir = str(Path(__file__).resolve().parents[1])
    script = CRASHER.format(tests=tests_dir, url=store_url)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == -signal.SIGKILL, result.stderr
    run_id, qrid = map(int, result.stdout.split())

    with store.begin_run(["scan"], resume=True, wait=5) as handle:
        assert handle.run_id == run_id
        q = CS.queries[0]
        assert handle.start_query(CS.id, q.engine, q.query) == qrid
        assert [p.page for p in handle.stored_pages(qrid)] == [1]
        handle.record_page(qrid, 2, [obs("45.0.0.2")], credits=0)
        handle.finish_query(qrid, QueryOutcome.OK)
        store.finish_run(handle, RULES)
    assert sorted(i.ip for i in store.iter_indicators()) == ["45.0.0.1", "45.0.0.2"]


def test_pages_are_cut_into_batches_and_lookup_finds_every_row(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "BATCH_ROWS", 2)
    q = CS.queries[0]
    page = [
        obs("45.0.0.1", port=80, when=T0),
        obs("45.0.0.2"),
        obs("45.0.0.3"),
        obs("45.0.0.1", port=8443, when=T0.replace(hour=1)),
        obs("10.0.0.1"),
    ]
    with store.begin_run(["scan"], started_at=T0.replace(hour=13)) as handle:
        qrid = handle.start_query(CS.id, q.engine, q.query)
        handle.record_page(qrid, 1, page, credits=0)
        sliver = SLIVER.queries[0]
        other = handle.start_query(SLIVER.id, sliver.engine, sliver.query)
        handle.record_page(other, 1, [obs("45.0.0.1", SLIVER, port=31337)], credits=0)
        handle.finish_query(qrid, QueryOutcome.OK)
        handle.finish_query(other, QueryOutcome.OK)
        store.finish_run(handle, RULES)

    assert _count(store, "SELECT count(*) FROM observation_batches") == 4
    with store._read.connect() as conn:
        listed = conn.execute(
            text("SELECT batches FROM observation_ips WHERE ip = '45.0.0.1'")
        ).scalar_one()
    assert json.loads(listed) == [1, 2, 4]

    history = store.lookup("45.0.0.1")
    assert [(s.rule_id, s.port) for s in history.sightings] == [
        ("cobalt-strike", 8443),
        ("cobalt-strike", 80),
        ("sliver", 31337),
    ]
    assert history.sightings[0].evidence == {"ssl.cert.serial": 146473198}
    assert store.lookup("10.0.0.1").sightings == []


def test_the_observations_view_has_one_row_per_observation(store: Store) -> None:
    q = CS.queries[0]
    tagged = obs("45.0.0.2", tags=("honeypot",), asn="AS64500")
    with store.begin_run(["scan"]) as handle:
        qrid = handle.start_query(CS.id, q.engine, q.query)
        handle.record_page(qrid, 1, [obs("45.0.0.1", port=None), tagged, obs("0.1.2.3")], credits=0)
        handle.finish_query(qrid, QueryOutcome.OK)
        store.finish_run(handle, RULES)
    with store._read.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT ip, port, rule_id, engine, asn, evidence, tags, drop_reason "
                "FROM observations ORDER BY batch_id, row_index"
            )
        ).all()
    assert [(r.ip, r.port, r.rule_id, r.engine, r.asn) for r in rows] == [
        ("45.0.0.1", None, "cobalt-strike", "shodan", None),
        ("45.0.0.2", 443, "cobalt-strike", "shodan", "AS64500"),
        ("0.1.2.3", 443, "cobalt-strike", "shodan", None),
    ]
    evidence = rows[0].evidence
    assert (json.loads(evidence) if isinstance(evidence, str) else evidence) == {
        "ssl.cert.serial": 146473198
    }
    tags = rows[1].tags
    assert (json.loads(tags) if isinstance(tags, str) else tags) == ["honeypot"]
    assert rows[0].drop_reason is None and rows[2].drop_reason.startswith("bogon")


def test_nul_characters_in_scan_text_neither_fail_the_finish_nor_the_view(store: Store) -> None:
    # PostgreSQL text cannot hold NUL: a hostile organisation name failed the whole finish,
    # and an error body with one the whole collect.
    q = CS.queries[0]
    hostile = replace(
        obs("45.0.0.3"),
        org="Evil\x00Corp",
        hostnames=("a\x00b.example",),
        evidence={"http.title": "x\x00y", "http.html": 'var s = "\\u0000";'},
    )
    with store.begin_run(["scan"]) as handle:
        qrid = handle.start_query(CS.id, q.engine, q.query)
        handle.record_page(qrid, 1, [hostile], credits=0)
        handle.finish_query(qrid, QueryOutcome.OK)
        store.finish_run(handle, RULES)

    history = store.lookup("45.0.0.3")
    assert [i.org for i in history.indicators] == ["Evil\ufffdCorp"]
    assert history.indicators[0].hostnames == ("a\x00b.example",)  # a JSON list: kept as seen
    sighting = history.sightings[0]
    assert (sighting.org, sighting.evidence) == ("Evil\x00Corp", hostile.evidence)

    # An engine's error body is hostile text too: the query's reason keeps it, NUL replaced.
    with store.begin_run(["shodan"]) as handle:
        qrid = handle.start_query(CS.id, q.engine, q.query)
        handle.finish_query(qrid, QueryOutcome.FAILED, reason="HTTP 500: \x00oops")
    assert [r.reason for r in store.query_runs(handle.run_id)] == ["HTTP 500: \ufffdoops"]

    with store._read.connect() as conn:
        org, evidence = conn.execute(text("SELECT org, evidence FROM observations")).one()
    if store.dialect == "postgresql":
        # Only the NUL is replaced: the quoted escape in the page's script stays as it was.
        assert org == "Evil\ufffdCorp"
        assert evidence == {"http.title": "x\ufffdy", "http.html": 'var s = "\\u0000";'}
    else:
        assert org.startswith("Evil")  # SQLite's text functions stop at the NUL


def _old_store(url: str) -> None:
    """A store at revision 0003: one finished run with folded observations, and a failed run
    whose observations were never folded."""
    engine = create_engine(url)
    migrate.upgrade(engine, "0003")
    evidence = json.dumps({"http.title": "panel"})
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO runs (id, kind, started_at, status, sources, observations, "
                "applied_obs_id) VALUES (1, 'collect', :t, 'ok', '[]', 3, 3), "
                "(2, 'collect', :t2, 'failed', '[]', 1, 3)"
            ),
            {"t": 1_767_614_400_000_000, "t2": 1_767_700_800_000_000},
        )
        conn.execute(
            text(
                "INSERT INTO query_runs (id, run_id, rule_id, engine, query, query_id, outcome, "
                "pages, credits, results, started_at) VALUES "
                "(1, 1, 'cobalt-strike', 'shodan', 'q', 'cobalt-strike:shodan:q', 'ok', 1, 1, 3,"
                " 0), (2, 2, 'cobalt-strike', 'shodan', 'q', 'cobalt-strike:shodan:q', 'ok', 1,"
                " 1, 1, 0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO observations (id, run_id, query_run_id, ip, port, transport, "
                "seen_at, evidence, hostnames, tags, source, drop_reason) VALUES "
                "(1, 1, 1, '45.0.0.1', 443, 'tcp', 1767614000000000, :e, '[\"c2.example\"]',"
                " NULL, 'shodan', NULL), "
                "(2, 1, 1, '45.0.0.2', 80, 'tcp', NULL, :e, NULL, NULL, 'shodan', NULL), "
                "(3, 1, 1, '10.0.0.1', 80, 'tcp', NULL, :e, NULL, NULL, 'shodan', 'private'), "
                "(4, 2, 2, '45.0.0.9', 8080, 'tcp', NULL, :e, NULL, NULL, 'shodan', NULL)"
            ),
            {"e": evidence},
        )
        conn.execute(
            text(
                "INSERT INTO observation_ips (ip, observation_id) VALUES ('45.0.0.1', 1), "
                "('45.0.0.2', 2)"
            )
        )
        if engine.dialect.name == "postgresql":
            # The rows above were given their ids: move the sequences past them, as a store
            # that made them itself would have.
            for table in ("runs", "query_runs", "observations"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    engine.dispose()


def test_a_store_of_revision_0003_is_moved_into_batches(store_url: str) -> None:
    _old_store(store_url)
    with Store.open(store_url) as store:
        with store._read.connect() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision()
            watermarks = dict(conn.execute(text("SELECT id, applied_batch_id FROM runs")).all())
            view = conn.execute(text("SELECT count(*) FROM observations")).scalar_one()
        assert view == 4
        # Run 1's batch is folded; run 2's unfolded batch lies above its watermark.
        assert watermarks == {1: 1, 2: 1}

        history = store.lookup("45.0.0.1")
        assert [(s.port, s.hostnames, s.evidence) for s in history.sightings] == [
            (443, ("c2.example",), {"http.title": "panel"})
        ]
        assert store.lookup("45.0.0.9").sightings == []

        with store.begin_run(["shodan"], resume=True) as handle:
            assert handle.run_id == 2
            report = store.finish_run(handle, RULES)
        assert report.observations == 1
        assert [s.port for s in store.lookup("45.0.0.9").sightings] == [8080]

        # New batches are numbered after the moved ones on both backends.
        with store.begin_run(["shodan"]) as handle:
            q = CS.queries[0]
            qrid = handle.start_query(CS.id, q.engine, q.query)
            handle.record_page(qrid, 1, [obs("45.0.0.7")], credits=1)
            handle.finish_query(qrid, QueryOutcome.OK)
            store.finish_run(handle, RULES)
        assert store.lookup("45.0.0.7").sightings[0].run_id == handle.run_id


def test_closing_a_handle_commits_its_group_and_drops_its_connection(store: Store) -> None:
    # A handle closed without finishing commits its group and gives its connection back.
    q = CS.queries[0]
    handle = store.begin_run(["scan"])
    section = handle.bulk()
    section.__enter__()  # never left: closing must commit what it holds
    qrid = handle.start_query(CS.id, q.engine, q.query)
    handle.record_page(qrid, 1, [obs("45.0.0.1")], credits=0)
    assert _count(store, "SELECT count(*) FROM pages") == 0
    handle.close()
    assert section is not None and handle._page_conn is None
    assert _count(store, "SELECT count(*) FROM pages") == 1


def test_a_run_hides_the_heap_from_the_collector_until_it_is_closed(store: Store) -> None:
    gc.unfreeze()  # a handle another test left open may have frozen it
    assert gc.get_freeze_count() == 0
    with store.begin_run(["scan"]):
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_a_bulk_section_collects_cycles_in_larger_steps_and_restores_the_collector(
    store: Store, tmp_path: Path
) -> None:
    before = gc.get_threshold()
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    with store.begin_run(["scan"]) as handle:
        with handle.bulk():
            assert gc.get_threshold() == (
                max(before[0], ingest.BULK_GC_THRESHOLD),
                *before[1:],
            )
            with handle.bulk():  # an inner section changes nothing
                assert gc.get_threshold()[0] == max(before[0], ingest.BULK_GC_THRESHOLD)
            assert gc.get_threshold()[0] == max(before[0], ingest.BULK_GC_THRESHOLD)

            # Garbage cycles made inside a section are still collected, in larger steps.
            gc.callbacks.append(count)
            try:
                for _ in range(3 * ingest.BULK_GC_THRESHOLD):
                    cycle: list[object] = []
                    cycle.append(cycle)
                del cycle
            finally:
                gc.callbacks.remove(count)
            assert collections, "no collection ran inside the section"
            assert len(collections) <= 3 * ingest.BULK_GC_THRESHOLD // 700 // 10
        assert gc.get_threshold() == before

        with pytest.raises(RuntimeError), handle.bulk():
            raise RuntimeError("a source failed")
        assert gc.get_threshold() == before

        # Sections of two stores overlapping in one process: the thresholds come back when
        # the last one closes, not before and not to the raised ones.
        other = Store.open(f"sqlite:///{tmp_path / 'other.sqlite'}")
        try:
            with other.begin_run(["scan"]) as second:
                first_section = handle.bulk()
                first_section.__enter__()
                with second.bulk():
                    first_section.__exit__(None, None, None)
                    assert gc.get_threshold()[0] == max(before[0], ingest.BULK_GC_THRESHOLD)
                assert gc.get_threshold() == before
        finally:
            other.close()

        # A collector switched off by a threshold of 0 stays off.
        gc.set_threshold(0, *before[1:])
        try:
            with handle.bulk():
                assert gc.get_threshold()[0] == 0
        finally:
            gc.set_threshold(*before)


def test_evidence_json_cannot_hold_is_replaced_not_fatal(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(300):  # deeper than orjson writes
        node["x"] = {}
        node = node["x"]  # type: ignore[assignment]
    hostile = obs("45.0.0.66")
    hostile.evidence = {"html": deep, "big": 2**80}
    hostile.org = "Bad \udc80 Org"
    hostile.hostnames = ("ok.example", "\ud800.example")
    q = CS.queries[0]
    with store.begin_run(["scan"]) as handle:
        qrid = handle.start_query(CS.id, q.engine, q.query)
        handle.record_page(qrid, 1, [obs("45.0.0.1"), hostile], credits=0)
        handle.finish_query(qrid, QueryOutcome.OK)
        store.finish_run(handle, RULES)
    assert sorted(i.ip for i in store.iter_indicators()) == ["45.0.0.1", "45.0.0.66"]
    (sighting,) = store.lookup("45.0.0.66").sightings
    assert "c2tracker.unstorable" in sighting.evidence
    assert sighting.org == "Bad ? Org" and sighting.hostnames == ()
    assert store.lookup("45.0.0.1").sightings[0].evidence == {"ssl.cert.serial": 146473198}
    assert "45.0.0.66" in caplog.text and "not storable" in caplog.text
