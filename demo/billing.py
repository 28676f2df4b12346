"""Demo subscriptions and invoices for `manage.py seed_demo`, each one set up to trigger one path."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from billing.models import Invoice, Subscription
from tenants.models import Owner


@transaction.atomic
def seed_billing_demo(owner: Owner, *, now: datetime | None = None) -> int:
    """Give an owner without subscriptions one of each case the hourly job handles; returns rows added.

    Trials ending in 6 days (7-day reminder), 2 days (3-day reminder), 20 hours (1-day reminder) and one
    that ended an hour ago (expiry); an active subscription whose period ended (past due); and invoices
    paid, due next week, 2 days overdue (overdue alert) and 10 days overdue (reminder). An owner that
    already has subscriptions is left alone, so running it twice adds nothing.
    """
    if Subscription.objects.filter(owner=owner).exists():
        return 0
    now = now or timezone.now()
    today = now.astimezone(owner.zone).date()
    trials = [
        Subscription(
            owner=owner, plan="starter", status=Subscription.Status.TRIAL, trial_ends_at=now + ends_in
        )
        for ends_in in (timedelta(days=6), timedelta(days=2), timedelta(hours=20), -timedelta(hours=1))
    ]
    current = Subscription(
        owner=owner,
        plan="business",
        status=Subscription.Status.ACTIVE,
        current_period_end=now + timedelta(days=20),
    )
    lapsed = Subscription(
        owner=owner,
        plan="team",
        status=Subscription.Status.ACTIVE,
        current_period_end=now - timedelta(days=1),
    )
    Subscription.objects.bulk_create([*trials, current, lapsed])
    invoices = [
        Invoice(
            owner=owner,
            # Overdue invoices belong to the lapsed subscription, so the current one stays active.
            subscription=lapsed if due_in < 0 and not paid else current,
            number=f"{owner.slug.upper()}-{number}",
            amount=Decimal(amount),
            currency="EUR",
            due_date=today + timedelta(days=due_in),
            paid_at=now - timedelta(days=3) if paid else None,
        )
        for number, amount, due_in, paid in (
            ("0001", "49.00", -40, True),
            ("0002", "49.00", 7, False),
            ("0003", "120.50", -2, False),
            ("0004", "99.90", -10, False),
        )
    ]
    Invoice.objects.bulk_create(invoices)
    return len(trials) + 2 + len(invoices)
