"""``manage.py backup restore``: the target's password comes from the environment, never from argv."""

import io
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection

from backups.engines import Database, postgres
from backups.services import take_backup
from inventory.models import StockItem
from tests.backups.builders import use_file_storage
from tests.e2e.workers import wait_for

MANAGE_PY = Path(django_settings.BASE_DIR) / "manage.py"
SECRET = "restore-target-s3cret"


@pytest.fixture(autouse=True)
def backups_in_tmp(settings, tmp_path):
    use_file_storage(settings, tmp_path / "backups")


def restore(*args: str) -> str:
    out = io.StringIO()
    call_command("backup", "restore", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def live_database_url() -> str:
    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    return f"postgres://{params['USER']}@{params['HOST']}:{params['PORT'] or 5432}/{params['NAME']}"


def test_a_password_in_target_db_is_refused_and_nothing_is_restored(owner):
    made = take_backup(owner_id=owner.pk).backup
    StockItem.objects.create(owner=owner, sku="LATER", name="added later")

    with pytest.raises(CommandError, match=r"holds a password.*PGPASSWORD or use ~/\.pgpass"):
        restore(str(made.pk), "--target-db", "postgres://app:hunter2@db.example.com/copy", "--force")

    assert StockItem.objects.filter(sku="LATER").exists()


def test_without_a_target_the_command_says_how_to_name_one(owner, settings):
    settings.RESTORE_TARGET_DATABASE_URL = ""
    made = take_backup(owner_id=owner.pk).backup

    with pytest.raises(CommandError, match=r"Name the target: --target-db .* RESTORE_TARGET_DATABASE_URL"):
        restore(str(made.pk))


def test_the_target_may_come_from_restore_target_database_url(owner, settings):
    settings.RESTORE_TARGET_DATABASE_URL = live_database_url()
    made = take_backup(owner_id=owner.pk).backup
    StockItem.objects.create(owner=owner, sku="LATER", name="added later")

    output = restore(str(made.pk), "--force")

    assert f"Backup #{made.pk} restored into the live database" in output
    assert not StockItem.objects.filter(sku="LATER").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("garbage", "starts with postgres:// or sqlite:///"),
        ("postgres://db.example.com/", "Name the database"),
    ],
)
def test_a_malformed_target_is_one_plain_line(owner, url, message):
    made = take_backup(owner_id=owner.pk).backup

    with pytest.raises(CommandError, match=message) as raised:
        restore(str(made.pk), "--target-db", url)

    assert "\n" not in str(raised.value)


def test_the_live_database_is_described_without_its_location(owner):
    made = take_backup(owner_id=owner.pk).backup

    output = restore(str(made.pk), "--target-db", live_database_url(), "--force")

    assert "restored into the live database" in output
    assert str(connection.settings_dict["NAME"]) not in output


# --- What `ps` shows ------------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """Every living process below ``pid``, read from /proc (what ``ps`` reads)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, waiting = [], [pid]
    while waiting:
        for child in children.get(waiting.pop(), []):
            found.append(child)
            waiting.append(child)
    return found


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_no_process_of_a_cli_restore_shows_the_targets_password_in_its_command_line(tmp_path):
    """The real pg_restore runs; a shim in front of it holds it until this test has read every
    process's /proc/<pid>/cmdline, then hands over with exec (same process, same argv)."""
    real = shutil.which("pg_restore")
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "pg_restore").write_text(
        f'#!/bin/sh\ntouch "$0.ready"\nwhile [ ! -e "$0.go" ]; do sleep 0.05; done\nexec {real} "$@"\n'
    )
    (shims / "pg_restore").chmod(0o700)
    full = take_backup(owner_id=0).backup
    live = Database.live()
    target = live.with_name(f"{live.name}_cli_{uuid.uuid4().hex[:8]}")
    url = f"postgres://{live.user or 'postgres'}@{live.host or '127.0.0.1'}:{live.port or 5432}/{target.name}"
    environment = {
        **os.environ,
        "PATH": f"{shims}:{os.environ['PATH']}",
        "PGPASSWORD": SECRET,
        "DATABASE_URL": live_database_url(),
        "DATA_DIR": str(django_settings.DATA_DIR),
        "BACKUP_STORAGE_URL": f"file://{tmp_path / 'backups'}",
    }
    command = [sys.executable, str(MANAGE_PY), "backup", "restore", str(full.pk), "--target-db", url]

    child = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: (shims / "pg_restore.ready").exists(), timeout=60, message="pg_restore started")
        processes = [child.pid, *descendants(child.pid)]
        command_lines = {pid: cmdline(pid) for pid in processes}
        restorer = next(
            pid for pid, line in command_lines.items() if "pg_restore" in line and "manage.py" not in line
        )
        restorer_environment = Path(f"/proc/{restorer}/environ").read_bytes().split(b"\0")
        (shims / "pg_restore.go").touch()
        out, err = child.communicate(timeout=120)
        restored_tables = postgres.table_row_counts(target)
    finally:
        (shims / "pg_restore.go").touch()
        if child.poll() is None:
            child.kill()
            child.wait()
        postgres.drop_database(target)

    assert child.returncode == 0, err
    assert f"restored into database {target.name}" in out
    assert len(command_lines) >= 2  # manage.py and pg_restore at least
    assert all(SECRET not in line for line in command_lines.values()), command_lines
    assert f"PGPASSWORD={SECRET}".encode() in restorer_environment  # it travelled, through the environment
    assert any(table.endswith("django_migrations") for table in restored_tables)
