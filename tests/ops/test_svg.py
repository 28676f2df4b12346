import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ops.svg import (
    DayRuns,
    MinuteRuns,
    TimelineMark,
    duration_line,
    outcome_bars,
    outcome_histogram,
    timeline,
)

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
    assert "slowest day: 4 s" in svg


def test_a_single_day_with_runs_is_a_dot_big_enough_to_see_on_a_baseline():
    days = [DayRuns(day=date(2026, 3, day)) for day in range(1, 30)]
    days.append(DayRuns(day=date(2026, 3, 30), succeeded=1, average_duration=timedelta(milliseconds=277)))

    svg = str(duration_line(days, label="Duration"))

    assert re.search(r'<circle cx="[\d.]+" cy="[\d.]+" r="2.5"', svg)
    assert '<rect x="0" y="23" width="180" height="1"' in svg
    assert "slowest day: 277 ms" in svg


def test_the_large_chart_labels_its_first_and_last_bucket_and_its_scale():
    minutes = [
        MinuteRuns(label="10:00", succeeded=3),
        MinuteRuns(label="10:01"),
        MinuteRuns(label="10:02", failed=2),
    ]

    svg = str(outcome_histogram(minutes, label="Runs per minute"))

    assert ">max 3 per bar</text>" in svg
    assert ">10:00</text>" in svg and ">10:02</text>" in svg
    assert "10:02: 0 succeeded, 2 failed" in svg
    assert 'class="ops-chart ops-chart-wide"' in svg


def test_a_timeline_labels_the_hours_of_the_viewers_zone():
    start = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)

    svg = str(
        timeline(
            [], start=start, end=start + timedelta(hours=24), label="Next day", zone=ZoneInfo("Asia/Kolkata")
        )
    )

    # 12:30 UTC is 18:00 in Kolkata (UTC+05:30): ticks at its full hours, labelled every six of them.
    assert re.findall(r">(\d\d:\d\d)</text>", svg) == ["00:00", "06:00", "12:00"]
    assert svg.count("<line") == 1 + 23


def test_a_timeline_marks_each_fire_time_with_its_label():
    start = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    marks = [TimelineMark(start + timedelta(hours=hours), f"run {hours}") for hours in (1, 2, 3)]

    svg = str(timeline(marks, start=start, end=start + timedelta(hours=24), label="Next day"))

    assert svg.count("<circle") == 3
    assert "<title>run 2</title>" in svg
