"""Benchmark: ``GET /api/v1/ip/{ip}`` against a small static file, on the same server, with wrk.

Builds a SQLite store of N indicators (default 100,000) through the store's public API, starts
``c2tracker serve``'s app on uvicorn in a child process on 127.0.0.1, and drives it with ``wrk``
(Debian's ``/usr/bin/wrk``), first with a Lua script that asks for a random known IP on every
request, then for a 200-byte file under ``/feeds/``. Printed: requests per second and p50/p99
latency of each, and the ratio lookup ÷ static (target ≥ 0.5).

Run: ``.venv/bin/python bench/bench_server.py`` (full size) or ``--quick`` (5,000 indicators,
short runs, for smoke tests). Loopback only; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from c2tracker.model import Category, Engine, Observation, QueryOutcome
from c2tracker.settings import Settings
from c2tracker.store import Store
from c2tracker.store.rulemeta import SimpleQuery, SimpleRule

WRK = "/usr/bin/wrk"
FAMILIES = 50
PAGE = 1000
T0 = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)

LUA = """
local ips = {}
for line in io.lines("%s") do ips[#ips + 1] = line end
math.randomseed(7)
request = function()
  return wrk.format("GET", "/api/v1/ip/" .. ips[math.random(#ips)])
end
"""


def make_rules() -> list[SimpleRule]:
    return [
        SimpleRule(
            id=f"family-{n:02d}",
            name=f"Family {n:02d}",
            category=Category.C2 if n % 2 else Category.MALWARE,
            feed_name=f"Family {n:02d}",
            queries=(SimpleQuery(Engine.SHODAN, f'http.title:"family {n}"'),),
        )
        for n in range(FAMILIES)
    ]


def public_ips(count: int, rng: random.Random) -> list[str]:
    """``count`` distinct addresses in 45.0.0.0/8 (public, so the bogon filter keeps them)."""
    chosen: set[int] = set()
    while len(chosen) < count:
        chosen.add(rng.randrange(1, 1 << 24))
    return [f"45.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" for n in sorted(chosen)]


def build_store(url: str, indicators: int) -> list[str]:
    """One run with ``indicators`` observations spread over the families; returns the IPs."""
    rng = random.Random(1)
    rules = make_rules()
    ips = public_ips(indicators, rng)
    store = Store.open(url)
    try:
        with store.begin_run(["shodan"], started_at=T0) as run:
            per_rule: dict[str, list[str]] = {rule.id: [] for rule in rules}
            for index, ip in enumerate(ips):
                per_rule[rules[index % FAMILIES].id].append(ip)
            for rule in rules:
                query = rule.queries[0].query
                qrid = run.start_query(rule.id, Engine.SHODAN, query)
                found = [
                    Observation(
                        ip=ip,
                        port=443,
                        transport="tcp",
                        rule_id=rule.id,
                        family=rule.name,
                        engine=Engine.SHODAN,
                        query=query,
                        timestamp=T0 - timedelta(hours=1),
                        evidence={"http.title": rule.name, "http.status": 200},
                        source="shodan",
                        asn="AS64500",
                        org="Example Hosting",
                        country="NL",
                    )
                    for ip in per_rule[rule.id]
                ]
                for page, offset in enumerate(range(0, len(found), PAGE), start=1):
                    run.record_page(qrid, page, found[offset : offset + PAGE], credits=1)
                run.finish_query(qrid, QueryOutcome.OK)
            store.finish_run(run, rules)
    finally:
        store.close()
    return ips


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(db: str, feeds: str, port: int) -> None:
    """Child-process mode: the server under test (one uvicorn worker, access log off)."""
    import uvicorn

    from c2tracker.server import create_app

    settings = Settings(db=db, feeds_dir=Path(feeds))
    app = create_app(settings, feeds_dir=Path(feeds), rules=[], job=lambda: None)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, seconds: int, connections: int, script: Path | None) -> WrkResult:
    command = [WRK, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return WrkResult(rate, p50, p99, int(errors.group(1)) if errors else 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--indicators", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=15, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="5,000 indicators, 3 s runs")
    parser.add_argument("--serve", nargs=3, metavar=("DB", "FEEDS", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]))
        return 0
    if args.quick:
        args.indicators, args.seconds = 5_000, 3
    if shutil.which(WRK) is None:
        print(f"{WRK} is missing (Debian package wrk)", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="c2tracker-bench-server-"))
    try:
        db = f"sqlite:///{work / 'store.sqlite'}"
        started = time.perf_counter()
        ips = build_store(db, args.indicators)
        print(f"store: {len(ips):,} indicators built in {time.perf_counter() - started:.1f} s")

        feeds = work / "feeds"
        feeds.mkdir()
        (feeds / "small.txt").write_text("".join(f"{ip}\n" for ip in ips[:14]))
        ip_list = work / "ips.txt"
        ip_list.write_text("\n".join(random.Random(2).sample(ips, min(10_000, len(ips)))))
        script = work / "random_ip.lua"
        script.write_text(LUA % ip_list)

        port = free_port()
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", db, str(feeds), str(port)],
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    if httpx.get(f"{base}/api/v1/ip/{ips[0]}").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            else:
                raise SystemExit("the server did not start")

            # Warm both paths, then measure them one after the other on the same server.
            run_wrk(f"{base}/feeds/small.txt", 1, args.connections, None)
            run_wrk(base, 1, args.connections, script)
            lookup = run_wrk(base, args.seconds, args.connections, script)
            static = run_wrk(f"{base}/feeds/small.txt", args.seconds, args.connections, None)
        finally:
            child.terminate()
            child.wait(10)

        print(f"wrk: 1 thread, {args.connections} connections, {args.seconds} s per run")
        for name, result in (("GET /api/v1/ip/{ip}", lookup), ("GET /feeds/small.txt", static)):
            print(
                f"{name:22} {result.requests_per_s:9.0f} req/s   p50 {result.p50_ms:7.2f} ms"
                f"   p99 {result.p99_ms:7.2f} ms   non-2xx {result.non_2xx}"
            )
        ratio = lookup.requests_per_s / static.requests_per_s
        print(f"ratio lookup ÷ static file: {ratio:.2f} (target ≥ 0.5)")
        return 0 if lookup.non_2xx == 0 else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
