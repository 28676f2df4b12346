"""Jobs of the operations app, discovered at start-up like every app's ``jobs.py``."""

from dataclasses import asdict
from datetime import timedelta

from django.utils import timezone

from jobs.policies import MisfirePolicy
from jobs.registry import JobContext, job
from ops.missed import report_missed_runs


@job(
    "ops.missed_runs",
    every=timedelta(minutes=1),
    # A check that was itself missed is worth one run, not one per missed minute.
    misfire=MisfirePolicy.RUN_ONCE,
    timeout=timedelta(minutes=5),
)
def missed_runs(ctx: JobContext, **kwargs) -> dict:
    """Flag schedules whose expected run did not start within its grace period; tell each owner once."""
    return asdict(report_missed_runs(timezone.now()))
