"""How jobs tell the engine a run ended otherwise than by returning: RunSkipped (with its one recheck),
cancellation (queued at once, running within a heartbeat, cooperative or interrupted), and shutdown."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import services, shutdown
from jobs.context import Cancellation, JobContext, RunCancelled
from jobs.models import JobRun
from jobs.runner import run_queued
from tests.jobs import sample_jobs
from tests.jobs.builders import T0, make_run, make_schedule

NOW = T0 + timedelta(minutes=1)


def run(run_id: int) -> str:
    return run_queued(run_id, worker="test-worker", clock=lambda: NOW)


# --- RunSkipped ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_job_raising_run_skipped_ends_skipped_with_its_reason_and_result():
    skipping = make_run(make_schedule("tests.skip", now=T0), slot=NOW)

    assert run(skipping.pk) == "skipped"

    skipping.refresh_from_db()
    assert (skipping.error, skipping.result) == ("Skipped: nothing to do today", {"checked": True})
    assert skipping.schedule.last_status == "skipped"


@pytest.mark.django_db
def test_a_skipped_scheduled_run_asking_for_a_recheck_gets_exactly_one():
    schedule = make_schedule("tests.skip", now=T0, interval_seconds=86400, kwargs={"recheck_minutes": 60})
    skipping = make_run(schedule, slot=NOW)

    run(skipping.pk)

    (recheck,) = JobRun.objects.filter(schedule=schedule, attempt=2)
    assert (recheck.status, recheck.trigger, recheck.retry_of_id) == ("scheduled", "retry", skipping.pk)
    assert recheck.due_at == NOW + timedelta(hours=1)
    JobRun.objects.filter(pk=recheck.pk).update(status=JobRun.Status.QUEUED)
    run(recheck.pk)
    assert JobRun.objects.get(pk=recheck.pk).status == "skipped"
    assert not JobRun.objects.filter(schedule=schedule, attempt=3).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("trigger", [JobRun.Trigger.MANUAL, JobRun.Trigger.STARTUP, JobRun.Trigger.RETRY])
def test_a_skipped_run_that_does_not_stand_for_a_slot_gets_no_recheck(trigger):
    schedule = make_schedule("tests.skip", now=T0, interval_seconds=86400, kwargs={"recheck_minutes": 60})
    skipping = make_run(schedule, slot=NOW, trigger=trigger)

    run(skipping.pk)

    assert JobRun.objects.filter(schedule=schedule).count() == 1


@pytest.mark.django_db
def test_no_recheck_when_the_next_regular_slot_comes_first():
    schedule = make_schedule("tests.skip", now=T0, interval_seconds=1800, kwargs={"recheck_minutes": 60})
    run(make_run(schedule, slot=NOW).pk)
    assert JobRun.objects.filter(schedule=schedule).count() == 1


@pytest.mark.django_db
def test_a_skip_without_recheck_after_gets_no_follow_up():
    schedule = make_schedule("tests.skip", now=T0, interval_seconds=86400)
    run(make_run(schedule, slot=NOW).pk)
    assert JobRun.objects.filter(schedule=schedule).count() == 1


# --- Cancelling runs that have not started ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("status", [JobRun.Status.SCHEDULED, JobRun.Status.QUEUED])
def test_a_waiting_or_queued_run_is_cancelled_at_once(status):
    waiting = make_run(make_schedule(now=T0), status=status, slot=NOW)

    assert services.cancel_run(run=waiting, now=NOW, reason="Cancelled by ops.") == "cancelled"

    waiting.refresh_from_db()
    assert (waiting.status, waiting.error, waiting.finished_at) == ("cancelled", "Cancelled by ops.", NOW)


@pytest.mark.django_db
def test_a_cancelled_queued_run_is_not_started_when_its_task_arrives():
    queued = make_run(make_schedule(now=T0), slot=NOW)
    services.cancel_run(run=queued, now=NOW, reason="stop")

    assert run(queued.pk) == ""
    assert sample_jobs.CALLS == []


@pytest.mark.django_db
@pytest.mark.parametrize("status", JobRun.FINISHED)
def test_a_finished_run_cannot_be_cancelled(status):
    done = make_run(make_schedule(now=T0), status=status, slot=NOW)
    with pytest.raises(services.RunStateRefused, match=f"is {status}"):
        services.cancel_run(run=done, now=NOW, reason="stop")


@pytest.mark.django_db
def test_cancelling_a_queued_run_releases_the_run_queued_behind_it():
    schedule = make_schedule(now=T0, overlap_policy="queue")
    first = make_run(schedule, slot=NOW)
    behind = make_run(schedule, status=JobRun.Status.SCHEDULED, slot=NOW + timedelta(minutes=1))
    JobRun.objects.filter(pk=behind.pk).update(due_at=NOW + timedelta(minutes=5))

    services.cancel_run(run=first, now=NOW, reason="stop")

    assert JobRun.objects.get(pk=behind.pk).due_at == NOW


# --- Cancelling a running run: the worker's watch, within a heartbeat ------------------------------------


def run_in_thread(run_id: int) -> tuple[threading.Thread, list]:
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(run_queued(run_id, worker="test-worker")))
    worker.start()
    assert sample_jobs.STARTED.wait(timeout=30), "the job did not start"
    return worker, outcome


def cancel_running(run: JobRun) -> str:
    return services.cancel_run(run=run, now=timezone.now(), reason="Cancelled by ops.")


@pytest.mark.django_db(transaction=True)
def test_a_cooperative_job_is_cancelled_at_its_next_check_after_the_heartbeat(settings):
    settings.JOBS_HEARTBEAT_SECONDS = 0.2
    running = make_run(make_schedule("tests.until_cancelled", now=T0), slot=NOW)
    worker, outcome = run_in_thread(running.pk)

    assert cancel_running(running) == "running"
    worker.join(timeout=30)

    running.refresh_from_db()
    assert outcome == ["cancelled"]
    assert running.error == "Cancelled by ops."
    assert running.result is None and running.cancel_requested_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_job_that_heeded_its_cancellation_is_not_interrupted_during_its_cleanup(settings):
    settings.JOBS_HEARTBEAT_SECONDS = 0.2
    running = make_run(make_schedule("tests.slow_cleanup", now=T0, kwargs={"cleanup_seconds": 1.0}), slot=NOW)
    worker, outcome = run_in_thread(running.pk)

    cancel_running(running)
    worker.join(timeout=30)

    assert outcome == ["cancelled"]
    (cleanup,) = sample_jobs.CALLS
    assert cleanup == {"run_id": running.pk, "cleanup": "finished"}


@pytest.mark.django_db(transaction=True)
def test_a_job_that_never_checks_is_interrupted_one_heartbeat_later(settings):
    settings.JOBS_HEARTBEAT_SECONDS = 0.2
    running = make_run(make_schedule("tests.stubborn", now=T0), slot=NOW)
    worker, outcome = run_in_thread(running.pk)

    cancel_running(running)
    worker.join(timeout=30)

    assert outcome == ["cancelled"]
    assert JobRun.objects.get(pk=running.pk).error == "Cancelled by ops."


@pytest.mark.django_db(transaction=True)
def test_a_job_in_the_main_thread_that_never_checks_is_interrupted_by_a_signal(settings):
    settings.JOBS_HEARTBEAT_SECONDS = 0.2
    running = make_run(make_schedule("tests.stubborn", now=T0), slot=NOW)

    def cancel_once_started() -> None:
        if sample_jobs.STARTED.wait(timeout=30):
            cancel_running(JobRun.objects.get(pk=running.pk))

    helper = threading.Thread(target=cancel_once_started)
    helper.start()
    outcome = run_queued(running.pk, worker="test-worker")  # a worker runs its job in the main thread
    helper.join(timeout=30)

    assert outcome == "cancelled"


@pytest.mark.django_db(transaction=True)
def test_a_run_reaped_while_running_is_stopped_and_stays_lost(settings):
    settings.JOBS_HEARTBEAT_SECONDS = 0.2
    running = make_run(make_schedule("tests.until_cancelled", now=T0), slot=NOW)
    worker, outcome = run_in_thread(running.pk)

    JobRun.objects.get(pk=running.pk).mark_lost(now=timezone.now(), error="Lost: reaped")
    worker.join(timeout=30)

    assert outcome == ["lost"]  # the job stopped; its own end (cancelled) was refused
    assert JobRun.objects.get(pk=running.pk).status == "lost"


def test_the_context_raises_only_once_cancelled():
    cancellation = Cancellation()
    context = JobContext(
        run_id=1, job_name="x", owner_id=0, schedule_id=None, slot=T0, attempt=1, logger=None,
        cancellation=cancellation,
    )  # fmt: skip
    context.raise_if_cancelled()
    assert not context.cancelled

    cancellation.request("stop now")

    assert context.cancelled
    with pytest.raises(RunCancelled, match="stop now"):
        context.raise_if_cancelled()


# --- Shutdown -------------------------------------------------------------------------------------------


@pytest.fixture
def shutdown_state():
    shutdown.prepare()
    yield shutdown
    shutdown.set_state(shutdown.RUNNING)


@pytest.mark.django_db
def test_a_stopping_worker_hands_a_run_back_to_the_broker_instead_of_starting_it(shutdown_state):
    from django_q.models import OrmQ

    queued = make_run(make_schedule(now=T0), slot=NOW, task_id="first")
    shutdown_state.set_state(shutdown.DRAINING)

    assert run(queued.pk) == ""

    queued.refresh_from_db()
    assert queued.status == "queued" and queued.task_id != "first"
    assert OrmQ.objects.count() == 1
    assert sample_jobs.CALLS == []


@pytest.mark.django_db(transaction=True)
def test_after_the_grace_period_the_watch_cancels_the_running_job(settings, shutdown_state):
    settings.JOBS_HEARTBEAT_SECONDS = 0.2
    running = make_run(make_schedule("tests.until_cancelled", now=T0), slot=NOW)
    worker, outcome = run_in_thread(running.pk)

    shutdown_state.set_state(shutdown.CANCELLING)
    worker.join(timeout=30)

    assert outcome == ["cancelled"]
    assert "grace period" in JobRun.objects.get(pk=running.pk).error


def test_the_watch_thread_takes_no_time_when_idle():
    # Not a speed test: the watch only looks after a run while one is in hand.
    from jobs.watch import watch

    first = watch()
    time.sleep(0.05)
    assert watch() is first
