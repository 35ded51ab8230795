"""Every lifecycle rule of c2tracker.store.lifecycle, on SQLite and PostgreSQL."""

from __future__ import annotations

from c2tracker.model import IndicatorStatus
from c2tracker.settings import Settings
from c2tracker.store import Store

from .helpers import CS, RULES, SLIVER, T0, days, obs, one, run


def test_new_sighting_is_active_with_valid_until_last_seen_plus_window(store: Store) -> None:
    run(store, T0, [obs("45.1.2.3")])
    ind = one(store, "45.1.2.3")
    assert ind.status is IndicatorStatus.ACTIVE
    assert ind.first_seen == ind.last_seen == T0
    assert ind.valid_until == T0 + days(30)
    assert ind.times_seen == 1 and ind.ports == (443,)


def test_expires_when_a_successful_check_comes_after_the_window(store: Store) -> None:
    run(store, T0, [obs("45.1.2.3")])
    run(store, T0 + days(29), [])
    assert one(store, "45.1.2.3").status is IndicatorStatus.ACTIVE
    run(store, T0 + days(31), [])
    ind = one(store, "45.1.2.3")
    assert ind.status is IndicatorStatus.EXPIRED
    assert "not seen since 2026-01-05" in (ind.status_reason or "")


def test_failed_queries_never_expire(store: Store) -> None:
    run(store, T0, [obs("45.1.2.3")])
    # Every query that found it fails; other rules' queries succeed.
    cs_queries = [(CS, i) for i in range(len(CS.queries))]
    run(store, T0 + days(40), [], failed=cs_queries, ok=[(SLIVER, 0)])
    ind = one(store, "45.1.2.3")
    assert ind.status is IndicatorStatus.ACTIVE
    assert "not run successfully since 2026-01-05" in (ind.status_reason or "")


def test_only_the_finding_queries_count(store: Store) -> None:
    run(store, T0, [obs("45.1.2.3", CS, 0)])
    # Another query of the same rule succeeds; the one that found it fails: no ageing.
    run(store, T0 + days(40), [], ok=[(CS, 1)], failed=[(CS, 0)])
    assert one(store, "45.1.2.3").status is IndicatorStatus.ACTIVE
    run(store, T0 + days(41), [], ok=[(CS, 0)])
    assert one(store, "45.1.2.3").status is IndicatorStatus.EXPIRED


def test_time_without_runs_never_expires(store: Store) -> None:
    run(store, T0, [obs("45.1.2.3")])
    run(store, T0 + days(365), [], ok=[(SLIVER, 0)])
    assert one(store, "45.1.2.3").status is IndicatorStatus.ACTIVE


def test_new_sighting_reactivates_and_counts_runs(store: Store) -> None:
    run(store, T0, [obs("45.1.2.3")])
    run(store, T0 + days(31), [])
    assert one(store, "45.1.2.3").status is IndicatorStatus.EXPIRED
    run(store, T0 + days(40), [obs("45.1.2.3", port=8443)])
    ind = one(store, "45.1.2.3")
    assert ind.status is IndicatorStatus.ACTIVE
    assert ind.times_seen == 2 and ind.ports == (443, 8443)
    assert ind.first_seen == T0 and ind.last_seen == T0 + days(40)


def test_old_record_timestamp_is_expired_at_once(store: Store) -> None:
    run(store, T0, [obs("45.1.2.3", when=T0 - days(45))])
    assert one(store, "45.1.2.3").status is IndicatorStatus.EXPIRED


def test_retired_query_falls_back_to_the_rules_current_queries(store: Store) -> None:
    from c2tracker.querylang.ast import Engine
    from c2tracker.store.rulemeta import SimpleQuery, SimpleRule

    old = SimpleRule("sliver", "Sliver", queries=(SimpleQuery(Engine.SHODAN, "ssl:old"),))
    new = SimpleRule("sliver", "Sliver", queries=(SimpleQuery(Engine.SHODAN, "ssl:new"),))
    run(store, T0, [obs("45.9.9.9", old)], rules=[old])
    run(store, T0 + days(40), [], rules=[new])
    assert one(store, "45.9.9.9", "sliver").status is IndicatorStatus.EXPIRED


def test_window_per_family_and_category(store_url: str) -> None:
    settings = Settings(window_days_by_family={"sliver": 5}, window_days_by_category={"c2": 60})
    with Store.open(store_url, settings=settings) as store:
        run(store, T0, [obs("45.1.1.1", CS), obs("45.2.2.2", SLIVER)])
        run(store, T0 + days(31), [])
        assert one(store, "45.1.1.1").status is IndicatorStatus.ACTIVE
        assert one(store, "45.1.1.1").valid_until == T0 + days(60)
        assert one(store, "45.2.2.2", "sliver").status is IndicatorStatus.EXPIRED


