"""The managed schedule through the real engine: the dispatcher fires it at the owner's backup time, a
worker's runner takes the backup; if a backup of the owner is already running, the run ends skipped and the
recheck an hour later makes the backup."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from backups.models import Backup
from backups.schedules import sync_backup_schedule
from backups.services import claim_backup
from jobs.dispatcher import dispatch_due
from jobs.models import JobRun
from jobs.runner import run_queued
from tests.backups.builders import use_file_storage

BEFORE = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
BACKUP_TIME = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)  # 21:00 in London (GMT in November)


@pytest.fixture(autouse=True)
def backups_in_tmp(settings, tmp_path):
    use_file_storage(settings, tmp_path / "backups")
    settings.BACKUP_SCHEDULE_SPREAD = 0  # at the chosen time itself (the spread: test_spread.py)


def dispatch_and_run(at: datetime) -> list[JobRun]:
    """What a dispatcher and a worker do at ``at``: queue what is due, then execute each queued run."""
    with time_machine.travel(at, tick=False):
        dispatch_due(now=at)
        queued = list(JobRun.objects.filter(status=JobRun.Status.QUEUED).order_by("pk"))
        for run in queued:
            run_queued(run.pk, worker="test-worker")
    return [JobRun.objects.get(pk=run.pk) for run in queued]


def test_at_the_owners_backup_time_the_dispatcher_and_runner_make_a_verified_backup(owner):
    with time_machine.travel(BEFORE, tick=False):
        sync_backup_schedule(owner)

    [run] = dispatch_and_run(BACKUP_TIME + timedelta(seconds=1))

    backup = Backup.objects.get(owner=owner)
    assert run.status == JobRun.Status.SUCCEEDED
    assert run.result["backup_id"] == backup.pk
    assert backup.status == Backup.Status.VERIFIED
    assert backup.job_run_id == run.pk


def test_a_scheduled_run_that_finds_a_backup_running_is_skipped_and_the_recheck_an_hour_later_backs_up(owner):
    with time_machine.travel(BEFORE, tick=False):
        sync_backup_schedule(owner)
    # e.g. `backup now --wait` in a shell, outside the engine, started a few minutes before the slot
    manual = claim_backup(owner_id=owner.pk, now=BACKUP_TIME - timedelta(minutes=5))
    manual.beat(now=BACKUP_TIME)  # that process is alive: it beats its row

    [skipped] = dispatch_and_run(BACKUP_TIME + timedelta(seconds=1))
    manual.mark_failed("finished elsewhere meanwhile")
    nothing_yet = dispatch_and_run(BACKUP_TIME + timedelta(minutes=59))
    [recheck] = dispatch_and_run(BACKUP_TIME + timedelta(hours=1, seconds=2))

    assert skipped.status == JobRun.Status.SKIPPED
    assert nothing_yet == []
    assert (recheck.trigger, recheck.attempt, recheck.status) == (
        JobRun.Trigger.RETRY,
        2,
        JobRun.Status.SUCCEEDED,
    )
    assert Backup.objects.get(owner=owner, status=Backup.Status.VERIFIED).job_run_id == recheck.pk
