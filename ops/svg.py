"""Small charts drawn on the server as inline SVG: no script, no CDN, nothing fetched by the browser.

The markup is built from numbers and fixed colours; every piece of text (labels, tooltips) goes through
``escape()``, so a job name or a label can never inject markup. Plain string building rather than nested
``format_html`` calls: a dashboard page draws thousands of shapes and this keeps it a few milliseconds.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Protocol

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from tenants.display import human_duration

SUCCESS = "#2e7d32"
FAILURE = "#c62828"
OTHER = "#9e9e9e"
EMPTY = "#e0e0e0"
LINE = "#1565c0"


@dataclass(frozen=True)
class DayRuns:
    """One day of runs (of one schedule, or of all in view), as the charts need it."""

    day: date
    succeeded: int = 0
    failed: int = 0
    other: int = 0  # skipped, cancelled, still in flight
    average_duration: timedelta | None = None

    @property
    def total(self) -> int:
        return self.succeeded + self.failed + self.other

    @property
    def label(self) -> str:
        return f"{self.day:%Y-%m-%d}"


@dataclass(frozen=True)
class MinuteRuns:
    """One minute of runs (by their slot), labelled in the viewer's zone."""

    label: str
    succeeded: int = 0
    failed: int = 0
    other: int = 0

    @property
    def total(self) -> int:
        return self.succeeded + self.failed + self.other


class Buckets(Protocol):
    label: str
    succeeded: int
    failed: int
    other: int
    total: int


def _svg(width: int, height: int, label: str, shapes: list[str], *, css: str = "ops-chart") -> SafeString:
    """Wrap shapes in an accessible SVG; ``shapes`` hold numbers, fixed colours and escaped text only.

    The chart scales down with its box (CSS ``max-width: 100%``), never pushing a table wider.
    """
    text = escape(label)
    markup = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{css}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{text}"><title>{text}</title>'
        f"{''.join(shapes)}</svg>"
    )
    return mark_safe(markup)  # noqa: S308 - every text part above was escaped


def outcome_bars(
    buckets: Sequence[Buckets], *, label: str, bar_width: int = 5, height: int = 24, top: int = 0
) -> SafeString:
    """One stacked bar per bucket (a day, a minute): succeeded (green) under failed (red) under the rest
    (grey), each with a tooltip. Bars are scaled to the busiest bucket; an empty one is a thin grey tick.
    ``top`` leaves that much room above the bars (for a caption drawn by the caller)."""
    gap = 1
    width = max(1, len(buckets) * (bar_width + gap))
    busiest = max((bucket.total for bucket in buckets), default=0) or 1
    room = height - top
    shapes = []
    for index, bucket in enumerate(buckets):
        x = index * (bar_width + gap)
        if bucket.total == 0:
            shapes.append(
                f'<rect x="{x}" y="{height - 1}" width="{bar_width}" height="1" fill="{EMPTY}">'
                f"<title>{escape(bucket.label)}: no runs</title></rect>"
            )
            continue
        tooltip = f"{bucket.label}: {bucket.succeeded} succeeded, {bucket.failed} failed"
        if bucket.other:
            tooltip += f", {bucket.other} other"
        y = height
        segments = []
        for count, colour in ((bucket.succeeded, SUCCESS), (bucket.failed, FAILURE), (bucket.other, OTHER)):
            if not count:
                continue
            segment = max(1, round(count / busiest * room))
            y -= segment
            segments.append(f'<rect x="{x}" y="{y}" width="{bar_width}" height="{segment}" fill="{colour}"/>')
        shapes.append(f"<g><title>{escape(tooltip)}</title>{''.join(segments)}</g>")
    return _svg(width, height, label, shapes)


