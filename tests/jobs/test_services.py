"""Services people and start-up call: run now, pause, resume, default schedules, start-up runs."""

from datetime import timedelta

import pytest

from jobs.dispatcher import dispatch_due
from jobs.models import JobRun, Schedule
from jobs.registry import UnknownJobError, job
from jobs.services import STARTUP_WINDOW, pause, request_startup_runs, resume, run_now, sync_default_schedules
from tenants.models import GLOBAL_OWNER_ID
from tests.jobs.builders import T0, make_schedule

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


@job("tests.per_owner_default", every=timedelta(hours=6), per_owner=True)
def per_owner_default(ctx, **kwargs) -> None:
    """A per-owner job with a default trigger."""


def test_run_now_creates_a_manual_run_that_the_dispatcher_queues():
    run = run_now(job_name="tests.record", now=T0)
    assert (run.trigger, run.status, run.due_at) == ("manual", "scheduled", T0)
    dispatch_due(now=T0)
    run.refresh_from_db()
    assert run.status == "queued"


def test_run_now_uses_the_owners_default_schedule_kwargs(owner):
    make_schedule(now=T0, owner_id=owner.pk, key="default", kwargs={"full": True})
    run = run_now(job_name="tests.record", owner_id=owner.pk, now=T0)
    assert run.kwargs == {"full": True} and run.schedule.key == "default"


def test_run_now_refuses_an_unknown_job():
    with pytest.raises(UnknownJobError):
        run_now(job_name="no.such.job", now=T0)


def test_pause_stops_slots_and_resume_restarts_from_the_next_slot_after_now():
    schedule = make_schedule(now=T0)
    pause(schedule=schedule, now=T0)
    assert schedule.next_run_at is None
    assert dispatch_due(now=T0 + 10 * MINUTE).schedules == 0
    resume(schedule=schedule, now=T0 + 10 * MINUTE + timedelta(seconds=5))
    assert schedule.next_run_at == T0 + 11 * MINUTE


def test_editing_the_trigger_recomputes_the_next_slot():
    schedule = make_schedule(now=T0)
    schedule.interval_seconds = 600
    schedule.save(now=T0)
    assert schedule.next_run_at == T0 + timedelta(seconds=600)


def test_editing_only_the_label_keeps_the_due_slot():
    schedule = make_schedule(now=T0)
    schedule = Schedule.objects.get(pk=schedule.pk)
    schedule.label = "Renamed"
    schedule.save(now=T0 + MINUTE)
    assert schedule.next_run_at == T0 + MINUTE


def test_per_owner_jobs_get_one_default_schedule_per_active_owner(owner, other_owner):
    sync_default_schedules(now=T0)
    owners = set(
        Schedule.objects.filter(job_name="tests.per_owner_default").values_list("owner_id", flat=True)
    )
    assert {owner.pk, other_owner.pk, GLOBAL_OWNER_ID} <= owners


def test_syncing_default_schedules_twice_creates_nothing_more(owner):
    sync_default_schedules(now=T0)
    assert sync_default_schedules(now=T0) == []


def test_run_on_start_creates_one_start_up_run_after_the_delay():
    schedule = make_schedule(now=T0, run_on_start=True, startup_delay_seconds=30)
    (run,) = request_startup_runs(now=T0)
    assert (run.schedule_id, run.trigger, run.slot) == (schedule.pk, "startup", T0 + timedelta(seconds=30))


def test_dispatchers_starting_together_create_a_single_start_up_run():
    make_schedule(now=T0, run_on_start=True)
    request_startup_runs(now=T0)
    request_startup_runs(now=T0 + timedelta(seconds=2))
    assert JobRun.objects.filter(trigger="startup").count() == 1


def test_a_later_restart_creates_a_new_start_up_run():
    make_schedule(now=T0, run_on_start=True)
    request_startup_runs(now=T0)
    request_startup_runs(now=T0 + STARTUP_WINDOW + timedelta(seconds=1))
    assert JobRun.objects.filter(trigger="startup").count() == 2
