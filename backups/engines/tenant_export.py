"""Tenant export: every row one owner owns, as portable JSON lines with a manifest, and its restore.

Which models travel is discovered, not listed, so domain models added later are included automatically:
- every model with a ForeignKey named ``owner`` to ``tenants.Owner``;
- every model reachable from those through non-null ForeignKeys (an invoice line through its invoice),
  filtered through that chain.
Left out on purpose: the engine's own bookkeeping (apps ``jobs``, ``backups``, ``ops``, ``django_q``:
schedules, runs, backups and missed-run alerts describe the system, not the tenant's data, and restoring
them would resurrect runs and backups that no longer exist), Django's framework apps, and
``tenants.Membership`` (access grants belong to user accounts, which are not owner-scoped; restoring an
old export must not re-grant revoked access).

Format ``jsonl-manifest-v1``, one JSON document per line (UTF-8):
    {"kind": "header", "format": ..., "schema_version": 1, "owner": {...}, "models": [...], "migrations": …}
    {"model": "app.model", "pk": ..., "fields": {...}}      (Django's serializer shape, models in FK order)
    {"kind": "manifest", "owner_id": N, "models": {"app.model": {"count": n, "sha256": "..."}}, "records": n}
The export reads all models in one transaction (REPEATABLE READ on PostgreSQL), so rows that reference
each other match; on SQLite that transaction holds the write lock while the export streams.
The manifest comes last because it is computed while streaming; per model it holds the row count and the
SHA-256 of that model's record lines, so a reader can check every section without trusting the rest.
"""

import datetime
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core import serializers
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connections, models, transaction
from django.db.migrations.recorder import MigrationRecorder

from backups.engines import FORMATS, TENANT_EXPORT
from backups.errors import DumpFailed, RestoreFailed, VerificationFailed
from tenants.models import Owner

FORMAT = FORMATS[TENANT_EXPORT]
SCHEMA_VERSION = 1
BATCH_SIZE = 1000
EXCLUDED_APPS = frozenset({"jobs", "backups", "ops", "django_q", "admin", "auth", "contenttypes", "sessions"})
EXCLUDED_MODELS = frozenset({"tenants.membership"})


@dataclass(frozen=True)
class ScopedModel:
    """A model whose rows belong to one owner, and the lookup from it to that owner's id."""

    model: type[models.Model]
    owner_lookup: str  # "owner" or "invoice__owner"

    @property
    def label(self) -> str:
        return self.model._meta.label_lower

    def rows(self, owner_id: int, using: str = DEFAULT_DB_ALIAS) -> models.QuerySet:
        return self.model._default_manager.using(using).filter(**{f"{self.owner_lookup}_id": owner_id})


def _travels(model: type[models.Model]) -> bool:
    meta = model._meta
    return (
        meta.app_label not in EXCLUDED_APPS
        and meta.label_lower not in EXCLUDED_MODELS
        and meta.managed
        and not meta.proxy
        and not meta.swapped
        and model is not Owner
    )


def _foreign_keys(model: type[models.Model]) -> list[models.ForeignKey]:
    return [field for field in model._meta.concrete_fields if isinstance(field, models.ForeignKey)]


def owner_scoped_models() -> list[ScopedModel]:
    """The models a tenant export carries, parents before children (the order rows are inserted)."""
    scoped: dict[type[models.Model], ScopedModel] = {}
    candidates = [model for model in apps.get_models() if _travels(model)]
    for model in candidates:
        for field in _foreign_keys(model):
            if field.name == "owner" and field.related_model is Owner:
                scoped[model] = ScopedModel(model, "owner")
    grew = True
    while grew:
        grew = False
        for model in candidates:
            if model in scoped:
                continue
            for field in _foreign_keys(model):
                parent = scoped.get(field.related_model)
                if parent is not None and not field.null:
                    scoped[model] = ScopedModel(model, f"{field.name}__{parent.owner_lookup}")
                    grew = True
                    break
    return _parents_first(list(scoped.values()))


def _parents_first(scoped: list[ScopedModel]) -> list[ScopedModel]:
    ordered: list[ScopedModel] = []
    remaining = sorted(scoped, key=lambda item: item.label)
    by_model = {item.model: item for item in remaining}
    while remaining:
        placed = {item.model for item in ordered}
        ready = [
            item
            for item in remaining
            if all(
                field.related_model in placed
                or field.related_model not in by_model
                or field.related_model is item.model
                for field in _foreign_keys(item.model)
            )
        ]
        # A cycle between models: take them in name order; deferred constraints accept it in one transaction.
        for item in ready or remaining[:1]:
            ordered.append(item)
            remaining.remove(item)
    return ordered


