"""When a schedule fires: the one interface the dispatcher and the admin use for every trigger kind.

A schedule is a ``jobs.models.Schedule`` or any object with its trigger attributes: ``trigger_kind``,
``cron_expression``, ``interval_seconds``, ``interval_anchor``, ``run_at``, ``timezone`` and ``created_at``.

- cron: the expression's fire times in the schedule's time zone (DST rules in ``jobs.cron``).
- interval: ``anchor + k * interval`` for k = 0, 1, 2, ... in real elapsed time, so DST never shifts them;
  the anchor is ``interval_anchor``, else ``created_at`` (else, for an unsaved schedule, the ``after`` asked
  about).
- once: ``run_at``, while it is still ahead.

A schedule's window narrows any trigger (Temporal's start/end, Quartz's simplest calendar): no slot before
``starts_at`` or after ``ends_at`` (both inclusive), and none on an ``excluded_dates`` entry, a date in the
schedule's time zone. Objects without these attributes have no window.

Every time returned is an aware UTC datetime.
"""

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Protocol

from jobs import cron
from tenants.timezones import is_time_zone, unknown_time_zone_message

CRON, INTERVAL, ONCE = "cron", "interval", "once"
TRIGGER_KINDS = (CRON, INTERVAL, ONCE)
# Enough for years of holidays; bounds the walk past excluded days in ``next_fire_after``.
MAX_EXCLUDED_DATES = 1000
_TICK = timedelta(microseconds=1)


class TriggerFields(Protocol):
    trigger_kind: str
    cron_expression: str
    interval_seconds: int | None
    interval_anchor: datetime | None
    run_at: datetime | None
    timezone: str
    created_at: datetime | None
    # Optional (read with a default of "no window"): starts_at, ends_at, excluded_dates.


