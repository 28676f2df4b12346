"""Run-history retention: old finished runs are deleted in batches, so no statement locks the table long."""

import logging
from datetime import datetime, timedelta

from jobs.models import JobRun

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000


def prune_runs(*, older_than: timedelta, now: datetime, batch_size: int = BATCH_SIZE) -> int:
    """Delete finished runs whose slot is more than ``older_than`` before ``now``; returns how many.

    Runs still scheduled, queued or running are kept whatever their age.
    """
    cutoff = now - older_than
    deleted = 0
    while True:
        batch = list(
            JobRun.objects.filter(slot__lt=cutoff, status__in=JobRun.FINISHED).values_list("pk", flat=True)[
                :batch_size
            ]
        )
        if not batch:
            break
        deleted += JobRun.objects.filter(pk__in=batch).delete()[0]
    logger.info("event=run_history_pruned deleted=%s cutoff=%s", deleted, cutoff.isoformat())
    return deleted
