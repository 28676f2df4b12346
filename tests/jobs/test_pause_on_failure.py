"""Pause on failure: a schedule with ``pause_after_failures`` stops after that many failed runs in a row, and
says why on its page and on the dashboard."""

from datetime import timedelta

import pytest
from django.urls import reverse

from jobs import services
from jobs.dispatcher import dispatch_due
from jobs.models import JobRun
from jobs.runner import run_queued
from tests.jobs.builders import T0, make_run, make_schedule

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


def run_slot(schedule, minute: int) -> JobRun:
    run = make_run(schedule, slot=T0 + minute * MINUTE)
    run_queued(run.pk, worker="test-worker", clock=lambda: T0 + minute * MINUTE)
    return JobRun.objects.get(pk=run.pk)


def test_the_schedule_pauses_after_the_given_number_of_failed_runs_in_a_row():
    schedule = make_schedule("tests.fail", now=T0, pause_after_failures=3)

    for minute in (1, 2):
        run_slot(schedule, minute)
        schedule.refresh_from_db()
        assert schedule.paused_at is None
    last = run_slot(schedule, 3)

    schedule.refresh_from_db()
    assert schedule.paused_at == T0 + 3 * MINUTE
    assert schedule.consecutive_failures == 3
    assert schedule.paused_reason.startswith(f"Paused after 3 failed runs in a row; the last, run #{last.pk}")
    assert "RuntimeError: the disk is full" in schedule.paused_reason


def test_a_paused_schedule_is_not_dispatched_any_more():
    schedule = make_schedule("tests.fail", now=T0, pause_after_failures=1)
    run_slot(schedule, 1)

    dispatch_due(now=T0 + 10 * MINUTE)

    assert JobRun.objects.filter(schedule=schedule).count() == 1


def test_a_success_ends_the_streak():
    schedule = make_schedule("tests.fail", now=T0, pause_after_failures=2)
    run_slot(schedule, 1)
    schedule.refresh_from_db()
    schedule.job_name = "tests.record"
    schedule.save()
    run_slot(schedule, 2)

    schedule.refresh_from_db()
    assert (schedule.consecutive_failures, schedule.last_status) == (0, "succeeded")


def test_a_failed_attempt_with_a_retry_left_does_not_count():
    schedule = make_schedule("tests.fail", now=T0, pause_after_failures=1, max_attempts=2)
    run_slot(schedule, 1)
    schedule.refresh_from_db()
    assert (schedule.consecutive_failures, schedule.paused_at) == (0, None)


def test_skipped_and_cancelled_runs_leave_the_streak_alone():
    schedule = make_schedule("tests.fail", now=T0, pause_after_failures=2)
    run_slot(schedule, 1)
    services.cancel_run(run=make_run(schedule, slot=T0 + 2 * MINUTE), now=T0 + 2 * MINUTE, reason="stop")
    schedule.refresh_from_db()
    schedule.job_name = "tests.skip"
    schedule.save()
    run_slot(schedule, 3)

    schedule.refresh_from_db()
    assert (schedule.consecutive_failures, schedule.paused_at) == (1, None)


def test_without_the_option_a_schedule_never_pauses():
    schedule = make_schedule("tests.fail", now=T0)
    for minute in range(1, 6):
        run_slot(schedule, minute)
    schedule.refresh_from_db()
    assert (schedule.consecutive_failures, schedule.paused_at) == (5, None)


def test_resuming_forgets_the_streak_and_the_reason():
    schedule = make_schedule("tests.fail", now=T0, pause_after_failures=1)
    run_slot(schedule, 1)
    schedule.refresh_from_db()

    services.resume(schedule=schedule, now=T0 + 5 * MINUTE)

    schedule.refresh_from_db()
    assert (schedule.paused_at, schedule.paused_reason, schedule.consecutive_failures) == (None, "", 0)
    assert schedule.next_run_at is not None


def test_the_schedule_page_says_why_it_was_paused(client, member, owner):
    schedule = make_schedule("tests.fail", now=T0, owner_id=owner.pk, pause_after_failures=1)
    run_slot(schedule, 1)
    client.force_login(member)

    page = client.get(reverse("admin:jobs_schedule_change", args=[schedule.pk])).content.decode()

    assert "Paused after 1 failed runs in a row" in page
    assert "Resume it" in page


def test_the_dashboard_says_why_it_was_paused(client, member, owner):
    schedule = make_schedule("tests.fail", now=T0, owner_id=owner.pk, pause_after_failures=1)
    run_slot(schedule, 1)
    client.force_login(member)

    page = client.get(reverse("ops:dashboard")).content.decode()

    assert "paused: Paused after 1 failed runs in a row" in page
