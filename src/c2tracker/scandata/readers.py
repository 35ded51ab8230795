"""Read scan records from files: Shodan and Censys exports, JSON Lines, gzip, directories, stdin.

:func:`iter_records` yields one :class:`ScanRecord` per banner or host, whatever wraps it:

- JSON Lines (``.jsonl``, ``.ndjson``, ``.json``), plain or gzip — detected by the gzip magic
  bytes, not the name — including concatenated gzip members as ``shodan host -S`` and
  ``shodan stream --datadir`` append them (shodan.md §5);
- a Shodan search response ``{"matches": […]}`` and a host lookup ``{"data": […]}`` (host fields
  such as ``ip_str``, ``org``, ``asn``, ``hostnames`` and the flattened location are copied into
  each banner that lacks them, shodan.md §1.3);
- Censys exports: a JSON array of hosts, a Platform search response
  ``{"result": {"hits": [{"host_v1": {"resource": …}}]}}``, a Platform host lookup
  ``{"result": {"resource": …}}`` (or a list of them), a legacy search page
  ``{"result": {"hits": […]}}`` and a legacy host view ``{"result": {host}}`` (censys.md §2.4,
  §2.5, §1.3);
- directories (recursively, sorted; ``*.json``, ``*.jsonl``, ``*.ndjson``, ``*.gz``) and ``-``
  for standard input.

Memory: JSON Lines are streamed line by line, so memory does not grow with the file. A file
whose first line is not a JSON value on its own (a pretty-printed document) is parsed whole when
it is at most :data:`WHOLE_DOCUMENT_LIMIT` bytes; a larger one is streamed element by element
out of its record array (``matches``, ``result.hits`` or a top-level array), and only a document
without such an array (a giant host lookup) is then held whole. Records inside a document are
numbered by :attr:`ScanRecord.item`; their ``line`` is where the element starts when streamed,
the document's first line when parsed whole.

Bad input never raises and never stops a file early: undecodable bytes are replaced (and
reported), lines that are not JSON objects, JSON nested too deep for ``orjson`` and unreadable
files are counted in :class:`ReadStats` with ``path:line`` and skipped. A truncated gzip file
yields every line that decoded, then counts one error at the line where it broke.
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import logging
import re
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, cast

import orjson

from c2tracker.matching.evaluator import detect_engine
from c2tracker.querylang.ast import Engine
from c2tracker.scandata.jsonstream import ArrayStreamer

__all__ = [
    "EXACT_BIG_INTEGERS",
    "MAX_KEPT_ERRORS",
    "SCAN_SUFFIXES",
    "WHOLE_DOCUMENT_LIMIT",
    "LinePrefilter",
    "ReadProblem",
    "ReadStats",
    "ScanRecord",
    "iter_records",
]

log = logging.getLogger(__name__)

SCAN_SUFFIXES = (".json", ".jsonl", ".ndjson", ".gz")
"""File names a directory walk picks up."""

WHOLE_DOCUMENT_LIMIT = 16 * 1024 * 1024
"""Multi-line JSON documents up to this many bytes are parsed whole (fast); larger ones are
streamed element by element (:mod:`.jsonstream`), so memory stays bounded."""

MAX_KEPT_ERRORS = 1000
"""Problems kept with their messages; beyond this they are only counted."""

_GZIP_MAGIC = b"\x1f\x8b"
_SERIAL = re.compile(rb'"serial"\s*:\s*(-?\d{20,})')

EXACT_BIG_INTEGERS = ("ssl.cert.serial",)
"""Fields read exactly however large; other integers beyond 64 bits become floats (orjson), and
numbers beyond a double's range are read exactly by the standard library's parser."""
_SHODAN_HOST_FIELDS = ("ip", "ip_str", "ipv6", "org", "isp", "asn", "os", "hostnames", "domains")
_SHODAN_LOCATION_FIELDS = (
    "city",
    "region_code",
    "country_code",
    "country_code3",
    "country_name",
    "postal_code",
    "area_code",
    "dma_code",
    "latitude",
    "longitude",
)


@dataclass(frozen=True, slots=True)
class ScanRecord:
    """One banner (Shodan) or host (Censys) read from a file.

    ``line`` is the 1-based line the record's JSON starts on; ``item`` is the 1-based position
    inside a wrapper (a search response, host lookup or array), None for a bare record.
    """

    path: str
    line: int
    engine: Engine | None
    data: dict[str, Any]
    item: int | None = None

    @property
    def where(self) -> str:
        place = f"{self.path}:{self.line}"
        return place if self.item is None else f"{place}: item {self.item}"


@dataclass(frozen=True, slots=True)
class ReadProblem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(slots=True)
class ReadStats:
    """What one or more :func:`iter_records` passes read, skipped and found wrong."""

    files: int = 0
    records: int = 0
    """Records yielded."""
    skipped: int = 0
    """Lines or items not yielded because they were bad or not hosts/banners."""
    passed_over: int = 0
    """JSON Lines lines a prefilter ruled out unparsed (never checked, so never reported)."""
    error_count: int = 0
    """Every problem, including those beyond :data:`MAX_KEPT_ERRORS`."""
    errors: list[ReadProblem] = field(default_factory=list)
    """The first :data:`MAX_KEPT_ERRORS` problems."""
    max_kept: int = MAX_KEPT_ERRORS

    def add_error(self, path: str, line: int, message: str, *, skipped: bool = True) -> None:
        """Counts a problem; ``skipped=False`` when the record was still yielded (repaired)."""
        self.error_count += 1
        if skipped:
            self.skipped += 1
        if len(self.errors) < self.max_kept:
            self.errors.append(ReadProblem(path, line, message))
        log.debug("%s:%d: %s", path, line, message)

    def merge(self, other: ReadStats) -> None:
        """Adds the counts and kept problems of ``other`` (files are not added)."""
        self.records += other.records
        self.skipped += other.skipped
        self.passed_over += other.passed_over
        self.error_count += other.error_count
        room = self.max_kept - len(self.errors)
        self.errors.extend(other.errors[: max(room, 0)])

    def summary(self) -> str:
        """One line for humans, then the kept problems, one a line."""
        passed = (
            f", {self.passed_over} line(s) passed over unparsed (no rule can match them)"
            if self.passed_over
            else ""
        )
        head = (
            f"{self.records} record(s) read from {self.files} file(s){passed}, "
            f"{self.skipped} skipped, {self.error_count} problem(s)"
        )
        lines = [head, *(f"  {problem}" for problem in self.errors)]
        hidden = self.error_count - len(self.errors)
        if hidden > 0:
            lines.append(f"  … and {hidden} more problem(s) not shown")
        return "\n".join(lines)


LinePrefilter = Callable[[bytes], bool]
"""Given a raw JSON Lines line, False when none of its records can be of interest
(:meth:`c2tracker.matching.Matcher.raw_prefilter`)."""


def iter_records(
    paths: Iterable[str | Path], stats: ReadStats, *, prefilter: LinePrefilter | None = None
) -> Iterator[ScanRecord]:
    """Every record in ``paths`` (files, directories, ``-`` for stdin), in order.

    With ``prefilter``, a JSON Lines line after a file's first is handed to it before parsing;
    a line it rejects is counted in :attr:`ReadStats.passed_over` and never parsed, so its
    records are not yielded and its problems (not JSON, bad UTF-8…) are not reported. A file's
    first line and whole JSON documents are always parsed.

    Yields:
        ScanRecord: one per banner or host; problems go to ``stats`` and never raise.
    """
    for path in paths:
        for name, opener in _expand(str(path), stats):
            stats.files += 1
            yield from _read_one(name, opener, stats, prefilter)


Opener = Callable[[], IO[bytes]]


def _expand(path: str, stats: ReadStats) -> Iterator[tuple[str, Opener]]:
    if path == "-":
        yield "<stdin>", lambda: sys.stdin.buffer
        return

    target = Path(path)
    if target.is_dir():
        found = sorted(
            p for p in target.rglob("*") if p.is_file() and p.name.lower().endswith(SCAN_SUFFIXES)
        )
        if not found:
            stats.add_error(path, 0, "directory holds no .json, .jsonl, .ndjson or .gz files")
        for item in found:
            yield str(item), _file_opener(item)
        return

    if not target.exists():
        stats.add_error(path, 0, "no such file or directory")
        return
    yield path, _file_opener(target)


def _file_opener(path: Path) -> Opener:
    return lambda: path.open("rb")


def _read_one(
    name: str, opener: Opener, stats: ReadStats, prefilter: LinePrefilter | None = None
) -> Iterator[ScanRecord]:
    try:
        raw = opener()
    except OSError as error:
        stats.add_error(name, 0, f"cannot open: {error.strerror or error}")
        return

    try:
        stream = _without_bom(_maybe_gunzip(raw))
        yield from _read_stream(name, stream, stats, prefilter)
    finally:
        if raw is not sys.stdin.buffer:
            raw.close()


def _maybe_gunzip(raw: IO[bytes]) -> IO[bytes]:
    """``raw`` itself, or a gzip reader over it when it starts with the gzip magic bytes."""
    if isinstance(raw, io.BufferedReader):
        buffered = raw
    else:
        buffered = io.BufferedReader(cast(io.RawIOBase, raw))
    if buffered.peek(2)[:2] == _GZIP_MAGIC:
        return cast(IO[bytes], gzip.GzipFile(fileobj=buffered, mode="rb"))
    return buffered


class _LineReader(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


class _Utf16Lines:
    """UTF-16 text (what Windows PowerShell's ``>`` writes) handed out as UTF-8 lines."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._text = io.TextIOWrapper(
            cast(io.BufferedReader, stream), encoding="utf-16", errors="replace", newline=""
        )

    def readline(self, size: int = -1, /) -> bytes:
        return self._text.readline(size).encode("utf-8", "surrogatepass")


