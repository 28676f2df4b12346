from datetime import timedelta

from django.utils import timezone

from inventory.low_stock import check_owner
from jobs.registry import JobContext, job
from notifications.sweep import sweep_owners
from tenants.models import GLOBAL_OWNER_ID


@job("alerts.low_stock", every=timedelta(hours=6), max_attempts=2)
def low_stock(ctx: JobContext, **kwargs) -> dict:
    """Open and resolve low-stock alerts for every owner and e-mail each owner a digest of new ones."""
    now = timezone.now()
    only = None if ctx.owner_id == GLOBAL_OWNER_ID else [ctx.owner_id]
    return sweep_owners(
        lambda owner: check_owner(owner, now=now),
        owner_ids=only,
        heartbeat=ctx.heartbeat,
        job_logger=ctx.logger,
    )
