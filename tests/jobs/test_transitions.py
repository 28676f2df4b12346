"""JobRun's state machine: every transition from every status, allowed or refused, on the row and in memory,
and the table in docs/architecture.md says the same as the code."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings

from jobs.models import InvalidTransition, JobRun
from tests.jobs.builders import T0, make_run, make_schedule

pytestmark = pytest.mark.django_db

NOW = T0 + timedelta(minutes=1)
Status = JobRun.Status

# Each target status and the call that asks for it.
TRANSITION_CALLS = {
    Status.QUEUED: lambda run, **held: run.queue(now=NOW, task_id="t-1", **held),
    Status.RUNNING: lambda run: run.mark_running(now=NOW, worker="host:1"),
    Status.SUCCEEDED: lambda run: run.succeed(now=NOW, result={"ok": True}),
    Status.FAILED: lambda run, **held: run.fail(now=NOW, error="boom", **held),
    Status.TIMED_OUT: lambda run: run.time_out(now=NOW, error="too slow"),
    Status.LOST: lambda run: run.mark_lost(now=NOW, error="gone"),
    Status.SKIPPED: lambda run, **held: run.skip(now=NOW, reason="busy", **held),
    Status.CANCELLED: lambda run, **held: run.cancel(now=NOW, reason="stop", **held),
}
HELD_CALLS = (Status.QUEUED, Status.FAILED, Status.SKIPPED, Status.CANCELLED)
PAIRS = [(source, target) for target in TRANSITION_CALLS for source in Status.values]


def run_in(status: str) -> JobRun:
    return make_run(make_schedule(now=T0), status=status, slot=T0, started_at=T0)


def test_every_status_has_its_row_in_the_table():
    assert set(JobRun.TRANSITIONS) == set(Status.values) - {Status.SCHEDULED}


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{s}->{t}" for s, t in PAIRS])
def test_a_transition_changes_the_row_exactly_when_the_table_allows_it(source, target):
    run = run_in(source)
    allowed = source in JobRun.TRANSITIONS[target]

    changed = TRANSITION_CALLS[target](run)

    stored = JobRun.objects.get(pk=run.pk)
    assert changed is allowed
    assert stored.status == (target if allowed else source)
    assert run.status == stored.status  # the instance follows the row, refused or not


@pytest.mark.parametrize("target", HELD_CALLS)
@pytest.mark.parametrize("source", Status.values)
def test_a_held_run_changes_in_memory_only_or_raises_when_the_table_refuses(source, target):
    run = run_in(source)
    if source not in JobRun.TRANSITIONS[target]:
        with pytest.raises(InvalidTransition):
            TRANSITION_CALLS[target](run, held=True)
        return

    assert TRANSITION_CALLS[target](run, held=True) is True
    assert run.status == target
    assert JobRun.objects.get(pk=run.pk).status == source  # the dispatcher writes its batch itself


def test_finishing_records_when_and_how_long():
    run = run_in(Status.RUNNING)
    run.succeed(now=T0 + timedelta(seconds=90), result={"rows": 3})
    run.refresh_from_db()
    assert (run.finished_at, run.duration, run.result, run.error) == (
        T0 + timedelta(seconds=90),
        timedelta(seconds=90),
        {"rows": 3},
        "",
    )


def test_mark_running_records_the_worker_and_a_first_heartbeat():
    run = run_in(Status.QUEUED)
    assert run.mark_running(now=NOW, worker="host-a:4242")
    run.refresh_from_db()
    assert (run.started_at, run.heartbeat_at, run.worker) == (NOW, NOW, "host-a:4242")


def test_a_second_worker_flipping_the_same_run_is_refused():
    run = run_in(Status.QUEUED)
    assert run.mark_running(now=NOW, worker="a:1")
    assert not JobRun(pk=run.pk, status=Status.QUEUED).mark_running(now=NOW, worker="b:2")
    assert JobRun.objects.get(pk=run.pk).worker == "a:1"


def test_a_cancel_request_is_stored_on_a_running_run_without_changing_its_status():
    run = run_in(Status.RUNNING)
    assert run.request_cancel(now=NOW, reason="Cancelled by ops.")
    run.refresh_from_db()
    assert (run.status, run.cancel_requested_at, run.error) == (Status.RUNNING, NOW, "Cancelled by ops.")


@pytest.mark.parametrize("source", [status for status in Status.values if status != Status.RUNNING])
def test_a_cancel_request_is_refused_unless_the_run_is_running(source):
    run = run_in(source)
    assert not run.request_cancel(now=NOW, reason="stop")
    assert JobRun.objects.get(pk=run.pk).cancel_requested_at is None


def test_a_second_cancel_request_is_refused():
    run = run_in(Status.RUNNING)
    run.request_cancel(now=NOW, reason="first")
    assert not JobRun.objects.get(pk=run.pk).request_cancel(now=NOW, reason="second")
    assert JobRun.objects.get(pk=run.pk).error == "first"


def test_cancelling_a_requested_run_keeps_the_reason_given_with_the_request():
    run = run_in(Status.RUNNING)
    run.request_cancel(now=NOW, reason="Cancelled by ops.")
    assert run.cancel(now=NOW)
    assert JobRun.objects.get(pk=run.pk).error == "Cancelled by ops."


def test_the_heartbeat_stamps_a_running_run_until_a_cancellation_is_requested():
    run = run_in(Status.RUNNING)
    assert run.beat(now=NOW)
    assert JobRun.objects.get(pk=run.pk).heartbeat_at == NOW
    run.request_cancel(now=NOW, reason="stop")
    assert not run.beat(now=NOW + timedelta(seconds=10))
    assert JobRun.objects.get(pk=run.pk).heartbeat_at == NOW


@pytest.mark.parametrize("source", [status for status in Status.values if status != Status.RUNNING])
def test_the_heartbeat_is_refused_unless_the_run_is_running(source):
    assert not run_in(source).beat(now=NOW)


def test_the_documented_transition_table_matches_the_code():
    text = (Path(settings.BASE_DIR) / "docs" / "architecture.md").read_text()
    documented = {}
    for to, sources in re.findall(r"^\| `(\w+)` \| ([^|]+) \|", text, flags=re.MULTILINE):
        if to in Status.values:
            documented[to] = set(re.findall(r"`(\w+)`", sources))
    assert documented == {
        str(to): {str(each) for each in sources} for to, sources in JobRun.TRANSITIONS.items()
    }


def test_a_cancel_for_a_run_not_started_never_ends_a_running_one():
    run = run_in(Status.RUNNING)
    assert not run.cancel(now=NOW, reason="stop", not_started=True)
    assert JobRun.objects.get(pk=run.pk).status == Status.RUNNING
