"""Trial reminders 7, 3 and 1 days before a trial ends, and the expiry itself (trial → expired).

Each notice exists once per subscription and trial end (its key names both, so extending a trial arms
the reminders again). When a run finds several thresholds crossed at once (the worker was down), only the
most urgent notice is sent: "ends in 7 days" is wrong once 2 days are left.
"""

from datetime import datetime, timedelta

from billing.chunks import CHUNK_SIZE, for_each_locked_chunk
from billing.models import Subscription
from notifications import outbox
from notifications.models import Notification
from tenants.models import Owner

REMINDER_DAYS = (1, 3, 7)  # most urgent first


def trial_stage(trial_ends_at: datetime, now: datetime) -> str | None:
    """The most urgent notice due for a trial ending then: "expired", "1d", "3d", "7d" or None."""
    left = trial_ends_at - now
    if left <= timedelta(0):
        return "expired"
    for days in REMINDER_DAYS:
        if left <= timedelta(days=days):
            return f"{days}d"
    return None


def trial_notice_key(subscription_id: int, trial_ends_at: datetime, stage: str) -> str:
    return f"trial:{subscription_id}:{trial_ends_at.date().isoformat()}:{stage}"


def process_trials(owner: Owner, *, now: datetime, chunk_size: int = CHUNK_SIZE) -> dict[str, int]:
    """Expire the owner's ended trials and record the due notices, a locked chunk per transaction.

    A concurrent run waits for the chunk's lock and then sees the rows as this run left them; the status
    UPDATE is conditional and the notices are deduplicated by key, so even without the lock nothing
    happens twice.
    """
    horizon = now + timedelta(days=max(REMINDER_DAYS))
    trials = Subscription.objects.filter(
        owner=owner, status=Subscription.Status.TRIAL, trial_ends_at__lte=horizon
    )
    counts = {"trials_expired": 0, "trial_notices": 0}

    def handle(chunk: list[Subscription]) -> None:
        staged = [(subscription, trial_stage(subscription.trial_ends_at, now)) for subscription in chunk]
        ended = [subscription.pk for subscription, stage in staged if stage == "expired"]
        if ended:
            counts["trials_expired"] += Subscription.objects.filter(
                pk__in=ended, status=Subscription.Status.TRIAL
            ).update(status=Subscription.Status.EXPIRED)
        counts["trial_notices"] += outbox.record(
            owner.pk,
            [_trial_notice(owner, subscription, stage) for subscription, stage in staged if stage],
            now=now,
        )

    for_each_locked_chunk(trials, handle, fields=("pk", "plan", "trial_ends_at"), chunk_size=chunk_size)
    return counts


def _trial_notice(owner: Owner, subscription: Subscription, stage: str) -> outbox.NewNotification:
    ends_local = subscription.trial_ends_at.astimezone(owner.zone)
    return outbox.NewNotification(
        kind=Notification.Kind.TRIAL_EXPIRED if stage == "expired" else Notification.Kind.TRIAL_REMINDER,
        dedup_key=trial_notice_key(subscription.pk, subscription.trial_ends_at, stage),
        payload={
            "subscription_id": subscription.pk,
            "plan": subscription.plan,
            "days_left": 0 if stage == "expired" else int(stage.removesuffix("d")),
            "trial_ends": ends_local.strftime("%Y-%m-%d %H:%M %Z"),
        },
    )
