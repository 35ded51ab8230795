"""Data the server tests serve, written through the store's public API.

Four families over three weekly runs: Cobalt Strike grows from 10 to 30 IPs; Sliver is seen once
and expires (its window is 3 days); XMRig (a dual-use tool) fails its query in run 2; and a
"panel" whose name, title and evidence carry script payloads that must never run in a browser.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from c2tracker.model import Category, Engine, Observation, QueryOutcome
from c2tracker.settings import Settings
from c2tracker.store import Store
from c2tracker.store.rulemeta import SimpleQuery, SimpleRule

READ_TOKEN = "read-token-1234567890"
SERVER_TOKEN = "operator-token-0987654321"

T0 = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)

#: Text that would run if any page put scan data into HTML without escaping.
SCRIPT_PAYLOAD = "<script>window.__pwned=1</script>"
IMG_PAYLOAD = "<img src=x onerror=window.__pwned=2>"
HOSTILE_TITLE = f"Panel {SCRIPT_PAYLOAD} {IMG_PAYLOAD}"

# Public addresses (the store drops documentation and private ranges as bogons); tests never
# connect to them.
HOSTILE_IP = "185.220.101.66"
C2_IPS = [f"45.61.136.{n}" for n in range(1, 31)]
TOOL_IPS = ["91.92.240.10", "91.92.240.11", "2a0e:97c0:3e3::5"]


SLIVER_WINDOW_DAYS = 3


def rule(rule_id: str, name: str, category: Category, query: str, **extra: object) -> SimpleRule:
    values: dict[str, object] = {
        "id": rule_id,
        "name": name,
        "category": category,
        "feed_name": name,
        "queries": (SimpleQuery(Engine.SHODAN, query),),
    }
    values.update(extra)
    return SimpleRule(**values)  # type: ignore[arg-type]


RULES = [
    rule(
        "cobalt-strike",
        "Cobalt Strike",
        Category.C2,
        'ssl.jarm:"07d14d16d21d21d07c42d41d00041d"',
        malpedia=("win.cobalt_strike",),
        mitre=("S0154",),
    ),
    rule("sliver", "Sliver", Category.C2, 'ssl:"multiplayer"', malpedia=("win.sliver",)),
    rule("xmrig", "XMRig", Category.TOOL, 'http.title:"XMRig"', kind="miner", dual_use=True),
    rule(
        "hostile-panel",
        HOSTILE_TITLE,
        Category.MALWARE,
        f"http.title:{SCRIPT_PAYLOAD}",
        kind="stealer",
    ),
]

#: Per run (1-based): rule id → the IPs its query found; None means the query failed.
FOUND: dict[int, dict[str, list[str] | None]] = {
    1: {
        "cobalt-strike": C2_IPS[:10],
        "sliver": [C2_IPS[0]],
        "xmrig": TOOL_IPS,
        "hostile-panel": [HOSTILE_IP],
    },
    2: {"cobalt-strike": C2_IPS[:20], "sliver": [], "xmrig": None, "hostile-panel": [HOSTILE_IP]},
    3: {"cobalt-strike": C2_IPS, "sliver": [], "xmrig": TOOL_IPS, "hostile-panel": [HOSTILE_IP]},
}


def store_settings(db: str) -> Settings:
    return Settings(db=db, window_days_by_family={"sliver": SLIVER_WINDOW_DAYS})


def observation(ip: str, spec: SimpleRule, seen: datetime) -> Observation:
    hostile = spec.id == "hostile-panel"
    evidence: dict[str, object] = (
        {"http.title": HOSTILE_TITLE, "http.html": IMG_PAYLOAD}
        if hostile
        else {"ssl.jarm": "07d14d16d21d21d07c42d41d00041d"}
    )
    return Observation(
        ip=ip,
        port=8080 if hostile else 443,
        transport="tcp",
        rule_id=spec.id,
        family=spec.name,
        engine=Engine.SHODAN,
        query=spec.queries[0].query,
        timestamp=seen,
        evidence=evidence,
        source="shodan",
        hostnames=("evil.example",) if hostile else (),
        org=IMG_PAYLOAD if hostile else "Example Hosting",
        asn="AS64500",
        country="NL",
    )


def seed(store: Store, runs: int = 3) -> None:
    """Writes :data:`FOUND` into ``store`` as ``runs`` weekly collect runs."""
    for number in range(1, runs + 1):
        started = T0 + timedelta(days=7 * (number - 1))
        with store.begin_run(["shodan"], started_at=started) as handle:
            for spec in RULES:
                query = spec.queries[0].query
                query_run = handle.start_query(spec.id, Engine.SHODAN, query)
                ips = FOUND[number][spec.id]
                if ips is None:
                    handle.finish_query(query_run, QueryOutcome.FAILED, reason="HTTP 503")
                    continue
                seen = started + timedelta(hours=1)
                rows = [observation(ip, spec, seen) for ip in ips]
                handle.record_page(query_run, 1, rows, credits=1, total=len(rows))
                handle.finish_query(query_run, QueryOutcome.OK, duration_s=1.5)
            store.finish_run(handle, RULES)
