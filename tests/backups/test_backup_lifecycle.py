"""Crash-safe backups: a cancelled backup aborts its upload; a backup outside a run heartbeats and is reaped
(with its upload) once it falls silent; a restored full dump marks its unfinished backups interrupted."""

import io
import time
import uuid
from datetime import timedelta

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from backups.engines import Database, postgres
from backups.errors import BackupError
from backups.models import Backup
from backups.services import claim_backup, reap_abandoned_backups, restore_recorded_backup, take_backup
from jobs.context import RunCancelled
from jobs.reaper import reap
from tests.backups.builders import use_file_storage


@pytest.fixture
def storage_dir(settings, tmp_path):
    directory = tmp_path / "backups"
    use_file_storage(settings, directory)
    return directory


def cancelled_at_call(number: int):
    """A ``check`` that cancels at its ``number``-th call (1: before the first chunk)."""
    calls = 0

    def check() -> None:
        nonlocal calls
        calls += 1
        if calls >= number:
            raise RunCancelled("Cancelled by ops.")

    return check


# --- Cancellation ---------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("at_call", [1, 2])
def test_a_cancelled_backup_aborts_its_s3_upload_and_leaves_no_object(owner, moto_s3, at_call):
    with pytest.raises(RunCancelled):
        take_backup(owner_id=owner.pk, storage=moto_s3.storage, check=cancelled_at_call(at_call))

    backup = Backup.objects.get(owner=owner)
    assert backup.status == Backup.Status.INTERRUPTED
    assert backup.error == "cancelled: Cancelled by ops.; the upload was aborted"
    assert moto_s3.object_keys() == []
    assert moto_s3.open_uploads() == []


@pytest.mark.django_db
def test_a_cancelled_backup_leaves_no_partial_file(owner, storage_dir):
    with pytest.raises(RunCancelled):
        take_backup(owner_id=owner.pk, check=cancelled_at_call(2))

    assert [path for path in storage_dir.rglob("*") if path.is_file()] == []


@pytest.mark.django_db
def test_after_a_cancelled_backup_the_owners_next_backup_goes_ahead(owner, storage_dir):
    with pytest.raises(RunCancelled):
        take_backup(owner_id=owner.pk, check=cancelled_at_call(1))

    outcome = take_backup(owner_id=owner.pk)

    assert outcome.backup.status == Backup.Status.VERIFIED


@pytest.mark.django_db
def test_retention_leaves_an_interrupted_backup_alone(owner, storage_dir):
    from backups.retention import apply_retention

    with pytest.raises(RunCancelled):
        take_backup(owner_id=owner.pk, check=cancelled_at_call(1))

    result = apply_retention(owner_id=owner.pk)

    assert result.failed_objects_deleted == [] and result.pruned == []


# --- A backup outside a run (``backup now --wait``) -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_backup_outside_a_run_beats_its_row_while_it_runs(storage_dir, settings):
    # The full backup: a tenant export on SQLite holds the write lock while it streams.
    settings.JOBS_HEARTBEAT_SECONDS = 0.05
    started = timezone.now()
    beats = []

    def slow(done: int) -> None:
        time.sleep(0.5)  # the dump is "working"; the beat thread stamps the row meanwhile
        beats.append(Backup.objects.get(owner_id=0).heartbeat_at)

    take_backup(owner_id=0, progress=slow, now=started)

    assert beats and beats[-1] > started


@pytest.mark.django_db(transaction=True)
def test_a_backup_outside_a_run_stops_once_it_was_reaped_meanwhile(storage_dir, settings):
    settings.JOBS_HEARTBEAT_SECONDS = 0.05

    def reaped_while_dumping(done: int) -> None:
        Backup.objects.get(owner_id=0).mark_failed("abandoned: reaped")
        time.sleep(0.5)  # its beat is refused meanwhile

    with pytest.raises(BackupError, match="was reaped as abandoned meanwhile"):
        take_backup(owner_id=0, progress=reaped_while_dumping)

    assert [path for path in storage_dir.rglob("*") if path.is_file()] == []