class _ExactEncoder(DjangoJSONEncoder):
    """Django's encoder, but with full microseconds: its ECMA-262 form would cut times to milliseconds."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime | datetime.time):
            text = o.isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text
        return super().default(o)


def _line(document: dict[str, Any]) -> bytes:
    return json.dumps(document, cls=_ExactEncoder, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _applied_migrations(using: str) -> dict[str, str]:
    latest: dict[str, str] = {}
    for app, name in MigrationRecorder(connections[using]).applied_migrations():
        if name > latest.get(app, ""):
            latest[app] = name
    return latest


def _owner_record(owner: Owner) -> dict[str, Any]:
    return serializers.serialize("python", [owner])[0]


def dump(owner_id: int, *, using: str = DEFAULT_DB_ALIAS) -> Iterator[bytes]:
    """The export of owner ``owner_id`` as JSON-lines bytes, read in one consistent transaction."""
    if not Owner.objects.using(using).filter(pk=owner_id).exists():
        raise DumpFailed(f"Owner {owner_id} does not exist.")
    return _dump_stream(owner_id, using)


def _dump_stream(owner_id: int, using: str) -> Iterator[bytes]:
    connection = connections[using]
    scoped = owner_scoped_models()
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql" and not _nested(connection):
            # One snapshot for all models, so rows that reference each other match.
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        owner = Owner.objects.using(using).get(pk=owner_id)
        yield _line(
            {
                "kind": "header",
                "format": FORMAT,
                "schema_version": SCHEMA_VERSION,
                "owner": _owner_record(owner),
                "models": [item.label for item in scoped],
                "migrations": _applied_migrations(using),
            }
        )
        manifest: dict[str, dict[str, Any]] = {}
        for item in scoped:
            digest, count = hashlib.sha256(), 0
            batch: list[models.Model] = []
            for row in item.rows(owner_id, using).order_by("pk").iterator(chunk_size=BATCH_SIZE):
                batch.append(row)
                if len(batch) == BATCH_SIZE:
                    chunk = b"".join(_line(record) for record in serializers.serialize("python", batch))
                    digest.update(chunk)
                    count += len(batch)
                    batch = []
                    yield chunk
            if batch:
                chunk = b"".join(_line(record) for record in serializers.serialize("python", batch))
                digest.update(chunk)
                count += len(batch)
                yield chunk
            manifest[item.label] = {"count": count, "sha256": digest.hexdigest()}
        yield _line(
            {
                "kind": "manifest",
                "schema_version": SCHEMA_VERSION,
                "owner_id": owner_id,
                "models": manifest,
                "records": sum(entry["count"] for entry in manifest.values()),
            }
        )


def _nested(connection) -> bool:
    # Inside an outer atomic block (a test, a caller's transaction) the isolation level is already fixed.
    return len(connection.atomic_blocks) > 1


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line + b"\n"
    if pending:
        yield pending


@dataclass
class ExportSummary:
    """What an export holds, checked against its manifest."""

    owner_id: int
    counts: dict[str, int]
    header: dict[str, Any]


class _ManifestCheck:
    """Recomputes per-model counts and checksums while lines stream past, then compares with the manifest."""

    def __init__(self) -> None:
        self.digests: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def record(self, label: str, line: bytes) -> None:
        self.digests.setdefault(label, hashlib.sha256()).update(line)
        self.counts[label] = self.counts.get(label, 0) + 1

    def compare(self, manifest: dict[str, Any], header: dict[str, Any]) -> None:
        expected = manifest.get("models", {})
        if manifest.get("owner_id") != header["owner"]["pk"]:
            raise VerificationFailed("The export's manifest names another owner than its header.")
        for label in set(expected) | set(self.counts):
            entry = expected.get(label, {"count": 0, "sha256": hashlib.sha256().hexdigest()})
            count = self.counts.get(label, 0)
            digest = self.digests.get(label, hashlib.sha256()).hexdigest()
            if entry["count"] != count:
                raise VerificationFailed(
                    f"{label}: the manifest counts {entry['count']} rows, the export holds {count}."
                )
            if entry["sha256"] != digest:
                raise VerificationFailed(f"{label}: the rows do not match the manifest checksum.")


def _read(chunks: Iterable[bytes]) -> Iterator[tuple[str, dict[str, Any], bytes]]:
    """(kind, document, raw line) for each line; kind is "header", "row" or "manifest"."""
    for number, line in enumerate(_lines(chunks), start=1):
        try:
            document = json.loads(line)
        except ValueError:
            raise VerificationFailed(f"Line {number} of the export is not JSON (damaged object).") from None
        kind = document.get("kind", "row") if isinstance(document, dict) else "invalid"
        if kind not in ("header", "row", "manifest"):
            raise VerificationFailed(f"Line {number} of the export is not a record.")
        yield kind, document, line


def _check_header(document: dict[str, Any]) -> None:
    if document.get("format") != FORMAT or document.get("schema_version") != SCHEMA_VERSION:
        raise VerificationFailed(
            f"Not a {FORMAT} export of schema version {SCHEMA_VERSION} "
            f"(found {document.get('format')!r}, version {document.get('schema_version')!r})."
        )


def check_archive(chunks: Iterable[bytes]) -> ExportSummary:
    """Reads a whole export and checks it against its manifest; raises ``VerificationFailed`` if not."""
    return _walk(chunks)


def _walk(
    chunks: Iterable[bytes],
    *,
    on_header: Callable[[dict[str, Any]], None] = lambda header: None,
    on_row: Callable[[dict[str, Any]], None] = lambda row: None,
    before_manifest: Callable[[], None] = lambda: None,
) -> ExportSummary:
    """Reads an export to its very end, in order: header, rows, manifest, nothing after; checks it all.

    The hooks see each part as it passes (restore inserts the rows); reading to the end, not just to the
    manifest, lets a caller's end-of-stream checks run before it commits.
    """
    header: dict[str, Any] | None = None
    summary: ExportSummary | None = None
    check = _ManifestCheck()
    for kind, document, line in _read(chunks):
        if summary is not None:
            raise VerificationFailed("The export continues after its manifest.")
        if header is None:
            if kind != "header":
                raise VerificationFailed("The export does not start with its header.")
            _check_header(document)
            header = document
            on_header(header)
        elif kind == "row":
            check.record(document["model"], line)
            on_row(document)
        elif kind == "manifest":
            before_manifest()
            check.compare(document, header)
            summary = ExportSummary(owner_id=document["owner_id"], counts=check.counts, header=header)
        else:
            raise VerificationFailed("The export holds a second header.")
    if summary is None:
        raise VerificationFailed("The export ends before its manifest (truncated object).")
    return summary


def restore(chunks: Iterable[bytes], *, using: str = DEFAULT_DB_ALIAS) -> ExportSummary:
    """Replaces the exported owner's rows in database ``using`` with the export's, in one transaction.

    The owner row is created or updated; every owner-scoped row of that owner is deleted, then the
    export's rows are inserted with their primary keys. Other owners' rows are not touched. The manifest
    is checked before commit: a damaged or truncated export, or a row that does not fit the target
    (e.g. a primary key taken by another owner), rolls everything back and raises.
    """
    connection = connections[using]
    try:
        with transaction.atomic(using=using):
            summary = _restore_rows(chunks, using)
            if connection.vendor == "postgresql":
                _advance_sequences(
                    connection, [apps.get_model(label) for label in summary.header["models"]] + [Owner]
                )
    except IntegrityError as error:
        raise RestoreFailed(
            f"The export does not fit the target database: {str(error).splitlines()[0]}"
        ) from None
    except (DatabaseError, serializers.base.DeserializationError) as error:
        raise RestoreFailed(f"Restoring the export failed: {str(error).splitlines()[0]}") from None
    return summary


def _advance_sequences(connection, restored_models: list[type[models.Model]]) -> None:
    """Rows came with their ids: move id sequences past them (never backwards) so inserts do not collide."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in restored_models:
            table, column = model._meta.db_table, model._meta.pk.column
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [quote(table), column])
            sequence = cursor.fetchone()[0]
            if sequence is None:
                continue
            cursor.execute(
                f"SELECT setval(%s, GREATEST(COALESCE((SELECT MAX({quote(column)}) FROM {quote(table)}), 1),"  # noqa: S608
                f" (SELECT last_value FROM {sequence})))",
                [sequence],
            )


