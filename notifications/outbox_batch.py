"""The outbox for a chunk of owners at once: the same rows and rules as ``outbox``, in a few queries.

``outbox.record`` and ``outbox.send_pending`` work for one owner (two and three queries each). A domain job
that changes hundreds of owners in one set-based step records and sends their notifications here instead:
one SELECT + one INSERT for all the chunk's notifications, and per batch of rows one claim, one read, one
mark-sent, whatever the number of owners. Everything else is ``outbox``'s: the unique ``(owner, dedup_key)``
decides what exists, the claim (pending → sending, committed before anything is handed to the backend)
decides who sends, a backend error puts the row back to pending until ``outbox.MAX_ATTEMPTS``, and a row
left ``sending`` by a crash is never resent.
"""

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.core.mail import get_connection
from django.db.models import F, OuterRef, Subquery

from notifications.emails import build_email
from notifications.models import Notification
from notifications.outbox import MAX_ATTEMPTS, NewNotification, SendCounts
from tenants.models import Owner

logger = logging.getLogger(__name__)

SEND_BATCH_SIZE = 500


def owners_with_unsent() -> set[int]:
    """Ids of the owners with notifications waiting to be sent (a partial index), in one query."""
    pending = Notification.objects.filter(status=Notification.Status.PENDING).order_by()
    return set(pending.values_list("owner_id", flat=True).distinct())


def recorded_keys(pairs: Iterable[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which of these ``(owner_id, dedup_key)`` pairs already exist, in one query."""
    wanted = set(pairs)
    if not wanted:
        return set()
    # Both columns of the unique index narrow the read; the exact pairs are matched here.
    rows = Notification.objects.filter(
        owner_id__in={owner_id for owner_id, _ in wanted}, dedup_key__in={key for _, key in wanted}
    ).values_list("owner_id", "dedup_key")
    return {pair for pair in rows if pair in wanted}


def record_for_owners(notifications: Iterable[tuple[int, NewNotification]], *, now: datetime) -> int:
    """Insert the ``(owner_id, notification)`` pairs whose key that owner has not seen yet; returns how many.

    Two queries however many owners. Call it inside the transaction that makes the changes the
    notifications announce; like ``outbox.record``, a row a concurrent run inserted first is left alone
    (the count can include it, the row exists once).
    """
    wanted = {(owner_id, item.dedup_key): item for owner_id, item in notifications}
    if not wanted:
        return 0
    existing = recorded_keys(wanted)
    new = [
        Notification(owner_id=owner_id, kind=item.kind, dedup_key=key, payload=item.payload, created_at=now)
        for (owner_id, key), item in wanted.items()
        if (owner_id, key) not in existing
    ]
    Notification.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def send_pending_for_owners(
    owners: Sequence[Owner], *, now: datetime, batch_size: int = SEND_BATCH_SIZE
) -> SendCounts:
    """E-mail the pending notifications of ``owners``, each to its owner's contact address.

    Call it outside any transaction (each claim commits before the backend sees a row). Rows are claimed
    ``batch_size`` at a time in id order, each row at most once per call, so a row put back to pending by a
    failed send waits for the next call; one connection to the backend serves each batch.
    """
    by_id = {owner.pk: owner for owner in owners}
    sent = failed = skipped = 0
    last_id = 0
    while by_id:
        token = uuid.uuid4().hex
        oldest = Notification.objects.filter(
            owner_id__in=by_id, status=Notification.Status.PENDING, pk__gt=last_id
        ).order_by("pk")
        claimed = Notification.objects.filter(
            pk__in=Subquery(oldest.values("pk")[:batch_size]), status=Notification.Status.PENDING
        ).update(status=Notification.Status.SENDING, claim_token=token, attempts=F("attempts") + 1)
        if not claimed:
            break
        rows = list(
            Notification.objects.filter(status=Notification.Status.SENDING, claim_token=token).order_by("pk")
        )
        batch = _send_claimed(rows, by_id, now=now, token=token)
        sent, failed, skipped = sent + batch.sent, failed + batch.failed, skipped + batch.skipped
        if claimed < batch_size:
            break
        last_id = rows[-1].pk
    return SendCounts(sent=sent, failed=failed, skipped=skipped)


def _send_claimed(
    rows: list[Notification], owners: dict[int, Owner], *, now: datetime, token: str
) -> SendCounts:
    no_contact = [row.pk for row in rows if not owners[row.owner_id].contact_email]
    if no_contact:
        Notification.objects.filter(pk__in=no_contact).update(
            status=Notification.Status.SKIPPED, last_error="The owner has no contact e-mail."
        )
    to_send = [row for row in rows if owners[row.owner_id].contact_email]
    sent_ids, failures = [], []
    if to_send:
        connection = get_connection()
        try:
            connection.open()
        except Exception as error:  # the server is unreachable: nothing was handed over, so retry them all
            logger.exception("e-mail backend unavailable")
            failures = [(row, error) for row in to_send]
        else:
            try:
                for row in to_send:
                    owner = owners[row.owner_id]
                    try:
                        build_email(
                            row, owner=owner, recipient=owner.contact_email, connection=connection
                        ).send()
                    except Exception as error:  # one bad message (template, refusal) must not stop the rest
                        logger.exception(
                            "notification e-mail failed",
                            extra={"owner_id": owner.pk, "notification_id": row.pk},
                        )
                        failures.append((row, error))
                    else:
                        sent_ids.append(row.pk)
            finally:
                connection.close()
    if sent_ids:
        # The address each row went to is its owner's contact address, read with the owners above.
        contact = Owner.objects.filter(pk=OuterRef("owner_id")).values("contact_email")[:1]
        Notification.objects.filter(pk__in=sent_ids).update(
            status=Notification.Status.SENT, sent_at=now, recipient=Subquery(contact), last_error=""
        )
    for row, error in failures:
        Notification.objects.filter(pk=row.pk, claim_token=token).update(
            status=Notification.Status.PENDING if row.attempts < MAX_ATTEMPTS else Notification.Status.FAILED,
            last_error=f"{type(error).__name__}: {error}"[:1000],
        )
    return SendCounts(sent=len(sent_ids), failed=len(failures), skipped=len(no_contact))
