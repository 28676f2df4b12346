"""``manage.py backup``: each action, its output, and one plain line with exit code 1 for user errors."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management import CommandError, call_command
from django.db import connection

from backups.models import Backup
from backups.services import claim_backup, take_backup
from jobs.models import JobRun
from tests.backups.builders import make_backup, use_file_storage

MANAGE_PY = Path(django_settings.BASE_DIR) / "manage.py"


@pytest.fixture(autouse=True)
def backups_in_tmp(settings, tmp_path):
    use_file_storage(settings, tmp_path / "backups")


class Terminal(io.StringIO):
    """Captured output that says it is a terminal, as an interactive shell's stdout does."""

    def isatty(self) -> bool:
        return True


def backup(*args: str, stdout=None) -> str:
    out = stdout or io.StringIO()
    call_command("backup", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_now_wait_backs_up_the_owner_here_and_reports_size_and_checksum(owner):
    output = backup("now", "--owner", str(owner.pk), "--wait")

    made = Backup.objects.get(owner=owner)
    assert made.status == Backup.Status.VERIFIED
    assert f"Backup #{made.pk} of owner {owner.pk} verified" in output
    assert made.sha256 in output


def test_now_without_wait_queues_a_manual_run_for_the_engine(owner):
    output = backup("now", "--owner", str(owner.pk))

    run = JobRun.objects.get(job_name="backups.run", owner=owner)
    assert run.trigger == JobRun.Trigger.MANUAL
    assert f"Queued backup run #{run.pk}" in output
    assert not Backup.objects.exists()


def test_now_for_an_unknown_owner_is_a_user_error(db):
    with pytest.raises(CommandError, match="No owner with id or slug '4242'"):
        backup("now", "--owner", "4242", "--wait")


def test_now_while_the_owners_backup_runs_says_nothing_was_done(owner):
    running = claim_backup(owner_id=owner.pk)

    with pytest.raises(CommandError, match=f"backup #{running.pk} of owner {owner.pk} is still running"):
        backup("now", "--owner", str(owner.pk), "--wait")


def test_progress_is_shown_with_bytes_and_rate_on_a_terminal(owner):
    terminal = Terminal()

    backup("now", "--owner", str(owner.pk), "--wait", stdout=terminal)

    assert "\rdumped " in terminal.getvalue()
    assert "/s" in terminal.getvalue()


def test_no_progress_line_when_the_output_is_not_a_terminal(owner):
    output = backup("now", "--owner", str(owner.pk), "--wait")

    assert "\r" not in output


def test_list_json_shows_the_owners_backups_newest_first(owner, other_owner):
    older = make_backup(owner)
    newer = make_backup(owner)
    make_backup(other_owner)

    rows = json.loads(backup("list", "--owner", str(owner.pk), "--json"))

    assert [row["id"] for row in rows] == [newer.pk, older.pk]
    assert rows[0]["sha256"] == newer.sha256 and rows[0]["status"] == "verified"


def test_list_as_a_table(owner):
    made = make_backup(owner)

    output = backup("list")

    assert output.splitlines()[0].split()[:3] == ["ID", "OWNER", "STATUS"]
    assert str(made.pk) in output.splitlines()[1]


def test_verify_re_reads_the_object_and_marks_it_verified(owner):
    made = take_backup(owner_id=owner.pk).backup

    output = backup("verify", str(made.pk))

    assert f"Backup #{made.pk} verified." in output


def test_verify_of_a_damaged_object_fails_the_backup_and_the_command(owner):
    made = take_backup(owner_id=owner.pk).backup
    storage = storages["backups"]
    storage.delete(made.storage_key)
    storage.save(made.storage_key, ContentFile(b"not the backup that was taken"))

    with pytest.raises(CommandError, match="verification failed"):
        backup("verify", str(made.pk))

    made.refresh_from_db()
    assert made.status == Backup.Status.FAILED


def test_verify_of_an_unknown_backup_is_a_user_error(db):
    with pytest.raises(CommandError, match="There is no backup 424242"):
        backup("verify", "424242")


def test_restore_over_the_live_database_is_refused_without_force(owner):
    made = take_backup(owner_id=owner.pk).backup

    with pytest.raises(CommandError, match="Refusing to restore over the live database"):
        backup("restore", str(made.pk), "--target-db", live_database_url())


def test_restore_of_a_tenant_export_with_force_replaces_the_owners_rows(owner):
    made = take_backup(owner_id=owner.pk).backup

    output = backup("restore", str(made.pk), "--target-db", live_database_url(), "--force")

    assert f"Backup #{made.pk} restored into" in output


def test_prune_dry_run_lists_what_would_go_and_changes_nothing(owner):
    from datetime import timedelta

    from django.utils import timezone

    from tenants import owner_settings

    owner_settings.set_value(owner.pk, "BACKUP_RETENTION_KEEP_LAST", "1")
    for key in ("DAILY", "WEEKLY", "MONTHLY"):
        owner_settings.set_value(owner.pk, f"BACKUP_RETENTION_KEEP_{key}", "0")
    old = make_backup(owner, started_at=timezone.now() - timedelta(days=2))
    make_backup(owner)

    output = backup("prune", "--owner", str(owner.pk), "--dry-run")

    assert f"Owner {owner.pk}" in output and f"would prune 1 (#{old.pk})" in output
    assert Backup.objects.get(pk=old.pk).status == Backup.Status.VERIFIED


def test_prune_applies_retention_to_every_owner(owner, other_owner):
    output = backup("prune")

    assert f"Owner {owner.pk}" in output and f"Owner {other_owner.pk}" in output


def test_sync_schedules_gives_every_owner_a_managed_schedule(owner):
    output = backup("sync-schedules")

    assert "in sync for" in output
    assert owner.schedules.filter(job_name="backups.run", managed_by="backups").count() == 1


@pytest.mark.postgres
def test_a_missing_pg_dump_is_one_plain_line(db, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(CommandError) as raised:
        backup("now", "--wait")

    assert "pg_dump is not installed" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_from_the_shell_a_user_error_exits_1_with_one_line_on_stderr(db):
    env = {**os.environ, "DATABASE_URL": live_database_url(), "DATA_DIR": str(django_settings.DATA_DIR)}

    finished = subprocess.run(
        [sys.executable, str(MANAGE_PY), "backup", "verify", "424242"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert finished.returncode == 1
    assert finished.stderr.strip().splitlines() == ["CommandError: There is no backup 424242."]


def live_database_url() -> str:
    """The URL of the database the tests use (the test database, not the configured one)."""
    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    return f"postgres://{params['USER']}@{params['HOST']}:{params['PORT'] or 5432}/{params['NAME']}"
