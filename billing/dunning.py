"""Unpaid money: active → past_due transitions, overdue-invoice alerts and one payment reminder.

An invoice is overdue once the owner's local date is past its due date. It gets one overdue alert, then
one reminder ``BILLING_OVERDUE_REMINDER_DAYS`` days after the due date; ``Invoice.dunning`` records how far
it has got and only moves forward by a conditional UPDATE. An active subscription becomes past_due when
its paid period has ended or one of its invoices is overdue.

"Overdue" depends on each owner's calendar, which SQL does not know: the queries across owners use the
latest date any time zone has reached (a superset), and ``is_lapsed`` / ``notice_level`` decide each row
with its owner's own date, the same functions whether finding owners or changing their rows.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta

from django.db.models import Exists, OuterRef, Q, Subquery

from billing.chunks import CHUNK_SIZE, for_each_locked_chunk, value_chunks
from billing.models import Invoice, Subscription
from billing.owner_settings import OVERDUE_REMINDER_DAYS
from jobs.owner_sweep import setting_for_owners
from notifications import outbox
from notifications.models import Notification
from notifications.outbox import NewNotification
from tenants.models import Owner

# No time zone is further ahead of UTC than this (Pacific/Kiritimati), so no owner's date is later.
LATEST_UTC_OFFSET = timedelta(hours=14)


def latest_date(now: datetime) -> date:
    """The latest calendar date any owner can have reached at ``now``."""
    return (now + LATEST_UTC_OFFSET).date()


def is_lapsed(
    period_end: datetime | None, first_unpaid_due: date | None, *, now: datetime, today: date
) -> bool:
    """Whether an active subscription is past due: its period ended, or an unpaid invoice of it is overdue."""
    return (period_end is not None and period_end <= now) or (
        first_unpaid_due is not None and first_unpaid_due < today
    )


def notice_level(due_date: date, *, today: date, reminder_days: int) -> int:
    """How far the notices of an unpaid invoice should have gone by ``today`` (an ``Invoice.Dunning``).

    A run that finds an invoice already past the reminder day (the worker was down, or it was entered
    late) goes straight to the reminder: the overdue alert would say less, later.
    """
    if due_date >= today:
        return Invoice.Dunning.NONE
    if (today - due_date).days >= reminder_days:
        return Invoice.Dunning.REMINDED
    return Invoice.Dunning.OVERDUE


def _active_maybe_lapsed(*, now: datetime, latest: date):
    overdue_invoice = Invoice.objects.filter(
        subscription=OuterRef("pk"), paid_at__isnull=True, due_date__lt=latest
    )
    first_unpaid_due = (
        Invoice.objects.filter(subscription=OuterRef("pk"), paid_at__isnull=True)
        .order_by("due_date")
        .values("due_date")[:1]
    )
    return (
        Subscription.objects.filter(status=Subscription.Status.ACTIVE)
        .filter(Q(current_period_end__lte=now) | Q(Exists(overdue_invoice)))
        .annotate(first_unpaid_due=Subquery(first_unpaid_due))
    )


def _owed_maybe(*, latest: date):
    return Invoice.objects.filter(
        paid_at__isnull=True, dunning__lt=Invoice.Dunning.REMINDED, due_date__lt=latest
    )


def owners_with_dunning_work(*, now: datetime, chunk_size: int = CHUNK_SIZE) -> set[int]:
    """Owners with an active subscription to mark past due or an invoice owed a notice, across all owners.

    Reads the candidates of the latest date (partial indexes) in chunks, with their owners' dates and
    reminder settings (two queries per chunk). An owner whose time zone cannot be loaded is named too,
    so the sweep reports it instead of skipping it silently.
    """
    latest = latest_date(now)
    owners: set[int] = set()
    lapsed = _active_maybe_lapsed(now=now, latest=latest)
    for chunk in value_chunks(
        lapsed, "owner_id", "current_period_end", "first_unpaid_due", chunk_size=chunk_size
    ):
        today = local_dates({row[1] for row in chunk}, now=now)
        owners.update(
            owner_id
            for _, owner_id, period_end, first_due in chunk
            if today[owner_id] is None or is_lapsed(period_end, first_due, now=now, today=today[owner_id])
        )
    for chunk in value_chunks(
        _owed_maybe(latest=latest), "owner_id", "due_date", "dunning", chunk_size=chunk_size
    ):
        owner_ids = {row[1] for row in chunk}
        today = local_dates(owner_ids, now=now)
        reminder_days = setting_for_owners(OVERDUE_REMINDER_DAYS.key, owner_ids)
        owners.update(
            owner_id
            for _, owner_id, due_date, dunning in chunk
            if today[owner_id] is None
            or notice_level(due_date, today=today[owner_id], reminder_days=reminder_days[owner_id]) > dunning
        )
    return owners


def local_dates(owner_ids: Iterable[int], *, now: datetime) -> dict[int, date | None]:
    """Each owner's calendar date at ``now``, in one query; None where the time zone cannot be loaded."""
    dates: dict[int, date | None] = {}
    for owner in Owner.objects.filter(pk__in=list(owner_ids)).only("pk", "timezone"):
        try:
            dates[owner.pk] = now.astimezone(owner.zone).date()
        except Exception:  # a broken zone is the sweep's to report, for that owner alone
            dates[owner.pk] = None
    return dates


