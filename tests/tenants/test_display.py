"""How pages write times, durations, sizes and statuses: one module, so every page agrees."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tenants.display import breakable, human_duration, human_size, local_time, status_badge, time_html


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "0 ms"),
        (0.277030, "277 ms"),
        (5, "5 s"),
        (12.34, "12.3 s"),
        (60, "1 min"),
        (245, "4 min 5 s"),
        (3600, "1 h"),
        (7380, "2 h 3 min"),
        (3 * 86400 + 4 * 3600 + 59, "3 d 4 h"),
        (-90, "-1 min 30 s"),
    ],
)
def test_durations_read_naturally(seconds, words):
    assert human_duration(timedelta(seconds=seconds)) == words


def test_no_duration_is_a_dash():
    assert human_duration(None) == "—"


def test_sizes_read_naturally_and_never_break_between_number_and_unit():
    assert [human_size(size) for size in (None, 512, 1536, 3 * 1024**3)] == [
        "—",
        "512\xa0bytes",
        "1.5\xa0KB",
        "3.0\xa0GB",
    ]


def test_a_time_is_shown_to_the_second_in_the_zone_with_utc_on_hover():
    moment = datetime(2026, 7, 1, 9, 0, 3, 250000, tzinfo=UTC)

    html = str(time_html(moment, ZoneInfo("Europe/Berlin")))

    assert html == (
        '<time datetime="2026-07-01T09:00:03.250000+00:00" title="2026-07-01 09:00:03 UTC">'
        "2026-07-01 11:00:03 CEST</time>"
    )


def test_without_a_zone_the_viewers_active_zone_is_used():
    moment = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    with timezone.override(ZoneInfo("America/New_York")):
        assert local_time(moment) == "2026-01-01 07:00:00 EST"


def test_a_badge_says_the_status_and_is_coloured_by_it():
    assert str(status_badge("timed_out")) == '<span class="status-badge status-timed_out">timed out</span>'
    assert (
        str(status_badge("failed", "<Failed>"))
        == '<span class="status-badge status-failed">&lt;Failed&gt;</span>'
    )


def test_long_names_may_break_after_dots_and_underscores_and_stay_escaped():
    assert str(breakable("billing.trials_and<b>")) == "billing.<wbr>trials_<wbr>and&lt;b&gt;"
