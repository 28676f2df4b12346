"""Backfill: one run per past slot of a schedule between two times, each slot once, one after another by
default; from ``jobs backfill`` and from the admin's Backfill action (the schedule's owner's admins only)."""

import threading
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django_q.models import OrmQ

from jobs.backfill import MAX_BACKFILL_SLOTS, BackfillOverlap, BackfillRefused, backfill
from jobs.bulk import insert_skipping_conflicts
from jobs.dispatcher import dispatch_due
from jobs.models import JobRun, JobSwitch, Schedule
from jobs.policies import OverlapPolicy
from jobs.runner import run_queued
from tenants.models import Membership
from tests.builders import make_staff_user
from tests.jobs.builders import T0, make_run, make_schedule

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
NOW = T0 + 24 * HOUR  # the backfills below cover the day before


def hourly(**fields) -> Schedule:
    """A schedule firing on every whole hour (UTC), created a year before ``T0``."""
    fields.setdefault("cron_expression", "0 * * * *")
    return make_schedule(now=T0 - timedelta(days=365), **fields)


def backfill_runs(schedule: Schedule) -> list[JobRun]:
    return list(JobRun.objects.filter(schedule=schedule, trigger="backfill").order_by("slot"))


def jobs(*args: str) -> str:
    out = StringIO()
    call_command("jobs", *args, stdout=out)
    return out.getvalue().strip()


# -- the service ----------------------------------------------------------------------------------------


def test_each_slot_in_the_range_gets_one_waiting_run_standing_for_it():
    schedule = hourly(kwargs={"full": True})

    report = backfill(schedule=schedule, start=T0, end=T0 + 4 * HOUR, now=NOW)

    runs = backfill_runs(schedule)
    assert [run.slot for run in runs] == [T0 + n * HOUR for n in range(5)]  # both ends count
    assert {(run.status, run.due_at, run.attempt) for run in runs} == {("scheduled", NOW, 1)}
    assert {(run.job_name, run.owner_id) for run in runs} == {(schedule.job_name, schedule.owner_id)}
    assert all(run.kwargs == {"full": True} for run in runs)
    assert (report.slots, report.created, report.skipped) == (5, 5, 0)
    assert str(report) == f"Schedule {schedule.pk}: 5 backfill runs for 5 slots (0 already had a run)."


def test_a_slot_that_already_has_a_run_is_left_alone():
    schedule = hourly()
    make_run(schedule, slot=T0 + 2 * HOUR, status=JobRun.Status.SUCCEEDED)

    report = backfill(schedule=schedule, start=T0, end=T0 + 4 * HOUR, now=NOW)

    assert (report.created, report.skipped) == (4, 1)
    assert JobRun.objects.filter(schedule=schedule, slot=T0 + 2 * HOUR).count() == 1


def test_backfilling_the_same_range_again_makes_nothing_new():
    schedule = hourly()
    backfill(schedule=schedule, start=T0, end=T0 + 4 * HOUR, now=NOW)

    again = backfill(schedule=schedule, start=T0 - HOUR, end=T0 + 5 * HOUR, now=NOW)

    assert (again.slots, again.created) == (7, 2)
    assert len(backfill_runs(schedule)) == 7


def test_the_schedules_window_and_excluded_dates_apply():
    schedule = hourly(starts_at=T0 + 2 * HOUR, excluded_dates=[(T0 + 13 * HOUR).date().isoformat()])

    report = backfill(schedule=schedule, start=T0, end=T0 + 20 * HOUR, now=NOW)

    # 14:00 to 23:00 on the start's day; the next day is excluded.
    assert report.created == 10
    assert backfill_runs(schedule)[0].slot == T0 + 2 * HOUR


def test_a_range_without_slots_says_so():
    schedule = make_schedule(now=T0 - timedelta(days=365), cron_expression="0 3 * * *")

    report = backfill(schedule=schedule, start=T0, end=T0 + HOUR, now=NOW)

    assert str(report) == f"Schedule {schedule.pk} has no slot in that range."


