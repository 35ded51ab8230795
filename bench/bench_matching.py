"""Benchmark: the offline matcher against merely reading the same scan file.

Run as ``python bench/bench_matching.py [--records N] [--quick]`` (default N = 200,000).

It generates, seeded and into a temporary folder, N Shodan banners of realistic sizes (HTTP with
bodies of a few KB and favicons, TLS with certificates and PEM chains, SSH with keys, assorted
raw banners) with about 0.5 % positives built from the rule corpus's own positive test cases, as
one ``.json.gz`` file. Then, side by side in one run, it measures

- (a) decompressing and parsing every line with orjson,
- (b) decompressing and matching every rule of the corpus: the raw-line prefilter
  (``Matcher.raw_prefilter``) passes over the lines no rule can match, the rest are parsed with
  orjson and matched,
- (c) the same as (b) with only 10 rules (and their own prefilter),
- (d) the same as (b) through ``c2tracker.scandata.iter_records`` (what ``c2tracker match`` does),
- (e) the same as (b) without the prefilter: every line parsed and matched,

and prints the ratios b/a (target ≤ 1.3) and b/c (target ≤ 1.5); b and e must find the same
matches. Peak memory of the streaming
path (reader + matcher, in a fresh subprocess, ``VmHWM``) is measured for the file and for
a file twice as long (the same gzip members appended twice, as Shodan's tools append) to show
that it does not grow with the input.
"""

from __future__ import annotations

import argparse
import base64
import copy
import gzip
import hashlib
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mmh3
import orjson

from c2tracker.matching import Matcher
from c2tracker.querylang.ast import Engine
from c2tracker.rules import Rule, load_rules

POSITIVE_SHARE = 0.005
TEN = 10

_WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "for",
    "on",
    "with",
    "as",
    "by",
    "at",
    "from",
    "this",
    "that",
    "be",
    "are",
    "it",
    "or",
    "an",
    "was",
    "login",
    "user",
    "password",
    "admin",
    "panel",
    "dashboard",
    "welcome",
    "sign",
    "submit",
    "form",
    "input",
    "button",
    "div",
    "span",
    "class",
    "id",
    "style",
    "script",
    "src",
    "href",
    "link",
    "meta",
    "content",
    "viewport",
    "width",
    "device",
    "initial",
    "scale",
    "charset",
    "utf",
    "jquery",
    "bootstrap",
    "container",
    "row",
    "col",
    "navbar",
    "footer",
    "header",
    "main",
    "section",
    "article",
    "copyright",
    "all",
    "rights",
    "reserved",
    "privacy",
    "policy",
    "terms",
    "contact",
    "about",
    "home",
    "services",
    "products",
    "support",
    "news",
    "blog",
    "search",
    "menu",
    "toggle",
    "icon",
    "image",
    "logo",
    "banner",
    "slider",
    "item",
    "list",
    "table",
    "data",
    "value",
    "server",
    "client",
    "request",
    "response",
    "error",
    "page",
    "not",
    "found",
    "forbidden",
    "redirect",
    "loading",
    "please",
    "wait",
    "enable",
    "javascript",
    "browser",
    "cookie",
    "session",
    "token",
    "secure",
    "account",
    "remember",
    "forgot",
    "reset",
]
_TAGS = ("div", "span", "p", "a", "li", "td", "section", "h2", "label", "button")


def _chunk(rng: random.Random) -> str:
    """About 700 bytes of HTML-ish text."""
    parts: list[str] = []
    while sum(len(p) for p in parts) < 700:
        tag = rng.choice(_TAGS)
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 14)))
        parts.append(f'<{tag} class="{rng.choice(_WORDS)}-{rng.randint(1, 99)}">{words}</{tag}>\n')
    return "".join(parts)


