"""Misfire policies: which slots of a late schedule run, given a controlled ``now``."""

from datetime import timedelta

from jobs.models import Schedule, TriggerKind
from jobs.planning import plan_slots
from jobs.policies import MisfirePolicy
from tests.jobs.builders import T0

MINUTE = timedelta(minutes=1)


def every_minute(policy: str, *, grace_seconds: int = 30, catch_up_limit: int = 10) -> Schedule:
    return Schedule(
        job_name="tests.record",
        trigger_kind=TriggerKind.INTERVAL,
        interval_seconds=60,
        interval_anchor=T0,
        misfire_policy=policy,
        misfire_grace_seconds=grace_seconds,
        catch_up_limit=catch_up_limit,
        next_run_at=T0,
    )


def test_a_slot_that_is_just_due_runs_and_the_next_slot_follows():
    plan = plan_slots(every_minute(MisfirePolicy.SKIP), T0 + timedelta(milliseconds=5))
    assert plan.slots == [T0]
    assert plan.next_run_at == T0 + MINUTE


def test_a_late_slot_within_the_grace_period_still_runs_under_skip():
    plan = plan_slots(every_minute(MisfirePolicy.SKIP, grace_seconds=30), T0 + timedelta(seconds=29))
    assert plan.slots == [T0]


def test_skip_drops_slots_missed_beyond_the_grace_period():
    plan = plan_slots(every_minute(MisfirePolicy.SKIP), T0 + 5 * MINUTE + timedelta(seconds=40))
    assert plan.slots == []
    assert plan.missed_dropped == 6
    assert plan.next_run_at == T0 + 6 * MINUTE


def test_run_once_folds_all_missed_slots_into_one_run_for_the_latest():
    plan = plan_slots(every_minute(MisfirePolicy.RUN_ONCE), T0 + 5 * MINUTE + timedelta(seconds=40))
    assert plan.slots == [T0 + 5 * MINUTE]
    assert plan.next_run_at == T0 + 6 * MINUTE


def test_run_once_adds_nothing_when_an_on_time_slot_runs_anyway():
    plan = plan_slots(every_minute(MisfirePolicy.RUN_ONCE), T0 + 5 * MINUTE + timedelta(seconds=10))
    assert plan.slots == [T0 + 5 * MINUTE]


def test_catch_up_runs_every_missed_slot_in_order():
    plan = plan_slots(every_minute(MisfirePolicy.CATCH_UP), T0 + 3 * MINUTE + timedelta(seconds=40))
    assert plan.slots == [T0, T0 + MINUTE, T0 + 2 * MINUTE, T0 + 3 * MINUTE]


def test_catch_up_is_bounded_by_the_catch_up_limit():
    schedule = every_minute(MisfirePolicy.CATCH_UP, catch_up_limit=3)
    plan = plan_slots(schedule, T0 + 100 * MINUTE + timedelta(seconds=40))
    assert plan.slots == [T0, T0 + MINUTE, T0 + 2 * MINUTE]
    assert plan.next_run_at == T0 + 101 * MINUTE


def test_a_long_outage_of_a_frequent_schedule_is_not_walked_slot_by_slot():
    schedule = every_minute(MisfirePolicy.RUN_ONCE, grace_seconds=0)
    schedule.interval_seconds = 1
    plan = plan_slots(schedule, T0 + timedelta(days=2))
    assert plan.slots == [T0 + timedelta(days=2)]
    assert plan.next_run_at == T0 + timedelta(days=2, seconds=1)


def test_a_finished_one_off_schedule_has_no_next_slot():
    schedule = Schedule(job_name="tests.record", trigger_kind=TriggerKind.ONCE, run_at=T0, next_run_at=T0)
    plan = plan_slots(schedule, T0 + timedelta(seconds=1))
    assert plan.slots == [T0]
    assert plan.next_run_at is None
