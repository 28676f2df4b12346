"""Streamed writes and reads of backup objects on a Django storage (file system or S3).

A writer receives stored bytes with ``write()`` and makes them visible under the final key only in
``commit()``; ``abort()`` (or a process that dies) leaves no object under that key:

- S3: a multipart upload (boto3's client calls, 5 MiB parts, one uploading while the next fills). Until
  CompleteMultipartUpload the object does not exist; an uncompleted upload is listed by
  ``list_partial_objects`` and removed by ``remove_partial_objects`` (a bucket lifecycle rule
  "AbortIncompleteMultipartUpload" does the same in production).
- File system: a hidden ``.<name>.<random>.partial`` file next to the final path, linked to the final
  name when complete (``link`` fails instead of overwriting an existing backup).
"""

import logging
import os
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.core.files.storage import FileSystemStorage, Storage, storages

from backups.errors import BackupError, ObjectMissing, StorageUnavailable
from backups.streaming import CHUNK_SIZE, Readable

logger = logging.getLogger(__name__)

# Parts of 5 MiB (S3's minimum) in two buffers, one uploading while the other fills: 10 MiB in all.
# One part in flight keeps up with the dump: on the benchmark a part uploaded in ~0.1 s and took ~0.3 s
# to fill, so a second part in flight (a third buffer, as before) only added 5 MiB of RSS.
# S3 allows 10,000 parts per object, so the part size doubles every 1,000 parts: memory stays at 10 MiB
# up to ~5 GiB of compressed backup, and one object can still grow past 300 GiB.
PART_SIZE = 5 * 1024 * 1024
PARTS_PER_SIZE = 1000
PARTIAL_SUFFIX = ".partial"


def backup_storage(storage: Storage | None = None) -> Storage:
    """``storage``, or the one configured as STORAGES["backups"]."""
    return storage if storage is not None else storages["backups"]


def is_s3(storage: Storage) -> bool:
    return hasattr(storage, "bucket_name") and hasattr(storage, "connection")


def describe(storage: Storage) -> str:
    """Where objects go, for messages: ``s3://bucket/prefix`` or a directory."""
    if is_s3(storage):
        return f"s3://{storage.bucket_name}/{storage.location}".rstrip("/")
    return str(getattr(storage, "location", type(storage).__name__))


def storage_error(error: Exception, storage: Storage) -> StorageUnavailable:
    """One line that says what is wrong with the storage, from a botocore/OS error."""
    where = describe(storage)
    code = ""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code", "")
    if code == "NoSuchBucket":
        return StorageUnavailable(f"Backup storage {where}: the bucket does not exist.")
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "ExpiredToken"):
        return StorageUnavailable(f"Backup storage {where}: the credentials were refused ({code}).")
    if code:
        return StorageUnavailable(f"Backup storage {where}: S3 answered {code}.")
    name = type(error).__name__
    if name in (
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ConnectionClosedError",
        "ReadTimeoutError",
    ):
        return StorageUnavailable(f"Backup storage {where}: the S3 endpoint cannot be reached.")
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return StorageUnavailable(f"Backup storage {where}: no S3 credentials are configured.")
    if isinstance(error, OSError):
        return StorageUnavailable(f"Backup storage {where}: {error.strerror or error}.")
    return StorageUnavailable(f"Backup storage {where}: {name}: {error}")


def _storage_errors(storage: Storage) -> tuple[type[BaseException], ...]:
    if is_s3(storage):
        from botocore.exceptions import BotoCoreError, ClientError

        return (BotoCoreError, ClientError, OSError)
    return (OSError,)


# --- Writers ---------------------------------------------------------------------------------------------


