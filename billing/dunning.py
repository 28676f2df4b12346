"""Unpaid money: active → past_due transitions, overdue-invoice alerts and one payment reminder.

An invoice is overdue once the owner's local date is past its due date. It gets one overdue alert, then
one reminder ``BILLING_OVERDUE_REMINDER_DAYS`` days after the due date; ``Invoice.dunning`` records how far
it has got and only moves forward by a conditional UPDATE. An active subscription becomes past_due when
its paid period has ended or one of its invoices is overdue.
"""

from datetime import date, datetime

from django.db.models import Exists, OuterRef, Q

from billing.chunks import CHUNK_SIZE, for_each_locked_chunk
from billing.models import Invoice, Subscription
from notifications import outbox
from notifications.models import Notification
from tenants.models import Owner


def mark_past_due(
    owner: Owner, *, now: datetime, today: date, chunk_size: int = CHUNK_SIZE
) -> dict[str, int]:
    """Move the owner's due active subscriptions to past_due and record one notice each."""
    overdue_invoice = Invoice.objects.filter(
        subscription=OuterRef("pk"), paid_at__isnull=True, due_date__lt=today
    )
    due = Subscription.objects.filter(owner=owner, status=Subscription.Status.ACTIVE).filter(
        Q(current_period_end__lte=now) | Q(Exists(overdue_invoice))
    )
    counts = {"subscriptions_past_due": 0, "past_due_notices": 0}

    def handle(chunk: list[Subscription]) -> None:
        counts["subscriptions_past_due"] += Subscription.objects.filter(
            pk__in=[subscription.pk for subscription in chunk], status=Subscription.Status.ACTIVE
        ).update(status=Subscription.Status.PAST_DUE)
        counts["past_due_notices"] += outbox.record(
            owner.pk, [_past_due_notice(owner, subscription) for subscription in chunk], now=now
        )

    for_each_locked_chunk(due, handle, fields=("pk", "plan", "current_period_end"), chunk_size=chunk_size)
    return counts


def notify_overdue_invoices(
    owner: Owner, *, now: datetime, today: date, reminder_days: int, chunk_size: int = CHUNK_SIZE
) -> dict[str, int]:
    """Record the overdue alert or the reminder each unpaid invoice is owed, at most once each.

    When a run finds an invoice already past the reminder day (the worker was down, or it was entered
    late), it sends the reminder only: the overdue alert would say less, later.
    """
    owed = Invoice.objects.filter(
        owner=owner, paid_at__isnull=True, dunning__lt=Invoice.Dunning.REMINDED, due_date__lt=today
    )
    counts = {"invoice_overdue_notices": 0, "invoice_reminders": 0}

    def handle(chunk: list[Invoice]) -> None:
        by_level: dict[int, list[Invoice]] = {Invoice.Dunning.OVERDUE: [], Invoice.Dunning.REMINDED: []}
        for invoice in chunk:
            level = (
                Invoice.Dunning.REMINDED
                if (today - invoice.due_date).days >= reminder_days
                else Invoice.Dunning.OVERDUE
            )
            if level > invoice.dunning:
                by_level[level].append(invoice)
        for level, invoices in by_level.items():
            if not invoices:
                continue
            Invoice.objects.filter(pk__in=[invoice.pk for invoice in invoices], dunning__lt=level).update(
                dunning=level
            )
            recorded = outbox.record(
                owner.pk, [_invoice_notice(invoice, level, today) for invoice in invoices], now=now
            )
            key = "invoice_reminders" if level == Invoice.Dunning.REMINDED else "invoice_overdue_notices"
            counts[key] += recorded

    fields = ("pk", "number", "amount", "currency", "due_date", "dunning")
    for_each_locked_chunk(owed, handle, fields=fields, chunk_size=chunk_size)
    return counts


def _past_due_notice(owner: Owner, subscription: Subscription) -> outbox.NewNotification:
    period_end = subscription.current_period_end
    period = period_end.date().isoformat() if period_end else "-"
    return outbox.NewNotification(
        kind=Notification.Kind.SUBSCRIPTION_PAST_DUE,
        dedup_key=f"subscription:{subscription.pk}:past_due:{period}",
        payload={
            "subscription_id": subscription.pk,
            "plan": subscription.plan,
            "period_end": period_end.astimezone(owner.zone).strftime("%Y-%m-%d %H:%M %Z")
            if period_end
            else "",
        },
    )


def _invoice_notice(invoice: Invoice, level: int, today: date) -> outbox.NewNotification:
    reminder = level == Invoice.Dunning.REMINDED
    return outbox.NewNotification(
        kind=Notification.Kind.INVOICE_REMINDER if reminder else Notification.Kind.INVOICE_OVERDUE,
        dedup_key=f"invoice:{invoice.pk}:{'reminder' if reminder else 'overdue'}",
        payload={
            "invoice_id": invoice.pk,
            "number": invoice.number,
            "amount": f"{invoice.amount:.2f}",
            "currency": invoice.currency,
            "due_date": invoice.due_date.isoformat(),
            "days_overdue": (today - invoice.due_date).days,
        },
    )