def outcome_histogram(buckets: Sequence[Buckets], *, label: str, bar_width: int = 9) -> SafeString:
    """The dashboard's large chart: ``outcome_bars`` with the busiest count written at the top left and
    the first and last bucket's labels under the bars; scales down with its box."""
    height, axis = 96, 14
    bars = outcome_bars(buckets, label=label, bar_width=bar_width, height=height - axis, top=12)
    width = max(1, len(buckets) * (bar_width + 1))
    busiest = max((bucket.total for bucket in buckets), default=0)
    inner = bars[bars.index("</title>") + len("</title>") : -len("</svg>")]
    shapes = [
        inner,
        f'<text x="0" y="9" font-size="9" fill="{OTHER}">max {busiest} per bar</text>',
        f'<line x1="0" y1="{height - axis}" x2="{width}" y2="{height - axis}" stroke="{EMPTY}"/>',
    ]
    if buckets:
        shapes.append(
            f'<text x="0" y="{height - 2}" font-size="9" fill="{OTHER}">{escape(buckets[0].label)}</text>'
        )
        shapes.append(
            f'<text x="{width}" y="{height - 2}" font-size="9" fill="{OTHER}" text-anchor="end">'
            f"{escape(buckets[-1].label)}</text>"
        )
    return _svg(width, height, label, shapes, css="ops-chart ops-chart-wide")


def duration_line(days: Sequence[DayRuns], *, label: str, step: int = 6, height: int = 24) -> SafeString:
    """The average duration per day as a line scaled to the slowest day; days without runs leave a gap."""
    width = max(1, len(days) * step)
    slowest = max((day.average_duration for day in days if day.average_duration is not None), default=None)
    if not slowest:
        return _svg(
            width,
            height,
            label,
            [f'<rect x="0" y="{height - 1}" width="{width}" height="1" fill="{EMPTY}"/>'],
        )
    stretches: list[list[tuple[float, float]]] = [[]]
    for index, day in enumerate(days):
        if day.average_duration is None:
            stretches.append([])
            continue
        x = index * step + step / 2
        y = height - 1 - (day.average_duration / slowest) * (height - 2)
        stretches[-1].append((x, y))
    shapes = []
    for points in stretches:
        if len(points) > 1:
            coordinates = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            shapes.append(
                f'<polyline points="{coordinates}" fill="none" stroke="{LINE}" stroke-width="1.5"/>'
            )
        elif points:
            # A day on its own (the only one with runs, or between two without) is a dot big enough to see.
            x, y = points[0]
            shapes.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{LINE}"/>')
    baseline = f'<rect x="0" y="{height - 1}" width="{width}" height="1" fill="{EMPTY}"/>'
    return _svg(width, height, f"{label} (slowest day: {human_duration(slowest)})", [baseline, *shapes])


@dataclass(frozen=True)
class TimelineMark:
    at: datetime
    label: str


def timeline(
    marks: Sequence[TimelineMark],
    *,
    start: datetime,
    end: datetime,
    label: str,
    zone: tzinfo = UTC,
    width: int = 720,
    height: int = 28,
) -> SafeString:
    """A horizontal axis from ``start`` to ``end`` with a tick at every full hour of ``zone`` (labelled
    every six hours) and a mark per fire time."""
    span = (end - start).total_seconds() or 1

    def x_of(moment: datetime) -> float:
        return round((moment - start).total_seconds() / span * (width - 2) + 1, 1)

    shapes = [f'<line x1="0" y1="{height - 1}" x2="{width}" y2="{height - 1}" stroke="{OTHER}"/>']
    hour = start.astimezone(zone).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    hour = hour.astimezone(UTC)
    while hour < end:
        x = x_of(hour)
        local = hour.astimezone(zone)
        shapes.append(f'<line x1="{x}" y1="{height - 6}" x2="{x}" y2="{height}" stroke="{OTHER}"/>')
        if local.hour % 6 == 0:
            shapes.append(
                f'<text x="{x + 1}" y="{height - 7}" font-size="8" fill="{OTHER}">{local:%H:%M}</text>'
            )
        hour += timedelta(hours=1)
    for mark in marks:
        shapes.append(
            f'<circle cx="{x_of(max(mark.at, start))}" cy="{height / 2}" r="3" fill="{LINE}" '
            f'fill-opacity="0.6"><title>{escape(mark.label)}</title></circle>'
        )
    return _svg(width, height, label, shapes, css="ops-chart ops-chart-wide")
