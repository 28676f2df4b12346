"""When a schedule fires: the one interface the dispatcher and the admin use for every trigger kind.

A schedule is a ``jobs.models.Schedule`` or any object with its trigger attributes: ``trigger_kind``,
``cron_expression``, ``interval_seconds``, ``interval_anchor``, ``run_at``, ``timezone`` and ``created_at``.

- cron: the expression's fire times in the schedule's time zone (DST rules in ``jobs.cron``).
- interval: ``anchor + k * interval`` for k = 0, 1, 2, ... in real elapsed time, so DST never shifts them;
  the anchor is ``interval_anchor``, else ``created_at`` (else, for an unsaved schedule, the ``after`` asked
  about).
- once: ``run_at``, while it is still ahead.

Every time returned is an aware UTC datetime.
"""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from jobs import cron
from tenants.timezones import is_time_zone, unknown_time_zone_message

CRON, INTERVAL, ONCE = "cron", "interval", "once"
TRIGGER_KINDS = (CRON, INTERVAL, ONCE)


class TriggerFields(Protocol):
    trigger_kind: str
    cron_expression: str
    interval_seconds: int | None
    interval_anchor: datetime | None
    run_at: datetime | None
    timezone: str
    created_at: datetime | None


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


def next_fire_after(schedule: TriggerFields, after: datetime) -> datetime | None:
    """The schedule's first slot strictly after ``after`` (aware UTC), or None when no slot is left."""
    if not _is_aware(after):
        raise ValueError(f"after must be a timezone-aware datetime, got {after!r}")
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
    """The trigger in words, e.g. "At 21:00 every day (Europe/London)" or "Every 6 hours"."""
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
