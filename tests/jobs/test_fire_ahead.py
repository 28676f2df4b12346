"""Fire-ahead on PostgreSQL: a claim prepared before its slot reaches the workers at the slot, not before.

The dispatcher runs on a controlled clock: its ``sleep`` (the hold until the slot) moves that clock on, and
while the claim is held a second dispatcher on its own connection looks at the same rows.
"""

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django_q.models import OrmQ

from jobs.dispatcher import BUSY_RETRY_SECONDS, Dispatcher
from jobs.models import JobRun, Schedule
from tests.jobs.builders import T0, make_schedule

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LEAD = timedelta(milliseconds=600)


class Clock:
    """Controlled time: ``now()`` answers the current instant, ``sleep()`` moves it on.

    ``while_asleep`` runs at the start of each sleep, i.e. while the sleeper still holds what it holds.
    """

    def __init__(self, start: datetime) -> None:
        self.moment = start
        self.slept: list[float] = []
        self.while_asleep: Callable[[], None] | None = None

    def now(self) -> datetime:
        return self.moment

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.while_asleep is not None:
            self.while_asleep()
        self.moment += timedelta(seconds=seconds)


def due_at(slot: datetime) -> Schedule:
    schedule = make_schedule(now=slot - timedelta(minutes=5))
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=slot)
    return schedule


def in_another_connection(look: Callable[[], object]) -> object:
    """What ``look()`` answers from another thread, hence another database connection."""
    answers = []

    def other() -> None:
        try:
            answers.append(look())
        finally:
            connection.close()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    return answers[0]


def test_a_claim_prepared_ahead_commits_by_its_slot_and_other_dispatchers_keep_off():
    clock = Clock(T0)
    slot = T0 + timedelta(milliseconds=400)
    due_at(slot)
    seen_while_held = {}

    def look_from_elsewhere() -> None:
        if seen_while_held:
            return  # the second sleep comes after the commit: the release at the slot
        seen_while_held["visible"] = in_another_connection(
            lambda: (JobRun.objects.count(), OrmQ.objects.count())
        )
        seen_while_held["other_tick"] = in_another_connection(
            lambda: Dispatcher(clock=clock.now, lead=LEAD).tick(clock.now())
        )

    clock.while_asleep = look_from_elsewhere
    Dispatcher(clock=clock.now, sleep=clock.sleep, lead=LEAD).tick(T0)

    # Held from 400 ms before the slot until its expected commit time before it, then released at the slot.
    held, released = clock.slept
    assert held + released == pytest.approx(0.4) and released < 0.001
    assert seen_while_held == {"visible": (0, 0), "other_tick": BUSY_RETRY_SECONDS}
    (run,) = JobRun.objects.all()
    assert (run.slot, run.queued_at, run.status) == (slot, slot, "queued")
    assert OrmQ.objects.count() == 1


def test_a_late_dispatcher_does_not_wait():
    clock = Clock(T0)
    slot = T0 - timedelta(milliseconds=100)
    due_at(slot)

    Dispatcher(clock=clock.now, sleep=clock.sleep, lead=LEAD).tick(T0)

    assert clock.slept == []
    assert JobRun.objects.get().slot == slot


def due_together(slot: datetime, count: int) -> None:
    for _ in range(count):
        due_at(slot)


def test_a_claim_as_big_as_the_slow_ones_measured_starts_early_and_commits_before_its_slot():
    clock = Clock(T0)
    slot = T0 + timedelta(milliseconds=700)
    due_together(slot, 8)
    dispatcher = Dispatcher(clock=clock.now, sleep=clock.sleep, lead=LEAD, max_lead=timedelta(seconds=2))
    dispatcher.fire_ahead.times.record(8, preparation=0.5, commit=0.02)  # claims of 8 took this long lately
    seen = []
    clock.while_asleep = lambda: seen.append(
        in_another_connection(
            lambda: (JobRun.objects.count(), list(OrmQ.objects.values_list("lock", flat=True)))
        )
    )

    dispatcher.tick(T0)  # 700 ms before the slot: the shortest lead (600 ms) would not start yet

    assert clock.slept == [pytest.approx(0.68), pytest.approx(0.02)]  # held, committed, released at the slot
    held, committed = seen
    assert held == (0, [])  # nothing visible while the claim is held
    runs, locks = committed
    assert runs == 8 and locks == [slot] * 8  # committed before the slot; no worker takes a task before it
    assert JobRun.objects.filter(status="queued", queued_at=slot).count() == 8


def test_a_dispatcher_that_measured_nothing_waits_for_its_shortest_lead():
    clock = Clock(T0)
    slot = T0 + timedelta(milliseconds=700)
    due_together(slot, 8)

    wait = Dispatcher(clock=clock.now, sleep=clock.sleep, lead=LEAD, max_lead=timedelta(seconds=2)).tick(T0)

    assert wait == pytest.approx(0.1)  # wakes 600 ms before the slot
    assert JobRun.objects.count() == 0


def test_every_claim_is_measured_by_the_dispatchers_clock_and_feeds_the_next_lead():
    clock = SteppingClock(T0, step=timedelta(milliseconds=400))
    slot = T0 - timedelta(seconds=1)
    due_together(slot, 8)
    dispatcher = Dispatcher(clock=clock.now, sleep=clock.sleep, lead=LEAD, max_lead=timedelta(seconds=2))

    dispatcher.tick(T0)

    assert JobRun.objects.count() == 8
    assert dispatcher.fire_ahead.times.preparation_for(8) >= 0.4
    assert dispatcher.fire_ahead.lead_for(8) > LEAD


class SteppingClock(Clock):
    """A clock on which every look costs ``step``: the dispatcher's own work takes time on it."""

    def __init__(self, start: datetime, *, step: timedelta) -> None:
        super().__init__(start)
        self.step = step

    def now(self) -> datetime:
        self.moment += self.step
        return self.moment