class Generator:
    """Seeded realistic Shodan banners."""

    def __init__(self, seed: int, positives: list[dict[str, Any]]) -> None:
        self.rng = random.Random(seed)
        self.chunks = [_chunk(self.rng) for _ in range(1500)]
        self.positives = positives
        self.icons = [
            base64.encodebytes(self.rng.randbytes(self.rng.randint(300, 1500))).decode()
            for _ in range(200)
        ]

    def banner(self) -> dict[str, Any]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.50:
            banner = self._http(tls=False)
        elif roll < 0.75:
            banner = self._http(tls=True)
        elif roll < 0.88:
            banner = self._ssh()
        else:
            banner = self._raw()
        if self.positives and rng.random() < POSITIVE_SHARE:
            banner = _overlay(banner, copy.deepcopy(rng.choice(self.positives)))
        return banner

    def _base(self, port: int, data: str, module: str) -> dict[str, Any]:
        rng = self.rng
        ip = ".".join(str(rng.randint(1, 223 if i == 0 else 254)) for i in range(4))
        name = f"{rng.choice(_WORDS)}{rng.randint(1, 999)}.example.net"
        return {
            "ip": sum(int(p) << s for p, s in zip(ip.split("."), (24, 16, 8, 0), strict=True)),
            "ip_str": ip,
            "port": port,
            "transport": "tcp",
            "hash": mmh3.hash(data),
            "data": data,
            "timestamp": f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T0{rng.randint(0, 9)}:"
            f"1{rng.randint(0, 9)}:2{rng.randint(0, 9)}.{rng.randint(100000, 999999)}",
            "hostnames": [name],
            "domains": ["example.net"],
            "org": rng.choice(["DigitalOcean, LLC", "Amazon.com, Inc.", "Hetzner Online GmbH"]),
            "isp": rng.choice(["DigitalOcean, LLC", "Amazon.com, Inc.", "Hetzner Online GmbH"]),
            "asn": f"AS{rng.randint(1000, 65000)}",
            "os": None,
            "location": {
                "city": rng.choice(["Frankfurt am Main", "Amsterdam", "New York", "Singapore"]),
                "region_code": "HE",
                "country_code": rng.choice(["DE", "NL", "US", "SG"]),
                "country_name": "Germany",
                "latitude": rng.uniform(-60, 60),
                "longitude": rng.uniform(-120, 120),
                "postal_code": None,
                "area_code": None,
                "dma_code": None,
                "country_code3": None,
            },
            "_shodan": {
                "id": hashlib.md5(data.encode() + ip.encode()).hexdigest(),
                "module": module,
                "crawler": hashlib.sha1(ip.encode()).hexdigest(),
                "ptr": True,
                "region": "eu",
                "options": {},
            },
            "opts": {},
            "tags": rng.choice([[], [], ["cloud"], ["self-signed"]]),
        }

    def _http(self, *, tls: bool) -> dict[str, Any]:
        rng = self.rng
        html = "".join(rng.choice(self.chunks) for _ in range(rng.randint(2, 8)))
        html = f"<html><head><title>{rng.choice(_WORDS)}</title></head><body>{html}</body></html>"
        server = rng.choice(["nginx", "Apache/2.4.41 (Ubuntu)", "Microsoft-IIS/10.0", "cloudflare"])
        title = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 5))).title()
        data = (
            f"HTTP/1.1 200 OK\r\nServer: {server}\r\nDate: Mon, 01 Jan 2026 00:00:00 GMT\r\n"
            f"Content-Type: text/html; charset=UTF-8\r\nContent-Length: {len(html)}\r\n"
            f'Connection: keep-alive\r\nETag: "{rng.randint(10**8, 10**9):x}"\r\n\r\n'
        )
        port = rng.choice([80, 8080, 8000, 8888]) if not tls else rng.choice([443, 8443, 4443])
        banner = self._base(port, data, "https" if tls else "http")
        icon = rng.choice(self.icons) if rng.random() < 0.3 else None
        banner["http"] = {
            "status": 200,
            "title": title,
            "html": html,
            "html_hash": mmh3.hash(html),
            "title_hash": mmh3.hash(title),
            "server": server,
            "server_hash": mmh3.hash(server),
            "headers_hash": rng.randint(-(2**31), 2**31 - 1),
            "host": banner["ip_str"],
            "location": "/",
            "redirects": [],
            "robots": None,
            "robots_hash": None,
            "securitytxt": None,
            "securitytxt_hash": None,
            "sitemap": None,
            "sitemap_hash": None,
            "dom_hash": rng.randint(-(2**31), 2**31 - 1),
            "components": {"jQuery": {"categories": ["JavaScript libraries"]}},
            "favicon": (
                {"hash": mmh3.hash(icon), "data": icon, "location": "/favicon.ico"}
                if icon
                else None
            ),
            "waf": None,
        }
        if tls:
            banner["ssl"] = self._ssl(banner["hostnames"][0])
        return banner

    def _ssl(self, name: str) -> dict[str, Any]:
        rng = self.rng
        pem = base64.encodebytes(rng.randbytes(rng.randint(900, 1300))).decode()
        return {
            "cert": {
                "serial": rng.getrandbits(63),  # orjson writes at most 64-bit integers
                "sig_alg": "sha256WithRSAEncryption",
                "issued": "20260101000000Z",
                "expires": "20270101000000Z",
                "expired": False,
                "version": 2,
                "fingerprint": {
                    "sha1": rng.randbytes(20).hex(),
                    "sha256": rng.randbytes(32).hex(),
                },
                "subject": {"CN": name},
                "issuer": rng.choice(
                    [{"C": "US", "O": "Let's Encrypt", "CN": "R11"}, {"CN": name, "O": "Self"}]
                ),
                "pubkey": {"type": "rsa", "bits": 2048},
                "extensions": [
                    {"name": "subjectAltName", "data": "0\\x0f\\x82\\r" + name},
                    {"name": "basicConstraints", "data": "0\\x00", "critical": True},
                ],
            },
            "cipher": {"version": "TLSv1.3", "bits": 256, "name": "TLS_AES_256_GCM_SHA384"},
            "versions": ["TLSv1.2", "TLSv1.3", "-TLSv1", "-SSLv3"],
            "chain": [f"-----BEGIN CERTIFICATE-----\n{pem}-----END CERTIFICATE-----\n"],
            "chain_sha256": [rng.randbytes(32).hex()],
            "jarm": rng.randbytes(31).hex(),
            "ja3s": rng.randbytes(16).hex(),
            "alpn": ["h2", "http/1.1"],
            "ocsp": {},
            "dhparams": None,
            "trust": {"revoked": False, "browser": None},
            "handshake_states": ["before SSL initialization", "SSL negotiation finished"],
            "unstable": [],
            "tlsext": [{"id": 65281, "name": "renegotiation_info"}],
            "acceptable_cas": [],
        }

    def _ssh(self) -> dict[str, Any]:
        rng = self.rng
        key = base64.encodebytes(rng.randbytes(280)).decode()
        data = f"SSH-2.0-OpenSSH_8.{rng.randint(0, 9)}p1 Ubuntu\n\nKey type: ssh-rsa\nKey: {key}"
        banner = self._base(rng.choice([22, 2222]), data, "ssh")
        banner["ssh"] = {
            "type": "ssh-rsa",
            "fingerprint": ":".join(f"{b:02x}" for b in rng.randbytes(16)),
            "key": key,
            "cipher": "aes128-ctr",
            "mac": "hmac-sha2-256",
            "hassh": rng.randbytes(16).hex(),
            "kex": {
                "kex_algorithms": ["curve25519-sha256", "ecdh-sha2-nistp256"],
                "server_host_key_algorithms": ["rsa-sha2-512", "ssh-ed25519"],
                "encryption_algorithms": ["aes128-ctr", "chacha20-poly1305@openssh.com"],
                "mac_algorithms": ["hmac-sha2-256"],
                "compression_algorithms": ["none"],
            },
        }
        return banner

    def _raw(self) -> dict[str, Any]:
        rng = self.rng
        data = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 80)))
        return self._base(rng.randint(1, 65535), data, "auto")


