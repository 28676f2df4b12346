"""Which slots of a due schedule become runs, and when each may start.

The misfire policy, applied to a controlled ``now``: a slot is *on time* while it is at most the grace
period old; on-time slots always run (late, but run). Older slots were *missed* (the dispatchers were down):
``run_once`` folds them into one run (none if an on-time slot runs anyway), ``skip`` drops them,
``catch_up`` runs the earliest ``catch_up_limit`` of them.

The schedule's jitter: each slot's run may start up to ``jitter_seconds`` after its slot, at a point that
looks random but is repeatable (a hash of the schedule and the slot), so any dispatcher computes the same.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from jobs.models import Schedule
from jobs.policies import MisfirePolicy
from jobs.triggers import is_within_window, next_fire_after

# One claim handles at most this many on-time slots of one schedule; the rest wait for the next claim.
MAX_SLOTS_PER_CLAIM = 100
# Missed slots walked one by one for run_once; beyond this we jump to the on-time window.
MAX_MISSED_WALK = 1000

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class SlotPlan:
    slots: list[datetime]
    missed_dropped: int
    next_run_at: datetime | None


def plan_slots(schedule: Schedule, now: datetime) -> SlotPlan:
    """The slots from ``schedule.next_run_at`` up to ``now`` that should run, and the next slot after them."""
    grace = timedelta(seconds=schedule.misfire_grace_seconds)
    policy = schedule.misfire_policy
    missed_cutoff = now - grace
    walk_limit = schedule.catch_up_limit if policy == MisfirePolicy.CATCH_UP else MAX_MISSED_WALK

    missed: list[datetime] = []
    slot = schedule.next_run_at
    if slot is not None and not is_within_window(schedule, slot):
        # Written before the window changed (a bulk update that skipped save()): the window wins.
        slot = next_fire_after(schedule, slot)
    while slot is not None and slot < missed_cutoff and len(missed) < walk_limit:
        missed.append(slot)
        slot = next_fire_after(schedule, slot)
    beyond_walk = 0
    if slot is not None and slot < missed_cutoff:
        # Too many missed slots to count one by one: go straight to the first on-time one.
        beyond_walk = 1
        slot = next_fire_after(schedule, missed_cutoff - _TICK)

    on_time: list[datetime] = []
    while slot is not None and slot <= now and len(on_time) < MAX_SLOTS_PER_CLAIM:
        on_time.append(slot)
        slot = next_fire_after(schedule, slot)

    if policy == MisfirePolicy.CATCH_UP:
        chosen_missed = missed
    elif policy == MisfirePolicy.RUN_ONCE and missed and not on_time:
        chosen_missed = missed[-1:]
    else:
        chosen_missed = []
    return SlotPlan(
        slots=chosen_missed + on_time,
        missed_dropped=len(missed) - len(chosen_missed) + beyond_walk,
        next_run_at=slot,
    )


def jittered_due_at(schedule: Schedule, slot: datetime) -> datetime:
    """When the run of ``slot`` may start: the slot, plus up to ``jitter_seconds`` (whole milliseconds).

    Spread evenly over [0, jitter) across slots and schedules, and the same for every dispatcher that
    computes it.
    """
    if not schedule.jitter_seconds:
        return slot
    digest = hashlib.sha256(f"jitter:{schedule.pk}:{slot.isoformat()}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return slot + timedelta(milliseconds=int(fraction * schedule.jitter_seconds * 1000))
