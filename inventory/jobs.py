from datetime import timedelta

from inventory.low_stock import check_owners, owners_to_check
from jobs.owner_sweep import sweep_for_run
from jobs.registry import JobContext, job


@job("alerts.low_stock", every=timedelta(hours=6), max_attempts=2)
def low_stock(ctx: JobContext, **kwargs) -> dict:
    """Open and resolve low-stock alerts and e-mail each owner a digest of new ones, for every owner."""
    return sweep_for_run(ctx, find_owners=owners_to_check, step=check_owners)
