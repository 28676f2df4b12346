"""What the backups app needs of a place that holds backup objects, as one interface.

A store wraps one Django storage (``STORAGES["backups"]`` or another) and offers what the pipeline, the
reaper, retention and the download view ask for: a streamed writer whose object appears only on commit, a
streamed reader, deletion, the uploads that never completed and how to discard them, and a download URL
where the storage can mint one. One subclass per kind of storage (``filesystem``, ``s3``), chosen by
``backups.storage.store_for`` from the storage's class, the way Django picks a session or storage backend.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.core.files.storage import Storage

from backups.errors import ObjectMissing, StorageUnavailable


class ObjectTarget(Protocol):
    """Where a writer sends stored bytes; the object exists under its key only after ``commit``."""

    def write(self, data: bytes) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


@dataclass(frozen=True)
class PartialObject:
    """An upload that never completed: an open multipart upload, or a ``.partial`` file."""

    key: str
    started_at: datetime
    upload_id: str = ""


class BackupStore(ABC):
    """One kind of backup storage. Subclasses implement the abstract methods."""

    # What this kind of storage raises when it is unavailable; ``translated()`` turns those into one line.
    errors: tuple[type[BaseException], ...] = (OSError,)

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def describe(self) -> str:
        """Where objects go, for messages: a directory, or ``s3://bucket/prefix``."""
        return str(getattr(self.storage, "location", type(self.storage).__name__))

    def explain(self, error: BaseException) -> StorageUnavailable:
        """One line that says what is wrong with the storage."""
        if isinstance(error, OSError):
            return StorageUnavailable(f"Backup storage {self.describe()}: {error.strerror or error}.")
        return StorageUnavailable(f"Backup storage {self.describe()}: {type(error).__name__}: {error}")

    @contextmanager
    def translated(self) -> Iterator[None]:
        """Inside, this storage's own errors become ``StorageUnavailable`` with a plain message."""
        try:
            yield
        except self.errors as error:
            raise self.explain(error) from error

    def missing(self, key: str) -> ObjectMissing:
        return ObjectMissing(f"Backup object {key!r} is missing from {self.describe()}.")

    @abstractmethod
    def writer(self, key: str) -> ObjectTarget:
        """A new object ``key``, written in parts; refuses a key that already exists (BackupError)."""

    @abstractmethod
    def open(self, key: str) -> Any:
        """A binary stream of the stored bytes of ``key`` (``read(size)``, ``close()``); ObjectMissing."""

    def delete(self, key: str) -> None:
        """Remove a stored object; a missing one is not an error."""
        try:
            self.storage.delete(key)
        except FileNotFoundError:
            return

    @abstractmethod
    def partial_objects(self) -> list[PartialObject]:
        """Uploads that were started and neither completed nor aborted (e.g. the process was killed)."""

    @abstractmethod
    def is_partial_of(self, partial: PartialObject, key: str) -> bool:
        """Whether ``partial`` is a leftover upload of the object ``key``."""

    @abstractmethod
    def discard(self, partial: PartialObject) -> None:
        """Abort the upload or delete the temporary file."""

    def download_url(self, key: str, *, filename: str, expire_seconds: int) -> str | None:
        """A URL that downloads ``key`` as ``filename`` for ``expire_seconds``; None when the storage cannot
        mint one (the object is then served through the backups app's own signed link)."""
        return None
