"""The one time-zone check: owners, schedules, forms and the cron preview all ask tenants.timezones."""

import zoneinfo

import pytest
from django.core.exceptions import ValidationError

from jobs import cron
from jobs.triggers import InvalidTrigger, validate_trigger
from tenants import timezones
from tenants.models import Owner


def test_the_tz_database_is_read_once_however_often_zones_are_checked(monkeypatch):
    reads = []
    real = zoneinfo.available_timezones
    monkeypatch.setattr(zoneinfo, "available_timezones", lambda: reads.append(1) or real())
    timezones.time_zone_names.cache_clear()
    try:
        for _ in range(50):
            timezones.validate_timezone("Europe/London")
            cron.time_zone("America/New_York")
    finally:
        timezones.time_zone_names.cache_clear()

    assert len(reads) == 1


def test_every_check_refuses_a_made_up_zone_with_the_same_words():
    words = "'Mars/Olympus' is not an IANA time zone such as Europe/London."

    with pytest.raises(ValidationError) as by_validator:
        timezones.validate_timezone("Mars/Olympus")
    with pytest.raises(ValueError) as by_cron:
        cron.time_zone("Mars/Olympus")
    with pytest.raises(InvalidTrigger) as by_trigger:
        validate_trigger(
            trigger_kind="cron",
            cron_expression="0 * * * *",
            interval_seconds=None,
            interval_anchor=None,
            run_at=None,
            timezone="Mars/Olympus",
        )

    assert by_validator.value.messages == [words]
    assert str(by_cron.value) == words
    assert by_trigger.value.errors["timezone"] == words


def test_an_owner_with_a_made_up_zone_does_not_validate():
    owner = Owner(name="Mars Ltd", slug="mars", timezone="Mars/Olympus")

    with pytest.raises(ValidationError) as invalid:
        owner.full_clean(validate_unique=False)

    assert "timezone" in invalid.value.message_dict
