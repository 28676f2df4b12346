"""Small charts drawn on the server as inline SVG: no script, no CDN, nothing fetched by the browser.

The markup is built from numbers and fixed colours; every piece of text (labels, tooltips) goes through
``escape()``, so a job name or a label can never inject markup. Plain string building rather than nested
``format_html`` calls: a dashboard page draws thousands of shapes and this keeps it a few milliseconds.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

SUCCESS = "#2e7d32"
FAILURE = "#c62828"
OTHER = "#9e9e9e"
EMPTY = "#e0e0e0"
LINE = "#1565c0"


@dataclass(frozen=True)
class DayRuns:
    """One UTC day of one schedule's runs, as the charts need it."""

    day: date
    succeeded: int = 0
    failed: int = 0
    other: int = 0  # skipped, cancelled, still in flight
    average_duration: timedelta | None = None

    @property
    def total(self) -> int:
        return self.succeeded + self.failed + self.other


def _svg(width: int, height: int, label: str, shapes: list[str]) -> SafeString:
    """Wrap shapes in an accessible SVG; ``shapes`` hold numbers, fixed colours and escaped text only."""
    text = escape(label)
    markup = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ops-chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{text}"><title>{text}</title>'
        f"{''.join(shapes)}</svg>"
    )
    return mark_safe(markup)  # noqa: S308 - every text part above was escaped


def outcome_bars(days: Sequence[DayRuns], *, label: str, bar_width: int = 5, height: int = 24) -> SafeString:
    """One stacked bar per day: succeeded (green) under failed (red) under the rest (grey).

    Bars are scaled to the busiest day; a day without runs shows as a thin grey tick.
    """
    gap = 1
    width = max(1, len(days) * (bar_width + gap))
    busiest = max((day.total for day in days), default=0) or 1
    shapes = []
    for index, day in enumerate(days):
        x = index * (bar_width + gap)
        if day.total == 0:
            shapes.append(
                f'<rect x="{x}" y="{height - 1}" width="{bar_width}" height="1" fill="{EMPTY}">'
                f"<title>{day.day:%Y-%m-%d}: no runs</title></rect>"
            )
            continue
        tooltip = f"{day.day:%Y-%m-%d}: {day.succeeded} succeeded, {day.failed} failed"
        if day.other:
            tooltip += f", {day.other} other"
        y = height
        segments = []
        for count, colour in ((day.succeeded, SUCCESS), (day.failed, FAILURE), (day.other, OTHER)):
            if not count:
                continue
            segment = max(1, round(count / busiest * height))
            y -= segment
            segments.append(f'<rect x="{x}" y="{y}" width="{bar_width}" height="{segment}" fill="{colour}"/>')
        shapes.append(f"<g><title>{escape(tooltip)}</title>{''.join(segments)}</g>")
    return _svg(width, height, label, shapes)


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
            x, y = points[0]
            shapes.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.5" fill="{LINE}"/>')
    return _svg(width, height, f"{label} (slowest day: {format_duration(slowest)})", shapes)


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
    width: int = 720,
    height: int = 28,
) -> SafeString:
    """A horizontal axis from ``start`` to ``end`` with an hour tick every hour and a mark per fire time."""
    span = (end - start).total_seconds() or 1

    def x_of(moment: datetime) -> float:
        return round((moment - start).total_seconds() / span * (width - 2) + 1, 1)

    shapes = [f'<line x1="0" y1="{height - 1}" x2="{width}" y2="{height - 1}" stroke="{OTHER}"/>']
    hour = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    while hour < end:
        x = x_of(hour)
        shapes.append(f'<line x1="{x}" y1="{height - 6}" x2="{x}" y2="{height}" stroke="{OTHER}"/>')
        if hour.hour % 6 == 0:
            shapes.append(
                f'<text x="{x + 1}" y="{height - 7}" font-size="8" fill="{OTHER}">{hour:%H:%M}</text>'
            )
        hour += timedelta(hours=1)
    for mark in marks:
        shapes.append(
            f'<circle cx="{x_of(max(mark.at, start))}" cy="{height / 2}" r="3" fill="{LINE}" '
            f'fill-opacity="0.6"><title>{escape(mark.label)}</title></circle>'
        )
    return _svg(width, height, label, shapes)


def format_duration(value: timedelta | None) -> str:
    """Short human form: 850 ms, 12.3 s, 4 min 05 s, 2 h 10 min."""
    if value is None:
        return "-"
    seconds = value.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
