"""What a schedule may ask for: the limits a schedule is checked against before it is saved.

``Schedule.clean`` asks ``schedule_errors`` (the admin form and every other ``full_clean`` alike), and
each refusal names the field and says what to change. Refused, because such a schedule can never work or
would hurt the system:

- firing more often than ``JOBS_MIN_INTERVAL_SECONDS`` or than the job's own ``min_interval`` (an
  interval, or the closest two of a cron expression's next fire times);
- a one-off time that has passed (it would never fire, silently);
- keyword arguments above ``JOBS_MAX_KWARGS_BYTES`` as JSON (they are copied into every run), or that the
  job's signature does not accept (``JobDefinition.check_kwargs``: every run would fail);
- a timeout above the longest a run may have (``jobs.timeouts.max_timeout_seconds``).

Attempts below 1 are refused by the field's own validator.
"""

import json
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from jobs import triggers
from jobs.registry import InvalidJobArguments, UnknownJobError, get_job
from jobs.timeouts import max_timeout_seconds
from tenants.display import human_duration, human_size, local_time

# A cron expression's shortest gap is looked for among this many of its next fire times.
CRON_GAP_SAMPLES = 100


def minimum_interval(job_name: str) -> tuple[timedelta, str]:
    """The shortest time allowed between two runs of ``job_name``, and who says so."""
    floor = timedelta(seconds=settings.JOBS_MIN_INTERVAL_SECONDS)
    try:
        declared = get_job(job_name).min_interval
    except UnknownJobError:
        declared = None
    if declared is not None and declared > floor:
        return declared, f"the job {job_name} declares"
    return floor, "JOBS_MIN_INTERVAL_SECONDS says"


def shortest_gap(schedule: Any, now: datetime) -> timedelta | None:
    """The shortest time between two runs of ``schedule``: its interval, or the closest two of a cron
    expression's next ``CRON_GAP_SAMPLES`` fire times; None for a one-off (or a cron that fires once)."""
    if schedule.trigger_kind == triggers.INTERVAL:
        return timedelta(seconds=schedule.interval_seconds)
    if schedule.trigger_kind == triggers.CRON:
        times = triggers.upcoming(schedule, CRON_GAP_SAMPLES, now)
        gaps = [later - earlier for earlier, later in pairwise(times)]
        return min(gaps, default=None)
    return None


def kwargs_size(kwargs: object) -> int:
    """Bytes of ``kwargs`` as compact JSON, as stored on every run."""
    return len(json.dumps(kwargs, cls=DjangoJSONEncoder, separators=(",", ":")).encode())


def schedule_errors(schedule: Any, *, now: datetime, retimed: bool) -> dict[str, str]:
    """Field name → why, for every limit ``schedule`` breaks ({} when it keeps them all).

    Expects a trigger that ``jobs.triggers.validate_trigger`` accepted. ``retimed`` says whether the
    schedule is new or its trigger changed: a one-off time that has passed is refused only then (a one-off
    schedule that already fired keeps its time and may still be edited).
    """
    errors = {}
    gap_error = _gap_error(schedule, now)
    if gap_error:
        errors["cron_expression" if schedule.trigger_kind == triggers.CRON else "interval_seconds"] = (
            gap_error
        )
    if schedule.trigger_kind == triggers.ONCE and retimed and schedule.run_at <= now:
        errors["run_at"] = (
            f"{local_time(schedule.run_at, ZoneInfo(schedule.timezone))} has passed: a one-off schedule "
            "only fires at a time still ahead. Choose a later time, or use Run now to run it at once."
        )
    kwargs_error = _kwargs_error(schedule)
    if kwargs_error:
        errors["kwargs"] = kwargs_error
    if schedule.timeout_seconds is not None and schedule.timeout_seconds > max_timeout_seconds():
        errors["timeout_seconds"] = (
            f"At most {max_timeout_seconds()} s ({human_duration(max_timeout_seconds())}): JOBS_MAX_TIMEOUT "
            "minus the 30 s django-q2 needs before its hard kill."
        )
    return errors


def _gap_error(schedule: Any, now: datetime) -> str:
    shortest, source = minimum_interval(schedule.job_name)
    gap = shortest_gap(schedule, now)
    if gap is None or gap >= shortest:
        return ""
    return (
        f"Runs would come {human_duration(gap)} apart; {source} at least {human_duration(shortest)} "
        "between two runs."
    )


def _kwargs_error(schedule: Any) -> str:
    kwargs = schedule.kwargs
    if not isinstance(kwargs, dict):
        return 'Keyword arguments are a JSON object, e.g. {"full": true}.'
    size, limit = kwargs_size(kwargs), settings.JOBS_MAX_KWARGS_BYTES
    if size > limit:
        return (
            f"These arguments take {human_size(size)} as JSON, more than the {human_size(limit)} allowed "
            "(JOBS_MAX_KWARGS_BYTES): they are copied into every run. Pass a reference to large data."
        )
    try:
        get_job(schedule.job_name).check_kwargs(kwargs)
    except UnknownJobError:
        return ""  # the job field says so
    except InvalidJobArguments as invalid:
        return str(invalid)
    return ""