def test_more_slots_than_the_cap_are_refused_and_nothing_is_made():
    every_second = make_schedule(now=T0 - HOUR, interval_seconds=1)
    end = T0 + timedelta(seconds=MAX_BACKFILL_SLOTS)  # one slot more than the cap, the start counting

    with pytest.raises(BackfillRefused, match=f"more than {MAX_BACKFILL_SLOTS} slots between"):
        backfill(schedule=every_second, start=T0, end=end, now=NOW)

    assert JobRun.objects.count() == 0
    assert backfill(schedule=every_second, start=T0, end=end - timedelta(seconds=1), now=NOW).created == (
        MAX_BACKFILL_SLOTS
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"end": NOW + HOUR}, "lies in the future"),
        ({"start": T0 + 2 * HOUR, "end": T0}, "must not come before its start"),
        ({"start": datetime(2026, 3, 2, 12)}, "The start of a backfill needs a time zone"),
        ({"overlap": "sometimes"}, "Unknown overlap choice 'sometimes'"),
    ],
    ids=["future", "reversed", "naive", "overlap"],
)
def test_a_range_that_cannot_be_backfilled_is_refused(change, message):
    schedule = hourly()
    arguments = {"schedule": schedule, "start": T0, "end": T0 + HOUR, "now": NOW, **change}

    with pytest.raises(BackfillRefused, match=message):
        backfill(**arguments)

    assert JobRun.objects.count() == 0


def test_a_switched_off_or_unknown_job_or_stopped_dispatching_is_refused(settings):
    switched = hourly(job_name="tests.fail")
    JobSwitch.objects.create(job_name="tests.fail", enabled=False)
    unknown = hourly(job_name="gone.away")

    with pytest.raises(BackfillRefused, match=r"tests\.fail is switched off"):
        backfill(schedule=switched, start=T0, end=T0 + HOUR, now=NOW)
    with pytest.raises(BackfillRefused, match=r"No job is registered as 'gone\.away'"):
        backfill(schedule=unknown, start=T0, end=T0 + HOUR, now=NOW)
    settings.JOBS_ENABLED = False
    with pytest.raises(BackfillRefused, match="JOBS_ENABLED"):
        backfill(schedule=hourly(), start=T0, end=T0 + HOUR, now=NOW)


# -- how the runs take turns ----------------------------------------------------------------------------


def in_flight(schedule: Schedule) -> list[datetime]:
    return list(
        JobRun.objects.filter(schedule=schedule, status__in=JobRun.IN_FLIGHT).values_list("slot", flat=True)
    )


def test_by_default_the_runs_go_one_after_another_oldest_slot_first():
    # Paused, so that its regular slots stay out of the way; its own overlap policy does not matter here.
    schedule = hourly(overlap_policy=OverlapPolicy.SKIP, paused_at=T0)
    backfill(schedule=schedule, start=T0, end=T0 + 2 * HOUR, now=NOW)
    clock = NOW
    order = []

    for _ in range(3):
        dispatch_due(now=clock)
        (slot,) = in_flight(schedule)
        order.append(slot)
        run = JobRun.objects.get(schedule=schedule, slot=slot)
        assert run_queued(run.pk, worker="test", clock=lambda moment=clock: moment) == "succeeded"
        clock += timedelta(seconds=1)

    assert order == [T0, T0 + HOUR, T0 + 2 * HOUR]
    assert {run.status for run in backfill_runs(schedule)} == {"succeeded"}


def test_a_waiting_backfill_run_waits_for_a_run_of_the_schedule_in_flight():
    schedule = hourly()
    make_run(schedule, slot=NOW - HOUR, status=JobRun.Status.RUNNING)
    backfill(schedule=schedule, start=T0, end=T0, now=NOW)

    dispatch_due(now=NOW)

    (run,) = backfill_runs(schedule)
    assert run.status == "scheduled" and run.due_at > NOW  # waiting, not skipped


