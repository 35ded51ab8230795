"""Geometry for the dashboard's SVG charts, drawn on the server.

Charts are plain SVG elements placed by the templates: no chart library, no script, nothing
fetched, and every label goes through Jinja's autoescaping like the rest of the page. A bar
chart and a timeline are all the dashboard needs, which is less code than wiring a JavaScript
chart library into a strict Content-Security-Policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from c2tracker.server.deps import as_utc

WIDTH = 640
BAR_AREA = 200
#: Width of one label character in SVG units at the stylesheet's label font size.
LABEL_CHAR_WIDTH = 6.5


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int

    @property
    def label_chars(self) -> int:
        """How many label characters fit under the bar without running into its neighbours."""
        return int(self.width // LABEL_CHAR_WIDTH)


@dataclass(slots=True)
class BarChart:
    """Vertical bars, one per label, scaled to the largest value."""

    title: str
    bars: list[Bar]
    width: int = WIDTH
    height: int = BAR_AREA + 40
    max_value: int = 0

    @property
    def is_empty(self) -> bool:
        return not self.bars


def bar_chart(title: str, items: Sequence[tuple[str, int]], width: int = WIDTH) -> BarChart:
    """Bars for ``(label, value)`` pairs, in the order given."""
    if not items:
        return BarChart(title, [], width)
    top = max(max(value for _, value in items), 1)
    slot = width / len(items)
    gap = min(8.0, slot * 0.2)
    bars = []
    for position, (label, value) in enumerate(items):
        height = BAR_AREA * value / top
        bars.append(
            Bar(
                x=round(position * slot + gap / 2, 2),
                y=round(BAR_AREA - height + 10, 2),
                width=round(max(slot - gap, 1.0), 2),
                height=round(max(height, 1.0 if value else 0.0), 2),
                label=label,
                value=value,
            )
        )
    return BarChart(title, bars, width, max_value=top)


@dataclass(frozen=True, slots=True)
class Dot:
    cx: float
    cy: float
    title: str


@dataclass(slots=True)
class Timeline:
    """Sightings as dots on a time axis, one row per rule."""

    rows: list[tuple[str, float]]
    dots: list[Dot]
    ticks: list[tuple[float, str]] = field(default_factory=list)
    width: int = WIDTH
    height: int = 60
    left: int = 150

    @property
    def is_empty(self) -> bool:
        return not self.dots


def timeline(points: Sequence[tuple[str, datetime, str]], width: int = WIDTH) -> Timeline:
    """A timeline of ``(row label, time, dot title)`` points."""
    if not points:
        return Timeline([], [])
    labels = sorted({label for label, _, _ in points})
    row_y = {label: 20.0 + 24 * index for index, label in enumerate(labels)}
    times = [as_utc(moment).timestamp() for _, moment, _ in points]
    start, end = min(times), max(times)
    span = max(end - start, 1.0)
    left = 150
    usable = width - left - 20

    def x_of(stamp: float) -> float:
        return round(left + usable * (stamp - start) / span, 2)

    dots = [
        Dot(x_of(stamp), row_y[label], title)
        for (label, _, title), stamp in zip(points, times, strict=True)
    ]
    ticks = []
    for fraction in (0.0, 0.5, 1.0):
        stamp = start + span * fraction
        text = datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d")
        ticks.append((x_of(stamp), text))
    height = int(row_y[labels[-1]] + 40)
    return Timeline(list(row_y.items()), dots, ticks, width, height, left)
