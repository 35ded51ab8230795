"""Data the server tests serve: three families, three runs, sightings with hostile evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.server.memstore import MemoryStore

from c2tracker.model import (
    Category,
    Indicator,
    IndicatorStatus,
    QueryOutcome,
    QueryRunInfo,
    RuleStat,
    RunInfo,
    Sighting,
)

READ_TOKEN = "read-token-1234567890"
SERVER_TOKEN = "operator-token-0987654321"

T0 = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)

#: Text that would run if any page put scan data into HTML without escaping.
SCRIPT_PAYLOAD = "<script>window.__pwned=1</script>"
IMG_PAYLOAD = "<img src=x onerror=window.__pwned=2>"
HOSTILE_TITLE = f"Panel {SCRIPT_PAYLOAD} {IMG_PAYLOAD}"

HOSTILE_IP = "203.0.113.66"
C2_IPS = [f"198.51.100.{n}" for n in range(1, 31)]
TOOL_IPS = ["192.0.2.10", "192.0.2.11", "2001:db8::5"]


def _indicator(
    ip: str, rule_id: str, family: str, category: Category, **extra: object
) -> Indicator:
    values: dict[str, object] = {
        "ip": ip,
        "rule_id": rule_id,
        "family": family,
        "feed_name": family,
        "category": category,
        "kind": "framework" if category is Category.C2 else "tool",
        "dual_use": category is Category.TOOL,
        "first_seen": T0,
        "last_seen": T0 + timedelta(days=14),
        "times_seen": 3,
        "ports": (443,),
        "engines": ("shodan",),
        "queries": (f"{rule_id}:shodan:0000aaaa",),
        "confidence": 80,
        "status": IndicatorStatus.ACTIVE,
        "valid_until": T0 + timedelta(days=44),
        "malpedia": ("https://malpedia.caad.fkie.fraunhofer.de/details/win.cobalt_strike",),
        "mitre": ("S0154",),
    }
    values.update(extra)
    return Indicator(**values)  # type: ignore[arg-type]


def seeded_memory_store() -> MemoryStore:
    store = MemoryStore()
    for n, ip in enumerate(C2_IPS):
        store.indicators.append(
            _indicator(
                ip,
                "cobalt-strike",
                "Cobalt Strike",
                Category.C2,
                last_seen=T0 + timedelta(days=n % 15),
            )
        )
    for ip in TOOL_IPS:
        store.indicators.append(_indicator(ip, "xmrig", "XMRig", Category.TOOL, malpedia=()))
    store.indicators.append(
        _indicator(HOSTILE_IP, "hostile-panel", HOSTILE_TITLE, Category.MALWARE, ports=(8080,))
    )
    store.indicators.append(
        _indicator(
            C2_IPS[0],
            "sliver",
            "Sliver",
            Category.C2,
            status=IndicatorStatus.EXPIRED,
            valid_until=T0 + timedelta(days=2),
            last_seen=T0,
        )
    )

    for run_id in (1, 2, 3):
        started = T0 + timedelta(days=7 * (run_id - 1))
        store.run_list.append(
            RunInfo(
                id=run_id,
                started_at=started,
                finished_at=started + timedelta(minutes=5),
                status="ok" if run_id != 2 else "partial",
                sources=("shodan",),
                observations=10 * run_id,
                queries_ok=4,
                queries_failed=1 if run_id == 2 else 0,
                queries_skipped=0,
                credits={"shodan": run_id},
            )
        )
        store.query_run_list.append(
            QueryRunInfo(
                run_id=run_id,
                rule_id="cobalt-strike",
                engine="shodan",
                query='ssl.jarm:"07d14d16d21d21d07c42d41d00041d"',
                outcome=QueryOutcome.OK,
                reason=None,
                pages=1,
                credits=1,
                results=10 * run_id,
                duration_s=1.5,
            )
        )
        store.stats.append(RuleStat(run_id, "cobalt-strike", 10 * run_id, 5, 5 * run_id, 0, {}))
        store.sightings.append(
            Sighting(
                ip=HOSTILE_IP,
                port=8080,
                transport="tcp",
                rule_id="hostile-panel",
                engine="shodan",
                query=f"http.title:{SCRIPT_PAYLOAD}",
                run_id=run_id,
                seen_at=started + timedelta(hours=1),
                evidence={"http.title": HOSTILE_TITLE, "http.html": IMG_PAYLOAD},
                hostnames=("evil.example",),
                org=IMG_PAYLOAD,
            )
        )
    store.engines = {"shodan": T0 + timedelta(days=14), "censys": None}
    return store
