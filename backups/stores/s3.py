"""Backup objects on S3 (django-storages' ``S3Storage``): a multipart upload that becomes the object only on
CompleteMultipartUpload.

Parts of 5 MiB (S3's minimum) in two buffers, one uploading while the other fills: 10 MiB in all. One part in
flight keeps up with the dump: on the benchmark a part uploaded in ~0.1 s and took ~0.3 s to fill, so a
second part in flight (a third buffer, as before) only added 5 MiB of RSS. S3 allows 10,000 parts per
object, so the part size doubles every 1,000 parts: memory stays at 10 MiB up to ~5 GiB of compressed
backup, and one object can still grow past 300 GiB. An upload that never completed is listed by
``partial_objects`` (a bucket lifecycle rule "AbortIncompleteMultipartUpload" removes them too).
"""

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

from backups.errors import BackupError, StorageUnavailable
from backups.stores.base import BackupStore, PartialObject

PART_SIZE = 5 * 1024 * 1024
PARTS_PER_SIZE = 1000
REFUSED_CREDENTIALS = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "ExpiredToken")
UNREACHABLE = ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError", "ReadTimeoutError")


class S3Writer:
    """A multipart upload fed from two reused part buffers: one fills while the other uploads.

    The body handed to ``upload_part`` is the bytearray itself: botocore hashes and sends a bytearray
    without copying it (a ``bytes`` body would be joined to the request head, a copy per part), and
    the buffer is filled again only after its upload returned, retries included.
    """

    def __init__(self, storage: S3Storage, key: str) -> None:
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


class S3Store(BackupStore):
    storage: S3Storage
    errors = (BotoCoreError, ClientError, OSError)

    @property
    def client(self) -> Any:
        return self.storage.connection.meta.client

    def describe(self) -> str:
        return f"s3://{self.storage.bucket_name}/{self.storage.location}".rstrip("/")

    def explain(self, error: BaseException) -> StorageUnavailable:
        where = self.describe()
        code = _error_code(error)
        if code == "NoSuchBucket":
            return StorageUnavailable(f"Backup storage {where}: the bucket does not exist.")
        if code in REFUSED_CREDENTIALS:
            return StorageUnavailable(f"Backup storage {where}: the credentials were refused ({code}).")
        if code:
            return StorageUnavailable(f"Backup storage {where}: S3 answered {code}.")
        name = type(error).__name__
        if name in UNREACHABLE:
            return StorageUnavailable(f"Backup storage {where}: the S3 endpoint cannot be reached.")
        if name in ("NoCredentialsError", "PartialCredentialsError"):
            return StorageUnavailable(f"Backup storage {where}: no S3 credentials are configured.")
        return super().explain(error)

    def writer(self, key: str) -> S3Writer:
        return S3Writer(self.storage, key)

    def open(self, key: str) -> Any:
        name = self.storage._normalize_name(clean_name(key))
        try:
            return self.client.get_object(Bucket=self.storage.bucket_name, Key=name)["Body"]
        except ClientError as error:
            if _error_code(error) in ("NoSuchKey", "404"):
                raise self.missing(key) from None
            raise

    def partial_objects(self) -> list[PartialObject]:
        prefix = f"{self.storage.location}/" if self.storage.location else ""
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.storage.bucket_name, Prefix=prefix
        )
        return [
            PartialObject(upload["Key"], upload["Initiated"], upload["UploadId"])
            for page in pages
            for upload in page.get("Uploads", [])
        ]

    def is_partial_of(self, partial: PartialObject, key: str) -> bool:
        return partial.key == self.storage._normalize_name(clean_name(key))

    def discard(self, partial: PartialObject) -> None:
        self.client.abort_multipart_upload(
            Bucket=self.storage.bucket_name, Key=partial.key, UploadId=partial.upload_id
        )

    def download_url(self, key: str, *, filename: str, expire_seconds: int) -> str:
        return self.storage.url(
            key,
            parameters={"ResponseContentDisposition": f'attachment; filename="{filename}"'},
            expire=expire_seconds,
        )


def _error_code(error: BaseException) -> str:
    response = getattr(error, "response", None)
    return response.get("Error", {}).get("Code", "") if isinstance(response, dict) else ""
