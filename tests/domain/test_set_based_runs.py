"""The domain jobs find what changed across all owners at once and touch only the owners concerned."""

import logging
from datetime import date, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing import trials_and_payments
from billing.dunning import owners_with_dunning_work
from billing.models import Invoice
from inventory import low_stock
from inventory.models import LowStockAlert
from jobs.registry import JobContext, get_job
from tenants import owner_settings
from tenants.models import GLOBAL_OWNER_ID
from tests.builders import make_owner
from tests.domain.builders import make_active, make_invoice, make_item, make_trial

pytestmark = pytest.mark.django_db

LOW_STOCK, BILLING = "alerts.low_stock", "billing.trials_and_payments"


def run_job(job_name: str, now, owner_id: int = GLOBAL_OWNER_ID) -> dict:
    ctx = JobContext(
        run_id=1,
        job_name=job_name,
        owner_id=owner_id,
        schedule_id=None,
        slot=now,
        attempt=1,
        logger=logging.getLogger(f"test.{job_name}"),
    )
    with time_machine.travel(now, tick=False):
        return get_job(job_name).func(ctx)


def queries_of(job_name: str, now) -> int:
    with CaptureQueriesContext(connection) as captured:
        run_job(job_name, now)
    return len(captured)


def stocked_owners(count: int) -> list:
    """Owners each with a low item, a fine item and an item exactly at its reorder level."""
    owners = [make_owner(contact_email=f"ops{number}@stock.test") for number in range(count)]
    for owner in owners:
        make_item(owner, quantity=1, reorder_level=10)
        make_item(owner, quantity=50, reorder_level=10)
        make_item(owner, quantity=10, reorder_level=10)
    return owners


def billed_owners(count: int, now) -> list:
    """Owners each with a trial in its reminder window, a paid-up subscription, paid and overdue invoices."""
    owners = [make_owner(contact_email=f"ops{number}@billing.test") for number in range(count)]
    for owner in owners:
        make_trial(owner, ends_at=now + timedelta(days=5))
        current = make_active(owner, period_end=now + timedelta(days=20))
        make_invoice(owner, subscription=current, due_date=date(2026, 2, 1), paid_at=now - timedelta(days=20))
        make_invoice(owner, due_date=date(2026, 2, 28))  # overdue: one alert now, the reminder in 7 days
    return owners


def test_quiet_low_stock_run_costs_the_same_queries_for_two_owners_or_twelve(now):
    stocked_owners(2)
    run_job(LOW_STOCK, now)
    two = queries_of(LOW_STOCK, now + timedelta(hours=6))
    stocked_owners(10)
    run_job(LOW_STOCK, now + timedelta(hours=12))

    twelve = queries_of(LOW_STOCK, now + timedelta(hours=18))

    assert twelve == two


def test_quiet_low_stock_run_touches_no_owner_and_sends_nothing(now):
    stocked_owners(3)
    run_job(LOW_STOCK, now)
    mail.outbox.clear()

    summary = run_job(LOW_STOCK, now + timedelta(hours=6))

    assert (summary["owners"], summary["owners_failed"]) == (0, 0)
    assert mail.outbox == []


def test_only_the_owner_whose_stock_changed_is_checked(now):
    _, second = stocked_owners(2)
    run_job(LOW_STOCK, now)
    mail.outbox.clear()
    make_item(second, quantity=0, reorder_level=5, sku="NEW-1")

    summary = run_job(LOW_STOCK, now + timedelta(hours=6))

    assert (summary["owners"], summary["alerts_opened"], summary["digests"]) == (1, 1, 1)
    [message] = mail.outbox
    assert message.to == [second.contact_email]
    assert "NEW-1" in message.body


def test_an_item_that_recovered_brings_its_owner_back_and_is_resolved(now):
    owner, _ = stocked_owners(2)
    run_job(LOW_STOCK, now)
    alert = LowStockAlert.objects.get(owner=owner)
    alert.item.quantity = 40
    alert.item.save()

    summary = run_job(LOW_STOCK, now + timedelta(hours=6))

    alert.refresh_from_db()
    assert (summary["owners"], summary["alerts_resolved"], alert.status) == (1, 1, "resolved")


