"""Dispatchers wake early when schedules change: LISTEN/NOTIFY on PostgreSQL, a short poll elsewhere."""

import pytest

from jobs.wakeup import WakeupListener, wake_dispatchers
from tests.jobs.builders import make_schedule


@pytest.fixture
def listener():
    listening = WakeupListener()
    listening.wait(0)  # connect and LISTEN before anything changes
    yield listening
    listening.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_committed_schedule_change_wakes_a_listening_dispatcher(listener):
    make_schedule()
    assert listener.wait(5.0) is True


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_listener_sleeps_its_timeout_when_nothing_changes(listener):
    assert listener.wait(0.05) is False


@pytest.mark.django_db
def test_a_wake_in_this_process_is_seen_at_once(listener):
    wake_dispatchers()
    assert listener.wait(5.0) is True
