"""Store benchmarks (issue 5), measured side by side in one run.

(a) ingest: one run of N observations recorded in pages of 100 (``record_page``, one
    transaction each) plus ``finish_run``, divided by a bare ``executemany`` of the same rows
    (the same tuples an observation becomes) into one table of a fresh SQLite file. Target <= 2.
(b) lookup: median time of ``Store.lookup(ip)`` for random IPs among N indicators. Target < 5 ms.
(c) import: a synthetic C2-Tracker git history of S weekly snapshots of about 3,500 IPs each
    (default 170), imported with ``import_c2_tracker(..., history=True)``; the time is reported.

Usage: ``bench/bench_store.py [--n N] [--snapshots S] [--quick]`` (``--quick``: N=20,000, S=8).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from c2tracker.model import Category, Fidelity, Observation, QueryOutcome
from c2tracker.querylang.ast import Engine
from c2tracker.store import Store
from c2tracker.store.importer import import_c2_tracker
from c2tracker.store.rulemeta import SimpleQuery, SimpleRule

PAGE = 100
#: First octets of ordinary routable space, so no generated address is a bogon.
_ROUTABLE_FIRST_OCTETS = (23, 31, 37, 45, 46, 77, 85, 91, 103, 139, 141, 185, 193, 194, 195, 212)
FAMILIES = 60


def make_rules() -> list[SimpleRule]:
    rules = []
    for i in range(FAMILIES):
        queries = tuple(
            SimpleQuery(engine, f'http.title:"panel {i}" port:{q}', Fidelity.MEDIUM)
            for q in range(2)
            for engine in (Engine.SHODAN, Engine.CENSYS)
        )
        rules.append(
            SimpleRule(
                id=f"family-{i}",
                name=f"Family {i}",
                feed_name=f"Family {i} C2",
                category=Category.C2,
                queries=queries,
            )
        )
    return rules


def make_observations(n: int, rules: list[SimpleRule], seed: int = 1) -> list[Observation]:
    """N observations over about N/4 IP×family pairs (each found on ~4 ports or queries)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    pairs = max(n // 4, 1)
    observations = []
    for k in range(n):
        pair = rng.randrange(pairs)
        rule = rules[pair % len(rules)]
        query = rule.queries[k % len(rule.queries)]
        first = _ROUTABLE_FIRST_OCTETS[pair % len(_ROUTABLE_FIRST_OCTETS)]
        ip = f"{first}.{(pair >> 4) % 256}.{(pair >> 12) % 256}.{pair % 250 + 1}"
        observations.append(
            Observation(
                ip=ip,
                port=rng.choice((80, 443, 8443, 50050)),
                transport="tcp",
                rule_id=rule.id,
                family=rule.name,
                engine=query.engine,
                query=query.query,
                timestamp=now - timedelta(hours=rng.randrange(600)),
                evidence={"http.title": f"panel {pair % 97}", "port": 443},
                source=query.engine.value,
                hostnames=("c2.example.net",) if k % 7 == 0 else (),
                asn=f"AS{rng.randrange(1, 64000)}",
                org="Example Hosting",
                country="NL",
            )
        )
    return observations


def as_tuple(obs: Observation) -> tuple[object, ...]:
    return (
        obs.ip,
        obs.port,
        obs.transport,
        obs.rule_id,
        obs.engine.value,
        obs.query,
        obs.timestamp.isoformat() if obs.timestamp else None,
        orjson.dumps(obs.evidence).decode(),
        orjson.dumps(list(obs.hostnames)).decode() if obs.hostnames else None,
        obs.asn,
        obs.org,
        obs.country,
        obs.source,
    )


def bare_insert(path: Path, observations: list[Observation]) -> float:
    start = time.perf_counter()
    rows = [as_tuple(obs) for obs in observations]
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE obs (ip TEXT, port INTEGER, transport TEXT, rule TEXT, engine TEXT, "
        "query TEXT, ts TEXT, evidence TEXT, hostnames TEXT, asn TEXT, org TEXT, country TEXT, "
        "source TEXT)"
    )
    with conn:
        conn.executemany("INSERT INTO obs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.close()
    return time.perf_counter() - start


def store_ingest(url: str, observations: list[Observation], rules: list[SimpleRule]) -> float:
    store = Store.open(url)
    start = time.perf_counter()
    by_query: dict[tuple[str, Engine, str], list[Observation]] = {}
    for obs in observations:
        by_query.setdefault((obs.rule_id, obs.engine, obs.query), []).append(obs)
    with store.begin_run(["shodan", "censys"]) as run:
        for (rule_id, engine, query), found in by_query.items():
            qrid = run.start_query(rule_id, engine, query)
            for page, offset in enumerate(range(0, len(found), PAGE), start=1):
                run.record_page(qrid, page, found[offset : offset + PAGE], credits=1)
            run.finish_query(qrid, QueryOutcome.OK)
        store.finish_run(run, rules)
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def bench_lookup(url: str, observations: list[Observation], lookups: int = 500) -> list[float]:
    store = Store.open(url)
    ips = list({obs.ip for obs in observations})
    rng = random.Random(7)
    timings = []
    for ip in rng.sample(ips, min(lookups, len(ips))):
        start = time.perf_counter()
        history = store.lookup(ip)
        timings.append(time.perf_counter() - start)
        assert history.indicators, ip
    store.close()
    return timings


def make_history(repo: Path, snapshots: int, ips_per_snapshot: int, rng: random.Random) -> None:
    """A git repository shaped like C2-Tracker: weekly commits rewriting data/*.txt."""
    data = repo / "data"
    data.mkdir(parents=True)
    env_base = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@example.org"}
    git = ["git", "-C", str(repo)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    pool = [
        f"{rng.randrange(11, 200)}.{rng.randrange(256)}.{rng.randrange(256)}.{i % 250 + 1}"
        for i in range(ips_per_snapshot * 3)
    ]
    live = set(rng.sample(pool, ips_per_snapshot))
    names = [f"Family {i} C2" for i in range(FAMILIES)]
    start = datetime(2022, 11, 7, 6, tzinfo=UTC)
    for week in range(snapshots):
        # ~10 % weekly turnover, as measured on the original feed (landscape.md §1.1).
        dropped = set(rng.sample(sorted(live), len(live) // 10))
        live = (live - dropped) | set(rng.sample(pool, len(dropped)))
        by_family: dict[str, list[str]] = {}
        for ip in live:
            by_family.setdefault(names[hash(ip) % len(names)], []).append(ip)
        for old in data.glob("*.txt"):
            old.unlink()
        for name, ips in by_family.items():
            (data / f"{name} IPs.txt").write_text("\n".join(sorted(ips)) + "\n")
        (data / "all.txt").write_text("\n".join(sorted(live)) + "\n")
        when = (start + timedelta(weeks=week)).isoformat()
        env = {
            **env_base,
            "GIT_AUTHOR_DATE": when,
            "GIT_COMMITTER_DATE": when,
            "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "b@example.org",
            "PATH": "/usr/bin:/bin",
        }
        subprocess.run([*git, "add", "-A", "data"], check=True, env=env)
        subprocess.run([*git, "commit", "-q", "-m", "Weekly Auto Update"], check=True, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="observations / indicators")
    parser.add_argument("--snapshots", type=int, default=170)
    parser.add_argument("--ips", type=int, default=3500, help="IPs per imported snapshot")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.snapshots = 20_000, 8

    rules = make_rules()
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp_dir:
        tmp = Path(tmp_dir)
        print(f"generating {args.n:,} observations…", file=sys.stderr)
        observations = make_observations(args.n, rules)

        bare = bare_insert(tmp / "bare.sqlite", observations)
        url = f"sqlite:///{tmp / 'store.sqlite'}"
        ingest = store_ingest(url, observations, rules)
        print(
            f"(a) ingest {args.n:,} observations: store {ingest:.2f} s, bare executemany "
            f"{bare:.2f} s, ratio {ingest / bare:.2f} (target <= 2)"
        )

        timings = bench_lookup(url, observations)
        store = Store.open(url)
        indicators = sum(count for _, count in store.families())
        store.close()
        median_ms = statistics.median(timings) * 1000
        p95_ms = sorted(timings)[int(len(timings) * 0.95)] * 1000
        print(
            f"(b) lookup among {indicators:,} indicators: median {median_ms:.2f} ms, "
            f"p95 {p95_ms:.2f} ms over {len(timings)} lookups (target median < 5 ms)"
        )
        del observations

        repo = tmp / "c2-tracker"
        make_history(repo, args.snapshots, args.ips, random.Random(3))
        import_store = Store.open(f"sqlite:///{tmp / 'import.sqlite'}")
        start = time.perf_counter()
        report = import_c2_tracker(import_store, repo, rules, history=True)
        elapsed = time.perf_counter() - start
        import_store.close()
        print(
            f"(c) import of {report.snapshots} weekly snapshots (~{args.ips:,} IPs each, "
            f"{report.observations:,} sightings): {elapsed:.1f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