def test_owner_who_turned_the_e_mail_off_is_not_checked_again_for_its_unannounced_alerts(now):
    quiet, _ = stocked_owners(2)
    owner_settings.set_value(quiet.pk, "ALERTS_LOW_STOCK_EMAIL_ENABLED", "false")
    run_job(LOW_STOCK, now)

    assert low_stock.owners_to_check(now=now + timedelta(hours=6)) == set()
    assert LowStockAlert.objects.filter(owner=quiet, notification__isnull=True).count() == 1


def test_turning_the_e_mail_back_on_announces_the_waiting_alerts(now):
    quiet, _ = stocked_owners(2)
    owner_settings.set_value(quiet.pk, "ALERTS_LOW_STOCK_EMAIL_ENABLED", "false")
    run_job(LOW_STOCK, now)
    mail.outbox.clear()
    owner_settings.set_value(quiet.pk, "ALERTS_LOW_STOCK_EMAIL_ENABLED", "true")

    summary = run_job(LOW_STOCK, now + timedelta(hours=6))

    assert (summary["owners"], summary["digests"]) == (1, 1)
    assert [message.to for message in mail.outbox] == [[quiet.contact_email]]


def test_a_run_for_one_owner_checks_it_even_with_nothing_to_do(now):
    owner, _ = stocked_owners(2)
    run_job(LOW_STOCK, now)

    summary = run_job(LOW_STOCK, now + timedelta(hours=6), owner_id=owner.pk)

    assert (summary["owners"], summary["alerts_opened"]) == (1, 0)


def test_digests_of_a_chunk_go_each_to_its_own_owner(now):
    owners = stocked_owners(3)

    run_job(LOW_STOCK, now)

    assert sorted(message.to[0] for message in mail.outbox) == sorted(owner.contact_email for owner in owners)
    for message in mail.outbox:
        owner = next(each for each in owners if each.contact_email == message.to[0])
        [sku] = LowStockAlert.objects.filter(owner=owner).values_list("item__sku", flat=True)
        assert sku in message.body
        assert message.subject == f"1 item below reorder level at {owner.name}"


def test_quiet_billing_run_costs_the_same_queries_for_two_owners_or_twelve(now):
    billed_owners(2, now)
    run_job(BILLING, now)
    two = queries_of(BILLING, now + timedelta(hours=1))
    billed_owners(10, now)
    run_job(BILLING, now + timedelta(hours=2))

    twelve = queries_of(BILLING, now + timedelta(hours=3))

    assert twelve == two


def test_quiet_billing_run_touches_no_owner(now):
    billed_owners(3, now)
    first = run_job(BILLING, now)
    mail.outbox.clear()

    summary = run_job(BILLING, now + timedelta(hours=1))

    assert (first["owners"], first["trial_notices"], first["invoice_overdue_notices"]) == (3, 3, 3)
    assert (summary["owners"], summary["owners_failed"]) == (0, 0)
    assert mail.outbox == []


def test_owner_is_found_again_when_its_next_notice_falls_due(now):
    [owner] = billed_owners(1, now)
    run_job(BILLING, now)

    assert trials_and_payments.owners_to_check(now=now + timedelta(days=1)) == set()
    assert trials_and_payments.owners_to_check(now=now + timedelta(days=2, hours=1)) == {
        owner.pk
    }  # 3 days left


def test_reminder_day_follows_the_owners_own_setting_when_finding_owners(now):
    strict, relaxed = billed_owners(2, now)
    owner_settings.set_value(strict.pk, "BILLING_OVERDUE_REMINDER_DAYS", "3")
    Invoice.objects.filter(owner=relaxed).update(dunning=Invoice.Dunning.OVERDUE)
    Invoice.objects.filter(owner=strict).update(dunning=Invoice.Dunning.OVERDUE)
    day_three = now + timedelta(days=1)  # 3 March: the invoice due 28 February is 3 days overdue

    assert owners_with_dunning_work(now=day_three) == {strict.pk}


def test_invoice_not_yet_overdue_in_the_owners_calendar_does_not_bring_it_in(other_owner, now):
    make_invoice(other_owner, due_date=date(2026, 3, 1))
    early = now.replace(hour=3)  # 2 March 03:00 UTC is still 1 March in New York

    assert owners_with_dunning_work(now=early) == set()
    assert owners_with_dunning_work(now=now.replace(hour=6)) == {other_owner.pk}


def test_lapsed_subscription_brings_its_owner_in(owner, now):
    make_active(owner, period_end=now - timedelta(minutes=1))

    assert trials_and_payments.owners_to_check(now=now) == {owner.pk}
