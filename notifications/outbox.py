"""The outbox: every e-mail to an owner is a row first, then sent by the one sender, each at most once.

Order, and why: whoever decides that an owner must hear something (the engine's run-failed signal, the
missed-run check, a domain job) inserts the Notification row in the same transaction as the decision
(``record``). Only after that commit does the sender (``send_due``, the ``notifications.send`` job every
minute) claim rows, hand them to the e-mail backend and mark each one on its own.

- A crash before the commit loses nothing: neither the decision nor its notification happened, and the
  next run (or the retry) redoes both.
- Claiming is one short transaction: ``SELECT … FOR UPDATE SKIP LOCKED`` (two senders never wait for each
  other, nor take the same row) and pending → sending. No lock is held while mail is sent.
- A crash after the claim leaves the row ``sending``; nothing resends it automatically, so no crash can
  e-mail twice. The admin lists such rows and an operator can requeue them.
- A failed send (SMTP refused, connection reset, a bad template) puts that row back to pending, due again
  after an exponential backoff, up to ``MAX_ATTEMPTS``; the other rows of the batch go out as usual.
- Two runs racing to record: the unique ``(owner, dedup_key)`` lets only one insert each row.
"""

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from django.db.models import F, Q, QuerySet

from jobs.retries import backoff_delay
from notifications.emails import build_email
from notifications.models import Notification
from tenants.models import Owner

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# After failed attempt n the row waits RETRY_BACKOFF * 2**(n-1) (+ jitter): 2, 4, 8 … 128 minutes, so a
# mail server down for about four hours loses nothing.
RETRY_BACKOFF = timedelta(minutes=2)
BATCH_SIZE = 100


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

    def __add__(self, other: "SendCounts") -> "SendCounts":
        return SendCounts(self.sent + other.sent, self.failed + other.failed, self.skipped + other.skipped)

    @property
    def claimed(self) -> int:
        return self.sent + self.failed + self.skipped


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


def claim_due(*, now: datetime, limit: int = BATCH_SIZE, owner_id: int | None = None) -> list[Notification]:
    """Claim up to ``limit`` pending rows due by ``now``, oldest first (``owner_id``: that owner's only).

    One committed transaction: rows another sender holds are skipped, not waited for (SKIP LOCKED; on
    SQLite the one writer lock serialises claims instead). Returns the claimed rows with their owners.
    """
    token = uuid.uuid4().hex
    due = Notification.objects.filter(status=Notification.Status.PENDING).filter(
        Q(retry_after__isnull=True) | Q(retry_after__lte=now)
    )
    if owner_id is not None:
        due = due.filter(owner_id=owner_id)
    with transaction.atomic():
        ids = list(
            due.order_by("pk").select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        Notification.objects.filter(pk__in=ids).update(
            status=Notification.Status.SENDING, claim_token=token, attempts=F("attempts") + 1
        )
    return list(
        Notification.objects.filter(status=Notification.Status.SENDING, claim_token=token)
        .select_related("owner")
        .order_by("pk")
    )


def send_due(*, now: datetime, limit: int = BATCH_SIZE, owner_id: int | None = None) -> SendCounts:
    """Claim up to ``limit`` due rows and e-mail each to its owner's contact address; returns the counts.

    Call it outside any transaction: the claim must be committed before anything is handed to the backend
    (see the module docstring). Each row is marked on its own right after its send.
    """
    rows = claim_due(now=now, limit=limit, owner_id=owner_id)
    if not rows:
        return SendCounts()
    outcomes: Counter[str] = Counter()
    connection = get_connection()
    try:
        connection.open()
    except Exception as error:  # the server is unreachable: nothing was handed over, so retry them all
        logger.exception("e-mail backend unavailable", extra={"notifications": len(rows)})
        for row in rows:
            _retry_later(row, error, now=now)
        return SendCounts(failed=len(rows))
    try:
        for row in rows:
            outcomes[_deliver(row, connection, now=now)] += 1
    finally:
        connection.close()
    return SendCounts(sent=outcomes["sent"], failed=outcomes["failed"], skipped=outcomes["skipped"])


def send_all_due(
    *, now: datetime, batch_size: int = BATCH_SIZE, heartbeat: Callable[[], None] = lambda: None
) -> SendCounts:
    """``send_due`` batch after batch until nothing due by ``now`` is left: the ``notifications.send`` job."""
    total = SendCounts()
    while True:
        counts = send_due(now=now, limit=batch_size)
        total += counts
        heartbeat()
        if counts.claimed < batch_size:
            return total


def send_pending(owner: Owner, *, now: datetime, limit: int = BATCH_SIZE) -> SendCounts:
    """``send_due`` for one owner's rows: what a job that just recorded notices may call after its commit."""
    return send_due(now=now, limit=limit, owner_id=owner.pk)


def _deliver(row: Notification, connection: BaseEmailBackend, *, now: datetime) -> str:
    recipient = row.owner.contact_email
    if not recipient:
        row.mark_skipped("The owner has no contact e-mail.")
        return "skipped"
    try:
        build_email(row, owner=row.owner, recipient=recipient, connection=connection).send()
    except Exception as error:  # one bad message (template, refusal) must not stop the rest
        logger.exception(
            "notification e-mail failed", extra={"owner_id": row.owner_id, "notification_id": row.pk}
        )
        _retry_later(row, error, now=now)
        return "failed"
    row.mark_sent(recipient=recipient, now=now)
    return "sent"


def _retry_later(row: Notification, error: Exception, *, now: datetime) -> None:
    retry_after = now + backoff_delay(RETRY_BACKOFF, row.attempts) if row.attempts < MAX_ATTEMPTS else None
    row.mark_send_failed(f"{type(error).__name__}: {error}", retry_after=retry_after)


def requeue(notifications: QuerySet[Notification] | Sequence[Notification]) -> int:
    """Put stuck (``sending``) or ``failed`` rows back to pending; an operator's decision, never automatic."""
    ids = [row.pk for row in notifications]
    return Notification.objects.filter(
        pk__in=ids, status__in=[Notification.Status.SENDING, Notification.Status.FAILED]
    ).update(status=Notification.Status.PENDING, attempts=0, claim_token="", retry_after=None)
