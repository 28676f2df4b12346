"""Readiness checks (``jobs.health``) and ``manage.py jobs health``: exit 0 when ready, 1 with the reason."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import override_settings
from django.utils import timezone

from jobs import health
from jobs.models import JobRun
from tests.deploy.servers import dead_port, manage, production_env
from tests.jobs.builders import make_engine_process, make_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def dispatcher():
    """A qcluster with its dispatcher, beating now (readiness needs one)."""
    return make_engine_process(now=timezone.now())


def jobs_health(*args) -> str:
    out = StringIO()
    call_command("jobs", "health", *args, stdout=out)
    return out.getvalue()


def test_everything_up_is_ready_and_the_command_says_so():
    report = health.readiness(now=timezone.now())
    assert report.ok, report.as_dict()
    assert list(report.as_dict()["checks"]) == ["database", "migrations", "broker", "queue", "dispatchers"]
    assert json.loads(jobs_health("--json"))["status"] == "ok"
    assert "database" in jobs_health() and "FAIL" not in jobs_health()


def test_the_queue_check_reports_queued_runs_and_how_long_the_oldest_has_been_due():
    now = timezone.now()
    make_run(status=JobRun.Status.QUEUED, slot=now - timedelta(seconds=90))
    make_run(status=JobRun.Status.QUEUED, slot=now - timedelta(seconds=30))
    make_run(status=JobRun.Status.RUNNING, slot=now - timedelta(seconds=300))
    queue = health.check_queue(now)
    assert queue.ok
    assert queue.details == {"queued_runs": 2, "oldest_queued_seconds": 90.0}


def test_a_database_missing_a_migration_is_not_ready():
    MigrationRecorder(connection).migration_qs.filter(app="ops", name="0002_run_metrics").delete()
    report = health.readiness(now=timezone.now())
    # The queue and dispatcher checks read tables of the schema: not checked.
    assert not report.ok and report.failing == ["migrations", "queue", "dispatchers"]
    migrations = report.as_dict()["checks"]["migrations"]
    assert migrations["unapplied"] == 1 and migrations["error"] == "not migrated: ops.0002_run_metrics"
    with pytest.raises(CommandError, match="Not ready: migrations, queue, dispatchers failing"):
        jobs_health()


@override_settings(REDIS_URL="redis://:secret-pw@127.0.0.1:1/0")
def test_a_dead_redis_broker_is_not_ready_and_no_secret_is_shown():
    report = health.readiness(now=timezone.now())
    assert report.failing == ["broker"]
    assert report.as_dict()["checks"]["broker"] == {
        "ok": False,
        "broker": "redis",
        "error": "unavailable (ConnectionError)",
    }
    assert "secret-pw" not in json.dumps(report.as_dict())


def test_no_dispatcher_beating_within_its_silence_limit_is_not_ready(dispatcher, settings):
    settings.JOBS_HEARTBEAT_SECONDS = 10
    silent_since = dispatcher.last_beat_at
    just_alive = health.check_dispatchers(silent_since + timedelta(seconds=14))
    silent = health.check_dispatchers(silent_since + timedelta(seconds=16))
    assert just_alive.ok and just_alive.details == {"alive": 1, "last_beat_seconds": 14.0}
    assert not silent.ok and silent.error == "no dispatcher beat within 15 s"


def test_workers_without_a_dispatcher_do_not_make_a_deployment_ready(dispatcher):
    dispatcher.delete()
    make_engine_process(now=timezone.now(), runs_dispatcher=False)
    assert health.readiness(now=timezone.now()).failing == ["dispatchers"]


def test_a_standalone_dispatcher_counts(dispatcher):
    dispatcher.delete()
    make_engine_process(now=timezone.now(), workers=0, queues=())
    assert health.readiness(now=timezone.now()).ok


def test_the_broker_check_reports_each_queue_a_job_or_a_live_cluster_names():
    make_engine_process(now=timezone.now(), runs_dispatcher=False, queues=["reports"])
    broker = health.check_broker(timezone.now())
    assert broker.ok and broker.details["depth"] == {"backups": 0, "default": 0, "reports": 0}


def test_a_check_whose_needs_failed_is_reported_without_running():
    ran = []
    failing = health.HealthCheck("database", lambda now: health.CheckResult(ok=False, error="down"))
    dependent = health.HealthCheck("queue", lambda now: ran.append(now), needs=("database",))
    report = health.readiness(now=timezone.now(), checks=[failing, dependent])
    assert ran == []
    assert report.as_dict()["checks"]["queue"] == {"ok": False, "error": "not checked: database failing"}


def test_the_command_exits_1_with_one_line_when_the_database_is_down(tmp_path):
    env = production_env(tmp_path, DATABASE_URL=f"postgres://scheduler:secret-pw@127.0.0.1:{dead_port()}/x")
    result = manage("jobs", "health", "--json", env=env)
    assert result.returncode == 1
    # The log lines (stdout, like every log line of ours) name the cause; the report comes after them.
    assert "check=database error=connection failed" in result.stdout
    report = json.loads(result.stdout[result.stdout.index("{\n") :])
    assert report["checks"]["database"] == {"ok": False, "error": "unavailable (OperationalError)"}
    assert result.stderr.strip().splitlines()[-1] == (
        "CommandError: Not ready: database, migrations, broker, queue, dispatchers failing."
    )
    assert "secret-pw" not in result.stdout + result.stderr


def test_the_command_exits_1_on_an_empty_database_that_was_never_migrated(tmp_path):
    env = production_env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    result = manage("jobs", "health", env=env)
    assert result.returncode == 1
    assert "migrations   FAIL" in result.stdout and "not migrated" in result.stdout
