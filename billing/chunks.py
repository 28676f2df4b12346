"""Walk a queryset in primary-key chunks: how every billing step reads and changes many rows, bounded."""

from collections.abc import Callable, Iterator
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


def value_chunks(rows: QuerySet, *fields: str, chunk_size: int = CHUNK_SIZE) -> Iterator[list[tuple]]:
    """``rows`` as tuples of ``("pk", *fields)``, ``chunk_size`` at a time in primary-key order; no locks.

    One query per chunk (keyset pagination), so memory stays flat however many rows match.
    """
    values = rows.order_by("pk").values_list("pk", *fields)
    last_id = 0
    while True:
        chunk = list(values.filter(pk__gt=last_id)[:chunk_size])
        if not chunk:
            return
        yield chunk
        if len(chunk) < chunk_size:
            return
        last_id = chunk[-1][0]
