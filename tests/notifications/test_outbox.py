"""The outbox: each notification recorded once, sent once by the one sender, retried with backoff."""

import socket
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends import locmem
from django.db import IntegrityError, connection, transaction
from django.test import override_settings

from notifications import outbox
from notifications.models import Notification
from tests.builders import make_owner
from tests.ops.failing_mail import RefusingBackend

pytestmark = pytest.mark.django_db

OVERDUE = outbox.NewNotification(
    kind=Notification.Kind.INVOICE_OVERDUE,
    dedup_key="invoice:1:overdue",
    payload={"number": "INV-1", "amount": "10.00", "currency": "EUR", "due_date": "2026-03-01"},
)


def closed_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_recording_the_same_key_twice_keeps_one_row(owner, now):
    assert outbox.record(owner.pk, [OVERDUE], now=now) == 1
    assert outbox.record(owner.pk, [OVERDUE], now=now) == 0

    assert Notification.objects.filter(owner=owner).count() == 1


def test_the_database_refuses_a_duplicate_key_for_one_owner(owner, now):
    Notification.objects.create(owner=owner, kind=OVERDUE.kind, dedup_key=OVERDUE.dedup_key)

    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.create(owner=owner, kind=OVERDUE.kind, dedup_key=OVERDUE.dedup_key)


def test_the_same_key_may_exist_once_per_owner(owner, other_owner, now):
    outbox.record(owner.pk, [OVERDUE], now=now)
    outbox.record(other_owner.pk, [OVERDUE], now=now)

    assert Notification.objects.count() == 2


def test_pending_notification_is_sent_once_and_marked_sent(owner, now):
    outbox.record(owner.pk, [OVERDUE], now=now)

    first = outbox.send_due(owner_ids=[owner.pk], now=now)
    second = outbox.send_due(owner_ids=[owner.pk], now=now + timedelta(minutes=1))

    assert (first.sent, second.sent) == (1, 0)
    row = Notification.objects.get()
    assert (row.status, row.sent_at, row.recipient) == ("sent", now, "ops@acme.test")
    assert len(mail.outbox) == 1


def test_a_row_left_sending_by_a_crashed_sender_is_never_sent_again(owner, now):
    outbox.record(owner.pk, [OVERDUE], now=now)
    Notification.objects.update(status=Notification.Status.SENDING, claim_token="dead-worker")

    counts = outbox.send_due(owner_ids=[owner.pk], now=now + timedelta(hours=1))

    assert counts == outbox.SendCounts()
    assert mail.outbox == []


def test_requeued_stuck_row_is_sent_by_the_next_run(owner, now):
    outbox.record(owner.pk, [OVERDUE], now=now)
    Notification.objects.update(status=Notification.Status.SENDING, claim_token="dead-worker")

    assert outbox.requeue(Notification.objects.all()) == 1
    outbox.send_due(owner_ids=[owner.pk], now=now)

    assert len(mail.outbox) == 1


def test_unreachable_mail_server_leaves_the_row_pending_with_the_error(owner, now):
    outbox.record(owner.pk, [OVERDUE], now=now)

    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=closed_loopback_port(),
        EMAIL_TIMEOUT=5,
    ):
        counts = outbox.send_due(owner_ids=[owner.pk], now=now)

    row = Notification.objects.get()
    assert counts.failed == 1
    assert (row.status, row.attempts) == ("pending", 1)
    assert "ConnectionRefusedError" in row.last_error


def test_after_the_server_is_back_the_retry_sends_exactly_once(owner, now):
    outbox.record(owner.pk, [OVERDUE], now=now)
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=closed_loopback_port(),
        EMAIL_TIMEOUT=5,
    ):
        outbox.send_due(owner_ids=[owner.pk], now=now)

    outbox.send_due(owner_ids=[owner.pk], now=now + timedelta(hours=1))
    outbox.send_due(owner_ids=[owner.pk], now=now + timedelta(hours=2))

    assert len(mail.outbox) == 1
    assert Notification.objects.get().status == "sent"


def test_a_row_that_keeps_failing_ends_failed(owner, now):
    outbox.record(owner.pk, [OVERDUE], now=now)
    Notification.objects.update(attempts=outbox.MAX_ATTEMPTS - 1)

    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=closed_loopback_port(),
        EMAIL_TIMEOUT=5,
    ):
        outbox.send_due(owner_ids=[owner.pk], now=now)

    assert Notification.objects.get().status == "failed"