def _without_bom(stream: IO[bytes]) -> _LineReader:
    """Skips a UTF-8 byte-order mark; decodes UTF-16 when its byte-order mark is there."""
    peek = getattr(stream, "peek", None)
    head = peek(4)[:4] if peek else b""
    if head.startswith(b"\xef\xbb\xbf"):
        stream.read(3)
    elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _Utf16Lines(stream)
    return stream


class _LineSource:
    """Lines of a binary stream with their numbers; remembers a read failure instead of raising.

    A truncated or corrupt gzip member raises in the middle of reading; what was decoded before
    is still handed out, then :attr:`failure` says why reading stopped.
    """

    def __init__(self, stream: _LineReader, first: list[bytes] | None = None) -> None:
        self._stream = stream
        self._pending = first or []
        self.number = 0
        self.failure: str | None = None

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._pending:
            self.number += 1
            return self._pending.pop(0)
        if self.failure is not None:
            raise StopIteration
        try:
            line = self._stream.readline()
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as error:
            self.failure = _describe_read_error(error)
            raise StopIteration from None
        if not line:
            raise StopIteration
        self.number += 1
        return line


def _describe_read_error(error: BaseException) -> str:
    if isinstance(error, EOFError):
        return "file ends in the middle of a gzip stream (truncated download?); rest not read"
    return f"cannot read further ({type(error).__name__}: {error}); rest not read"


