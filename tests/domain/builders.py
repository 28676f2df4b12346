"""Small builders for the domain models: stock items, subscriptions and invoices."""

import itertools
from datetime import date, datetime
from decimal import Decimal

from billing.models import Invoice, Subscription
from inventory.models import StockItem
from tenants.models import Owner

_numbers = itertools.count(1)


def make_item(owner: Owner, *, quantity: int, reorder_level: int, sku: str | None = None) -> StockItem:
    number = next(_numbers)
    return StockItem.objects.create(
        owner=owner,
        sku=sku or f"SKU-{number}",
        name=f"Item {number}",
        quantity=quantity,
        reorder_level=reorder_level,
    )


def make_trial(owner: Owner, *, ends_at: datetime, plan: str = "starter") -> Subscription:
    return Subscription.objects.create(
        owner=owner, plan=plan, status=Subscription.Status.TRIAL, trial_ends_at=ends_at
    )


def make_active(owner: Owner, *, period_end: datetime, plan: str = "business") -> Subscription:
    return Subscription.objects.create(
        owner=owner, plan=plan, status=Subscription.Status.ACTIVE, current_period_end=period_end
    )


def make_invoice(
    owner: Owner,
    *,
    due_date: date,
    amount: str = "49.00",
    subscription: Subscription | None = None,
    paid_at: datetime | None = None,
) -> Invoice:
    return Invoice.objects.create(
        owner=owner,
        subscription=subscription,
        number=f"INV-{next(_numbers):05d}",
        amount=Decimal(amount),
        currency="EUR",
        due_date=due_date,
        paid_at=paid_at,
    )
