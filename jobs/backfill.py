"""Backfill (Temporal, Airflow): run the slots a schedule had between two past moments, each exactly once.

One run per slot of the schedule's trigger in [start, end] (its window and excluded dates apply), with
trigger ``backfill``: the schedule's job, owner and arguments, the slot it stands for, due now. A slot that
already has a run (its regular run, or an earlier backfill's) is skipped. The unique (schedule, slot,
attempt) constraint decides, so two backfills at once never double a slot.

The backfill's own overlap choice:

- one after another (the default): the runs wait for each other, oldest slot first, and for any run of
  the schedule in flight; each is released when the one before it ends (``jobs.retries.policy_for_run``);
- all at once: every run is queued and handed to the broker in the backfill's own transaction.

Either way the schedule's regular slots meet the backfill's runs as they meet any run of the schedule
(its overlap policy), and each run follows the schedule's retry and timeout policies.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction

from jobs.bulk import insert_skipping_conflicts
from jobs.handoff import enqueue_runs, new_task_id
from jobs.models import JobRun, JobSwitch, Schedule
from jobs.registry import UnknownJobError, get_job
from jobs.retries import policy_for
from jobs.triggers import InvalidTrigger, next_fire_after
from jobs.wakeup import wake_dispatchers

logger = logging.getLogger(__name__)

# One backfill makes at most this many runs (a year of hourly slots); larger ranges go in pieces.
MAX_BACKFILL_SLOTS = 10_000
_TICK = timedelta(microseconds=1)


class BackfillOverlap(models.TextChoices):
    ONE_AFTER_ANOTHER = "one_after_another", "One after another, oldest slot first"
    ALL_AT_ONCE = "all_at_once", "All at once, side by side"


class BackfillRefused(ValueError):
    """A backfill that cannot be made as asked; the message says why, for the admin or the command line."""


@dataclass(frozen=True)
class BackfillReport:
    schedule_id: int
    slots: int  # slots of the schedule in the range
    created: int  # runs made now; the other slots already had one

    @property
    def skipped(self) -> int:
        return self.slots - self.created

    def __str__(self) -> str:
        if not self.slots:
            return f"Schedule {self.schedule_id} has no slot in that range."
        return (
            f"Schedule {self.schedule_id}: {self.created} backfill runs for {self.slots} slots "
            f"({self.skipped} already had a run)."
        )


def backfill_slots(schedule: Schedule, *, start: datetime, end: datetime) -> list[datetime]:
    """The schedule's slots in [start, end], oldest first; BackfillRefused beyond ``MAX_BACKFILL_SLOTS``."""
    for name, moment in (("start", start), ("end", end)):
        if moment.utcoffset() is None:
            raise BackfillRefused(f"The {name} of a backfill needs a time zone.")
    if end < start:
        raise BackfillRefused("The end of a backfill must not come before its start.")
    slots: list[datetime] = []
    slot = _next_slot(schedule, start - _TICK)
    while slot is not None and slot <= end:
        if len(slots) == MAX_BACKFILL_SLOTS:
            raise BackfillRefused(
                f"Schedule {schedule.pk} has more than {MAX_BACKFILL_SLOTS} slots between "
                f"{start.isoformat()} and {end.isoformat()}; backfill at most {MAX_BACKFILL_SLOTS} slots at "
                "once (a shorter range)."
            )
        slots.append(slot)
        slot = _next_slot(schedule, slot)
    return slots


def _next_slot(schedule: Schedule, after: datetime) -> datetime | None:
    try:
        return next_fire_after(schedule, after)
    except (InvalidTrigger, ValueError) as invalid:
        raise BackfillRefused(f"Schedule {schedule.pk}'s trigger cannot be used: {invalid}") from None


def backfill(
    *,
    schedule: Schedule,
    start: datetime,
    end: datetime,
    now: datetime,
    overlap: str = BackfillOverlap.ONE_AFTER_ANOTHER,
) -> BackfillReport:
    """Make a ``backfill`` run for each slot of ``schedule`` in [start, end] that has no run yet.

    ``end`` must not lie after ``now`` (future slots are the schedule's own business). Raises
    ``BackfillRefused`` for what cannot be done: an unknown or switched-off job, dispatching switched off,
    a range in the future or the wrong way round, more than ``MAX_BACKFILL_SLOTS`` slots.
    """
    _check_can_run(schedule, end=end, now=now, overlap=overlap)
    slots = backfill_slots(schedule, start=start, end=end)
    runs = [
        JobRun.of_schedule(schedule, slot=slot, trigger=JobRun.Trigger.BACKFILL, due_at=now) for slot in slots
    ]
    with transaction.atomic():
        taken = set(
            JobRun.objects.filter(schedule=schedule, attempt=1, slot__gte=start, slot__lte=end).values_list(
                "slot", flat=True
            )
        )
        new_runs = [run for run in runs if run.slot not in taken]
        if overlap == BackfillOverlap.ALL_AT_ONCE:
            for run in new_runs:
                run.queue(now=now, task_id=new_task_id(), held=True)
        created = insert_skipping_conflicts(new_runs)
        if overlap == BackfillOverlap.ALL_AT_ONCE:
            timeout = policy_for(schedule, schedule.job_name).timeout_seconds
            enqueue_runs([(run, timeout) for run in created])
        elif created:
            transaction.on_commit(wake_dispatchers)
    report = BackfillReport(schedule_id=schedule.pk, slots=len(slots), created=len(created))
    logger.info(
        "event=backfill schedule=%s slots=%s created=%s overlap=%s",
        schedule.pk,
        report.slots,
        report.created,
        overlap,
    )
    return report


def _check_can_run(schedule: Schedule, *, end: datetime, now: datetime, overlap: str) -> None:
    if overlap not in BackfillOverlap.values:
        choices = ", ".join(BackfillOverlap.values)
        raise BackfillRefused(f"Unknown overlap choice {overlap!r}; choose one of {choices}.")
    try:
        get_job(schedule.job_name)
    except UnknownJobError as unknown:
        raise BackfillRefused(f"Schedule {schedule.pk}: {unknown}") from None
    if JobSwitch.objects.filter(job_name=schedule.job_name, enabled=False).exists():
        raise BackfillRefused(f"The job {schedule.job_name} is switched off; switch it on to backfill it.")
    if not settings.JOBS_ENABLED:
        raise BackfillRefused("Dispatching is switched off (JOBS_ENABLED): a backfill would not run.")
    if end.utcoffset() is not None and end > now:
        raise BackfillRefused(
            f"The end ({end.isoformat()}) lies in the future: a backfill covers past slots; the schedule "
            "runs the coming ones itself."
        )