def _read_stream(
    name: str, stream: _LineReader, stats: ReadStats, prefilter: LinePrefilter | None = None
) -> Iterator[ScanRecord]:
    lines = _LineSource(stream)
    first = _first_content_line(lines)
    if first is None:
        _report_failure(name, lines, stats)
        return

    first_number, first_line = first
    if _is_document_start(first_line):
        yield from _read_document(name, first_number, first_line, lines, stats)
        return

    yield from _records_from_line(name, first_number, first_line, stats)
    if prefilter is None:
        yield from _read_lines(name, lines, stats)
    else:
        yield from _read_lines(name, _admitted(lines, prefilter, stats), stats, lines)
    _report_failure(name, lines, stats)


def _admitted(lines: _LineSource, prefilter: LinePrefilter, stats: ReadStats) -> Iterator[bytes]:
    """The lines ``prefilter`` keeps; the others (not blank ones) counted as passed over."""
    for line in lines:
        if prefilter(line):
            yield line
        elif not line.isspace():
            stats.passed_over += 1


def _read_lines(
    name: str, lines: Iterable[bytes], stats: ReadStats, source: _LineSource | None = None
) -> Iterator[ScanRecord]:
    """JSON Lines after the first: the common case (one bare record a line) takes a short path,
    since this loop runs once per record of every scan file; anything else takes the general
    one (:func:`_records_from_line`). ``source`` numbers the lines when ``lines`` is a filtered
    view of it."""
    numbering = source if source is not None else cast(_LineSource, lines)
    for line in lines:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            if not line.isspace():
                yield from _records_from_line(name, numbering.number, line, stats)
            continue
        if type(value) is not dict or _wrapped_items(value) is not None:
            yield from _unwrap(name, numbering.number, value, stats, top=True)
            continue
        _exact_serial(value, line)
        stats.records += 1
        yield ScanRecord(name, numbering.number, detect_engine(value), value)


