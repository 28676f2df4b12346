"""Writes to schedules and runs that people (admin, commands) and start-up ask for.

Every function takes keyword arguments and ``now``, runs in one transaction, and wakes the dispatchers
after commit so that the change takes effect at once.
"""

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q

from jobs.managed import JOB_DEFAULTS
from jobs.models import JobRun, Schedule, TriggerKind
from jobs.outcomes import FAILURES, record_cancelled
from jobs.registry import JobDefinition, check_owner_may_run, get_job, registered_jobs
from jobs.wakeup import wake_dispatchers
from tenants.models import GLOBAL_OWNER_ID, Owner

logger = logging.getLogger(__name__)

# Dispatchers starting within this long of each other (one deployment) share one start-up run.
STARTUP_WINDOW = timedelta(minutes=1)
DEFAULT_KEY = "default"


def run_now(
    *, job_name: str, owner_id: int = GLOBAL_OWNER_ID, schedule: Schedule | None = None, now: datetime
) -> JobRun:
    """Ask for a manual run, due now; the dispatcher admits it through the overlap policy like any run.

    Without a ``schedule``, the owner's default schedule of the job (if any) lends its kwargs and policies.
    Raises ``UnknownJobError`` for a name no job is registered under, ``GlobalJobError`` for a job that
    works on every owner asked for another owner than the global one.
    """
    get_job(job_name)
    check_owner_may_run(job_name, schedule.owner_id if schedule is not None else owner_id)
    if schedule is None:
        schedule = Schedule.objects.filter(job_name=job_name, owner_id=owner_id, key=DEFAULT_KEY).first()
    if schedule is not None:
        run = JobRun.of_schedule(schedule, slot=now, trigger=JobRun.Trigger.MANUAL)
    else:
        run = JobRun.planned(job_name=job_name, owner_id=owner_id, slot=now, trigger=JobRun.Trigger.MANUAL)
    with transaction.atomic():
        run.save(force_insert=True)
        transaction.on_commit(wake_dispatchers)
    logger.info("event=run_requested run=%s job=%s owner=%s", run.pk, job_name, run.owner_id)
    return run


class RunStateRefused(ValueError):
    """The run is not in a state that allows what was asked (cancel a finished run, retry a success)."""


def cancel_run(*, run: JobRun, now: datetime, reason: str) -> str:
    """Cancel ``run``: a waiting or queued one at once, a running one within one heartbeat.

    A running run is asked to stop (``cancel_requested_at``); its worker's next heartbeat sees it and the
    job ends ``cancelled`` at its next check (or is interrupted one heartbeat later). Returns the run's
    status now: ``cancelled``, or ``running`` while the worker stops it. Raises ``RunStateRefused`` for a
    run that has already ended.
    """
    if record_cancelled(run, now=now, reason=reason, not_started=True):
        logger.info("event=run_cancelled run=%s reason=%s", run.pk, reason)
        return run.status
    if run.request_cancel(now=now, reason=reason):
        logger.info("event=run_cancel_requested run=%s reason=%s", run.pk, reason)
        return JobRun.Status.RUNNING
    run.refresh_from_db(fields=["status", "cancel_requested_at"])
    if run.status == JobRun.Status.RUNNING:
        return run.status  # asked already; its worker is stopping it
    raise RunStateRefused(
        f"Run {run.pk} is {run.status}; only a waiting, queued or running run can be cancelled."
    )


def retry_run(*, run: JobRun, now: datetime) -> JobRun:
    """A new attempt of a failed, lost or timed-out run, due now and linked to it (``retry_of``).

    It takes the slot's next free attempt number (an automatic retry may exist already) and goes through
    the dispatcher like any run. Raises ``RunStateRefused`` for any other status and ``UnknownJobError``
    when the job is no longer registered.
    """
    if run.status not in FAILURES:
        raise RunStateRefused(
            f"Run {run.pk} is {run.status}; only a failed, lost or timed-out run can be retried."
        )
    get_job(run.job_name)
    taken = JobRun.objects.filter(schedule_id=run.schedule_id, slot=run.slot).order_by("-attempt")
    attempt = max(run.attempt, taken.values_list("attempt", flat=True).first() or 0) + 1
    for _ in range(3):
        retry = run.next_attempt(due_at=now, attempt=attempt)
        try:
            with transaction.atomic():
                retry.save()
                transaction.on_commit(wake_dispatchers)
        except IntegrityError:
            holder = JobRun.key_holder(
                owner_id=run.owner_id, job_name=run.job_name, unique_key=run.unique_key
            )
            if holder is not None:
                raise RunStateRefused(
                    f"Run {run.pk}'s unique key is held by run {holder.pk} ({holder.status}); retry it once "
                    "that run has ended."
                ) from None
            attempt += 1  # another retry of the slot took that number a moment ago
            continue
        logger.info("event=run_retry_requested run=%s retry=%s attempt=%s", run.pk, retry.pk, attempt)
        return retry
    raise RunStateRefused(f"Run {run.pk}: other retries of its slot keep appearing; try again.")


