"""The outbox for a chunk of owners (what the domain jobs use): the same rows and rules, in a few queries."""

import socket

import pytest
from django.core import mail
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from notifications import outbox
from notifications.models import Notification
from tests.builders import make_owner

pytestmark = pytest.mark.django_db


def overdue(number: int) -> outbox.NewNotification:
    return outbox.NewNotification(
        kind=Notification.Kind.INVOICE_OVERDUE,
        dedup_key=f"invoice:{number}:overdue",
        payload={"number": f"INV-{number}", "amount": "10.00", "currency": "EUR", "due_date": "2026-03-01"},
    )


def send_for(owners, **options) -> outbox.SendCounts:
    return outbox.send_all_due(owner_ids=[owner.pk for owner in owners], **options)


def unreachable_mail_server():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=port,
        EMAIL_TIMEOUT=5,
    )


def test_the_same_key_is_recorded_once_per_owner_for_several_owners(owner, other_owner, now):
    pairs = [(owner.pk, overdue(1)), (other_owner.pk, overdue(1)), (owner.pk, overdue(2))]

    assert outbox.record_for_owners(pairs, now=now) == 3
    assert outbox.record_for_owners(pairs, now=now) == 0
    assert sorted(Notification.objects.values_list("owner_id", "dedup_key")) == sorted(
        [
            (owner.pk, "invoice:1:overdue"),
            (other_owner.pk, "invoice:1:overdue"),
            (owner.pk, "invoice:2:overdue"),
        ]
    )


def test_a_key_the_one_owner_outbox_recorded_is_not_recorded_again(owner, now):
    outbox.record(owner.pk, [overdue(1)], now=now)

    assert outbox.record_for_owners([(owner.pk, overdue(1))], now=now) == 0
    assert Notification.objects.count() == 1


def test_recorded_keys_names_only_the_pairs_that_exist(owner, other_owner, now):
    outbox.record(owner.pk, [overdue(1)], now=now)

    found = outbox.recorded_keys([(owner.pk, "invoice:1:overdue"), (other_owner.pk, "invoice:1:overdue")])

    assert found == {(owner.pk, "invoice:1:overdue")}


def test_each_owners_notifications_go_to_its_own_contact_only(owner, other_owner, now):
    outbox.record_for_owners([(owner.pk, overdue(1)), (other_owner.pk, overdue(2))], now=now)

    counts = send_for([owner, other_owner], now=now)

    assert counts == outbox.SendCounts(sent=2)
    assert sorted(
        (message.to[0], message.extra_headers["X-Notification-Key"]) for message in mail.outbox
    ) == [
        ("ops@acme.test", "invoice:1:overdue"),
        ("ops@globex.test", "invoice:2:overdue"),
    ]
    assert dict(Notification.objects.values_list("owner_id", "recipient")) == {
        owner.pk: "ops@acme.test",
        other_owner.pk: "ops@globex.test",
    }


def test_owners_not_asked_for_are_not_sent_to(owner, other_owner, now):
    outbox.record_for_owners([(owner.pk, overdue(1)), (other_owner.pk, overdue(2))], now=now)

    send_for([owner], now=now)

    assert [message.to for message in mail.outbox] == [["ops@acme.test"]]
    assert Notification.objects.get(owner=other_owner).status == "pending"


def test_rows_are_claimed_in_batches_and_each_sent_once(owner, now):
    outbox.record_for_owners([(owner.pk, overdue(number)) for number in range(5)], now=now)

    first = send_for([owner], now=now, batch_size=2)
    second = send_for([owner], now=now, batch_size=2)

    assert (first.sent, second.sent) == (5, 0)
    assert (
        len({message.extra_headers["X-Notification-Key"] for message in mail.outbox}) == len(mail.outbox) == 5
    )


def test_sending_a_chunk_costs_the_same_queries_for_one_owner_or_several(owner, now):
    # Five e-mails either way: the cost follows the rows (one mark each), never the number of owners.
    others = [make_owner(contact_email=f"ops{number}@example.test") for number in range(5)]
    outbox.record_for_owners([(owner.pk, overdue(number)) for number in range(5)], now=now)
    with CaptureQueriesContext(connection) as one:
        send_for([owner], now=now)
    outbox.record_for_owners([(each.pk, overdue(1)) for each in others], now=now)

    with CaptureQueriesContext(connection) as several:
        send_for(others, now=now)

    assert len(several) == len(one)


def test_owner_without_a_contact_is_skipped_and_the_others_are_sent(owner, now):
    silent = make_owner("Silent Ltd", contact_email="")
    outbox.record_for_owners([(owner.pk, overdue(1)), (silent.pk, overdue(1))], now=now)

    counts = send_for([owner, silent], now=now)

    assert (counts.sent, counts.skipped) == (1, 1)
    assert Notification.objects.get(owner=silent).status == "skipped"
    assert [message.to for message in mail.outbox] == [["ops@acme.test"]]


def test_unreachable_mail_server_puts_every_claimed_row_back_with_the_error(owner, other_owner, now):
    outbox.record_for_owners([(owner.pk, overdue(1)), (other_owner.pk, overdue(2))], now=now)

    with unreachable_mail_server():
        counts = send_for([owner, other_owner], now=now)

    assert counts.failed == 2
    rows = Notification.objects.all()
    assert {(row.status, row.attempts) for row in rows} == {("pending", 1)}
    assert all("ConnectionRefusedError" in row.last_error for row in rows)


def test_a_row_that_keeps_failing_ends_failed(owner, now):
    outbox.record_for_owners([(owner.pk, overdue(1))], now=now)
    Notification.objects.update(attempts=outbox.MAX_ATTEMPTS - 1)

    with unreachable_mail_server():
        send_for([owner], now=now)

    assert Notification.objects.get().status == "failed"


def test_a_row_left_sending_by_a_crashed_sender_is_never_sent_again(owner, now):
    outbox.record_for_owners([(owner.pk, overdue(1))], now=now)
    Notification.objects.update(status=Notification.Status.SENDING, claim_token="dead-worker")

    assert send_for([owner], now=now) == outbox.SendCounts()
    assert mail.outbox == []
