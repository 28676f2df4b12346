"""Fire-ahead on PostgreSQL: a claim prepared before its slot reaches the workers at the slot, not before."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_q.models import OrmQ

from jobs.dispatcher import BUSY_RETRY_SECONDS, Dispatcher
from jobs.models import JobRun, Schedule
from tests.jobs.builders import make_schedule

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LEAD = timedelta(milliseconds=600)


def dispatcher() -> Dispatcher:
    """A dispatcher on the real clock whose housekeeping is not due (only the claim is under test)."""
    ahead = Dispatcher(lead=LEAD)
    ahead._last_housekeeping = ahead._last_sync = timezone.now()
    return ahead


def test_a_claim_prepared_ahead_commits_at_its_slot_and_other_dispatchers_keep_off():
    schedule = make_schedule(now=timezone.now())
    slot = timezone.now() + timedelta(milliseconds=400)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=slot)
    committed_at = []

    def claim_ahead() -> None:
        try:
            dispatcher()._dispatch_and_measure_sleep()
            committed_at.append(timezone.now())
        finally:
            connection.close()

    thread = threading.Thread(target=claim_ahead)
    thread.start()
    time.sleep(0.2)  # the claim is prepared by now and held until the slot
    assert timezone.now() < slot
    assert not JobRun.objects.exists() and not OrmQ.objects.exists()
    assert dispatcher()._dispatch_and_measure_sleep() == BUSY_RETRY_SECONDS
    thread.join()

    (run,) = JobRun.objects.all()
    assert committed_at[0] >= slot
    assert (run.slot, run.queued_at, run.status) == (slot, slot, "queued")
    assert OrmQ.objects.count() == 1


def test_a_late_dispatcher_does_not_wait():
    slot = timezone.now() - timedelta(milliseconds=100)
    schedule = make_schedule(now=slot - timedelta(seconds=10))
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=slot)
    started = time.monotonic()
    dispatcher()._dispatch_and_measure_sleep()
    assert time.monotonic() - started < LEAD.total_seconds()
    assert JobRun.objects.get().slot == slot
