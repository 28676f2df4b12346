"""The registered backup job: thin, it hands the owner to ``backups.services.take_backup``."""

import time
from collections.abc import Callable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from backups import policy, services
from backups.schedules import ensure_backup_schedules
from jobs.models import JobRun, Schedule
from jobs.policies import OverlapPolicy
from jobs.registry import JobContext, job
from jobs.retries import policy_for

HEARTBEAT_EVERY_SECONDS = 5.0


@job(
    policy.JOB_NAME,
    per_owner=True,
    overlap=policy.OVERLAP,
    overlap_retry_delay=policy.RECHECK_AFTER,
    misfire=policy.MISFIRE,
    timeout=policy.BACKUP_TIMEOUT,
    ensure_schedules=ensure_backup_schedules,
)
def run_backup(ctx: JobContext, codec: str = services.DEFAULT_CODEC, **kwargs) -> dict:
    """Back up the owner (full database for the global owner, tenant export otherwise), verify, prune."""
    outcome = services.take_backup(
        owner_id=ctx.owner_id, job_run_id=ctx.run_id, codec=codec, progress=heartbeat_progress(ctx.heartbeat)
    )
    if outcome.skipped:
        skip_run(ctx, outcome)
    return outcome.summary()


def skip_run(
    ctx: JobContext, outcome: services.BackupOutcome, *, now: datetime | None = None
) -> JobRun | None:
    """Record this run as skipped because the owner's backup is running elsewhere; maybe recheck later.

    The dispatcher already skips a slot whose schedule has a run in flight; this covers the races it
    cannot see (a manual run, ``backup now --wait``, two dispatchers): the database's one-running-backup
    rule decided, and the run says so. The runner's own finish is conditional on ``running``, so it
    leaves the skipped status alone when the job returns. A scheduled run (or a recheck of one) under
    ``skip_and_retry`` gets a follow-up run after the schedule's retry delay (one hour), unless the next
    regular slot comes first. Returns that follow-up run, if any.
    """
    now = now or timezone.now()
    run = JobRun.objects.select_related("schedule").get(pk=ctx.run_id)
    message = f"Skipped: {outcome.reason}."
    with transaction.atomic():
        # Conditional, like the runner's own flips: only a run still in flight becomes skipped.
        JobRun.objects.filter(pk=run.pk, status__in=JobRun.IN_FLIGHT).update(
            status=JobRun.Status.SKIPPED,
            finished_at=now,
            duration=now - (run.started_at or now),
            error=message,
            result=outcome.summary(),
        )
        schedule = run.schedule
        if schedule is not None:
            Schedule.objects.filter(pk=schedule.pk).update(last_status=JobRun.Status.SKIPPED)
        if schedule is None or run.trigger not in (JobRun.Trigger.SCHEDULED, JobRun.Trigger.RETRY):
            return None
        policy = policy_for(schedule, run.job_name)
        if policy.overlap != OverlapPolicy.SKIP_AND_RETRY:
            return None
        recheck_at = now + policy.overlap_retry_delay
        if schedule.next_run_at is not None and schedule.next_run_at <= recheck_at:
            return None  # the next regular slot tries again anyway
        try:
            with transaction.atomic():
                recheck = run.next_attempt(due_at=recheck_at)
                recheck.save()
                return recheck
        except IntegrityError:
            return None  # that recheck exists already


def heartbeat_progress(heartbeat: Callable[[], None]) -> Callable[..., None]:
    """A progress callback for the engines that proves the run alive every few seconds, not every chunk."""
    last: float | None = None

    def progress(*args, **kwargs) -> None:
        nonlocal last
        # The first chunk beats at once: the dump has really started.
        if last is None or time.monotonic() - last >= HEARTBEAT_EVERY_SECONDS:
            last = time.monotonic()
            heartbeat()

    return progress
