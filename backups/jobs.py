"""The registered backup job: thin, it hands the owner to ``backups.services.take_backup``.

When the owner's backup is already running elsewhere (a manual run, ``backup now --wait``, another
dispatcher's run), the job raises ``RunSkipped``: the engine records the skip and, for a scheduled slot,
the one recheck an hour later. A cancelled run stops between chunks and aborts its upload.
"""

import time
from collections.abc import Callable

from backups import policy, services
from backups.schedules import ensure_backup_schedules
from jobs.registry import JobContext, RunSkipped, job

HEARTBEAT_EVERY_SECONDS = 5.0


@job(
    policy.JOB_NAME,
    per_owner=True,
    queue=policy.QUEUE,
    overlap=policy.OVERLAP,
    overlap_retry_delay=policy.RECHECK_AFTER,
    misfire=policy.MISFIRE,
    min_interval=policy.MIN_INTERVAL,
    timeout=policy.BACKUP_TIMEOUT,
    ensure_schedules=ensure_backup_schedules,
)
def run_backup(ctx: JobContext, codec: str = services.DEFAULT_CODEC, **kwargs) -> dict:
    """Back up the owner (full database for the global owner, tenant export otherwise), verify, prune."""
    outcome = services.take_backup(
        owner_id=ctx.owner_id,
        job_run_id=ctx.run_id,
        codec=codec,
        progress=heartbeat_progress(ctx.heartbeat),
        check=ctx.raise_if_cancelled,
    )
    if outcome.skipped:
        raise RunSkipped(outcome.reason, recheck_after=policy.RECHECK_AFTER, result=outcome.summary())
    return outcome.summary()


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