class _S3Writer:
    """A multipart upload fed from two reused part buffers: one fills while the other uploads.

    The body handed to ``upload_part`` is the bytearray itself: botocore hashes and sends a bytearray
    without copying it (a ``bytes`` body would be joined to the request head, a copy per part), and
    the buffer is filled again only after its upload returned, retries included.
    """

    def __init__(self, storage: Storage, key: str) -> None:
        from storages.utils import clean_name

        self._storage = storage
        self._client = storage.connection.meta.client
        self._bucket = storage.bucket_name
        self.name = storage._normalize_name(clean_name(key))
        if storage.exists(key):
            raise BackupError(f"A backup object named {key!r} already exists; refusing to overwrite it.")
        params = storage.get_object_parameters(self.name)
        params.setdefault("ContentType", "application/octet-stream")
        created = self._client.create_multipart_upload(Bucket=self._bucket, Key=self.name, **params)
        self.upload_id = created["UploadId"]
        self._parts: list[dict[str, Any]] = []
        self._sent = 0
        self._buffer = bytearray(PART_SIZE)
        self._filled = 0
        self._uploading: tuple[Future, bytearray] | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="backup-upload")

    def _part_size(self) -> int:
        return PART_SIZE * 2 ** (self._sent // PARTS_PER_SIZE)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            taken = view[: len(self._buffer) - self._filled]
            self._buffer[self._filled : self._filled + len(taken)] = taken
            self._filled += len(taken)
            view = view[len(taken) :]
            if self._filled == len(self._buffer):
                self._send()

    def _send(self, *, last: bool = False) -> None:
        # Waits for the previous part first: at most one part uploads while the next one fills.
        spare = self._wait_for_upload()
        self._sent += 1
        future = self._pool.submit(self._upload_part, self._sent, self._buffer)
        self._uploading = (future, self._buffer)
        size = 0 if last else self._part_size()
        self._buffer = spare if spare is not None and len(spare) == size else bytearray(size)
        self._filled = 0

    def _wait_for_upload(self) -> bytearray | None:
        """The buffer of the part in flight once it is stored (its error, if it failed)."""
        if self._uploading is None:
            return None
        future, buffer = self._uploading
        self._uploading = None
        self._parts.append(future.result())
        return buffer

    def _upload_part(self, number: int, body: bytearray) -> dict[str, Any]:
        answer = self._client.upload_part(
            Bucket=self._bucket, Key=self.name, UploadId=self.upload_id, PartNumber=number, Body=body
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def commit(self) -> None:
        if self._filled or not self._sent:
            # The last part may be short (or, for an empty object, empty): shrink it in place, no copy.
            del self._buffer[self._filled :]
            self._send(last=True)
        self._wait_for_upload()
        self._pool.shutdown()
        self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self.name,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self._parts},
        )

    def abort(self) -> None:
        if self._uploading is not None:
            self._uploading[0].cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._uploading = None
        self._client.abort_multipart_upload(Bucket=self._bucket, Key=self.name, UploadId=self.upload_id)


