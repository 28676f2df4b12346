"""jobs.cron: what a cron expression means, when it fires (across DST), and how it reads in English.

Times in these tests are written in UTC (``utc(...)``) so each assertion pins the exact instant; the local
wall-clock time it stands for is in the test name or a comment.
"""

import pickle
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim

from jobs.cron import InvalidCronExpression, describe, next_fire_after, next_fire_times, parse
from tests.jobs.builders import utc

NEW_YORK = "America/New_York"
LONDON = "Europe/London"
LORD_HOWE = "Australia/Lord_Howe"


def local(zone: str, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold)


# A Monday morning, between DST transitions everywhere used below.
MONDAY = utc(2026, 11, 23, 10, 17, 7)


# -- aliases, field counts, syntax --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "first_fire"),
    [
        ("@hourly", utc(2026, 11, 23, 11, 0)),
        ("@daily", utc(2026, 11, 24, 0, 0)),
        ("@midnight", utc(2026, 11, 24, 0, 0)),
        ("@weekly", utc(2026, 11, 29, 0, 0)),  # the next Sunday
        ("@monthly", utc(2026, 12, 1, 0, 0)),
        ("@yearly", utc(2027, 1, 1, 0, 0)),
        ("@annually", utc(2027, 1, 1, 0, 0)),
    ],
)
def test_every_alias_fires_at_the_start_of_its_period(alias, first_fire):
    assert next_fire_after(alias, MONDAY, "UTC") == first_fire


def test_aliases_are_case_insensitive():
    assert next_fire_after("@Daily", MONDAY, "UTC") == next_fire_after("@daily", MONDAY, "UTC")


def test_five_fields_start_with_the_minute():
    assert next_fire_after("0 21 * * *", MONDAY, "UTC") == utc(2026, 11, 23, 21, 0)


def test_six_fields_start_with_the_second():
    assert next_fire_after("30 * * * * *", MONDAY, "UTC") == utc(2026, 11, 23, 10, 17, 30)


def test_six_fields_with_a_fixed_time_of_day():
    assert next_fire_after("15 30 9 * * MON-FRI", MONDAY, "UTC") == utc(2026, 11, 24, 9, 30, 15)


def test_seconds_step_fires_every_few_seconds():
    assert next_fire_times("*/20 * * * * *", MONDAY, 4, "UTC") == [
        utc(2026, 11, 23, 10, 17, 20),
        utc(2026, 11, 23, 10, 17, 40),
        utc(2026, 11, 23, 10, 18, 0),
        utc(2026, 11, 23, 10, 18, 20),
    ]


def test_a_fire_time_is_strictly_after_the_given_moment():
    assert next_fire_after("0 21 * * *", utc(2026, 11, 23, 21, 0), "UTC") == utc(2026, 11, 24, 21, 0)


def test_microseconds_past_a_slot_move_on_to_the_next_slot():
    after = utc(2026, 11, 23, 10, 17, 30).replace(microsecond=500)
    assert next_fire_after("* * * * * *", after, "UTC") == utc(2026, 11, 23, 10, 17, 31)


def test_fire_times_are_aware_utc_datetimes():
    fire = next_fire_after("0 21 * * *", MONDAY, LONDON)
    assert fire.tzinfo is UTC


def test_next_fire_times_returns_count_times_in_order():
    assert next_fire_times("0 9,17 * * *", MONDAY, 3, "UTC") == [
        utc(2026, 11, 23, 17, 0),
        utc(2026, 11, 24, 9, 0),
        utc(2026, 11, 24, 17, 0),
    ]


def test_fields_are_matched_in_the_schedule_time_zone():
    # 21:00 in New York in November is 02:00 UTC the next day.
    assert next_fire_after("0 21 * * *", MONDAY, NEW_YORK) == utc(2026, 11, 24, 2, 0)


def test_a_tzinfo_object_works_as_well_as_a_zone_name():
    assert next_fire_after("0 21 * * *", MONDAY, ZoneInfo(NEW_YORK)) == utc(2026, 11, 24, 2, 0)


def test_weekday_range_skips_the_weekend():
    friday_evening = utc(2026, 11, 27, 18, 0)
    assert next_fire_after("0 9 * * MON-FRI", friday_evening, "UTC") == utc(2026, 11, 30, 9, 0)


