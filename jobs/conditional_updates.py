"""The one statement each of JobRun's transitions is: a conditional UPDATE, written out once per shape.

A transition is ``UPDATE <table> SET … WHERE id = %s AND status IN (…)``; the row count says whether it won.
The statement is built from the model's metadata and cached, instead of going through
``QuerySet.update()``: the runner pays for two of them on every run, and the ORM's query compiler costs
more CPU than the database takes to run one. Values go through each field's ``get_db_prep_save`` and the
returned columns through the converters the ORM applies when it reads, so rows read and written here are
the same as the ORM's. On PostgreSQL they run as prepared statements (parsed and planned once per
connection), which takes about a third off the server's CPU per run.

``update_returning`` is the queued → running flip's shape: the UPDATE also returns the row, and a few
fields of the row a foreign key points to (scalar subqueries), so the runner starts a run in one round
trip instead of a flip and a read.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import Model


def update_if(
    model: type[Model],
    pk: int,
    *,
    status: str,
    sources: Iterable[str],
    fields: dict[str, Any],
    using: str = DEFAULT_DB_ALIAS,
) -> int:
    """Set ``status`` and ``fields`` on row ``pk`` if its status is one of ``sources``; the rows changed."""
    sources = tuple(sources)
    names = ("status", *fields)
    sql = _update_sql(model, names, len(sources), using)
    connection = connections[using]
    with _cursor(connection) as cursor:
        cursor.execute(sql, [*_prepared(model, names, (status, *fields.values()), connection), pk, *sources])
        return cursor.rowcount


def update_returning(
    instance: Model,
    *,
    status: str,
    sources: Iterable[str],
    fields: dict[str, Any],
    related: str,
    related_fields: Sequence[str],
    using: str = DEFAULT_DB_ALIAS,
) -> bool:
    """Like ``update_if`` on ``instance``'s row; when it changed, ``instance`` becomes that row.

    Every field of ``instance`` is set from the row as it is after the UPDATE, and its foreign key
    ``related`` comes loaded with ``related_fields`` of its target (a partial instance: any other field
    loads on first access). False, and ``instance`` untouched, when no row changed.
    """
    model = type(instance)
    sources = tuple(sources)
    names = ("status", *fields)
    shape = _returning_shape(model, names, len(sources), related, tuple(related_fields), using)
    connection = connections[using]
    params = [*_prepared(model, names, (status, *fields.values()), connection), instance.pk, *sources]
    with _cursor(connection) as cursor:
        cursor.execute(shape.sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    values = _converted(row, shape.converters, connection)
    split = len(shape.own_names)
    for name, value in zip(shape.own_names, values[:split], strict=True):
        setattr(instance, name, value)
    instance._state.adding, instance._state.db = False, using
    if getattr(instance, shape.foreign_key) is not None:
        setattr(instance, related, shape.target_model.from_db(using, shape.target_names, values[split:]))
    return True


def _cursor(connection: Any) -> CursorWrapper:
    """Django's cursor; on PostgreSQL with prepared statements on (``prepare_threshold`` in the database's
    OPTIONS, see config/settings.py) one that binds parameters server-side, so psycopg prepares each of
    these statements once per connection and the server no longer parses and plans it on every run.
    Wrapped like Django's own: database errors become Django's, and the statements show in query logs."""
    prepared = connection.settings_dict["OPTIONS"].get("prepare_threshold") is not None
    if connection.vendor != "postgresql" or not prepared:
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    binding = psycopg.Cursor(connection.connection)
    if connection.queries_logged:
        return _PreparedDebugCursor(binding, connection)
    return connection.make_cursor(binding)


class _PreparedDebugCursor(CursorDebugWrapper):
    """Logs a prepared statement as its SQL with the values in place (psycopg keeps no text of it)."""

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        with self.debug_sql(psycopg.ClientCursor(self.cursor.connection).mogrify(sql, params)):
            return CursorWrapper.execute(self, sql, params)


@dataclass(frozen=True)
class _ReturningShape:
    sql: str
    own_names: list[str]
    foreign_key: str
    target_model: type[Model]
    target_names: list[str]
    converters: list[tuple[list, Any]]


@lru_cache(maxsize=64)
def _update_sql(model: type[Model], names: tuple[str, ...], sources: int, using: str) -> str:
    quote = connections[using].ops.quote_name
    meta = model._meta
    assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in names)
    return (
        f"UPDATE {quote(meta.db_table)} SET {assignments} "  # noqa: S608 - names come from model metadata
        f"WHERE {quote(meta.pk.column)} = %s AND {quote(meta.get_field('status').column)} "
        f"IN ({', '.join(['%s'] * sources)})"
    )


@lru_cache(maxsize=16)
def _returning_shape(
    model: type[Model],
    names: tuple[str, ...],
    sources: int,
    related: str,
    related_fields: tuple[str, ...],
    using: str,
) -> _ReturningShape:
    connection = connections[using]
    quote = connection.ops.quote_name
    meta = model._meta
    table = quote(meta.db_table)
    own = list(meta.concrete_fields)
    foreign_key = meta.get_field(related)
    target_meta = foreign_key.related_model._meta
    # In the model's field order, which ``from_db`` expects of a partial row.
    wanted = {target_meta.pk.attname, *(target_meta.get_field(name).attname for name in related_fields)}
    targets = [field for field in target_meta.concrete_fields if field.attname in wanted]
    columns = [f"{table}.{quote(field.column)}" for field in own] + [
        f"(SELECT {quote(field.column)} FROM {quote(target_meta.db_table)} "  # noqa: S608 - metadata
        f"WHERE {quote(target_meta.pk.column)} = {table}.{quote(foreign_key.column)})"
        for field in targets
    ]
    # What the ORM applies to each column it reads (SQLite's text datetimes, JSON documents, …).
    expressions = [field.get_col(meta.db_table) for field in own]
    expressions += [field.get_col(target_meta.db_table) for field in targets]
    return _ReturningShape(
        sql=f"{_update_sql(model, names, sources, using)} RETURNING {', '.join(columns)}",
        own_names=[field.attname for field in own],
        foreign_key=foreign_key.attname,
        target_model=foreign_key.related_model,
        target_names=[field.attname for field in targets],
        converters=[(_converters_of(expression, connection), expression) for expression in expressions],
    )


def _converters_of(expression: Any, connection: Any) -> list:
    return connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)


def _prepared(model: type[Model], names: Sequence[str], values: Sequence[Any], connection: Any) -> list:
    meta = model._meta
    return [
        meta.get_field(name).get_db_prep_save(value, connection=connection)
        for name, value in zip(names, values, strict=True)
    ]


def _converted(row: Sequence[Any], converters: list[tuple[list, Any]], connection: Any) -> list:
    values = list(row)
    for position, (functions, expression) in enumerate(converters):
        for convert in functions:
            values[position] = convert(values[position], expression, connection)
    return values