class _FileWriter:
    def __init__(self, storage: FileSystemStorage, key: str) -> None:
        self.final = Path(storage.path(key))
        self.final.parent.mkdir(parents=True, exist_ok=True)
        if self.final.exists():
            raise BackupError(f"A backup object named {key!r} already exists; refusing to overwrite it.")
        self.temp = self.final.with_name(f".{self.final.name}.{uuid.uuid4().hex[:12]}{PARTIAL_SUFFIX}")
        mode = storage.file_permissions_mode or 0o600
        self._file = open(  # noqa: SIM115, PTH123 - a descriptor opened with O_EXCL; closed in commit/abort
            os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb", buffering=CHUNK_SIZE
        )

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def commit(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        try:
            os.link(self.temp, self.final)
        except FileExistsError:
            raise BackupError(f"A backup object named {self.final.name!r} appeared meanwhile.") from None
        finally:
            self.temp.unlink(missing_ok=True)
        directory = os.open(self.final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def abort(self) -> None:
        self._file.close()
        self.temp.unlink(missing_ok=True)


class ObjectWriter:
    """Stored bytes go in with ``write``; the object exists under its key only after ``commit``.

    Used as a context manager, any exception (including KeyboardInterrupt) aborts the upload or removes
    the temporary file before it propagates.
    """

    def __init__(self, key: str, storage: Storage | None = None) -> None:
        self.storage = backup_storage(storage)
        self.key = key
        self._errors = _storage_errors(self.storage)
        try:
            if is_s3(self.storage):
                self._target = _S3Writer(self.storage, key)
            elif isinstance(self.storage, FileSystemStorage):
                self._target = _FileWriter(self.storage, key)
            else:
                raise BackupError(f"Storage {type(self.storage).__name__} cannot hold backups.")
        except self._errors as error:
            raise storage_error(error, self.storage) from error
        self._done = False

    def write(self, data: bytes) -> None:
        try:
            self._target.write(data)
        except self._errors as error:
            raise storage_error(error, self.storage) from error

    def commit(self) -> None:
        try:
            self._target.commit()
        except self._errors as error:
            raise storage_error(error, self.storage) from error
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._target.abort()
        except self._errors:
            # The original failure matters more; a leftover upload is listed by list_partial_objects().
            logger.warning("could not abort partial backup object", extra={"key": self.key}, exc_info=True)

    def __enter__(self) -> "ObjectWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or not self._done:
            self.abort()


# --- Readers and housekeeping ----------------------------------------------------------------------------


class _StoredObject:
    def __init__(self, body: Any, storage: Storage) -> None:
        self._body = body
        self._storage = storage
        self._errors = _storage_errors(storage)

    def read(self, size: int = CHUNK_SIZE) -> bytes:
        try:
            return self._body.read(size)
        except self._errors as error:
            raise storage_error(error, self._storage) from error

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> "_StoredObject":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_object(key: str, storage: Storage | None = None) -> Readable:
    """A streaming reader of the stored bytes of ``key`` (use it as a context manager)."""
    storage = backup_storage(storage)
    try:
        if is_s3(storage):
            from storages.utils import clean_name

            name = storage._normalize_name(clean_name(key))
            body = storage.connection.meta.client.get_object(Bucket=storage.bucket_name, Key=name)["Body"]
        else:
            body = Path(storage.path(key)).open("rb", buffering=0)  # noqa: SIM115 - closed by _StoredObject
    except FileNotFoundError:
        raise ObjectMissing(f"Backup object {key!r} is missing from {describe(storage)}.") from None
    except _storage_errors(storage) as error:
        if getattr(error, "response", {}).get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise ObjectMissing(f"Backup object {key!r} is missing from {describe(storage)}.") from None
        raise storage_error(error, storage) from error
    return _StoredObject(body, storage)


def object_exists(key: str, storage: Storage | None = None) -> bool:
    storage = backup_storage(storage)
    try:
        return storage.exists(key)
    except _storage_errors(storage) as error:
        raise storage_error(error, storage) from error


def delete_object(storage_key: str, storage: Storage | None = None) -> None:
    """Remove a stored backup object; a missing object is not an error (deleting is idempotent)."""
    storage = backup_storage(storage)
    try:
        storage.delete(storage_key)
    except FileNotFoundError:
        return
    except _storage_errors(storage) as error:
        raise storage_error(error, storage) from error


@dataclass(frozen=True)
class PartialObject:
    """An upload that never completed: an open multipart upload, or a ``.partial`` file."""

    key: str
    started_at: datetime
    upload_id: str = ""


def list_partial_objects(storage: Storage | None = None) -> list[PartialObject]:
    """Uploads that were started and neither completed nor aborted (e.g. the process was killed)."""
    storage = backup_storage(storage)
    try:
        if is_s3(storage):
            client = storage.connection.meta.client
            found = []
            paginator = client.get_paginator("list_multipart_uploads")
            prefix = f"{storage.location}/" if storage.location else ""
            for page in paginator.paginate(Bucket=storage.bucket_name, Prefix=prefix):
                for upload in page.get("Uploads", []):
                    found.append(PartialObject(upload["Key"], upload["Initiated"], upload["UploadId"]))
            return found
        root = Path(storage.location)
        if not root.exists():
            return []
        return [
            PartialObject(str(path.relative_to(root)), datetime.fromtimestamp(path.stat().st_mtime, tz=UTC))
            for path in root.rglob(f".*{PARTIAL_SUFFIX}")
        ]
    except _storage_errors(storage) as error:
        raise storage_error(error, storage) from error


def remove_partial_objects(
    *, older_than: timedelta, now: datetime, storage: Storage | None = None
) -> list[PartialObject]:
    """Abort uploads and delete temporary files started before ``now - older_than``; returns them."""
    storage = backup_storage(storage)
    stale = [partial for partial in list_partial_objects(storage) if partial.started_at < now - older_than]
    try:
        for partial in stale:
            if partial.upload_id:
                storage.connection.meta.client.abort_multipart_upload(
                    Bucket=storage.bucket_name, Key=partial.key, UploadId=partial.upload_id
                )
            else:
                (Path(storage.location) / partial.key).unlink(missing_ok=True)
    except _storage_errors(storage) as error:
        raise storage_error(error, storage) from error
    return stale
