"""Walk a queryset in locked chunks: how every billing step changes many rows without long locks."""

from collections.abc import Callable
from typing import TypeVar

from django.db import transaction
from django.db.models import Model, QuerySet

CHUNK_SIZE = 500

M = TypeVar("M", bound=Model)


def for_each_locked_chunk(
    rows: QuerySet[M],
    handle: Callable[[list[M]], None],
    *,
    fields: tuple[str, ...],
    chunk_size: int = CHUNK_SIZE,
) -> None:
    """Call ``handle(chunk)`` for ``rows`` in primary-key order, ``chunk_size`` rows at a time.

    Each chunk is read ``FOR UPDATE`` (PostgreSQL; SQLite serialises writers anyway) with only ``fields``
    loaded, and handled inside that chunk's own transaction: a concurrent run waits for the chunk and then
    sees the rows as this one left them, and no lock is held longer than one chunk takes.
    """
    last_id = 0
    while True:
        with transaction.atomic():
            chunk = list(
                rows.filter(pk__gt=last_id).order_by("pk").select_for_update().only(*fields)[:chunk_size]
            )
            if not chunk:
                return
            handle(chunk)
        last_id = chunk[-1].pk
