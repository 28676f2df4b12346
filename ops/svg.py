"""Small charts drawn on the server as inline SVG: no script, no CDN, nothing fetched by the browser.

Every function returns a ``SafeString`` whose variable parts went through ``format_html``, so a job name or
a label can never inject markup.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

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


def _concat(parts: Sequence[SafeString]) -> SafeString:
    return format_html_join("", "{}", ((part,) for part in parts))


def _svg(width: int, height: int, label: str, body: SafeString) -> SafeString:
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="ops-chart" width="{}" height="{}" '
        'viewBox="0 0 {} {}" role="img" aria-label="{}"><title>{}</title>{}</svg>',
        width,
        height,
        width,
        height,
        label,
        label,
        body,
    )


def outcome_bars(days: Sequence[DayRuns], *, label: str, bar_width: int = 5, height: int = 24) -> SafeString:
    """One stacked bar per day: succeeded (green) under failed (red) under the rest (grey).

    Bars are scaled to the busiest day; a day without runs shows as a thin grey tick.
    """
    gap = 1
    width = max(1, len(days) * (bar_width + gap))
    busiest = max((day.total for day in days), default=0) or 1
    parts = []
    for index, day in enumerate(days):
        x = index * (bar_width + gap)
        tooltip = f"{day.day:%Y-%m-%d}: {day.succeeded} succeeded, {day.failed} failed" + (
            f", {day.other} other" if day.other else ""
        )
        if day.total == 0:
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="1" fill="{}"><title>{}: no runs</title></rect>',
                    x,
                    height - 1,
                    bar_width,
                    EMPTY,
                    f"{day.day:%Y-%m-%d}",
                )
            )
            continue
        y = height
        segments = []
        for count, colour in ((day.succeeded, SUCCESS), (day.failed, FAILURE), (day.other, OTHER)):
            if not count:
                continue
            segment = max(1, round(count / busiest * height))
            y -= segment
            segments.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>', x, y, bar_width, segment, colour
                )
            )
        parts.append(format_html("<g><title>{}</title>{}</g>", tooltip, _concat(segments)))
    return _svg(width, height, label, _concat(parts))


def duration_line(days: Sequence[DayRuns], *, label: str, step: int = 6, height: int = 24) -> SafeString:
    """The average duration per day as a line scaled to the slowest day; days without runs leave a gap."""
    width = max(1, len(days) * step)
    slowest = max((day.average_duration for day in days if day.average_duration is not None), default=None)
    if not slowest:
        return _svg(
            width,
            height,
            label,
            format_html('<rect x="0" y="{}" width="{}" height="1" fill="{}"/>', height - 1, width, EMPTY),
        )
    runs_of_points: list[list[str]] = [[]]
    for index, day in enumerate(days):
        if day.average_duration is None:
            runs_of_points.append([])
            continue
        x = index * step + step / 2
        y = height - 1 - (day.average_duration / slowest) * (height - 2)
        runs_of_points[-1].append(f"{x:.1f},{y:.1f}")
    lines = format_html_join(
        "",
        '<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"/>',
        ((" ".join(points), LINE) for points in runs_of_points if len(points) > 1),
    )
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="1.5" fill="{}"/>',
        ((*point.split(","), LINE) for points in runs_of_points if len(points) == 1 for point in points),
    )
    return _svg(width, height, f"{label} (slowest day: {format_duration(slowest)})", _concat([lines, dots]))


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

    ticks = []
    first_hour = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    hour = first_hour
    while hour < end:
        ticks.append(
            format_html(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/>',
                x_of(hour),
                height - 6,
                x_of(hour),
                height,
                OTHER,
            )
        )
        if hour.hour % 6 == 0:
            ticks.append(
                format_html(
                    '<text x="{}" y="{}" font-size="8" fill="{}">{}</text>',
                    x_of(hour) + 1,
                    height - 7,
                    OTHER,
                    f"{hour:%H:%M}",
                )
            )
        hour += timedelta(hours=1)
    axis = format_html(
        '<line x1="0" y1="{}" x2="{}" y2="{}" stroke="{}"/>', height - 1, width, height - 1, OTHER
    )
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="3" fill="{}" fill-opacity="0.6"><title>{}</title></circle>',
        ((x_of(mark.at), height / 2, LINE, mark.label) for mark in marks),
    )
    return _svg(width, height, label, _concat([axis, *ticks, dots]))


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
