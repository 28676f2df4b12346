"""Cron expressions: parsing with clear errors, fire times across DST, and descriptions in plain English.

Two forms are accepted: 5 fields (minute hour day-of-month month day-of-week) and 6 fields with seconds first
(Quartz/Hangfire order), plus the aliases @yearly @annually @monthly @weekly @daily @midnight @hourly.
Calendar matching is cronsim's; this module adds user-facing validation and the DST rules, which are
computed in the schedule's IANA time zone:

- A local time skipped by a spring-forward transition fires once, at the instant the gap ends
  ("30 2 * * *" fires at 03:00 on the night New York skips 02:00-03:00).
- In a repeated fall-back hour, a job at a fixed wall-clock time (no ``*`` in its second, minute and hour
  fields, e.g. "30 1 * * *") fires once, on the first occurrence. A job whose second, minute or hour field
  starts with ``*`` ("*/15 * * * *", "0 * * * *") follows real elapsed time, so it keeps firing through both
  copies of the repeated hour. This is Debian cron's rule, which is what people expect from cron.
"""

import calendar
import math
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache

from cronsim import CronSim, CronSimError

from tenants.timezones import is_time_zone, unknown_time_zone_message

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

FIELD_COUNT_HELP = "expected 5 fields (minute hour day month weekday) or 6 (second first)"

MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
# The longest each month can be (February counts its leap day), for "day 31 never occurs in April".
LONGEST_MONTH = {month: calendar.monthrange(2024, month)[1] for month in range(1, 13)}