def test_all_at_once_queues_every_run_in_the_backfills_own_transaction():
    schedule = hourly()

    backfill(schedule=schedule, start=T0, end=T0 + 2 * HOUR, now=NOW, overlap=BackfillOverlap.ALL_AT_ONCE)

    runs = backfill_runs(schedule)
    assert {run.status for run in runs} == {"queued"}
    assert OrmQ.objects.count() == 3


# -- the command ----------------------------------------------------------------------------------------


def test_the_command_backfills_and_reads_times_without_an_offset_in_the_schedules_zone():
    schedule = hourly(timezone="America/New_York")

    with time_machine.travel(NOW, tick=False):
        out = jobs("backfill", str(schedule.pk), "--from", "2026-03-02T07:00", "--to", "2026-03-02T09:30")

    assert out == f"Schedule {schedule.pk}: 3 backfill runs for 3 slots (0 already had a run)."
    assert [run.slot for run in backfill_runs(schedule)] == [
        T0,
        T0 + HOUR,
        T0 + 2 * HOUR,
    ]  # 07:00 EST = 12:00Z


def test_a_bare_date_means_the_whole_day_and_an_offset_is_taken_as_given():
    schedule = hourly(timezone="Europe/London")

    with time_machine.travel(NOW + 30 * 24 * HOUR, tick=False):
        whole_day = jobs("backfill", str(schedule.pk), "--from", "2026-03-02", "--to", "2026-03-02")
        with_offset = jobs(
            "backfill", str(schedule.pk), "--from", "2026-03-03T01:00+01:00", "--to", "2026-03-03T02:00Z"
        )

    assert "24 backfill runs for 24 slots" in whole_day  # 00:00 to 23:00 on 2 March
    assert "3 backfill runs for 3 slots (0 already" in with_offset  # 00:00Z, 01:00Z and 02:00Z on 3 March


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["424242", "--from", "2026-03-01", "--to", "2026-03-02"], "No schedule with id 424242"),
        (["{pk}", "--from", "yesterday", "--to", "2026-03-02"], "--from: 'yesterday' is not a date and time"),
        (["{pk}", "--from", "2026-03-02", "--to", "2026-13-02"], "--to: '2026-13-02' is not a date and time"),
        (["{pk}", "--from", "2026-03-01", "--to", "2030-01-01"], "lies in the future"),
        (["{pk}", "--from", "2026-03-02", "--to", "2026-03-01"], "must not come before its start"),
        (["{pk}", "--from", "2024-01-01", "--to", "2026-03-01"], f"more than {MAX_BACKFILL_SLOTS} slots"),
    ],
    ids=["missing schedule", "bad from", "bad to", "future", "reversed", "too many"],
)
def test_the_command_refuses_bad_input_with_one_line(arguments, message):
    schedule = hourly()

    with time_machine.travel(NOW, tick=False), pytest.raises(CommandError) as refused:
        jobs("backfill", *[argument.format(pk=schedule.pk) for argument in arguments])

    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert JobRun.objects.count() == 0


# -- the admin ------------------------------------------------------------------------------------------


def post_action(client, schedules: list[Schedule], **data):
    return client.post(
        reverse("admin:jobs_schedule_changelist"),
        {"action": "backfill_selected", "_selected_action": [s.pk for s in schedules], **data},
    )


