"""Readers over every supported format and every kind of bad input."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from c2tracker.querylang.ast import Engine
from c2tracker.scandata import ReadStats, ScanRecord, iter_records
from c2tracker.scandata.readers import EXACT_BIG_INTEGERS


def banner(ip: str, port: int = 80, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "ip_str": ip,
        "port": port,
        "transport": "tcp",
        "data": "HTTP/1.1 200 OK\r\n\r\n",
        "hash": 0,
        "_shodan": {"module": "http"},
    }
    record.update(extra)
    return record


def platform_host(ip: str) -> dict[str, Any]:
    return {"ip": ip, "services": [{"port": 443, "protocol": "HTTP", "transport_protocol": "tcp"}]}


def legacy_host(ip: str) -> dict[str, Any]:
    return {"ip": ip, "services": [{"port": 22, "service_name": "SSH"}]}


def jsonl(*records: Any) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def read(*paths: Path | str) -> tuple[list[ScanRecord], ReadStats]:
    stats = ReadStats()
    return list(iter_records(paths, stats)), stats


def ips(records: list[ScanRecord]) -> list[str]:
    return [str(r.data.get("ip_str") or r.data.get("ip")) for r in records]


def test_jsonl_plain_with_engines_detected(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        jsonl(banner("192.0.2.1"), platform_host("192.0.2.2"), legacy_host("192.0.2.3"))
        + b"\n\n"
        + jsonl({"ip": "192.0.2.4"})
    )

    records, stats = read(path)

    assert ips(records) == ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]
    assert [r.engine for r in records] == [
        Engine.SHODAN,
        Engine.CENSYS,
        Engine.CENSYS_LEGACY,
        None,
    ]
    assert [r.line for r in records] == [1, 2, 3, 6]  # blank lines skipped silently
    assert all(r.item is None for r in records)
    assert (stats.files, stats.records, stats.skipped, stats.error_count) == (1, 4, 0, 0)


def test_gzip_detected_by_content_and_concatenated_members(tmp_path: Path) -> None:
    path = tmp_path / "download.json.gz"
    with gzip.open(path, "wb") as out:
        out.write(jsonl(banner("192.0.2.1"), banner("192.0.2.2")))
    with gzip.open(path, "ab") as out:  # appended member, as `shodan host -S` does
        out.write(jsonl(banner("192.0.2.3")))
    odd_name = tmp_path / "export.json"  # gzip content under a plain name
    odd_name.write_bytes(gzip.compress(jsonl(banner("192.0.2.9"))))

    records, stats = read(path, odd_name)

    assert ips(records) == ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.9"]
    assert [r.line for r in records] == [1, 2, 3, 1]
    assert stats.error_count == 0


def test_truncated_gzip_yields_what_decodes_then_counts_an_error(tmp_path: Path) -> None:
    rows = [banner(f"192.0.2.{i}", html="x" * 3000) for i in range(1, 60)]
    whole = gzip.compress(jsonl(*rows))
    broken = tmp_path / "a-broken.json.gz"
    broken.write_bytes(whole[: len(whole) * 2 // 3])
    after = tmp_path / "b-after.jsonl"
    after.write_bytes(jsonl(banner("198.51.100.1")))

    records, stats = read(tmp_path)

    from_broken = [r for r in records if r.path == str(broken)]
    assert 0 < len(from_broken) < len(rows)
    assert ips(from_broken) == [r["ip_str"] for r in rows[: len(from_broken)]]
    assert records[-1].data["ip_str"] == "198.51.100.1"  # the next file is still read
    assert stats.error_count == 1
    problem = stats.errors[0]
    assert problem.path == str(broken)
    assert problem.line >= len(from_broken)
    assert "truncated" in problem.message


def test_shodan_search_response_and_host_lookup(tmp_path: Path) -> None:
    search = tmp_path / "search.json"
    search.write_text(
        json.dumps({"matches": [banner("192.0.2.1"), banner("192.0.2.2")], "total": 2}, indent=2)
    )
    host = tmp_path / "host.json"
    host.write_text(
        json.dumps(
            {
                "ip_str": "192.0.2.7",
                "ip": 3221226055,
                "org": "Example Org",
                "asn": "AS64500",
                "hostnames": ["h.example"],
                "country_code": "NL",
                "city": "Amsterdam",
                "tags": ["cloud"],
                "data": [
                    {"port": 80, "data": "HTTP/1.1 200 OK\r\n\r\n", "org": "Banner Org"},
                    {"port": 443, "data": "", "_shodan": {}, "tags": []},
                ],
            },
            indent=1,
        )
    )

    records, stats = read(search, host)

    assert ips(records) == ["192.0.2.1", "192.0.2.2", "192.0.2.7", "192.0.2.7"]
    assert [r.item for r in records] == [1, 2, 1, 2]
    first, second = records[2].data, records[3].data
    assert first["org"] == "Banner Org"  # a banner's own value wins
    assert second["org"] == "Example Org"
    assert first["asn"] == "AS64500" and first["hostnames"] == ["h.example"]
    assert first["location"] == {"country_code": "NL", "city": "Amsterdam"}
    assert first["tags"] == ["cloud"] and second["tags"] == []
    assert records[2].engine is Engine.SHODAN
    assert stats.error_count == 0


def test_censys_exports(tmp_path: Path) -> None:
    platform_search = tmp_path / "platform.json"
    platform_search.write_text(
        json.dumps(
            {
                "result": {
                    "total_hits": 3.0,
                    "next_page_token": "",
                    "hits": [
                        {"host_v1": {"resource": platform_host("192.0.2.1"), "extensions": {}}},
                        {"webproperty_v1": {"resource": {"hostname": "a.example"}}},
                        {"host_v1": {"resource": platform_host("192.0.2.2")}},
                    ],
                }
            },
            indent=2,
        )
    )
    lookup = tmp_path / "lookup.json"
    lookup.write_text(json.dumps({"result": {"resource": platform_host("192.0.2.3")}}))
    legacy_page = tmp_path / "legacy-search.json"
    legacy_page.write_text(
        json.dumps({"code": 200, "result": {"hits": [legacy_host("192.0.2.4")], "total": 1}})
    )
    legacy_view = tmp_path / "legacy-view.json"
    legacy_view.write_text(
        json.dumps({"code": 200, "status": "OK", "result": legacy_host("192.0.2.5")})
    )
    array = tmp_path / "hosts.json"
    array.write_text(json.dumps([platform_host("192.0.2.6"), legacy_host("192.0.2.7")], indent=2))
    lines = tmp_path / "hosts.jsonl"
    lines.write_bytes(jsonl({"host_v1": {"resource": platform_host("192.0.2.8")}}))

    records, stats = read(platform_search, lookup, legacy_page, legacy_view, array, lines)

    assert ips(records) == [f"192.0.2.{i}" for i in range(1, 9)]
    engines = [r.engine for r in records]
    assert engines == [
        Engine.CENSYS,
        Engine.CENSYS,
        Engine.CENSYS,
        Engine.CENSYS_LEGACY,
        Engine.CENSYS_LEGACY,
        Engine.CENSYS,
        Engine.CENSYS_LEGACY,
        Engine.CENSYS,
    ]
    assert stats.skipped == 1  # the web-property hit
    assert stats.error_count == 0


def test_directory_walk_is_recursive_sorted_and_filtered(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.ndjson").write_bytes(jsonl(banner("192.0.2.3")))
    (tmp_path / "a.jsonl").write_bytes(jsonl(banner("192.0.2.1")))
    (tmp_path / "a2.json.gz").write_bytes(gzip.compress(jsonl(banner("192.0.2.2"))))
    (tmp_path / "notes.txt").write_text("not scan data")

    records, stats = read(tmp_path)

    assert ips(records) == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    assert stats.files == 3


def test_missing_paths_and_empty_directories_are_counted(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    records, stats = read(tmp_path / "nope.jsonl", tmp_path / "empty")
    assert records == []
    assert [str(p) for p in stats.errors] == [
        f"{tmp_path / 'nope.jsonl'}:0: no such file or directory",
        f"{tmp_path / 'empty'}:0: directory holds no .json, .jsonl, .ndjson or .gz files",
    ]


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = io.TextIOWrapper(
        io.BufferedReader(io.BytesIO(gzip.compress(jsonl(banner("192.0.2.5")))))
    )
    monkeypatch.setattr(sys, "stdin", fake)
    records, stats = read("-")
    assert ips(records) == ["192.0.2.5"]
    assert records[0].path == "<stdin>"
    assert (stats.files, stats.records) == (1, 1)


def test_bad_lines_are_counted_with_file_and_line_and_the_rest_is_read(tmp_path: Path) -> None:
    deep = b"[" * 2000 + b"]" * 2000
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        b"\n".join(
            [
                json.dumps(banner("192.0.2.1")).encode(),  # 1 good
                b"[1, 2]",  # 2 array of non-records (an array of hosts would be read)
                b"42",  # 3 number
                b'"text"',  # 4 string
                b"{not json",  # 5 broken
                deep,  # 6 too deep for orjson
                b"   ",  # 7 blank: silently skipped
                json.dumps(banner("192.0.2.8", title="caf")).encode()[:-1]
                + b', "x": "\xff\xfe"}',  # 8 invalid UTF-8: repaired, kept
                b"null",  # 9
                json.dumps({"ip_str": "192.0.2.10", "port": "80", "http": None}).encode(),  # 10
                b'{"nested": ' * 1100 + b"1" + b"}" * 1100,  # 11 deep object
                json.dumps(banner("192.0.2.12")).encode(),  # 12 good
            ]
        )
        + b"\n"
    )

    records, stats = read(path)

    assert [r.line for r in records] == [1, 8, 10, 12]
    assert records[1].data["x"] == "\ufffd\ufffd"
    assert records[2].data["port"] == "80"  # wrong types pass through to the evaluator
    messages = {p.line: p.message for p in stats.errors}
    assert set(messages) == {2, 3, 4, 5, 6, 8, 9, 11}
    assert messages[2] == "item 2: a JSON number is not a record"
    assert "number" in messages[3]
    assert "string" in messages[4]
    assert "not valid JSON" in messages[5] and "column" in messages[5]
    assert "1024" in messages[6] and "1024" in messages[11]
    assert "UTF-8" in messages[8]
    assert "null" in messages[9]
    assert all(p.path == str(path) for p in stats.errors)
    assert (stats.records, stats.skipped, stats.error_count) == (4, 8, 9)


def test_ten_megabyte_line(tmp_path: Path) -> None:
    big = banner("192.0.2.1", http={"html": "A" * (10 * 1024 * 1024)})
    path = tmp_path / "big.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl(big, banner("192.0.2.2"))))
    records, stats = read(path)
    assert ips(records) == ["192.0.2.1", "192.0.2.2"]
    assert len(records[0].data["http"]["html"]) == 10 * 1024 * 1024
    assert stats.error_count == 0


def test_jsonl_with_broken_first_line_is_still_read_as_lines(tmp_path: Path) -> None:
    path = tmp_path / "first-broken.jsonl"
    path.write_bytes(
        b'{"ip_str": "192.0.2.1", "port":\n' + jsonl(banner("192.0.2.2"), banner("192.0.2.3"))
    )
    records, stats = read(path)
    assert ips(records) == ["192.0.2.2", "192.0.2.3"]
    assert [r.line for r in records] == [2, 3]
    assert [(p.line, p.message.split(":")[0]) for p in stats.errors] == [(1, "not valid JSON")]


def test_broken_document_is_reported_once(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    text = json.dumps({"matches": [banner("192.0.2.1"), banner("192.0.2.2")]}, indent=2)
    path.write_text(text[: len(text) // 2])
    records, stats = read(path)
    assert records == []
    assert stats.error_count == 1
    assert stats.errors[0].message.startswith("not a valid JSON document")


def test_non_record_items_inside_wrappers(tmp_path: Path) -> None:
    path = tmp_path / "weird.json"
    path.write_text(json.dumps({"matches": [banner("192.0.2.1"), 5, [1]]}))
    records, stats = read(path)
    assert ips(records) == ["192.0.2.1"]
    assert [str(p) for p in stats.errors] == [
        f"{path}:1: item 2: a JSON number is not a record",
        f"{path}:1: item 3: a JSON array is not a record",
    ]


def test_errors_kept_are_capped_but_all_counted(tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    path.write_bytes(b"5\n" * 50 + jsonl(banner("192.0.2.1")))
    stats = ReadStats(max_kept=10)
    records = list(iter_records([path], stats))
    assert len(records) == 1
    assert stats.error_count == 50 and len(stats.errors) == 10
    summary = stats.summary()
    assert summary.splitlines()[0] == "1 record(s) read from 1 file(s), 50 skipped, 50 problem(s)"
    assert summary.splitlines()[-1] == "  … and 40 more problem(s) not shown"
    assert f"{path}:1: a JSON number is not a record" in summary


def test_unreadable_file_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "locked.jsonl"
    path.write_bytes(jsonl(banner("192.0.2.1")))
    path.chmod(0)
    try:
        records, stats = read(path, tmp_path / "nope.json")
    finally:
        path.chmod(0o644)
    if records:  # running as root: permissions do not apply
        assert ips(records) == ["192.0.2.1"]
    else:
        assert "cannot open" in stats.errors[0].message
    assert stats.errors[-1].message == "no such file or directory"


def test_big_certificate_serials_stay_exact(tmp_path: Path) -> None:
    serial = 258797350001245126065255249097880524332
    path = tmp_path / "serial.jsonl"
    record = banner("192.0.2.1", ssl={"cert": {"serial": serial}}, http={"html": "1" * 40})
    path.write_text(json.dumps(record) + "\n")
    records, _ = read(path)
    value = records[0].data["ssl"]["cert"]["serial"]
    assert isinstance(value, int) and value == serial
    assert records[0].data["http"]["html"] == "1" * 40


def test_big_integers_elsewhere(tmp_path: Path) -> None:
    assert EXACT_BIG_INTEGERS == ("ssl.cert.serial",)
    big, huge = 2**70 + 1, 10**400
    lines = [
        {"ip_str": "192.0.2.1", "opts": {"n": big}, "ssl": {"cert": {"serial": big + 2}}},
        {"ip_str": "192.0.2.2", "ssl": {"cert": {"serial": huge}}, "n": -huge},
        {"ip_str": "192.0.2.3", "ssl": {"cert": {"serial": "0a1b"}}, "x": '"serial": 1'},
    ]
    path = tmp_path / "ints.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))

    records, stats = read(path)

    first, second, third = (r.data for r in records)
    assert first["ssl"]["cert"]["serial"] == big + 2  # exact
    assert isinstance(first["opts"]["n"], float)  # documented: elsewhere orjson's float
    assert second == lines[1]  # beyond a double: the standard library reads it exactly
    assert third == lines[2]
    assert stats.error_count == 0


def test_byte_order_marks_and_utf16_exports(tmp_path: Path) -> None:
    utf8 = tmp_path / "bom.jsonl"
    utf8.write_bytes(b"\xef\xbb\xbf" + jsonl(banner("192.0.2.1"), banner("192.0.2.2")))
    utf16 = tmp_path / "powershell.json"  # Windows PowerShell's `>` writes UTF-16 with a BOM
    utf16.write_bytes(
        json.dumps({"matches": [banner("192.0.2.3", title="café")]}, indent=2).encode("utf-16")
    )
    gz16 = tmp_path / "utf16.jsonl.gz"
    gz16.write_bytes(gzip.compress(jsonl(banner("192.0.2.4")).decode().encode("utf-16-le")))

    records, stats = read(utf8, utf16)

    assert ips(records) == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    assert records[2].data["title"] == "café"
    assert stats.error_count == 0

    # UTF-16 without a byte-order mark is not guessed: it is reported, not misread.
    records, stats = read(gz16)
    assert records == [] and stats.error_count >= 1


def test_several_host_lookups_in_one_array(tmp_path: Path) -> None:
    hosts = [
        {"ip_str": f"192.0.2.{i}", "org": f"Org {i}", "data": [{"port": 80, "data": ""}]}
        for i in (1, 2)
    ]
    path = tmp_path / "hosts.json"
    path.write_text(json.dumps(hosts, indent=2))
    records, stats = read(path)
    assert [(r.data["ip_str"], r.data["org"], r.engine) for r in records] == [
        ("192.0.2.1", "Org 1", Engine.SHODAN),
        ("192.0.2.2", "Org 2", Engine.SHODAN),
    ]
    assert stats.error_count == 0
