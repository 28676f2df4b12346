"""Schedules kept by code (``Schedule.managed_by``): what keeps each one, and what people may change on it.

A managed schedule is derived from something else, so the admin shows its derived fields read-only, says
what it is derived from, and does not let it be deleted (the keeper would only create it again). Code that
derives schedules says what it is with ``describe_keeper`` (backups.schedules does, for owner settings).
"""

from collections.abc import Callable

from jobs.models import TRIGGER_FIELDS, Schedule

# What jobs.services.sync_default_schedules writes on a job's own default schedule.
JOB_DEFAULTS = "jobs"

# What code derives on a managed schedule; a hand edit would be overwritten or contradict its source.
MANAGED_FIELDS = (
    "job_name",
    "owner",
    "key",
    "label",
    *TRIGGER_FIELDS,
    "enabled",
    "overlap_policy",
    "overlap_retry_delay_seconds",
    "timeout_seconds",
)


def _job_default(schedule: Schedule) -> str:
    return (
        f"the default schedule of the job {schedule.job_name}, declared with the job in its code and "
        "created at start-up when missing; its timing changes with the job's code"
    )


_KEEPERS: dict[str, Callable[[Schedule], str]] = {JOB_DEFAULTS: _job_default}


def describe_keeper(managed_by: str, explain: Callable[[Schedule], str]) -> None:
    """Say what keeps the schedules marked ``managed_by``: ``explain(schedule)`` is a phrase for people."""
    _KEEPERS[managed_by] = explain


def managed_note(schedule: Schedule) -> str:
    """One paragraph for the admin: what keeps this managed schedule and what may still be done with it."""
    explain = _KEEPERS.get(schedule.managed_by)
    source = explain(schedule) if explain else f"code ({schedule.managed_by})"
    return (
        f"Managed: this is {source}. Its trigger and the fields shown read-only follow from there, "
        "and it cannot be deleted here (it would only be created again). You may pause it, run it now, "
        "backfill it and change its retry, misfire and start-up policies, its window and its jitter."
    )
