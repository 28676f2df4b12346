"""The reaper: runs whose worker vanished become ``lost`` (and follow the retry policy); runs left ``queued``
too long are handed to the broker again (an outbox: a claimed run is never lost on the way to a worker)."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from jobs.bulk import update_fields
from jobs.enqueue import enqueue_runs, new_task_id
from jobs.models import JobRun
from jobs.outcomes import finish_run
from jobs.retries import policy_for

logger = logging.getLogger(__name__)

BATCH_SIZE = 100


@dataclass(frozen=True)
class ReapReport:
    lost: int
    requeued: int


def reap(*, now: datetime, lost_after: timedelta | None = None, requeue: bool = True) -> ReapReport:
    """Mark silent running runs lost and (unless ``requeue`` is off) re-enqueue overdue queued runs."""
    window = lost_after or timedelta(seconds=settings.JOBS_LOST_AFTER_SECONDS)
    if not requeue:
        return ReapReport(lost=mark_lost_runs(now=now, window=window), requeued=0)
    return ReapReport(
        lost=mark_lost_runs(now=now, window=window), requeued=requeue_stale_runs(now=now, window=window)
    )


def mark_lost_runs(*, now: datetime, window: timedelta) -> int:
    """Runs ``running`` without a heartbeat for ``window`` become ``lost``; a retry follows if allowed."""
    with transaction.atomic():
        silent = list(
            JobRun.objects.filter(status=JobRun.Status.RUNNING, heartbeat_at__lt=now - window)
            .select_related("schedule", "owner")
            .select_for_update(skip_locked=True, of=("self",))[:BATCH_SIZE]
        )
        for run in silent:
            message = (
                f"Lost: no heartbeat from worker {run.worker or '?'} since "
                f"{run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC (the process was probably killed)."
            )
            logger.warning("event=run_lost run=%s job=%s worker=%s", run.pk, run.job_name, run.worker)
            finish_run(run, status=JobRun.Status.LOST, now=now, error=message, expected=JobRun.Status.RUNNING)
    return len(silent)


def requeue_stale_runs(*, now: datetime, window: timedelta) -> int:
    """Hand runs ``queued`` for longer than ``window`` to the broker again; the runner's flip dedupes."""
    with transaction.atomic():
        stale = list(
            JobRun.objects.filter(status=JobRun.Status.QUEUED, queued_at__lt=now - window)
            .select_related("schedule")
            .order_by("due_at")
            .select_for_update(skip_locked=True, of=("self",))[:BATCH_SIZE]
        )
        for run in stale:
            run.queued_at = now
            run.task_id = new_task_id()
        update_fields(stale, ["queued_at", "task_id"])
        enqueue_runs([(run, policy_for(run.schedule, run.job_name).timeout_seconds) for run in stale])
    if stale:
        logger.warning("event=runs_requeued count=%s", len(stale))
    return len(stale)
