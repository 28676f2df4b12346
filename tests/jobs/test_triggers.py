"""jobs.triggers: validation with per-field messages; the slots of cron, interval and one-off triggers."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from jobs.models import Schedule, TriggerKind
from jobs.triggers import (
    InvalidTrigger,
    describe_interval,
    describe_trigger,
    missed_slots,
    next_fire_after,
    upcoming,
    validate_trigger,
)
from tests.jobs.builders import utc


@dataclass
class Trigger:
    """The trigger attributes of a Schedule, without a database."""

    trigger_kind: str = "cron"
    cron_expression: str = ""
    interval_seconds: int | None = None
    interval_anchor: datetime | None = None
    run_at: datetime | None = None
    timezone: str = "UTC"
    created_at: datetime | None = None


def cron(expression: str, timezone: str = "UTC") -> Trigger:
    return Trigger(trigger_kind="cron", cron_expression=expression, timezone=timezone)


def every(seconds: int, *, anchor: datetime | None = None, created_at: datetime | None = None) -> Trigger:
    return Trigger(
        trigger_kind="interval", interval_seconds=seconds, interval_anchor=anchor, created_at=created_at
    )


def once(run_at: datetime, timezone: str = "UTC") -> Trigger:
    return Trigger(trigger_kind="once", run_at=run_at, timezone=timezone)


NOW = utc(2026, 11, 23, 10, 17, 7)


def validate(**overrides) -> None:
    fields = {
        "trigger_kind": "cron",
        "cron_expression": "0 21 * * *",
        "interval_seconds": None,
        "interval_anchor": None,
        "run_at": None,
        "timezone": "Europe/London",
    }
    validate_trigger(**{**fields, **overrides})


def errors_of(**overrides) -> dict[str, str]:
    with pytest.raises(InvalidTrigger) as raised:
        validate(**overrides)
    return raised.value.errors


# -- validation ---------------------------------------------------------------------------------------------


def test_a_valid_cron_trigger_passes():
    assert validate() is None


def test_a_valid_interval_trigger_passes():
    assert validate(trigger_kind="interval", cron_expression="", interval_seconds=60) is None


def test_a_valid_one_off_trigger_passes():
    assert validate(trigger_kind="once", cron_expression="", run_at=NOW) is None


def test_unknown_time_zone_is_reported_on_the_timezone_field():
    assert errors_of(timezone="Europe/Londn") == {
        "timezone": "'Europe/Londn' is not an IANA time zone such as Europe/London."
    }


def test_missing_time_zone_is_reported():
    assert "Choose a time zone" in errors_of(timezone="")["timezone"]


def test_cron_kind_needs_an_expression():
    assert "Enter a cron expression" in errors_of(cron_expression="  ")["cron_expression"]


def test_invalid_cron_expression_is_reported_with_the_field_and_reason():
    assert errors_of(cron_expression="61 * * * *") == {
        "cron_expression": "Invalid cron expression: minute field '61' is out of range 0-59."
    }


def test_interval_kind_needs_an_interval():
    assert (
        "Enter how many seconds"
        in errors_of(trigger_kind="interval", interval_seconds=None)["interval_seconds"]
    )


def test_interval_below_one_second_is_refused():
    errors = errors_of(trigger_kind="interval", interval_seconds=0)
    assert errors == {"interval_seconds": "The interval must be at least 1 second."}


def test_interval_must_be_a_whole_number_of_seconds():
    errors = errors_of(trigger_kind="interval", interval_seconds=1.5)
    assert errors == {"interval_seconds": "The interval must be a whole number of seconds, not 1.5."}


def test_naive_interval_anchor_is_refused():
    errors = errors_of(trigger_kind="interval", interval_seconds=60, interval_anchor=datetime(2026, 1, 1))
    assert list(errors) == ["interval_anchor"]


def test_one_off_kind_needs_a_time():
    assert errors_of(trigger_kind="once", run_at=None) == {"run_at": "Enter the date and time to run at."}


def test_unknown_trigger_kind_is_refused():
    assert "Unknown trigger kind 'weekly'" in errors_of(trigger_kind="weekly")["trigger_kind"]


def test_every_wrong_field_is_reported_at_once_and_reads_as_one_line():
    with pytest.raises(InvalidTrigger) as raised:
        validate(cron_expression="* * *", timezone="Nowhere")
    assert set(raised.value.errors) == {"cron_expression", "timezone"}
    assert str(raised.value) == (
        "timezone: 'Nowhere' is not an IANA time zone such as Europe/London.; "
        "cron_expression: Invalid cron expression: expected 5 fields (minute hour day month weekday) "
        "or 6 (second first), got 3."
    )


def test_an_invalid_trigger_is_a_value_error():
    with pytest.raises(ValueError):
        validate(trigger_kind="once")


def test_schedule_clean_shows_the_message_on_the_wrong_field():
    schedule = Schedule(job_name="tests.noop", trigger_kind=TriggerKind.CRON, cron_expression="0 25 * * *")
    with pytest.raises(ValidationError) as raised:
        schedule.clean()
    assert raised.value.message_dict == {
        "cron_expression": ["Invalid cron expression: hour field '25' is out of range 0-23."]
    }


# -- cron ---------------------------------------------------------------------------------------------------


def test_cron_slot_is_computed_in_the_schedule_time_zone():
    # 21:00 in London in July is 20:00 UTC.
    assert next_fire_after(cron("0 21 * * *", "Europe/London"), utc(2026, 7, 1, 12)) == utc(2026, 7, 1, 20)


def test_cron_slot_follows_the_dst_rules_of_jobs_cron():
    # 02:30 is skipped in New York on 2026-03-08; the job runs at 03:00 EDT instead.
    assert next_fire_after(cron("30 2 * * *", "America/New_York"), utc(2026, 3, 7, 12)) == utc(2026, 3, 8, 7)


def test_invalid_cron_schedule_raises_rather_than_guessing():
    with pytest.raises(ValueError, match="minute field '61'"):
        next_fire_after(cron("61 * * * *"), NOW)


# -- interval -----------------------------------------------------------------------------------------------


def test_interval_slots_are_anchor_plus_whole_intervals():
    schedule = every(3600, anchor=utc(2026, 11, 23, 9, 30))
    assert next_fire_after(schedule, NOW) == utc(2026, 11, 23, 10, 30)


def test_interval_slot_is_strictly_after_the_moment_asked_about():
    schedule = every(3600, anchor=utc(2026, 11, 23, 9, 30))
    assert next_fire_after(schedule, utc(2026, 11, 23, 10, 30)) == utc(2026, 11, 23, 11, 30)


def test_interval_anchor_defaults_to_creation_time():
    schedule = every(600, created_at=utc(2026, 11, 23, 10, 3, 0))
    assert next_fire_after(schedule, NOW) == utc(2026, 11, 23, 10, 23, 0)


def test_interval_anchored_in_the_future_first_fires_at_the_anchor():
    schedule = every(3600, anchor=utc(2026, 12, 1, 9, 0))
    assert next_fire_after(schedule, NOW) == utc(2026, 12, 1, 9, 0)


def test_unsaved_interval_without_anchor_counts_from_the_moment_asked_about():
    assert next_fire_after(every(90), NOW) == NOW + timedelta(seconds=90)


def test_interval_slots_keep_real_elapsed_time_across_dst():
    # London springs forward at 01:00 UTC on 2026-03-29; six hours stay six real hours.
    anchor = datetime(2026, 3, 28, 21, 0, tzinfo=ZoneInfo("Europe/London"))
    schedule = every(6 * 3600, anchor=anchor)
    slots = upcoming(schedule, 3, anchor)
    assert slots == [utc(2026, 3, 29, 3), utc(2026, 3, 29, 9), utc(2026, 3, 29, 15)]


def test_interval_slots_never_drift_far_from_the_anchor():
    schedule = every(7, anchor=utc(2000, 1, 1))
    slot = next_fire_after(schedule, utc(2036, 6, 1, 12, 0, 0))
    assert (slot - utc(2000, 1, 1)) % timedelta(seconds=7) == timedelta(0)
    assert utc(2036, 6, 1, 12, 0, 0) < slot <= utc(2036, 6, 1, 12, 0, 7)


def test_interval_slots_are_utc_whatever_the_anchor_zone():
    anchor = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    assert next_fire_after(every(3600, anchor=anchor), NOW).tzinfo is UTC


# -- one-off ------------------------------------------------------------------------------------------------


def test_one_off_in_the_future_fires_at_its_time():
    assert next_fire_after(once(utc(2026, 12, 1, 9)), NOW) == utc(2026, 12, 1, 9)


def test_one_off_in_the_past_has_no_slot():
    assert next_fire_after(once(utc(2026, 11, 1, 9)), NOW) is None


def test_one_off_at_exactly_the_moment_asked_about_has_no_further_slot():
    assert next_fire_after(once(NOW), NOW) is None


def test_one_off_time_is_returned_in_utc():
    run_at = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Europe/London"))
    slot = next_fire_after(once(run_at), NOW)
    assert (slot, slot.tzinfo) == (utc(2026, 12, 1, 9), UTC)


def test_naive_moment_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire_after(every(60), datetime(2026, 1, 1))


# -- upcoming and missed slots ------------------------------------------------------------------------------


def test_upcoming_lists_the_next_fire_times():
    assert upcoming(cron("0 9 * * MON-FRI"), 3, utc(2026, 11, 26, 12)) == [
        utc(2026, 11, 27, 9),
        utc(2026, 11, 30, 9),
        utc(2026, 12, 1, 9),
    ]


def test_upcoming_stops_when_a_one_off_has_fired():
    assert upcoming(once(utc(2026, 12, 1, 9)), 5, NOW) == [utc(2026, 12, 1, 9)]


def test_missed_slots_are_those_after_the_last_slot_up_to_and_including_now():
    schedule = cron("*/15 * * * *")
    assert missed_slots(schedule, utc(2026, 11, 23, 9, 0), utc(2026, 11, 23, 10, 0), limit=10) == [
        utc(2026, 11, 23, 9, 15),
        utc(2026, 11, 23, 9, 30),
        utc(2026, 11, 23, 9, 45),
        utc(2026, 11, 23, 10, 0),
    ]


def test_missed_slots_are_bounded_by_the_limit_keeping_the_oldest():
    schedule = every(60, anchor=utc(2026, 11, 23))
    slots = missed_slots(schedule, utc(2026, 11, 23), utc(2026, 11, 24), limit=3)
    assert slots == [utc(2026, 11, 23, 0, 1), utc(2026, 11, 23, 0, 2), utc(2026, 11, 23, 0, 3)]


def test_a_one_off_missed_while_down_is_one_missed_slot():
    assert missed_slots(once(utc(2026, 11, 23, 9)), utc(2026, 11, 23, 8), NOW, limit=10) == [
        utc(2026, 11, 23, 9)
    ]


def test_nothing_is_missed_when_no_slot_is_due_yet():
    assert missed_slots(cron("0 21 * * *"), utc(2026, 11, 23, 9), NOW, limit=10) == []


# -- descriptions -------------------------------------------------------------------------------------------


def test_cron_trigger_reads_in_words_with_its_time_zone():
    assert describe_trigger(cron("0 21 * * *", "Europe/London")) == "At 21:00 every day (Europe/London)"


def test_interval_trigger_reads_in_its_largest_whole_unit():
    assert describe_trigger(every(6 * 3600, created_at=NOW)) == "Every 6 hours"


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "Every second"),
        (45, "Every 45 seconds"),
        (60, "Every minute"),
        (90, "Every 90 seconds"),
        (900, "Every 15 minutes"),
        (3600, "Every hour"),
        (5400, "Every 90 minutes"),
        (86400, "Every day"),
        (7 * 86400, "Every 7 days"),
    ],
)
def test_interval_words(seconds, words):
    assert describe_interval(seconds) == words


def test_interval_with_a_chosen_anchor_says_where_it_counts_from():
    schedule = every(3600, anchor=utc(2026, 12, 1, 9, 0), created_at=NOW)
    schedule.timezone = "Europe/London"
    assert describe_trigger(schedule) == "Every hour, counted from 2026-12-01 09:00 (Europe/London)"


def test_one_off_trigger_reads_in_its_local_time():
    schedule = once(utc(2026, 7, 1, 8, 0), "Europe/London")
    assert describe_trigger(schedule) == "Once, at 2026-07-01 09:00 (Europe/London)"


def test_a_stored_invalid_expression_is_described_not_crashed_on():
    assert describe_trigger(cron("61 * * * *")) == (
        "Invalid cron expression '61 * * * *': minute field '61' is out of range 0-59"
    )


# -- with a real Schedule row -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_saved_interval_schedule_fires_on_the_rhythm_of_its_anchor(owner):
    schedule = Schedule.objects.create(
        job_name="tests.noop",
        owner=owner,
        key="h-cron-interval",
        trigger_kind=TriggerKind.INTERVAL,
        interval_seconds=300,
        interval_anchor=utc(2026, 11, 23, 10, 0),
    )
    schedule.refresh_from_db()
    assert next_fire_after(schedule, utc(2026, 11, 23, 10, 5, 1)) == utc(2026, 11, 23, 10, 10)


@pytest.mark.django_db
def test_a_saved_cron_schedule_uses_its_time_zone(owner):
    schedule = Schedule.objects.create(
        job_name="tests.noop",
        owner=owner,
        key="h-cron-cron",
        trigger_kind=TriggerKind.CRON,
        cron_expression="0 21 * * *",
        timezone="America/New_York",
    )
    schedule.refresh_from_db()
    assert next_fire_after(schedule, utc(2026, 7, 1, 12)) == utc(2026, 7, 2, 1)