def _first_content_line(lines: _LineSource) -> tuple[int, bytes] | None:
    for line in lines:
        if line.strip():
            return lines.number, line
    return None


def _is_document_start(line: bytes) -> bool:
    """True when the first line does not hold a JSON value on its own: a multi-line document."""
    text = line.strip()
    if text.startswith(b"["):
        return not _parses(text)
    if text.startswith(b"{"):
        return not _parses(text) and not text.endswith(b"}")
    return False


def _parses(text: bytes) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def _report_failure(name: str, lines: _LineSource, stats: ReadStats) -> None:
    if lines.failure is not None:
        stats.add_error(name, max(lines.number, 1), lines.failure)


def _records_from_line(
    name: str, number: int, line: bytes, stats: ReadStats
) -> Iterator[ScanRecord]:
    if not line.strip():
        return
    value, problem, repaired = _loads(line)
    if problem is not None:
        stats.add_error(name, number, problem)
        return
    if repaired:
        stats.add_error(name, number, _REPAIRED, skipped=False)
    yield from _unwrap(name, number, value, stats, top=True)


_REPAIRED = "invalid UTF-8 bytes replaced with U+FFFD; the record was kept"


def _loads(raw: bytes) -> tuple[Any, str | None, bool]:
    """``(value, problem, repaired)`` for the JSON in ``raw``.

    Undecodable bytes are replaced with U+FFFD and the value kept (``repaired``); a problem
    message comes back instead of an exception.
    """
    value, problem = _parse(raw)
    repaired = False
    if problem is not None and not _is_utf8(raw):
        value, problem = _parse(raw.decode("utf-8", errors="replace"))
        repaired = True
    if problem is not None:
        return None, problem, False

    _exact_serial(value, raw)
    return value, None, repaired


def _exact_serial(value: Any, raw: bytes) -> None:
    """Puts back ``ssl.cert.serial`` exactly when orjson turned it into a float.

    Certificate serials are JSON integers of any size (shodan.md §2.5) and most TLS banners
    carry one beyond 64 bits, which orjson reads as a float; serial conditions in rules must
    compare exactly. Other integers beyond 64 bits stay floats (:data:`EXACT_BIG_INTEGERS`):
    scanning every line for them would cost more than parsing it.
    """
    cert = value.get("ssl") if isinstance(value, dict) else None
    cert = cert.get("cert") if isinstance(cert, dict) else None
    if not isinstance(cert, dict) or not isinstance(cert.get("serial"), float):
        return
    for match in _SERIAL.finditer(raw):
        number = int(match.group(1))
        if float(number) == cert["serial"]:
            cert["serial"] = number
            return