def _overlay(base: dict[str, Any], positive: dict[str, Any]) -> dict[str, Any]:
    """``base`` with the positive record's fields laid over it (objects merged)."""
    for key, value in positive.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _overlay(base[key], value)
        else:
            base[key] = value
    if "data" in positive and "hash" not in positive:
        base["hash"] = mmh3.hash(base["data"]) if isinstance(base["data"], str) else 0
    return base


def shodan_positives(rules: list[Rule]) -> list[dict[str, Any]]:
    return [
        test.record
        for rule in rules
        for test in rule.tests
        if test.engine is Engine.SHODAN and test.expect == "match"
    ]


def write_corpus(path: Path, count: int, seed: int, rules: list[Rule]) -> None:
    generator = Generator(seed, shodan_positives(rules))
    with gzip.open(path, "wb", compresslevel=6) as out:
        for _ in range(count):
            out.write(orjson.dumps(generator.banner(), option=orjson.OPT_APPEND_NEWLINE))


def iter_parsed(
    path: Path, prefilter: Callable[[bytes], bool] | None = None
) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rb") as stream:
        if prefilter is None:
            for line in stream:
                yield orjson.loads(line)
        else:
            for line in stream:
                if prefilter(line):
                    yield orjson.loads(line)


def timed(label: str, work: Callable[[], int]) -> tuple[float, int]:
    # CPU time of this process: the machine is shared, and wall time would charge other
    # processes' work to whichever pass happened to run beside them.
    start = time.process_time()
    result = work()
    elapsed = time.process_time() - start
    print(f"  {label:<44} {elapsed:8.2f} s CPU  ({result:,})", flush=True)
    return elapsed, result


