"""The run's hot path: a successful run of a trivial job is two statements, the flip and the finish.

The flip (queued → running) is one UPDATE that returns the run and its schedule's policy, so nothing is
read after it; the finish is one UPDATE; the schedule is written only when its last status or failure
streak changes, and follow-ups are looked for only under the policies that have them. On PostgreSQL the
statements the worker really sends are counted from libpq's own trace of the connection, which also shows
that Django's per-task health check (a ``SELECT 1``) is not among them.
"""

import re
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext
from psycopg.pq import Trace

from jobs.models import JobRun, Schedule
from jobs.runner import execute, run_queued
from tests.jobs.builders import T0, make_run, make_schedule

NOW = T0 + timedelta(minutes=1)


def run(run_id: int) -> str:
    return run_queued(run_id, worker="test-worker", clock=lambda: NOW)


def settled_schedule(**fields) -> Schedule:
    """A schedule whose runs have been succeeding: a next success changes nothing on it."""
    schedule = make_schedule(now=T0, **fields)
    Schedule.objects.filter(pk=schedule.pk).update(last_status=JobRun.Status.SUCCEEDED)
    return schedule


@pytest.mark.django_db
def test_a_successful_run_of_a_trivial_job_is_two_statements_the_flip_and_the_finish():
    queued = make_run(settled_schedule(), slot=NOW)

    with CaptureQueriesContext(connection) as statements:
        assert run(queued.pk) == "succeeded"

    flip, finish = (statement["sql"] for statement in statements.captured_queries)
    assert flip.startswith('UPDATE "jobs_jobrun"') and "'running'" in flip and "RETURNING" in flip
    assert finish.startswith('UPDATE "jobs_jobrun"') and "'succeeded'" in finish


@pytest.mark.django_db
def test_the_schedule_is_written_only_when_its_last_status_changes():
    schedule = make_schedule(now=T0)  # never ran: its last status is empty
    first, second = make_run(schedule, slot=NOW), make_run(schedule, slot=NOW + timedelta(minutes=1))

    with CaptureQueriesContext(connection) as first_run:
        run(first.pk)
    with CaptureQueriesContext(connection) as second_run:
        run(second.pk)

    assert len(first_run) == 3 and first_run.captured_queries[2]["sql"].startswith('UPDATE "jobs_schedule"')
    assert len(second_run) == 2
    assert Schedule.objects.get(pk=schedule.pk).last_status == "succeeded"


@pytest.mark.django_db
def test_a_success_after_failures_ends_the_streak_on_the_schedule():
    schedule = settled_schedule()
    Schedule.objects.filter(pk=schedule.pk).update(last_status="failed", consecutive_failures=2)

    run(make_run(schedule, slot=NOW).pk)

    schedule.refresh_from_db()
    assert (schedule.last_status, schedule.consecutive_failures) == ("succeeded", 0)


@pytest.mark.django_db
def test_the_flip_returns_the_whole_run_and_its_schedules_policy():
    schedule = settled_schedule(timeout_seconds=120, max_attempts=3, label="Nightly")
    queued = make_run(schedule, slot=NOW, kwargs={"size": 3}, task_id="t-7")
    taken = JobRun(pk=queued.pk, status=JobRun.Status.QUEUED)

    assert taken.mark_running(now=NOW, worker="host:1", engine_process_id=None)

    stored = JobRun.objects.get(pk=queued.pk)
    for field in JobRun._meta.concrete_fields:
        assert getattr(taken, field.attname) == getattr(stored, field.attname), field.attname
    with CaptureQueriesContext(connection) as reads:
        policy = (taken.schedule.timeout_seconds, taken.schedule.max_attempts, taken.schedule.last_status)
    assert policy == (120, 3, "succeeded") and len(reads) == 0
    assert taken.schedule.label == "Nightly"  # any other field loads when asked for


@pytest.mark.django_db
def test_a_run_without_a_schedule_is_flipped_and_run_all_the_same():
    orphan = make_run(None, slot=NOW)

    with CaptureQueriesContext(connection) as statements:
        assert run(orphan.pk) == "succeeded"

    assert len(statements) == 2


def _sent(trace: Path) -> list[tuple[str, str]]:
    """The messages this side sent the server, as (type, text), from libpq's trace."""
    return re.findall(r"^F\t\d+\t(\w+)\t?(.*)$", trace.read_text(), flags=re.MULTILINE)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_sends_the_database_two_prepared_statements_per_run_and_no_health_check(
    monkeypatch, tmp_path
):
    # A production worker: connections kept across runs, and Django's health checks on.
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    schedule = settled_schedule()
    first, *queued = [make_run(schedule, slot=NOW + timedelta(minutes=minute)) for minute in range(4)]
    connection.close()
    close_old_connections()
    execute(first.pk)  # the connection's first run prepares the two statements
    trace = tmp_path / "libpq.trace"
    with trace.open("w") as out:
        connection.connection.pgconn.trace(out.fileno())
        connection.connection.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)
        try:
            for each in queued:
                close_old_connections()  # what django-q2's worker does before every task
                assert execute(each.pk) == "succeeded"
        finally:
            connection.connection.pgconn.untrace()

    sent = _sent(trace)
    round_trips = [kind for kind, _ in sent if kind in ("Query", "Sync")]
    assert len(round_trips) == 2 * len(queued), sent  # a flip and a finish each, nothing else
    assert [kind for kind, _ in sent if kind == "Execute"] == ["Execute"] * 2 * len(queued)
    assert not [kind for kind, _ in sent if kind in ("Parse", "Query")]  # prepared: no SQL text, no SELECT 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_connection_broken_since_the_last_run_is_replaced_and_the_run_runs():
    queued = make_run(settled_schedule(), slot=NOW)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    server = {key.lower(): connection.settings_dict[key] for key in ("HOST", "PORT", "USER")}
    with psycopg.connect(**server, dbname="postgres", autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [backend])  # the database restarted, as it were

    assert run(queued.pk) == "succeeded"
    assert JobRun.objects.get(pk=queued.pk).status == "succeeded"


@pytest.mark.django_db
def test_a_retry_due_after_the_dispatchers_next_look_wakes_nobody(django_capture_on_commit_callbacks):
    schedule = make_schedule("tests.fail", now=T0, max_attempts=2, retry_backoff_seconds=60)
    failing = make_run(schedule, slot=NOW)

    with django_capture_on_commit_callbacks() as after_commit:
        assert run(failing.pk) == "failed"

    assert JobRun.objects.filter(retry_of=failing).exists()
    assert after_commit == []  # no NOTIFY: the dispatchers look again within a second anyway


@pytest.mark.django_db
def test_a_retry_due_at_once_wakes_the_dispatchers(django_capture_on_commit_callbacks):
    schedule = make_schedule("tests.fail", now=T0, max_attempts=2, retry_backoff_seconds=0)
    failing = make_run(schedule, slot=NOW)

    with django_capture_on_commit_callbacks() as after_commit:
        run(failing.pk)

    assert [callback.__name__ for callback in after_commit] == ["wake_dispatchers"]
