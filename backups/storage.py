"""Streamed writes and reads of backup objects, on whichever storage holds them (file system or S3).

Callers name a Django storage (default ``STORAGES["backups"]``) and never its kind: ``store_for`` picks the
``backups.stores`` implementation from the storage's class, and the functions here translate that
storage's own errors into ``StorageUnavailable`` with one plain line.

A writer receives stored bytes with ``write()`` and makes them visible under the final key only in
``commit()``; ``abort()`` (or a process that dies) leaves no object under that key, only a partial upload
that ``list_partial_objects`` finds and ``discard_partial_uploads`` / ``remove_partial_objects`` remove.
"""

import logging
from datetime import datetime, timedelta

from django.core.files.storage import Storage, storages
from django.utils.module_loading import import_string

from backups.errors import BackupError
from backups.stores.base import BackupStore, PartialObject
from backups.streaming import CHUNK_SIZE, Readable

logger = logging.getLogger(__name__)

# The store for each storage class (matched along the storage's class hierarchy), as dotted paths: a store
# is imported only when a storage of its kind is used, so the file system never loads boto3.
STORES = {
    "django.core.files.storage.filesystem.FileSystemStorage": "backups.stores.filesystem.FileSystemStore",
    "storages.backends.s3.S3Storage": "backups.stores.s3.S3Store",
}

__all__ = [
    "ObjectWriter",
    "PartialObject",
    "backup_storage",
    "delete_object",
    "discard_partial_uploads",
    "list_partial_objects",
    "open_object",
    "remove_partial_objects",
    "store_for",
]


def backup_storage(storage: Storage | None = None) -> Storage:
    """``storage``, or the one configured as STORAGES["backups"]."""
    return storage if storage is not None else storages["backups"]


def store_for(storage: Storage | None = None) -> BackupStore:
    """The backup store wrapping ``storage`` (default: STORAGES["backups"]); BackupError for other kinds."""
    storage = backup_storage(storage)
    for klass in type(storage).__mro__:
        path = STORES.get(f"{klass.__module__}.{klass.__qualname__}")
        if path is not None:
            return import_string(path)(storage)
    raise BackupError(f"Storage {type(storage).__name__} cannot hold backups.")


class ObjectWriter:
    """Stored bytes go in with ``write``; the object exists under its key only after ``commit``.

    Used as a context manager, any exception (including KeyboardInterrupt) aborts the upload or removes
    the temporary file before it propagates.
    """

    def __init__(self, key: str, storage: Storage | None = None) -> None:
        self.store = store_for(storage)
        self.key = key
        with self.store.translated():
            self._target = self.store.writer(key)
        self._done = False

    def write(self, data: bytes) -> None:
        with self.store.translated():
            self._target.write(data)

    def commit(self) -> None:
        with self.store.translated():
            self._target.commit()
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._target.abort()
        except self.store.errors:
            # The original failure matters more; a leftover upload is listed by list_partial_objects().
            logger.warning("could not abort partial backup object", extra={"key": self.key}, exc_info=True)

    def __enter__(self) -> "ObjectWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or not self._done:
            self.abort()


class _StoredObject:
    def __init__(self, body, store: BackupStore) -> None:
        self._body = body
        self._store = store

    def read(self, size: int = CHUNK_SIZE) -> bytes:
        with self._store.translated():
            return self._body.read(size)

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> "_StoredObject":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_object(key: str, storage: Storage | None = None) -> Readable:
    """A streaming reader of the stored bytes of ``key`` (use it as a context manager); ObjectMissing."""
    store = store_for(storage)
    with store.translated():
        return _StoredObject(store.open(key), store)


def delete_object(storage_key: str, storage: Storage | None = None) -> None:
    """Remove a stored backup object; a missing object is not an error (deleting is idempotent)."""
    store = store_for(storage)
    with store.translated():
        store.delete(storage_key)


def list_partial_objects(storage: Storage | None = None) -> list[PartialObject]:
    """Uploads that were started and neither completed nor aborted (e.g. the process was killed)."""
    store = store_for(storage)
    with store.translated():
        return store.partial_objects()


def discard_partial_uploads(storage_key: str, *, storage: Storage | None = None) -> int:
    """Abort the unfinished uploads of one key (an open multipart upload, or a ``.partial`` file).

    A process killed mid-upload leaves them behind; they are invisible under the key but take space. Only
    the given key's leftovers are touched, never another backup's upload in progress. Returns how many.
    """
    store = store_for(storage)
    with store.translated():
        leftovers = [
            partial for partial in store.partial_objects() if store.is_partial_of(partial, storage_key)
        ]
        for partial in leftovers:
            store.discard(partial)
    return len(leftovers)


def remove_partial_objects(
    *, older_than: timedelta, now: datetime, storage: Storage | None = None
) -> list[PartialObject]:
    """Abort uploads and delete temporary files started before ``now - older_than``; returns them."""
    store = store_for(storage)
    with store.translated():
        stale = [partial for partial in store.partial_objects() if partial.started_at < now - older_than]
        for partial in stale:
            store.discard(partial)
    return stale
