"""The low-stock check: open one alert per low item, resolve recovered ones, e-mail a digest of new ones.

Per owner the check costs a constant number of queries: one to resolve, two per chunk of newly low items,
and a fixed handful for the digest and its e-mail, whatever the number of items.
"""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, Min, OuterRef

from inventory.models import LowStockAlert, StockItem
from inventory.owner_settings import LOW_STOCK_EMAIL_ENABLED
from notifications import outbox
from notifications.models import Notification
from tenants import owner_settings
from tenants.models import Owner

ITEM_CHUNK_SIZE = 1000
DIGEST_ITEMS_LISTED = 50  # the e-mail lists this many and counts the rest


def check_owner(owner: Owner, *, now: datetime, chunk_size: int = ITEM_CHUNK_SIZE) -> dict[str, int]:
    """Bring one owner's alerts in line with its stock, then e-mail what is new; returns counts.

    Safe to repeat and to run twice at once: the partial unique constraint allows one open alert per item,
    each alert joins at most one digest (a conditional claim), and each digest is e-mailed at most once.
    """
    checked_at = now.astimezone(owner.zone)  # also fails early for an owner with a broken time zone
    e_mail = owner_settings.get(owner.pk, LOW_STOCK_EMAIL_ENABLED.key)
    # One transaction: the alerts and the digest announcing them commit together (the outbox rule),
    # and one commit per owner instead of one per statement.
    with transaction.atomic():
        resolved = resolve_recovered(owner, now=now)
        opened = open_alerts(owner, now=now, chunk_size=chunk_size)
        digests = record_digest(owner, now=now, checked_at=checked_at) if e_mail else 0
    counts = {"alerts_opened": opened, "alerts_resolved": resolved, "digests": digests}
    sent = outbox.send_pending(owner, now=now)
    counts.update(emails_sent=sent.sent, emails_failed=sent.failed, emails_skipped=sent.skipped)
    return counts


def resolve_recovered(owner: Owner, *, now: datetime) -> int:
    """Resolve the owner's open alerts whose item is no longer low, in one UPDATE."""
    recovered = StockItem.objects.filter(pk=OuterRef("item_id"), quantity__gte=F("reorder_level"))
    return (
        LowStockAlert.objects.filter(owner=owner, status=LowStockAlert.Status.OPEN)
        .filter(Exists(recovered))
        .update(status=LowStockAlert.Status.RESOLVED, resolved_at=now)
    )


def open_alerts(owner: Owner, *, now: datetime, chunk_size: int = ITEM_CHUNK_SIZE) -> int:
    """Open an alert for each low item that has none, ``chunk_size`` items per SELECT + INSERT."""
    open_alert = LowStockAlert.objects.filter(item=OuterRef("pk"), status=LowStockAlert.Status.OPEN)
    low_items = (
        StockItem.objects.filter(owner=owner, quantity__lt=F("reorder_level"))
        .filter(~Exists(open_alert))
        .order_by("pk")
        .values_list("pk", "quantity", "reorder_level")
    )
    opened, last_id = 0, 0
    while True:
        chunk = list(low_items.filter(pk__gt=last_id)[:chunk_size])
        if not chunk:
            return opened
        # A concurrent check may open the same alert first: the constraint keeps one, the other is ignored.
        LowStockAlert.objects.bulk_create(
            [
                LowStockAlert(
                    owner=owner, item_id=item_id, quantity=quantity, reorder_level=level, opened_at=now
                )
                for item_id, quantity, level in chunk
            ],
            ignore_conflicts=True,
        )
        opened += len(chunk)
        last_id = chunk[-1][0]
        if len(chunk) < chunk_size:
            return opened


def record_digest(owner: Owner, *, now: datetime, checked_at: datetime) -> int:
    """Record one digest notification claiming every open, unannounced alert; returns 1 or 0.

    Call it inside the transaction that opened the alerts. The digest's key is its first alert's id: two
    checks racing for the same alerts compute the same key, so the unique constraint lets one insert it,
    and the claim UPDATE skips alerts another digest took.
    """
    unannounced = LowStockAlert.objects.filter(
        owner=owner, status=LowStockAlert.Status.OPEN, notification__isnull=True
    )
    first_id = unannounced.aggregate(first=Min("pk"))["first"]
    if first_id is None:
        return 0
    try:
        with transaction.atomic():
            digest = Notification.objects.create(
                owner=owner,
                kind=Notification.Kind.LOW_STOCK_DIGEST,
                dedup_key=f"low_stock:{first_id}",
                created_at=now,
            )
    except IntegrityError:
        return 0  # a concurrent check recorded this digest
    claimed = unannounced.update(notification=digest)
    if not claimed:
        digest.delete()  # the racing check claimed the alerts first
        return 0
    listed = (
        LowStockAlert.objects.filter(notification=digest)
        .order_by("item__sku")
        .values_list("item__sku", "item__name", "quantity", "reorder_level")[:DIGEST_ITEMS_LISTED]
    )
    digest.payload = {
        "count": claimed,
        "more": max(claimed - DIGEST_ITEMS_LISTED, 0),
        "checked_at": checked_at.strftime("%Y-%m-%d %H:%M %Z"),
        "items": [
            {"sku": sku, "name": name, "quantity": quantity, "reorder_level": level}
            for sku, name, quantity, level in listed
        ],
    }
    digest.save(update_fields=["payload"])
    return 1
