"""The dispatcher's claims: one run per slot, policies applied at admission, nothing lost or doubled."""

from datetime import timedelta

import pytest
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from jobs.dispatcher import Dispatcher, claim_due_schedules, dispatch_due, earliest_due
from jobs.models import JobRun, JobSwitch, Schedule
from jobs.policies import OverlapPolicy
from tests.jobs.builders import T0, make_run, make_schedule

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


def runs_of(schedule: Schedule) -> list[JobRun]:
    return list(JobRun.objects.filter(schedule=schedule).order_by("slot", "attempt"))


def test_a_new_schedule_first_fires_at_its_next_slot_not_at_once():
    schedule = make_schedule(now=T0)
    assert schedule.next_run_at == T0 + MINUTE
    assert dispatch_due(now=T0 + timedelta(seconds=1)).queued == 0


def test_a_due_slot_becomes_one_queued_run_and_the_schedule_moves_on():
    schedule = make_schedule(now=T0)
    report = dispatch_due(now=T0 + MINUTE)
    (run,) = runs_of(schedule)
    assert (run.slot, run.status, run.trigger, run.attempt) == (T0 + MINUTE, "queued", "scheduled", 1)
    assert report.queued == 1
    schedule.refresh_from_db()
    assert schedule.next_run_at == T0 + 2 * MINUTE


def test_the_queued_run_is_handed_to_django_q_as_execute_with_its_id():
    make_schedule(now=T0)
    dispatch_due(now=T0 + MINUTE)
    run = JobRun.objects.get()
    (package,) = OrmQ.objects.all()
    task = SignedPackage.loads(package.payload)
    assert (task["func"], task["args"], task["id"]) == ("jobs.runner.execute", (run.pk,), run.task_id)


def test_claiming_the_same_moment_twice_creates_no_second_run():
    make_schedule(now=T0)
    dispatch_due(now=T0 + MINUTE)
    dispatch_due(now=T0 + MINUTE)
    assert JobRun.objects.count() == 1
    assert OrmQ.objects.count() == 1


def test_earliest_due_is_the_first_next_slot_or_waiting_run():
    make_schedule(now=T0)
    assert earliest_due() == T0 + MINUTE
    make_run(None, status=JobRun.Status.SCHEDULED, slot=T0 + timedelta(seconds=5))
    assert earliest_due() == T0 + timedelta(seconds=5)


def test_a_paused_schedule_is_not_due():
    schedule = make_schedule(now=T0)
    schedule.paused_at = T0
    schedule.save(now=T0)
    assert dispatch_due(now=T0 + 10 * MINUTE).schedules == 0


def test_an_unknown_job_is_recorded_as_a_failed_run_and_the_schedule_moves_on():
    schedule = make_schedule("nobody.registered.this", now=T0)
    report = dispatch_due(now=T0 + MINUTE)
    (run,) = runs_of(schedule)
    assert run.status == "failed"
    assert "No job is registered as 'nobody.registered.this'" in run.error
    assert report.failed == 1 and OrmQ.objects.count() == 0
    schedule.refresh_from_db()
    assert schedule.next_run_at == T0 + 2 * MINUTE


def test_a_switched_off_job_creates_no_runs_while_its_schedules_advance():
    schedule = make_schedule(now=T0)
    JobSwitch.objects.create(job_name="tests.record", enabled=False)
    dispatch_due(now=T0 + MINUTE)
    assert runs_of(schedule) == []
    schedule.refresh_from_db()
    assert schedule.next_run_at == T0 + 2 * MINUTE


def test_overlap_skip_records_a_skipped_run_while_the_previous_one_runs():
    schedule = make_schedule(now=T0, overlap_policy=OverlapPolicy.SKIP)
    make_run(schedule, status=JobRun.Status.RUNNING, slot=T0)
    dispatch_due(now=T0 + MINUTE)
    skipped = JobRun.objects.get(schedule=schedule, slot=T0 + MINUTE)
    assert skipped.status == "skipped"
    assert "still queued or running" in skipped.error


def test_overlap_skip_and_retry_tries_the_slot_again_after_the_delay():
    schedule = make_schedule(
        now=T0,
        interval_seconds=86400,
        overlap_policy=OverlapPolicy.SKIP_AND_RETRY,
        overlap_retry_delay_seconds=3600,
    )
    make_run(schedule, status=JobRun.Status.RUNNING, slot=T0 - timedelta(days=1))
    slot = T0 + timedelta(days=1)
    dispatch_due(now=slot)
    skipped, retry = JobRun.objects.filter(schedule=schedule, slot=slot).order_by("attempt")
    assert skipped.status == "skipped"
    assert (retry.status, retry.trigger, retry.attempt) == ("scheduled", "retry", 2)
    assert retry.due_at == slot + timedelta(hours=1)


