"""A run's life with real processes on PostgreSQL: real ``qcluster`` processes (Redis broker, private queue),
a real ``moto_server`` for S3, SIGKILL and SIGTERM.

(a) a ``backup now --wait`` killed mid-upload is failed within the lost window and its upload aborted;
(b) 20 queued manual backups: one runs, 19 are skipped, none is rechecked; (c) a running backup cancelled
from the command line stops within a heartbeat and leaves no object and no open upload; (d) SIGTERM
cancels a job still running after the grace period; (e) a qcluster killed with its process group: its
per-second ``skip`` schedule runs again on the other cluster long before the lost window; (f) ``replace``
cancels the running run and starts the new slot; (g) a restored full backup can be backed up at once.
Durations are printed (pytest -s), not asserted: the assertions say which mechanism acted.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from backups.engines import Database, postgres
from backups.models import Backup
from backups.services import take_backup
from jobs.models import EngineProcess, JobRun, Schedule, TriggerKind
from jobs.policies import OverlapPolicy
from jobs.services import run_now
from tests.backups.builders import use_file_storage
from tests.backups.conftest import ACCESS_KEY, REGION, SECRET_KEY
from tests.e2e import worker_jobs
from tests.e2e.workers import Workers, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HEARTBEAT = 1  # JOBS_HEARTBEAT_SECONDS of the processes under test (tests/e2e/workers.py)


@pytest.fixture
def workers(tmp_path):
    assert worker_jobs  # registered here too, so run_now() knows the job names
    started: list[Workers] = []

    def start(count: int = 1, **env: str) -> Workers:
        log_dir = tmp_path / f"workers-{len(started)}"
        log_dir.mkdir()
        cluster = Workers(log_dir, **env)
        started.append(cluster)
        cluster.start(count)
        wait_for(
            lambda: cluster.logs().count("event=dispatcher_started") >= count,
            timeout=60,
            message="the clusters are up",
        )
        return cluster

    yield start
    for cluster in started:
        cluster.stop_all()


def s3_env(moto) -> dict[str, str]:
    return {
        "BACKUP_STORAGE_URL": f"s3://{moto.bucket}/backups",
        "BACKUP_S3_ENDPOINT_URL": moto.endpoint,
        "BACKUP_S3_REGION": REGION,
        "BACKUP_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "BACKUP_S3_SECRET_ACCESS_KEY": SECRET_KEY,
    }


def use_s3_storage(settings, moto) -> None:
    """This process's STORAGES["backups"] on the same bucket as the processes under test."""
    settings.STORAGES = {
        **settings.STORAGES,
        "backups": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": moto.bucket,
                "location": "backups",
                "endpoint_url": moto.endpoint,
                "region_name": REGION,
                "access_key": ACCESS_KEY,
                "secret_key": SECRET_KEY,
                "default_acl": None,
                "file_overwrite": False,
            },
        },
    }


def database_url(name: str | None = None) -> str:
    params = connection.settings_dict
    return f"postgres://{params['USER']}@{params['HOST']}:{params['PORT'] or 5432}/{name or params['NAME']}"


def took(started: float, what: str) -> None:
    print(f"\n{what}: {time.monotonic() - started:.2f} s")  # the measured number, for the report


def slow_schedule(key: str, **fields) -> Schedule:
    fields.setdefault("trigger_kind", TriggerKind.ONCE)
    if fields["trigger_kind"] == TriggerKind.ONCE:
        fields.setdefault("run_at", timezone.now() + timedelta(days=365))
    schedule = Schedule(job_name="e2e.slow", key=key, **fields)
    schedule.save()
    return schedule


# --- (a) ------------------------------------------------------------------------------------------------

# `backup now --wait` is `take_backup(owner_id=...)` in the shell's process; this one stalls in its upload,
# so the test kills it at a known point instead of racing a fast dump.
BACKUP_NOW_WAIT = """
import sys, time, django
django.setup()
from backups.services import take_backup

def stall(done):
    print("uploading", flush=True)
    time.sleep(600)

take_backup(owner_id=int(sys.argv[1]), progress=stall)
"""


