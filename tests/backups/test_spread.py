"""The backup spread: owners sharing a BACKUP_SCHEDULE_TIME start within BACKUP_SCHEDULE_SPREAD minutes
after it, each at a stable place of its own, and the schedule's next fire time is that real start, across
DST changes too."""

import itertools
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from backups.schedules import BackupTiming, backup_timing, spread_offset, sync_backup_schedule
from jobs.dispatcher import dispatch_due
from jobs.models import JobRun, Schedule
from jobs.triggers import upcoming
from tenants import owner_settings
from tenants.models import GLOBAL_OWNER_ID
from tenants.setting_keys import SettingValueError, definition
from tests.builders import make_owner

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")


def managed_schedule(owner_id: int) -> Schedule:
    return Schedule.objects.get(job_name="backups.run", owner_id=owner_id, key="managed")


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def chosen_time_for(owner_id: int, wanted_start: time, spread_minutes: int = 30) -> str:
    """The HH:MM an owner must choose so its backup starts in the minute of ``wanted_start``."""
    offset = spread_offset(owner_id, spread_minutes)
    moment = datetime.combine(datetime(2026, 1, 1), wanted_start) - timedelta(minutes=offset.seconds // 60)
    return f"{moment:%H:%M}"


# -- the offset -----------------------------------------------------------------------------------------


def test_offsets_are_stable_whole_seconds_spread_over_the_window():
    offsets = [spread_offset(owner_id, 30) for owner_id in range(1, 10_001)]

    assert offsets == [spread_offset(owner_id, 30) for owner_id in range(1, 10_001)]
    assert all(timedelta(0) <= offset < timedelta(minutes=30) for offset in offsets)
    assert all(offset.microseconds == 0 for offset in offsets)
    # 10,000 owners over 1,800 seconds: every minute of the window is used, none by more than ~2x its share.
    per_minute = Counter(int(offset.total_seconds() // 60) for offset in offsets)
    assert set(per_minute) == set(range(30))
    assert max(per_minute.values()) < 2 * 10_000 / 30
    assert max(Counter(offsets).values()) <= 20  # no second sees a burst


def test_without_a_spread_the_backup_starts_at_the_chosen_time():
    assert spread_offset(42, 0) == timedelta(0)
    timing = BackupTiming(enabled=True, at=time(21, 0), frequency="daily", weekday="sunday")
    assert (timing.cron_expression, timing.label) == ("0 21 * * *", "Backup, daily at 21:00 (from settings)")


def test_the_offset_becomes_seconds_in_the_cron_expression_and_the_label_says_why():
    timing = BackupTiming(
        enabled=True,
        at=time(21, 0),
        frequency="daily",
        weekday="sunday",
        offset=timedelta(minutes=17, seconds=23),
    )

    assert timing.cron_expression == "23 17 21 * * *"
    assert timing.label == "Backup, daily at 21:17:23 (21:00 + 17:23 spread) (from settings)"


def test_a_weekly_backup_pushed_past_midnight_moves_to_the_next_day():
    timing = BackupTiming(
        enabled=True, at=time(23, 50), frequency="weekly", weekday="saturday", offset=timedelta(minutes=25)
    )

    assert timing.cron_expression == "0 15 0 * * 0"  # Sunday 00:15:00
    assert timing.label == "Backup, every Sunday at 00:15:00 (Saturday 23:50 + 25:00 spread) (from settings)"


def test_the_spread_setting_is_whole_minutes_from_0_to_720():
    spread = definition("BACKUP_SCHEDULE_SPREAD")
    assert spread.default == 30
    assert spread.parse("0") == 0 and spread.parse("720") == 720
    with pytest.raises(SettingValueError, match="above the maximum of 720"):
        spread.parse("721")
    with pytest.raises(SettingValueError, match="below the minimum of 0"):
        spread.parse("-5")


# -- the managed schedules ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_owners_sharing_the_default_time_start_within_half_an_hour_after_it_each_at_its_own_second():
    owners = [make_owner(timezone="Europe/London") for _ in range(60)]

    schedules = [sync_backup_schedule(owner) for owner in owners]

    starts = [schedule.next_run_at for schedule in schedules]
    nine_pm = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)  # 21:00 in London (GMT)
    assert all(nine_pm <= start < nine_pm + timedelta(minutes=30) for start in starts)
    assert len(set(starts)) > 55
    assert [s.next_run_at - nine_pm for s in schedules] == [spread_offset(o.pk, 30) for o in owners]


@pytest.mark.django_db
def test_an_owners_place_survives_every_re_derivation_and_a_time_change(owner):
    first = sync_backup_schedule(owner)
    offset = first.next_run_at - datetime(2026, 11, 23, 21, 0, tzinfo=UTC)

    owner_settings.set_value(owner.pk, "BACKUP_SCHEDULE_TIME", "03:00")
    moved = sync_backup_schedule(owner)

    assert moved.next_run_at == datetime(2026, 11, 24, 3, 0, tzinfo=UTC) + offset
    assert sync_backup_schedule(owner).cron_expression == moved.cron_expression


@pytest.mark.django_db
def test_changing_the_global_spread_re_derives_inheriting_owners(owner, django_capture_on_commit_callbacks):
    sync_backup_schedule(owner)

    with django_capture_on_commit_callbacks(execute=True):
        owner_settings.set_value(GLOBAL_OWNER_ID, "BACKUP_SCHEDULE_SPREAD", "0")

    assert managed_schedule(owner.pk).cron_expression == "0 21 * * *"
    assert managed_schedule(owner.pk).next_run_at == datetime(2026, 11, 23, 21, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_the_next_fire_time_shown_is_when_the_dispatcher_really_runs_it(client, owner, member, settings):
    settings.JOBS_ENABLED = True
    schedule = sync_backup_schedule(owner)
    client.force_login(member)

    page = client.get(reverse("admin:jobs_schedule_change", args=[schedule.pk]))
    shown = schedule.next_run_at.astimezone(LONDON).strftime("%Y-%m-%d %H:%M:%S %Z")
    dispatch_due(now=schedule.next_run_at - timedelta(seconds=1))
    nothing_yet = JobRun.objects.filter(schedule=schedule).count()
    dispatch_due(now=schedule.next_run_at)

    assert shown in page.text
    assert nothing_yet == 0
    assert JobRun.objects.get(schedule=schedule).slot == schedule.next_run_at


# -- DST ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_across_the_spring_change_the_backup_keeps_its_wall_clock_time(owner):
    owner_settings.set_value(owner.pk, "BACKUP_SCHEDULE_TIME", chosen_time_for(owner.pk, time(21, 10)))
    schedule = sync_backup_schedule(owner)
    start = backup_timing(owner.pk).starts_at

    fire_times = upcoming(schedule, 4, datetime(2026, 3, 27, 12, tzinfo=UTC))

    assert [moment.astimezone(LONDON).time() for moment in fire_times] == [start] * 4
    # London moves to BST on 29 March: the same wall-clock time comes 23 hours after the one before.
    gaps = [later - earlier for earlier, later in itertools.pairwise(fire_times)]
    assert gaps == [timedelta(hours=24), timedelta(hours=23), timedelta(hours=24)]


@pytest.mark.django_db
def test_a_spread_start_inside_the_skipped_hour_runs_as_the_hour_ends(owner):
    # Clocks in London jump from 01:00 to 02:00 on 29 March 2026.
    owner_settings.set_value(owner.pk, "BACKUP_SCHEDULE_TIME", chosen_time_for(owner.pk, time(1, 30)))
    schedule = sync_backup_schedule(owner)
    start = backup_timing(owner.pk).starts_at
    assert time(1, 30) <= start < time(1, 31)

    schedule.refresh_next_run_at(datetime(2026, 3, 28, 12, tzinfo=UTC))

    assert schedule.next_run_at == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 02:00 BST, the gap's end
    schedule.refresh_next_run_at(schedule.next_run_at)
    assert schedule.next_run_at.astimezone(LONDON).replace(tzinfo=None) == datetime.combine(
        datetime(2026, 3, 30).date(), start
    )


@pytest.mark.django_db
def test_a_spread_start_inside_the_repeated_hour_runs_once(owner):
    # Clocks in London go back from 02:00 to 01:00 on 25 October 2026: 01:00-02:00 happens twice.
    owner_settings.set_value(owner.pk, "BACKUP_SCHEDULE_TIME", chosen_time_for(owner.pk, time(1, 30)))
    schedule = sync_backup_schedule(owner)
    start = backup_timing(owner.pk).starts_at

    schedule.refresh_next_run_at(datetime(2026, 10, 24, 12, tzinfo=UTC))
    first = schedule.next_run_at
    schedule.refresh_next_run_at(first)

    assert first.astimezone(LONDON).time() == start and first.astimezone(LONDON).dst()  # the first 01:xx
    assert schedule.next_run_at.date() == datetime(2026, 10, 26).date()  # not again an hour later
