"""The pipeline around the engines: codecs, checksums, progress, and what a failure leaves behind."""

import gzip
import hashlib
import io
import json
from pathlib import Path

import pytest
import zstandard
from django.db import connection

from backups.engines import Database
from backups.errors import DumpFailed, StorageUnavailable, scrub
from backups.pipeline import create_backup, engine_for_owner
from backups.storage import list_partial_objects
from tenants.models import OwnerSetting

DECODERS = {
    "zstd": lambda data: zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read(),
    "gzip": gzip.decompress,
    "none": lambda data: data,
}


@pytest.fixture
def settings_rows(owner):
    for number in range(50):
        OwnerSetting.objects.create(owner=owner, key=f"KEY_{number}", value="x" * number)
    return owner


@pytest.mark.parametrize("codec", ["zstd", "gzip", "none"])
def test_each_codec_stores_an_object_its_standard_tool_opens(settings_rows, file_storage, codec):
    artifact = create_backup(
        owner_id=settings_rows.pk, storage_key=f"owner/export.{codec}", storage=file_storage, codec=codec
    )

    stored = Path(file_storage.path(artifact.storage_key)).read_bytes()
    lines = DECODERS[codec](stored).splitlines()
    assert artifact.codec == codec
    assert json.loads(lines[-1])["models"]["tenants.ownersetting"]["count"] == 50


def test_the_artifact_records_size_and_sha256_of_the_stored_bytes(settings_rows, file_storage):
    artifact = create_backup(owner_id=settings_rows.pk, storage_key="owner/export.zst", storage=file_storage)

    stored = Path(file_storage.path(artifact.storage_key)).read_bytes()
    assert artifact.size == len(stored)
    assert artifact.sha256 == hashlib.sha256(stored).hexdigest()


def test_progress_reports_growing_byte_counts_up_to_the_dump_size(settings_rows, file_storage):
    seen: list[int] = []

    artifact = create_backup(
        owner_id=settings_rows.pk,
        storage_key="owner/export",
        storage=file_storage,
        codec="none",
        progress=seen.append,
    )

    assert seen == sorted(seen)
    assert seen[-1] == artifact.size


def test_an_unknown_codec_is_refused_before_anything_is_stored(settings_rows, file_storage):
    with pytest.raises(ValueError, match="Unknown codec 'lz4'"):
        create_backup(
            owner_id=settings_rows.pk, storage_key="owner/export", storage=file_storage, codec="lz4"
        )

    assert list_partial_objects(file_storage) == []
    assert not Path(file_storage.location).exists() or not any(Path(file_storage.location).rglob("*"))


def test_a_failed_dump_leaves_no_object(db, file_storage):
    with pytest.raises(DumpFailed, match="Owner 987654 does not exist"):
        create_backup(owner_id=987654, storage_key="owner/export.zst", storage=file_storage)

    assert not file_storage.exists("owner/export.zst")
    assert list_partial_objects(file_storage) == []


def test_a_missing_bucket_fails_before_anything_is_dumped(settings_rows, moto_s3):
    storage = moto_s3.make_storage(bucket="no-such-bucket")

    with pytest.raises(StorageUnavailable, match="the bucket does not exist"):
        create_backup(owner_id=settings_rows.pk, storage_key="owner/export.zst", storage=storage)

    assert moto_s3.object_keys() == []


def test_owner_zero_is_a_full_backup_of_the_live_vendor_and_others_a_tenant_export():
    assert engine_for_owner(0) == ("postgres" if connection.vendor == "postgresql" else "sqlite")
    assert engine_for_owner(7) == "tenant_export"


def test_secrets_are_scrubbed_from_tool_messages():
    message = 'connection to "postgres://app:hunter2@db:5432/x" failed; password=hunter2 PGPASSWORD=hunter2'

    assert "hunter2" not in scrub(message)
    assert "hunter2" not in scrub("token s3cr3t-value used", ("s3cr3t-value",))


def test_loopback_spellings_and_default_port_name_the_same_database():
    live = Database.from_url("postgres://app@127.0.0.1/app")

    assert Database.from_url("postgres://other@localhost:5432/app").same_as(live)
    assert not Database.from_url("postgres://app@127.0.0.1/app_copy").same_as(live)
    assert not Database.from_url("postgres://app@10.0.0.5/app").same_as(live)
