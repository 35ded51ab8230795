"""Bounded-memory helpers and the builder/delta paths that spill to disk."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from c2tracker.feeds import bounded, publish
from c2tracker.feeds.base import FeedContext, ip_key
from c2tracker.feeds.bounded import ExternalSort, RepeatFinder, SidSet
from c2tracker.feeds.build import build_feeds
from c2tracker.feeds.formats import standard_exporters
from c2tracker.settings import Settings
from feeds.feed_fixtures import FAMILIES, NOW, FakeStore, indicator


def test_external_sort_of_integers_and_lines_across_many_runs(tmp_path: Path) -> None:
    randomiser = random.Random(7)
    numbers = [randomiser.randrange(1 << 130) for _ in range(5000)] + [5, 5, 5]
    with ExternalSort[int](tmp_path, width=17, chunk=300) as ints:
        for number in numbers:
            ints.add(number)
        assert list(ints) == sorted(numbers)
        assert list(ints) == sorted(numbers)  # iterable again
        assert list(ints.unique()) == sorted(set(numbers))
        assert len(list((tmp_path).glob(".sort-*/run-*"))) == 17
    assert list(tmp_path.iterdir()) == []  # runs removed on close

    lines = [f"rule-{randomiser.randrange(50)}\t{n}".encode() for n in range(2000)]
    with ExternalSort[bytes](tmp_path, chunk=128) as texts:
        for line in lines:
            texts.add(line)
        assert list(texts) == sorted(lines)


def test_repeat_finder_reports_the_first_repeat_despite_bitmap_collisions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bounded, "CHUNK", 100)  # spill the values to disk several times
    finder = RepeatFinder(tmp_path, expected=10)  # a tiny bitmap: many false suspects
    values = list(range(0, 3000 * 8192, 8192))  # every value lands on the same bitmap slot
    for line, value in enumerate(values, 1):
        finder.add(value, line)
    assert finder.first_repeat() is None
    assert list(tmp_path.iterdir()) == []

    finder = RepeatFinder(tmp_path)
    for line, value in enumerate([*values, values[1234], values[17]], 1):
        finder.add(value, line)
    assert finder.first_repeat() == (1235, 3001)
    assert list(tmp_path.iterdir()) == []


def test_sid_set_is_exact() -> None:
    sids = SidSet()
    randomiser = random.Random(3)
    reference: set[int] = set()
    for _ in range(20000):
        value = randomiser.randrange(1_100_000_000, 1_100_300_000)
        assert sids.add(value) == (value not in reference)
        reference.add(value)
    assert sids.count == len(reference)
    assert all(value in sids for value in reference)
    assert 1_099_999_999 not in sids and "x" not in sids


def test_address_lists_are_the_same_when_the_sort_spills(
    tmp_path: Path, context: FeedContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = sorted(
        (
            indicator(
                f"2001:db8::{n:x}" if n % 7 == 0 else f"198.51.{n % 3}.{n % 250}",
                FAMILIES[n % 5].rule_id,
                last=n % 40,
            )
            for n in range(900)
        ),
        key=lambda i: (i.rule_id, i.ip),
    )
    unique = list({(i.rule_id, i.ip): i for i in items}.values())
    build_feeds(unique, standard_exporters(context), context, tmp_path / "memory")
    monkeypatch.setattr(bounded, "CHUNK", 50)
    build_feeds(unique, standard_exporters(context), context, tmp_path / "spilled")
    for path in (tmp_path / "memory").rglob("*.txt"):
        spilled = tmp_path / "spilled" / path.relative_to(tmp_path / "memory")
        assert spilled.read_bytes() == path.read_bytes(), path
    everything = (tmp_path / "spilled/data/all.txt").read_text().split()
    assert [ip_key(ip) for ip in everything] == sorted({ip_key(i.ip) for i in unique})
    assert not list((tmp_path / "spilled").rglob(".sort-*"))


def test_delta_merges_against_the_previous_build_when_spilling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bounded, "CHUNK", 3)
    out = tmp_path / "feeds"
    store = FakeStore()
    publish(store, FAMILIES, out, settings=Settings(), now=NOW)
    first = orjson.loads((out / "delta/delta.json").read_bytes())
    assert first["previous_build"] is None and len(first["added"]) == 9
    assert [(e["rule"], ip_key(e["ip"])) for e in first["added"]] == sorted(
        (e["rule"], ip_key(e["ip"])) for e in first["added"]
    )

    store.indicators = sorted(
        [i for i in store.indicators if i.ip not in ("9.9.9.9", "198.51.100.7")]
        + [indicator("192.0.2.200", "havoc", last=0.1), indicator("9.9.9.9", "havoc")],
        key=lambda i: (i.rule_id, i.ip),
    )
    manifest = publish(store, FAMILIES, out, settings=Settings(), now=NOW + timedelta(hours=1))
    delta = orjson.loads((out / "delta/delta.json").read_bytes())
    assert [(e["rule"], e["ip"]) for e in delta["added"]] == [
        ("havoc", "9.9.9.9"),
        ("havoc", "192.0.2.200"),
    ]
    assert [(e["rule"], e["ip"]) for e in delta["removed"]] == [
        ("cobalt-strike", "198.51.100.7"),
        ("gophish", "198.51.100.7"),
        ("sliver", "9.9.9.9"),
        ("sliver", "198.51.100.7"),
    ]
    assert (out / "delta/added.txt").read_text() == "9.9.9.9\n192.0.2.200\n"
    assert (out / "delta/removed.txt").read_text() == "9.9.9.9\n198.51.100.7\n"
    assert manifest.counts["added"] == 2 and manifest.counts["removed"] == 4
    assert not list(out.resolve().rglob(".*part")) and not list(out.resolve().rglob(".sort-*"))


def test_fast_formatters_equal_the_standard_library() -> None:
    import csv
    import hashlib
    import io
    import uuid
    from datetime import UTC, datetime

    from c2tracker.feeds.base import NAMESPACE, iso_millis, iso_seconds, stable_uuid, stable_uuid4
    from c2tracker.feeds.formats.tables import _quoted

    for parts in (("indicator", "rule", "192.0.2.1"), ("bundle", ""), ("ü", "x|y")):
        digest = hashlib.sha256("|".join(parts).encode()).digest()
        assert stable_uuid4(*parts) == str(uuid.UUID(bytes=digest[:16], version=4))
        assert stable_uuid(*parts) == str(uuid.uuid5(NAMESPACE, "|".join(parts)))
    for moment in (datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), datetime(1999, 12, 31)):
        assert iso_seconds(moment) == moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert iso_millis(moment) == moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    cells = ["plain", 'a "quoted" cell', "a,b", "'=cmd", "", " space ", ";;", '"']
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    assert ",".join(map(_quoted, cells)) + "\n" == buffer.getvalue()


def test_a_second_build_in_one_process_never_reuses_the_last_row(
    tmp_path: Path, context: FeedContext
) -> None:
    first = [indicator("198.51.100.9", "sliver", confidence=10)]
    second = [indicator("198.51.100.9", "sliver", confidence=99)]
    build_feeds(first, standard_exporters(context), context, tmp_path / "a")
    build_feeds(second, standard_exporters(context), context, tmp_path / "b")
    for name in ("csv/indicators.csv", "json/indicators.jsonl", "json/7d/indicators.json"):
        assert "99" in (tmp_path / "b" / name).read_text(), name


def test_a_damaged_previous_build_does_not_block_publishing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(bounded, "CHUNK", 2)
    out = tmp_path / "feeds"
    publish(FakeStore(), FAMILIES, out, settings=Settings(), now=NOW)
    state = out.resolve() / "json/indicators.jsonl"
    state.write_bytes(state.read_bytes() + b'{"rule": "sliver", "ip": "not json\n')
    manifest = publish(FakeStore(), FAMILIES, out, settings=Settings(), now=NOW)
    assert "deltas start afresh" in caplog.text
    assert manifest.counts["added"] == 9 and manifest.counts["removed"] == 0
    assert orjson.loads((out / "delta/delta.json").read_bytes())["previous_build"] is None
    assert {entry.path for entry in manifest.files} == {
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
    } - {"manifest.json"}


def test_validation_reads_quoted_csv_rows(tmp_path: Path) -> None:
    from c2tracker.errors import PublishError
    from c2tracker.feeds.validate import _check_rows
    from feeds.feed_fixtures import hostile_indicators

    store = FakeStore()
    store.indicators = sorted(
        store.indicators + hostile_indicators(), key=lambda i: (i.rule_id, i.ip)
    )
    manifest = publish(store, FAMILIES, tmp_path / "feeds", settings=Settings(), now=NOW)
    table = tmp_path / "feeds/csv/indicators.csv"
    assert '"' in table.read_text()  # the quoted path is exercised
    entry = manifest.file("csv/indicators.csv")
    assert entry is not None and entry.entries == 10
    copy = tmp_path / "copy.csv"
    lines = table.read_text().splitlines(keepends=True)
    hostile = next(line for line in lines if '"' in line)
    copy.write_text("".join([*lines, hostile]))
    with pytest.raises(PublishError, match="appears twice"):
        _check_rows(copy, "copy.csv", "csv", 11)