def test_finish_run_is_idempotent(store: Store) -> None:
    run(store, T0, [obs("45.1.2.3"), obs("45.1.2.3", CS, 1)])
    with store.begin_run(["shodan"], resume=True) as handle:
        assert not handle.resumed  # the last run finished cleanly
    before = one(store, "45.1.2.3")
    last = store.runs(1)[0].id
    with store.begin_run(["x"], started_at=T0 + days(1)) as handle:
        store.finish_run(handle, RULES)
        store.finish_run(handle, RULES)
    after = one(store, "45.1.2.3")
    assert (after.times_seen, after.confidence) == (before.times_seen, before.confidence)
    assert store.runs(1)[0].id == last + 1


def test_revocation_survives_sightings_and_is_reversible(store: Store) -> None:
    run(store, T0, [obs("45.1.2.3"), obs("45.1.2.3", SLIVER)])
    assert store.revoke("45.1.2.3", "cobalt-strike", "our red team", "alice") == 1
    assert one(store, "45.1.2.3").status is IndicatorStatus.REVOKED
    assert one(store, "45.1.2.3", "sliver").status is IndicatorStatus.ACTIVE
    run(store, T0 + days(7), [obs("45.1.2.3")])
    ind = one(store, "45.1.2.3")
    assert ind.status is IndicatorStatus.REVOKED and ind.times_seen == 2
    assert "our red team" in (ind.status_reason or "")
    store.unrevoke("45.1.2.3", "cobalt-strike", "alice")
    assert one(store, "45.1.2.3").status is IndicatorStatus.ACTIVE
    actions = [(a.action, a.actor) for a in store.audit_log()]
    assert actions == [("unrevoke", "alice"), ("revoke", "alice")]


def test_revoke_all_families_covers_families_found_later(store: Store) -> None:
    store.revoke("45.7.7.7", None, "sinkhole", "bob")
    run(store, T0, [obs("45.7.7.7", SLIVER)])
    assert one(store, "45.7.7.7", "sliver").status is IndicatorStatus.REVOKED


def test_allowlist_ip_cidr_asn_and_undo(store: Store) -> None:
    run(
        store,
        T0,
        [obs("45.1.2.3"), obs("46.0.0.9"), obs("47.0.0.1", asn="13335"), obs("48.0.0.1")],
    )
    assert store.allow("45.1.2.3", "our scanner", "alice") == 1
    assert store.allow("46.0.0.0/8", "partner", "alice") == 1
    assert store.allow("AS13335", "CDN", "alice") == 1
    for ip in ("45.1.2.3", "46.0.0.9", "47.0.0.1"):
        assert one(store, ip).status is IndicatorStatus.ALLOWLISTED
    assert one(store, "48.0.0.1").status is IndicatorStatus.ACTIVE
    assert store.lookup("46.0.0.9").allowlisted == "partner"
    store.unallow("46.0.0.0/8", "alice")
    assert one(store, "46.0.0.9").status is IndicatorStatus.ACTIVE
    # New sightings of an allowlisted IP stay allowlisted.
    run(store, T0 + days(1), [obs("45.1.2.3")])
    assert one(store, "45.1.2.3").status is IndicatorStatus.ALLOWLISTED


def test_status_changes_are_timestamped_and_nothing_else_moves_the_stamp(store: Store) -> None:
    run(store, T0, [obs("45.1.2.3")])
    assert one(store, "45.1.2.3").status_changed_at is None

    store.revoke("45.1.2.3", "cobalt-strike", "sinkholed", "alice")
    revoked = one(store, "45.1.2.3")
    assert revoked.status is IndicatorStatus.REVOKED and revoked.status_changed_at is not None

    # Seen again while revoked: still revoked, so the stamp stays.
    run(store, T0 + days(1), [obs("45.1.2.3")])
    assert one(store, "45.1.2.3").status_changed_at == revoked.status_changed_at

    store.unrevoke("45.1.2.3", "cobalt-strike", "alice")
    restored = one(store, "45.1.2.3")
    assert restored.status is IndicatorStatus.ACTIVE
    assert restored.status_changed_at is not None
    assert restored.status_changed_at >= revoked.status_changed_at


def test_expiry_by_a_run_stamps_the_status_change(store: Store) -> None:
    run(store, T0, [obs("45.1.2.3")])
    run(store, T0 + days(10), [obs("45.1.2.3")])
    assert one(store, "45.1.2.3").status_changed_at is None
    run(store, T0 + days(45), [])
    expired = one(store, "45.1.2.3")
    assert expired.status is IndicatorStatus.EXPIRED and expired.status_changed_at is not None
