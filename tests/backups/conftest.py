"""Fixtures for backup tests: a real ``moto_server`` process over HTTP, and file-system backup storage.

``moto_s3`` gives each test its own fresh bucket on one moto_server per session:

    def test_something(moto_s3):
        artifact = create_backup(owner_id=0, storage_key="k", storage=moto_s3.storage)
        moto_s3.client.list_objects_v2(Bucket=moto_s3.bucket)
        moto_s3.make_storage(bucket="missing")   # another S3Storage on the same server
"""

import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import FileSystemStorage

MOTO_SERVER = Path(sys.executable).with_name("moto_server")
ACCESS_KEY = "moto-access-key"
SECRET_KEY = "moto-secret-key-not-real"
REGION = "us-east-1"


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited early with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)  # polling a port that is being opened, not waiting for a schedule
    raise RuntimeError("moto_server did not start listening in time")


def make_s3_storage(endpoint: str, bucket: str, location: str = "backups", **options: Any):
    from storages.backends.s3 import S3Storage

    return S3Storage(
        bucket_name=bucket,
        location=location,
        endpoint_url=endpoint,
        region_name=REGION,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        default_acl=None,
        file_overwrite=False,
        querystring_expire=300,
        **options,
    )


@dataclass
class MotoS3:
    """One moto bucket: its S3Storage, a plain boto3 client for assertions, and where it lives."""

    endpoint: str
    bucket: str
    storage: Any
    client: Any

    def make_storage(self, bucket: str | None = None, location: str = "backups", **options: Any):
        return make_s3_storage(self.endpoint, bucket or self.bucket, location, **options)

    def object_keys(self) -> list[str]:
        return [item["Key"] for item in self.client.list_objects_v2(Bucket=self.bucket).get("Contents", [])]

    def open_uploads(self) -> list[dict]:
        return self.client.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto_server child process on a free loopback port for the whole session; yields its URL."""
    port = free_loopback_port()
    process = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def moto_s3(moto_endpoint) -> MotoS3:
    """A fresh bucket on the session's moto_server, with an S3Storage (location "backups") pointing at it."""
    import boto3

    bucket = f"backups-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    client.create_bucket(Bucket=bucket)
    return MotoS3(moto_endpoint, bucket, make_s3_storage(moto_endpoint, bucket), client)


@pytest.fixture
def file_storage(tmp_path) -> FileSystemStorage:
    """Backup storage in a fresh directory, configured like STORAGES["backups"] for file:// URLs."""
    return FileSystemStorage(location=tmp_path / "backups", file_permissions_mode=0o600)
