"""Streamed writes to backup storage: an object exists under its key only once complete."""

import os
import signal
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from botocore.config import Config
from django.conf import settings
from django.core.files.storage import InMemoryStorage
from django.utils import timezone

from backups.errors import BackupError, StorageUnavailable
from backups.storage import (
    ObjectWriter,
    delete_object,
    list_partial_objects,
    open_object,
    remove_partial_objects,
    store_for,
)
from backups.stores.filesystem import FileSystemStore
from backups.stores.s3 import PART_SIZE, S3Store
from tests.backups.conftest import free_loopback_port

UPLOADER = """
import os, sys
import django
django.setup()
from django.core.files.storage import FileSystemStorage
from backups.storage import ObjectWriter
from tests.backups.conftest import make_s3_storage

kind, where, key = sys.argv[1:4]
if kind == "s3":
    endpoint, bucket = where.split("|")
    storage = make_s3_storage(endpoint, bucket)
else:
    storage = FileSystemStorage(location=where)
writer = ObjectWriter(key, storage)
block = os.urandom(1024 * 1024)
for _ in range(20):
    writer.write(block)
print("uploading", flush=True)
sys.stdin.read()
writer.commit()
"""


def read_all(key: str, storage) -> bytes:
    with open_object(key, storage) as stored:
        return b"".join(iter(lambda: stored.read(1 << 20), b""))


def start_uploader(tmp_path: Path, kind: str, where: str, key: str) -> subprocess.Popen:
    script = tmp_path / "uploader.py"
    script.write_text(UPLOADER)
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATA_DIR": str(tmp_path / "child-data"),
        "PYTHONPATH": str(settings.BASE_DIR),
    }
    child = subprocess.Popen(
        [sys.executable, str(script), kind, where, key],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=settings.BASE_DIR,
        env=environment,
    )
    assert child.stdout.readline().strip() == b"uploading"
    return child


