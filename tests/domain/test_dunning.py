from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail

from billing.models import Invoice, Subscription
from billing.trial_and_payments import check_owner
from tenants import owner_settings
from tests.domain.builders import make_active, make_invoice

pytestmark = pytest.mark.django_db


def test_active_subscription_whose_period_ended_becomes_past_due_once(owner, now):
    subscription = make_active(owner, period_end=now - timedelta(hours=1), plan="team")

    first = check_owner(owner, now=now)
    second = check_owner(owner, now=now + timedelta(hours=1))

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.PAST_DUE
    assert (first["subscriptions_past_due"], second["subscriptions_past_due"]) == (1, 0)
    [message] = mail.outbox
    assert message.subject == "Payment needed: your team subscription is past due"


def test_active_subscription_with_an_overdue_invoice_becomes_past_due(owner, now):
    subscription = make_active(owner, period_end=now + timedelta(days=10))
    make_invoice(owner, subscription=subscription, due_date=date(2026, 2, 27))

    check_owner(owner, now=now)

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.PAST_DUE


def test_active_subscription_in_its_paid_period_stays_active(owner, now):
    subscription = make_active(owner, period_end=now + timedelta(days=10))
    make_invoice(owner, subscription=subscription, due_date=date(2026, 3, 2))  # due today: not overdue yet

    check_owner(owner, now=now)

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE


def test_overdue_invoice_gets_one_alert_then_one_reminder_after_the_configured_days(owner, now):
    owner_settings.set_value(owner.pk, "BILLING_OVERDUE_REMINDER_DAYS", "3")
    invoice = make_invoice(owner, due_date=date(2026, 3, 1), amount="120.50")

    for day in range(6):
        for hour in (0, 1):
            check_owner(owner, now=now + timedelta(days=day, hours=hour))

    assert [message.subject for message in mail.outbox] == [
        f"Invoice {invoice.number} is overdue",
        f"Reminder: invoice {invoice.number} is 3 days overdue",
    ]
    assert "120.50 EUR was due on 2026-03-01" in mail.outbox[0].body
    invoice.refresh_from_db()
    assert invoice.dunning == Invoice.Dunning.REMINDED


def test_reminder_comes_after_seven_days_by_default(owner, now):
    make_invoice(owner, due_date=date(2026, 3, 1))

    for day in range(9):
        check_owner(owner, now=now + timedelta(days=day))

    reminder = mail.outbox[1]
    assert reminder.subject.endswith("is 7 days overdue")


def test_invoice_found_long_overdue_gets_only_the_reminder(owner, now):
    make_invoice(owner, due_date=date(2026, 2, 1))

    check_owner(owner, now=now)
    check_owner(owner, now=now + timedelta(hours=1))

    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject.startswith("Reminder: invoice")


def test_paid_invoice_is_never_overdue(owner, now):
    make_invoice(owner, due_date=date(2026, 2, 1), paid_at=now - timedelta(days=40))

    check_owner(owner, now=now)

    assert mail.outbox == []


def test_overdue_follows_the_owners_calendar_not_utc(other_owner):
    # 2 March 03:00 UTC is still 1 March in New York: an invoice due on 1 March is not overdue there yet.
    make_invoice(other_owner, due_date=date(2026, 3, 1))

    check_owner(other_owner, now=datetime(2026, 3, 2, 3, 0, tzinfo=UTC))
    assert mail.outbox == []

    check_owner(other_owner, now=datetime(2026, 3, 2, 6, 0, tzinfo=UTC))
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ops@globex.test"]
