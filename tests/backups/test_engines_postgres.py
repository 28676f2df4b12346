"""Full PostgreSQL backups: pg_dump streamed to storage, verified, restored with identical row counts."""

import stat
import uuid
from pathlib import Path

import pytest

from backups.engines import Database, postgres
from backups.errors import DumpFailed, RestoreRefused
from backups.pipeline import create_backup, restore_backup, verify_backup
from backups.storage import list_partial_objects
from tenants.models import OwnerSetting

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:Overriding setting DATABASES"),
]

PASSWORD = "pw-that-must-never-leak-8f3a"


@pytest.fixture
def rows(owner, other_owner):
    """Committed rows: pg_dump reads through its own connection and cannot see a test's transaction."""
    for who in (owner, other_owner):
        OwnerSetting.objects.create(owner=who, key="BACKUP_RETENTION_KEEP_LAST", value="9")
    return owner, other_owner


@pytest.fixture
def target_url():
    """A database name on the test server that does not exist yet; dropped afterwards."""
    live = Database.live()
    target = live.with_name(f"{live.name}_restore_{uuid.uuid4().hex[:8]}")
    yield f"postgres://{live.user or 'postgres'}@{live.host or '127.0.0.1'}:{live.port or 5432}/{target.name}"
    postgres.drop_database(target)


def live_settings_with(settings, **changes) -> None:
    """Replace DATABASES (not mutate it): Django's open connection keeps its own, unchanged settings."""
    settings.DATABASES = {**settings.DATABASES, "default": {**settings.DATABASES["default"], **changes}}


@pytest.fixture
def broken_database(settings):
    """The live database settings pointing at a database that does not exist, with a password set."""
    live_settings_with(settings, NAME="no_such_db_x", PASSWORD=PASSWORD)


def test_round_trip_through_the_file_system_keeps_every_row_count(rows, file_storage, target_url):
    artifact = create_backup(owner_id=0, storage_key="full/db.dump.zst", storage=file_storage)

    verified = verify_backup(artifact=artifact, storage=file_storage, restore=True)
    restore_backup(artifact=artifact, storage=file_storage, target_db_url=target_url)

    assert verified.ok, verified.error
    assert (artifact.engine, artifact.format, artifact.codec) == ("postgres", "pg_dump-custom", "zstd")
    assert postgres.table_row_counts(Database.from_url(target_url)) == postgres.table_row_counts(
        Database.live()
    )
    assert postgres.table_row_counts(Database.live())["public.tenants_ownersetting"] == 2


def test_round_trip_through_s3_keeps_every_row_count(rows, moto_s3, target_url):
    artifact = create_backup(
        owner_id=0, storage_key="full/db.dump.zst", storage=moto_s3.storage, codec="gzip"
    )

    verified = verify_backup(artifact=artifact, storage=moto_s3.storage, restore=True)
    report = restore_backup(artifact=artifact, storage=moto_s3.storage, target_db_url=target_url)

    assert verified.ok, verified.error
    assert moto_s3.object_keys() == ["backups/full/db.dump.zst"]
    assert report.bytes_read == artifact.size
    assert postgres.table_row_counts(Database.from_url(target_url)) == postgres.table_row_counts(
        Database.live()
    )


def test_stored_dump_file_is_private(rows, file_storage):
    artifact = create_backup(owner_id=0, storage_key="full/db.dump.zst", storage=file_storage)

    mode = stat.S_IMODE(Path(file_storage.path(artifact.storage_key)).stat().st_mode)

    assert mode == 0o600


def test_failing_pg_dump_leaves_no_file_and_no_password_in_the_error(rows, file_storage, broken_database):
    with pytest.raises(DumpFailed) as failure:
        create_backup(owner_id=0, storage_key="full/db.dump.zst", storage=file_storage)

    assert "no_such_db_x" in str(failure.value)
    assert PASSWORD not in str(failure.value)
    assert not file_storage.exists("full/db.dump.zst")
    assert list_partial_objects(file_storage) == []


