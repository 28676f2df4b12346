"""A backup process killed with SIGKILL in the middle of its upload never leaves a backup marked good.

The engine tests cover the object side (no visible object, no open upload); this covers the row side: the
row stays ``running`` (never ``succeeded``), and once the engine's reaper has marked the dead process's run
lost, the backup reaper marks the backup failed and the owner's next backup goes ahead.
"""

import os
import signal
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import storages
from django.db import connection
from django.utils import timezone

from backups.models import Backup
from backups.services import reap_abandoned_backups, take_backup
from jobs.models import JobRun
from jobs.reaper import mark_lost_runs
from tests.backups.builders import make_run, use_file_storage

# The child takes a real backup whose progress callback announces the upload and then stalls in it, so
# the parent kills it at a known point instead of racing a fast dump.
CHILD = """
import sys, time, django
django.setup()
from backups.services import take_backup

def stall(done):
    print("uploading", flush=True)
    time.sleep(600)

take_backup(owner_id=int(sys.argv[1]), job_run_id=int(sys.argv[2]), progress=stall)
"""


def database_url() -> str:
    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    return f"postgres://{params['USER']}@{params['HOST']}:{params['PORT'] or 5432}/{params['NAME']}"


@pytest.fixture
def storage_dir(settings, tmp_path):
    directory = tmp_path / "backups"
    use_file_storage(settings, directory)
    return directory


@pytest.fixture
def killed_mid_upload(owner, storage_dir):
    """Start a backup of ``owner`` in a child process, SIGKILL it during the upload; yields its run."""
    run = make_run(owner)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        "DATA_DIR": str(django_settings.DATA_DIR),
        "BACKUP_STORAGE_URL": f"file://{storage_dir}",
        "LOG_LEVEL": "WARNING",
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(owner.pk), str(run.pk)],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = (line.strip() for line in child.stdout)
        assert "uploading" in lines  # reads up to the announcement (the child logs nothing below WARNING)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return run


@pytest.mark.django_db(transaction=True)
def test_a_killed_backup_is_never_marked_succeeded(owner, killed_mid_upload, storage_dir):
    backup = Backup.objects.get(owner=owner)

    assert list(storage_dir.rglob("*.partial"))  # it really died mid-upload: its temporary file is there
    assert backup.status == Backup.Status.RUNNING
    assert not storages["backups"].exists(backup.storage_key)


@pytest.mark.django_db(transaction=True)
def test_once_the_dead_run_is_lost_the_backup_is_marked_failed(owner, killed_mid_upload, settings):
    later = timezone.now() + timedelta(seconds=settings.JOBS_LOST_AFTER_SECONDS + 1)
    mark_lost_runs(now=later, window=timedelta(seconds=settings.JOBS_LOST_AFTER_SECONDS))

    reaped = reap_abandoned_backups(now=later)

    backup = Backup.objects.get(owner=owner)
    assert JobRun.objects.get(pk=killed_mid_upload.pk).status == JobRun.Status.LOST
    assert reaped == [backup.pk]
    assert backup.status == Backup.Status.FAILED
    assert "lost" in backup.error


@pytest.mark.django_db(transaction=True)
def test_reaping_a_killed_backup_removes_its_unfinished_upload(owner, killed_mid_upload, storage_dir):
    JobRun.objects.filter(pk=killed_mid_upload.pk).update(status=JobRun.Status.LOST)

    reap_abandoned_backups()

    assert list(storage_dir.rglob("*.partial")) == []


@pytest.mark.django_db(transaction=True)
def test_the_owners_next_backup_goes_ahead_after_a_killed_one(owner, killed_mid_upload, settings):
    JobRun.objects.filter(pk=killed_mid_upload.pk).update(status=JobRun.Status.LOST)

    outcome = take_backup(owner_id=owner.pk)

    assert not outcome.skipped
    assert outcome.backup.status == Backup.Status.VERIFIED
    assert Backup.objects.filter(owner=owner, status=Backup.Status.FAILED).count() == 1
