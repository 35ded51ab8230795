"""Every format on a fixed set of indicators: golden files, exactly-once, ecosystem validators."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import orjson
import pytest
from idstools import rule as idsrule
from pymisp import MISPAttribute, MISPEvent
from stix2validator import ValidationOptions, validate_file

from c2tracker.feeds.base import FeedContext, family_slug, original_file_name
from c2tracker.feeds.build import build_feeds
from c2tracker.feeds.formats import standard_exporters
from c2tracker.feeds.formats.ids import SID_BASE, SID_SPAN, escape_msg
from c2tracker.feeds.formats.misp import attribute_dicts
from c2tracker.feeds.formats.stix import indicator_objects, indicator_objects_stix2
from c2tracker.feeds.formats.zeek import zeek_field
from c2tracker.model import IndicatorStatus
from feeds.feed_fixtures import FAMILIES, fixed_indicators, hostile_indicators

GOLDEN = Path(__file__).parent / "golden"
ACTIVE = [i for i in fixed_indicators() if i.status is IndicatorStatus.ACTIVE]
BLOCKABLE = [i for i in ACTIVE if i.is_blockable]
FAMILY = {family.rule_id: family for family in FAMILIES}


@pytest.fixture
def built(tmp_path: Path, context: FeedContext) -> Path:
    build_feeds(fixed_indicators(), standard_exporters(context), context, tmp_path)
    return tmp_path


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_every_file_matches_its_golden_copy(built: Path) -> None:
    produced = _tree(built)
    if os.environ.get("C2TRACKER_UPDATE_GOLDEN"):
        for name, content in produced.items():
            (GOLDEN / name).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / name).write_bytes(content)
    assert produced == _tree(GOLDEN)


def _ips(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _unique_ips(indicators: list) -> set[str]:  # type: ignore[type-arg]
    return {i.ip for i in indicators}


def test_original_layout_keeps_names_and_empty_families(built: Path) -> None:
    data = built / "data"
    assert _ips(data / "Cobalt Strike C2 IPs.txt") == ["198.51.100.7", "203.0.113.5", "2001:db8::5"]
    # extra feed names carry the same content; a family with no active indicator keeps a file.
    assert _ips(data / "Cobalt Strike IPs.txt") == _ips(data / "Cobalt Strike C2 IPs.txt")
    assert (data / "Havoc C2 IPs.txt").read_bytes() == b""
    # all.txt = every active indicator, dual-use included, numerically sorted, unique.
    assert _ips(data / "all.txt") == [
        "9.9.9.9",
        "100.64.1.1",
        "192.0.2.10",
        "198.51.100.7",
        "203.0.113.5",
        "203.0.113.9",
        "2001:db8::5",
    ]


def test_blocklist_leaves_out_dual_use_and_inactive(built: Path) -> None:
    blocklist = set(_ips(built / "lists" / "blocklist.txt"))
    assert blocklist == _unique_ips(BLOCKABLE)
    assert "203.0.113.9" not in blocklist  # GoPhish only
    assert "198.51.100.7" in blocklist  # GoPhish and Cobalt Strike: blocked for the latter
    for inactive in ("10.0.0.1", "192.0.2.66", "192.0.2.77", "192.0.2.88"):
        assert inactive not in blocklist
    for fmt in ("paloalto/blocklist.txt",):
        assert set(_ips(built / fmt)) == blocklist
    assert set(_ips(built / "lists" / "tool.txt")) == {"198.51.100.7", "203.0.113.9"}


def test_windows_filter_by_last_seen(built: Path) -> None:
    seven = {r["ip"] for r in map(json.loads, _ips(built / "json/7d/indicators.jsonl"))}
    assert seven == {i.ip for i in ACTIVE if (i.last_seen >= FAMILIES_NOW_MINUS(7))}
    # last-run: seen since the previous run started (8.5 days before NOW in the fixture).
    last_run = {r["ip"] for r in map(json.loads, _ips(built / "json/last-run/indicators.jsonl"))}
    assert "192.0.2.10" in last_run and "100.64.1.1" not in last_run


def FAMILIES_NOW_MINUS(days: int):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from feeds.feed_fixtures import NOW

    return NOW - timedelta(days=days)


def test_each_active_indicator_appears_exactly_once_in_every_format(built: Path) -> None:
    expected = sorted((i.rule_id, i.ip) for i in ACTIVE)

    with (built / "csv/indicators.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((r["rules"], r["ip"]) for r in rows) == expected

    lines = _ips(built / "json/indicators.jsonl")
    assert sorted((r["rule"], r["ip"]) for r in map(json.loads, lines)) == expected
    document = json.loads((built / "json/indicators.json").read_text())
    assert sorted((r["rule"], r["ip"]) for r in document["indicators"]) == expected

    bundle = json.loads((built / "stix/bundle.json").read_text())
    patterns = [o["pattern"] for o in bundle["objects"] if o["type"] == "indicator"]
    assert len(patterns) == len(expected)
    assert len({o["id"] for o in bundle["objects"]}) == len(bundle["objects"])

    for dialect in ("suricata", "snort"):
        rules = [r for r in _ips(built / f"ids/{dialect}.rules") if r.startswith("alert")]
        keys = sorted((r.split("c2tracker_rule ")[1].split(",")[0], r.split(" ")[5]) for r in rules)
        assert keys == expected

    zeek = [line.split("\t") for line in _ips(built / "zeek/c2tracker.intel")[1:]]
    assert sorted((f[2].removeprefix("c2tracker:"), f[0]) for f in zeek) == expected

    misp_pairs = []
    for event_file in (built / "misp").glob("*-*.json"):
        event = json.loads(event_file.read_text())["Event"]
        ips = {a["value"].split("|")[0] for a in event["Attribute"]}
        rule = next(r for r in FAMILY if event["info"].startswith(f"C2 Tracker: {FAMILY[r].name} "))
        misp_pairs += [(rule, ip) for ip in ips]
    assert sorted(misp_pairs) == expected

    ipset = [
        line.split()[2] for line in _ips(built / "ipset/blocklist.ipset") if line.startswith("add")
    ]
    nft = [
        line.split("{ ")[1].split(" }")[0]
        for line in _ips(built / "nftables/blocklist.nft")
        if line.startswith("add element")
    ]
    assert sorted(ipset) == sorted(nft) == sorted(_unique_ips(BLOCKABLE))


def test_stix_bundle_passes_the_validator_without_errors(built: Path) -> None:
    results = validate_file(str(built / "stix/bundle.json"), ValidationOptions(version="2.1"))
    assert results.is_valid
    assert not [e for r in results.object_results for e in r.errors]
    bundle = json.loads((built / "stix/bundle.json").read_text())
    types = {o["type"] for o in bundle["objects"]}
    assert types == {
        "marking-definition",
        "identity",
        "malware",
        "tool",
        "infrastructure",
        "relationship",
        "indicator",
    }
    marking = next(o for o in bundle["objects"] if o["type"] == "marking-definition")
    assert marking["id"] == "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
    v6 = next(o for o in bundle["objects"] if o.get("pattern", "").startswith("[ipv6"))
    assert v6["pattern"] == "[ipv6-addr:value = '2001:db8::5']"


def test_stix_fast_path_equals_stix2_objects() -> None:
    for indicator in fixed_indicators() + hostile_indicators():
        family = FAMILY[indicator.rule_id]
        fast = indicator_objects(indicator, family)
        reference = [json.loads(o.serialize()) for o in indicator_objects_stix2(indicator, family)]
        assert fast == reference


def test_stix_ids_are_stable_across_builds(tmp_path: Path, context: FeedContext) -> None:
    def ids(root: Path) -> list[str]:
        build_feeds(fixed_indicators(), standard_exporters(context), context, root)
        return [o["id"] for o in json.loads((root / "stix/bundle.json").read_text())["objects"]]

    assert ids(tmp_path / "a")[1:] == ids(tmp_path / "b")[1:]


def test_misp_events_load_in_pymisp_and_match_the_manifest(built: Path) -> None:
    manifest = json.loads((built / "misp/manifest.json").read_text())
    events = sorted(p.stem for p in (built / "misp").glob("*-*.json"))
    assert sorted(manifest) == events
    hashes = (built / "misp/hashes.csv").read_text().splitlines()
    parts = 0
    for uuid in events:
        event = MISPEvent()
        event.load_file(str(built / "misp" / f"{uuid}.json"))
        assert event.uuid == uuid and manifest[uuid]["info"] == event.info
        assert any(t.name == "tlp:clear" for t in event.tags)
        for attribute in event.attributes:
            assert attribute.type in ("ip-dst", "ip-dst|port")
            assert attribute.first_seen and attribute.last_seen
            parts += len(attribute.value.split("|"))
            assert f"{attribute.value.split('|')[0]}" in {i.ip for i in ACTIVE}
    assert parts == len(hashes)
    cobalt = json.loads(next((built / "misp").glob("*-*.json")).read_text())
    assert cobalt["Event"]["Orgc"]["name"] == "C2 Tracker"


def test_misp_attributes_equal_pymisp_serialisation() -> None:
    for indicator in fixed_indicators():
        for attribute in attribute_dicts(indicator):
            loaded = MISPAttribute()
            loaded.from_dict(**attribute)
            assert loaded._to_feed() == attribute
        assert all(a["to_ids"] is (not indicator.dual_use) for a in attribute_dicts(indicator))


def test_ids_rules_parse_and_have_stable_sids_in_range(built: Path, tmp_path: Path) -> None:
    suricata = [r for r in _ips(built / "ids/suricata.rules") if r.startswith("alert")]
    snort = [r for r in _ips(built / "ids/snort.rules") if r.startswith("alert")]
    parsed = [idsrule.parse(r) for r in suricata + snort]
    assert all(p is not None and p.msg.startswith("C2TRACKER") for p in parsed)
    sids = [p.sid for p in parsed[: len(suricata)]]
    assert len(set(sids)) == len(sids)
    assert all(SID_BASE <= sid < SID_BASE + SID_SPAN for sid in sids)
    assert sids == [p.sid for p in parsed[len(suricata) :]]
    assert "target:dest_ip;" in suricata[0] and "target:" not in snort[0]


def test_hostile_text_never_breaks_a_format(tmp_path: Path, context: FeedContext) -> None:
    build_feeds(hostile_indicators(), standard_exporters(context), context, tmp_path)
    with (tmp_path / "csv/indicators.csv").open(encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    assert len(lines) == 2  # header + one row: no newline survived inside a cell
    row = next(csv.DictReader(lines))
    assert row["org"].startswith("'=HYPERLINK")
    assert row["asn"] == "'-2+3"
    assert row["hostnames"] == "a.example b;'+cmd|' /C calc'!A0" or row["hostnames"].startswith(
        "a.example b"
    )
    assert "\x1b" not in (tmp_path / "csv/indicators.csv").read_text()
    record = orjson.loads((tmp_path / "json/indicators.jsonl").read_bytes())
    assert record["org"] == hostile_indicators()[0].org  # JSON keeps the value, escaped
    zeek = (tmp_path / "zeek/c2tracker.intel").read_text().splitlines()
    assert len(zeek) == 2 and len(zeek[1].split("\t")) == 5


def test_escapers_for_rule_and_zeek_fields() -> None:
    assert escape_msg('a "b"; c\\d\n') == 'a \\"b\\"\\; c\\\\d'
    assert (
        idsrule.parse(f'alert ip any any -> 1.2.3.4 any (msg:"{escape_msg("x; y")}"; sid:5;)').sid
        == 5
    )
    assert zeek_field("a\tb\nc\\") == "a\\x09b\\x0ac\\x5c"
    assert zeek_field("") == "-"
    assert zeek_field("-") == "\\x2d"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cobalt-strike", "cobalt-strike"),
        ("Cobalt Strike", "cobalt-strike-"),
        ("a/b", "a-b-"),
        ("Кобальт", "family-"),
        ("../etc", "etc-"),
    ],
)
def test_family_slugs_are_safe_and_stable(name: str, expected: str) -> None:
    slug = family_slug(name)
    assert slug.startswith(expected)
    assert slug == family_slug(name)
    assert "/" not in slug and ".." not in slug and slug.isascii()


def test_family_slugs_do_not_collide() -> None:
    assert family_slug("A/B") != family_slug("A B") != family_slug("a-b")


def test_original_file_names_cannot_escape_the_folder(tmp_path: Path) -> None:
    assert original_file_name("Cobalt Strike C2") == "Cobalt Strike C2 IPs.txt"
    for hostile in ("../../etc/passwd", "a/b", "..", "x\\y", "nul\x00"):
        name = original_file_name(hostile)
        assert "/" not in name and "\\" not in name and "\x00" not in name
        assert not name.startswith(".")
        assert (tmp_path / "data" / name).resolve().parent == (tmp_path / "data").resolve()


def test_blocking_feeds_wait_for_corroboration(tmp_path: Path) -> None:
    # A lone low-fidelity sighting (confidence 20) stays out of what firewalls block until it
    # is corroborated, but every other feed (all.txt, the family file, CSV) still lists it.
    from feeds.feed_fixtures import NOW, RUNS, indicator

    weak = indicator("198.51.100.20", "sliver", confidence=20)
    strong = indicator("198.51.100.30", "sliver", confidence=30)
    context = FeedContext.create(FAMILIES, generated_at=NOW, runs=RUNS, block_min_confidence=30)

    build_feeds([weak, strong], standard_exporters(context), context, tmp_path)

    for blocking in ("lists/blocklist.txt", "paloalto/blocklist.txt"):
        assert set(_ips(tmp_path / blocking)) == {"198.51.100.30"}, blocking
    for listing in ("data/all.txt", "lists/c2.txt"):
        assert set(_ips(tmp_path / listing)) == {"198.51.100.20", "198.51.100.30"}, listing
    csv_ips = {row["ip"] for row in csv.DictReader((tmp_path / "csv" / "indicators.csv").open())}
    assert csv_ips == {"198.51.100.20", "198.51.100.30"}


def test_publish_takes_the_confidence_floor_from_settings() -> None:
    from c2tracker.settings import load_settings

    assert load_settings(None, {}).block_min_confidence == 30
    assert FeedContext.create(FAMILIES).block_min_confidence == 0
