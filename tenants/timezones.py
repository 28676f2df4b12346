"""IANA time zones: the one list of valid names and the one check against it.

``zoneinfo.available_timezones()`` walks the tz database on disk (milliseconds a call), so the names are
read once per process. Owners, schedules, forms and the cron preview all ask here.
"""

import zoneinfo
from functools import lru_cache

from django.core.exceptions import ValidationError


@lru_cache(maxsize=1)
def time_zone_names() -> frozenset[str]:
    """Every IANA zone name this system's tz database knows, UTC included."""
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def is_time_zone(name: str) -> bool:
    return name in time_zone_names()


def unknown_time_zone_message(name: object) -> str:
    return f"{name!r} is not an IANA time zone such as Europe/London."


def validate_timezone(value: str) -> None:
    """Django field validator: a ValidationError unless ``value`` names an IANA zone."""
    if not is_time_zone(value):
        raise ValidationError(unknown_time_zone_message(value))