def test_the_admin_action_asks_for_the_range_then_backfills(client, owner, member):
    schedule = hourly(owner_id=owner.pk, key="nightly", timezone="Europe/London")
    client.force_login(member)

    page = post_action(client, [schedule])
    assert page.status_code == 200 and not backfill_runs(schedule)
    with time_machine.travel(NOW, tick=False):
        done = post_action(
            client,
            [schedule],
            apply="Backfill",
            start="2026-03-02T12:00",
            end="2026-03-02T14:00",
            timezone="Europe/London",
            overlap="one_after_another",
        )

    assert "Backfill past slots" in page.text and 'value="Europe/London" selected' in page.text
    assert done.status_code == 302
    assert [run.slot for run in backfill_runs(schedule)] == [T0, T0 + HOUR, T0 + 2 * HOUR]
    messages = [str(message) for message in done.wsgi_request._messages]
    assert messages == [f"Schedule {schedule.pk}: 3 backfill runs for 3 slots (0 already had a run)."]


def test_the_admin_form_shows_what_is_wrong_and_backfills_nothing(client, owner, member):
    schedule = hourly(owner_id=owner.pk)
    client.force_login(member)

    with time_machine.travel(NOW, tick=False):
        reversed_range = post_action(
            client, [schedule], apply="1", start="2026-03-02T14:00", end="2026-03-02T12:00", timezone="UTC",
            overlap="one_after_another",
        )  # fmt: skip
        future = post_action(
            client, [schedule], apply="1", start="2026-03-02T12:00", end="2027-03-02T12:00", timezone="UTC",
            overlap="one_after_another",
        )  # fmt: skip

    assert reversed_range.status_code == 200
    assert "The end must not come before the start." in reversed_range.text
    assert future.status_code == 302
    (message,) = future.wsgi_request._messages
    assert "lies in the future" in str(message)
    assert JobRun.objects.count() == 0


def test_an_outsider_cannot_backfill_another_owners_schedule(client, owner, outsider):
    schedule = hourly(owner_id=owner.pk)
    client.force_login(outsider)

    with time_machine.travel(NOW, tick=False):
        post_action(
            client, [schedule], apply="1", start="2026-03-02T12:00", end="2026-03-02T14:00", timezone="UTC",
            overlap="one_after_another",
        )  # fmt: skip

    assert JobRun.objects.count() == 0


def test_a_viewer_of_the_owner_cannot_backfill(client, owner):
    schedule = hourly(owner_id=owner.pk)
    client.force_login(make_staff_user(owner, role=Membership.Role.VIEWER))

    with time_machine.travel(NOW, tick=False):
        response = post_action(
            client, [schedule], apply="1", start="2026-03-02T12:00", end="2026-03-02T14:00", timezone="UTC",
            overlap="one_after_another",
        )  # fmt: skip

    assert response.status_code in (200, 302, 403)
    assert JobRun.objects.count() == 0


# -- exactly once, with two backfills at once (PostgreSQL) -----------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_backfill_commands_at_once_make_each_of_1000_slots_once():
    schedule = make_schedule(now=T0 - HOUR, interval_seconds=60)
    start = T0.astimezone(UTC).isoformat()
    end = (T0 + timedelta(minutes=999)).isoformat()
    barrier = threading.Barrier(2)
    outputs: list[str] = []
    errors: list[BaseException] = []

    def command() -> None:
        try:
            barrier.wait()
            outputs.append(jobs("backfill", str(schedule.pk), "--from", start, "--to", end))
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=command) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    runs = JobRun.objects.filter(schedule=schedule)
    assert runs.count() == 1000
    assert runs.values("slot").distinct().count() == 1000
    created = sorted(int(output.split(": ")[1].split()[0]) for output in outputs)
    assert sum(created) == 1000, outputs


def test_rows_a_unique_constraint_refuses_are_left_out_and_the_others_inserted():
    schedule = hourly()
    make_run(schedule, slot=T0 + HOUR, status=JobRun.Status.SUCCEEDED)
    runs = [JobRun.of_schedule(schedule, slot=T0 + n * HOUR, trigger="backfill") for n in range(3)]

    inserted = insert_skipping_conflicts(runs)

    assert [run.slot for run in inserted] == [T0, T0 + 2 * HOUR]
    assert all(run.pk for run in inserted)
    assert JobRun.objects.filter(schedule=schedule).count() == 3
