"""Builders shared by the store tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from c2tracker.model import Category, Fidelity, Observation, QueryOutcome
from c2tracker.querylang.ast import Engine
from c2tracker.store import Store
from c2tracker.store.rulemeta import SimpleQuery, SimpleRule

T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)

CS = SimpleRule(
    "cobalt-strike",
    "Cobalt Strike",
    feed_name="Cobalt Strike C2",
    queries=(
        SimpleQuery(Engine.SHODAN, "ssl.cert.serial:146473198", Fidelity.HIGH),
        SimpleQuery(Engine.CENSYS, "cert.serial: 146473198", Fidelity.HIGH),
        SimpleQuery(Engine.SHODAN, "product:'Cobalt Strike Beacon'", Fidelity.LOW),
    ),
)
SLIVER = SimpleRule(
    "sliver",
    "Sliver",
    feed_name="Sliver C2",
    queries=(SimpleQuery(Engine.SHODAN, "ssl:multiplayer", Fidelity.MEDIUM),),
)
HAVOC = SimpleRule(
    "havoc", "Havoc", queries=(SimpleQuery(Engine.SHODAN, "X-Havoc: true", Fidelity.MEDIUM),)
)
MSF = SimpleRule(
    "metasploit",
    "Metasploit Framework",
    feed_name="Metasploit Framework C2",
    queries=(SimpleQuery(Engine.SHODAN, "ssl:MetasploitSelfSignedCA", Fidelity.MEDIUM),),
)
VIPER = SimpleRule(
    "viper", "Viper", queries=(SimpleQuery(Engine.SHODAN, "title:viper", Fidelity.MEDIUM),)
)
GOPHISH = SimpleRule(
    "gophish",
    "GoPhish",
    category=Category.TOOL,
    kind="phishing",
    dual_use=True,
    queries=(SimpleQuery(Engine.SHODAN, "title:gophish", Fidelity.HIGH),),
)
RULES = [CS, SLIVER, HAVOC, MSF, VIPER, GOPHISH]


def obs(
    ip: str,
    rule: SimpleRule = CS,
    query: int = 0,
    *,
    port: int | None = 443,
    when: datetime | None = None,
    tags: tuple[str, ...] = (),
    asn: str | None = None,
) -> Observation:
    q = rule.queries[query]
    return Observation(
        ip=ip,
        port=port,
        transport="tcp",
        rule_id=rule.id,
        family=rule.name,
        engine=q.engine,
        query=q.query,
        timestamp=when,
        evidence={"ssl.cert.serial": 146473198},
        source=q.engine.value,
        tags=tags,
        asn=asn,
    )


def run(
    store: Store,
    at: datetime,
    found: Sequence[Observation] = (),
    *,
    failed: Sequence[tuple[SimpleRule, int]] = (),
    ok: Sequence[tuple[SimpleRule, int]] | None = None,
    rules: Sequence[SimpleRule] = RULES,
) -> int:
    """One complete run at time ``at``: every query in ``ok`` (default: every query of every
    rule) ends ok, those in ``failed`` fail; ``found`` are recorded on their query."""
    failed_keys = {(r.id, i) for r, i in failed}
    queries = [(r, i) for r in rules for i in range(len(r.queries))] if ok is None else list(ok)
    queries += [f for f in failed if f not in queries]
    with store.begin_run(["shodan", "censys"], started_at=at) as handle:
        for rule, index in queries:
            q = rule.queries[index]
            qrid = handle.start_query(rule.id, q.engine, q.query)
            page = [o for o in found if o.rule_id == rule.id and o.query == q.query]
            if page:
                handle.record_page(qrid, 1, page, credits=1)
            outcome = QueryOutcome.FAILED if (rule.id, index) in failed_keys else QueryOutcome.OK
            handle.finish_query(qrid, outcome, reason="HTTP 503" if outcome != "ok" else None)
        store.finish_run(handle, rules)
    return handle.run_id


def days(n: float) -> timedelta:
    return timedelta(days=n)


def one(store: Store, ip: str, rule_id: str = "cobalt-strike"):  # type: ignore[no-untyped-def]
    found = [i for i in store.iter_indicators(ip=ip) if i.rule_id == rule_id]
    assert len(found) == 1, found
    return found[0]
