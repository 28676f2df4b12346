"""The owner hears about a run that failed for good: the engine's ``run_failed`` becomes an outbox row."""

import logging

from django.db import transaction

from jobs.models import JobRun
from notifications import outbox
from notifications.models import Notification

logger = logging.getLogger(__name__)


def run_failed_notice(run: JobRun) -> outbox.NewNotification:
    """The notification for a run that failed for good: job, slot, attempt and the error's first line.

    The traceback stays in the admin, where only the owner's staff can read it.
    """
    return outbox.NewNotification(
        kind=Notification.Kind.RUN_FAILED,
        dedup_key=f"run:{run.pk}:failed",
        payload={
            "run_id": run.pk,
            "job_name": run.job_name,
            "status": JobRun.Status(run.status).label.lower(),
            "attempt": run.attempt,
            "slot": f"{run.slot:%Y-%m-%d %H:%M:%S} UTC",
            "error": run.error.splitlines()[0] if run.error else "",
        },
    )


def on_run_failed(sender: type, run: JobRun, **kwargs) -> None:
    """Receiver of ``jobs.signals.run_failed``: record the notice in the failure's own transaction.

    In a savepoint, so a failing insert cannot poison the engine's transaction: the failure is recorded
    either way, and the error goes to the log.
    """
    try:
        with transaction.atomic():
            outbox.record(run.owner_id, [run_failed_notice(run)], now=run.finished_at)
    except Exception:
        logger.exception("run failure not recorded for its owner", extra={"run_id": run.pk})
