"""Retention applied to an owner's stored backups: a generated 400-day history, with failures, on disk."""

from datetime import date, timedelta

import pytest
from django.core.files.storage import storages

from backups.models import Backup
from backups.retention import apply_retention
from tenants import owner_settings
from tests.backups.builders import make_backup, use_file_storage
from tests.backups.test_retention_rules import LONDON, NEWEST_DAY, at_london


@pytest.fixture(autouse=True)
def backups_in_tmp(settings, tmp_path):
    use_file_storage(settings, tmp_path / "backups")


@pytest.fixture
def history(owner):
    """Nightly backups at 21:00 London for 400 days; the 8 on a 31st failed and left a partial object."""
    backups = []
    for offset in range(399, -1, -1):
        day = NEWEST_DAY - timedelta(days=offset)
        status = Backup.Status.FAILED if day.day == 31 else Backup.Status.VERIFIED
        backups.append(make_backup(owner, started_at=at_london(day), status=status))
    return backups


def local_day(backup: Backup) -> date:
    return backup.started_at.astimezone(LONDON).date()


def test_the_default_policy_keeps_last_week_sundays_and_month_ends_and_prunes_the_rest(owner, history):
    result = apply_retention(owner_id=owner.pk)

    kept = Backup.objects.filter(owner=owner, status=Backup.Status.VERIFIED)
    expected_days = (
        {date(2026, 11, day) for day in range(15, 23)}
        | {date(2026, 11, 8), date(2026, 11, 1)}
        | {date(2026, 10, 30), date(2026, 9, 30), date(2026, 8, 30), date(2026, 7, 30), date(2026, 6, 30)}
    )
    assert {local_day(backup) for backup in kept} == expected_days
    pruned = Backup.objects.filter(owner=owner, status=Backup.Status.PRUNED)
    assert pruned.count() == len(result.pruned) == 400 - 8 - len(expected_days)


def test_objects_of_pruned_backups_are_deleted_and_kept_ones_stay(owner, history):
    apply_retention(owner_id=owner.pk)

    storage = storages["backups"]
    for backup in Backup.objects.filter(owner=owner).exclude(status=Backup.Status.FAILED):
        assert storage.exists(backup.storage_key) == (backup.status == Backup.Status.VERIFIED)


def test_failed_backups_lose_their_partial_objects_but_stay_failed(owner, history):
    result = apply_retention(owner_id=owner.pk)

    failed = Backup.objects.filter(owner=owner, status=Backup.Status.FAILED)
    assert failed.count() == 8  # the 31sts of eight months
    assert sorted(result.failed_objects_deleted) == sorted(backup.pk for backup in failed)
    assert not any(storages["backups"].exists(backup.storage_key) for backup in failed)
    assert all(backup.pruned_at is not None for backup in failed)


def test_a_dry_run_changes_nothing(owner, history):
    result = apply_retention(owner_id=owner.pk, dry_run=True)

    assert len(result.pruned) == 400 - 8 - 15
    assert Backup.objects.filter(owner=owner, status=Backup.Status.PRUNED).count() == 0
    assert all(storages["backups"].exists(backup.storage_key) for backup in history)


def test_a_second_run_prunes_nothing_more(owner, history):
    apply_retention(owner_id=owner.pk)

    again = apply_retention(owner_id=owner.pk)

    assert again.pruned == [] and again.failed_objects_deleted == []


def test_the_owners_own_retention_settings_apply(owner, history):
    for key, value in {"LAST": "2", "DAILY": "0", "WEEKLY": "0", "MONTHLY": "0"}.items():
        owner_settings.set_value(owner.pk, f"BACKUP_RETENTION_KEEP_{key}", value)

    apply_retention(owner_id=owner.pk)

    kept = Backup.objects.filter(owner=owner, status=Backup.Status.VERIFIED)
    assert {local_day(backup) for backup in kept} == {date(2026, 11, 22), date(2026, 11, 21)}


def test_another_owners_backups_are_untouched(owner, other_owner, history):
    theirs = [
        make_backup(other_owner, started_at=at_london(NEWEST_DAY - timedelta(days=n))) for n in range(30)
    ]

    apply_retention(owner_id=owner.pk)

    assert Backup.objects.filter(pk__in=[b.pk for b in theirs], status=Backup.Status.VERIFIED).count() == 30
