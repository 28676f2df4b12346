"""The low-stock check: open one alert per low item, resolve recovered ones, e-mail a digest of new ones.

The check is set-based. ``owners_to_check`` asks, across all owners at once, which owners have an item
whose alert state is wrong (low without an open alert, or recovered with one), open alerts not yet in a
digest, or e-mails still to send: each question is one query on a partial index, so a run that finds
nothing anywhere costs the same few queries for ten owners or ten thousand. ``check_owners`` then brings a
chunk of those owners up to date with a constant number of statements per chunk, whatever the number
of owners or items in it, and without loading their items: memory stays flat.
"""

from collections.abc import Sequence
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef

from inventory.digests import record_digests
from inventory.models import LowStockAlert, StockItem
from inventory.owner_settings import LOW_STOCK_EMAIL_ENABLED
from jobs.owner_sweep import setting_for_owners
from notifications import outbox
from tenants.models import Owner


def owners_to_check(*, now: datetime) -> set[int]:
    """Ids of the owners a check would change anything for; a handful of indexed queries in all.

    Inactive owners may be among them: the sweep leaves those out when it loads the owners. ``now`` is
    the sweep's signature; stock has no calendar.
    """
    recovered = LowStockAlert.objects.filter(status=LowStockAlert.Status.OPEN).filter(
        ~Exists(_item_still_low())
    )
    newly_low = StockItem.objects.filter(quantity__lt=F("reorder_level")).filter(
        ~Exists(_open_alert_of_item())
    )
    unannounced = LowStockAlert.objects.filter(status=LowStockAlert.Status.OPEN, notification__isnull=True)
    owners = _owner_ids(recovered) | _owner_ids(newly_low) | outbox.owners_with_unsent()
    # Owners who turned the e-mail off keep their alerts unannounced on purpose: only the others count.
    waiting = _owner_ids(unannounced) - owners
    e_mail = setting_for_owners(LOW_STOCK_EMAIL_ENABLED.key, waiting)
    return owners | {owner_id for owner_id in waiting if e_mail[owner_id]}


def _owner_ids(rows) -> set[int]:
    return set(rows.order_by().values_list("owner_id", flat=True).distinct())


def _item_still_low():
    # "Not low" asked as "not among the low items": an anti-join with the low items' partial index,
    # instead of one primary-key lookup per open alert.
    return StockItem.objects.filter(pk=OuterRef("item_id"), quantity__lt=F("reorder_level"))


def _open_alert_of_item():
    return LowStockAlert.objects.filter(item=OuterRef("pk"), status=LowStockAlert.Status.OPEN)


def check_owners(owners: Sequence[Owner], *, now: datetime) -> dict[str, int]:
    """Bring these owners' alerts in line with their stock, then e-mail what is new; returns total counts.

    Safe to repeat and to run twice at once: the partial unique constraint allows one open alert per item,
    each alert joins at most one digest (a conditional claim), and each digest is e-mailed at most once.
    """
    owner_ids = [owner.pk for owner in owners]
    e_mail = setting_for_owners(LOW_STOCK_EMAIL_ENABLED.key, owner_ids)
    # One transaction: the alerts and the digests announcing them commit together (the outbox rule).
    with transaction.atomic():
        resolved = resolve_recovered(owner_ids, now=now)
        opened = open_alerts(owner_ids, now=now)
        digests = record_digests([owner for owner in owners if e_mail[owner.pk]], now=now)
    sent = outbox.send_all_due(owner_ids=[owner.pk for owner in owners], now=now)
    return {
        "alerts_opened": opened,
        "alerts_resolved": resolved,
        "digests": digests,
        "emails_sent": sent.sent,
        "emails_failed": sent.failed,
        "emails_skipped": sent.skipped,
    }


def check_owner(owner: Owner, *, now: datetime) -> dict[str, int]:
    """``check_owners`` for one owner."""
    return check_owners([owner], now=now)


def resolve_recovered(owner_ids: Sequence[int], *, now: datetime) -> int:
    """Resolve these owners' open alerts whose item is no longer low, in one UPDATE."""
    return (
        LowStockAlert.objects.filter(owner_id__in=owner_ids, status=LowStockAlert.Status.OPEN)
        .filter(~Exists(_item_still_low()))
        .update(status=LowStockAlert.Status.RESOLVED, resolved_at=now)
    )


def open_alerts(owner_ids: Sequence[int], *, now: datetime) -> int:
    """Open an alert for each low item of these owners that has none (one INSERT … SELECT); returns how many.

    One statement however many items: the database reads the low items from their partial index and
    writes the alerts without a row crossing the wire, so the job's memory does not grow with them. A
    concurrent check may open the same alert first: the partial unique constraint keeps one, and
    ``ON CONFLICT DO NOTHING`` (PostgreSQL and SQLite alike) skips the other without counting it.
    """
    if not owner_ids:
        return 0
    alerts, items = LowStockAlert._meta.db_table, StockItem._meta.db_table
    owners = ", ".join(["%s"] * len(owner_ids))
    sql = f"""
        INSERT INTO {alerts} (owner_id, item_id, status, quantity, reorder_level, opened_at)
        SELECT item.owner_id, item.id, %s, item.quantity, item.reorder_level, %s
        FROM {items} AS item
        WHERE item.owner_id IN ({owners}) AND item.quantity < item.reorder_level
          AND NOT EXISTS (
              SELECT 1 FROM {alerts} AS existing WHERE existing.item_id = item.id AND existing.status = %s
          )
        ON CONFLICT DO NOTHING
    """  # noqa: S608 - table names come from model metadata, every value is a parameter
    opened_at = connection.ops.adapt_datetimefield_value(now)
    open_status = LowStockAlert.Status.OPEN.value
    with connection.cursor() as cursor:
        cursor.execute(sql, [open_status, opened_at, *owner_ids, open_status])
        return cursor.rowcount
