from datetime import timedelta

from billing.trials_and_payments import check_owner
from jobs.registry import JobContext, job
from notifications.sweep import sweep_for_run


@job(
    "billing.trial_and_payments",
    every=timedelta(hours=1),
    # The first run comes 2 minutes after the workers start (then hourly): the engine's run-on-start.
    run_on_start=True,
    startup_delay=timedelta(minutes=2),
    max_attempts=3,
)
def trial_and_payments(ctx: JobContext, **kwargs) -> dict:
    """Trial reminders and expiry, past-due subscriptions and overdue-invoice notices for every owner."""
    return sweep_for_run(ctx, check_owner)
