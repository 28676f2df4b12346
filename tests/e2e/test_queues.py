"""Queues with real processes (PostgreSQL, Redis): a backup worker of its own (``qcluster --queue backups``)
takes the backups, so a long backup never holds the worker a per-second light job needs.

Both clusters have one worker. Were the backup on the default cluster, no light run could start while it
lasts; on its own queue, the light job keeps starting every second, in the default cluster's process.
"""

import statistics
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import EngineProcess, JobRun, Schedule, TriggerKind
from jobs.services import run_now
from tests.builders import make_owner
from tests.e2e import worker_jobs
from tests.e2e.workers import Workers, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BACKUP_SECONDS = 30


@pytest.fixture
def workers(tmp_path):
    assert worker_jobs  # registered here too, so run_now() knows the job names
    started = Workers(tmp_path, Q_WORKERS="1")
    yield started
    started.stop_all()


def test_a_long_backup_on_the_backup_worker_does_not_hold_the_light_jobs_worker(workers, tmp_path):
    workers.start(1)
    workers.start(1, args=("--queue", "backups"))
    wait_for(
        lambda: EngineProcess.objects.consumed_queues(timezone.now()) >= {"default", "backups"},
        timeout=60,
        message="the default cluster and the backup worker beat",
    )
    ticks = tmp_path / "ticks.log"
    ticks.touch()
    Schedule(
        job_name="e2e.tick",
        key="light",
        trigger_kind=TriggerKind.CRON,
        cron_expression="* * * * * *",
        kwargs={"log": str(ticks)},
    ).save()
    owner = make_owner("Acme")
    holder = Schedule(
        job_name="e2e.long_backup",
        owner=owner,
        key="long",
        trigger_kind=TriggerKind.ONCE,
        run_at=timezone.now() + timedelta(days=1),
        kwargs={"seconds": BACKUP_SECONDS},
    )
    holder.save()
    wait_for(
        lambda: JobRun.objects.filter(job_name="e2e.tick", status="succeeded").count() >= 3,
        timeout=60,
        message="the light job runs",
    )

    backup = run_now(job_name="e2e.long_backup", owner_id=owner.pk, schedule=holder, now=timezone.now())
    backup = wait_for(
        lambda: JobRun.objects.filter(pk=backup.pk, status__in=JobRun.FINISHED).first(),
        timeout=BACKUP_SECONDS + 90,
        message="the backup ends",
    )

    assert backup.status == "succeeded", (backup.error, workers.logs()[-4000:])
    assert backup.result["status"] == "verified"
    assert backup.queue_name == "backups" and backup.engine_process.queues == ["backups"]
    during = JobRun.objects.filter(
        job_name="e2e.tick", started_at__gte=backup.started_at, started_at__lte=backup.finished_at
    ).select_related("engine_process")
    lateness = [run.lateness.total_seconds() for run in during]
    print(
        f"light runs during the {backup.duration.total_seconds():.1f} s backup: {len(lateness)}, lateness "
        f"median {statistics.median(lateness):.3f} s, max {max(lateness):.3f} s"
    )
    # One light run per second kept starting while the backup held the backup worker's only worker.
    assert len(lateness) >= BACKUP_SECONDS - 5
    assert {run.engine_process.queues[0] for run in during} == {"default"}
    assert {run.status for run in during} == {"succeeded"}