def _parse(text: bytes | str) -> tuple[Any, str | None]:
    try:
        return orjson.loads(text), None
    except orjson.JSONDecodeError as error:
        if "infinity" not in error.msg:
            return None, f"not valid JSON: {_json_reason(error)}"
    # A number beyond a double's range, which orjson refuses: an integer that large is still
    # valid JSON, and the standard library reads it exactly.
    try:
        return json.loads(text), None
    except ValueError as error:
        return None, f"not valid JSON: {error}"


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _json_reason(error: orjson.JSONDecodeError) -> str:
    if "recursion" in error.msg.lower() or "depth" in error.msg.lower():
        return "nested deeper than orjson's limit of 1024 levels"
    return f"{error.msg} (line {error.lineno}, column {error.colno})"


def _read_document(
    name: str, number: int, first: bytes, lines: _LineSource, stats: ReadStats
) -> Iterator[ScanRecord]:
    """A multi-line JSON document: parsed whole when small, streamed record by record when it
    grows beyond :data:`WHOLE_DOCUMENT_LIMIT` (see the module notes on memory)."""
    head = [first]
    size = len(first)
    for line in lines:
        head.append(line)
        size += len(line)
        if size > WHOLE_DOCUMENT_LIMIT:
            break
    else:
        yield from _read_whole(name, number, b"".join(head), lines, stats)
        return

    streamer = ArrayStreamer()
    counter = itertools.count(1)
    numbered = itertools.chain(
        ((number + offset, line) for offset, line in enumerate(head)),
        ((lines.number, line) for line in lines),
    )
    del head
    for line_number, line in numbered:
        for start, element in streamer.feed(line, line_number):
            yield from _records_from_element(name, start, next(counter), element, stats)

    if not streamer.streaming:
        # No record array (a huge host lookup): what was buffered is the whole document.
        yield from _read_whole(name, number, b"".join(streamer.buffered), lines, stats)
        return
    if streamer.in_array:
        stats.add_error(
            name, max(lines.number, number), "document ends inside its record array (truncated?)"
        )
    _report_failure(name, lines, stats)


def _records_from_element(
    name: str, line: int, index: int, element: bytes, stats: ReadStats
) -> Iterator[ScanRecord]:
    value, problem, repaired = _loads(element)
    if problem is not None:
        stats.add_error(name, line, f"item {index}: {problem}")
        return
    if repaired:
        stats.add_error(name, line, f"item {index}: {_REPAIRED}", skipped=False)
    yield from _item(name, line, index, value, stats)


def _read_whole(
    name: str, number: int, blob: bytes, lines: _LineSource, stats: ReadStats
) -> Iterator[ScanRecord]:
    value, problem, repaired = _loads(blob)
    if problem is None:
        if repaired:
            stats.add_error(name, number, _REPAIRED, skipped=False)
        yield from _unwrap(name, number, value, stats, top=True)
        _report_failure(name, lines, stats)
        return

    # Not one document after all: JSON Lines whose first line is broken, or a document cut
    # short. When some lines hold records on their own, read it as JSON Lines; otherwise
    # report the document once rather than every one of its lines.
    trial = ReadStats(max_kept=stats.max_kept)
    salvage = _LineSource(io.BytesIO(blob))
    found = [
        record
        for line in salvage
        for record in _records_from_line(name, number + salvage.number - 1, line, trial)
    ]
    if found:
        stats.merge(trial)
        yield from found
    else:
        stats.add_error(name, number, f"not a valid JSON document: {problem.split(': ', 1)[1]}")
    _report_failure(name, lines, stats)