def mark_past_due(
    owners: Sequence[Owner], *, now: datetime, today: Mapping[int, date], chunk_size: int = CHUNK_SIZE
) -> dict[str, int]:
    """Move these owners' lapsed active subscriptions to past_due and record one notice each."""
    by_id = {owner.pk: owner for owner in owners}
    counts = {"subscriptions_past_due": 0, "past_due_notices": 0}

    def handle(chunk: list[Subscription]) -> None:
        lapsed = [
            subscription
            for subscription in chunk
            if is_lapsed(
                subscription.current_period_end,
                subscription.first_unpaid_due,
                now=now,
                today=today[subscription.owner_id],
            )
        ]
        if not lapsed:
            return
        counts["subscriptions_past_due"] += Subscription.objects.filter(
            pk__in=[subscription.pk for subscription in lapsed], status=Subscription.Status.ACTIVE
        ).update(status=Subscription.Status.PAST_DUE)
        counts["past_due_notices"] += outbox.record_for_owners(
            [
                (subscription.owner_id, _past_due_notice(by_id[subscription.owner_id], subscription))
                for subscription in lapsed
            ],
            now=now,
        )

    due = _active_maybe_lapsed(now=now, latest=max(today.values())).filter(owner_id__in=by_id)
    fields = ("pk", "owner_id", "plan", "current_period_end")
    for_each_locked_chunk(due, handle, fields=fields, chunk_size=chunk_size)
    return counts


def notify_overdue_invoices(
    owners: Sequence[Owner],
    *,
    now: datetime,
    today: Mapping[int, date],
    reminder_days: Mapping[int, int],
    chunk_size: int = CHUNK_SIZE,
) -> dict[str, int]:
    """Record the overdue alert or the reminder each unpaid invoice of these owners is owed, once each."""
    counts = {"invoice_overdue_notices": 0, "invoice_reminders": 0}

    def handle(chunk: list[Invoice]) -> None:
        by_level: dict[int, list[Invoice]] = {Invoice.Dunning.OVERDUE: [], Invoice.Dunning.REMINDED: []}
        for invoice in chunk:
            owner_id = invoice.owner_id
            level = notice_level(
                invoice.due_date, today=today[owner_id], reminder_days=reminder_days[owner_id]
            )
            if level > invoice.dunning:
                by_level[level].append(invoice)
        for level, invoices in by_level.items():
            if not invoices:
                continue
            Invoice.objects.filter(pk__in=[invoice.pk for invoice in invoices], dunning__lt=level).update(
                dunning=level
            )
            recorded = outbox.record_for_owners(
                [
                    (invoice.owner_id, _invoice_notice(invoice, level, today[invoice.owner_id]))
                    for invoice in invoices
                ],
                now=now,
            )
            key = "invoice_reminders" if level == Invoice.Dunning.REMINDED else "invoice_overdue_notices"
            counts[key] += recorded

    owed = _owed_maybe(latest=max(today.values())).filter(owner_id__in=list(today))
    fields = ("pk", "owner_id", "number", "amount", "currency", "due_date", "dunning")
    for_each_locked_chunk(owed, handle, fields=fields, chunk_size=chunk_size)
    return counts


def _past_due_notice(owner: Owner, subscription: Subscription) -> NewNotification:
    period_end = subscription.current_period_end
    period = period_end.date().isoformat() if period_end else "-"
    return NewNotification(
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


def _invoice_notice(invoice: Invoice, level: int, today: date) -> NewNotification:
    reminder = level == Invoice.Dunning.REMINDED
    return NewNotification(
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