def test_failing_pg_dump_leaves_no_object_and_no_open_upload_on_s3(rows, moto_s3, broken_database):
    with pytest.raises(DumpFailed, match="exited with code 1"):
        create_backup(owner_id=0, storage_key="full/db.dump.zst", storage=moto_s3.storage)

    assert moto_s3.object_keys() == []
    assert moto_s3.open_uploads() == []


def test_missing_pg_dump_is_a_clear_error(rows, file_storage, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(DumpFailed, match="pg_dump is not installed"):
        create_backup(owner_id=0, storage_key="full/db.dump.zst", storage=file_storage)
    assert list_partial_objects(file_storage) == []


def test_the_password_reaches_pg_dump_through_its_environment_only(
    rows, file_storage, monkeypatch, tmp_path, settings
):
    """A stand-in pg_dump on PATH records what it was given: argv must hold no secret, env must."""
    (tmp_path / "pg_dump").write_text(
        '#!/bin/sh\nprintf "%s\\n" "$@" > "$0.argv"\nprintf "%s" "$PGPASSWORD" > "$0.env"\nexit 3\n'
    )
    (tmp_path / "pg_dump").chmod(0o700)
    monkeypatch.setenv("PATH", str(tmp_path))
    live_settings_with(settings, PASSWORD=PASSWORD)

    with pytest.raises(DumpFailed, match="exited with code 3"):
        create_backup(owner_id=0, storage_key="full/db.dump.zst", storage=file_storage)

    assert PASSWORD not in (tmp_path / "pg_dump.argv").read_text()
    assert (tmp_path / "pg_dump.argv").read_text().split() == [
        "--format=custom",
        "--compress=0",
        "--no-password",
    ]
    assert (tmp_path / "pg_dump.env").read_text() == PASSWORD


def fake_pg_dump(directory: Path, script: str) -> None:
    """A stand-in pg_dump first on PATH: for failures a real server cannot be made to produce here."""
    (directory / "pg_dump").write_text(f"#!/bin/sh\n{script}\n")
    (directory / "pg_dump").chmod(0o700)


def test_a_version_mismatch_says_to_install_a_matching_pg_dump(rows, file_storage, monkeypatch, tmp_path):
    fake_pg_dump(
        tmp_path,
        'echo "pg_dump: error: aborting because of server version mismatch" >&2\n'
        'echo "pg_dump: detail: server version: 17.2; pg_dump version: 15.20" >&2\nexit 1',
    )
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")

    with pytest.raises(DumpFailed, match="older than the PostgreSQL server; install a matching"):
        create_backup(owner_id=0, storage_key="full/db.dump.zst", storage=file_storage)
    assert list_partial_objects(file_storage) == []


def test_a_password_echoed_by_pg_dump_is_scrubbed_from_the_error(
    rows, file_storage, monkeypatch, tmp_path, settings
):
    fake_pg_dump(tmp_path, 'echo "could not connect with password=$PGPASSWORD" >&2\nexit 2')
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    live_settings_with(settings, PASSWORD=PASSWORD)

    with pytest.raises(DumpFailed) as failure:
        create_backup(owner_id=0, storage_key="full/db.dump.zst", storage=file_storage)

    assert PASSWORD not in str(failure.value)
    assert "password=***" in str(failure.value)


def test_restore_refuses_the_live_database_without_force(rows, file_storage):
    artifact = create_backup(owner_id=0, storage_key="full/db.dump.zst", storage=file_storage)
    live = Database.live()

    with pytest.raises(RestoreRefused, match="live database"):
        restore_backup(
            artifact=artifact,
            storage=file_storage,
            target_db_url=f"postgres://postgres@localhost:5432/{live.name}",
        )


def test_verification_notices_a_changed_object(rows, file_storage):
    artifact = create_backup(owner_id=0, storage_key="full/db.dump", storage=file_storage, codec="none")
    with Path(file_storage.path(artifact.storage_key)).open("r+b") as stored:
        stored.seek(artifact.size // 2)
        stored.write(b"\x00garbage\x00")

    report = verify_backup(artifact=artifact, storage=file_storage)

    assert not report.ok
    assert "SHA-256 differs" in report.error