# cronsim gives up after 50 years without a match, and calendars repeat every 28 years (leap days, weekdays
# included), so an expression with no match in the 50 years from here never matches. Naive on purpose: cronsim
# then matches plain wall-clock time.
_NEVER_CHECK_FROM = datetime(2000, 1, 1)
# Zones without transitions, where the wall clock and elapsed time agree (a shortcut, not a rule).
_UTC_ZONE_KEYS = {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu"}
# Transitions are months apart: a fire time this close, in the same UTC offset, crossed none.
_NO_TRANSITION_WITHIN = timedelta(days=7)


class InvalidCronExpression(ValueError):
    """A cron expression that cannot be used; ``str()`` says which field is wrong and why."""

    def __init__(self, expression: str, reason: str) -> None:
        super().__init__(reason)
        self.expression = expression
        self.reason = reason

    def __reduce__(self):
        return (type(self), (self.expression, self.reason))


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_offset: int = 0

    @property
    def bounds(self) -> str:
        return f"{self.low}-{self.high}"


SECOND = _FieldSpec("second", 0, 59)
MINUTE = _FieldSpec("minute", 0, 59)
HOUR = _FieldSpec("hour", 0, 23)
DAY_OF_MONTH = _FieldSpec("day-of-month", 1, 31)
MONTH = _FieldSpec("month", 1, 12, tuple(MONTH_NAMES), name_offset=1)
DAY_OF_WEEK = _FieldSpec("day-of-week", 0, 7, tuple(DAY_NAMES))
FIELDS = (SECOND, MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK)

_NTH_WEEKDAY = re.compile(r"^(?P<day>\w+)#(?P<nth>\w*)$")
_LAST_WEEKDAY = re.compile(r"^(?P<day>\w+)L$", re.IGNORECASE)


@dataclass(frozen=True)
class CronExpression:
    """A parsed, valid cron expression.

    ``fields`` are always six (second first) in a canonical numeric form; ``has_seconds`` says whether the
    expression was written with its seconds field.
    """

    expression: str
    fields: tuple[str, str, str, str, str, str]
    has_seconds: bool

    @property
    def follows_wall_clock(self) -> bool:
        """True for fixed-time jobs ("30 1 * * *"): they fire once in a repeated fall-back hour."""
        return not any(field.startswith("*") for field in self.fields[:3])

    @property
    def canonical(self) -> str:
        """The expression as cronsim reads it: 5 fields unless it was written with seconds."""
        return " ".join(self.fields if self.has_seconds else self.fields[1:])

    def __str__(self) -> str:
        return self.expression


@lru_cache(maxsize=2048)
def parse(expression: str) -> CronExpression:
    """Parse a 5- or 6-field cron expression or an alias; raise InvalidCronExpression saying what is wrong."""
    text = " ".join(str(expression).split())
    if not text:
        raise InvalidCronExpression(expression, f"the expression is empty; {FIELD_COUNT_HELP}")
    if text.startswith("@"):
        alias = text.lower()
        if alias not in ALIASES:
            known = ", ".join(ALIASES)
            raise InvalidCronExpression(expression, f"unknown alias '{text}'; use one of {known}")
        parts = ALIASES[alias].split()
    else:
        parts = text.split()
    if len(parts) not in (5, 6):
        raise InvalidCronExpression(expression, f"{FIELD_COUNT_HELP}, got {len(parts)}")
    has_seconds = len(parts) == 6
    if not has_seconds:
        parts = ["0", *parts]
    fields = tuple(_normalise_field(expression, spec, part) for spec, part in zip(FIELDS, parts, strict=True))
    _check_days_exist(expression, fields)
    parsed = CronExpression(expression=text, fields=fields, has_seconds=has_seconds)
    try:
        next(CronSim(parsed.canonical, _NEVER_CHECK_FROM))
    except CronSimError as error:
        raise InvalidCronExpression(expression, f"cron cannot use it ({error})") from None
    except StopIteration:
        raise InvalidCronExpression(expression, "it never matches any date") from None
    return parsed


def next_fire_after(expression: str, after: datetime, tz: str | tzinfo = "UTC") -> datetime:
    """The first fire time strictly after ``after`` (aware), as an aware UTC datetime.

    Fields are matched in ``tz`` (an IANA name or a tzinfo), with the DST rules in this module's docstring.
    """
    cron = parse(expression)
    zone = time_zone(tz)
    _require_aware(after, "after")
    # The walks below add offsets to ``after`` as to a UTC time: an ``after`` in another zone would move.
    after = after.astimezone(UTC)
    if cron.follows_wall_clock or _is_utc(zone):
        return _next_on_wall_clock(cron, after, zone)
    return _next_in_elapsed_time(cron, after, zone)


def next_fire_times(expression: str, start: datetime, count: int, tz: str | tzinfo = "UTC") -> list[datetime]:
    """The first ``count`` fire times strictly after ``start``, as aware UTC datetimes in order."""
    times: list[datetime] = []
    after = start
    for _ in range(count):
        after = next_fire_after(expression, after, tz)
        times.append(after)
    return times


def time_zone(tz: str | tzinfo) -> tzinfo:
    """The tzinfo for an IANA name (or the tzinfo itself); ValueError naming the zone when it is unknown."""
    if isinstance(tz, tzinfo):
        return tz
    if not isinstance(tz, str) or not is_time_zone(tz):
        raise ValueError(unknown_time_zone_message(tz))
    return zoneinfo.ZoneInfo(tz)


def describe(expression: str) -> str:
    """The expression in plain English, e.g. "At 21:00 every day" or "Every 15 minutes"."""
    cron = parse(expression)
    return _describe_regular_interval(cron) or CronSim(cron.canonical, _NEVER_CHECK_FROM).explain()


# -- fire times ---------------------------------------------------------------------------------------------


def _next_on_wall_clock(cron: CronExpression, after: datetime, zone: tzinfo) -> datetime:
    """Match on naive local time, then place each match on the UTC line (first occurrence, or gap end)."""
    wall = after.astimezone(zone).replace(tzinfo=None)
    while True:
        wall = _next_wall_match(cron, wall)
        fire = _first_instant(wall, zone)
        # A match can land at or before ``after`` when ``after`` is in the second copy of a repeated hour
        # (that match already fired in the first copy), or when several skipped times share one gap end.
        if fire > after:
            return fire


def _next_in_elapsed_time(cron: CronExpression, after: datetime, zone: tzinfo) -> datetime:
    """Walk real time one stretch of constant UTC offset at a time; wall-clock matches fire as reached.

    cronsim's own time-zone mode is not used here: it jumps whole wall-clock hours in real time, and so
    misses the second copy of a repeated half hour (Australia/Lord_Howe).
    """
    start = after
    offset = after.astimezone(zone).utcoffset()
    wall = (start + offset).replace(tzinfo=None)
    while True:
        wall = _next_wall_match(cron, wall)
        fire = (wall - offset).replace(tzinfo=UTC)
        transition = _first_transition(zone, start, fire, offset)
        if transition is None:
            return fire
        new_offset = transition.astimezone(zone).utcoffset()
        wall_after_transition = (transition + new_offset).replace(tzinfo=None)
        if wall < wall_after_transition:
            # Only a spring-forward gap gets here: the match was skipped, so it fires as the gap ends.
            return transition
        # Carry on from the transition in the new offset (after a fall-back: through the repeated hour).
        start, offset = transition, new_offset
        wall = wall_after_transition - timedelta(seconds=1)


def _next_wall_match(cron: CronExpression, wall: datetime) -> datetime:
    """The first naive wall-clock time strictly after ``wall`` that the expression matches."""
    try:
        return next(CronSim(cron.canonical, wall))
    except StopIteration:
        raise InvalidCronExpression(cron.expression, "it never matches any date") from None


def _first_instant(wall_time: datetime, zone: tzinfo) -> datetime:
    """The UTC instant of a naive local time: its first occurrence, or the end of the gap it falls in."""
    fire = wall_time.replace(tzinfo=zone).astimezone(UTC)
    if fire.astimezone(zone).replace(tzinfo=None) == wall_time:
        return fire
    # With fold=1 a skipped time reads with the offset after the gap, which places it before the
    # transition; with fold=0 (``fire``) it reads with the offset before, which places it after.
    earliest = wall_time.replace(tzinfo=zone, fold=1).astimezone(UTC)
    transition = _first_transition(zone, earliest, fire, earliest.astimezone(zone).utcoffset())
    assert transition is not None, f"{wall_time} in {zone} is neither a real local time nor in a gap"
    return transition


def _first_transition(zone: tzinfo, start: datetime, end: datetime, offset: timedelta) -> datetime | None:
    """The first instant in (start, end] whose UTC offset in ``zone`` differs from ``offset``, else None.

    Assumes transitions are more than a week apart, as in every zone's rules in use.
    """
    if end - start <= _NO_TRANSITION_WITHIN and _offset_at(zone, end) == offset:
        return None
    low = start
    while True:
        high = min(low + _NO_TRANSITION_WITHIN, end)
        if _offset_at(zone, high) != offset:
            break
        if high == end:
            return None
        low = high
    # Transitions fall on whole seconds: bisect whole POSIX seconds, keeping offset(low) == offset.
    low_second, high_second = math.floor(low.timestamp()), math.ceil(high.timestamp())
    while high_second - low_second > 1:
        middle = (low_second + high_second) // 2
        if _offset_at(zone, datetime.fromtimestamp(middle, UTC)) == offset:
            low_second = middle
        else:
            high_second = middle
    return datetime.fromtimestamp(high_second, UTC)


def _offset_at(zone: tzinfo, moment: datetime) -> timedelta | None:
    return moment.astimezone(zone).utcoffset()


def _is_utc(zone: tzinfo) -> bool:
    return zone is UTC or getattr(zone, "key", None) in _UTC_ZONE_KEYS


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")


# -- parsing ------------------------------------------------------------------------------------------------


def _normalise_field(expression: str, spec: _FieldSpec, text: str) -> str:
    """Check one field and return it in cronsim's numeric form (names become numbers, ``?`` becomes ``*``)."""
    if text == "?":
        if spec not in (DAY_OF_MONTH, DAY_OF_WEEK):
            raise InvalidCronExpression(
                expression,
                f"{spec.name} field: '?' is only allowed in the day-of-month and day-of-week fields",
            )
        return "*"
    terms = text.split(",")
    if any(term == "" for term in terms):
        raise InvalidCronExpression(expression, f"{spec.name} field '{text}' has an empty item in its list")
    return ",".join(_normalise_term(expression, spec, term) for term in terms)


def _normalise_term(expression: str, spec: _FieldSpec, term: str) -> str:
    if spec is DAY_OF_MONTH and term.upper() in ("L", "LW"):
        return term.upper()
    if spec is DAY_OF_WEEK:
        nth = _NTH_WEEKDAY.match(term)
        if nth:
            return f"{_value(expression, spec, nth['day'])}#{_nth(expression, term, nth['nth'])}"
        last = _LAST_WEEKDAY.match(term)
        if last:
            return f"{_value(expression, spec, last['day'])}L"
    base, slash, step_text = term.partition("/")
    step = ""
    if slash:
        step = f"/{_step(expression, spec, term, step_text)}"
    if base == "*":
        return f"*{step}"
    start_text, dash, end_text = base.partition("-")
    if dash and not (start_text and end_text):
        raise InvalidCronExpression(
            expression, f"{spec.name} field '{term}': a range needs a start and an end, e.g. '1-5'"
        )
    start = _value(expression, spec, start_text)
    if not dash:
        return f"{start}{step}"
    end = _value(expression, spec, end_text)
    if spec is DAY_OF_WEEK and end == 0 and start > 0:
        end = 7  # "FRI-SUN": Sunday closes the week here
    if end < start:
        raise InvalidCronExpression(
            expression,
            f"{spec.name} field range '{base}' runs backwards; write it as two ranges, "
            f"e.g. '{start_text}-{spec.high},{spec.low}-{end_text}'",
        )
    return f"{start}-{end}{step}"


def _value(expression: str, spec: _FieldSpec, text: str) -> int:
    if text.upper() in spec.names:
        return spec.names.index(text.upper()) + spec.name_offset
    if not text.isdigit():
        kind = {MONTH: "a month name (JAN-DEC) or number", DAY_OF_WEEK: "a day name (SUN-SAT) or number"}
        expected = kind.get(spec, "a number")
        raise InvalidCronExpression(expression, f"{spec.name} field '{text}' is not {expected} {spec.bounds}")
    value = int(text)
    if not spec.low <= value <= spec.high:
        raise InvalidCronExpression(expression, f"{spec.name} field '{text}' is out of range {spec.bounds}")
    return value


def _step(expression: str, spec: _FieldSpec, term: str, text: str) -> int:
    if not text.isdigit():
        raise InvalidCronExpression(expression, f"{spec.name} field '{term}': step '{text}' is not a number")
    step = int(text)
    if step < 1:
        raise InvalidCronExpression(expression, f"{spec.name} field '{term}': step must be at least 1")
    return step


def _nth(expression: str, term: str, text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 5:
        raise InvalidCronExpression(
            expression,
            f"day-of-week field '{term}': the number after '#' must be 1-5 (which week of the month)",
        )
    return int(text)


def _check_days_exist(expression: str, fields: tuple[str, ...]) -> None:
    """Refuse "30 2" (February 30th) and the like, which would never fire."""
    day_of_month, month, day_of_week = fields[3], fields[4], fields[5]
    # With a restricted weekday too, cron fires on either match, so the weekday alone keeps it alive.
    if not (day_of_month.startswith("*") or day_of_week.startswith("*")):
        return
    days = _plain_values(day_of_month, DAY_OF_MONTH)
    months = _plain_values(month, MONTH)
    if not days or not months:
        return
    if min(days) > max(LONGEST_MONTH[m] for m in months):
        month_list = ", ".join(calendar.month_name[m] for m in sorted(months))
        raise InvalidCronExpression(expression, f"day {min(days)} never occurs in {month_list}")


def _plain_values(field: str, spec: _FieldSpec) -> set[int] | None:
    """The values a normalised field selects, or None when it uses L, LW or nth-weekday forms."""
    values: set[int] = set()
    for term in field.split(","):
        if any(marker in term for marker in ("L", "#")):
            return None
        base, _, step = term.partition("/")
        if base == "*":
            start, end = spec.low, spec.high
        elif "-" in base:
            start, end = (int(part) for part in base.split("-"))
        else:
            start = int(base)
            end = spec.high if step else start
        values.update(range(start, end + 1, int(step or 1)))
    return values


# -- descriptions -------------------------------------------------------------------------------------------

_UNIT_WORDS = ((SECOND, "second", 60), (MINUTE, "minute", 60), (HOUR, "hour", 24))


def _describe_regular_interval(cron: CronExpression) -> str | None:
    """ "Every 15 minutes" for "*/15 * * * *" and its kin, where cronsim would say "every 15th minute"."""
    if cron.fields[3:] != ("*", "*", "*"):
        return None
    for position, (_, word, size) in enumerate(_UNIT_WORDS):
        field = cron.fields[position]
        smaller = cron.fields[:position]
        larger = cron.fields[position + 1 : 3]
        if (
            not field.startswith("*/")
            or any(part != "0" for part in smaller)
            or any(p != "*" for p in larger)
        ):
            continue
        step = int(field[2:])
        if size % step == 0:
            return f"Every {step} {word}s" if step > 1 else f"Every {word}"
    return None
