from datetime import timedelta

from inventory.low_stock import check_owner
from jobs.registry import JobContext, job
from notifications.sweep import sweep_for_run


@job("alerts.low_stock", every=timedelta(hours=6), max_attempts=2)
def low_stock(ctx: JobContext, **kwargs) -> dict:
    """Open and resolve low-stock alerts for every owner and e-mail each owner a digest of new ones."""
    return sweep_for_run(ctx, check_owner)
