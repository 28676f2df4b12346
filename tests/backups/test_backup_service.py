"""Taking a backup through the service: one running backup per owner, verified before it counts, reaped if
its process died."""

from datetime import timedelta

import pytest
from django.core.files.storage import storages
from django.db import connection
from django.utils import timezone

from backups.models import Backup, BackupStateError
from backups.retention import apply_retention
from backups.services import claim_backup, reap_abandoned_backups, take_backup
from backups.storage import discard_partial_uploads
from jobs.models import JobRun
from tenants import owner_settings
from tests.backups.builders import make_backup, make_run, use_file_storage


@pytest.fixture(autouse=True)
def backups_in_tmp(settings, tmp_path):
    use_file_storage(settings, tmp_path / "backups")


def test_a_tenant_backup_is_stored_verified_and_recorded(owner):
    outcome = take_backup(owner_id=owner.pk)

    backup = Backup.objects.get(pk=outcome.backup.pk)
    assert backup.status == Backup.Status.VERIFIED
    assert backup.scope == Backup.Scope.TENANT
    assert backup.size == storages["backups"].size(backup.storage_key)
    assert len(backup.sha256) == 64
    assert backup.codec == "zstd"
    assert backup.finished_at is not None and backup.duration is not None


def test_the_job_summary_names_backup_size_checksum_and_duration(owner):
    summary = take_backup(owner_id=owner.pk).summary()

    backup = Backup.objects.get(owner=owner)
    assert summary["backup_id"] == backup.pk
    assert summary["size"] == backup.size
    assert summary["sha256"] == backup.sha256
    assert summary["duration_seconds"] == pytest.approx(backup.duration.total_seconds(), abs=0.001)


def test_a_backup_while_another_of_the_same_owner_runs_is_skipped(owner):
    running = claim_backup(owner_id=owner.pk)

    outcome = take_backup(owner_id=owner.pk)

    assert outcome.skipped
    assert outcome.running_backup_id == running.pk
    assert str(running.pk) in outcome.reason
    assert Backup.objects.filter(owner=owner).count() == 1


def test_another_owners_running_backup_does_not_block(owner, other_owner):
    claim_backup(owner_id=other_owner.pk)

    outcome = take_backup(owner_id=owner.pk)

    assert not outcome.skipped
    assert outcome.backup.status == Backup.Status.VERIFIED


def test_the_database_refuses_a_second_running_backup_of_one_owner(owner):
    assert claim_backup(owner_id=owner.pk) is not None

    assert claim_backup(owner_id=owner.pk) is None


def test_retention_runs_after_each_backup(owner):
    owner_settings.set_value(owner.pk, "BACKUP_RETENTION_KEEP_LAST", "1")
    owner_settings.set_value(owner.pk, "BACKUP_RETENTION_KEEP_DAILY", "0")
    owner_settings.set_value(owner.pk, "BACKUP_RETENTION_KEEP_WEEKLY", "0")
    owner_settings.set_value(owner.pk, "BACKUP_RETENTION_KEEP_MONTHLY", "0")
    older = make_backup(owner, started_at=timezone.now() - timedelta(days=1))

    outcome = take_backup(owner_id=owner.pk)

    older.refresh_from_db()
    assert older.status == Backup.Status.PRUNED
    assert not storages["backups"].exists(older.storage_key)
    assert outcome.retention.pruned == [older.pk]