def kill_hard(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def test_file_object_appears_only_on_commit_and_is_private(file_storage):
    writer = ObjectWriter("full/a.dump.zst", file_storage)
    writer.write(b"first")
    writer.write(b"second")

    assert not file_storage.exists("full/a.dump.zst")
    assert len(list_partial_objects(file_storage)) == 1
    writer.commit()

    assert read_all("full/a.dump.zst", file_storage) == b"firstsecond"
    assert stat.S_IMODE(Path(file_storage.path("full/a.dump.zst")).stat().st_mode) == 0o600
    assert list_partial_objects(file_storage) == []


def test_an_error_inside_the_writer_removes_the_temporary_file(file_storage):
    with pytest.raises(RuntimeError), ObjectWriter("full/a.dump.zst", file_storage) as writer:
        writer.write(b"half a dump")
        raise RuntimeError("the dump died")

    assert not file_storage.exists("full/a.dump.zst")
    assert list_partial_objects(file_storage) == []


def test_an_existing_backup_is_never_overwritten(file_storage):
    with ObjectWriter("full/a.dump.zst", file_storage) as writer:
        writer.write(b"original")
        writer.commit()

    with pytest.raises(BackupError, match="already exists"):
        ObjectWriter("full/a.dump.zst", file_storage)
    assert read_all("full/a.dump.zst", file_storage) == b"original"


def test_s3_object_appears_only_when_the_multipart_upload_completes(moto_s3):
    body = os.urandom(PART_SIZE) + os.urandom(PART_SIZE) + b"tail"
    writer = ObjectWriter("full/a.dump.zst", moto_s3.storage)
    for start in range(0, len(body), 1 << 20):
        writer.write(body[start : start + (1 << 20)])

    assert moto_s3.object_keys() == []
    assert len(moto_s3.open_uploads()) == 1
    writer.commit()

    assert moto_s3.object_keys() == ["backups/full/a.dump.zst"]
    assert moto_s3.open_uploads() == []
    assert read_all("full/a.dump.zst", moto_s3.storage) == body


def test_s3_abort_leaves_neither_object_nor_upload(moto_s3):
    with pytest.raises(RuntimeError), ObjectWriter("full/a.dump.zst", moto_s3.storage) as writer:
        writer.write(os.urandom(PART_SIZE + 10))
        raise RuntimeError("the dump died")

    assert moto_s3.object_keys() == []
    assert moto_s3.open_uploads() == []


def test_a_missing_bucket_is_a_clear_storage_error(moto_s3):
    storage = moto_s3.make_storage(bucket="no-such-bucket")

    with pytest.raises(StorageUnavailable, match="the bucket does not exist"):
        ObjectWriter("full/a.dump.zst", storage)


def test_an_unreachable_endpoint_is_a_clear_storage_error(moto_s3):
    storage = moto_s3.make_storage()
    storage.endpoint_url = f"http://127.0.0.1:{free_loopback_port()}"
    storage.client_config = Config(retries={"max_attempts": 1}, connect_timeout=2)

    with pytest.raises(StorageUnavailable, match="cannot be reached"):
        ObjectWriter("full/a.dump.zst", storage)


def test_a_missing_object_is_reported_as_missing(moto_s3, file_storage):
    for storage in (moto_s3.storage, file_storage):
        with pytest.raises(StorageUnavailable, match="is missing"):
            open_object("full/never.dump.zst", storage)


def test_delete_is_idempotent(file_storage, moto_s3):
    for storage in (file_storage, moto_s3.storage):
        with ObjectWriter("full/a.dump.zst", storage) as writer:
            writer.write(b"x")
            writer.commit()

        delete_object("full/a.dump.zst", storage)
        delete_object("full/a.dump.zst", storage)

        assert not storage.exists("full/a.dump.zst")


def test_kill_9_during_an_s3_upload_leaves_no_visible_object(moto_s3, tmp_path):
    child = start_uploader(tmp_path, "s3", f"{moto_s3.endpoint}|{moto_s3.bucket}", "full/killed.dump.zst")

    kill_hard(child)

    assert moto_s3.object_keys() == []
    assert [partial.key for partial in list_partial_objects(moto_s3.storage)] == [
        "backups/full/killed.dump.zst"
    ]


def test_kill_9_during_a_file_upload_leaves_only_a_hidden_partial_file(file_storage, tmp_path):
    child = start_uploader(tmp_path, "file", file_storage.location, "full/killed.dump.zst")

    kill_hard(child)

    assert not file_storage.exists("full/killed.dump.zst")
    (partial,) = list_partial_objects(file_storage)
    assert partial.key.startswith("full/.killed.dump.zst.") and partial.key.endswith(".partial")


def test_stale_partial_files_are_removed_and_fresh_ones_kept(file_storage, tmp_path):
    child = start_uploader(tmp_path, "file", file_storage.location, "full/killed.dump.zst")
    kill_hard(child)
    now = timezone.now()

    kept = remove_partial_objects(older_than=timedelta(hours=1), now=now, storage=file_storage)
    later = now + timedelta(hours=2)
    removed = remove_partial_objects(older_than=timedelta(hours=1), now=later, storage=file_storage)

    assert kept == []
    assert len(removed) == 1
    assert list_partial_objects(file_storage) == []


def test_stale_multipart_uploads_are_aborted(moto_s3, tmp_path):
    child = start_uploader(tmp_path, "s3", f"{moto_s3.endpoint}|{moto_s3.bucket}", "full/killed.dump.zst")
    kill_hard(child)
    # moto reports a fixed initiation date in the past, so only "stale" can be exercised here.
    later = timezone.now() + timedelta(hours=2)

    removed = remove_partial_objects(older_than=timedelta(hours=1), now=later, storage=moto_s3.storage)

    assert [partial.key for partial in removed] == ["backups/full/killed.dump.zst"]
    assert moto_s3.open_uploads() == []


def test_the_store_is_chosen_from_the_storage_s_class(file_storage, moto_s3):
    assert isinstance(store_for(file_storage), FileSystemStore)
    assert isinstance(store_for(moto_s3.storage), S3Store)
    with pytest.raises(BackupError, match="cannot hold backups"):
        store_for(InMemoryStorage())


def test_only_s3_mints_its_own_download_link(file_storage, moto_s3):
    with ObjectWriter("full/a.dump.zst", moto_s3.storage) as writer:
        writer.write(b"x")
        writer.commit()

    presigned = store_for(moto_s3.storage).download_url(
        "full/a.dump.zst", filename="a.dump.zst", expire_seconds=60
    )

    assert store_for(file_storage).download_url("full/a.dump.zst", filename="a", expire_seconds=60) is None
    assert presigned.startswith(f"{moto_s3.endpoint}/{moto_s3.bucket}/backups/full/a.dump.zst?")
    assert "Signature" in presigned and "response-content-disposition=attachment" in presigned
