from datetime import timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from inventory.low_stock import check_owner
from inventory.models import LowStockAlert
from notifications.models import Notification
from tenants import owner_settings
from tests.domain.builders import make_item

pytestmark = pytest.mark.django_db


def test_item_below_its_reorder_level_gets_one_open_alert_across_repeated_checks(owner, now):
    item = make_item(owner, quantity=3, reorder_level=10)

    for hours in range(3):
        check_owner(owner, now=now + timedelta(hours=6 * hours))

    alert = LowStockAlert.objects.get(item=item)
    assert (alert.status, alert.quantity, alert.reorder_level) == ("open", 3, 10)


def test_item_exactly_at_its_reorder_level_is_not_low(owner, now):
    make_item(owner, quantity=10, reorder_level=10)

    counts = check_owner(owner, now=now)

    assert counts["alerts_opened"] == 0
    assert not LowStockAlert.objects.exists()


def test_alert_is_resolved_when_the_stock_recovers(owner, now):
    item = make_item(owner, quantity=1, reorder_level=5)
    check_owner(owner, now=now)
    item.quantity = 40
    item.save()

    counts = check_owner(owner, now=now + timedelta(hours=6))

    alert = LowStockAlert.objects.get(item=item)
    assert (alert.status, alert.resolved_at) == ("resolved", now + timedelta(hours=6))
    assert counts["alerts_resolved"] == 1


def test_item_low_again_after_recovering_opens_a_new_alert_and_is_e_mailed_again(owner, now):
    item = make_item(owner, quantity=1, reorder_level=5)
    check_owner(owner, now=now)
    item.quantity = 40
    item.save()
    check_owner(owner, now=now + timedelta(hours=6))
    item.quantity = 2
    item.save()

    check_owner(owner, now=now + timedelta(hours=12))

    assert list(LowStockAlert.objects.filter(item=item).values_list("status", flat=True).order_by("pk")) == [
        "resolved",
        "open",
    ]
    assert len(mail.outbox) == 2


def test_second_database_row_for_an_open_alert_is_refused_by_the_database(owner, now):
    item = make_item(owner, quantity=1, reorder_level=5)
    LowStockAlert.objects.create(owner=owner, item=item, quantity=1, reorder_level=5, opened_at=now)

    with pytest.raises(IntegrityError), transaction.atomic():
        LowStockAlert.objects.create(owner=owner, item=item, quantity=1, reorder_level=5, opened_at=now)


def test_digest_goes_to_the_owner_contact_in_text_and_html(owner, now):
    make_item(owner, quantity=2, reorder_level=10, sku="NUT-M6")

    check_owner(owner, now=now)

    [message] = mail.outbox
    assert message.to == ["ops@acme.test"]
    assert message.subject == "1 item below reorder level at Acme"
    assert "NUT-M6" in message.body
    assert "2 in stock, reorder level 10" in message.body
    assert "09:00 GMT" in message.body  # the check time in the owner's zone (Europe/London)
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "<td>NUT-M6</td>" in html


def test_digest_lists_only_alerts_that_are_new_since_the_last_digest(owner, now):
    make_item(owner, quantity=0, reorder_level=5, sku="OLD-1")
    check_owner(owner, now=now)
    make_item(owner, quantity=0, reorder_level=5, sku="NEW-1")

    check_owner(owner, now=now + timedelta(hours=6))

    second = mail.outbox[1]
    assert "NEW-1" in second.body
    assert "OLD-1" not in second.body


def test_no_e_mail_when_nothing_is_new(owner, now):
    make_item(owner, quantity=0, reorder_level=5)
    check_owner(owner, now=now)

    counts = check_owner(owner, now=now + timedelta(hours=6))

    assert len(mail.outbox) == 1
    assert (counts["digests"], counts["emails_sent"]) == (0, 0)


def test_long_digest_lists_fifty_items_and_counts_the_rest(owner, now):
    for number in range(55):
        make_item(owner, quantity=0, reorder_level=5, sku=f"P-{number:03d}")

    check_owner(owner, now=now)

    [message] = mail.outbox
    assert message.subject == "55 items below reorder level at Acme"
    assert message.body.count("in stock, reorder level") == 50
    assert "…and 5 more." in message.body
    assert LowStockAlert.objects.filter(status="open").count() == 55


def test_owner_who_turned_the_e_mail_off_gets_alerts_but_no_e_mail(owner, now):
    owner_settings.set_value(owner.pk, "ALERTS_LOW_STOCK_EMAIL_ENABLED", "false")
    make_item(owner, quantity=0, reorder_level=5)

    check_owner(owner, now=now)

    assert LowStockAlert.objects.filter(owner=owner, status="open").count() == 1
    assert mail.outbox == []
    assert not Notification.objects.exists()


def test_check_leaves_other_owners_items_alone(owner, other_owner, now):
    make_item(other_owner, quantity=0, reorder_level=5)

    check_owner(owner, now=now)

    assert not LowStockAlert.objects.exists()
    assert mail.outbox == []


def test_queries_per_owner_do_not_grow_with_the_number_of_low_items(owner, other_owner, now):
    make_item(owner, quantity=0, reorder_level=5)
    for _ in range(40):
        make_item(other_owner, quantity=0, reorder_level=5)

    with CaptureQueriesContext(connection) as few:
        check_owner(owner, now=now)
    with CaptureQueriesContext(connection) as many:
        check_owner(other_owner, now=now)

    assert len(many) == len(few)
