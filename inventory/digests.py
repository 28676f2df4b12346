"""The low-stock digest: one e-mail per owner listing the alerts opened since its last digest.

A digest is an outbox row (``Notification``) that claims its alerts (``LowStockAlert.notification``), so an
alert is announced once. ``record_digests`` does it for a chunk of owners in a constant number of
statements, each driven by an index whatever the table statistics say (the first run of the job fills an
empty alert table faster than autovacuum analyses it), holding at most the listed items in memory.
"""

from collections.abc import Sequence
from datetime import datetime

from django.db import connection
from django.db.models import Count, F, Min, OuterRef, Subquery, Window
from django.db.models.functions import RowNumber

from inventory.models import LowStockAlert, StockItem
from notifications.models import Notification
from tenants.models import Owner

DIGEST_ITEMS_LISTED = 50  # the e-mail lists this many and counts the rest


def record_digests(owners: Sequence[Owner], *, now: datetime) -> int:
    """Record one digest per owner claiming its open, unannounced alerts; returns how many were recorded.

    Call it inside the transaction that opened the alerts: a digest and its claim then become visible
    together. A digest's key is its owner's first unannounced alert id, so two checks racing for the same
    alerts compute the same key and the unique constraint lets one insert it (the other leaves that
    owner alone); the claim skips alerts another digest took, and a digest left with nothing to announce
    is removed again.
    """
    by_id = {owner.pk: owner for owner in owners}
    unannounced = LowStockAlert.objects.filter(
        owner_id__in=by_id, status=LowStockAlert.Status.OPEN, notification__isnull=True
    )
    first_ids = dict(
        unannounced.order_by().values("owner_id").annotate(first=Min("pk")).values_list("owner_id", "first")
    )
    if not first_ids:
        return 0
    keys = {owner_id: f"low_stock:{first_id}" for owner_id, first_id in first_ids.items()}
    Notification.objects.bulk_create(
        [
            Notification(
                owner_id=owner_id, kind=Notification.Kind.LOW_STOCK_DIGEST, dedup_key=key, created_at=now
            )
            for owner_id, key in keys.items()
        ],
        ignore_conflicts=True,
    )
    # Only the digests this transaction inserted: a committed digest always has its payload already.
    rows = Notification.objects.filter(
        owner_id__in=keys, dedup_key__in=keys.values(), payload={}
    ).values_list("owner_id", "dedup_key", "pk")
    digest_of = {owner_id: pk for owner_id, key, pk in rows if keys[owner_id] == key}
    _claim_unannounced(digest_of)
    listed = _listed_alerts(list(digest_of.values()))
    empty = [pk for pk in digest_of.values() if pk not in listed]
    if empty:
        Notification.objects.filter(pk__in=empty, status=Notification.Status.PENDING).delete()
    announced: list[tuple[int, dict]] = []
    for owner_id, pk in digest_of.items():
        if pk not in listed:
            continue
        count, items = listed[pk]
        checked_at = now.astimezone(by_id[owner_id].zone)
        payload = {
            "count": count,
            "more": max(count - DIGEST_ITEMS_LISTED, 0),
            "checked_at": checked_at.strftime("%Y-%m-%d %H:%M %Z"),
            "items": items,
        }
        announced.append((pk, payload))
    _save_payloads(announced)
    return len(announced)


def _claim_unannounced(digest_of: dict[int, int]) -> None:
    """Point each owner's open, unannounced alerts at its digest: one UPDATE per owner, one round trip.

    Each UPDATE is answered by the partial index of unannounced alerts (owner, id); alerts another digest
    claimed first no longer match.
    """
    alerts = LowStockAlert._meta.db_table
    sql = (
        f"UPDATE {alerts} SET notification_id = %s "  # noqa: S608 - model metadata, values are parameters
        "WHERE owner_id = %s AND status = %s AND notification_id IS NULL"
    )
    open_status = LowStockAlert.Status.OPEN.value
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(pk, owner_id, open_status) for owner_id, pk in digest_of.items()])


def _save_payloads(payloads: list[tuple[int, dict]]) -> None:
    """Write each digest's payload: one UPDATE per digest, sent in one round trip."""
    field = Notification._meta.get_field("payload")
    sql = f"UPDATE {Notification._meta.db_table} SET payload = %s WHERE id = %s"  # noqa: S608 - model metadata
    with connection.cursor() as cursor:
        cursor.executemany(
            sql, [(field.get_db_prep_save(payload, connection), pk) for pk, payload in payloads]
        )


def _listed_alerts(digest_ids: list[int]) -> dict[int, tuple[int, list[dict]]]:
    """Each digest's alert count and its first ``DIGEST_ITEMS_LISTED`` items by SKU, in one query.

    The database ranks and cuts the list (a window per digest), so memory holds at most that many items
    per digest. Each alert's SKU and name come from a primary-key lookup of its item (a scalar subquery),
    not a join, so the plan does not depend on how many alerts the (possibly stale) statistics expect.
    """
    item = StockItem.objects.filter(pk=OuterRef("item_id"))
    per_digest = {"partition_by": [F("notification_id")]}
    ranked = (
        LowStockAlert.objects.filter(notification_id__in=digest_ids)
        .annotate(sku=Subquery(item.values("sku")[:1]), name=Subquery(item.values("name")[:1]))
        .annotate(
            rank=Window(RowNumber(), order_by=[F("sku").asc(), F("pk").asc()], **per_digest),
            alerts=Window(Count("pk"), **per_digest),
        )
        .filter(rank__lte=DIGEST_ITEMS_LISTED)
        .order_by("notification_id", "rank")
        .values_list("notification_id", "alerts", "sku", "name", "quantity", "reorder_level")
    )
    listed: dict[int, tuple[int, list[dict]]] = {}
    for digest_id, alerts, sku, name, quantity, level in ranked:
        _, items = listed.setdefault(digest_id, (alerts, []))
        items.append({"sku": sku, "name": name, "quantity": quantity, "reorder_level": level})
    return listed
