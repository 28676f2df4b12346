from datetime import date, timedelta

import pytest
from django.urls import reverse

from inventory.models import LowStockAlert
from notifications import outbox
from notifications.models import Notification
from tests.domain.builders import make_active, make_invoice, make_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(owner, now):
    """One row of every domain model, all belonging to ``owner``."""
    item = make_item(owner, quantity=0, reorder_level=5, sku="ACME-SECRET-SKU")
    subscription = make_active(owner, period_end=now + timedelta(days=3), plan="acme-secret-plan")
    outbox.record(
        owner.pk,
        [outbox.NewNotification(kind=Notification.Kind.INVOICE_OVERDUE, dedup_key="k", payload={})],
        now=now,
    )
    return {
        "inventory_stockitem": item,
        "inventory_lowstockalert": LowStockAlert.objects.create(
            owner=owner, item=item, quantity=0, reorder_level=5, opened_at=now
        ),
        "billing_subscription": subscription,
        "billing_invoice": make_invoice(owner, due_date=date(2026, 3, 1), subscription=subscription),
        "notifications_notification": Notification.objects.get(owner=owner),
    }


@pytest.mark.parametrize(
    "model",
    [
        "inventory_stockitem",
        "inventory_lowstockalert",
        "billing_subscription",
        "billing_invoice",
        "notifications_notification",
    ],
)
def test_outsider_gets_404_opening_another_owners_row_by_url(client, outsider, rows, model):
    client.force_login(outsider)

    assert client.get(reverse(f"admin:{model}_change", args=[rows[model].pk])).status_code == 404


@pytest.mark.parametrize(
    "model",
    [
        "inventory_stockitem",
        "inventory_lowstockalert",
        "billing_subscription",
        "billing_invoice",
        "notifications_notification",
    ],
)
def test_member_opens_their_own_row(client, member, rows, model):
    client.force_login(member)

    assert client.get(reverse(f"admin:{model}_change", args=[rows[model].pk])).status_code == 200


def test_outsiders_stock_list_does_not_show_another_owners_items(client, outsider, member, rows):
    client.force_login(outsider)
    theirs = client.get(reverse("admin:inventory_stockitem_changelist"))
    client.force_login(member)
    ours = client.get(reverse("admin:inventory_stockitem_changelist"))

    assert "ACME-SECRET-SKU" not in theirs.text
    assert "ACME-SECRET-SKU" in ours.text


def test_outsiders_invoice_form_does_not_offer_another_owners_subscriptions(client, outsider, rows):
    client.force_login(outsider)

    response = client.get(reverse("admin:billing_invoice_add"))

    assert response.status_code == 200
    assert "acme-secret-plan" not in response.text


def test_outsider_cannot_requeue_another_owners_notification(client, outsider, rows):
    row = rows["notifications_notification"]
    Notification.objects.filter(pk=row.pk).update(status=Notification.Status.FAILED)
    client.force_login(outsider)

    client.post(
        reverse("admin:notifications_notification_changelist"),
        {"action": "requeue_selected", "_selected_action": [row.pk]},
    )

    row.refresh_from_db()
    assert row.status == Notification.Status.FAILED


def test_member_requeues_their_failed_notification(client, member, rows):
    row = rows["notifications_notification"]
    Notification.objects.filter(pk=row.pk).update(status=Notification.Status.FAILED)
    client.force_login(member)

    client.post(
        reverse("admin:notifications_notification_changelist"),
        {"action": "requeue_selected", "_selected_action": [row.pk]},
    )

    row.refresh_from_db()
    assert row.status == Notification.Status.PENDING


@pytest.mark.parametrize(
    "model",
    [
        "inventory_stockitem",
        "inventory_lowstockalert",
        "billing_subscription",
        "billing_invoice",
        "notifications_notification",
    ],
)
def test_member_list_page_shows_their_rows(client, member, rows, model):
    client.force_login(member)

    response = client.get(reverse(f"admin:{model}_changelist"))

    assert response.status_code == 200
    assert f"/{rows[model].pk}/change/" in response.text


def test_outsiders_subscription_filters_do_not_name_another_owners_plan(client, outsider, rows):
    client.force_login(outsider)

    response = client.get(reverse("admin:billing_subscription_changelist"))

    assert response.status_code == 200
    assert "acme-secret-plan" not in response.text
