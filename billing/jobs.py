from datetime import timedelta

from django.utils import timezone

from billing.checks import check_owner
from jobs.registry import JobContext, job
from notifications.sweep import sweep_owners
from tenants.models import GLOBAL_OWNER_ID


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
    now = timezone.now()
    only = None if ctx.owner_id == GLOBAL_OWNER_ID else [ctx.owner_id]
    return sweep_owners(
        lambda owner: check_owner(owner, now=now),
        owner_ids=only,
        heartbeat=ctx.heartbeat,
        job_logger=ctx.logger,
    )