def test_the_skip_and_retry_run_starts_once_the_schedule_is_free():
    schedule = make_schedule(
        now=T0,
        interval_seconds=86400,
        overlap_policy=OverlapPolicy.SKIP_AND_RETRY,
        overlap_retry_delay_seconds=3600,
    )
    busy = make_run(schedule, status=JobRun.Status.RUNNING, slot=T0 - timedelta(days=1))
    slot = T0 + timedelta(days=1)
    dispatch_due(now=slot)
    JobRun.objects.filter(pk=busy.pk).update(status=JobRun.Status.SUCCEEDED)
    dispatch_due(now=slot + timedelta(hours=1))
    retry = JobRun.objects.get(schedule=schedule, slot=slot, attempt=2)
    assert retry.status == "queued"


def test_overlap_queue_waits_behind_the_running_run():
    schedule = make_schedule(now=T0, overlap_policy=OverlapPolicy.QUEUE)
    make_run(schedule, status=JobRun.Status.RUNNING, slot=T0)
    dispatch_due(now=T0 + MINUTE)
    waiting = JobRun.objects.get(schedule=schedule, slot=T0 + MINUTE)
    assert waiting.status == "scheduled"
    assert OrmQ.objects.count() == 0


def test_overlap_allow_runs_in_parallel():
    schedule = make_schedule(now=T0, overlap_policy=OverlapPolicy.ALLOW)
    make_run(schedule, status=JobRun.Status.RUNNING, slot=T0)
    dispatch_due(now=T0 + MINUTE)
    assert JobRun.objects.get(schedule=schedule, slot=T0 + MINUTE).status == "queued"


def test_a_due_retry_run_is_queued_by_the_dispatcher():
    schedule = make_schedule(now=T0)
    retry = make_run(schedule, status=JobRun.Status.SCHEDULED, slot=T0, attempt=2, due_at=T0 + MINUTE / 2)
    dispatch_due(now=T0 + MINUTE / 2)
    retry.refresh_from_db()
    assert retry.status == "queued" and retry.queued_at == T0 + MINUTE / 2


def test_a_retry_run_that_is_not_due_yet_waits():
    schedule = make_schedule(now=T0)
    retry = make_run(schedule, status=JobRun.Status.SCHEDULED, slot=T0, attempt=2, due_at=T0 + MINUTE / 2)
    dispatch_due(now=T0 + MINUTE / 4)
    retry.refresh_from_db()
    assert retry.status == "scheduled"


def test_a_slot_that_already_has_its_run_is_not_run_again():
    schedule = make_schedule(now=T0)
    make_run(schedule, status=JobRun.Status.SUCCEEDED, slot=T0 + MINUTE)
    report = claim_due_schedules(now=T0 + MINUTE)
    assert report.conflicts == 1
    assert JobRun.objects.filter(schedule=schedule).count() == 1
    assert OrmQ.objects.count() == 0


def test_with_jobs_disabled_the_dispatcher_loop_dispatches_nothing(settings):
    settings.JOBS_ENABLED = False
    make_schedule(now=T0)
    steps = iter([True])
    Dispatcher(clock=lambda: T0 + MINUTE, max_sleep=0).run(keep_going=lambda: next(steps, False))
    assert JobRun.objects.count() == 0


def test_the_dispatcher_loop_dispatches_what_is_due():
    make_schedule(now=T0)
    steps = iter([True])
    Dispatcher(clock=lambda: T0 + MINUTE, max_sleep=0).run(keep_going=lambda: next(steps, False))
    assert JobRun.objects.filter(status="queued").count() == 1


def test_the_loop_wakes_the_lead_before_the_next_slot():
    make_schedule(now=T0)
    ahead = Dispatcher(clock=lambda: T0, max_sleep=120, lead=timedelta(milliseconds=200))
    assert ahead.tick(T0) == pytest.approx(59.8)
    assert JobRun.objects.count() == 0


def test_a_waiting_run_of_a_switched_off_job_is_cancelled_not_queued():
    schedule = make_schedule(now=T0)
    JobSwitch.objects.create(job_name="tests.record", enabled=False)
    retry = make_run(schedule, status=JobRun.Status.SCHEDULED, slot=T0, attempt=2, due_at=T0)
    dispatch_due(now=T0 + timedelta(seconds=1))
    retry.refresh_from_db()
    assert retry.status == "cancelled" and "switched off" in retry.error
    assert OrmQ.objects.count() == 0
