"""SQLite (embedded default): a consistent online copy, compressed, verified and restored."""

import sqlite3
from pathlib import Path

import pytest
from django.db import connection

from backups.engines import Database, sqlite
from backups.errors import RestoreRefused
from backups.pipeline import create_backup, restore_backup, verify_backup
from tenants.models import OwnerSetting

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite engine: run without DATABASE_URL"),
]


@pytest.fixture
def rows(owner, other_owner):
    for who in (owner, other_owner):
        OwnerSetting.objects.create(owner=who, key="BACKUP_RETENTION_KEEP_LAST", value="4")
    return owner, other_owner


def live_counts() -> dict[str, int]:
    return sqlite.table_row_counts(Path(Database.live().name))


def test_round_trip_keeps_every_row_count(rows, file_storage, tmp_path):
    target = tmp_path / "restored.sqlite3"
    artifact = create_backup(owner_id=0, storage_key="full/db.sqlite3.zst", storage=file_storage)

    verified = verify_backup(artifact=artifact, storage=file_storage, restore=True)
    restore_backup(artifact=artifact, storage=file_storage, target_db_url=f"sqlite:///{target}")

    assert verified.ok, verified.error
    assert (artifact.engine, artifact.format) == ("sqlite", "sqlite3")
    assert sqlite.table_row_counts(target) == live_counts()
    assert live_counts()["tenants_ownersetting"] == 2


def test_round_trip_through_s3(rows, moto_s3, tmp_path):
    target = tmp_path / "restored.sqlite3"
    artifact = create_backup(
        owner_id=0, storage_key="full/db.sqlite3.gz", storage=moto_s3.storage, codec="gzip"
    )

    restore_backup(artifact=artifact, storage=moto_s3.storage, target_db_url=f"sqlite:///{target}")

    assert sqlite.table_row_counts(target) == live_counts()


def test_backup_leaves_no_temporary_copy_behind(rows, file_storage):
    live_directory = Path(Database.live().name).parent
    before = set(live_directory.iterdir())

    create_backup(owner_id=0, storage_key="full/db.sqlite3.zst", storage=file_storage)

    assert set(live_directory.iterdir()) == before


def test_restore_over_the_live_database_needs_force(rows, file_storage):
    artifact = create_backup(owner_id=0, storage_key="full/db.sqlite3.zst", storage=file_storage)

    with pytest.raises(RestoreRefused, match="live database"):
        restore_backup(artifact=artifact, storage=file_storage)


def test_a_truncated_object_fails_verification(rows, file_storage):
    artifact = create_backup(owner_id=0, storage_key="full/db.sqlite3", storage=file_storage, codec="none")
    path = Path(file_storage.path(artifact.storage_key))
    path.write_bytes(path.read_bytes()[: artifact.size // 2])

    report = verify_backup(artifact=artifact, storage=file_storage)

    assert not report.ok
    assert "Size differs" in report.error


def test_integrity_check_reports_a_damaged_database_file(tmp_path):
    broken = tmp_path / "broken.sqlite3"
    with sqlite3.connect(broken) as database:
        database.execute("CREATE TABLE t (x)")
    data = bytearray(broken.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    broken.write_bytes(bytes(data))

    assert sqlite.integrity_problems(broken)
