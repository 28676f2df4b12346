"""Backups that cannot be made fail cleanly: one plain line, the row and the run failed, nothing succeeded."""

import subprocess
import sys
from pathlib import Path

import pytest

from backups.errors import BackupError, DumpFailed, StorageUnavailable
from backups.models import Backup
from backups.services import take_backup
from tests.backups.builders import make_run

MOTO_SERVER = Path(sys.executable).with_name("moto_server")


def test_a_backup_to_s3_is_stored_and_verified(owner, moto_s3):
    outcome = take_backup(owner_id=owner.pk, storage=moto_s3.storage)

    assert outcome.backup.status == Backup.Status.VERIFIED
    assert f"backups/{outcome.backup.storage_key}" in moto_s3.object_keys()


def test_a_missing_bucket_fails_the_backup_with_one_plain_line(owner, moto_s3):
    missing = moto_s3.make_storage(bucket="no-such-bucket")

    with pytest.raises(StorageUnavailable) as raised:
        take_backup(owner_id=owner.pk, storage=missing)

    backup = Backup.objects.get(owner=owner)
    assert backup.status == Backup.Status.FAILED
    assert "bucket does not exist" in backup.error
    assert "\n" not in str(raised.value)


def test_a_run_whose_bucket_is_missing_is_recorded_failed_with_one_line(owner, moto_s3, settings):
    from jobs.models import JobRun
    from jobs.runner import run_queued

    settings.STORAGES = {
        **settings.STORAGES,
        "backups": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "no-such-bucket",
                "location": "backups",
                "endpoint_url": moto_s3.endpoint,
                "region_name": "us-east-1",
                "access_key": "moto-access-key",
                "secret_key": "moto-secret-key-not-real",
            },
        },
    }
    run = make_run(owner, status=JobRun.Status.QUEUED)

    run_queued(run.pk, worker="test-worker")

    run.refresh_from_db()
    assert run.status == JobRun.Status.FAILED
    assert run.error.startswith("StorageUnavailable: ") and "bucket does not exist" in run.error
    assert "moto-secret-key-not-real" not in run.error + run.traceback
    assert not Backup.objects.filter(
        owner=owner, status__in=[Backup.Status.SUCCEEDED, Backup.Status.VERIFIED]
    ).exists()


@pytest.fixture(scope="module")
def strict_moto_endpoint():
    """A moto_server that checks credentials (INITIAL_NO_AUTH_ACTION_COUNT=0): unknown keys are refused."""
    from tests.backups.conftest import _wait_for_port, free_loopback_port

    port = free_loopback_port()
    process = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        env={"INITIAL_NO_AUTH_ACTION_COUNT": "0", "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_bad_credentials_fail_the_backup_without_leaking_the_secret(owner, strict_moto_endpoint):
    from storages.backends.s3 import S3Storage

    storage = S3Storage(
        bucket_name="any-bucket",
        endpoint_url=strict_moto_endpoint,
        region_name="us-east-1",
        access_key="AKIAUNKNOWNKEY000000",
        secret_key="wrong-secret-123",
    )

    with pytest.raises(StorageUnavailable) as raised:
        take_backup(owner_id=owner.pk, storage=storage)

    backup = Backup.objects.get(owner=owner)
    assert backup.status == Backup.Status.FAILED
    assert "credentials were refused" in backup.error
    assert "wrong-secret-123" not in backup.error + str(raised.value)


@pytest.mark.postgres
def test_a_missing_pg_dump_fails_the_full_backup(db, monkeypatch, settings, tmp_path):
    from tests.backups.builders import use_file_storage

    use_file_storage(settings, tmp_path / "backups")
    monkeypatch.setenv("PATH", str(tmp_path))  # no PostgreSQL client tools here

    with pytest.raises(DumpFailed) as raised:
        take_backup(owner_id=0)

    assert "pg_dump is not installed" in str(raised.value)
    assert Backup.objects.get(owner_id=0).status == Backup.Status.FAILED
    assert isinstance(raised.value, BackupError)
