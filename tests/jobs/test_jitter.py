"""Jitter: each slot's run starts up to ``jitter_seconds`` after its slot; the run keeps its slot, waits
as ``scheduled`` until then, and is handed to the broker when due."""

from datetime import timedelta
from statistics import mean

import pytest
from django.core.exceptions import ValidationError
from django_q.models import OrmQ

from jobs.dispatcher import dispatch_due, earliest_due
from jobs.models import JobRun, Schedule
from jobs.planning import jittered_due_at
from ops.missed import find_missed_runs
from tests.jobs.builders import T0, make_schedule

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


def test_the_delay_stays_within_the_jitter_and_is_the_same_every_time_it_is_computed():
    schedule = make_schedule(now=T0, jitter_seconds=30)
    slots = [T0 + n * MINUTE for n in range(1, 1001)]

    delays = [(jittered_due_at(schedule, slot) - slot).total_seconds() for slot in slots]

    assert all(0 <= delay < 30 for delay in delays)
    assert delays == [(jittered_due_at(schedule, slot) - slot).total_seconds() for slot in slots]
    # Spread over the whole window, not bunched: every 3-second tenth of it is used, the mean near 15 s.
    assert {int(delay // 3) for delay in delays} == set(range(10))
    assert 13 < mean(delays) < 17


def test_two_schedules_sharing_a_slot_start_at_different_moments():
    first = make_schedule(now=T0, cron_expression="0 21 * * *", jitter_seconds=600)
    second = make_schedule(now=T0, cron_expression="0 21 * * *", jitter_seconds=600)

    assert jittered_due_at(first, first.next_run_at) != jittered_due_at(second, second.next_run_at)


def test_without_jitter_the_run_is_due_at_its_slot():
    schedule = make_schedule(now=T0)

    dispatch_due(now=T0 + MINUTE)

    run = JobRun.objects.get(schedule=schedule)
    assert (run.slot, run.due_at, run.status) == (T0 + MINUTE, T0 + MINUTE, "queued")


def test_a_jittered_run_keeps_its_slot_and_waits_until_its_delay_has_passed():
    schedule = make_schedule(now=T0, jitter_seconds=45)
    slot = T0 + MINUTE
    due = jittered_due_at(schedule, slot)
    assert due > slot  # this schedule and slot draw a delay

    dispatch_due(now=slot)
    run = JobRun.objects.get(schedule=schedule)
    schedule.refresh_from_db()

    assert (run.slot, run.due_at, run.status, run.trigger) == (slot, due, "scheduled", "scheduled")
    assert OrmQ.objects.count() == 0
    assert schedule.next_run_at == slot + MINUTE  # the schedule moved on at its slot
    assert earliest_due() == due

    dispatch_due(now=due - timedelta(milliseconds=1))
    assert JobRun.objects.get(pk=run.pk).status == "scheduled"

    dispatch_due(now=due)
    run.refresh_from_db()
    assert (run.status, run.queued_at, run.slot) == ("queued", due, slot)
    assert OrmQ.objects.count() == 1


def test_a_jittered_run_meets_the_overlap_policy_when_it_is_due():
    schedule = make_schedule(now=T0, jitter_seconds=50)
    first_slot, second_slot = T0 + MINUTE, T0 + 2 * MINUTE
    dispatch_due(now=jittered_due_at(schedule, first_slot))  # the first slot's run is queued (in flight)
    dispatch_due(now=second_slot)

    dispatch_due(now=jittered_due_at(schedule, second_slot))

    second = JobRun.objects.get(schedule=schedule, slot=second_slot)
    assert second.status == "skipped"  # overlap "skip": the first run is still queued


def test_a_jittered_run_waiting_for_its_delay_is_not_missed():
    schedule = make_schedule(now=T0, interval_seconds=3600, jitter_seconds=600, misfire_grace_seconds=60)
    dispatch_due(now=T0 + timedelta(hours=1))
    due = JobRun.objects.get(schedule=schedule).due_at

    assert find_missed_runs(due - timedelta(seconds=1)) == []
    assert [item.kind for item in find_missed_runs(due + timedelta(seconds=61))] == ["not_started"]


def test_the_jitter_must_stay_below_the_interval_and_within_a_day():
    schedule = Schedule(
        job_name="tests.record", trigger_kind="interval", interval_seconds=60, jitter_seconds=60
    )
    with pytest.raises(ValidationError) as raised:
        schedule.full_clean(exclude=["owner"])
    assert "below the interval" in raised.value.message_dict["jitter_seconds"][0]

    schedule = Schedule(job_name="tests.record", cron_expression="0 3 * * *", jitter_seconds=86401)
    with pytest.raises(ValidationError) as raised:
        schedule.full_clean(exclude=["owner"])
    assert raised.value.message_dict == {"jitter_seconds": ["At most 86400 s (one day)."]}