def _restore_rows(chunks: Iterable[bytes], using: str) -> ExportSummary:
    batch: list[tuple[str, dict[str, Any]]] = []

    def add_row(document: dict[str, Any]) -> None:
        if (batch and batch[-1][0] != document["model"]) or len(batch) >= BATCH_SIZE:
            flush()
        batch.append((document["model"], document))

    def flush() -> None:
        if batch:
            _insert(batch, using)
            batch.clear()

    return _walk(
        chunks,
        on_header=lambda header: _replace_owner(header, using),
        on_row=add_row,
        before_manifest=flush,
    )


def _replace_owner(header: dict[str, Any], using: str) -> None:
    for label in header["models"]:
        try:
            apps.get_model(label)
        except LookupError:
            raise RestoreFailed(f"The target has no model {label}; migrate it first.") from None
    (owner,) = serializers.deserialize("python", [header["owner"]], using=using)
    owner.object.save(using=using)
    owner_id = owner.object.pk
    # Children first, so protected foreign keys between scoped models never block the deletion.
    for item in reversed(owner_scoped_models()):
        item.rows(owner_id, using).delete()


def _insert(batch: list[tuple[str, dict[str, Any]]], using: str) -> None:
    restored = list(serializers.deserialize("python", [document for _label, document in batch], using=using))
    model = type(restored[0].object)
    objects = [item.object for item in restored]
    fields = list(model._meta.concrete_fields)
    size = max(1, connections[using].ops.bulk_batch_size(fields, objects))
    for start in range(0, len(objects), size):
        # A raw insert, like loaddata: stored values as they are (auto_now fields keep their times).
        model._base_manager.using(using)._insert(objects[start : start + size], fields=fields, raw=True)
    for item in restored:
        for name, values in (item.m2m_data or {}).items():
            getattr(item.object, name).set(values)
