"""How a run ends: the conditional status change, then what follows (retry or the final-failure signal, the
run queued behind)."""

import logging
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from django.db import transaction

from jobs.models import JobRun, Schedule
from jobs.policies import OverlapPolicy
from jobs.retries import policy_for, schedule_retry
from jobs.signals import run_failed
from jobs.wakeup import wake_dispatchers

logger = logging.getLogger(__name__)

FAILURES = (JobRun.Status.FAILED, JobRun.Status.TIMED_OUT, JobRun.Status.LOST)


def finish_run(
    run: JobRun,
    *,
    status: str,
    now: datetime,
    error: str = "",
    traceback: str = "",
    result: Any = None,
    expected: str = JobRun.Status.RUNNING,
) -> bool:
    """Move ``run`` from ``expected`` to the final ``status``; False if it was no longer ``expected``.

    A failure (failed, timed out, lost) creates the retry run when attempts are left, or sends
    ``jobs.signals.run_failed`` in the same transaction when none are (the owner's e-mail follows from
    it). A run queued behind this one (overlap policy ``queue``) becomes due at once.
    """
    duration = now - run.started_at if run.started_at else None
    # A success is one statement in autocommit (the hot path: one round trip fewer per run); a failure
    # and its retry run commit together, so a crash between them cannot lose the retry.
    with transaction.atomic() if status in FAILURES else nullcontext():
        changed = JobRun.objects.filter(pk=run.pk, status=expected).update(
            status=status, finished_at=now, duration=duration, error=error, traceback=traceback, result=result
        )
        if not changed:
            logger.warning("event=finish_refused run=%s wanted=%s expected=%s", run.pk, status, expected)
            return False
        run.status, run.finished_at, run.duration = status, now, duration
        run.error, run.traceback, run.result = error, traceback, result
        if run.schedule_id is not None and (run.schedule is None or run.schedule.last_status != status):
            Schedule.objects.filter(pk=run.schedule_id).update(last_status=status)
        follow_up = None
        if status in FAILURES:
            follow_up = schedule_retry(run, now=now, policy=policy_for(run.schedule, run.job_name))
            if follow_up is None:
                run_failed.send(sender=JobRun, run=run)
        if promote_queued_behind(run, now=now) or follow_up is not None:
            transaction.on_commit(wake_dispatchers)
    return True


def promote_queued_behind(run: JobRun, *, now: datetime) -> bool:
    """Make the oldest run waiting behind ``run`` (overlap ``queue``) due now; True if there was one."""
    if run.schedule is None or run.schedule.overlap_policy != OverlapPolicy.QUEUE:
        return False
    waiting = (
        JobRun.objects.filter(schedule_id=run.schedule_id, status=JobRun.Status.SCHEDULED, due_at__gt=now)
        .exclude(trigger=JobRun.Trigger.RETRY)
        .order_by("slot")
        .values_list("pk", flat=True)
        .first()
    )
    if waiting is None:
        return False
    return bool(JobRun.objects.filter(pk=waiting, status=JobRun.Status.SCHEDULED).update(due_at=now))
