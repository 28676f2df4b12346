"""The ``backups.run`` job: a run that loses the race for the owner raises ``RunSkipped`` and ends skipped,
a scheduled one is rechecked once an hour later (manual ones never), and 20 simultaneous triggers make
exactly one backup."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from backups.jobs import run_backup
from backups.models import Backup
from backups.services import claim_backup
from jobs.models import JobRun, Schedule
from jobs.registry import RunSkipped, get_job
from jobs.runner import run_queued
from tests.backups.builders import context_for, make_run, use_file_storage


@pytest.fixture(autouse=True)
def backups_in_tmp(settings, tmp_path):
    use_file_storage(settings, tmp_path / "backups")


def far_next_slot(owner) -> None:
    """Keep the next regular slot out of the recheck window (it would make a recheck pointless)."""
    Schedule.objects.filter(owner=owner, job_name="backups.run").update(
        next_run_at=timezone.now() + timedelta(days=1)
    )


def test_the_job_is_registered_with_skip_and_retry_after_one_hour_and_a_long_timeout():
    definition = get_job("backups.run")

    assert definition.overlap == "skip_and_retry"
    assert definition.overlap_retry_delay == timedelta(hours=1)
    assert definition.timeout >= timedelta(hours=1)
    assert not definition.has_default_schedule  # the schedules come from each owner's settings


def test_a_run_backs_up_its_owner_and_returns_the_summary(owner):
    run = make_run(owner)

    summary = run_backup(context_for(run))

    backup = Backup.objects.get(owner=owner)
    assert backup.job_run_id == run.pk
    assert backup.status == Backup.Status.VERIFIED
    assert summary["backup_id"] == backup.pk
    assert summary["sha256"] == backup.sha256


def test_a_run_that_loses_the_race_raises_run_skipped_asking_for_a_recheck_in_an_hour(owner):
    run = make_run(owner)
    running = claim_backup(owner_id=owner.pk)

    with pytest.raises(RunSkipped) as skipped:
        run_backup(context_for(run))

    assert skipped.value.recheck_after == timedelta(hours=1)
    assert f"backup #{running.pk} of owner {owner.pk} is still running" in skipped.value.reason
    assert skipped.value.result["skipped"] is True
    assert skipped.value.result["running_backup_id"] == running.pk


def test_a_scheduled_run_that_loses_the_race_is_skipped_and_rechecked_in_an_hour(owner):
    run = make_run(owner, status=JobRun.Status.QUEUED)
    far_next_slot(owner)
    claim_backup(owner_id=owner.pk)

    run_queued(run.pk, worker="test-worker")

    run.refresh_from_db()
    assert run.status == JobRun.Status.SKIPPED
    recheck = JobRun.objects.get(schedule=run.schedule, attempt=2)
    assert recheck.status == JobRun.Status.SCHEDULED
    assert recheck.trigger == JobRun.Trigger.RETRY
    assert recheck.retry_of_id == run.pk
    assert recheck.slot == run.slot
    assert recheck.due_at == run.finished_at + timedelta(hours=1)


def test_a_manual_run_that_loses_the_race_is_skipped_without_a_recheck(owner):
    run = make_run(owner, trigger=JobRun.Trigger.MANUAL, status=JobRun.Status.QUEUED)
    far_next_slot(owner)
    claim_backup(owner_id=owner.pk)

    run_queued(run.pk, worker="test-worker")

    run.refresh_from_db()
    assert run.status == JobRun.Status.SKIPPED
    assert not JobRun.objects.filter(attempt=2).exists()


def test_a_recheck_that_loses_the_race_again_gets_no_further_recheck(owner):
    run = make_run(owner, trigger=JobRun.Trigger.RETRY, attempt=2, status=JobRun.Status.QUEUED)
    far_next_slot(owner)
    claim_backup(owner_id=owner.pk)

    run_queued(run.pk, worker="test-worker")

    assert JobRun.objects.get(pk=run.pk).status == JobRun.Status.SKIPPED
    assert not JobRun.objects.filter(attempt=3).exists()


def test_no_recheck_when_the_next_regular_slot_comes_within_the_hour(owner):
    run = make_run(owner, status=JobRun.Status.QUEUED)
    Schedule.objects.filter(pk=run.schedule_id).update(next_run_at=timezone.now() + timedelta(minutes=30))
    claim_backup(owner_id=owner.pk)

    run_queued(run.pk, worker="test-worker")

    assert not JobRun.objects.filter(attempt=2).exists()


def test_a_skipped_run_does_not_create_a_backup(owner):
    running = claim_backup(owner_id=owner.pk)

    with pytest.raises(RunSkipped):
        run_backup(context_for(make_run(owner)))

    assert list(Backup.objects.filter(owner=owner)) == [running]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_triggers_make_one_backup_and_nineteen_skipped_runs(owner):
    runs = [make_run(owner, slot=timezone.now() + timedelta(seconds=i)) for i in range(20)]
    far_next_slot(owner)
    start = threading.Barrier(len(runs))
    losers_done = threading.Event()
    finished = []
    lock = threading.Lock()
    errors = []

    def hold_while_others_try() -> None:
        # Called by the winner once its dump has begun: its backup stays running until all others tried.
        losers_done.wait(timeout=60)

    def trigger(run: JobRun) -> None:
        try:
            start.wait(timeout=30)
            try:
                summary = run_backup(context_for(run, heartbeat=hold_while_others_try))
            except RunSkipped as skipped:
                summary = skipped.result
            with lock:
                finished.append(summary)
                if sum(1 for each in finished if each.get("skipped")) == len(runs) - 1:
                    losers_done.set()
        except Exception as error:
            errors.append(error)
            losers_done.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=trigger, args=(run,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert Backup.objects.filter(owner=owner).count() == 1
    assert Backup.objects.get(owner=owner).status == Backup.Status.VERIFIED
    assert sum(1 for summary in finished if summary.get("skipped")) == 19


def test_through_the_real_runner_a_losing_run_ends_skipped_without_a_refused_finish(owner, caplog):
    run = make_run(owner, status=JobRun.Status.QUEUED)
    far_next_slot(owner)
    claim_backup(owner_id=owner.pk)

    run_queued(run.pk, worker="test-worker")

    run.refresh_from_db()
    assert run.status == JobRun.Status.SKIPPED
    assert run.result["skipped"] is True
    assert run.error.startswith("Skipped: backup #")
    assert "finish_refused" not in caplog.text


def test_through_the_real_runner_a_winning_run_succeeds_with_the_summary(owner):
    run = make_run(owner, status=JobRun.Status.QUEUED)

    run_queued(run.pk, worker="test-worker")

    run.refresh_from_db()
    backup = Backup.objects.get(owner=owner)
    assert run.status == JobRun.Status.SUCCEEDED
    assert run.result["backup_id"] == backup.pk
    assert run.result["size"] == backup.size