def _unwrap(
    name: str, number: int, value: Any, stats: ReadStats, *, top: bool
) -> Iterator[ScanRecord]:
    """Records inside one top-level JSON value."""
    if isinstance(value, list):
        if not top:
            stats.add_error(name, number, "an array inside an array is not a record")
            return
        for index, item in enumerate(value, start=1):
            yield from _item(name, number, index, item, stats)
        return

    if not isinstance(value, dict):
        stats.add_error(name, number, f"a JSON {_json_type(value)} is not a record")
        return

    items = _wrapped_items(value)
    if items is None:
        yield _record(name, number, None, value)
        stats.records += 1
        return
    for index, item in enumerate(items, start=1):
        yield from _item(name, number, index, item, stats)


def _item(name: str, number: int, index: int, item: Any, stats: ReadStats) -> Iterator[ScanRecord]:
    if not isinstance(item, dict):
        stats.add_error(name, number, f"item {index}: a JSON {_json_type(item)} is not a record")
        return
    host = _censys_host(item)
    if host is None:
        stats.skipped += 1  # a Censys web-property or certificate hit: not a host
        return
    inner = _wrapped_items(host)
    if inner is not None:
        # A host lookup inside an array (several ``shodan host`` answers in one file).
        for sub, banner in enumerate(inner, start=1):
            if isinstance(banner, dict):
                stats.records += 1
                yield _record(name, number, sub, banner)
            else:
                stats.add_error(name, number, f"item {index}.{sub}: not a record")
        return
    stats.records += 1
    yield _record(name, number, index, host)


def _wrapped_items(value: dict[str, Any]) -> list[Any] | None:
    """The records a wrapper holds, or None when ``value`` is itself a record."""
    matches = value.get("matches")
    if isinstance(matches, list):
        return matches

    data = value.get("data")
    if isinstance(data, list):
        return [_with_host_fields(banner, value) for banner in data]

    result = value.get("result")
    if isinstance(result, list):
        return result
    if isinstance(result, dict):
        hits = result.get("hits")
        if isinstance(hits, list) or ("hits" in result and hits is None):
            return hits or []
        resource = result.get("resource")
        if isinstance(resource, dict):
            return [resource]
        return [result]

    host = value.get("host_v1")
    if isinstance(host, dict):
        resource = host.get("resource")
        return [resource] if isinstance(resource, dict) else [host]
    return None


def _censys_host(item: dict[str, Any]) -> dict[str, Any] | None:
    """The host inside a Censys hit or lookup entry, the item itself otherwise; None for
    web-property and certificate hits (censys.md §2.4: take IPs from ``host_v1`` only)."""
    if "webproperty_v1" in item or "certificate_v1" in item:
        return None
    for key in ("host_v1", None):
        node = item.get(key) if key else item
        if isinstance(node, dict) and isinstance(node.get("resource"), dict):
            resource: dict[str, Any] = node["resource"]
            return resource
    return item


def _with_host_fields(banner: Any, host: Mapping[str, Any]) -> Any:
    """A Shodan host-lookup banner completed with the host's fields it lacks."""
    if not isinstance(banner, dict):
        return banner
    merged = dict(banner)
    for key in _SHODAN_HOST_FIELDS:
        if key in host and merged.get(key) is None:
            merged[key] = host[key]
    if "tags" not in merged and isinstance(host.get("tags"), list):
        merged["tags"] = host["tags"]
    if not isinstance(merged.get("location"), dict):
        location = {key: host[key] for key in _SHODAN_LOCATION_FIELDS if key in host}
        if location:
            merged["location"] = location
    return merged


def _record(name: str, number: int, item: int | None, data: dict[str, Any]) -> ScanRecord:
    return ScanRecord(name, number, detect_engine(data), data, item)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return type(value).__name__
