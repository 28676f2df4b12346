"""``manage.py jobs``: listings, runs, pause/resume, cancel/retry, history, prune; bad input exits 1 with one
line."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from jobs.models import JobRun
from tests.jobs.builders import T0, make_run, make_schedule

pytestmark = pytest.mark.django_db


def jobs(*args) -> str:
    out = StringIO()
    call_command("jobs", *args, stdout=out)
    return out.getvalue()


def test_list_json_shows_schedules_with_trigger_in_words():
    schedule = make_schedule(now=T0, interval_seconds=3600)
    (row,) = [row for row in json.loads(jobs("list", "--json")) if row["id"] == schedule.pk]
    assert row["job"] == "tests.record"
    assert row["trigger"].startswith("Every hour")
    assert row["state"] == "enabled"


def test_list_also_shows_registered_jobs_without_a_schedule():
    make_schedule("tests.record", now=T0)

    rows = json.loads(jobs("list", "--json"))
    text = jobs("list")

    unscheduled = {row["job"]: row for row in rows if row["id"] is None}
    assert unscheduled["tests.greet"]["state"] == "unscheduled"
    assert unscheduled["tests.greet"]["trigger"] == "no schedule (runs from code, jobs run or the admin)"
    assert "tests.record" not in unscheduled  # it has a schedule: listed as that schedule
    assert [row["job"] for row in rows].count("tests.record") == 1
    assert any(
        line.split()[:2] == ["-", "tests.greet"] and "unscheduled" in line for line in text.splitlines()
    )


def test_list_says_when_a_schedule_has_ended():
    schedule = make_schedule(now=T0, ends_at=T0 + timedelta(minutes=5))

    (row,) = [row for row in json.loads(jobs("list", "--json")) if row["id"] == schedule.pk]

    assert row["state"] == "ended"
    assert "until 2026-03-02 12:05 (UTC)" in row["trigger"]


def test_run_requests_a_manual_run():
    out = jobs("run", "tests.record")
    run = JobRun.objects.get()
    assert run.trigger == "manual" and f"Run {run.pk}" in out


def test_run_of_an_unknown_job_is_a_command_error():
    with pytest.raises(CommandError, match=r"No job is registered as 'no\.such'"):
        jobs("run", "no.such")


def test_run_for_an_unknown_owner_is_a_command_error():
    with pytest.raises(CommandError, match="No owner with id or slug '999'"):
        jobs("run", "tests.record", "--owner", "999")


def test_pause_and_resume_by_id():
    schedule = make_schedule(now=T0)
    jobs("pause", str(schedule.pk))
    schedule.refresh_from_db()
    assert schedule.is_paused
    jobs("resume", str(schedule.pk))
    schedule.refresh_from_db()
    assert not schedule.is_paused and schedule.next_run_at > timezone.now()


def test_pause_of_a_missing_schedule_is_a_command_error():
    with pytest.raises(CommandError, match="No schedule with id 424242"):
        jobs("pause", "424242")


def test_history_json_lists_the_latest_runs_first_within_the_limit():
    schedule = make_schedule(now=T0)
    for minutes in range(3):
        make_run(schedule, status=JobRun.Status.SUCCEEDED, slot=T0 + timedelta(minutes=minutes))
    rows = json.loads(jobs("history", "--limit", "2", "--json"))
    assert [row["slot"] for row in rows] == [
        (T0 + timedelta(minutes=2)).isoformat(),
        (T0 + timedelta(minutes=1)).isoformat(),
    ]


def test_prune_deletes_finished_runs_older_than_the_given_days_only():
    schedule = make_schedule(now=T0)
    now = timezone.now()
    old = make_run(schedule, status=JobRun.Status.SUCCEEDED, slot=now - timedelta(days=40))
    old_but_running = make_run(schedule, status=JobRun.Status.RUNNING, slot=now - timedelta(days=41))
    recent = make_run(schedule, status=JobRun.Status.FAILED, slot=now - timedelta(days=2))
    assert "Deleted 1 runs" in jobs("prune", "--older-than", "30")
    assert set(JobRun.objects.values_list("pk", flat=True)) == {old_but_running.pk, recent.pk}
    assert not JobRun.objects.filter(pk=old.pk).exists()


def test_bad_input_from_the_shell_exits_1_with_one_line(tmp_path):
    # A process of its own on a fresh embedded database: what an operator's shell sees.
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"} | {
        "DATA_DIR": str(tmp_path)
    }

    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert manage("migrate", "--verbosity", "0").returncode == 0
    result = manage("jobs", "pause", "424242")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["CommandError: No schedule with id 424242."]


def test_qcluster_is_our_command_with_the_dispatcher_inside():
    from django.core.management import get_commands

    assert get_commands()["qcluster"] == "jobs"


def test_run_takes_the_owner_by_slug(owner):
    out = StringIO()
    call_command("jobs", "run", "tests.record", "--owner", owner.slug, stdout=out)
    assert f"requested for owner {owner.pk}" in out.getvalue()


def test_cancel_of_a_queued_run_cancels_it_at_once():
    queued = make_run(make_schedule(now=T0), status=JobRun.Status.QUEUED)

    assert jobs("cancel", str(queued.pk), "--reason", "wrong owner") == f"Run {queued.pk} cancelled.\n"

    queued.refresh_from_db()
    assert queued.status == "cancelled"
    assert queued.error == "Cancelled from the command line: wrong owner"


def test_cancel_of_a_running_run_asks_its_worker():
    running = make_run(make_schedule(now=T0), status=JobRun.Status.RUNNING, started_at=T0)

    assert "its worker stops it at its next heartbeat" in jobs("cancel", str(running.pk))

    assert JobRun.objects.get(pk=running.pk).cancel_requested_at is not None


def test_cancel_of_a_finished_run_is_a_command_error():
    done = make_run(make_schedule(now=T0), status=JobRun.Status.SUCCEEDED)
    with pytest.raises(CommandError, match=r"is succeeded; only a waiting, queued or running run"):
        jobs("cancel", str(done.pk))


def test_cancel_of_a_missing_run_is_a_command_error():
    with pytest.raises(CommandError, match="No run with id 424242"):
        jobs("cancel", "424242")


def test_retry_of_a_failed_run_requests_a_new_attempt_linked_to_it():
    failed = make_run(make_schedule(now=T0), status=JobRun.Status.FAILED, slot=T0)

    output = jobs("retry", str(failed.pk))

    retry = JobRun.objects.get(retry_of=failed)
    assert output == f"Run {retry.pk} requested: attempt 2 of run {failed.pk}'s slot.\n"
    assert (retry.status, retry.trigger, retry.slot) == ("scheduled", "retry", T0)


def test_retry_takes_the_next_free_attempt_when_an_automatic_retry_exists():
    schedule = make_schedule(now=T0)
    failed = make_run(schedule, status=JobRun.Status.LOST, slot=T0)
    make_run(schedule, status=JobRun.Status.TIMED_OUT, slot=T0, attempt=2)

    jobs("retry", str(failed.pk))

    assert JobRun.objects.get(retry_of=failed).attempt == 3


def test_retry_of_a_succeeded_run_is_a_command_error():
    done = make_run(make_schedule(now=T0), status=JobRun.Status.SUCCEEDED)
    with pytest.raises(CommandError, match="only a failed, lost or timed-out run can be retried"):
        jobs("retry", str(done.pk))


def test_retry_of_a_run_whose_job_is_gone_is_a_command_error():
    orphan = make_run(None, job_name="gone.away", status=JobRun.Status.FAILED)
    with pytest.raises(CommandError, match=r"No job is registered as 'gone\.away'"):
        jobs("retry", str(orphan.pk))
