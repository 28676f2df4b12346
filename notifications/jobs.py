"""The one sender: every minute, e-mail what the outbox holds that is due."""

from dataclasses import asdict
from datetime import timedelta

from django.utils import timezone

from jobs.policies import MisfirePolicy
from jobs.registry import JobContext, job
from notifications import outbox


@job(
    "notifications.send",
    every=timedelta(minutes=1),
    global_only=True,
    # A sender that was itself down for a while sends everything in one run, not one run per minute.
    misfire=MisfirePolicy.RUN_ONCE,
    timeout=timedelta(minutes=10),
)
def send_notifications(ctx: JobContext, **kwargs) -> dict:
    """E-mail every due outbox row (failed runs, missed runs, domain notices); failed sends retry later."""
    return asdict(outbox.send_all_due(now=timezone.now(), heartbeat=ctx.heartbeat))
