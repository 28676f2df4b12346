import re
from datetime import UTC, date, datetime, timedelta

from ops.svg import DayRuns, TimelineMark, duration_line, format_duration, outcome_bars, timeline

DAYS = [
    DayRuns(day=date(2026, 3, 1), succeeded=3, failed=1),
    DayRuns(day=date(2026, 3, 2)),
    DayRuns(day=date(2026, 3, 3), succeeded=4, average_duration=timedelta(seconds=2)),
]


def test_outcome_bars_draw_succeeded_and_failed_runs_per_day_with_a_tooltip():
    svg = str(outcome_bars(DAYS, label="Runs"))

    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "2026-03-01: 3 succeeded, 1 failed" in svg
    assert "2026-03-02: no runs" in svg
    assert svg.count('fill="#c62828"') == 1  # one failed segment


def test_the_busiest_day_fills_the_chart_height():
    svg = str(outcome_bars(DAYS, label="Runs", height=20))

    heights = [int(value) for value in re.findall(r'height="(\d+)" fill="#2e7d32"', svg)]
    assert max(heights) == 20


def test_text_in_a_chart_cannot_inject_markup():
    svg = str(outcome_bars(DAYS, label='<script>alert("x")</script>'))

    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg


def test_a_duration_line_leaves_a_gap_for_days_without_runs():
    days = [
        DayRuns(day=date(2026, 3, 1), succeeded=1, average_duration=timedelta(seconds=1)),
        DayRuns(day=date(2026, 3, 2)),
        DayRuns(day=date(2026, 3, 3), succeeded=1, average_duration=timedelta(seconds=4)),
    ]

    svg = str(duration_line(days, label="Duration"))

    assert "<polyline" not in svg and svg.count("<circle") == 2
    assert "slowest day: 4.0 s" in svg


def test_a_timeline_marks_each_fire_time_with_its_label():
    start = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    marks = [TimelineMark(start + timedelta(hours=hours), f"run {hours}") for hours in (1, 2, 3)]

    svg = str(timeline(marks, start=start, end=start + timedelta(hours=24), label="Next day"))

    assert svg.count("<circle") == 3
    assert "<title>run 2</title>" in svg


def test_durations_read_naturally():
    assert [format_duration(timedelta(seconds=s)) for s in (0.25, 12.34, 245, 7800)] == [
        "250 ms",
        "12.3 s",
        "4 min 05 s",
        "2 h 10 min",
    ]