def pause(*, schedule: Schedule, now: datetime) -> None:
    """Stop creating runs for ``schedule`` until resumed; slots in between are not made up."""
    if schedule.paused_at is None:
        schedule.paused_at = now
        schedule.save(now=now)


def resume(*, schedule: Schedule, now: datetime) -> None:
    """Create runs again, from the first slot after ``now``; a pause on failure ends with its streak."""
    if schedule.paused_at is not None:
        schedule.paused_at = None
        schedule.paused_reason = ""
        schedule.consecutive_failures = 0
        schedule.save(now=now)


def sync_default_schedules(*, now: datetime) -> list[Schedule]:
    """Create the missing default schedules of registered jobs that declare a trigger.

    One schedule for the global owner, or one per active owner for ``per_owner`` jobs. Existing rows are
    left as they are: people may have edited them. Jobs whose schedules come from data get their
    ``ensure_schedules`` hook called. Returns the default schedules created.
    """
    created = []
    active_owner_ids = None
    for definition in registered_jobs():
        if definition.ensure_schedules is not None:
            definition.ensure_schedules(now=now)
        if not definition.has_default_schedule:
            continue
        if definition.per_owner:
            if active_owner_ids is None:
                active_owner_ids = list(Owner.objects.filter(is_active=True).values_list("pk", flat=True))
            owner_ids = active_owner_ids
        else:
            owner_ids = [GLOBAL_OWNER_ID]
        existing = set(
            Schedule.objects.filter(job_name=definition.name, key=DEFAULT_KEY).values_list(
                "owner_id", flat=True
            )
        )
        for owner_id in owner_ids:
            if owner_id in existing:
                continue
            schedule = default_schedule(definition, owner_id)
            try:
                with transaction.atomic():
                    schedule.save(now=now)
            except IntegrityError:
                continue  # another process created it a moment ago
            created.append(schedule)
    if created:
        logger.info("event=default_schedules_created count=%s", len(created))
    return created


def default_schedule(definition: JobDefinition, owner_id: int) -> Schedule:
    """An unsaved Schedule carrying the job's default trigger and policies."""
    trigger = (
        {"trigger_kind": TriggerKind.CRON, "cron_expression": definition.cron}
        if definition.cron
        else {"trigger_kind": TriggerKind.INTERVAL, "interval_seconds": int(definition.every.total_seconds())}
    )
    return Schedule(
        job_name=definition.name,
        owner_id=owner_id,
        key=DEFAULT_KEY,
        timezone=definition.timezone,
        overlap_policy=definition.overlap,
        overlap_retry_delay_seconds=int(definition.overlap_retry_delay.total_seconds()),
        misfire_policy=definition.misfire,
        misfire_grace_seconds=int(definition.misfire_grace.total_seconds()),
        catch_up_limit=definition.catch_up_limit,
        max_attempts=definition.max_attempts,
        retry_backoff_seconds=int(definition.retry_backoff.total_seconds()),
        timeout_seconds=int(definition.timeout.total_seconds()) if definition.timeout else None,
        startup_delay_seconds=int(definition.startup_delay.total_seconds())
        if definition.startup_delay
        else None,
        run_on_start=definition.run_on_start,
        managed_by=JOB_DEFAULTS,
        **trigger,
    )


def request_startup_runs(*, now: datetime) -> list[JobRun]:
    """Create the start-up run of each active run-on-start schedule, once per deployment.

    Several dispatchers starting together race on a conditional UPDATE of ``startup_requested_at``: only
    the one that changes the row inserts a run, due ``startup_delay_seconds`` after ``now``.
    """
    created = []
    stale_before = now - STARTUP_WINDOW
    candidates = Schedule.objects.filter(run_on_start=True, enabled=True, paused_at__isnull=True)
    for schedule in candidates.only("pk", "job_name", "owner_id", "kwargs", "startup_delay_seconds"):
        due = now + timedelta(seconds=schedule.startup_delay_seconds or 0)
        with transaction.atomic():
            won = (
                Schedule.objects.filter(pk=schedule.pk)
                .filter(Q(startup_requested_at__isnull=True) | Q(startup_requested_at__lt=stale_before))
                .update(startup_requested_at=now)
            )
            if not won:
                continue
            run = JobRun.of_schedule(schedule, slot=due, trigger=JobRun.Trigger.STARTUP)
            run.save(force_insert=True)
            created.append(run)
    return created
