"""The public face of the backup engines: create, verify and restore a backup object, streamed end to end.

    dump (pg_dump / VACUUM INTO / tenant export) → compress (zstd | gzip | none) → size + SHA-256 → storage

Nothing is buffered whole, in memory or on disk (SQLite's copy aside, see engines/sqlite.py). An object
appears under its key only after the dump finished successfully; any failure aborts the upload or
removes the temporary file. Callers (services, jobs, the ``backup`` command) record the ``Artifact``.
"""

import contextlib
from collections.abc import Callable, Iterable, Iterator

from django.core.files.storage import Storage

from backups.engines import (
    ENGINES,
    FORMATS,
    POSTGRES,
    SQLITE,
    TENANT_EXPORT,
    Artifact,
    Database,
    postgres,
    sqlite,
    tenant_export,
)
from backups.errors import (
    BackupError,
    DumpFailed,
    RestoreFailed,
    RestoreRefused,
    StorageUnavailable,
    VerificationFailed,
)
from backups.restore import RestoreReport, restore_backup
from backups.storage import (
    ObjectWriter,
    PartialObject,
    backup_storage,
    delete_object,
    list_partial_objects,
    remove_partial_objects,
)
from backups.streaming import Digest, check_codec, compress_chunks
from backups.verification import VerificationReport, verify_backup
from tenants.models import GLOBAL_OWNER_ID

__all__ = [
    "ENGINES",
    "Artifact",
    "BackupError",
    "DumpFailed",
    "PartialObject",
    "RestoreFailed",
    "RestoreRefused",
    "RestoreReport",
    "StorageUnavailable",
    "VerificationFailed",
    "VerificationReport",
    "create_backup",
    "delete_object",
    "engine_for_owner",
    "list_partial_objects",
    "remove_partial_objects",
    "restore_backup",
    "verify_backup",
]


def engine_for_owner(owner_id: int) -> str:
    """Owner 0 gets a full backup of the live database (its vendor's engine); others a tenant export."""
    if owner_id == GLOBAL_OWNER_ID:
        return Database.live().engine
    return TENANT_EXPORT


def _source(owner_id: int) -> Iterator[bytes]:
    engine = engine_for_owner(owner_id)
    if engine == POSTGRES:
        return postgres.dump(Database.live())
    if engine == SQLITE:
        return sqlite.dump(Database.live())
    return tenant_export.dump(owner_id)


def _reporting(
    chunks: Iterable[bytes], progress: Callable[[int], None] | None, check: Callable[[], None] | None
) -> Iterator[bytes]:
    done = 0
    for chunk in chunks:
        if check is not None:
            check()
        yield chunk
        done += len(chunk)
        if progress is not None:
            progress(done)


def create_backup(
    *,
    owner_id: int,
    storage_key: str,
    storage: Storage | None = None,
    codec: str = "zstd",
    progress: Callable[[int], None] | None = None,
    check: Callable[[], None] | None = None,
) -> Artifact:
    """Dumps owner ``owner_id``'s data into a new object ``storage_key`` and describes what was stored.

    Owner 0: the whole live database (``pg_dump`` or SQLite); owner N: that owner's tenant export.
    ``progress`` is called with the number of uncompressed bytes dumped so far. ``check`` is called
    before every chunk and once more before the object is completed; whatever it raises (a run's
    ``RunCancelled``) aborts the upload like any failure. On any failure the object does not exist
    afterwards and a ``BackupError`` subclass (or the original error) is raised; the same holds if the
    process is killed: partial uploads are invisible under ``storage_key``.
    """
    check_codec(codec)
    storage = backup_storage(storage)
    engine = engine_for_owner(owner_id)
    digest = Digest()
    with ObjectWriter(storage_key, storage) as writer, contextlib.closing(_source(owner_id)) as dumped:
        for stored in compress_chunks(codec, _reporting(dumped, progress, check)):
            digest.update(stored)
            writer.write(stored)
        if check is not None:
            check()  # a cancellation during the last chunk still stops before the object exists
        # Reached only when the dump iterator ended normally, i.e. the dump is known to be complete.
        writer.commit()
    return Artifact(
        storage_key=storage_key,
        size=digest.size,
        sha256=digest.sha256,
        engine=engine,
        codec=codec,
        format=FORMATS[engine],
    )
