"""Overlap ``replace`` (cancel what runs, then start the new slot), and bursts of manual runs under
``skip_and_retry`` (one runs, the rest are skipped, none is rechecked)."""

from datetime import timedelta

import pytest
from django_q.models import OrmQ

from jobs import services
from jobs.dispatcher import dispatch_due
from jobs.models import JobRun
from jobs.outcomes import record_cancelled
from jobs.policies import OverlapPolicy
from tests.jobs.builders import T0, make_run, make_schedule

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


def test_replace_asks_the_running_run_to_stop_and_the_new_slot_waits_for_it():
    schedule = make_schedule(now=T0, overlap_policy=OverlapPolicy.REPLACE)
    running = make_run(schedule, status=JobRun.Status.RUNNING, slot=T0, started_at=T0)

    dispatch_due(now=T0 + MINUTE)

    running.refresh_from_db()
    new = JobRun.objects.get(schedule=schedule, slot=T0 + MINUTE)
    assert running.status == "running" and running.cancel_requested_at == T0 + MINUTE
    assert "replaced by the run of slot" in running.error
    assert new.status == "scheduled"
    assert OrmQ.objects.count() == 0


def test_once_the_replaced_run_is_cancelled_the_new_slot_starts():
    schedule = make_schedule(now=T0, overlap_policy=OverlapPolicy.REPLACE)
    running = make_run(schedule, status=JobRun.Status.RUNNING, slot=T0, started_at=T0)
    dispatch_due(now=T0 + MINUTE)

    record_cancelled(JobRun.objects.select_related("schedule").get(pk=running.pk), now=T0 + MINUTE)
    dispatch_due(now=T0 + MINUTE + timedelta(seconds=1))

    new = JobRun.objects.get(schedule=schedule, slot=T0 + MINUTE)
    assert JobRun.objects.get(pk=running.pk).status == "cancelled"
    assert new.status == "queued"
    assert OrmQ.objects.count() == 1


def test_replace_cancels_a_run_still_queued_at_once_and_queues_the_new_slot():
    schedule = make_schedule(now=T0, overlap_policy=OverlapPolicy.REPLACE)
    queued = make_run(schedule, status=JobRun.Status.QUEUED, slot=T0)

    dispatch_due(now=T0 + MINUTE)

    assert JobRun.objects.get(pk=queued.pk).status == "cancelled"
    assert JobRun.objects.get(schedule=schedule, slot=T0 + MINUTE).status == "queued"


def test_replace_of_several_slots_in_one_claim_keeps_only_the_newest():
    schedule = make_schedule(
        now=T0, overlap_policy=OverlapPolicy.REPLACE, misfire_policy="catch_up", misfire_grace_seconds=0
    )

    dispatch_due(now=T0 + 3 * MINUTE + timedelta(seconds=1))

    statuses = list(
        JobRun.objects.filter(schedule=schedule).order_by("slot").values_list("status", flat=True)
    )
    assert statuses == ["cancelled", "cancelled", "queued"]


def test_twenty_manual_runs_released_together_make_one_queued_run_nineteen_skipped_and_no_recheck():
    schedule = make_schedule(now=T0, interval_seconds=86400, overlap_policy=OverlapPolicy.SKIP_AND_RETRY)
    for second in range(20):
        services.run_now(job_name="tests.record", schedule=schedule, now=T0 + timedelta(seconds=second))

    dispatch_due(now=T0 + MINUTE)

    runs = JobRun.objects.filter(schedule=schedule)
    assert runs.filter(status="queued").count() == 1
    assert runs.filter(status="skipped").count() == 19
    assert not runs.filter(attempt__gt=1).exists()


def test_a_scheduled_slot_skipped_at_the_door_still_gets_its_recheck():
    schedule = make_schedule(now=T0, interval_seconds=86400, overlap_policy=OverlapPolicy.SKIP_AND_RETRY)
    make_run(schedule, status=JobRun.Status.RUNNING, slot=T0 - timedelta(days=1))

    dispatch_due(now=T0 + timedelta(days=1))

    (recheck,) = JobRun.objects.filter(schedule=schedule, attempt=2)
    assert recheck.trigger == "retry" and recheck.due_at == T0 + timedelta(days=1, hours=1)