@pytest.mark.django_db
def test_reaping_a_silent_backup_outside_a_run_aborts_its_open_upload(owner, moto_s3, settings):
    now = timezone.now()
    backup = claim_backup(owner_id=owner.pk, now=now)
    moto_s3.client.create_multipart_upload(Bucket=moto_s3.bucket, Key=f"backups/{backup.storage_key}")
    later = now + timedelta(seconds=settings.JOBS_LOST_AFTER_SECONDS + 1)

    assert reap_abandoned_backups(storage=moto_s3.storage, now=later) == [backup.pk]

    backup.refresh_from_db()
    assert backup.status == Backup.Status.FAILED
    assert moto_s3.open_uploads() == []


@pytest.mark.django_db
def test_the_engines_housekeeping_reaps_abandoned_backups(owner, storage_dir, settings):
    now = timezone.now()
    backup = claim_backup(owner_id=owner.pk, now=now)

    reap(now=now + timedelta(seconds=settings.JOBS_LOST_AFTER_SECONDS + 1))

    assert Backup.objects.get(pk=backup.pk).status == Backup.Status.FAILED


@pytest.mark.django_db
def test_backup_prune_reaps_a_silent_backup_outside_a_run(owner, storage_dir, settings):
    backup = claim_backup(
        owner_id=owner.pk, now=timezone.now() - timedelta(seconds=settings.JOBS_LOST_AFTER_SECONDS + 1)
    )

    call_command("backup", "prune", "--owner", str(owner.pk), stdout=io.StringIO())

    assert Backup.objects.get(pk=backup.pk).status == Backup.Status.FAILED


@pytest.mark.django_db
def test_a_backup_outside_a_run_that_beats_is_not_reaped(owner, settings):
    now = timezone.now()
    backup = claim_backup(owner_id=owner.pk, now=now - timedelta(hours=5))
    backup.beat(now=now)

    assert reap_abandoned_backups(now=now + timedelta(seconds=1)) == []


@pytest.mark.django_db
def test_a_finished_backup_can_no_longer_beat(owner):
    backup = claim_backup(owner_id=owner.pk)
    backup.mark_failed("boom")
    assert not backup.beat(now=timezone.now())


# --- Restoring a full dump --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite engine: run without DATABASE_URL")
def test_restoring_a_full_sqlite_backup_marks_the_backups_running_in_it_interrupted(storage_dir, tmp_path):
    import sqlite3

    taken = take_backup(owner_id=0).backup
    target = tmp_path / "restored.sqlite3"

    report = restore_recorded_backup(taken, target_db_url=f"sqlite:///{target}")

    with sqlite3.connect(target) as restored:
        rows = restored.execute("SELECT id, status FROM backups_backup").fetchall()
    assert rows == [(taken.pk, "interrupted")]
    assert report.interrupted_backups == 1
    assert Backup.objects.get(pk=taken.pk).status == Backup.Status.VERIFIED  # the source is untouched


@pytest.fixture
def target_url():
    live = Database.live()
    target = live.with_name(f"{live.name}_restore_{uuid.uuid4().hex[:8]}")
    yield f"postgres://{live.user or 'postgres'}@{live.host or '127.0.0.1'}:{live.port or 5432}/{target.name}"
    postgres.drop_database(target)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_restoring_a_full_postgres_backup_marks_the_backups_running_in_it_interrupted(
    storage_dir, target_url
):
    taken = take_backup(owner_id=0).backup

    report = restore_recorded_backup(taken, target_db_url=target_url)

    with psycopg.connect(target_url) as restored:
        rows = restored.execute("SELECT id, status, error FROM backups_backup").fetchall()
    assert [(pk, status) for pk, status, _error in rows] == [(taken.pk, "interrupted")]
    assert "restored from a dump" in rows[0][2]
    assert report.interrupted_backups == 1


@pytest.mark.django_db
def test_deleting_an_interrupted_backup_never_touches_the_object_under_its_key(owner, storage_dir):
    from django.core.files.base import ContentFile
    from django.core.files.storage import storages

    from backups.services import delete_recorded_backup

    backup = claim_backup(owner_id=owner.pk)
    backup.mark_interrupted("interrupted: restored from a dump")
    storages["backups"].save(backup.storage_key, ContentFile(b"the source's backup"))

    delete_recorded_backup(backup)

    assert storages["backups"].exists(backup.storage_key)
    assert not Backup.objects.filter(pk=backup.pk).exists()