def test_owner_without_a_contact_address_is_skipped_not_retried(now):
    silent = make_owner("Silent Ltd", contact_email="")
    outbox.record(silent.pk, [OVERDUE], now=now)

    counts = outbox.send_due(owner_ids=[silent.pk], now=now)

    assert counts.skipped == 1
    assert Notification.objects.get().status == "skipped"
    assert mail.outbox == []


def test_e_mail_carries_the_notification_key_header(owner, now):
    outbox.record(owner.pk, [OVERDUE], now=now)

    outbox.send_due(owner_ids=[owner.pk], now=now)

    assert mail.outbox[0].extra_headers["X-Notification-Key"] == "invoice:1:overdue"
    assert mail.outbox[0].from_email == "scheduler@localhost"


def notice(number: int) -> outbox.NewNotification:
    return outbox.NewNotification(
        kind=Notification.Kind.INVOICE_OVERDUE,
        dedup_key=f"invoice:{number}:overdue",
        payload={"number": f"INV-{number}", "amount": "10.00", "currency": "EUR", "due_date": "2026-03-01"},
    )


def test_a_failed_send_waits_for_its_backoff_then_goes_out_once(owner, now, settings, monkeypatch):
    outbox.record(owner.pk, [OVERDUE], now=now)
    settings.EMAIL_BACKEND = "tests.ops.failing_mail.RefusingBackend"
    monkeypatch.setattr(RefusingBackend, "refused", {owner.contact_email})
    outbox.send_due(now=now)
    monkeypatch.setattr(RefusingBackend, "refused", set())

    too_soon = outbox.send_due(now=now + outbox.RETRY_BACKOFF / 2)
    after_the_backoff = outbox.send_due(now=now + outbox.RETRY_BACKOFF * 2)

    assert (too_soon.claimed, after_the_backoff.sent) == (0, 1)
    row = Notification.objects.get()
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(mail.outbox) == 1


def test_the_backoff_doubles_with_each_failed_attempt(owner, now, settings, monkeypatch):
    outbox.record(owner.pk, [OVERDUE], now=now)
    Notification.objects.update(attempts=3)
    settings.EMAIL_BACKEND = "tests.ops.failing_mail.RefusingBackend"
    monkeypatch.setattr(RefusingBackend, "refused", {owner.contact_email})

    outbox.send_due(now=now)

    waited = Notification.objects.get().retry_after - now
    assert outbox.RETRY_BACKOFF * 8 <= waited <= outbox.RETRY_BACKOFF * 10  # 4th attempt: 2**3, + jitter


class DiesOnTheSecondMessage(locmem.EmailBackend):
    """A mailbox whose process is killed while handing over the second message."""

    def send_messages(self, email_messages):
        if len(mail.outbox) == 1:
            raise KeyboardInterrupt("the sender was killed")
        return super().send_messages(email_messages)


def test_each_row_is_marked_on_its_own_so_a_sender_killed_mid_batch_resends_nothing(owner, now, settings):
    outbox.record(owner.pk, [notice(1), notice(2), notice(3)], now=now)
    settings.EMAIL_BACKEND = f"{__name__}.DiesOnTheSecondMessage"

    with pytest.raises(KeyboardInterrupt):
        outbox.send_due(now=now)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    outbox.send_due(now=now + timedelta(hours=1))

    statuses = dict(Notification.objects.values_list("dedup_key", "status"))
    assert statuses == {
        "invoice:1:overdue": "sent",
        "invoice:2:overdue": "sending",
        "invoice:3:overdue": "sending",
    }
    assert len(mail.outbox) == 1


def test_one_sender_sends_every_owners_due_rows(owner, other_owner, now):
    outbox.record(owner.pk, [notice(1)], now=now)
    outbox.record(other_owner.pk, [notice(2)], now=now)

    counts = outbox.send_all_due(now=now, batch_size=1)

    assert counts.sent == 2
    assert sorted(message.to[0] for message in mail.outbox) == ["ops@acme.test", "ops@globex.test"]


def test_the_sender_is_a_job_that_runs_every_minute():
    from jobs.registry import get_job

    assert get_job("notifications.send").every == timedelta(minutes=1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_second_sender_skips_the_rows_the_first_one_holds_instead_of_waiting(owner, now):
    outbox.record(owner.pk, [notice(1), notice(2)], now=now)
    first = Notification.objects.order_by("pk").first()
    locked, release = threading.Event(), threading.Event()

    def hold_the_first_row() -> None:
        try:
            with transaction.atomic():
                list(Notification.objects.filter(pk=first.pk).select_for_update())
                locked.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_first_row)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        claimed = outbox.claim_due(now=now)
    finally:
        release.set()
        holder.join()

    assert [row.dedup_key for row in claimed] == ["invoice:2:overdue"]