def test_a_backup_now_wait_killed_mid_upload_is_failed_and_its_upload_aborted(
    workers, owner, moto_s3, settings
):
    use_s3_storage(settings, moto_s3)
    cluster = workers(**s3_env(moto_s3))
    child = subprocess.Popen(
        [sys.executable, "-c", BACKUP_NOW_WAIT, str(owner.pk)],
        cwd=django_settings.BASE_DIR,
        env={**cluster.env, "LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "uploading"
        assert len(moto_s3.open_uploads()) == 1
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    killed = time.monotonic()

    backup = wait_for(
        lambda: Backup.objects.filter(owner=owner, status=Backup.Status.FAILED).first(),
        timeout=30,
        message=f"the dead backup is reaped\n{cluster.logs()}",
    )
    wait_for(lambda: moto_s3.open_uploads() == [], timeout=10, message="its upload is aborted")
    took(killed, "killed backup reaped (lost window 3 s)")

    assert "its process stopped sending heartbeats" in backup.error
    call_command("backup", "now", "--wait", "--owner", str(owner.pk), stdout=StringIO())
    assert Backup.objects.filter(owner=owner, status=Backup.Status.VERIFIED).count() == 1


# --- (b) ------------------------------------------------------------------------------------------------


def test_twenty_queued_manual_backups_make_one_backup_nineteen_skips_and_no_follow_up(workers, owner):
    cluster = workers()
    with transaction.atomic():
        for _ in range(20):
            call_command("backup", "now", "--owner", str(owner.pk), stdout=StringIO())

    runs = JobRun.objects.filter(job_name="backups.run", owner=owner)
    wait_for(
        lambda: runs.count() == 20 and not runs.exclude(status__in=JobRun.FINISHED).exists(),
        timeout=60,
        message=f"all 20 runs end\n{cluster.logs()}",
    )

    assert runs.filter(status="succeeded").count() == 1
    assert runs.filter(status="skipped").count() == 19
    assert not runs.filter(attempt__gt=1).exists() and not runs.filter(retry_of__isnull=False).exists()
    assert Backup.objects.get(owner=owner).status == Backup.Status.VERIFIED
    assert "finish_refused" not in cluster.logs()


# --- (c) ------------------------------------------------------------------------------------------------


def test_a_running_backup_cancelled_from_the_command_line_leaves_no_object_and_no_upload(
    workers, owner, moto_s3, settings
):
    use_s3_storage(settings, moto_s3)
    cluster = workers(**s3_env(moto_s3))
    run = run_now(job_name="e2e.held_backup", owner_id=owner.pk, now=timezone.now())
    wait_for(
        lambda: JobRun.objects.filter(pk=run.pk, status="running").exists() and moto_s3.open_uploads(),
        timeout=60,
        message=f"the backup is uploading\n{cluster.logs()}",
    )

    asked = time.monotonic()
    out = StringIO()
    call_command("jobs", "cancel", str(run.pk), stdout=out)
    wait_for(
        lambda: JobRun.objects.filter(pk=run.pk, status="cancelled").exists(),
        timeout=30,
        message=f"the run is cancelled\n{cluster.logs()}",
    )
    took(asked, f"running backup cancelled (heartbeat {HEARTBEAT} s)")

    assert "stops it at its next heartbeat" in out.getvalue()
    assert JobRun.objects.get(pk=run.pk).error == "Cancelled from the command line."
    assert Backup.objects.get(owner=owner).status == Backup.Status.INTERRUPTED
    assert moto_s3.object_keys() == []
    assert moto_s3.open_uploads() == []


# --- (d) ------------------------------------------------------------------------------------------------


def test_sigterm_cancels_a_job_still_running_after_the_grace_period(workers):
    cluster = workers(JOBS_SHUTDOWN_GRACE_SECONDS="1")
    run = run_now(
        job_name="e2e.slow", schedule=slow_schedule("grace", kwargs={"seconds": 60}), now=timezone.now()
    )
    wait_for(
        lambda: JobRun.objects.filter(pk=run.pk, status="running").exists(), timeout=60, message="it runs"
    )

    signalled = time.monotonic()
    assert cluster.terminate(cluster.processes[0], timeout=60) == 0
    took(signalled, "SIGTERM to exit with a job past its 1 s grace period")

    run.refresh_from_db()
    assert run.status == "cancelled"
    assert "grace period of 1.0 s" in run.error
    assert EngineProcess.objects.get(pk=run.engine_process_id).stopped_at is not None


# --- (e) ------------------------------------------------------------------------------------------------


def test_a_killed_qcluster_is_noticed_and_its_per_second_schedule_runs_again_on_the_other(workers):
    # A long lost window: only the fast path can make the schedule run again within the test's timeout.
    # No grace period at the end: the long job is cancelled when the test stops the clusters.
    clusters = workers(2, JOBS_LOST_AFTER_SECONDS="60", JOBS_SHUTDOWN_GRACE_SECONDS="0")
    schedule = slow_schedule(
        "every-second",
        trigger_kind=TriggerKind.CRON,
        cron_expression="* * * * * *",
        overlap_policy=OverlapPolicy.SKIP,
        kwargs={"seconds": 120},
    )
    first = wait_for(
        lambda: (
            JobRun.objects.filter(schedule=schedule, status="running")
            .select_related("engine_process")
            .first()
        ),
        timeout=60,
        message="a run is running",
    )
    victim = next(process for process in clusters.processes if process.pid == first.engine_process.pid)

    os.killpg(victim.pid, signal.SIGKILL)  # the qcluster, its sentinel and its workers
    victim.wait(timeout=30)
    killed = timezone.now()
    started = time.monotonic()

    again = wait_for(
        lambda: JobRun.objects.filter(schedule=schedule, status="running", started_at__gt=killed).first(),
        timeout=30,
        message=f"the schedule runs again\n{clusters.logs()}",
    )
    took(
        started, f"per-second schedule running again after kill -9 of its qcluster (heartbeat {HEARTBEAT} s)"
    )
    Schedule.objects.filter(pk=schedule.pk).update(enabled=False)

    first.refresh_from_db()
    assert first.status == "lost"
    assert "is gone" in first.error or "stopped heartbeating" in first.error  # not the 60 s backstop
    assert again.engine_process_id != first.engine_process_id


# --- (f) ------------------------------------------------------------------------------------------------


def test_replace_cancels_the_running_run_and_starts_the_new_slot(workers):
    cluster = workers(JOBS_SHUTDOWN_GRACE_SECONDS="0")
    schedule = slow_schedule(
        "replace",
        trigger_kind=TriggerKind.INTERVAL,
        interval_seconds=2,
        overlap_policy=OverlapPolicy.REPLACE,
        kwargs={"seconds": 120},
    )
    first = wait_for(
        lambda: JobRun.objects.filter(schedule=schedule, status="running").first(),
        timeout=60,
        message="the first slot runs",
    )
    replaced = wait_for(
        lambda: JobRun.objects.filter(pk=first.pk, status="cancelled").first(),
        timeout=30,
        message=f"the next slot replaces it\n{cluster.logs()}",
    )
    successor = wait_for(
        lambda: JobRun.objects.filter(
            schedule=schedule, slot__gt=first.slot, started_at__isnull=False
        ).first(),
        timeout=30,
        message=f"the new slot starts\n{cluster.logs()}",
    )
    Schedule.objects.filter(pk=schedule.pk).update(enabled=False)

    assert "replaced by the run of slot" in replaced.error
    assert successor.started_at >= replaced.finished_at


# --- (g) ------------------------------------------------------------------------------------------------


@pytest.fixture
def restored_url():
    live = Database.live()
    name = f"{live.name}_restored_{uuid.uuid4().hex[:8]}"
    yield database_url(name)
    postgres.drop_database(live.with_name(name))


def test_a_restored_full_backup_can_be_backed_up_at_once(settings, tmp_path, restored_url):
    use_file_storage(settings, tmp_path / "backups")
    taken = take_backup(owner_id=0).backup  # its own row is `running` inside the dump
    call_command("backup", "restore", str(taken.pk), "--target-db", restored_url, stdout=StringIO())

    backed_up = subprocess.run(
        [sys.executable, "manage.py", "backup", "now", "--wait"],
        cwd=django_settings.BASE_DIR,
        env={
            **{key: value for key, value in os.environ.items() if not key.startswith(("JOBS_", "Q_"))},
            "DATABASE_URL": restored_url,
            "DATA_DIR": str(tmp_path),
            "BACKUP_STORAGE_URL": f"file://{tmp_path / 'restored-backups'}",
            "LOG_LEVEL": "WARNING",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert backed_up.returncode == 0, backed_up.stderr
    assert "verified" in backed_up.stdout
