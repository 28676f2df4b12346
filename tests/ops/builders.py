"""Schedules and runs for the operations tests, written straight to the database where time matters."""

import itertools
from datetime import datetime, timedelta

from jobs.models import JobRun, Schedule
from tenants.models import Owner

_keys = itertools.count(1)


def make_schedule(
    owner: Owner,
    *,
    job_name: str = "ops.test_job",
    cron: str = "0 * * * *",
    next_run_at: datetime | None = None,
    grace: timedelta = timedelta(minutes=5),
    **fields,
) -> Schedule:
    """A cron schedule; ``next_run_at`` replaces the computed slot (to simulate a stalled engine)."""
    schedule = Schedule.objects.create(
        owner=owner,
        job_name=job_name,
        key=fields.pop("key", f"k{next(_keys)}"),
        cron_expression=cron,
        misfire_grace_seconds=int(grace.total_seconds()),
        **fields,
    )
    if next_run_at is not None:
        Schedule.objects.filter(pk=schedule.pk).update(next_run_at=next_run_at)
        schedule.next_run_at = next_run_at
    return schedule


def make_run(
    schedule: Schedule,
    *,
    slot: datetime,
    status: str = JobRun.Status.SUCCEEDED,
    duration: timedelta | None = timedelta(seconds=2),
    attempt: int = 1,
    **fields,
) -> JobRun:
    finished = status in JobRun.FINISHED and status not in (JobRun.Status.SKIPPED, JobRun.Status.CANCELLED)
    return JobRun.objects.create(
        schedule=schedule,
        owner_id=schedule.owner_id,
        job_name=schedule.job_name,
        slot=slot,
        due_at=fields.pop("due_at", slot),
        status=status,
        attempt=attempt,
        started_at=fields.pop("started_at", slot if finished else None),
        finished_at=fields.pop("finished_at", slot + duration if finished and duration else None),
        duration=duration if finished else None,
        **fields,
    )
