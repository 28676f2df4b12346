"""Writing many rows in few round trips: new rows where a unique constraint may refuse some, and changed
fields of existing rows.

Django's ``bulk_update`` builds a CASE expression per field and row and spends seconds in Python for a
thousand rows; the dispatcher's claim must stay well under a second for a burst of that size. Rows that
get the same values (schedules due together move to the same next slot) share one
``UPDATE … WHERE id IN (…)``; the rest go as one parameterised UPDATE each through ``executemany``.
Identifiers come from model metadata, values are always parameters.
"""

from collections import defaultdict
from collections.abc import Sequence

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Model


def insert_skipping_conflicts(objects: Sequence[Model]) -> list[Model]:
    """Insert ``objects`` (all of one model) in one statement; if a unique constraint refuses it, insert
    them one by one and leave out those it refuses. Returns the inserted objects, primary keys set.

    Call inside a transaction: each attempt runs in a savepoint of it. Objects keep their order, so two
    callers inserting overlapping sorted lists lock rows in the same order and never deadlock.
    """
    if not objects:
        return []
    model = type(objects[0])
    try:
        with transaction.atomic():
            return model._default_manager.bulk_create(objects)
    except IntegrityError:
        pass
    inserted = []
    for obj in objects:
        obj.pk = None
        try:
            with transaction.atomic():
                obj.save(force_insert=True)
        except IntegrityError:
            continue
        inserted.append(obj)
    return inserted


def update_fields(objects: Sequence[Model], field_names: Sequence[str]) -> None:
    """Save ``field_names`` of each object (all of one model) by primary key; nothing else is touched."""
    if not objects:
        return
    model = type(objects[0])
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    fields = [meta.get_field(name) for name in field_names]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    update = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)}"  # noqa: S608

    groups: dict[tuple, list] = defaultdict(list)
    for obj in objects:
        values = tuple(field.get_db_prep_save(getattr(obj, field.attname), connection) for field in fields)
        groups[_hashable(values)].append((values, obj.pk))
    singles = []
    with connection.cursor() as cursor:
        for members in groups.values():
            values = list(members[0][0])
            if len(members) == 1:
                singles.append([*values, members[0][1]])
                continue
            ids = [pk for _, pk in members]
            cursor.execute(f"{update} IN ({', '.join(['%s'] * len(ids))})", [*values, *ids])
        if singles:
            cursor.executemany(f"{update} = %s", singles)


def _hashable(values: tuple) -> tuple:
    return tuple(
        repr(value) if not isinstance(value, str | int | float | type(None)) else value for value in values
    )
