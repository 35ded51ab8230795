"""Every published hunting query in the shared reference folder parses.

The four collections in ``reference/queries/`` are the raw material for the rule corpus; a
query the parser rejects must be listed in :data:`REJECTED` with the reason the real engine
would reject it too.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from c2tracker.errors import QuerySyntaxError
from c2tracker.querylang import parse_query
from c2tracker.querylang.ast import And, Engine, Field, Op, Text

#: (engine, query) → why Censys or Shodan would refuse it as well.
REJECTED: dict[tuple[Engine, str], str] = {
    (
        Engine.CENSYS_LEGACY,
        "dns.names: *.gov or dns.names: *.mil or name: *.gov or name: *.mil",
    ): "leading wildcard; Search 2.0 allows wildcards 'in any combination except initially' "
    "(censys.md §4.1)",
}


def collect(reference_dir: Path) -> list[tuple[str, Engine, str]]:
    """(origin, engine, query) for every query in the four reference files."""
    folder = reference_dir / "queries"
    found: list[tuple[str, Engine, str]] = []

    tracker = json.loads((folder / "c2-tracker.json").read_text("utf-8"))
    for key, engine in (("shodan", Engine.SHODAN), ("censys_legacy", Engine.CENSYS_LEGACY)):
        for family, queries in tracker[key].items():
            found.extend((f"c2-tracker.json {key} {family}", engine, q) for q in queries)

    threatfox = (folder / "threatfox-censys-fingerprints.yaml").read_text("utf-8")
    for doc in yaml.safe_load_all(threatfox):
        if doc:
            found.append((f"threatfox {doc['name']}", Engine.CENSYS_LEGACY, doc["censys_query"]))

    # Every entry holds one legacy query under "query"; no other key holds a query (checked
    # below, so a new Platform-query key in a later snapshot would not go unparsed).
    awesome = json.loads((folder / "awesome-censys-queries.json").read_text("utf-8"))
    for category in awesome["categories"]:
        for entry in category["queries"]:
            origin = f"awesome-censys {entry['title']}"
            found.append((origin, Engine.CENSYS_LEGACY, entry["query"]))

    for line in (folder / "bushidouk-shodan-adversary-infra.md").read_text("utf-8").splitlines():
        if line.startswith("- "):
            found.append(("bushidouk", Engine.SHODAN, line[2:].strip()))
    return found


def test_awesome_censys_entries_hold_only_legacy_queries(reference_dir: Path) -> None:
    awesome = json.loads((reference_dir / "queries/awesome-censys-queries.json").read_text("utf-8"))
    keys = {key for cat in awesome["categories"] for entry in cat["queries"] for key in entry}
    assert keys == {"title", "query", "notes", "references", "screenshot", "virtual_hosts"}


def test_reference_collections_are_all_read(reference_dir: Path) -> None:
    queries = collect(reference_dir)
    by_origin = {origin.split()[0] for origin, _, _ in queries}
    assert by_origin == {"c2-tracker.json", "threatfox", "awesome-censys", "bushidouk"}
    # Counts from reference/queries/README.md (C2-Tracker: 103 Shodan, 72 legacy Censys).
    assert sum(1 for o, e, _ in queries if o.startswith("c2-tracker") and e is Engine.SHODAN) == 103
    assert sum(1 for o, _, _ in queries if o.startswith("threatfox")) == 71
    assert sum(1 for o, _, _ in queries if o.startswith("awesome")) == 84
    assert sum(1 for o, _, _ in queries if o.startswith("bushidouk")) == 34


def test_every_reference_query_parses(reference_dir: Path) -> None:
    failures: list[str] = []
    rejected_seen: set[tuple[Engine, str]] = set()
    for origin, engine, text in collect(reference_dir):
        try:
            query = parse_query(engine, text)
        except QuerySyntaxError as exc:
            if (engine, text) in REJECTED:
                rejected_seen.add((engine, text))
                continue
            failures.append(f"{origin}: {exc}\n{exc.caret()}")
            continue
        assert (engine, text) not in REJECTED, f"{origin}: listed as rejected but parses"
        assert query.engine is engine

    assert not failures, "\n".join(failures)
    assert rejected_seen == set(REJECTED)


def test_bushidouk_plus_query_is_two_filters(reference_dir: Path) -> None:
    # '+' before a known filter is a URL-encoded space (shodan.py PLUS_SEPARATES_FILTERS).
    jarm = "07d14d16d21d21d07c42d41d00041d24a458a375eef0c576d23a7bab9a9fb1"
    text = f"ssl.jarm:{jarm}+port:443"
    assert text in [q for o, _, q in collect(reference_dir) if o == "bushidouk"]
    assert parse_query("shodan", text).root == And(
        (Field("ssl.jarm", Op.MATCH, Text(jarm)), Field("port", Op.MATCH, Text("443")))
    )
