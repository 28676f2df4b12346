"""The dashboard's live counts and large charts: runs per minute of the last hour, per day of 30 days."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from jobs.models import JobRun
from ops.activity import live_counts, runs_per_day, runs_per_minute
from tests.ops.builders import make_run, make_schedule

NOW = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def test_runs_per_minute_count_the_last_hour_by_outcome_in_the_viewers_zone(owner):
    schedule = make_schedule(owner)
    make_run(schedule, slot=NOW - timedelta(seconds=10), status="succeeded")
    make_run(schedule, slot=NOW - timedelta(seconds=20), status="failed")
    make_run(schedule, slot=NOW - timedelta(minutes=5), status="skipped")
    make_run(schedule, slot=NOW - timedelta(minutes=61), status="succeeded")  # before the hour

    minutes = runs_per_minute(NOW, None, BERLIN)

    assert len(minutes) == 60
    assert (minutes[-1].label, minutes[-1].succeeded, minutes[-1].failed) == ("13:00", 1, 1)
    assert (minutes[-6].label, minutes[-6].other) == ("12:55", 1)
    assert minutes[0].label == "12:01" and sum(minute.total for minute in minutes) == 3


def test_runs_per_day_cover_thirty_days_of_the_viewers_zone(owner):
    schedule = make_schedule(owner)
    # 23:30 UTC on 1 March is already 2 March in Berlin.
    make_run(schedule, slot=datetime(2026, 3, 1, 23, 30, tzinfo=UTC), status="lost")
    make_run(schedule, slot=datetime(2026, 2, 10, 9, 0, tzinfo=UTC), status="succeeded")

    days = runs_per_day(NOW, None, BERLIN)

    assert len(days) == 30 and days[-1].day.isoformat() == "2026-03-02"
    assert days[-1].failed == 1
    assert [day.succeeded for day in days if day.day.isoformat() == "2026-02-10"] == [1]


def test_live_counts_say_what_is_in_flight_and_how_the_last_hour_went(owner, other_owner):
    schedule = make_schedule(owner)
    make_run(schedule, slot=NOW - timedelta(seconds=1), status=JobRun.Status.RUNNING)
    make_run(schedule, slot=NOW - timedelta(seconds=2), status=JobRun.Status.QUEUED)
    make_run(schedule, slot=NOW - timedelta(seconds=3), status=JobRun.Status.SCHEDULED)
    make_run(schedule, slot=NOW - timedelta(seconds=4), status="succeeded")
    theirs = make_schedule(other_owner)
    make_run(theirs, slot=NOW - timedelta(seconds=5), status=JobRun.Status.RUNNING)

    counts = live_counts({owner.pk}, runs_per_minute(NOW, {owner.pk}, UTC))

    assert counts.as_dict() == {
        "running": 1,
        "queued": 1,
        "waiting": 1,
        "succeeded_last_hour": 1,
        "failed_last_hour": 0,
    }


def test_the_charts_and_counts_ask_one_query_each(owner, django_assert_num_queries):
    schedule = make_schedule(owner)
    for minutes in range(30):
        make_run(schedule, slot=NOW - timedelta(minutes=minutes, seconds=1))

    with django_assert_num_queries(3):
        last_hour = runs_per_minute(NOW, None, UTC)
        runs_per_day(NOW, None, UTC)
        live_counts(None, last_hour)