def test_range_with_step_and_list_of_months():
    start = utc(2026, 6, 30, 23, 0)
    assert next_fire_times("5,35 8-18/5 * JAN,JUL *", start, 5, "UTC") == [
        utc(2026, 7, 1, 8, 5),
        utc(2026, 7, 1, 8, 35),
        utc(2026, 7, 1, 13, 5),
        utc(2026, 7, 1, 13, 35),
        utc(2026, 7, 1, 18, 5),
    ]


def test_month_and_day_names_are_case_insensitive():
    assert parse("0 9 * jan mon").fields == parse("0 9 * JAN MON").fields == ("0", "0", "9", "*", "1", "1")


def test_weekday_seven_is_sunday_like_zero():
    assert next_fire_after("0 0 * * 7", MONDAY, "UTC") == next_fire_after("0 0 * * 0", MONDAY, "UTC")


def test_a_weekday_range_may_end_on_sunday():
    assert next_fire_times("0 0 * * FRI-SUN", MONDAY, 3, "UTC") == [
        utc(2026, 11, 27, 0, 0),
        utc(2026, 11, 28, 0, 0),
        utc(2026, 11, 29, 0, 0),
    ]


def test_quartz_question_mark_means_any_day():
    assert parse("0 0 12 ? * MON").fields == parse("0 0 12 * * MON").fields


def test_day_of_month_and_weekday_together_fire_on_either_like_classic_cron():
    # The 13th of December 2026 is a Sunday; Fridays are the 4th and 11th.
    start = utc(2026, 12, 1)
    assert next_fire_times("0 0 13 * FRI", start, 3, "UTC") == [
        utc(2026, 12, 4),
        utc(2026, 12, 11),
        utc(2026, 12, 13),
    ]


def test_last_day_of_the_month():
    assert next_fire_after("0 0 L * *", utc(2028, 2, 1), "UTC") == utc(2028, 2, 29)


def test_nth_weekday_of_the_month():
    assert next_fire_after("0 0 * * MON#2", utc(2026, 12, 1), "UTC") == utc(2026, 12, 14)


def test_february_29th_fires_in_the_next_leap_year():
    assert next_fire_after("0 0 29 2 *", MONDAY, "UTC") == utc(2028, 2, 29)


def test_parse_is_cached():
    assert parse("*/5 * * * *") is parse("*/5 * * * *")


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire_after("* * * * *", datetime(2026, 1, 1), "UTC")


def test_an_unknown_time_zone_is_refused_by_name():
    with pytest.raises(ValueError, match="'Mars/Olympus' is not an IANA time zone"):
        next_fire_after("* * * * *", MONDAY, "Mars/Olympus")


# -- invalid expressions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "the expression is empty"),
        ("   ", "the expression is empty"),
        ("* * * *", "expected 5 fields (minute hour day month weekday) or 6 (second first), got 4"),
        ("* * * * * * *", "expected 5 fields (minute hour day month weekday) or 6 (second first), got 7"),
        ("@fortnightly", "unknown alias '@fortnightly'"),
        ("61 * * * *", "minute field '61' is out of range 0-59"),
        ("0 24 * * *", "hour field '24' is out of range 0-23"),
        ("0 0 0 * *", "day-of-month field '0' is out of range 1-31"),
        ("0 0 * 13 *", "month field '13' is out of range 1-12"),
        ("0 0 * * 8", "day-of-week field '8' is out of range 0-7"),
        ("60 * * * * *", "second field '60' is out of range 0-59"),
        ("x * * * *", "minute field 'x' is not a number 0-59"),
        ("0 0 * JANUARY *", "month field 'JANUARY' is not a month name (JAN-DEC) or number 1-12"),
        ("0 0 * * MONDAY", "day-of-week field 'MONDAY' is not a day name (SUN-SAT) or number 0-7"),
        ("-5 * * * *", "minute field '-5': a range needs a start and an end"),
        ("0 0 * * MON-", "day-of-week field 'MON-': a range needs a start and an end"),
        ("5-2 * * * *", "minute field range '5-2' runs backwards"),
        ("0 22-2 * * *", "write it as two ranges, e.g. '22-23,0-2'"),
        ("*/0 * * * *", "minute field '*/0': step must be at least 1"),
        ("*/x * * * *", "minute field '*/x': step 'x' is not a number"),
        ("1,,2 * * * *", "minute field '1,,2' has an empty item in its list"),
        ("? * * * *", "'?' is only allowed in the day-of-month and day-of-week fields"),
        ("0 0 * * MON#6", "the number after '#' must be 1-5"),
        ("0 0 30 2 *", "day 30 never occurs in February"),
        ("0 0 31 4,6 *", "day 31 never occurs in April, June"),
        ("0 0 15W * *", "day-of-month field '15W' is not a number 1-31"),
    ],
)
def test_invalid_expression_says_which_field_is_wrong_and_why(expression, message):
    with pytest.raises(InvalidCronExpression) as raised:
        parse(expression)
    assert message in str(raised.value)


