"""End to end on PostgreSQL with real ``manage.py qcluster`` processes (Redis broker, private queue).

Exactly one run per slot with two clusters; a worker killed with SIGKILL mid-run leaves a lost run and a
retry that runs; SIGTERM lets a running job finish.
"""

import itertools
import os
import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import JobRun, Schedule, TriggerKind
from jobs.policies import OverlapPolicy
from jobs.services import run_now
from tests.e2e import worker_jobs
from tests.e2e.workers import Workers, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCHEDULES = 50
FIRING_SECONDS = 60


@pytest.fixture
def workers(tmp_path):
    assert worker_jobs  # registered here too, so run_now() knows the job names
    started = Workers(tmp_path)
    yield started
    started.stop_all()


def every_second_schedules(log_path: str) -> list[Schedule]:
    schedules = []
    for number in range(SCHEDULES):
        schedule = Schedule(
            job_name="e2e.tick",
            key=f"tick-{number}",
            trigger_kind=TriggerKind.CRON,
            cron_expression="* * * * * *",
            overlap_policy=OverlapPolicy.ALLOW,
            kwargs={"log": log_path},
        )
        schedule.save()
        schedules.append(schedule)
    return schedules


def test_two_clusters_run_every_slot_of_50_schedules_exactly_once(workers, tmp_path):
    log_path = tmp_path / "executions.log"
    log_path.touch()
    workers.start(2)
    wait_for(
        lambda: workers.logs().count("event=dispatcher_started") >= 2,
        timeout=60,
        message="both clusters are up",
    )
    schedules = every_second_schedules(str(log_path))
    began = timezone.now()
    time.sleep(FIRING_SECONDS)  # the processes under test do the work; the test only lets a minute pass
    Schedule.objects.filter(pk__in=[s.pk for s in schedules]).update(enabled=False)
    ended = timezone.now()
    wait_for(
        lambda: not JobRun.objects.filter(job_name="e2e.tick", status__in=["queued", "running"]).exists(),
        timeout=60,
        message="the last runs finish",
    )

    window_start = began + timedelta(seconds=2)
    window_end = ended - timedelta(seconds=2)
    for schedule in schedules:
        slots = list(
            JobRun.objects.filter(schedule=schedule, slot__gte=window_start, slot__lte=window_end)
            .order_by("slot")
            .values_list("slot", flat=True)
        )
        expected = int((window_end - window_start).total_seconds()) - 1
        assert len(slots) >= expected, f"schedule {schedule.pk}: {len(slots)} runs, expected {expected}"
        gaps = {(later - earlier).total_seconds() for earlier, later in itertools.pairwise(slots)}
        assert gaps == {1.0}, f"schedule {schedule.pk}: a slot is missing or doubled (gaps {gaps})"
    runs = JobRun.objects.filter(job_name="e2e.tick")
    assert set(runs.values_list("status", flat=True)) == {"succeeded"}
    executions = log_path.read_text().split()
    assert len(executions) == len(set(executions)) == runs.count()


def slow_schedule(key: str, **fields) -> Schedule:
    """A schedule whose own slot is a year away: the tests run it with run_now()."""
    schedule = Schedule(
        job_name="e2e.slow",
        key=key,
        trigger_kind=TriggerKind.ONCE,
        run_at=timezone.now() + timedelta(days=365),
        **fields,
    )
    schedule.save()
    return schedule


def test_a_worker_killed_mid_run_leaves_a_lost_run_and_the_retry_runs(workers):
    workers.start(1)
    schedule = slow_schedule(
        "killed", kwargs={"seconds": 60, "first_attempt_only": True}, max_attempts=2, retry_backoff_seconds=1
    )
    first = run_now(job_name="e2e.slow", schedule=schedule, now=timezone.now())
    running = wait_for(
        lambda: JobRun.objects.filter(pk=first.pk, status="running").first(),
        timeout=60,
        message="the run starts",
    )
    worker_pid = int(running.worker.rsplit(":", 1)[1])
    os.kill(worker_pid, signal.SIGKILL)

    wait_for(
        lambda: JobRun.objects.filter(pk=first.pk, status="lost").exists(),
        timeout=60,
        message="the reaper marks the run lost",
    )
    retry = wait_for(
        lambda: JobRun.objects.filter(schedule=schedule, attempt=2, status="succeeded").first(),
        timeout=60,
        message="the retry runs",
    )
    assert retry.trigger == "retry"
    assert not JobRun.objects.filter(schedule=schedule, status="running").exists()


def test_sigterm_lets_the_running_job_finish(workers):
    (cluster,) = workers.start(1)
    run = run_now(
        job_name="e2e.slow", schedule=slow_schedule("finish", kwargs={"seconds": 4}), now=timezone.now()
    )
    wait_for(
        lambda: JobRun.objects.filter(pk=run.pk, status="running").exists(), timeout=60, message="it runs"
    )
    assert workers.terminate(cluster, timeout=60) == 0
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert run.result == {"slept": 4}