class InvalidTrigger(ValueError):
    """A trigger that cannot be used. ``errors`` maps a Schedule field name to a message for that field."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(self._text())

    def __reduce__(self):
        return (type(self), (self.errors,))

    def __str__(self) -> str:
        return self._text()

    def _text(self) -> str:
        return "; ".join(f"{field}: {message}" for field, message in self.errors.items())


def validate_trigger(
    *,
    trigger_kind: str,
    cron_expression: str | None,
    interval_seconds: int | None,
    interval_anchor: datetime | None,
    run_at: datetime | None,
    timezone: str | None,
) -> None:
    """Raise InvalidTrigger naming every field that keeps this trigger from firing as meant; else None."""
    errors: dict[str, str] = {}
    if not timezone:
        errors["timezone"] = "Choose a time zone, e.g. Europe/London or UTC."
    elif not is_time_zone(timezone):
        errors["timezone"] = unknown_time_zone_message(timezone)

    if trigger_kind == CRON:
        if not (cron_expression or "").strip():
            errors["cron_expression"] = "Enter a cron expression, e.g. '0 21 * * *' or '@daily'."
        else:
            try:
                cron.parse(cron_expression)
            except cron.InvalidCronExpression as invalid:
                errors["cron_expression"] = f"Invalid cron expression: {invalid}."
    elif trigger_kind == INTERVAL:
        if interval_seconds is None:
            errors["interval_seconds"] = "Enter how many seconds apart the runs are."
        elif not isinstance(interval_seconds, int) or isinstance(interval_seconds, bool):
            errors["interval_seconds"] = (
                f"The interval must be a whole number of seconds, not {interval_seconds!r}."
            )
        elif interval_seconds < 1:
            errors["interval_seconds"] = "The interval must be at least 1 second."
        if interval_anchor is not None and not _is_aware(interval_anchor):
            errors["interval_anchor"] = "The anchor needs a time zone (an aware datetime)."
    elif trigger_kind == ONCE:
        if run_at is None:
            errors["run_at"] = "Enter the date and time to run at."
        elif not _is_aware(run_at):
            errors["run_at"] = "The run time needs a time zone (an aware datetime)."
    else:
        choices = ", ".join(TRIGGER_KINDS)
        errors["trigger_kind"] = f"Unknown trigger kind {trigger_kind!r}; choose one of {choices}."

    if errors:
        raise InvalidTrigger(errors)


def validate_window(*, starts_at: datetime | None, ends_at: datetime | None, excluded_dates: object) -> None:
    """Raise InvalidTrigger naming each window field that cannot be used (naive times, an end before the
    start, entries that are not dates); else None."""
    errors: dict[str, str] = {}
    for field, moment in (("starts_at", starts_at), ("ends_at", ends_at)):
        if moment is not None and not _is_aware(moment):
            errors[field] = "This time needs a time zone (an aware datetime)."
    if not errors and starts_at is not None and ends_at is not None and ends_at <= starts_at:
        errors["ends_at"] = "The end must come after the start."
    try:
        dates = parse_excluded_dates(excluded_dates)
    except ValueError as invalid:
        errors["excluded_dates"] = str(invalid)
    else:
        if len(dates) > MAX_EXCLUDED_DATES:
            errors["excluded_dates"] = f"At most {MAX_EXCLUDED_DATES} dates; this list has {len(dates)}."
    if errors:
        raise InvalidTrigger(errors)


def parse_excluded_dates(values: object) -> tuple[date, ...]:
    """``["2026-12-25", …]`` (or dates) as sorted, distinct dates; ValueError naming the first bad entry."""
    if values in (None, ""):
        return ()
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValueError('Excluded dates are a list of dates as YYYY-MM-DD, e.g. ["2026-12-25"].')
    return _parse_dates(tuple(value if isinstance(value, str) else repr(value) for value in values))


@lru_cache(maxsize=256)
def _parse_dates(values: tuple[str, ...]) -> tuple[date, ...]:
    dates = set()
    for value in values:
        try:
            dates.add(date.fromisoformat(value.strip()))
        except ValueError:
            raise ValueError(f"{value!r} is not a date as YYYY-MM-DD.") from None
    return tuple(sorted(dates))


def next_fire_after(schedule: TriggerFields, after: datetime) -> datetime | None:
    """The schedule's first slot strictly after ``after`` (aware UTC), or None when no slot is left.

    The slot lies inside the schedule's window: not before ``starts_at``, not after ``ends_at``, and not on
    an excluded date (in the schedule's time zone).
    """
    if not _is_aware(after):
        raise ValueError(f"after must be a timezone-aware datetime, got {after!r}")
    starts_at, ends_at, excluded = _window(schedule)
    after = after.astimezone(UTC)
    if starts_at is not None and after < starts_at:
        after = starts_at.astimezone(UTC) - _TICK  # the first slot at or after the start
    # Each pass moves past one excluded day, so the walk ends within len(excluded) + 1 passes.
    for _ in range(len(excluded) + 1):
        slot = _next_trigger_slot(schedule, after)
        if slot is None or (ends_at is not None and slot > ends_at):
            return None
        local_day = slot.astimezone(cron.time_zone(schedule.timezone)).date()
        if local_day not in excluded:
            return slot
        after = max(slot, _start_of_day(local_day + timedelta(days=1), schedule.timezone) - _TICK)
    return None


def is_within_window(schedule: TriggerFields, slot: datetime) -> bool:
    """Whether ``slot`` lies inside the schedule's window (between its start and end, not excluded)."""
    starts_at, ends_at, excluded = _window(schedule)
    if (starts_at is not None and slot < starts_at) or (ends_at is not None and slot > ends_at):
        return False
    return not excluded or slot.astimezone(cron.time_zone(schedule.timezone)).date() not in excluded


def _window(schedule: TriggerFields) -> tuple[datetime | None, datetime | None, frozenset[date]]:
    starts_at = getattr(schedule, "starts_at", None)
    ends_at = getattr(schedule, "ends_at", None)
    excluded = frozenset(parse_excluded_dates(getattr(schedule, "excluded_dates", None)))
    return starts_at, ends_at, excluded


def _start_of_day(day: date, timezone: str) -> datetime:
    """The first instant of ``day`` in the zone, also where DST skips its midnight (America/Santiago)."""
    # fold=0 reads a skipped midnight with the offset before the gap, which is the instant the gap ends.
    return datetime.combine(day, time(0), tzinfo=cron.time_zone(timezone)).astimezone(UTC)


def _next_trigger_slot(schedule: TriggerFields, after: datetime) -> datetime | None:
    kind = schedule.trigger_kind
    if kind == CRON:
        return cron.next_fire_after(schedule.cron_expression, after, schedule.timezone)
    if kind == INTERVAL:
        return _next_interval_slot(schedule, after)
    if kind == ONCE:
        if schedule.run_at is None:
            raise InvalidTrigger({"run_at": "A one-off schedule needs a time to run at."})
        run_at = schedule.run_at.astimezone(UTC)
        return run_at if run_at > after else None
    raise InvalidTrigger({"trigger_kind": f"Unknown trigger kind {kind!r}."})


def upcoming(schedule: TriggerFields, count: int, after: datetime) -> list[datetime]:
    """The next ``count`` slots after ``after`` (fewer when the trigger runs out), e.g. for the admin."""
    slots: list[datetime] = []
    slot = next_fire_after(schedule, after)
    while slot is not None and len(slots) < count:
        slots.append(slot)
        slot = next_fire_after(schedule, slot) if len(slots) < count else None
    return slots


def missed_slots(schedule: TriggerFields, after: datetime, until: datetime, limit: int) -> list[datetime]:
    """The slots in (after, until], oldest first, at most ``limit`` of them (the oldest ones)."""
    slots: list[datetime] = []
    slot = next_fire_after(schedule, after)
    while slot is not None and slot <= until and len(slots) < limit:
        slots.append(slot)
        slot = next_fire_after(schedule, slot)
    return slots


def describe_trigger(schedule: TriggerFields) -> str:
    """The trigger in words, e.g. "At 21:00 every day (Europe/London)" or "Every 6 hours", and its window
    ("from … until …, except 3 dates")."""
    words = _describe_kind(schedule)
    starts_at, ends_at, excluded = _window(schedule)
    if starts_at is not None:
        words += f", from {_local_text(starts_at, schedule.timezone)}"
    if ends_at is not None:
        words += f", until {_local_text(ends_at, schedule.timezone)}"
    if excluded:
        shown = ", ".join(day.isoformat() for day in sorted(excluded)[:3])
        more = f" and {len(excluded) - 3} more" if len(excluded) > 3 else ""
        words += f", except on {shown}{more}"
    return words


def _describe_kind(schedule: TriggerFields) -> str:
    kind = schedule.trigger_kind
    if kind == CRON:
        try:
            words = cron.describe(schedule.cron_expression)
        except cron.InvalidCronExpression as invalid:
            return f"Invalid cron expression {schedule.cron_expression!r}: {invalid}"
        return f"{words} ({schedule.timezone})"
    if kind == INTERVAL:
        if not schedule.interval_seconds:
            return "Interval not set"
        words = describe_interval(schedule.interval_seconds)
        anchor = schedule.interval_anchor
        # Saving pins the anchor to the creation time (to the second); only an anchor chosen on purpose is
        # worth a mention.
        created = schedule.created_at
        if anchor is not None and (created is None or abs(anchor - created) >= timedelta(seconds=1)):
            words += f", counted from {_local_text(anchor, schedule.timezone)}"
        return words
    if kind == ONCE:
        if schedule.run_at is None:
            return "Once (no time set)"
        return f"Once, at {_local_text(schedule.run_at, schedule.timezone)}"
    return f"Unknown trigger kind {kind!r}"


def describe_interval(seconds: int) -> str:
    """ "Every 6 hours", "Every 90 seconds": the largest whole unit that measures the interval exactly."""
    for unit_seconds, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds % unit_seconds == 0:
            amount = seconds // unit_seconds
            return f"Every {unit}" if amount == 1 else f"Every {amount} {unit}s"
    raise ValueError(f"An interval is a positive number of seconds, got {seconds!r}.")  # pragma: no cover


def _next_interval_slot(schedule: TriggerFields, after: datetime) -> datetime:
    if not schedule.interval_seconds or schedule.interval_seconds < 1:
        raise InvalidTrigger({"interval_seconds": "An interval schedule needs at least 1 second."})
    anchor = (schedule.interval_anchor or schedule.created_at or after).astimezone(UTC)
    if after < anchor:
        return anchor
    interval = timedelta(seconds=schedule.interval_seconds)
    # timedelta // timedelta is exact integer arithmetic, so slots never drift however far from the anchor.
    return anchor + ((after - anchor) // interval + 1) * interval


def _local_text(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(cron.time_zone(timezone))
    shown = f"{local:%Y-%m-%d %H:%M:%S}" if local.second else f"{local:%Y-%m-%d %H:%M}"
    return f"{shown} ({timezone})"


def _is_aware(moment: Any) -> bool:
    return isinstance(moment, datetime) and moment.utcoffset() is not None
