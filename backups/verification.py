"""Verify a stored backup: the bytes are the ones recorded, the archive opens, and (optionally) it restores.

Checks, in order, each adding a line to ``VerificationReport.checks``:
1. the object is re-read whole and its size and SHA-256 match the record;
2. the archive is checked by its own tool: ``pg_restore --list`` (dump), ``PRAGMA integrity_check``
   (SQLite), per-model counts and checksums against the manifest (tenant export);
3. with ``restore=True``: a real restore into a scratch database (a temporary PostgreSQL database,
   created and dropped; a temporary SQLite file; for tenant exports the live database inside a
   transaction that is always rolled back) and a per-table row count comparison with the source.
SQLite can only check a file, so SQLite verification decompresses the object into a temporary file
(removed afterwards); the other engines check the stream as it is read.
The source of a full backup is the live database now: on a busy system tables written since the backup
(job runs, queue rows) show up as differences, which the report lists table by table.
"""

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.core.files.storage import Storage
from django.db import DEFAULT_DB_ALIAS, transaction

from backups.engines import (
    POSTGRES,
    SQLITE,
    TENANT_EXPORT,
    Artifact,
    Database,
    postgres,
    sqlite,
    tenant_export,
)
from backups.errors import BackupError, ObjectMissing, RestoreFailed, VerificationFailed
from backups.storage import backup_storage, open_object
from backups.streaming import DigestingReader, decompressing_reader, iter_chunks


@dataclass
class VerificationReport:
    """The outcome: ``ok`` only if every check passed; ``error`` says which one failed and why."""

    ok: bool = False
    checks: list[str] = field(default_factory=list)
    error: str = ""
    size: int = 0
    sha256: str = ""
    row_counts: dict[str, int] = field(default_factory=dict)
    source_row_counts: dict[str, int] = field(default_factory=dict)
    mismatches: dict[str, tuple[int, int]] = field(default_factory=dict)


@contextlib.contextmanager
def _stream(artifact: Artifact, storage: Storage) -> Iterator[tuple[DigestingReader, Iterator[bytes]]]:
    with open_object(artifact.storage_key, storage) as stored:
        reader = DigestingReader(stored)
        yield reader, iter_chunks(decompressing_reader(artifact.codec, reader))


def _check_bytes(reader: DigestingReader, artifact: Artifact, report: VerificationReport) -> None:
    reader.drain()
    report.size, report.sha256 = reader.digest.size, reader.digest.sha256
    if report.size != artifact.size:
        raise VerificationFailed(f"Size differs: recorded {artifact.size} bytes, stored {report.size}.")
    if report.sha256 != artifact.sha256:
        raise VerificationFailed("SHA-256 differs from the recorded checksum.")
    report.checks.append(f"size {report.size} bytes and SHA-256 match the record")


def verify_backup(
    *, artifact: Artifact, storage: Storage | None = None, restore: bool = False
) -> VerificationReport:
    """Checks ``artifact`` as described in the module docstring and returns the report.

    Problems with the backup itself (missing object, other bytes, damaged archive, restore differences)
    give ``ok=False`` with ``error``; an unusable storage raises ``StorageUnavailable``.
    """
    storage = backup_storage(storage)
    report = VerificationReport()
    try:
        if artifact.engine == POSTGRES:
            _verify_postgres(artifact, storage, restore, report)
        elif artifact.engine == SQLITE:
            _verify_sqlite(artifact, storage, restore, report)
        elif artifact.engine == TENANT_EXPORT:
            _verify_export(artifact, storage, restore, report)
        else:
            raise VerificationFailed(f"Unknown backup engine {artifact.engine!r}.")
    except (VerificationFailed, RestoreFailed, ObjectMissing) as error:
        report.error = str(error)
        return report
    except BackupError:
        raise
    except Exception as error:
        # Damaged compressed data surfaces as the codec's own error type (zstd, zlib).
        report.error = f"The object cannot be read back: {type(error).__name__}: {error}"
        return report
    report.ok = True
    return report


def _compare(report: VerificationReport, restored: dict[str, int], source: dict[str, int], what: str) -> None:
    report.row_counts, report.source_row_counts = restored, source
    report.mismatches = {
        table: (source.get(table, 0), restored.get(table, 0))
        for table in sorted(set(source) | set(restored))
        if source.get(table, 0) != restored.get(table, 0)
    }
    if report.mismatches:
        listed = ", ".join(
            f"{table} {was}→{now}" for table, (was, now) in list(report.mismatches.items())[:5]
        )
        raise VerificationFailed(f"Row counts differ after the restore into {what}: {listed}")
    report.checks.append(f"restored into {what}: {len(restored)} tables, row counts equal to the source")


def _verify_postgres(artifact: Artifact, storage: Storage, restore: bool, report: VerificationReport) -> None:
    live = Database.live()
    with _stream(artifact, storage) as (reader, chunks):
        try:
            entries = postgres.check_archive(chunks, live)
        except VerificationFailed:
            # Changed bytes are the likelier cause and the clearer message; report them first.
            _check_bytes(reader, artifact, report)
            raise
        _check_bytes(reader, artifact, report)
    report.checks.append(f"pg_restore --list reads {entries} archive entries")
    if not restore:
        return
    scratch = postgres.scratch_database(live)
    try:
        with _stream(artifact, storage) as (reader, chunks):
            postgres.restore(chunks, scratch, clean=False)
            _check_bytes(reader, artifact, report)
        _compare(
            report, postgres.table_row_counts(scratch), postgres.table_row_counts(live), "a scratch database"
        )
    finally:
        postgres.drop_database(scratch)


def _verify_sqlite(artifact: Artifact, storage: Storage, restore: bool, report: VerificationReport) -> None:
    with (
        _stream(artifact, storage) as (reader, chunks),
        sqlite.materialized(chunks, Path(tempfile.gettempdir())) as copy,
    ):
        _check_bytes(reader, artifact, report)
        sqlite.check_archive(copy)
        report.checks.append("SQLite integrity_check: ok")
        if restore:
            live = Path(Database.live().name)
            _compare(
                report,
                sqlite.table_row_counts(copy),
                sqlite.table_row_counts(live),
                "a temporary SQLite file",
            )


class _RollBack(Exception):
    """Raised to undo the trial restore of a tenant export."""


def _verify_export(artifact: Artifact, storage: Storage, restore: bool, report: VerificationReport) -> None:
    with _stream(artifact, storage) as (reader, chunks):
        summary = tenant_export.check_archive(chunks)
        _check_bytes(reader, artifact, report)
    total = sum(summary.counts.values())
    report.checks.append(
        f"manifest: {total} rows of owner {summary.owner_id} in {len(summary.counts)} models match"
    )
    if not restore:
        return
    restored: dict[str, int] = {}
    with contextlib.suppress(_RollBack), transaction.atomic(using=DEFAULT_DB_ALIAS):
        with _stream(artifact, storage) as (reader, chunks):
            tenant_export.restore(chunks, using=DEFAULT_DB_ALIAS)
        for item in tenant_export.owner_scoped_models():
            count = item.rows(summary.owner_id).count()
            if count or item.label in summary.counts:
                restored[item.label] = count
        raise _RollBack
    expected = {label: count for label, count in summary.counts.items()}
    _compare(report, restored, expected, "the live database (rolled back)")
