"""Filters inside finish_run, reads, run lock, crash and resume, migration — on both backends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from c2tracker.errors import RunLocked, StoreError
from c2tracker.model import Category, IndicatorStatus, QueryOutcome
from c2tracker.querylang.ast import Engine
from c2tracker.store import Store, migrate

from .helpers import CS, GOPHISH, HAVOC, MSF, RULES, SLIVER, T0, VIPER, days, obs, one, run


def test_bogons_and_bad_values_are_dropped_with_reason_and_kept(store: Store) -> None:
    run(store, T0, [obs("10.0.0.1"), obs("203.0.113.9"), obs("010.1.1.1"), obs("45.1.1.1")])
    assert [i.ip for i in store.iter_indicators()] == ["45.1.1.1"]
    assert store.runs(1)[0].observations == 4
    report_ips = store.lookup("10.0.0.1")
    assert report_ips.indicators == [] and report_ips.sightings == []


def test_port_out_of_range_drops_the_observation(store: Store) -> None:
    run(store, T0, [obs("45.1.1.1", port=70000)])
    assert list(store.iter_indicators()) == []


def test_ipv6_and_mapped_addresses(store: Store) -> None:
    run(store, T0, [obs("2A01:4F8::1"), obs("::ffff:45.3.3.3")])
    assert sorted(i.ip for i in store.iter_indicators()) == ["2a01:4f8::1", "45.3.3.3"]
    assert store.lookup("::FFFF:45.3.3.3").ip == "45.3.3.3"


def test_asn_spellings_are_stored_in_one_form(store: Store) -> None:
    spellings = {
        "45.9.0.1": "AS13335",  # already canonical: taken as it is
        "45.9.0.2": "as13335",
        "45.9.0.3": " 13335 ",
        "45.9.0.4": "AS013335",  # a leading zero is not the canonical form
        "45.9.0.5": "AS\u0661\u0663",  # Arabic-Indic digits: not the fast path, still an ASN
        "45.9.0.6": "AS-13335",  # not an ASN
        "45.9.0.7": "AS4294967295",  # the largest 32-bit ASN, ten digits
        "45.9.0.8": "AS4294967296",  # beyond 32 bits: not an ASN
        "45.9.0.9": "AS9999999999",  # ten digits too, still beyond
    }
    run(store, T0, [obs(ip, asn=asn) for ip, asn in spellings.items()])
    stored = {ip: store.lookup(ip).sightings[0].asn for ip in spellings}
    assert stored == {
        "45.9.0.1": "AS13335",
        "45.9.0.2": "AS13335",
        "45.9.0.3": "AS13335",
        "45.9.0.4": "AS13335",
        "45.9.0.5": "AS13",
        "45.9.0.6": None,
        "45.9.0.7": "AS4294967295",
        "45.9.0.8": None,
        "45.9.0.9": None,
    }
    assert one(store, "45.9.0.2").asn == "AS13335"


def test_one_address_text_refused_then_kept_spellings(store: Store) -> None:
    # The address caches keep refused and kept texts apart within a run.
    run(
        store,
        T0,
        [obs("010.1.1.1"), obs("45.10.0.1"), obs("010.1.1.1"), obs("45.10.0.1", SLIVER)],
    )
    assert sorted((i.ip, i.rule_id) for i in store.iter_indicators()) == [
        ("45.10.0.1", "cobalt-strike"),
        ("45.10.0.1", "sliver"),
    ]
    assert store.runs(1)[0].observations == 4


def test_operator_text_with_nul_is_refused_naming_the_field(store: Store) -> None:
    run(store, T0, [obs("45.11.0.1")])
    with pytest.raises(StoreError, match="reason must not contain NUL"):
        store.revoke("45.11.0.1", None, "sink\x00hole", actor="cli")
    with pytest.raises(StoreError, match="family must not contain NUL"):
        store.revoke("45.11.0.1", "cobalt\x00strike", "sinkhole", actor="cli")
    with pytest.raises(StoreError, match="actor must not contain NUL"):
        store.allow("45.11.0.0/24", "lab", actor="a\x00b")
    assert one(store, "45.11.0.1").status is IndicatorStatus.ACTIVE
    assert store.audit_log() == [] and store.allowlist() == []


def test_honeypot_by_unrelated_families(store: Store) -> None:
    found = [obs("45.6.6.6", CS), obs("45.6.6.6", SLIVER), obs("45.6.6.6", HAVOC)]
    found += [obs("45.7.7.7", MSF), obs("45.7.7.7", VIPER), obs("45.7.7.7", CS)]
    run(store, T0, found)
    for rule in ("cobalt-strike", "sliver", "havoc"):
        ind = one(store, "45.6.6.6", rule)
        assert ind.status is IndicatorStatus.HONEYPOT
        assert "3 unrelated families" in (ind.status_reason or "")
        assert not ind.is_blockable
    assert one(store, "45.7.7.7", "viper").status is IndicatorStatus.ACTIVE


def test_honeypot_by_engine_tag_and_confidence_penalty(store: Store) -> None:
    run(store, T0, [obs("45.6.6.6", tags=("honeypot",)), obs("45.8.8.8")])
    tagged, clean = one(store, "45.6.6.6"), one(store, "45.8.8.8")
    assert tagged.status is IndicatorStatus.HONEYPOT
    assert tagged.confidence < clean.confidence


def test_confidence_from_rules_and_agreement(store: Store) -> None:
    run(store, T0, [obs("45.1.1.1", CS, 2), obs("45.2.2.2", CS, 0), obs("45.3.3.3", GOPHISH)])
    low, high, dual = (
        one(store, "45.1.1.1"),
        one(store, "45.2.2.2"),
        one(store, "45.3.3.3", "gophish"),
    )
    assert low.confidence < high.confidence
    assert dual.confidence < high.confidence and dual.dual_use
    run(store, T0 + days(7), [obs("45.2.2.2", CS, 0), obs("45.2.2.2", CS, 1)])
    again = one(store, "45.2.2.2")
    assert again.confidence > high.confidence
    assert again.engines == ("censys", "shodan") and len(again.queries) == 2


def test_reads(store: Store) -> None:
    run(store, T0, [obs("45.1.1.1", CS), obs("45.1.1.1", SLIVER), obs("45.2.2.2", GOPHISH)])
    run(store, T0 + days(7), [obs("45.1.1.1", CS), obs("45.9.9.9", CS)], failed=[(SLIVER, 0)])
    runs = store.runs()
    assert [r.status for r in runs] == ["partial", "ok"]
    assert runs[0].queries_failed == 1 and runs[0].credits["shodan"] >= 1
    failed = [q for q in store.query_runs(runs[0].id) if q.outcome is QueryOutcome.FAILED]
    assert [(q.rule_id, q.reason) for q in failed] == [("sliver", "HTTP 503")]
    stats = {s.rule_id: s for s in store.rule_stats()}
    assert (stats["cobalt-strike"].hits, stats["cobalt-strike"].new) == (2, 1)
    assert stats["cobalt-strike"].kept == 1
    first = {s.rule_id: s for s in store.rule_stats(runs[1].id)}
    assert first["cobalt-strike"].overlap == {"sliver": 1}
    assert dict(store.families())["cobalt-strike"] == 2
    assert set(store.engine_status()) == {"shodan", "censys"}
    history = store.lookup("45.1.1.1")
    assert {i.rule_id for i in history.indicators} == {"cobalt-strike", "sliver"}
    assert len(history.sightings) == 3 and history.sightings[0].seen_at == T0
    tools = list(store.iter_indicators(category=Category.TOOL))
    assert [i.feed_name for i in tools] == ["GoPhish"]
    by_name = list(store.iter_indicators(family="cobalt strike c2"))
    assert [i.ip for i in by_name] == ["45.1.1.1", "45.9.9.9"]
    assert [i.ip for i in store.iter_indicators(since=T0 + days(1))] == ["45.1.1.1", "45.9.9.9"]
    with pytest.raises(StoreError):
        store.lookup("not-an-ip")


def test_checkpoints_and_last_result_count(store: Store) -> None:
    with store.begin_run(["shodan"]) as handle:
        q = CS.queries[0]
        qrid = handle.start_query(CS.id, q.engine, q.query)
        handle.record_page(qrid, 1, [obs("45.1.1.1")], credits=1, total=250)
        handle.record_page(qrid, 1, [obs("45.1.1.1")], credits=1)  # a replay is ignored
        handle.record_page(qrid, 2, [obs("45.1.1.2")], credits=1, next_token="tok")
        assert [(p.page, p.total, p.next_token) for p in handle.stored_pages(qrid)] == [
            (1, 250, None),
            (2, None, "tok"),
        ]
        assert handle.last_result_count(CS.id, q.engine, q.query) is None
        handle.finish_query(qrid, QueryOutcome.OK)
        assert handle.last_result_count(CS.id, q.engine, q.query) == 2
        store.finish_run(handle, RULES)
    assert store.query_runs(handle.run_id)[0].credits == 2


def test_second_run_waits_then_raises_run_locked(store: Store) -> None:
    first = store.begin_run(["shodan"])
    try:
        start = time.monotonic()
        with pytest.raises(RunLocked, match=f"pid {os.getpid()}"):
            store.begin_run(["shodan"], wait=0.5)
        assert time.monotonic() - start >= 0.5
        released: list[int] = []

        def later() -> None:
            time.sleep(0.3)
            first.close()
            released.append(1)

        thread = threading.Thread(target=later)
        thread.start()
        with store.begin_run(["shodan"], wait=10) as second:
            assert released and second.run_id != first.run_id
        thread.join()
    finally:
        first.close()


def test_stale_lock_of_another_host_is_taken_over(store: Store) -> None:
    from c2tracker.store.lock import RunLock

    other = RunLock(store._write, stale_after=0.2)
    other.host = "elsewhere"
    other.acquire()
    other._stop.set()  # its heartbeat stops, as when a host dies
    time.sleep(0.5)
    taker = RunLock(store._write, stale_after=0.2)
    taker.acquire(wait=2)
    taker.release()


CRASHER = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from c2tracker.store import Store
    from store.helpers import CS, obs
    store = Store.open({url!r})
    handle = store.begin_run(["shodan"])
    q = CS.queries[0]
    qrid = handle.start_query(CS.id, q.engine, q.query)
    for page in (1, 2):
        handle.record_page(qrid, page, [obs(f"45.0.0.{{page}}")], credits=1)
    print(handle.run_id, qrid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.slow
def test_killed_run_leaves_a_consistent_resumable_store(store: Store, store_url: str) -> None:
    tests_dir = str(Path(__file__).resolve().parents[1])
    script = CRASHER.format(tests=tests_dir, url=store_url)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == -signal.SIGKILL, result.stderr
    run_id, qrid = map(int, result.stdout.split())

    with store.begin_run(["shodan"], resume=True, wait=5) as handle:
        assert handle.resumed and handle.run_id == run_id
        q = CS.queries[0]
        assert handle.start_query(CS.id, q.engine, q.query) == qrid
        assert [p.page for p in handle.stored_pages(qrid)] == [1, 2]
        handle.record_page(qrid, 3, [obs("45.0.0.3")], credits=1)
        handle.finish_query(qrid, QueryOutcome.OK)
        store.finish_run(handle, RULES)
    assert sorted(i.ip for i in store.iter_indicators()) == ["45.0.0.1", "45.0.0.2", "45.0.0.3"]
    assert store.runs(1)[0].status == "ok"


def test_one_run_by_id(store: Store) -> None:
    first = run(store, T0, [obs("45.1.1.1")])
    second = run(store, T0 + days(1), [])
    assert store.run(first) == store.runs(2)[1]
    found = store.run(second)
    assert found is not None and found.id == second and found.observations == 0
    assert found.queries_ok == sum(len(r.queries) for r in RULES)
    assert store.run(second + 1) is None
    assert store.run(0) is None and store.run(2**63) is None


def test_exception_marks_run_failed_and_resumable(store: Store) -> None:
    with pytest.raises(RuntimeError), store.begin_run(["shodan"]) as handle:
        raise RuntimeError("network down")
    assert store.runs(1)[0].status == "failed"
    with store.begin_run(["shodan"], resume=True) as again:
        assert again.run_id == handle.run_id


def test_old_database_is_migrated_on_open(store_url: str) -> None:
    engine = create_engine(store_url)
    migrate.upgrade(engine, "0001")
    with engine.begin() as conn:
        assert migrate.current_revision(conn) == "0001"
        conn.execute(
            text(
                "INSERT INTO runs (kind, started_at, status, sources, observations, "
                "applied_obs_id) VALUES ('collect', 0, 'ok', '[]', 0, 0)"
            )
        )
    engine.dispose()
    with Store.open(store_url) as store:
        assert [r.id for r in store.runs()] == [1]
        run(store, T0, [obs("45.1.1.1")])
        assert store.revoke("45.1.1.1", None, "test", "ci") == 1
        with store._read.connect() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision()


def test_models_match_migrations(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from c2tracker.store.models import Base

    with store._read.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = [d for d in compare_metadata(context, Base.metadata) if d[0] != "remove_table"]
    assert diff == []


def test_bad_urls_are_clear() -> None:
    with pytest.raises(StoreError, match="not a database URL"):
        Store.open("nonsense")
    with pytest.raises(StoreError, match="unsupported database"):
        Store.open("mysql://x@localhost/db")
    with pytest.raises(StoreError, match="does not exist"):
        Store.open("sqlite:////nonexistent-dir/x.sqlite")


def test_query_run_of_another_rule_is_refused(store: Store) -> None:
    with store.begin_run(["shodan"]) as handle:
        qrid = handle.start_query("sliver", Engine.SHODAN, "ssl:multiplayer")
        with pytest.raises(StoreError, match="recorded on a query run"):
            handle.record_page(qrid, 1, [obs("45.1.1.1", CS)], credits=0)