class TestAbandonedBackups:
    """A process killed mid-backup leaves its row running; the reaper fails it once its run is known dead."""

    def test_a_backup_whose_run_was_lost_is_marked_failed(self, owner):
        run = make_run(owner, status=JobRun.Status.LOST)
        backup = claim_backup(owner_id=owner.pk, job_run_id=run.pk)

        reaped = reap_abandoned_backups()

        backup.refresh_from_db()
        assert reaped == [backup.pk]
        assert backup.status == Backup.Status.FAILED
        assert f"run #{run.pk} ended as lost" in backup.error

    def test_a_stored_but_unverified_backup_whose_run_was_lost_is_marked_failed_and_its_object_deleted(
        self, owner
    ):
        run = make_run(owner, status=JobRun.Status.LOST)
        backup = make_backup(owner, status=Backup.Status.SUCCEEDED, job_run=run)

        reap_abandoned_backups()

        backup.refresh_from_db()
        assert backup.status == Backup.Status.FAILED
        assert not storages["backups"].exists(backup.storage_key)

    def test_a_backup_whose_run_stopped_beating_is_marked_failed(self, owner, settings):
        run = make_run(owner)
        JobRun.objects.filter(pk=run.pk).update(
            heartbeat_at=timezone.now() - timedelta(seconds=settings.JOBS_LOST_AFTER_SECONDS + 1)
        )
        backup = claim_backup(owner_id=owner.pk, job_run_id=run.pk)

        reap_abandoned_backups()

        backup.refresh_from_db()
        assert backup.status == Backup.Status.FAILED

    def test_a_backup_whose_run_is_alive_is_left_running(self, owner):
        run = make_run(owner)
        backup = claim_backup(owner_id=owner.pk, job_run_id=run.pk)

        assert reap_abandoned_backups() == []
        backup.refresh_from_db()
        assert backup.status == Backup.Status.RUNNING

    def test_a_backup_outside_a_run_is_reaped_once_its_heartbeat_is_older_than_the_lost_window(
        self, owner, settings
    ):
        now = timezone.now()
        backup = claim_backup(owner_id=owner.pk, now=now)
        backup.beat(now=now + timedelta(seconds=30))
        window = timedelta(seconds=settings.JOBS_LOST_AFTER_SECONDS)

        before = reap_abandoned_backups(now=now + timedelta(seconds=30) + window - timedelta(seconds=1))
        after = reap_abandoned_backups(now=now + timedelta(seconds=30) + window + timedelta(seconds=1))

        backup.refresh_from_db()
        assert (before, after) == ([], [backup.pk])
        assert "its process stopped sending heartbeats" in backup.error

    def test_the_next_backup_reaps_the_abandoned_one_and_proceeds(self, owner):
        dead = claim_backup(owner_id=owner.pk, job_run_id=make_run(owner, status=JobRun.Status.LOST).pk)

        outcome = take_backup(owner_id=owner.pk)

        dead.refresh_from_db()
        assert not outcome.skipped
        assert dead.status == Backup.Status.FAILED
        assert outcome.backup.status == Backup.Status.VERIFIED

    def test_an_abandoned_backup_never_counts_as_good(self, owner):
        good = make_backup(owner, started_at=timezone.now() - timedelta(days=1))
        dead = claim_backup(owner_id=owner.pk, job_run_id=make_run(owner, status=JobRun.Status.LOST).pk)
        reap_abandoned_backups()

        result = apply_retention(owner_id=owner.pk)

        assert list(result.kept) == [good.pk]
        assert Backup.objects.get(pk=dead.pk).status == Backup.Status.FAILED

    def test_a_reaped_backup_cannot_be_marked_succeeded_afterwards(self, owner):
        run = make_run(owner, status=JobRun.Status.LOST)
        backup = claim_backup(owner_id=owner.pk, job_run_id=run.pk)
        reap_abandoned_backups()

        with pytest.raises(BackupStateError):
            backup.mark_succeeded(size=1, sha256="0" * 64, engine="x", codec="none", format="raw")
        assert Backup.objects.get(pk=backup.pk).status == Backup.Status.FAILED


def test_discarding_leftovers_aborts_only_that_keys_open_s3_upload(moto_s3):
    for key in ("backups/owner-1/dead", "backups/owner-2/alive"):
        moto_s3.client.create_multipart_upload(Bucket=moto_s3.bucket, Key=key)

    discarded = discard_partial_uploads("owner-1/dead", storage=moto_s3.storage)

    assert discarded == 1
    assert [upload["Key"] for upload in moto_s3.open_uploads()] == ["backups/owner-2/alive"]


def test_the_global_owners_backup_is_the_full_database_verified(db):
    outcome = take_backup(owner_id=0)

    backup = outcome.backup
    assert backup.scope == Backup.Scope.DATABASE
    assert backup.status == Backup.Status.VERIFIED
    assert backup.engine == ("postgres" if connection.vendor == "postgresql" else "sqlite")
