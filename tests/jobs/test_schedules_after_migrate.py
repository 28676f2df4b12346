"""``migrate`` on an empty database leaves every default and managed schedule behind (post_migrate), as
Django leaves permissions and content types: ``jobs list`` shows them before any qcluster has started."""

import json
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection

from jobs.registry import registered_jobs
from tests.deploy.servers import manage, production_env

pytestmark = pytest.mark.e2e

GLOBAL_OWNER_ID = 0


@pytest.fixture
def empty_database(tmp_path) -> Iterator[str]:
    """The URL of a new, empty database of the kind this suite runs on (a SQLite file, or PostgreSQL)."""
    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    settings = connection.settings_dict
    server = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}"
    name = f"fresh_migrate_{secrets.token_hex(4)}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(*args: str, env: dict[str, str]) -> str:
    result = manage(*args, env=env, timeout=600)
    assert result.returncode == 0, f"manage.py {' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def listed(env: dict[str, str]) -> set[tuple[str, int, str]]:
    return {
        (row["job"], row["owner"], row["key"]) for row in json.loads(run("jobs", "list", "--json", env=env))
    }


def default_schedules_of_the_product() -> set[tuple[str, int, str]]:
    """(job, owner, key) of every default schedule the product's own jobs declare (not the tests' jobs)."""
    return {
        (definition.name, GLOBAL_OWNER_ID, "default")
        for definition in registered_jobs()
        if definition.has_default_schedule
        and not definition.per_owner
        and not definition.func.__module__.startswith(("tests.", "benchmarks."))
    }


def test_migrate_creates_every_default_and_managed_schedule_and_jobs_list_shows_them(
    empty_database, tmp_path
):
    env = production_env(tmp_path, DATABASE_URL=empty_database)

    run("migrate", "--noinput", env=env)
    after_first_migrate = listed(env)
    # Owners arriving without signals (bulk inserts, a restored dump) get theirs at the next migrate.
    run(
        "shell",
        "-c",
        "from tenants.models import Owner; "
        "Owner.objects.bulk_create([Owner(pk=41, name='Acme', slug='acme', timezone='Europe/Berlin'), "
        "Owner(pk=42, name='Globex', slug='globex')])",
        env=env,
    )
    run("migrate", "--noinput", env=env)
    after_second_migrate = listed(env)

    expected = default_schedules_of_the_product() | {("backups.run", GLOBAL_OWNER_ID, "managed")}
    assert {"ops.missed_runs", "notifications.send", "jobs.prune_history"} <= {job for job, _, _ in expected}
    assert after_first_migrate == expected
    assert after_second_migrate == expected | {("backups.run", 41, "managed"), ("backups.run", 42, "managed")}


def test_every_schedule_listed_after_migrate_has_its_next_run(empty_database, tmp_path):
    env = production_env(tmp_path, DATABASE_URL=empty_database)

    run("migrate", "--noinput", env=env)
    rows = json.loads(run("jobs", "list", "--json", env=env))

    assert rows and all(row["next_run_at"] and row["state"] == "enabled" for row in rows)