def test_invalid_expression_is_a_value_error_that_survives_pickling():
    with pytest.raises(ValueError) as raised:
        parse("61 * * * *")
    copy = pickle.loads(pickle.dumps(raised.value))  # noqa: S301 - bytes this test just made
    assert (copy.expression, str(copy)) == ("61 * * * *", "minute field '61' is out of range 0-59")


def test_february_30th_is_valid_when_a_weekday_can_match_instead():
    # Classic cron ORs a restricted day-of-month with a restricted weekday: Mondays in February fire.
    assert next_fire_after("0 0 30 2 MON", utc(2027, 1, 1), "UTC") == utc(2027, 2, 1)


# -- DST: spring forward (a local time is skipped) ----------------------------------------------------------


def test_new_york_skipped_time_fires_once_when_the_gap_ends():
    # 2026-03-08: 02:00 EST jumps to 03:00 EDT, so 02:30 never happens; the job runs at 03:00 EDT instead.
    assert next_fire_times("30 2 * * *", utc(2026, 3, 7, 12), 2, NEW_YORK) == [
        utc(2026, 3, 8, 7, 0),  # 03:00 EDT
        utc(2026, 3, 9, 6, 30),  # 02:30 EDT the next night
    ]


def test_london_skipped_time_fires_once_when_the_gap_ends():
    # 2026-03-29: 01:00 GMT jumps to 02:00 BST.
    assert next_fire_times("30 1 * * *", utc(2026, 3, 28, 12), 2, LONDON) == [
        utc(2026, 3, 29, 1, 0),  # 02:00 BST
        utc(2026, 3, 30, 0, 30),  # 01:30 BST
    ]


def test_lord_howe_skipped_half_hour_fires_when_its_gap_ends():
    # 2026-10-04: 02:00 +10:30 jumps to 02:30 +11:00, a 30-minute gap.
    assert next_fire_times("15 2 * * *", utc(2026, 10, 3, 0), 2, LORD_HOWE) == [
        utc(2026, 10, 3, 15, 30),  # 02:30 +11:00
        utc(2026, 10, 4, 15, 15),  # 02:15 +11:00 the next night
    ]


def test_several_skipped_times_collapse_into_one_run_at_the_gap_end():
    # 02:00 and 02:30 are both skipped and 03:00 is a slot too: one run at 03:00 EDT, then 03:30.
    assert next_fire_times("0,30 2,3 * * *", utc(2026, 3, 8, 6), 2, NEW_YORK) == [
        utc(2026, 3, 8, 7, 0),
        utc(2026, 3, 8, 7, 30),
    ]


def test_skipped_time_with_seconds_fires_exactly_at_the_gap_end():
    assert next_fire_after("15 30 1 * * *", utc(2026, 3, 28, 12), LONDON) == utc(2026, 3, 29, 1, 0, 0)


def test_every_fifteen_minutes_continues_in_real_time_across_spring_forward():
    # 01:45 EST is followed 15 real minutes later by 03:00 EDT.
    assert next_fire_times("*/15 * * * *", utc(2026, 3, 8, 6, 40), 3, NEW_YORK) == [
        utc(2026, 3, 8, 6, 45),  # 01:45 EST
        utc(2026, 3, 8, 7, 0),  # 03:00 EDT
        utc(2026, 3, 8, 7, 15),  # 03:15 EDT
    ]


