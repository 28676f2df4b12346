"""The outbox: every e-mail to an owner is a row first, then sent by the one sender, each at most once.

Order, and why: whoever decides that an owner must hear something (the engine's run-failed signal, the
missed-run check, a domain job) inserts the Notification row in the same transaction as the decision
(``record``, or ``record_for_owners`` for a chunk of owners in two queries). Only after that commit does
the sender (``send_due``; the ``notifications.send`` job every minute, or a domain job for the owners it
just handled) claim rows, hand them to the e-mail backend and mark them.

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
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.mail import get_connection
from django.db import transaction
from django.db.models import F, Q, QuerySet

from jobs.retries import backoff_delay
from notifications.emails import build_email
from notifications.models import Notification

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# After failed attempt n the row waits RETRY_BACKOFF * 2**(n-1) (+ jitter): 2, 4, 8 … 128 minutes, so a
# mail server down for about four hours loses nothing.
RETRY_BACKOFF = timedelta(minutes=2)
BATCH_SIZE = 100
NO_CONTACT = "The owner has no contact e-mail."


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
    """``record_for_owners`` for one owner's notifications."""
    return record_for_owners(((owner_id, item) for item in notifications), now=now)


def record_for_owners(notifications: Iterable[tuple[int, NewNotification]], *, now: datetime) -> int:
    """Insert the ``(owner_id, notification)`` pairs whose key that owner has not seen yet; returns how many.

    Two queries however many owners. Call it inside the transaction that makes the change the
    notifications announce. Rows that already exist, or that a concurrent run inserts first, are left
    alone (the unique constraint decides); the count can then include a row the other run won, but the
    row itself exists once.
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


def owners_with_unsent() -> set[int]:
    """Ids of the owners with notifications waiting to be sent (a partial index), in one query."""
    pending = Notification.objects.filter(status=Notification.Status.PENDING).order_by()
    return set(pending.values_list("owner_id", flat=True).distinct())


def claim_due(
    *, now: datetime, limit: int = BATCH_SIZE, owner_ids: Collection[int] | None = None
) -> list[Notification]:
    """Claim up to ``limit`` pending rows due by ``now``, oldest first (``owner_ids``: those owners' only).

    One committed transaction: rows another sender holds are skipped, not waited for (SKIP LOCKED; on
    SQLite the one writer lock serialises claims instead). Returns the claimed rows with their owners.
    """
    token = uuid.uuid4().hex
    due = Notification.objects.filter(status=Notification.Status.PENDING).filter(
        Q(retry_after__isnull=True) | Q(retry_after__lte=now)
    )
    if owner_ids is not None:
        due = due.filter(owner_id__in=owner_ids)
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


def send_due(
    *, now: datetime, limit: int = BATCH_SIZE, owner_ids: Collection[int] | None = None
) -> SendCounts:
    """Claim up to ``limit`` due rows and e-mail each to its owner's contact address; returns the counts.

    Call it outside any transaction: the claim must be committed before anything is handed to the backend
    (see the module docstring). One connection to the backend serves the batch; each row is marked on
    its own right after its send, and a row whose send fails is retried later.
    """
    rows = claim_due(now=now, limit=limit, owner_ids=owner_ids)
    if not rows:
        return SendCounts()
    silent = [row for row in rows if not row.owner.contact_email]
    _mark_skipped(silent)
    counts = SendCounts(skipped=len(silent))
    for row, error in _deliver([row for row in rows if row.owner.contact_email]):
        # Each row is marked right after its own send: a sender killed mid-batch leaves an exact record.
        if error is None:
            row.mark_sent(recipient=row.owner.contact_email, now=now)
            counts += SendCounts(sent=1)
        else:
            _retry_later(row, error, now=now)
            counts += SendCounts(failed=1)
    return counts


def send_all_due(
    *,
    now: datetime,
    batch_size: int = BATCH_SIZE,
    owner_ids: Collection[int] | None = None,
    heartbeat: Callable[[], None] = lambda: None,
) -> SendCounts:
    """``send_due`` batch after batch until nothing due by ``now`` is left: the ``notifications.send`` job.

    A row whose send failed waits for its backoff, so it is not due again within the same call.
    """
    total = SendCounts()
    while True:
        counts = send_due(now=now, limit=batch_size, owner_ids=owner_ids)
        total += counts
        heartbeat()
        if counts.claimed < batch_size:
            return total


def _deliver(rows: Sequence[Notification]) -> Iterator[tuple[Notification, Exception | None]]:
    """Hand each row to the e-mail backend over one connection; yields each row with its error or None."""
    if not rows:
        return
    connection = get_connection()
    try:
        connection.open()
    except Exception as error:  # the server is unreachable: nothing was handed over, so retry them all
        logger.exception("e-mail backend unavailable", extra={"notifications": len(rows)})
        yield from ((row, error) for row in rows)
        return
    try:
        for row in rows:
            try:
                build_email(
                    row, owner=row.owner, recipient=row.owner.contact_email, connection=connection
                ).send()
            except Exception as error:  # one bad message (template, refusal) must not stop the rest
                logger.exception(
                    "notification e-mail failed", extra={"owner_id": row.owner_id, "notification_id": row.pk}
                )
                yield row, error
            else:
                yield row, None
    finally:
        connection.close()


def _mark_skipped(rows: Sequence[Notification]) -> None:
    # Nothing was handed over, so one UPDATE for them all, conditional on the claim (a requeue wins).
    if rows:
        Notification.objects.filter(
            pk__in=[row.pk for row in rows],
            status=Notification.Status.SENDING,
            claim_token=rows[0].claim_token,
        ).update(status=Notification.Status.SKIPPED, last_error=NO_CONTACT)


def _retry_later(row: Notification, error: Exception, *, now: datetime) -> None:
    retry_after = now + backoff_delay(RETRY_BACKOFF, row.attempts) if row.attempts < MAX_ATTEMPTS else None
    row.mark_send_failed(f"{type(error).__name__}: {error}", retry_after=retry_after)


def requeue(notifications: QuerySet[Notification] | Sequence[Notification]) -> int:
    """Put stuck (``sending``) or ``failed`` rows back to pending; an operator's decision, never automatic."""
    ids = [row.pk for row in notifications]
    return Notification.objects.filter(
        pk__in=ids, status__in=[Notification.Status.SENDING, Notification.Status.FAILED]
    ).update(status=Notification.Status.PENDING, attempts=0, claim_token="", retry_after=None)
