"""Schedule windows: no slot before ``starts_at`` or after ``ends_at``, none on an excluded date in the
schedule's time zone (DST days included); the dispatcher, the admin and the missed-run check agree."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from jobs.dispatcher import dispatch_due
from jobs.models import JobRun, Schedule
from jobs.triggers import (
    MAX_EXCLUDED_DATES,
    InvalidTrigger,
    describe_trigger,
    is_within_window,
    next_fire_after,
    upcoming,
    validate_window,
)
from ops.missed import find_missed_runs
from tests.jobs.builders import T0, make_schedule, schedule_form_data, utc


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


@dataclass
class Windowed:
    """A trigger with a window, without a database."""

    trigger_kind: str = "cron"
    cron_expression: str = ""
    interval_seconds: int | None = None
    interval_anchor: datetime | None = None
    run_at: datetime | None = None
    timezone: str = "UTC"
    created_at: datetime | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    excluded_dates: list = field(default_factory=list)


# -- the trigger maths ----------------------------------------------------------------------------------


def test_no_slot_comes_before_the_start_and_a_slot_at_the_start_fires():
    daily = Windowed(cron_expression="0 21 * * *", timezone="Europe/London")
    daily.starts_at = local("Europe/London", 2026, 4, 3, 21, 0)

    assert next_fire_after(daily, utc(2026, 3, 20)) == utc(2026, 4, 3, 20)  # 21:00 BST
    assert next_fire_after(daily, utc(2026, 4, 3, 20)) == utc(2026, 4, 4, 20)


def test_no_slot_comes_after_the_end_and_a_slot_at_the_end_fires():
    daily = Windowed(cron_expression="0 21 * * *", timezone="Europe/London")
    daily.ends_at = local("Europe/London", 2026, 4, 5, 21, 0)

    assert upcoming(daily, 10, utc(2026, 4, 2, 12)) == [
        utc(2026, 4, 2, 20),
        utc(2026, 4, 3, 20),
        utc(2026, 4, 4, 20),
        utc(2026, 4, 5, 20),
    ]
    assert next_fire_after(daily, utc(2026, 4, 5, 20)) is None


def test_an_excluded_date_is_a_date_in_the_schedules_zone_not_in_utc():
    # 23:00 in New York is 03:00 UTC on the next day.
    nightly = Windowed(
        cron_expression="0 23 * * *", timezone="America/New_York", excluded_dates=["2026-07-04"]
    )

    slots = upcoming(nightly, 3, utc(2026, 7, 3, 12))

    assert slots == [utc(2026, 7, 4, 3), utc(2026, 7, 6, 3), utc(2026, 7, 7, 3)]
    assert [slot.astimezone(ZoneInfo("America/New_York")).date() for slot in slots] == [
        date(2026, 7, 3),
        date(2026, 7, 5),
        date(2026, 7, 6),
    ]


def test_an_excluded_day_is_jumped_over_not_walked_slot_by_slot():
    every_second = Windowed(
        trigger_kind="interval",
        interval_seconds=1,
        interval_anchor=utc(2026, 1, 1),
        timezone="Europe/Berlin",
        excluded_dates=["2026-05-01", "2026-05-02"],
    )

    # 00:00 on 3 May in Berlin (CEST, UTC+2) is 22:00 UTC on 2 May.
    assert next_fire_after(every_second, utc(2026, 4, 30, 21, 59, 59)) == utc(2026, 5, 2, 22)


def test_on_the_spring_forward_day_the_excluded_date_covers_its_23_local_hours():
    hourly = Windowed(cron_expression="0 * * * *", timezone="Europe/London", excluded_dates=["2026-03-29"])

    # The last slot of 28 March, then the first hour of 30 March (BST: 23:00 UTC on 29 March).
    assert next_fire_after(hourly, utc(2026, 3, 28, 22, 30)) == utc(2026, 3, 28, 23)
    assert next_fire_after(hourly, utc(2026, 3, 28, 23)) == utc(2026, 3, 29, 23)


def test_on_the_fall_back_day_the_excluded_date_covers_its_25_local_hours():
    hourly = Windowed(cron_expression="0 * * * *", timezone="Europe/London", excluded_dates=["2026-10-25"])

    # 25 October starts at 23:00 UTC on the 24th (BST) and ends at 00:00 UTC on the 26th (GMT).
    assert next_fire_after(hourly, utc(2026, 10, 24, 21, 30)) == utc(2026, 10, 24, 22)
    assert next_fire_after(hourly, utc(2026, 10, 24, 22)) == utc(2026, 10, 26, 0)


def test_a_day_whose_midnight_is_skipped_by_dst_starts_where_the_gap_ends():
    # Chile moves its clocks from 00:00 to 01:00 on 6 September 2026: that day starts at 01:00 -03.
    quarterly = Windowed(
        trigger_kind="interval",
        interval_seconds=900,
        interval_anchor=utc(2026, 9, 1),
        timezone="America/Santiago",
        excluded_dates=["2026-09-05"],
    )

    first = next_fire_after(quarterly, utc(2026, 9, 5, 12))

    assert first == utc(2026, 9, 6, 4)
    assert first.astimezone(ZoneInfo("America/Santiago")).replace(tzinfo=None) == datetime(2026, 9, 6, 1)


def test_a_window_start_on_a_dst_day_counts_in_real_time():
    # Every 30 minutes from 00:00 local on the fall-back day until 03:00 local: both 01:00s fire.
    half_hourly = Windowed(
        cron_expression="*/30 * * * *",
        timezone="Europe/London",
        starts_at=local("Europe/London", 2026, 10, 25, 0, 0),
        ends_at=local("Europe/London", 2026, 10, 25, 3, 0),
    )

    slots = upcoming(half_hourly, 20, utc(2026, 10, 20))

    assert len(slots) == 9  # 00:00 00:30 01:00 01:30 (BST) 01:00 01:30 (GMT) 02:00 02:30 03:00
    assert slots[0] == utc(2026, 10, 24, 23) and slots[-1] == utc(2026, 10, 25, 3)


def test_a_one_off_on_an_excluded_date_or_outside_the_window_never_fires():
    one_off = Windowed(trigger_kind="once", run_at=utc(2026, 12, 25, 9), excluded_dates=["2026-12-25"])
    assert next_fire_after(one_off, utc(2026, 12, 1)) is None

    one_off.excluded_dates, one_off.ends_at = [], utc(2026, 12, 24)
    assert next_fire_after(one_off, utc(2026, 12, 1)) is None


def test_is_within_window_answers_for_one_moment():
    daily = Windowed(
        cron_expression="0 9 * * *",
        timezone="Europe/Paris",
        starts_at=utc(2026, 1, 1),
        ends_at=utc(2026, 2, 1),
        excluded_dates=["2026-01-15"],
    )
    assert is_within_window(daily, utc(2026, 1, 10, 8))
    assert not is_within_window(daily, utc(2025, 12, 31, 8))
    assert not is_within_window(daily, utc(2026, 2, 1, 8))
    assert not is_within_window(daily, utc(2026, 1, 15, 8))


def test_the_trigger_in_words_mentions_the_window():
    daily = Windowed(
        cron_expression="0 21 * * *",
        timezone="Europe/London",
        starts_at=utc(2026, 4, 1, 11),
        ends_at=utc(2026, 6, 30, 11),
        excluded_dates=["2026-05-04", "2026-05-25", "2026-04-03", "2026-04-06"],
    )

    assert describe_trigger(daily) == (
        "At 21:00 every day (Europe/London), from 2026-04-01 12:00 (Europe/London), "
        "until 2026-06-30 12:00 (Europe/London), except on 2026-04-03, 2026-04-06, 2026-05-04 and 1 more"
    )


# -- validation -----------------------------------------------------------------------------------------


def window_errors(**fields) -> dict[str, str]:
    with pytest.raises(InvalidTrigger) as raised:
        validate_window(**{"starts_at": None, "ends_at": None, "excluded_dates": [], **fields})
    return raised.value.errors


def test_the_window_is_refused_with_a_message_per_field():
    assert window_errors(starts_at=datetime(2026, 1, 1)) == {
        "starts_at": "This time needs a time zone (an aware datetime)."
    }
    assert window_errors(starts_at=utc(2026, 2, 1), ends_at=utc(2026, 1, 1)) == {
        "ends_at": "The end must come after the start."
    }
    assert window_errors(excluded_dates=["2026-12-25", "25.12.2026"]) == {
        "excluded_dates": "'25.12.2026' is not a date as YYYY-MM-DD."
    }
    assert "list of dates" in window_errors(excluded_dates="2026-12-25")["excluded_dates"]
    too_many = [(date(2026, 1, 1) + timedelta(days=n)).isoformat() for n in range(MAX_EXCLUDED_DATES + 1)]
    assert window_errors(excluded_dates=too_many) == {
        "excluded_dates": f"At most {MAX_EXCLUDED_DATES} dates; this list has {MAX_EXCLUDED_DATES + 1}."
    }


@pytest.mark.django_db
def test_schedule_clean_reports_trigger_and_window_errors_together():
    schedule = Schedule(
        job_name="tests.record",
        trigger_kind="cron",
        cron_expression="61 * * * *",
        excluded_dates=["tomorrow"],
    )

    with pytest.raises(ValidationError) as raised:
        schedule.full_clean(exclude=["owner"])

    assert set(raised.value.message_dict) == {"cron_expression", "excluded_dates"}


@pytest.mark.django_db
def test_the_database_refuses_a_window_that_ends_before_it_starts():
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        Schedule.objects.create(
            job_name="tests.record",
            cron_expression="0 * * * *",
            starts_at=T0,
            ends_at=T0 - timedelta(hours=1),
        )


# -- the engine with a window ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_saving_a_new_window_moves_the_next_slot_at_once():
    schedule = make_schedule(now=T0, interval_seconds=3600)
    assert schedule.next_run_at == T0 + timedelta(hours=1)

    schedule.excluded_dates.append(T0.date().isoformat())  # edited in place, as a form would not
    schedule.save(now=T0)

    assert schedule.next_run_at == datetime.combine(T0.date() + timedelta(days=1), datetime.min.time(), UTC)


@pytest.mark.django_db
def test_the_dispatcher_makes_no_run_after_the_end_and_the_schedule_stops():
    schedule = make_schedule(now=T0, ends_at=T0 + timedelta(minutes=2))

    dispatch_due(now=T0 + timedelta(minutes=1))
    dispatch_due(now=T0 + timedelta(minutes=2))
    dispatch_due(now=T0 + timedelta(minutes=10))

    assert [run.slot for run in JobRun.objects.order_by("slot")] == [
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=2),
    ]
    schedule.refresh_from_db()
    assert schedule.next_run_at is None
    assert schedule.has_ended(T0 + timedelta(minutes=10))


@pytest.mark.django_db
def test_a_next_slot_left_outside_a_window_written_behind_saves_back_is_not_run():
    schedule = make_schedule(now=T0)
    # A bulk update skips save(): the stored next slot now lies after the end.
    Schedule.objects.filter(pk=schedule.pk).update(ends_at=T0 + timedelta(seconds=30))

    report = dispatch_due(now=T0 + timedelta(minutes=1))

    assert report.schedules == 1 and JobRun.objects.count() == 0
    schedule.refresh_from_db()
    assert schedule.next_run_at is None


@pytest.mark.django_db
def test_the_dispatcher_skips_excluded_dates_of_a_minutely_schedule():
    schedule = make_schedule(
        now=T0, interval_seconds=3600, excluded_dates=[(T0 + timedelta(days=1)).date().isoformat()]
    )
    last_today = T0.replace(hour=23)

    dispatch_due(now=last_today)
    schedule.refresh_from_db()

    assert schedule.next_run_at == T0.replace(hour=0) + timedelta(days=2)


@pytest.mark.django_db
def test_an_ended_schedule_is_not_reported_as_missed(settings):
    settings.JOBS_ENABLED = True
    ended = make_schedule(now=T0, ends_at=T0 + timedelta(minutes=2))
    running = make_schedule(now=T0)
    # Both were left with a stale next slot an hour ago; only the ended one's lies past its end.
    Schedule.objects.filter(pk__in=[ended.pk, running.pk]).update(next_run_at=T0 + timedelta(minutes=5))

    missed = find_missed_runs(T0 + timedelta(hours=1))

    assert [item.schedule_id for item in missed] == [running.pk]


@pytest.mark.django_db
def test_the_admin_says_a_schedule_has_ended(client, owner, member, outsider):
    schedule = make_schedule(owner_id=owner.pk, now=T0, ends_at=T0 + timedelta(minutes=2))
    client.force_login(member)

    listing = client.get(reverse("admin:jobs_schedule_changelist"))
    page = client.get(reverse("admin:jobs_schedule_change", args=[schedule.pk]))

    assert "ended" in listing.text
    assert "This schedule ended on 2026-03-02 12:02" in page.text
    client.force_login(outsider)
    assert client.get(reverse("admin:jobs_schedule_change", args=[schedule.pk])).status_code == 404


def schedule_form(owner, **fields) -> dict:
    windowed = {
        "job_name": "tests.record",
        "owner": owner.pk,
        "key": "windowed",
        "trigger_kind": "cron",
        "cron_expression": "0 9 * * *",
        "timezone": "Europe/Paris",
        # Typed in the schedule's zone (Paris: UTC+2 in summer).
        "starts_at": "2026-04-01T00:00:00",
        "ends_at": "2026-06-30T23:59:59",
        "excluded_dates": "2026-05-08\n2026-05-01, 2026-05-01",
        "jitter_seconds": 120,
    }
    return schedule_form_data(**(windowed | fields))


@pytest.mark.django_db
def test_the_admin_form_takes_a_window_dates_one_per_line_and_jitter(client, owner, member):
    client.force_login(member)

    response = client.post(reverse("admin:jobs_schedule_add"), schedule_form(owner))

    assert response.status_code == 302, response.context["adminform"].form.errors
    schedule = Schedule.objects.get(key="windowed")
    assert schedule.excluded_dates == ["2026-05-01", "2026-05-08"]
    assert (schedule.starts_at, schedule.ends_at) == (utc(2026, 3, 31, 22), utc(2026, 6, 30, 21, 59, 59))
    assert schedule.jitter_seconds == 120
    page = client.get(reverse("admin:jobs_schedule_change", args=[schedule.pk])).text
    assert "2026-05-01\n2026-05-08</textarea>" in page
    assert "except on 2026-05-01, 2026-05-08" in page.replace("<wbr>", "")  # breakable text


@pytest.mark.django_db
def test_the_admin_form_says_which_window_entry_is_wrong(client, owner, member):
    client.force_login(member)

    bad_date = client.post(reverse("admin:jobs_schedule_add"), schedule_form(owner, excluded_dates="1 May"))
    reversed_window = client.post(
        reverse("admin:jobs_schedule_add"), schedule_form(owner, ends_at="2026-03-01T00:00:00")
    )

    assert bad_date.context["adminform"].form.errors["excluded_dates"] == ["'1' is not a date as YYYY-MM-DD."]
    assert reversed_window.context["adminform"].form.errors["ends_at"] == [
        "The end must come after the start."
    ]
    assert not Schedule.objects.filter(key="windowed").exists()
