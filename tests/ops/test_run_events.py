"""The database triggers behind the run metrics: one event per start and per end, whoever writes the row."""

from datetime import timedelta

import pytest
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection
from django.utils import timezone

from jobs.models import JobRun
from ops.models import RunEvent
from tenants.models import GLOBAL_OWNER_ID

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def events() -> list[tuple]:
    return list(RunEvent.objects.order_by("id").values_list("kind", "status", "seconds"))


def queued_run() -> JobRun:
    return JobRun.objects.create(job_name="tests.record", owner_id=GLOBAL_OWNER_ID, slot=NOW, due_at=NOW)


def test_a_start_records_its_lateness_and_an_end_its_status_and_duration():
    run = queued_run()
    JobRun.objects.filter(pk=run.pk).update(status="running", started_at=NOW + timedelta(seconds=1.25))
    JobRun.objects.filter(pk=run.pk).update(heartbeat_at=NOW + timedelta(seconds=5))
    JobRun.objects.filter(pk=run.pk).update(status="succeeded", duration=timedelta(seconds=7.5))
    [(started, _, lateness), finished] = events()
    assert started == "started" and lateness == pytest.approx(1.25, abs=1e-3)
    assert finished == ("finished", "succeeded", 7.5)


def test_a_run_inserted_already_final_is_recorded_without_a_duration(owner):
    JobRun.objects.create(job_name="tests.record", owner=owner, slot=NOW, due_at=NOW, status="skipped")
    assert events() == [("finished", "skipped", None)]


def test_a_final_run_changing_again_is_not_counted_twice():
    run = queued_run()
    JobRun.objects.filter(pk=run.pk).update(status="failed")
    JobRun.objects.filter(pk=run.pk).update(status="lost")  # a final status does not end twice
    assert events() == [("finished", "failed", None)]


def drop_triggers() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER ops_run_event ON jobs_jobrun")
        else:
            for name in (
                "ops_run_started",
                "ops_run_finished",
                "ops_run_inserted_started",
                "ops_run_inserted_finished",
            ):
                cursor.execute(f"DROP TRIGGER {name}")


def test_every_migrate_puts_the_triggers_back_after_a_table_rebuild_dropped_them():
    drop_triggers()  # what SQLite's table rebuild in a later migration does
    queued_run()
    JobRun.objects.update(status="cancelled")
    assert events() == []

    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")  # the end of every migrate

    JobRun.objects.create(job_name="tests.record", owner_id=0, slot=NOW, due_at=NOW, status="cancelled")
    assert events() == [("finished", "cancelled", None)]
