"""Run-history retention: old finished runs are deleted in batches, so no statement locks the table long;
the rows of engine processes silent for as long go with them."""

import logging
from datetime import datetime, timedelta

from jobs.models import EngineProcess, JobRun

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000


def prune_runs(*, older_than: timedelta, now: datetime, batch_size: int = BATCH_SIZE) -> int:
    """Delete finished runs whose slot is more than ``older_than`` before ``now``; returns how many.

    Runs still scheduled, queued or running are kept whatever their age. Engine processes whose last beat
    is older than the cutoff (stopped, or dead long ago) are deleted too; their runs keep their history.
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
    processes = EngineProcess.objects.filter(last_beat_at__lt=cutoff).delete()[0]
    logger.info(
        "event=run_history_pruned deleted=%s processes=%s cutoff=%s", deleted, processes, cutoff.isoformat()
    )
    return deleted
