"""How a run ends: its final transition, then what follows from it.

Each ``record_*`` function applies one of ``JobRun``'s transitions and, only if it won, the consequences:
the schedule's last status and failure streak (maybe pausing it), after a failure a retry or the
final-failure signal (``jobs.signals.run_failed``, in the same transaction), one recheck after a skip that
asked for it, and the run waiting behind this one (overlap ``queue`` and ``replace``). They return False
when the run was no longer in a state to end that way (another process ended it first), and then do
nothing else.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from jobs.models import JobRun
from jobs.policies import OverlapPolicy
from jobs.retries import policy_for, recheck_after_skip, schedule_retry
from jobs.signals import run_failed
from jobs.wakeup import needs_wake_up, wake_dispatchers

logger = logging.getLogger(__name__)

FAILURES = (JobRun.Status.FAILED, JobRun.Status.TIMED_OUT, JobRun.Status.LOST)
# Policies under which a run waits behind the one in flight, and is released when that one ends.
WAITING_POLICIES = (OverlapPolicy.QUEUE, OverlapPolicy.REPLACE)


def record_success(run: JobRun, *, now: datetime, result: Any = None) -> bool:
    """The run succeeded with ``result``: one statement in autocommit, the runner's hot path."""
    if not run.succeed(now=now, result=result):
        return _refused(run, JobRun.Status.SUCCEEDED)
    _settle(run, now=now)
    return True


def record_failure(run: JobRun, *, status: str, now: datetime, error: str, traceback: str = "") -> bool:
    """The run failed, timed out or was lost; a retry follows when attempts are left, else
    ``run_failed`` is sent in the same transaction (the owner's e-mail follows from it).

    The transition and the retry run commit together, so a crash between them cannot lose the retry.
    """
    with transaction.atomic():
        if status == JobRun.Status.FAILED:
            changed = run.fail(now=now, error=error, traceback=traceback)
        elif status == JobRun.Status.TIMED_OUT:
            changed = run.time_out(now=now, error=error, traceback=traceback)
        elif status == JobRun.Status.LOST:
            changed = run.mark_lost(now=now, error=error)
        else:
            raise ValueError(f"{status!r} is not a failure.")
        if not changed:
            return _refused(run, status)
        retry = schedule_retry(run, now=now, policy=policy_for(run.schedule, run.job_name))
        if retry is None:
            run_failed.send(sender=JobRun, run=run)
        _settle(run, now=now, final_failure=retry is None, follow_up=retry)
    return True


def record_skipped(
    run: JobRun, *, now: datetime, reason: str, result: Any = None, recheck_after: timedelta | None = None
) -> bool:
    """The job reported ``RunSkipped``; a scheduled run that asked for it gets its one recheck."""
    with transaction.atomic():
        if not run.skip(now=now, reason=reason, result=result):
            return _refused(run, JobRun.Status.SKIPPED)
        recheck = None
        if recheck_after is not None:
            next_slot = run.schedule.next_run_at if run.schedule else None
            recheck = _save_follow_up(
                recheck_after_skip(run, now=now, delay=recheck_after, next_regular_slot=next_slot)
            )
        _settle(run, now=now, follow_up=recheck)
    return True


def record_cancelled(
    run: JobRun, *, now: datetime, reason: str | None = None, not_started: bool = False
) -> bool:
    """The run was cancelled (``reason=None`` keeps the reason given when it was requested); with
    ``not_started``, only if it was still waiting or queued (False, quietly, otherwise)."""
    with transaction.atomic():
        if not run.cancel(now=now, reason=reason, not_started=not_started):
            return False if not_started else _refused(run, JobRun.Status.CANCELLED)
        _settle(run, now=now)
    return True


def promote_queued_behind(run: JobRun, *, now: datetime) -> bool:
    """Make the oldest run waiting behind ``run`` (overlap ``queue``/``replace``, or the next run of a
    backfill) due now; True if one was."""
    if run.schedule is None:
        return False
    if run.schedule.overlap_policy not in WAITING_POLICIES and run.trigger != JobRun.Trigger.BACKFILL:
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


def _settle(
    run: JobRun, *, now: datetime, final_failure: bool = False, follow_up: JobRun | None = None
) -> None:
    if run.schedule is not None:
        run.schedule.record_outcome(run, final_failure=final_failure, now=now)
    promoted = promote_queued_behind(run, now=now)
    # A retry or recheck due later than the dispatchers' next look needs no wake-up (no NOTIFY per failure).
    if promoted or (follow_up is not None and needs_wake_up(follow_up.due_at, now=now)):
        transaction.on_commit(wake_dispatchers)


def _save_follow_up(follow_up: JobRun | None) -> JobRun | None:
    if follow_up is None:
        return None
    try:
        with transaction.atomic():
            follow_up.save()
    except IntegrityError:
        return None  # that attempt exists already (another process made it)
    return follow_up


def _refused(run: JobRun, wanted: str) -> bool:
    # Only on this rare path is the row read again: to say (and return) what it became meanwhile.
    run.refresh_from_db(fields=["status"])
    logger.warning("event=finish_refused run=%s wanted=%s found=%s", run.pk, wanted, run.status)
    return False