def measure(path: Path, rules: list[Rule], repeats: int) -> dict[str, float]:
    everything = Matcher(rules, engines=[Engine.SHODAN])
    ten_rules = [rule for rule in rules if rule.queries_for(Engine.SHODAN)][:TEN]
    ten = Matcher(ten_rules, engines=[Engine.SHODAN])
    print(
        f"rules: all = {everything.rule_count} ({everything.query_count} Shodan queries), "
        f"ten = {ten.rule_count} ({ten.query_count} queries)"
    )

    def parse_only() -> int:
        return sum(1 for _ in iter_parsed(path))

    def match_with(matcher: Matcher, *, prefilter: bool = True) -> Callable[[], int]:
        # Built once, like the matcher: compiling the patterns is a one-off cost per run of
        # `c2tracker match`, not a cost per record.
        line_filter = matcher.raw_prefilter() if prefilter else None

        def run() -> int:
            found = 0
            before = line_filter.passed_over if line_filter is not None else 0
            for record in iter_parsed(path, line_filter):
                found += len(matcher.match(record, Engine.SHODAN))
            if line_filter is not None:
                passed[0] = line_filter.passed_over - before
            return found

        return run

    reader_filter = everything.raw_prefilter()

    def through_reader() -> int:
        from c2tracker.scandata import ReadStats, iter_records

        found = 0
        for record in iter_records([path], ReadStats(), prefilter=reader_filter):
            found += len(everything.match(record.data, record.engine))
        return found

    passed = [0]
    counts: dict[str, int] = {}
    line_filter = everything.raw_prefilter()
    if line_filter is None:
        sys.exit("the raw-line prefilter needs Hyperscan (pip install hyperscan)")
    print(
        f"prefilter: {len(line_filter.plan.needles)} raw keys, {len(line_filter.plan.forces)} "
        f"force patterns, hash guard {'on' if line_filter.plan.hash_guard else 'off'}, "
        f"{len(line_filter.plan.unkeyed)} queries without a raw key, {line_filter.backend}"
    )

    best: dict[str, float] = {}
    # Interleaved repeats, best of each, so that drift (thermal, cache) hits all alike.
    for round_ in range(repeats):
        print(f"round {round_ + 1}/{repeats}")
        for name, work in (
            ("a: gunzip + orjson", parse_only),
            ("b: gunzip + prefilter + match all rules", match_with(everything)),
            ("c: gunzip + prefilter + match 10 rules", match_with(ten)),
            ("d: b through scandata.iter_records", through_reader),
            ("e: b without the prefilter", match_with(everything, prefilter=False)),
        ):
            evaluations = everything.evaluations
            elapsed, found = timed(name, work)
            best[name[0]] = min(best.get(name[0], elapsed), elapsed)
            counts[name[0]] = found
            if name[0] == "b":
                best["evaluations"] = everything.evaluations - evaluations
                best["passed"] = passed[0]
    if counts["b"] != counts["e"] or counts["d"] != counts["e"]:
        sys.exit(f"prefilter changed the result: {counts}")
    best["matches"] = counts["b"]
    return best


