"""Jobs of the operations app, discovered at start-up like every app's ``jobs.py``."""

from dataclasses import asdict
from datetime import timedelta

from django.utils import timezone

from jobs.policies import MisfirePolicy
from jobs.registry import JobContext, job
from ops.missed import report_missed_runs
from ops.run_metrics import ROLLUP_BATCH, roll_up_run_events


@job(
    "ops.missed_runs",
    every=timedelta(minutes=1),
    global_only=True,
    # A check that was itself missed is worth one run, not one per missed minute.
    misfire=MisfirePolicy.RUN_ONCE,
    timeout=timedelta(minutes=5),
)
def missed_runs(ctx: JobContext, **kwargs) -> dict:
    """Flag schedules whose expected run did not start within its grace period; tell each owner once."""
    return asdict(report_missed_runs(timezone.now()))


@job(
    "ops.roll_up_run_metrics",
    every=timedelta(minutes=1),
    global_only=True,
    misfire=MisfirePolicy.RUN_ONCE,
    timeout=timedelta(minutes=5),
)
def roll_up_run_metrics(ctx: JobContext, **kwargs) -> dict:
    """Fold the run events into the metrics totals, so the events table stays small between scrapes."""
    folded = 0
    while True:
        batch = roll_up_run_events()
        folded += batch
        if batch < ROLLUP_BATCH:  # caught up (a fuller batch means more were waiting)
            return {"folded": folded}
        ctx.heartbeat()
