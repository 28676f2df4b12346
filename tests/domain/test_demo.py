from collections import Counter

import pytest
from django.core import mail

from billing.demo import seed_billing_demo
from billing.trial_and_payments import check_owner as check_billing
from inventory.demo import seed_stock_demo
from inventory.low_stock import check_owner as check_stock
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_demo_data_triggers_every_notification_path(owner, now):
    seed_stock_demo(owner)
    seed_billing_demo(owner, now=now)

    check_stock(owner, now=now)
    check_billing(owner, now=now)

    assert Counter(Notification.objects.values_list("kind", flat=True)) == {
        "low_stock_digest": 1,
        "trial_reminder": 3,
        "trial_expired": 1,
        "subscription_past_due": 1,
        "invoice_overdue": 1,
        "invoice_reminder": 1,
    }
    assert len(mail.outbox) == 8


def test_seeding_twice_adds_nothing_the_second_time(owner, now):
    first = (seed_stock_demo(owner), seed_billing_demo(owner, now=now))

    second = (seed_stock_demo(owner), seed_billing_demo(owner, now=now))

    assert first == (5, 10)
    assert second == (0, 0)
