"""Publishing from the real store (SQLite and PostgreSQL), filled through its collect API.

Families: two C2 frameworks, a stealer, a botnet and a dual-use tool; a honeypot address that
three unrelated families match in one run; a revoked indicator; an IPv6 server; an address two
families share (two indicators, one address); a family with no result (its file stays, empty).
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from c2tracker.feeds import publish
from c2tracker.feeds.base import family_slug, original_file_name
from c2tracker.feeds.formats.misp import event_uuid
from c2tracker.feeds.manifest import file_sha256
from c2tracker.model import Category, Engine, IndicatorStatus, Observation, QueryOutcome
from c2tracker.settings import Settings
from c2tracker.store import Store
from c2tracker.store.rulemeta import SimpleQuery, SimpleRule
from store_fixtures import store, store_url  # noqa: F401 - pytest fixtures

# Public addresses outside documentation and bogon ranges (the store drops those); never
# contacted.
HONEYPOT = "185.220.101.66"
SHARED = "45.61.136.7"
REVOKED = "45.61.136.9"
IPV6 = "2a0e:97c0:3e3::5"
TOOL_ONLY = "91.92.240.10"


def _rule(
    rule_id: str, name: str, feed_name: str, category: Category, **extra: object
) -> SimpleRule:
    query = SimpleQuery(Engine.SHODAN, f'http.title:"{rule_id}"')
    return SimpleRule(
        id=rule_id,
        name=name,
        feed_name=feed_name,
        category=category,
        queries=(query,),
        **extra,  # type: ignore[arg-type]
    )


RULES = [
    _rule(
        "cobalt-strike",
        "Cobalt Strike",
        "Cobalt Strike C2",
        Category.C2,
        malpedia=("win.cobalt_strike",),
    ),
    _rule("sliver", "Sliver", "Sliver C2", Category.C2),
    _rule("lumma-stealer", "Lumma Stealer", "Lumma Stealer", Category.MALWARE, kind="stealer"),
    _rule("mozi", "Mozi", "Mozi Botnet", Category.BOTNET, kind="botnet"),
    _rule("gophish", "GoPhish", "GoPhish", Category.TOOL, kind="phishing", dual_use=True),
    _rule("havoc", "Havoc", "Havoc C2", Category.C2),
]

FOUND: dict[str, list[tuple[str, int]]] = {
    "cobalt-strike": [
        ("45.61.136.1", 443),
        (SHARED, 443),
        (SHARED, 8443),
        (REVOKED, 443),
        (HONEYPOT, 80),
    ],
    "sliver": [(SHARED, 31337), (IPV6, 8888), ("45.61.136.20", 8888)],
    "lumma-stealer": [("94.156.8.1", 80), (HONEYPOT, 8080)],
    "mozi": [("103.21.244.5", 6881), (HONEYPOT, 6881)],
    "gophish": [(TOOL_ONLY, 3333), ("45.61.136.1", 3333)],
    "havoc": [],
}


def _fill(target: Store, started: datetime) -> None:
    with target.begin_run(["shodan"], started_at=started) as run:
        for spec in RULES:
            query = spec.queries[0].query
            query_run = run.start_query(spec.id, Engine.SHODAN, query)
            rows = [
                Observation(
                    ip=ip,
                    port=port,
                    transport="tcp",
                    rule_id=spec.id,
                    family=spec.name,
                    engine=Engine.SHODAN,
                    query=query,
                    timestamp=started + timedelta(minutes=10),
                    evidence={"http.title": spec.id},
                    source="shodan",
                    org='Evil "Hosting", Inc\n=cmd',
                    asn="AS64500",
                    country="NL",
                )
                for ip, port in FOUND[spec.id]
            ]
            run.record_page(query_run, 1, rows, credits=1, total=len(rows))
            run.finish_query(query_run, QueryOutcome.OK, duration_s=1.0)
        target.finish_run(run, RULES)
    target.revoke(REVOKED, "cobalt-strike", "sinkholed by a registrar", "tests")


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_publish_from_the_real_store(store: Store, tmp_path: Path) -> None:  # noqa: F811
    now = datetime.now(UTC).replace(microsecond=0)
    _fill(store, now - timedelta(hours=2))
    statuses = {(i.rule_id, i.ip): i.status for i in store.iter_indicators()}
    assert statuses[("cobalt-strike", HONEYPOT)] is IndicatorStatus.HONEYPOT
    assert statuses[("cobalt-strike", REVOKED)] is IndicatorStatus.REVOKED
    active = [i for i in store.iter_indicators(status=IndicatorStatus.ACTIVE)]
    keys = {(i.rule_id, i.ip) for i in active}
    assert len(keys) == len(active) == 9  # 14 found, 3 honeypot, 1 revoked, 1 pair merged

    out = tmp_path / "feeds"
    manifest = publish(store, RULES, out, settings=Settings(), now=now)

    # Exactly once in every per-indicator format.
    with (out / "csv/indicators.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert Counter((r["rules"], r["ip"]) for r in rows) == Counter(keys)
    assert all("\n" not in r["org"] and r["org"].startswith("Evil") for r in rows)
    jsonl = [orjson.loads(line) for line in _lines(out / "json/indicators.jsonl")]
    assert Counter((r["rule"], r["ip"]) for r in jsonl) == Counter(keys)
    document = orjson.loads((out / "json/indicators.json").read_bytes())
    assert Counter((r["rule"], r["ip"]) for r in document["indicators"]) == Counter(keys)
    bundle = orjson.loads((out / "stix/bundle.json").read_bytes())
    patterns = Counter(
        (o["labels"][1], o["pattern"].split("'")[1])
        for o in bundle["objects"]
        if o["type"] == "indicator"
    )
    assert patterns == Counter(keys)
    assert any("ipv6-addr" in o.get("pattern", "") for o in bundle["objects"])
    zeek = [line.split("\t") for line in _lines(out / "zeek/c2tracker.intel")[1:]]
    assert Counter((f[2].removeprefix("c2tracker:"), f[0]) for f in zeek) == Counter(keys)
    for name in ("ids/suricata.rules", "ids/snort.rules"):
        alerts = [line for line in _lines(out / name) if line.startswith("alert ")]
        assert Counter(
            (line.split("c2tracker_rule ")[1].split(",")[0], line.split(" ")[5]) for line in alerts
        ) == Counter(keys)

    # MISP: one event per family with indicators, one attribute per port.
    ports = {(i.rule_id, i.ip): len(i.ports) or 1 for i in active}
    for spec in RULES:
        event_path = out / "misp" / f"{event_uuid(spec.id)}.json"
        expected = Counter({ip: n for (rule, ip), n in ports.items() if rule == spec.id})
        if not expected:
            assert not event_path.exists()
            continue
        event = orjson.loads(event_path.read_bytes())["Event"]
        assert Counter(a["value"].split("|")[0] for a in event["Attribute"]) == expected
    assert ports[("cobalt-strike", SHARED)] == 2

    # Original layout: the original names, every family kept, each address once per file.
    for spec in RULES:
        family_ips = sorted(ip for rule, ip in keys if rule == spec.id)
        original = out / "data" / original_file_name(spec.feed_name)
        assert sorted(_lines(original)) == family_ips
        assert sorted(_lines(out / "lists/families" / f"{family_slug(spec.id)}.txt")) == family_ips
    assert (out / "data/Cobalt Strike C2 IPs.txt").is_file()
    assert (out / "data/Havoc C2 IPs.txt").read_bytes() == b""
    everything = _lines(out / "data/all.txt")
    assert sorted(everything) == sorted({ip for _rule, ip in keys})
    assert everything.count(SHARED) == 1 and everything[-1] == IPV6

    # Blocklist: no dual-use tool, honeypot or revoked address; everything else active.
    blockable = {ip for (rule, ip) in keys if rule != "gophish"}
    blocklist = _lines(out / "lists/blocklist.txt")
    assert set(blocklist) == blockable and len(blocklist) == len(blockable)
    assert TOOL_ONLY not in blocklist and HONEYPOT not in blocklist and REVOKED not in blocklist
    assert "45.61.136.1" in blocklist  # also a GoPhish host, but Cobalt Strike makes it blockable
    assert TOOL_ONLY in _lines(out / "lists/tool.txt")
    assert _lines(out / "paloalto/blocklist.txt") == blocklist
    assert sum(
        line.startswith("add c2tracker") for line in _lines(out / "ipset/blocklist.ipset")
    ) == len(blockable)

    # The manifest lists every file with its true sha256.
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {
        "manifest.json"
    }
    assert {entry.path for entry in manifest.files} == on_disk
    for entry in manifest.files:
        assert file_sha256(out / entry.path) == entry.sha256, entry.path
    assert manifest.counts["indicators"] == 9
    assert manifest.data_source == "live"
    status = orjson.loads((out / "status.json").read_bytes())
    assert status["stale"] is False and status["failed_queries"] == []
