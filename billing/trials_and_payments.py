"""One owner's hourly billing check: trials, past-due subscriptions, overdue invoices, then the e-mails."""

from datetime import datetime

from billing.dunning import mark_past_due, notify_overdue_invoices
from billing.owner_settings import OVERDUE_REMINDER_DAYS
from billing.trials import process_trials
from notifications import outbox
from tenants import owner_settings
from tenants.models import Owner


def check_owner(owner: Owner, *, now: datetime) -> dict[str, int]:
    """Apply every due transition and notice for one owner, then send its pending e-mails; returns counts.

    Idempotent: run it again (a retry, an overlapping run) and nothing is transitioned, recorded or sent
    twice. Notices are recorded in the transaction of their change and sent after it commits.
    """
    today = now.astimezone(owner.zone).date()  # "overdue" is about the owner's calendar, not UTC's
    reminder_days = owner_settings.get(owner.pk, OVERDUE_REMINDER_DAYS.key)
    counts = process_trials(owner, now=now)
    counts |= mark_past_due(owner, now=now, today=today)
    counts |= notify_overdue_invoices(owner, now=now, today=today, reminder_days=reminder_days)
    sent = outbox.send_pending(owner, now=now)
    return counts | {"emails_sent": sent.sent, "emails_failed": sent.failed, "emails_skipped": sent.skipped}
