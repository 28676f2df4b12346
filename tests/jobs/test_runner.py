"""The runner: the queued → running flip, outcomes, timeouts, retries, hooks and the final-failure signal."""

import threading
import time
from datetime import timedelta

import pytest
from django.core import mail

from jobs.context import Cancellation
from jobs.models import JobRun
from jobs.runner import run_queued
from jobs.signals import run_failed
from jobs.watch import RunWatch
from tests.jobs import sample_jobs
from tests.jobs.builders import T0, make_run, make_schedule

pytestmark = pytest.mark.django_db

NOW = T0 + timedelta(minutes=1)


def run(run_id: int) -> str:
    return run_queued(run_id, worker="test-worker", clock=lambda: NOW)


def test_a_queued_run_is_run_and_succeeds_with_its_summary():
    queued = make_run(make_schedule(now=T0, kwargs={"size": 3}), slot=NOW)
    assert run(queued.pk) == "succeeded"
    queued.refresh_from_db()
    assert (queued.status, queued.result, queued.worker) == (
        "succeeded",
        {"seen": {"size": 3}},
        "test-worker",
    )
    assert queued.started_at == NOW and queued.finished_at == NOW
    assert sample_jobs.CALLS[0]["kwargs"] == {"size": 3}


def test_a_redelivered_task_finds_nothing_to_flip_and_does_nothing():
    queued = make_run(make_schedule(now=T0), slot=NOW)
    run(queued.pk)
    assert run(queued.pk) == ""
    assert len(sample_jobs.CALLS) == 1


def test_a_failing_job_is_recorded_with_its_traceback():
    failing = make_run(make_schedule("tests.fail", now=T0), slot=NOW)
    assert run(failing.pk) == "failed"
    failing.refresh_from_db()
    assert failing.error == "RuntimeError: the disk is full"
    assert "Traceback" in failing.traceback and "the disk is full" in failing.traceback


def test_the_jobs_exception_hook_sees_the_failure():
    failing = make_run(make_schedule("tests.fail", now=T0), slot=NOW)
    run(failing.pk)
    assert [(failing.pk, "the disk is full")] == sample_jobs.HOOKED


def test_a_broken_exception_hook_does_not_hide_the_jobs_own_failure():
    failing = make_run(make_schedule("tests.fail_with_broken_hook", now=T0), slot=NOW)
    assert run(failing.pk) == "failed"
    failing.refresh_from_db()
    assert failing.error == "RuntimeError: the real problem"


def test_a_failure_with_attempts_left_schedules_a_retry_after_the_backoff():
    schedule = make_schedule("tests.fail", now=T0, max_attempts=3, retry_backoff_seconds=60)
    failing = make_run(schedule, slot=NOW)
    run(failing.pk)
    retry = JobRun.objects.get(schedule=schedule, attempt=2)
    assert (retry.status, retry.trigger, retry.slot) == ("scheduled", "retry", NOW)
    assert NOW + timedelta(seconds=60) <= retry.due_at <= NOW + timedelta(seconds=75)


def test_the_backoff_grows_exponentially_with_the_attempt():
    schedule = make_schedule("tests.fail", now=T0, max_attempts=5, retry_backoff_seconds=60)
    third = make_run(schedule, slot=NOW, attempt=3)
    run(third.pk)
    retry = JobRun.objects.get(schedule=schedule, attempt=4)
    assert NOW + timedelta(seconds=240) <= retry.due_at <= NOW + timedelta(seconds=300)


@pytest.fixture
def announced():
    """The runs ``jobs.signals.run_failed`` announced during the test, as (run id, status)."""
    heard = []

    def listener(sender, run, **kwargs):
        heard.append((run.pk, run.status))

    run_failed.connect(listener)
    yield heard
    run_failed.disconnect(listener)


def test_the_last_failed_attempt_is_announced_and_the_engine_mails_nobody(owner, announced):
    schedule = make_schedule("tests.fail", now=T0, owner_id=owner.pk, max_attempts=1)
    failing = make_run(schedule, slot=NOW)

    run(failing.pk)

    assert announced == [(failing.pk, "failed")]
    assert mail.outbox == []


def test_no_announcement_while_a_retry_is_still_to_come(owner, announced):
    schedule = make_schedule("tests.fail", now=T0, owner_id=owner.pk, max_attempts=2)

    run(make_run(schedule, slot=NOW).pk)

    assert announced == []


def test_a_run_past_its_timeout_is_stopped_and_marked_timed_out():
    slow = make_run(make_schedule("tests.sleep", now=T0, timeout_seconds=1, kwargs={"seconds": 30}), slot=NOW)
    assert run(slow.pk) == "timed_out"
    slow.refresh_from_db()
    assert "exceeded its timeout of 1 s" in slow.error


def test_a_job_that_swallows_exceptions_still_times_out():
    slow = make_run(
        make_schedule("tests.swallow", now=T0, timeout_seconds=1, kwargs={"seconds": 30}), slot=NOW
    )
    assert run(slow.pk) == "timed_out"


@pytest.mark.django_db(transaction=True)
def test_a_run_outside_the_main_thread_also_times_out():
    slow = make_run(make_schedule("tests.sleep", now=T0, timeout_seconds=1, kwargs={"seconds": 30}), slot=NOW)
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(run(slow.pk)))
    thread.start()
    thread.join(timeout=20)
    assert outcome == ["timed_out"]


@pytest.mark.django_db(transaction=True)
def test_the_workers_watch_stamps_the_running_run(settings):
    settings.JOBS_HEARTBEAT_SECONDS = 0.05
    running = make_run(make_schedule(now=T0), status=JobRun.Status.RUNNING, slot=NOW, heartbeat_at=T0)
    with RunWatch(clock=lambda: NOW + timedelta(seconds=5)).watching(running, Cancellation(), lambda: None):
        deadline = time.monotonic() + 10
        while JobRun.objects.get(pk=running.pk).heartbeat_at == T0 and time.monotonic() < deadline:
            time.sleep(0.01)  # waiting on the watch thread, not on a schedule
    running.refresh_from_db()
    assert running.heartbeat_at == NOW + timedelta(seconds=5)


def test_a_run_of_an_unknown_job_fails_with_a_clear_error():
    orphan = make_run(None, job_name="gone.away", slot=NOW)
    assert run(orphan.pk) == "failed"
    orphan.refresh_from_db()
    assert orphan.error == "No job is registered as 'gone.away'."


def test_finishing_a_run_promotes_the_run_queued_behind_it():
    schedule = make_schedule(now=T0, overlap_policy="queue")
    first = make_run(schedule, slot=NOW)
    behind = make_run(schedule, status=JobRun.Status.SCHEDULED, slot=NOW + timedelta(minutes=1))
    JobRun.objects.filter(pk=behind.pk).update(due_at=NOW + timedelta(minutes=5))
    run(first.pk)
    behind.refresh_from_db()
    assert behind.due_at == NOW
