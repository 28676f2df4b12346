"""The hourly billing check: trials, past-due subscriptions, overdue invoices, then the e-mails.

``owners_to_check`` finds, across all owners at once, the owners with a transition or a notice due or an
e-mail still to send; ``check_owners`` then handles a chunk of them with set-based statements (a constant
number per chunk of rows, whatever the number of owners in it).
"""

from collections.abc import Sequence
from datetime import datetime

from billing.dunning import mark_past_due, notify_overdue_invoices, owners_with_dunning_work
from billing.owner_settings import OVERDUE_REMINDER_DAYS
from billing.trials import owners_with_trial_work, process_trials
from jobs.owner_sweep import setting_for_owners
from notifications import outbox
from tenants.models import Owner


def owners_to_check(*, now: datetime) -> set[int]:
    """Ids of the owners a check would change anything for (inactive ones included: the sweep drops them)."""
    return owners_with_trial_work(now=now) | owners_with_dunning_work(now=now) | outbox.owners_with_unsent()


def check_owners(owners: Sequence[Owner], *, now: datetime) -> dict[str, int]:
    """Apply every due transition and notice for these owners, then send their pending e-mails.

    Returns the total counts. Idempotent: run it again (a retry, an overlapping run) and nothing is
    transitioned, recorded or sent twice. Notices are recorded in the transaction of their change and
    sent after it commits.
    """
    # "Overdue" is about each owner's calendar, not UTC's.
    today = {owner.pk: now.astimezone(owner.zone).date() for owner in owners}
    reminder_days = setting_for_owners(OVERDUE_REMINDER_DAYS.key, today)
    counts = process_trials(owners, now=now)
    counts |= mark_past_due(owners, now=now, today=today)
    counts |= notify_overdue_invoices(owners, now=now, today=today, reminder_days=reminder_days)
    sent = outbox.send_all_due(owner_ids=[owner.pk for owner in owners], now=now)
    return counts | {"emails_sent": sent.sent, "emails_failed": sent.failed, "emails_skipped": sent.skipped}


def check_owner(owner: Owner, *, now: datetime) -> dict[str, int]:
    """``check_owners`` for one owner."""
    return check_owners([owner], now=now)