def test_every_fifteen_minutes_continues_across_lord_howe_half_hour_gap():
    assert next_fire_times("*/15 * * * *", utc(2026, 10, 3, 15, 10), 3, LORD_HOWE) == [
        utc(2026, 10, 3, 15, 15),  # 01:45 +10:30
        utc(2026, 10, 3, 15, 30),  # 02:30 +11:00 (02:00 and 02:15 do not exist)
        utc(2026, 10, 3, 15, 45),  # 02:45 +11:00
    ]


def test_every_two_hours_runs_the_skipped_two_oclock_when_the_gap_ends():
    assert next_fire_times("0 */2 * * *", utc(2026, 3, 8, 4), 3, NEW_YORK) == [
        utc(2026, 3, 8, 5, 0),  # 00:00 EST
        utc(2026, 3, 8, 7, 0),  # 03:00 EDT, for the 02:00 that never happened
        utc(2026, 3, 8, 8, 0),  # 04:00 EDT
    ]


def test_every_second_continues_in_real_time_across_spring_forward():
    assert next_fire_times("* * * * * *", utc(2026, 3, 29, 0, 59, 58), 3, LONDON) == [
        utc(2026, 3, 29, 0, 59, 59),  # 00:59:59 GMT
        utc(2026, 3, 29, 1, 0, 0),  # 02:00:00 BST
        utc(2026, 3, 29, 1, 0, 1),
    ]


# -- DST: fall back (a local hour repeats) ------------------------------------------------------------------


def test_new_york_repeated_hour_runs_a_fixed_time_job_once_on_the_first_occurrence():
    # 2026-11-01: 02:00 EDT falls back to 01:00 EST, so 01:30 happens twice.
    assert next_fire_times("30 1 * * *", utc(2026, 10, 31, 12), 2, NEW_YORK) == [
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT
        utc(2026, 11, 2, 6, 30),  # 01:30 EST the next night, not 01:30 EST the same night
    ]


def test_london_repeated_hour_runs_a_fixed_time_job_once():
    # 2026-10-25: 02:00 BST falls back to 01:00 GMT.
    assert next_fire_times("30 1 * * *", utc(2026, 10, 24, 12), 2, LONDON) == [
        utc(2026, 10, 25, 0, 30),  # 01:30 BST
        utc(2026, 10, 26, 1, 30),  # 01:30 GMT the next night
    ]


def test_lord_howe_repeated_half_hour_runs_a_fixed_time_job_once():
    # 2026-04-05: 02:00 +11:00 falls back to 01:30 +10:30, so 01:30-02:00 happens twice.
    assert next_fire_times("45 1 * * *", utc(2026, 4, 4, 0), 2, LORD_HOWE) == [
        utc(2026, 4, 4, 14, 45),  # 01:45 +11:00
        utc(2026, 4, 5, 15, 15),  # 01:45 +10:30 the next night
    ]


def test_asking_from_inside_the_second_copy_does_not_run_the_fixed_time_job_again():
    after = local(NEW_YORK, 2026, 11, 1, 1, 15, fold=1)  # 01:15 EST, after 01:30 EDT already fired
    assert next_fire_after("30 1 * * *", after, NEW_YORK) == utc(2026, 11, 2, 6, 30)


def test_every_fifteen_minutes_runs_through_both_copies_of_the_repeated_hour():
    assert next_fire_times("*/15 * * * *", utc(2026, 11, 1, 5, 40), 6, NEW_YORK) == [
        utc(2026, 11, 1, 5, 45),  # 01:45 EDT
        utc(2026, 11, 1, 6, 0),  # 01:00 EST
        utc(2026, 11, 1, 6, 15),  # 01:15 EST
        utc(2026, 11, 1, 6, 30),  # 01:30 EST
        utc(2026, 11, 1, 6, 45),  # 01:45 EST
        utc(2026, 11, 1, 7, 0),  # 02:00 EST
    ]


def test_every_fifteen_minutes_runs_through_both_copies_of_lord_howe_repeated_half_hour():
    assert next_fire_times("*/15 * * * *", utc(2026, 4, 4, 14, 20), 5, LORD_HOWE) == [
        utc(2026, 4, 4, 14, 30),  # 01:30 +11:00
        utc(2026, 4, 4, 14, 45),  # 01:45 +11:00
        utc(2026, 4, 4, 15, 0),  # 01:30 +10:30
        utc(2026, 4, 4, 15, 15),  # 01:45 +10:30
        utc(2026, 4, 4, 15, 30),  # 02:00 +10:30
    ]


