"""The next 24 hours: frequent schedules as one row each, the other fire times soonest first and in pages."""

from datetime import UTC, datetime, timedelta

from jobs.models import TriggerKind
from ops.upcoming import FREQUENT_AFTER, upcoming
from tests.ops.builders import make_schedule

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_every_fire_time_of_the_next_day_is_listed_soonest_first(owner):
    schedule = make_schedule(owner, cron="0 */6 * * *", next_run_at=NOW + timedelta(hours=6))

    coming = upcoming(NOW, None)

    assert [run.at for run in coming.runs] == [NOW + timedelta(hours=hours) for hours in (6, 12, 18)]
    assert {run.schedule.pk for run in coming.runs} == {schedule.pk}
    assert (coming.frequent, coming.pages, coming.cut_short) == ([], 1, False)


def test_a_schedule_firing_every_minute_is_one_row_and_leaves_room_for_the_rest(owner):
    minutely = make_schedule(owner, cron="* * * * *", next_run_at=NOW + timedelta(minutes=1))
    nightly = make_schedule(owner, cron="0 21 * * *", next_run_at=NOW + timedelta(hours=9))

    coming = upcoming(NOW, None)

    [frequent] = coming.frequent
    assert (frequent.schedule, frequent.next_at) == (minutely, NOW + timedelta(minutes=1))
    assert frequent.about == 1440
    assert frequent.every.startswith("Every minute")
    assert [(run.schedule, run.at) for run in coming.runs] == [(nightly, NOW + timedelta(hours=9))]


def test_an_interval_schedule_says_how_often_in_words(owner):
    make_schedule(
        owner,
        trigger_kind=TriggerKind.INTERVAL,
        interval_seconds=600,
        interval_anchor=NOW,
        next_run_at=NOW + timedelta(minutes=10),
    )

    [frequent] = upcoming(NOW, None).frequent

    assert (frequent.every, frequent.about) == ("Every 10 minutes", 144)


def test_a_schedule_firing_at_most_twelve_times_a_day_is_listed(owner):
    make_schedule(owner, cron="0 1-23/2 * * *", next_run_at=NOW + timedelta(hours=1))

    coming = upcoming(NOW, None)

    assert FREQUENT_AFTER == 12
    assert coming.frequent == [] and len(coming.listed) == 12


def test_the_other_fire_times_come_in_pages(owner):
    for hour in range(1, 8):
        make_schedule(owner, cron=f"0 {(12 + hour) % 24} * * *", next_run_at=NOW + timedelta(hours=hour))

    first, third = upcoming(NOW, None, per_page=3), upcoming(NOW, None, page=3, per_page=3)

    assert (first.pages, [run.at.hour for run in first.runs]) == (3, [13, 14, 15])
    assert (third.page, [run.at.hour for run in third.runs]) == (3, [19])
    assert upcoming(NOW, None, page=99, per_page=3).page == 3


def test_the_list_is_bounded_and_says_so(owner):
    for minute in range(5):
        make_schedule(owner, cron=f"{minute} */2 * * *", next_run_at=NOW + timedelta(minutes=minute))

    coming = upcoming(NOW, None, limit=10)

    assert len(coming.listed) == 10 and coming.cut_short


def test_other_owners_schedules_are_left_out(owner, other_owner):
    make_schedule(other_owner, next_run_at=NOW + timedelta(hours=1))

    coming = upcoming(NOW, {owner.pk})

    assert coming.listed == [] and coming.frequent == []


def test_upcoming_asks_one_query_however_many_schedules(owner, django_assert_num_queries):
    for minute in range(10):
        make_schedule(owner, cron=f"{minute} * * * *", next_run_at=NOW + timedelta(minutes=minute))

    with django_assert_num_queries(1):
        upcoming(NOW, None)
