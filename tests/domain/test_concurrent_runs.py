"""Two runs of a job at once, each thread on its own PostgreSQL connection: nothing happens twice."""

import threading
from collections import Counter
from dataclasses import asdict
from datetime import date, timedelta

import pytest
from django.core import mail
from django.db import connection

from billing import trials_and_payments
from billing.models import Invoice, Subscription
from inventory import low_stock
from inventory.models import LowStockAlert
from jobs.owner_sweep import sweep_owners
from notifications import outbox
from notifications.models import Notification
from tests.builders import make_owner
from tests.domain.builders import make_active, make_invoice, make_item, make_trial

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RUNS_AT_ONCE = 3
OWNERS = 8


def run_at_once(run) -> list[dict]:
    """Start RUNS_AT_ONCE calls of ``run()`` at the same moment and return the summaries they return."""
    barrier = threading.Barrier(RUNS_AT_ONCE)
    summaries: list[dict] = []
    errors: list[BaseException] = []

    def one_run() -> None:
        try:
            barrier.wait()
            summaries.append(run())
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=one_run) for _ in range(RUNS_AT_ONCE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert all(summary.get("owners_failed", 0) == 0 for summary in summaries), summaries
    return summaries


def job_run(check, *, now):
    """What the job does in a global run: find the owners concerned, then check them chunk by chunk."""
    return lambda: sweep_owners(
        lambda owners: check.check_owners(owners, now=now), check.owners_to_check(now=now)
    )


def total(summaries: list[dict], key: str) -> int:
    return sum(summary.get(key, 0) for summary in summaries)


@pytest.fixture
def owners() -> list:
    return [make_owner(contact_email=f"ops{number}@example.test") for number in range(OWNERS)]


def test_concurrent_low_stock_runs_open_each_alert_and_send_each_digest_once(owners, now):
    for owner in owners:
        for _ in range(25):
            make_item(owner, quantity=0, reorder_level=5)
        make_item(owner, quantity=50, reorder_level=5)

    run_at_once(job_run(low_stock, now=now))
    summaries = run_at_once(job_run(low_stock, now=now + timedelta(hours=6)))

    assert LowStockAlert.objects.filter(status="open").count() == OWNERS * 25
    assert Notification.objects.filter(kind=Notification.Kind.LOW_STOCK_DIGEST).count() == OWNERS
    assert not LowStockAlert.objects.filter(notification__isnull=True).exists()
    assert Counter(message.to[0] for message in mail.outbox) == {owner.contact_email: 1 for owner in owners}
    assert total(summaries, "emails_sent") == 0  # the second round found nothing new


def test_concurrent_billing_runs_transition_and_notify_once(owners, now):
    for owner in owners:
        make_trial(owner, ends_at=now + timedelta(days=6))
        make_trial(owner, ends_at=now + timedelta(days=2))
        make_trial(owner, ends_at=now + timedelta(hours=20))
        make_trial(owner, ends_at=now - timedelta(minutes=1))
        make_active(owner, period_end=now - timedelta(hours=1))
        make_invoice(owner, due_date=date(2026, 2, 28))
        make_invoice(owner, due_date=date(2026, 2, 1))

    first = run_at_once(job_run(trials_and_payments, now=now))
    run_at_once(job_run(trials_and_payments, now=now + timedelta(minutes=30)))

    assert total(first, "trials_expired") == OWNERS
    assert total(first, "subscriptions_past_due") == OWNERS
    assert Subscription.objects.filter(status="expired").count() == OWNERS
    assert Subscription.objects.filter(status="past_due").count() == OWNERS
    assert Counter(Notification.objects.values_list("kind", flat=True)) == {
        "trial_reminder": 3 * OWNERS,
        "trial_expired": OWNERS,
        "subscription_past_due": OWNERS,
        "invoice_overdue": OWNERS,
        "invoice_reminder": OWNERS,
    }
    assert Invoice.objects.filter(dunning=Invoice.Dunning.REMINDED).count() == OWNERS
    assert len(mail.outbox) == 7 * OWNERS
    assert len({message.extra_headers["X-Notification-Key"] for message in mail.outbox}) == 7 * OWNERS
    assert Notification.objects.exclude(status="sent").count() == 0


def test_concurrent_senders_hand_each_pending_notification_to_the_backend_once(owners, now):
    owner = owners[0]
    outbox.record(
        owner.pk,
        [
            outbox.NewNotification(
                kind=Notification.Kind.INVOICE_OVERDUE,
                dedup_key=f"invoice:{number}:overdue",
                payload={
                    "number": f"INV-{number}",
                    "amount": "1.00",
                    "currency": "EUR",
                    "due_date": "2026-03-01",
                },
            )
            for number in range(300)
        ],
        now=now,
    )

    summaries = run_at_once(lambda: asdict(outbox.send_due(owner_ids=[owner.pk], now=now, limit=1000)))

    assert total(summaries, "sent") == 300
    assert len(mail.outbox) == 300
    assert len({message.extra_headers["X-Notification-Key"] for message in mail.outbox}) == 300


def test_concurrent_chunk_senders_hand_each_pending_notification_to_the_backend_once(owners, now):
    outbox.record_for_owners(
        [
            (
                owner.pk,
                outbox.NewNotification(
                    kind=Notification.Kind.INVOICE_OVERDUE,
                    dedup_key=f"invoice:{n}:overdue",
                    payload={
                        "number": f"INV-{n}",
                        "amount": "1.00",
                        "currency": "EUR",
                        "due_date": "2026-03-01",
                    },
                ),
            )
            for owner in owners
            for n in range(40)
        ],
        now=now,
    )

    summaries = run_at_once(
        lambda: asdict(outbox.send_all_due(owner_ids=[owner.pk for owner in owners], now=now, batch_size=50))
    )

    assert total(summaries, "sent") == OWNERS * 40
    assert (
        len({(message.to[0], message.extra_headers["X-Notification-Key"]) for message in mail.outbox})
        == len(mail.outbox)
        == OWNERS * 40
    )