def memory_child(path: str) -> None:
    """Subprocess body: stream ``path`` through the reader and matcher, print peak RSS (KiB)."""
    from c2tracker.scandata import ReadStats, iter_records

    matcher = Matcher(load_rules())
    stats = ReadStats()
    records = iter_records([path], stats, prefilter=matcher.raw_prefilter())
    matches = sum(len(matcher.match(r.data, r.engine)) for r in records)
    print(
        orjson.dumps(
            {
                "peak_kib": _peak_kib(),
                "records": stats.records + stats.passed_over,
                "matches": matches,
            }
        ).decode()
    )


def _peak_kib() -> int:
    """This process's peak resident memory in KiB.

    Linux ``VmHWM`` belongs to the process image since ``exec``; ``ru_maxrss`` would also count
    the parent's peak, which Linux carries across ``exec`` into the child's rusage.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_memory(path: Path) -> dict[str, int]:
    output = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, int] = orjson.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="banners to generate")
    parser.add_argument("--quick", action="store_true", help="5,000 records, one round")
    parser.add_argument("--repeats", type=int, default=2, help="timing rounds (best is kept)")
    parser.add_argument("--seed", type=int, default=20260316)
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    count = 5_000 if args.quick else args.records
    repeats = 1 if args.quick else args.repeats

    rules = list(load_rules())
    with tempfile.TemporaryDirectory(prefix="c2t-bench-") as folder:
        path = Path(folder) / "banners.json.gz"
        start = time.perf_counter()
        write_corpus(path, count, args.seed, rules)
        size = path.stat().st_size
        print(
            f"generated {count:,} banners, {size / 1e6:.1f} MB gzip, "
            f"in {time.perf_counter() - start:.1f} s"
        )

        best = measure(path, rules, repeats)
        double = Path(folder) / "banners-2x.json.gz"
        with double.open("wb") as out:
            for _ in range(2):
                with path.open("rb") as member:
                    shutil.copyfileobj(member, out)
        one, two = peak_memory(path), peak_memory(double)

    a, b, c, d, e = best["a"], best["b"], best["c"], best["d"], best["e"]
    print()
    print(f"records                     {count:,}")
    print(f"per record: a {a / count * 1e6:.1f} µs, b {b / count * 1e6:.1f} µs, "
          f"c {c / count * 1e6:.1f} µs, d {d / count * 1e6:.1f} µs, "
          f"e {e / count * 1e6:.1f} µs")  # fmt: skip
    print(f"lines passed over unparsed  {best['passed']:,.0f} ({best['passed'] / count:.1%}); "
          f"matches {best['matches']:,.0f} (b = d = e)")  # fmt: skip
    print(f"full evaluations (all rules) {best['evaluations']:,.0f} "
          f"({best['evaluations'] / count:.3f} a record)")  # fmt: skip
    print(f"b/a all rules ÷ parse only  {b / a:.2f}  (target ≤ 1.3)")
    print(f"b/c all rules ÷ 10 rules    {b / c:.2f}  (target ≤ 1.5)")
    print(f"d/a via iter_records        {d / a:.2f}")
    print(f"e/a without the prefilter   {e / a:.2f}")
    print(
        f"peak RSS streaming match    {one['peak_kib'] / 1024:.1f} MiB for {one['records']:,} "
        f"records, {two['peak_kib'] / 1024:.1f} MiB for {two['records']:,} "
        f"(matches {one['matches']:,} / {two['matches']:,})"
    )


if __name__ == "__main__":
    main()