def test_hourly_job_runs_every_real_hour_through_the_repeated_hour():
    assert next_fire_times("@hourly", utc(2026, 10, 24, 23, 30), 3, LONDON) == [
        utc(2026, 10, 25, 0, 0),  # 01:00 BST
        utc(2026, 10, 25, 1, 0),  # 01:00 GMT
        utc(2026, 10, 25, 2, 0),  # 02:00 GMT
    ]


def test_six_field_fixed_time_job_runs_once_in_the_repeated_hour():
    assert next_fire_times("10 30 1 * * *", utc(2026, 10, 24, 12), 2, LONDON) == [
        utc(2026, 10, 25, 0, 30, 10),  # 01:30:10 BST
        utc(2026, 10, 26, 1, 30, 10),  # 01:30:10 GMT the next night
    ]


def test_every_ten_seconds_runs_through_the_repeated_hour_in_real_time():
    start = utc(2026, 10, 25, 0, 59, 40)  # 01:59:40 BST
    assert next_fire_times("*/10 * * * * *", start, 3, LONDON) == [
        utc(2026, 10, 25, 0, 59, 50),  # 01:59:50 BST
        utc(2026, 10, 25, 1, 0, 0),  # 01:00:00 GMT
        utc(2026, 10, 25, 1, 0, 10),
    ]


# -- descriptions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("0 21 * * *", "At 21:00 every day"),
        ("0 21 * * SUN", "At 21:00 on Sunday"),
        ("0 9 * * MON-FRI", "At 09:00 on Monday through Friday"),
        ("*/15 * * * *", "Every 15 minutes"),
        ("* * * * *", "Every minute"),
        ("0 */6 * * *", "Every 6 hours"),
        ("*/10 * * * * *", "Every 10 seconds"),
        ("30 * * * * *", "At second 30 of every minute"),
        ("0 2 1 * *", "At 02:00 on the first day of every month"),
        ("0 0 L * *", "At 00:00 on the last day of every month"),
        ("0 0 * * MON#2", "At 00:00 on the second Monday of the month"),
        ("@hourly", "At the start of every hour"),
        ("@daily", "At 00:00 every day"),
        ("@weekly", "At 00:00 on Sunday"),
        ("@yearly", "At 00:00 on January 1"),
        ("15 30 9 * * *", "At 09:30:15 every day"),
    ],
)
def test_describe_reads_as_plain_english(expression, words):
    assert describe(expression) == words


def test_describe_refuses_an_invalid_expression_with_the_same_message():
    with pytest.raises(InvalidCronExpression, match="hour field '25' is out of range 0-23"):
        describe("0 25 * * *")


# -- the DST rules, checked against their literal definition ------------------------------------------------

TRANSITIONS_2026 = {
    "London spring forward": (LONDON, utc(2026, 3, 29, 1, 0)),
    "London fall back": (LONDON, utc(2026, 10, 25, 1, 0)),
    "New York spring forward": (NEW_YORK, utc(2026, 3, 8, 7, 0)),
    "New York fall back": (NEW_YORK, utc(2026, 11, 1, 6, 0)),
    "Lord Howe fall back": (LORD_HOWE, utc(2026, 4, 4, 15, 0)),
    "Lord Howe spring forward": (LORD_HOWE, utc(2026, 10, 3, 15, 30)),
}
MINUTE_EXPRESSIONS = [
    "30 1 * * *",
    "30 2 * * *",
    "15 2 * * *",
    "45 1 * * *",
    "59 1 * * *",
    "0 2 * * *",
    "0,30 2,3 * * *",
    "0-59/20 1-3 * * *",
    "*/15 * * * *",
    "*/7 * * * *",
    "0 * * * *",
    "0 */2 * * *",
    "5-55/10 * * * *",
    "*/15 1,2 * * *",
]
SECOND_EXPRESSIONS = ["10 30 1 * * *", "0 0 2 * * *", "15 30 * * * *", "*/20 * * * * *"]


