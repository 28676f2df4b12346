import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import ManagementUtility
from django.db import connection

from config.logging import KeyValueFormatter
from config.settings import _backup_storage


def test_file_url_maps_to_private_file_system_storage():
    storage = _backup_storage("file:///srv/backups")
    assert storage["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert storage["OPTIONS"] == {"location": "/srv/backups", "file_permissions_mode": 0o600}


def test_s3_url_maps_bucket_prefix_and_query_options():
    storage = _backup_storage(
        "s3://my-bucket/scheduler/backups?region=eu-west-1&endpoint_url=http://127.0.0.1:9"
    )
    options = storage["OPTIONS"]
    assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
    assert (options["bucket_name"], options["location"]) == ("my-bucket", "scheduler/backups")
    assert (options["region_name"], options["endpoint_url"]) == ("eu-west-1", "http://127.0.0.1:9")
    assert options["querystring_expire"] <= 300  # presigned download links live at most five minutes
    assert options["file_overwrite"] is False


def test_s3_url_without_bucket_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="must name a bucket"):
        _backup_storage("s3:///prefix")


def test_unknown_storage_scheme_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="'ftp'"):
        _backup_storage("ftp://host/path")


def test_log_lines_are_key_value_pairs_with_extras():
    record = logging.makeLogRecord(
        {"name": "jobs.dispatcher", "levelname": "INFO", "msg": "claimed %d runs", "args": (3,), "run_id": 42}
    )
    line = KeyValueFormatter().format(record)
    assert ' level=INFO logger=jobs.dispatcher msg="claimed 3 runs" run_id=42' in line
    assert line.startswith("ts=") and "\n" not in line


def test_log_values_with_quotes_and_newlines_stay_on_one_line():
    record = logging.makeLogRecord({"msg": 'bad "value"\nnext', "levelname": "WARNING"})
    assert 'msg="bad \\"value\\"\\nnext"' in KeyValueFormatter().format(record)


@pytest.mark.django_db
def test_sqlite_runs_in_wal_mode_with_a_busy_timeout():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        journal_mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        busy_timeout = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
    assert (journal_mode, busy_timeout) == ("wal", 20000)


def test_a_dead_database_is_one_line_and_exit_code_1_in_every_command(tmp_path):

    environment = {
        **os.environ,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:9/none",
        "DATA_DIR": str(tmp_path),
    }
    for command in (["jobs", "list"], ["backup", "list"], ["owner_settings", "get", "0"], ["seed_demo"]):
        result = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=Path(__file__).resolve().parent.parent,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1, command
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("CommandError: Database unavailable or not migrated"), result.stderr


@pytest.mark.parametrize(("setting", "threshold"), [(None, "0"), ("false", "None")])
def test_prepared_statements_for_the_runs_hot_path_are_on_by_default_and_can_be_turned_off(
    tmp_path, setting, threshold
):
    environment = {
        **os.environ,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:9/none",
        "DATA_DIR": str(tmp_path),
    }
    environment.pop("DATABASE_PREPARED_STATEMENTS", None)
    if setting is not None:
        environment["DATABASE_PREPARED_STATEMENTS"] = setting
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from config import settings; "
            "print(settings.DATABASES['default'].get('OPTIONS', {}).get('prepare_threshold'))",
        ],
        cwd=Path(__file__).resolve().parent.parent,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert shown.stdout.strip() == threshold


@pytest.mark.django_db
@pytest.mark.parametrize("argv", [["backup", "list"], ["jobs", "list"]])
def test_operational_commands_start_without_the_deploy_checks(argv, capsys):
    def broken_deploy(app_configs, **kwargs):
        return [checks.Error("the deploy is broken", id="tests.E001")]

    checks.register(broken_deploy)
    try:
        ManagementUtility(["manage.py", *argv]).execute()  # a check that ran would exit 1 here
    finally:
        checks.registry.registry.registered_checks.discard(broken_deploy)

    assert "the deploy is broken" not in capsys.readouterr().err
