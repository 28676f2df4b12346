"""Several dispatchers claiming at the same moment on PostgreSQL: every slot runs once, none twice."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from jobs.dispatcher import dispatch_due
from jobs.models import JobRun, Schedule
from tests.jobs.builders import T0, make_run, make_schedule

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DISPATCHERS = 6
SCHEDULES = 300


def dispatch_at_once(now, rounds: int = 3) -> list[BaseException]:
    """Start DISPATCHERS threads (each its own connection) that claim at the same instant, several times."""
    barrier = threading.Barrier(DISPATCHERS)
    errors: list[BaseException] = []

    def dispatcher() -> None:
        try:
            for _ in range(rounds):
                barrier.wait()
                dispatch_due(now=now, batch_size=50)
        except BaseException as error:  # reported to the test below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(DISPATCHERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_dispatchers_create_exactly_one_run_per_due_slot():
    schedules = [make_schedule(now=T0, key=f"s{number}") for number in range(SCHEDULES)]
    assert dispatch_at_once(T0 + timedelta(minutes=1)) == []
    assert JobRun.objects.count() == SCHEDULES
    assert set(JobRun.objects.values_list("schedule_id", flat=True)) == {s.pk for s in schedules}
    assert set(Schedule.objects.values_list("next_run_at", flat=True)) == {T0 + timedelta(minutes=2)}


def test_concurrent_dispatchers_enqueue_each_run_exactly_once():
    for number in range(SCHEDULES):
        make_schedule(now=T0, key=f"s{number}")
    dispatch_at_once(T0 + timedelta(minutes=1))
    run_ids = [SignedPackage.loads(package.payload)["args"][0] for package in OrmQ.objects.all()]
    assert sorted(run_ids) == sorted(JobRun.objects.values_list("pk", flat=True))


def test_concurrent_dispatchers_release_each_waiting_run_exactly_once():
    schedule = make_schedule(now=T0, overlap_policy="allow")
    for number in range(SCHEDULES):
        make_run(schedule, status=JobRun.Status.SCHEDULED, slot=T0 + timedelta(seconds=number), due_at=T0)
    dispatch_at_once(T0 + timedelta(seconds=1))
    assert JobRun.objects.filter(status="queued").count() == SCHEDULES
    assert OrmQ.objects.count() == SCHEDULES
