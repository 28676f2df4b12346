"""The reaper: silent runs become lost and are retried; runs stuck in the outbox are enqueued again."""

from datetime import timedelta

import pytest
from django_q.models import OrmQ

from jobs.models import JobRun
from jobs.reaper import reap
from tests.jobs.builders import T0, make_run, make_schedule

pytestmark = pytest.mark.django_db

WINDOW = timedelta(seconds=60)


def test_a_running_run_without_heartbeat_for_the_window_becomes_lost():
    silent = make_run(make_schedule(now=T0), status=JobRun.Status.RUNNING, heartbeat_at=T0, started_at=T0)
    report = reap(now=T0 + WINDOW + timedelta(seconds=1), lost_after=WINDOW)
    silent.refresh_from_db()
    assert report.lost == 1
    assert silent.status == "lost" and "no heartbeat" in silent.error


def test_a_running_run_with_a_recent_heartbeat_is_left_alone():
    alive = make_run(make_schedule(now=T0), status=JobRun.Status.RUNNING, heartbeat_at=T0, started_at=T0)
    reap(now=T0 + WINDOW - timedelta(seconds=1), lost_after=WINDOW)
    alive.refresh_from_db()
    assert alive.status == "running"


def test_a_lost_run_with_attempts_left_is_retried():
    schedule = make_schedule(now=T0, max_attempts=2, retry_backoff_seconds=10)
    make_run(schedule, status=JobRun.Status.RUNNING, heartbeat_at=T0, started_at=T0)
    reap(now=T0 + 2 * WINDOW, lost_after=WINDOW)
    retry = JobRun.objects.get(schedule=schedule, attempt=2)
    assert retry.status == "scheduled" and retry.trigger == "retry"


def test_a_run_left_queued_too_long_is_handed_to_the_broker_again():
    stale = make_run(make_schedule(now=T0), status=JobRun.Status.QUEUED, queued_at=T0)
    report = reap(now=T0 + 2 * WINDOW, lost_after=WINDOW)
    stale.refresh_from_db()
    assert report.requeued == 1
    assert stale.queued_at == T0 + 2 * WINDOW
    assert OrmQ.objects.count() == 1
