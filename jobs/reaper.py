"""The reaper: runs whose worker vanished become ``lost`` (and follow the retry policy); runs left ``queued``
too long are handed to the broker again (an outbox: a claimed run is never lost on the way to a worker).

A running run is lost when its qcluster is gone (stopped heartbeating for ``EngineProcess.silence_limit()``,
or, seen from the same host, its pid is gone), when its worker's pid is gone on this host, or, the
backstop, when its own heartbeat is older than JOBS_LOST_AFTER_SECONDS. After each pass the ``housekeeping``
signal lets other apps reap what dead processes left behind (backups: abandoned backup rows).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from jobs import djangoq
from jobs.bulk import update_fields
from jobs.handoff import enqueue_runs, new_task_id
from jobs.models import EngineProcess, JobRun
from jobs.outcomes import record_failure
from jobs.processes import gone_reason, this_host
from jobs.queues import route
from jobs.retries import policy_for
from jobs.signals import housekeeping

logger = logging.getLogger(__name__)

BATCH_SIZE = 100


@dataclass(frozen=True)
class ReapReport:
    lost: int
    requeued: int


def reap(*, now: datetime, lost_after: timedelta | None = None, requeue: bool = True) -> ReapReport:
    """Mark runs of dead workers lost, re-enqueue overdue queued runs (unless ``requeue`` is off), then send
    ``housekeeping``."""
    window = lost_after or timedelta(seconds=settings.JOBS_LOST_AFTER_SECONDS)
    lost = mark_lost_runs(now=now, window=window)
    requeued = requeue_stale_runs(now=now, window=window) if requeue else 0
    for receiver, error in housekeeping.send_robust(sender=reap, now=now):
        if isinstance(error, Exception):
            logger.error("event=housekeeping_failed receiver=%s error=%s", receiver, error, exc_info=error)
    return ReapReport(lost=lost, requeued=requeued)


def mark_lost_runs(*, now: datetime, window: timedelta) -> int:
    """Running runs whose worker is gone (or silent for ``window``) become ``lost``; a retry may follow.

    Each is a conditional transition, so several reapers (one per dispatcher) mark a run lost once.
    """
    host = this_host()
    silent_process = now - EngineProcess.silence_limit()
    # Candidates only: silent runs, runs of silent or stopped processes, and this host's runs (pid checks).
    candidates = (
        JobRun.objects.filter(status=JobRun.Status.RUNNING)
        .filter(
            Q(heartbeat_at__lt=now - window)
            | Q(engine_process__stopped_at__isnull=False)
            | Q(engine_process__last_beat_at__lt=silent_process)
            | Q(engine_process__host=host)
            | Q(worker__startswith=f"{host}:")
        )
        .select_related("schedule", "engine_process")
        .order_by("heartbeat_at")
    )
    lost = 0
    for run in candidates[: BATCH_SIZE * 10]:
        reason = gone_reason(run, now=now, host=host) or _silent_reason(run, now=now, window=window)
        if reason and record_failure(run, status=JobRun.Status.LOST, now=now, error=reason):
            logger.warning(
                "event=run_lost run=%s job=%s worker=%s reason=%s", run.pk, run.job_name, run.worker, reason
            )
            lost += 1
    return lost


def _silent_reason(run: JobRun, *, now: datetime, window: timedelta) -> str:
    if run.heartbeat_at is None or run.heartbeat_at >= now - window:
        return ""
    return (
        f"Lost: no heartbeat from worker {run.worker or '?'} since "
        f"{run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC (the process was probably killed)."
    )


def requeue_stale_runs(*, now: datetime, window: timedelta) -> int:
    """Hand runs ``queued`` for longer than ``window`` to the broker again; the runner's flip dedupes.

    Only where the broker queue a run would go to is empty: then its task is not waiting there (lost
    on the way, or left in the queue of a backup worker that is gone). A run still behind others in a
    busy queue is left alone, so a long backlog is not pushed again every window.
    """
    consumed = EngineProcess.objects.consumed_queues(now)
    drained: dict[str, bool] = {}
    with transaction.atomic():
        stale = [
            run
            for run in JobRun.objects.filter(status=JobRun.Status.QUEUED, queued_at__lt=now - window)
            .select_related("schedule")
            .order_by("due_at")
            .select_for_update(skip_locked=True, of=("self",))[:BATCH_SIZE]
            if _queue_drained(route(run.queue_name, consumed), drained)
        ]
        _requeue(stale, now=now)
    if stale:
        logger.warning("event=runs_requeued count=%s", len(stale))
    return len(stale)


def _queue_drained(queue: str, known: dict[str, bool]) -> bool:
    if queue not in known:
        try:
            known[queue] = djangoq.queue_size(queue) == 0
        except djangoq.BrokerUnavailable as error:
            logger.warning(
                "event=requeue_postponed queue=%s reason=broker_unavailable error=%s", queue, error
            )
            known[queue] = False
    return known[queue]


def hand_back(run_id: int, *, now: datetime) -> bool:
    """Put a queued run back on the broker at once (a stopping qcluster received it and will not start it)."""
    with transaction.atomic():
        run = (
            JobRun.objects.filter(pk=run_id, status=JobRun.Status.QUEUED)
            .select_related("schedule")
            .select_for_update(of=("self",))
            .first()
        )
        if run is None:
            return False
        _requeue([run], now=now)
    logger.info("event=run_handed_back run=%s reason=shutdown", run_id)
    return True


def _requeue(runs: list[JobRun], *, now: datetime) -> None:
    for run in runs:
        run.queued_at = now
        run.task_id = new_task_id()
    update_fields(runs, ["queued_at", "task_id"])
    enqueue_runs([(run, policy_for(run.schedule, run.job_name).timeout_seconds) for run in runs], now=now)
