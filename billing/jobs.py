from datetime import timedelta

from billing.trials_and_payments import check_owners, owners_to_check
from jobs.owner_sweep import sweep_for_run
from jobs.registry import JobContext, job


@job(
    "billing.trials_and_payments",
    every=timedelta(hours=1),
    # The first run comes 2 minutes after the workers start (then hourly): the engine's run-on-start.
    run_on_start=True,
    startup_delay=timedelta(minutes=2),
    max_attempts=3,
)
def trials_and_payments(ctx: JobContext, **kwargs) -> dict:
    """Trial reminders and expiry, past-due subscriptions and overdue-invoice notices, for every owner."""
    return sweep_for_run(ctx, find_owners=owners_to_check, step=check_owners)
