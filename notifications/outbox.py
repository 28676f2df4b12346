"""The outbox: record notifications idempotently, then e-mail the unsent ones, each at most once.

Order, and why: a job inserts the Notification row in the same transaction as the state change that
caused it (trial expired, invoice overdue, alerts opened). Only after that commit does ``send_pending``
claim rows (pending → sending, committed on its own), hand them to the e-mail backend and mark them sent.

- A crash before the commit loses nothing: neither the change nor its notification happened, and the next
  run (or the retry) redoes both.
- A crash after the claim leaves the row ``sending``; nothing resends it automatically, so no crash can
  e-mail twice. The admin lists such rows and an operator can requeue them.
- A backend error (SMTP refused, connection reset) puts the row back to ``pending`` with the error, and
  the next run tries again, up to ``MAX_ATTEMPTS``.
- Two runs racing for the same rows: the unique ``(owner, dedup_key)`` lets only one insert each row, and
  the conditional claim lets only one send it.
"""

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.core.mail import get_connection
from django.db.models import F, QuerySet, Subquery

from notifications.emails import build_email
from notifications.models import Notification
from tenants.models import Owner

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class NewNotification:
    kind: str
    dedup_key: str
    payload: dict


@dataclass(frozen=True)
class SendCounts:
    sent: int = 0
    failed: int = 0
    skipped: int = 0


def record(owner_id: int, notifications: Iterable[NewNotification], *, now: datetime) -> int:
    """Insert the notifications whose key this owner has not seen yet, in two queries; returns how many.

    Call it inside the transaction that makes the change the notifications announce. Rows that already
    exist, or that a concurrent run inserts first, are left alone (the unique constraint decides); the
    count can then include a row the other run won, but the row itself exists once.
    """
    wanted = {item.dedup_key: item for item in notifications}
    if not wanted:
        return 0
    existing = set(
        Notification.objects.filter(owner_id=owner_id, dedup_key__in=list(wanted)).values_list(
            "dedup_key", flat=True
        )
    )
    new = [
        Notification(owner_id=owner_id, kind=item.kind, dedup_key=key, payload=item.payload, created_at=now)
        for key, item in wanted.items()
        if key not in existing
    ]
    Notification.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def send_pending(owner: Owner, *, now: datetime, limit: int = 100) -> SendCounts:
    """E-mail up to ``limit`` of the owner's pending notifications to its contact address.

    Call it outside any transaction: the claim must be committed before anything is handed to the
    backend (see the module docstring). Uses a constant number of queries plus one per failed send.
    """
    token = uuid.uuid4().hex
    oldest = Notification.objects.filter(owner_id=owner.pk, status=Notification.Status.PENDING).order_by("pk")
    claimed = Notification.objects.filter(
        pk__in=Subquery(oldest.values("pk")[:limit]), status=Notification.Status.PENDING
    ).update(status=Notification.Status.SENDING, claim_token=token, attempts=F("attempts") + 1)
    if not claimed:
        return SendCounts()
    rows = list(
        Notification.objects.filter(
            owner_id=owner.pk, status=Notification.Status.SENDING, claim_token=token
        ).order_by("pk")
    )
    recipient = owner.contact_email
    if not recipient:
        Notification.objects.filter(pk__in=[row.pk for row in rows]).update(
            status=Notification.Status.SKIPPED, last_error="The owner has no contact e-mail."
        )
        return SendCounts(skipped=len(rows))

    sent_ids, failures = [], []
    connection = get_connection()
    try:
        connection.open()
    except Exception as error:  # the server is unreachable: nothing was handed over, so retry them all
        logger.exception("e-mail backend unavailable", extra={"owner_id": owner.pk})
        failures = [(row, error) for row in rows]
    else:
        try:
            for row in rows:
                try:
                    build_email(row, owner=owner, recipient=recipient, connection=connection).send()
                except Exception as error:  # one bad message (template, refusal) must not stop the rest
                    logger.exception(
                        "notification e-mail failed", extra={"owner_id": owner.pk, "notification_id": row.pk}
                    )
                    failures.append((row, error))
                else:
                    sent_ids.append(row.pk)
        finally:
            connection.close()
    Notification.objects.filter(pk__in=sent_ids).update(
        status=Notification.Status.SENT, sent_at=now, recipient=recipient, last_error=""
    )
    for row, error in failures:
        retry = row.attempts < MAX_ATTEMPTS
        Notification.objects.filter(pk=row.pk, claim_token=token).update(
            status=Notification.Status.PENDING if retry else Notification.Status.FAILED,
            last_error=f"{type(error).__name__}: {error}"[:1000],
        )
    return SendCounts(sent=len(sent_ids), failed=len(failures))


def requeue(notifications: QuerySet[Notification] | Sequence[Notification]) -> int:
    """Put stuck (``sending``) or ``failed`` rows back to pending; an operator's decision, never automatic."""
    ids = [row.pk for row in notifications]
    return Notification.objects.filter(
        pk__in=ids, status__in=[Notification.Status.SENDING, Notification.Status.FAILED]
    ).update(status=Notification.Status.PENDING, attempts=0, claim_token="")
