"""One streaming pass over the active indicators, fanned out to every exporter.

Memory stays bounded whatever the number of indicators: row formats write as they go; address
lists share one external sort (:class:`~c2tracker.feeds.bounded.ExternalSort`) of
``address key × routing profile`` numbers, merged at the end into each address with the bit set
of the exporters that hold it. The merge runs twice: once to count each list (headers such as
ipset's ``maxelem`` need the count first), once to write.

Routing: an exporter's :meth:`~c2tracker.feeds.base.Exporter.accepts` may depend only on the
indicator's rule id, category, blockability and which windows hold it. The builder computes
that "profile" per indicator and asks each exporter once per distinct profile, so a million
indicators cost a million dictionary look-ups rather than fifty million method calls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

from c2tracker.errors import PublishError
from c2tracker.feeds.base import (
    Exporter,
    FeedContext,
    IpListExporter,
    WrittenFile,
    as_utc,
    ip_key,
    ip_text,
    is_v6_key,
)
from c2tracker.feeds.bounded import ExternalSort
from c2tracker.model import Indicator, IndicatorStatus

__all__ = ["BuildResult", "build_feeds"]

log = logging.getLogger(__name__)

#: How often (in indicators) the progress callback is called.
PROGRESS_EVERY = 5000

_Profile = tuple[str, str, bool, int]
#: Low bits of a sorted address record that hold the routing profile's number.
PROFILE_BITS = 24
_PROFILE_MASK = (1 << PROFILE_BITS) - 1
#: Bytes of one record: an address key (up to 129 bits, IPv6 flagged) and the profile.
_RECORD_WIDTH = 20
_T = TypeVar("_T")


@dataclass(slots=True)
class BuildResult:
    """What a build wrote and the counts it saw, for the manifest and the validation."""

    files: list[WrittenFile] = field(default_factory=list)
    indicators: int = 0
    addresses: int = 0
    expected: dict[str, int] = field(default_factory=dict)
    """Relative path → entries the file must hold (from the builder's own counting)."""


def build_feeds(
    indicators: Iterable[Indicator],
    exporters: Sequence[Exporter],
    context: FeedContext,
    root: Path,
    *,
    progress: Callable[[int], None] | None = None,
) -> BuildResult:
    """Streams ``indicators`` into every exporter under ``root``.

    Raises:
        PublishError: an exporter failed; the message names it. Nothing is cleaned here: the
            caller owns ``root`` (a staging folder) and discards it.
    """
    result = BuildResult()
    ip_exporters = [e for e in exporters if isinstance(e, IpListExporter)]
    row_exporters = [e for e in exporters if not isinstance(e, IpListExporter)]
    for exporter in exporters:
        _guard(exporter, "open", partial(exporter.open, root))

    # Stream: route each indicator to its row exporters and queue its address for the lists.
    routes: dict[_Profile, tuple[list[int], int, int]] = {}
    profile_bits: list[int] = []
    written = [0] * len(row_exporters)
    addresses: ExternalSort[int] = ExternalSort(root, width=_RECORD_WIDTH)
    # What Window.holds() decides, without a method call per window per indicator.
    window_starts = [(bit, window.since) for bit, window in enumerate(context.windows)]
    seen = 0
    current: Exporter | None = None
    try:
        for indicator in indicators:
            if indicator.status is not IndicatorStatus.ACTIVE:
                continue
            mask = 0
            last_seen = as_utc(indicator.last_seen)
            for bit, since in window_starts:
                if last_seen >= since:
                    mask |= 1 << bit
            profile = (indicator.rule_id, indicator.category.value, context.blocks(indicator), mask)
            route = routes.get(profile)
            if route is None:
                targets, bits = _route(indicator, row_exporters, ip_exporters)
                if len(profile_bits) > _PROFILE_MASK:
                    raise PublishError("too many distinct routing profiles")
                route = (targets, bits, len(profile_bits))
                profile_bits.append(bits)
                routes[profile] = route
            targets, bits, number = route
            for position in targets:
                current = row_exporters[position]
                current.write(indicator)
                written[position] += 1
            current = None
            if bits:
                addresses.add(ip_key(indicator.ip) << PROFILE_BITS | number)
            seen += 1
            if progress is not None and seen % PROGRESS_EVERY == 0:
                progress(seen)
    except PublishError:
        addresses.close()
        raise
    except Exception as exc:
        addresses.close()
        if current is None:
            raise PublishError(f"reading indicators failed: {type(exc).__name__}: {exc}") from exc
        raise _failure(current, "write", exc) from exc
    for position, exporter in enumerate(row_exporters):
        if exporter.counted:
            result.expected[exporter.relative_path] = written[position]
    result.indicators = seen
    if progress is not None:
        progress(seen)
    log.debug("streamed %d indicators into %d exporters", seen, len(exporters))

    # Lists: count per exporter first (headers such as ipset's maxelem need it), then write.
    with addresses:
        _write_lists(partial(_merged, addresses, profile_bits), ip_exporters, result)

    for exporter in row_exporters:
        result.files.extend(_guard(exporter, "close", exporter.close))
    return result


def _route(
    indicator: Indicator, rows: Sequence[Exporter], lists: Sequence[IpListExporter]
) -> tuple[list[int], int]:
    targets = [position for position, e in enumerate(rows) if e.accepts(indicator)]
    bits = 0
    for bit, exporter in enumerate(lists):
        if exporter.accepts(indicator):
            bits |= 1 << bit
    return targets, bits


def _merged(records: ExternalSort[int], profile_bits: list[int]) -> Iterator[tuple[int, int]]:
    """Each distinct address key, ascending, with the bits of every exporter holding it."""
    current = -1
    bits = 0
    for record in records:
        key = record >> PROFILE_BITS
        if key != current:
            if bits:
                yield current, bits
            current, bits = key, 0
        bits |= profile_bits[record & _PROFILE_MASK]
    if bits:
        yield current, bits


def _write_lists(
    merged: Callable[[], Iterator[tuple[int, int]]],
    exporters: Sequence[IpListExporter],
    result: BuildResult,
) -> None:
    counts = [0] * len(exporters)
    counts_v6 = [0] * len(exporters)
    addresses = 0
    for key, bits in merged():
        addresses += 1
        v6 = is_v6_key(key)
        while bits:
            low = bits & -bits
            position = low.bit_length() - 1
            counts[position] += 1
            if v6:
                counts_v6[position] += 1
            bits ^= low
    result.addresses = addresses
    for position, each in enumerate(exporters):
        _guard(each, "begin", partial(each.begin, counts[position], counts_v6[position]))
        result.expected[each.relative_path] = counts[position]

    exporter: IpListExporter | None = None
    try:
        for key, bits in merged():
            text = ip_text(key)
            v6 = is_v6_key(key)
            while bits:
                low = bits & -bits
                exporter = exporters[low.bit_length() - 1]
                exporter.add_ip(text, v6)
                bits ^= low
    except Exception as exc:
        assert exporter is not None
        raise _failure(exporter, "write", exc) from exc

    for exporter in exporters:
        result.files.extend(_guard(exporter, "close", exporter.close))


def _guard(exporter: Exporter, step: str, call: Callable[[], _T]) -> _T:
    """Runs one exporter step, turning any failure into a :class:`PublishError` naming it."""
    try:
        return call()
    except PublishError:
        raise
    except Exception as exc:
        raise _failure(exporter, step, exc) from exc


def _failure(exporter: Exporter, step: str, exc: Exception) -> PublishError:
    return PublishError(
        f"{exporter.format} exporter failed to {step} {exporter.relative_path}: "
        f"{type(exc).__name__}: {exc}"
    )
