"""IP and port normalisation; the confidence formula's bounds and monotonicity."""

from __future__ import annotations

import itertools

import pytest

from c2tracker.errors import StoreError
from c2tracker.model import Fidelity
from c2tracker.store.confidence import Factors, independent_engines, score
from c2tracker.store.values import normalize_ip, normalize_port


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("45.1.2.3", "45.1.2.3"),
        (" 45.1.2.3\n", "45.1.2.3"),
        ("::ffff:45.1.2.3", "45.1.2.3"),
        ("2A01:04F8:0000:0000:0000:0000:0000:0001", "2a01:4f8::1"),
        ("0.1.2.3", "0.1.2.3"),
    ],
)
def test_ip_normalised(raw: str, expected: str) -> None:
    assert normalize_ip(raw) == expected


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("010.1.1.1", "leading zero"),
        ("45.01.2.3", "leading zero"),
        ("45.1.2.3/32", "not an IPv4 or IPv6"),
        ("example.com", "not an IPv4 or IPv6"),
        ("", "empty"),
        ("fe80::1%eth0", "scoped"),
        ("256.1.1.1", "not an IPv4"),
    ],
)
def test_ip_refused_with_reason(raw: str, why: str) -> None:
    with pytest.raises(StoreError, match=why):
        normalize_ip(raw)


def test_ports() -> None:
    assert normalize_port(None) is None
    assert normalize_port("443") == 443
    assert normalize_port(0) == 0 and normalize_port(65535) == 65535
    for bad in (-1, 65536, "http", True):
        with pytest.raises(StoreError, match="refused port"):
            normalize_port(bad)  # type: ignore[arg-type]


GRID = list(
    itertools.product(
        [Fidelity.LOW, Fidelity.MEDIUM, Fidelity.HIGH],
        [1, 2, 3, 5],
        [1, 2],
        [1, 2, 4, 10],
        [False, True],
        [False, True],
        [0, 1, 3],
    )
)


def test_bounds_and_anchor_values() -> None:
    scores = [score(Factors(*values)) for values in GRID]
    assert min(scores) >= 0 and max(scores) <= 100
    assert score(Factors(Fidelity.HIGH, 1, 1, 1)) == 60
    assert score(Factors(Fidelity.HIGH, 3, 2, 6)) == 100
    assert score(Factors(Fidelity.LOW, 1, 1, 1, dual_use=True, honeypot=True)) == 0


@pytest.mark.parametrize("index", range(7))
def test_monotonic_in_each_factor(index: int) -> None:
    order = {0: [Fidelity.LOW, Fidelity.MEDIUM, Fidelity.HIGH]}
    for values in GRID:
        base = score(Factors(*values))
        if index == 0:
            ranks = order[0]
            position = ranks.index(values[0])
            if position + 1 < len(ranks):
                better = (ranks[position + 1], *values[1:])
                assert score(Factors(*better)) >= base
        elif index in (1, 2, 3):
            bumped = list(values)
            bumped[index] += 1
            assert score(Factors(*bumped)) >= base
        else:  # penalties: turning one on / raising it never raises the score
            bumped = list(values)
            bumped[index] = True if index in (4, 5) else values[index] + 1
            assert score(Factors(*bumped)) <= base


def test_engine_independence() -> None:
    assert independent_engines(["censys", "censys-legacy"]) == 1
    assert independent_engines(["shodan", "censys-legacy"]) == 2
