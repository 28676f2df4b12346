"""Schedules and runs for the engine's tests, with a controlled clock."""

from datetime import UTC, datetime

from jobs.models import EngineProcess, JobRun, Schedule, TriggerKind
from tenants.models import GLOBAL_OWNER_ID

T0 = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    """``datetime(*args)`` in UTC: ``utc(2026, 3, 29, 1, 30)``."""
    return datetime(*args, tzinfo=UTC)


def make_schedule(job_name: str = "tests.record", *, now: datetime = T0, **fields) -> Schedule:
    """A saved schedule; by default every 60 seconds from ``now`` (so its first slot is now + 60 s)."""
    fields.setdefault("owner_id", GLOBAL_OWNER_ID)
    fields.setdefault("key", f"k{Schedule.objects.count() + 1}")
    if "cron_expression" in fields:
        fields.setdefault("trigger_kind", TriggerKind.CRON)
    elif "run_at" in fields:
        fields.setdefault("trigger_kind", TriggerKind.ONCE)
    else:
        fields.setdefault("trigger_kind", TriggerKind.INTERVAL)
        fields.setdefault("interval_seconds", 60)
        fields.setdefault("interval_anchor", now)
    schedule = Schedule(job_name=job_name, **fields)
    schedule.full_clean(exclude=["owner"])
    schedule.save(now=now)
    return schedule


def make_run(
    schedule: Schedule | None = None, *, status: str = JobRun.Status.QUEUED, slot=T0, **fields
) -> JobRun:
    fields.setdefault("job_name", schedule.job_name if schedule else "tests.record")
    fields.setdefault("owner_id", schedule.owner_id if schedule else GLOBAL_OWNER_ID)
    fields.setdefault("kwargs", schedule.kwargs if schedule else {})
    fields.setdefault("due_at", slot)
    fields.setdefault("queued_at", slot if status != JobRun.Status.SCHEDULED else None)
    return JobRun.objects.create(schedule=schedule, status=status, slot=slot, **fields)


def make_engine_process(
    *, now: datetime = T0, runs_dispatcher: bool = True, workers: int = 2, queues=("default",), **fields
) -> EngineProcess:
    """A qcluster (or, with ``workers=0``, a ``jobs dispatch``) beating at ``now``, on another host."""
    fields.setdefault("host", "elsewhere")
    fields.setdefault("pid", 4242)
    return EngineProcess.objects.create(
        started_at=now,
        last_beat_at=now,
        runs_dispatcher=runs_dispatcher,
        workers=workers,
        queues=list(queues),
        **fields,
    )


def schedule_form_data(**fields) -> dict:
    """What the admin's schedule form posts for an enabled schedule with the usual policies (and no
    arguments, in UTC); ``fields`` add the job, key and trigger, or replace any of these."""
    return {
        "kwargs": "{}",
        "timezone": "UTC",
        "enabled": "on",
        "overlap_policy": "skip",
        "overlap_retry_delay_seconds": 3600,
        "misfire_policy": "run_once",
        "misfire_grace_seconds": 300,
        "catch_up_limit": 10,
        "max_attempts": 1,
        "retry_backoff_seconds": 30,
        "pause_after_failures": 0,
        "jitter_seconds": 0,
        **fields,
    }
