"""Trial reminders 7, 3 and 1 days before a trial ends, and the expiry itself (trial → expired).

Each notice exists once per subscription and trial end (its key names both, so extending a trial arms
the reminders again). When a run finds several thresholds crossed at once (the worker was down), only the
most urgent notice is sent: "ends in 7 days" is wrong once 2 days are left.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

from billing.chunks import CHUNK_SIZE, for_each_locked_chunk, value_chunks
from billing.models import Subscription
from notifications import outbox
from notifications.models import Notification
from notifications.outbox import NewNotification
from tenants.models import Owner

REMINDER_DAYS = (1, 3, 7)  # most urgent first
HORIZON = timedelta(days=max(REMINDER_DAYS))


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


def _trials_ending(*, now: datetime):
    return Subscription.objects.filter(status=Subscription.Status.TRIAL, trial_ends_at__lte=now + HORIZON)


def owners_with_trial_work(*, now: datetime, chunk_size: int = CHUNK_SIZE) -> set[int]:
    """Owners with an ended trial to expire or a due trial notice not recorded yet, across all owners.

    Reads only the trials ending within the reminder horizon (a partial index), two queries per
    ``chunk_size`` of them: the trials, then which of their due notices the outbox already holds.
    """
    owners: set[int] = set()
    for chunk in value_chunks(_trials_ending(now=now), "owner_id", "trial_ends_at", chunk_size=chunk_size):
        due: dict[tuple[int, str], int] = {}
        for subscription_id, owner_id, ends_at in chunk:
            stage = trial_stage(ends_at, now)
            if stage == "expired":
                owners.add(owner_id)
            elif stage:
                due[(owner_id, trial_notice_key(subscription_id, ends_at, stage))] = owner_id
        recorded = outbox.recorded_keys(due)
        owners.update(owner_id for pair, owner_id in due.items() if pair not in recorded)
    return owners


def process_trials(owners: Sequence[Owner], *, now: datetime, chunk_size: int = CHUNK_SIZE) -> dict[str, int]:
    """Expire these owners' ended trials and record the due notices, a locked chunk per transaction.

    A concurrent run waits for the chunk's lock and then sees the rows as this run left them; the status
    UPDATE is conditional and the notices are deduplicated by key, so even without the lock nothing
    happens twice.
    """
    by_id = {owner.pk: owner for owner in owners}
    counts = {"trials_expired": 0, "trial_notices": 0}

    def handle(chunk: list[Subscription]) -> None:
        staged = [(subscription, trial_stage(subscription.trial_ends_at, now)) for subscription in chunk]
        ended = [subscription.pk for subscription, stage in staged if stage == "expired"]
        if ended:
            counts["trials_expired"] += Subscription.objects.filter(
                pk__in=ended, status=Subscription.Status.TRIAL
            ).update(status=Subscription.Status.EXPIRED)
        counts["trial_notices"] += outbox.record_for_owners(
            [
                (subscription.owner_id, _trial_notice(by_id[subscription.owner_id], subscription, stage))
                for subscription, stage in staged
                if stage
            ],
            now=now,
        )

    trials = _trials_ending(now=now).filter(owner_id__in=by_id)
    fields = ("pk", "owner_id", "plan", "trial_ends_at")
    for_each_locked_chunk(trials, handle, fields=fields, chunk_size=chunk_size)
    return counts


def _trial_notice(owner: Owner, subscription: Subscription, stage: str) -> NewNotification:
    ends_local = subscription.trial_ends_at.astimezone(owner.zone)
    return NewNotification(
        kind=Notification.Kind.TRIAL_EXPIRED if stage == "expired" else Notification.Kind.TRIAL_REMINDER,
        dedup_key=trial_notice_key(subscription.pk, subscription.trial_ends_at, stage),
        payload={
            "subscription_id": subscription.pk,
            "plan": subscription.plan,
            "days_left": 0 if stage == "expired" else int(stage.removesuffix("d")),
            "trial_ends": ends_local.strftime("%Y-%m-%d %H:%M %Z"),
        },
    )