def literal_fire_times(expression: str, zone_name: str, start: datetime, end: datetime, step: timedelta):
    """The DST rules applied word for word while walking real time from ``start`` to ``end``.

    A wall-clock time that matches fires when real time reaches it; a fixed-time job only on its first
    occurrence. When the wall clock jumps forward, a match among the skipped times fires at the jump.
    """
    zone = ZoneInfo(zone_name)
    cron = parse(expression)
    matching_walls = wall_clock_matches(
        cron.canonical,
        start.replace(tzinfo=None) - timedelta(hours=15),
        end.replace(tzinfo=None) + timedelta(hours=15),
    )

    def matches(wall: datetime) -> bool:
        return wall in matching_walls

    fires = []
    previous_wall = start.astimezone(zone).replace(tzinfo=None)
    moment = start + step
    while moment <= end:
        local = moment.astimezone(zone)
        wall = local.replace(tzinfo=None)
        skipped = [previous_wall + step * n for n in range(1, (wall - previous_wall) // step)]
        first_occurrence = local.fold == 0
        if any(matches(time) for time in skipped) or (
            matches(wall) and (first_occurrence or not cron.follows_wall_clock)
        ):
            fires.append(moment)
        previous_wall = wall
        moment += step
    return fires


def wall_clock_matches(canonical: str, first: datetime, last: datetime) -> set[datetime]:
    """Every naive wall-clock time in [first, last] that cronsim matches (no time zone involved)."""
    walls = set()
    for wall in CronSim(canonical, first - timedelta(seconds=1)):
        if wall > last:
            return walls
        walls.add(wall)
    return walls


def computed_fire_times(expression: str, zone_name: str, start: datetime, end: datetime) -> list[datetime]:
    fires = []
    fire = next_fire_after(expression, start, zone_name)
    while fire <= end:
        fires.append(fire)
        fire = next_fire_after(expression, fire, zone_name)
    return fires


@pytest.mark.parametrize("expression", MINUTE_EXPRESSIONS)
@pytest.mark.parametrize("transition", list(TRANSITIONS_2026))
def test_fire_times_around_each_transition_follow_the_rules_literally(transition, expression):
    zone_name, instant = TRANSITIONS_2026[transition]
    start, end = instant - timedelta(hours=4), instant + timedelta(hours=4)
    expected = literal_fire_times(expression, zone_name, start, end, timedelta(minutes=1))
    assert computed_fire_times(expression, zone_name, start, end) == expected


@pytest.mark.parametrize("expression", SECOND_EXPRESSIONS)
@pytest.mark.parametrize("transition", list(TRANSITIONS_2026))
def test_six_field_fire_times_around_each_transition_follow_the_rules_literally(transition, expression):
    zone_name, instant = TRANSITIONS_2026[transition]
    start, end = instant - timedelta(minutes=70), instant + timedelta(minutes=70)
    expected = literal_fire_times(expression, zone_name, start, end, timedelta(seconds=1))
    assert computed_fire_times(expression, zone_name, start, end) == expected


@pytest.mark.parametrize("expression", ["30 1 * * *", "15 2 * * *", "*/15 * * * *", "0 */2 * * *"])
@pytest.mark.parametrize("transition", list(TRANSITIONS_2026))
def test_from_any_moment_near_a_transition_the_next_fire_time_is_the_first_literal_one(
    transition, expression
):
    zone_name, instant = TRANSITIONS_2026[transition]
    fires = literal_fire_times(
        expression,
        zone_name,
        instant - timedelta(hours=5),
        instant + timedelta(hours=30),
        timedelta(minutes=1),
    )
    # A moment every 7 min 13.5 s (so also mid-second), through the gap or both copies of the repeated hour.
    moments = [instant + timedelta(seconds=433.5 * n) for n in range(-33, 34)]
    assert [next_fire_after(expression, moment, zone_name) for moment in moments] == [
        min(fire for fire in fires if fire > moment) for moment in moments
    ]


def test_an_after_given_in_another_zone_means_the_same_instant():
    after_utc = datetime(2026, 10, 24, 22, 59, tzinfo=UTC)
    after_london = after_utc.astimezone(ZoneInfo("Europe/London"))

    for expression in ("*/30 * * * *", "0 21 * * *"):
        assert next_fire_after(expression, after_london, "Europe/London") == next_fire_after(
            expression, after_utc, "Europe/London"
        )
