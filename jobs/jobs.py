"""The engine's own jobs."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from jobs.history import prune_runs
from jobs.registry import JobContext, job


@job("jobs.prune_history", cron="17 3 * * *", global_only=True)
def prune_history(ctx: JobContext) -> dict:
    """Delete finished runs older than JOBS_RUN_HISTORY_DAYS, every night."""
    days = settings.JOBS_RUN_HISTORY_DAYS
    return {"deleted": prune_runs(older_than=timedelta(days=days), now=timezone.now()), "days": days}
