"""Each owner's managed backup Schedule follows its settings, the global owner's and its time zone."""

from datetime import UTC, datetime

import pytest
import time_machine

from backups.schedules import sync_all_backup_schedules, sync_backup_schedule
from jobs.models import Schedule
from jobs.policies import OverlapPolicy
from tenants import owner_settings
from tenants.models import GLOBAL_OWNER_ID, Owner
from tests.builders import make_owner

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def managed_schedule(owner_id: int) -> Schedule:
    return Schedule.objects.get(job_name="backups.run", owner_id=owner_id, key="managed")


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def no_spread(settings):
    """These tests are about the chosen time itself; the spread after it has its own (test_spread.py)."""
    settings.BACKUP_SCHEDULE_SPREAD = 0


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run after-commit callbacks (the settings signal and the owner post_save sync are sent after commit)."""

    def run(action):
        with django_capture_on_commit_callbacks(execute=True):
            return action()

    return run


def test_a_new_owner_gets_a_managed_nightly_backup_schedule_in_its_time_zone(db, committed):
    owner = committed(lambda: make_owner("Initech", timezone="Asia/Tokyo"))

    schedule = managed_schedule(owner.pk)
    assert schedule.managed_by == "backups"
    assert schedule.cron_expression == "0 21 * * *"
    assert schedule.timezone == "Asia/Tokyo"
    assert schedule.enabled
    assert schedule.overlap_policy == OverlapPolicy.SKIP_AND_RETRY
    assert schedule.overlap_retry_delay_seconds == 3600
    # 21:00 in Tokyo on 23 November is 12:00 UTC, still ahead of 10:00 UTC.
    assert schedule.next_run_at == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_changing_the_owners_backup_time_moves_its_schedule(owner, committed):
    sync_backup_schedule(owner)

    committed(lambda: owner_settings.set_value(owner.pk, "BACKUP_SCHEDULE_TIME", "03:15"))

    schedule = managed_schedule(owner.pk)
    assert schedule.cron_expression == "15 3 * * *"
    assert schedule.next_run_at == datetime(2026, 11, 24, 3, 15, tzinfo=UTC)  # London is on GMT in November


def test_weekly_frequency_uses_the_weekday_setting(owner, committed):
    committed(lambda: owner_settings.set_value(owner.pk, "BACKUP_SCHEDULE_WEEKDAY", "wednesday"))
    committed(lambda: owner_settings.set_value(owner.pk, "BACKUP_SCHEDULE_FREQUENCY", "weekly"))

    schedule = managed_schedule(owner.pk)
    assert schedule.cron_expression == "0 21 * * 3"
    assert schedule.next_run_at == datetime(2026, 11, 25, 21, 0, tzinfo=UTC)


def test_sunday_is_cron_weekday_zero(owner, committed):
    committed(lambda: owner_settings.set_value(owner.pk, "BACKUP_SCHEDULE_FREQUENCY", "weekly"))

    assert managed_schedule(owner.pk).cron_expression == "0 21 * * 0"


def test_disabling_backups_disables_the_schedule(owner, committed):
    committed(lambda: owner_settings.set_value(owner.pk, "BACKUP_SCHEDULE_ENABLED", "false"))

    schedule = managed_schedule(owner.pk)
    assert not schedule.enabled
    assert schedule.next_run_at is None


def test_a_global_change_reaches_inheriting_owners_but_not_those_with_their_own_value(
    owner, other_owner, committed
):
    committed(lambda: owner_settings.set_value(other_owner.pk, "BACKUP_SCHEDULE_TIME", "02:00"))

    committed(lambda: owner_settings.set_value(GLOBAL_OWNER_ID, "BACKUP_SCHEDULE_TIME", "23:30"))

    assert managed_schedule(owner.pk).cron_expression == "30 23 * * *"
    assert managed_schedule(GLOBAL_OWNER_ID).cron_expression == "30 23 * * *"
    assert managed_schedule(other_owner.pk).cron_expression == "0 2 * * *"


def test_removing_an_owners_value_makes_it_inherit_the_global_one_again(owner, committed):
    committed(lambda: owner_settings.set_value(GLOBAL_OWNER_ID, "BACKUP_SCHEDULE_TIME", "23:30"))
    committed(lambda: owner_settings.set_value(owner.pk, "BACKUP_SCHEDULE_TIME", "04:00"))

    committed(lambda: owner_settings.unset(owner.pk, "BACKUP_SCHEDULE_TIME"))

    assert managed_schedule(owner.pk).cron_expression == "30 23 * * *"


def test_a_time_zone_change_re_derives_the_schedule(owner, committed):
    sync_backup_schedule(owner)
    owner.timezone = "America/Los_Angeles"

    committed(owner.save)

    schedule = managed_schedule(owner.pk)
    assert schedule.timezone == "America/Los_Angeles"
    assert schedule.next_run_at == datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # 21:00 PST


def test_other_settings_do_not_touch_backup_schedules(owner, committed):
    committed(lambda: owner_settings.set_value(owner.pk, "BACKUP_RETENTION_KEEP_LAST", "3"))

    assert not Schedule.objects.filter(owner=owner).exists()


def test_syncing_again_keeps_exactly_one_managed_schedule_per_owner(owner):
    sync_backup_schedule(owner)
    sync_backup_schedule(owner)

    assert Schedule.objects.filter(job_name="backups.run", owner=owner).count() == 1


def test_sync_all_gives_every_owner_including_the_global_one_a_schedule(owner, other_owner):
    count = sync_all_backup_schedules()

    assert count == Owner.objects.count()
    assert set(Schedule.objects.filter(managed_by="backups").values_list("owner_id", flat=True)) == {
        GLOBAL_OWNER_ID,
        owner.pk,
        other_owner.pk,
    }


def test_a_hand_edited_managed_schedule_is_put_back_in_line_with_the_settings(owner):
    schedule = sync_backup_schedule(owner)
    schedule.cron_expression = "*/5 * * * *"
    schedule.save()

    sync_backup_schedule(owner)

    assert managed_schedule(owner.pk).cron_expression == "0 21 * * *"


def test_a_deactivated_owners_backup_schedule_is_disabled(owner, committed):
    sync_backup_schedule(owner)
    owner.is_active = False

    committed(owner.save)

    assert not managed_schedule(owner.pk).enabled


def test_the_default_schedule_sync_gives_every_owner_without_one_its_managed_backup(owner):
    from jobs.services import sync_default_schedules

    Schedule.objects.filter(job_name="backups.run").delete()
    sync_default_schedules(now=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    managed = Schedule.objects.filter(job_name="backups.run", key="managed", managed_by="backups")
    assert set(managed.values_list("owner_id", flat=True)) == {GLOBAL_OWNER_ID, owner.pk}
    sync_default_schedules(now=datetime(2026, 3, 1, 12, 1, tzinfo=UTC))
    assert managed.count() == 2
