"""Big JSON documents are streamed record by record out of their record array."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from c2tracker.querylang.ast import Engine
from c2tracker.scandata import ReadStats, iter_records, readers
from c2tracker.scandata.jsonstream import ArrayStreamer


def _elements(text: str) -> list[tuple[int, Any]]:
    streamer = ArrayStreamer()
    found = []
    for number, line in enumerate(text.encode().splitlines(keepends=True), start=1):
        found += [(start, json.loads(raw)) for start, raw in streamer.feed(line, number)]
    assert not streamer.in_array
    return found


TRICKY = {
    "ip_str": "192.0.2.1",
    "data": 'a "quoted" ] } , [ { \\ string\n with : colons',
    "nested": {"list": [1, [2, {"x": "]"}], {}], "empty": []},
    'key with "escape"': "\\",
}


def test_streamer_finds_each_record_array_and_element_lines() -> None:
    search = json.dumps({"total": 2, "matches": [TRICKY, {"ip_str": "192.0.2.2"}]}, indent=2)
    found = _elements(search)
    assert [value for _, value in found] == [TRICKY, {"ip_str": "192.0.2.2"}]
    lines = search.splitlines()
    assert [lines[start - 1].strip() for start, _ in found] == ["{", "{"]
    assert '"ip_str": "192.0.2.2"' in lines[found[1][0]]

    censys = {"result": {"total_hits": 1.0, "hits": [{"host_v1": {"resource": {"ip": "x"}}}]}}
    assert [v for _, v in _elements(json.dumps(censys))] == censys["result"]["hits"]
    assert [v for _, v in _elements('[1,\n2 , "3"]')] == [1, 2, "3"]
    assert _elements("[]") == [] and _elements("[\n]") == []


def test_streamer_ignores_arrays_elsewhere_and_keeps_what_it_cannot_stream() -> None:
    doc = {"facets": {"port": [{"count": 1, "value": 80}]}, "data": [{"port": 80}], "ip": "x"}
    streamer = ArrayStreamer()
    text = json.dumps(doc, indent=1).encode()
    found = [e for n, line in enumerate(text.splitlines(True), 1) for e in streamer.feed(line, n)]
    assert found == [] and not streamer.streaming
    assert json.loads(b"".join(streamer.buffered)) == doc


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "WHOLE_DOCUMENT_LIMIT", 2048)


def _banner(i: int) -> dict[str, Any]:
    return {"ip_str": f"192.0.2.{i}", "port": 80, "data": "HTTP/1.1 200 OK\r\n\r\n", "_shodan": {}}


@pytest.mark.usefixtures("small_limit")
def test_big_documents_are_streamed_with_exact_lines(tmp_path: Path) -> None:
    path = tmp_path / "search.json"
    rows: list[Any] = [_banner(i) for i in range(1, 40)]
    rows[5] = 5  # not a record
    path.write_text(json.dumps({"matches": rows, "total": 39}, indent=2))
    text_lines = path.read_text().splitlines()

    stats = ReadStats()
    records = list(iter_records([path], stats))

    assert len(records) == 38
    assert [r.item for r in records[:6]] == [1, 2, 3, 4, 5, 7]
    for record in records:
        assert text_lines[record.line - 1].strip() == "{"
        assert record.data["ip_str"] in text_lines[record.line]
    assert [str(p).split(": ", 1)[1] for p in stats.errors] == [
        "item 6: a JSON number is not a record"
    ]
    assert stats.errors[0].line == next(
        n for n, line in enumerate(text_lines, 1) if line.strip() == "5,"
    )


@pytest.mark.usefixtures("small_limit")
def test_big_censys_documents_and_bad_elements(tmp_path: Path) -> None:
    hits: list[Any] = [
        {
            "host_v1": {
                "resource": {"ip": f"192.0.2.{i}", "services": [{"port": 443, "protocol": "HTTP"}]}
            }
        }
        for i in range(1, 30)
    ]
    hits.insert(3, {"webproperty_v1": {"resource": {"hostname": "a.example"}}})
    text = json.dumps({"result": {"total_hits": 30.0, "hits": hits}}, indent=2)
    text = text.replace('"ip": "192.0.2.9"', '"ip": "192.0.2.9" oops', 1)
    path = tmp_path / "censys.json.gz"
    path.write_bytes(gzip.compress(text.encode()))

    stats = ReadStats()
    records = list(iter_records([path], stats))

    assert len(records) == 28
    assert {r.engine for r in records} == {Engine.CENSYS}
    assert stats.skipped == 2  # the web property and the broken element
    assert len(stats.errors) == 1 and "item 10: not valid JSON" in stats.errors[0].message


@pytest.mark.usefixtures("small_limit")
def test_truncated_big_document_yields_what_came_before(tmp_path: Path) -> None:
    text = json.dumps([_banner(i) for i in range(1, 60)], indent=2)
    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) // 2])

    stats = ReadStats()
    records = list(iter_records([path], stats))

    assert 20 < len(records) < 30
    assert stats.error_count == 1
    assert "ends inside its record array" in stats.errors[0].message


@pytest.mark.usefixtures("small_limit")
def test_big_document_without_record_array_is_parsed_whole(tmp_path: Path) -> None:
    host = {"ip_str": "192.0.2.7", "org": "Org", "data": [_banner(7) | {"n": i} for i in range(40)]}
    path = tmp_path / "host.json"
    path.write_text(json.dumps(host, indent=2))
    stats = ReadStats()
    records = list(iter_records([path], stats))
    assert len(records) == 40 and records[0].data["org"] == "Org"
    assert stats.error_count == 0


@pytest.mark.slow
def test_streamed_document_memory_stays_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "WHOLE_DOCUMENT_LIMIT", 256 * 1024)
    rows = [_banner(i % 250) | {"html": "x" * 1000} for i in range(12_000)]
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"matches": rows}, indent=1))
    size = path.stat().st_size
    del rows

    stats = ReadStats()
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_records([path], stats))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == 12_000 and stats.error_count == 0
    assert peak < size / 8, (peak, size)
