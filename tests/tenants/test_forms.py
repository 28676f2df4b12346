from django import forms

from tenants.forms import TimezoneField, timezone_choices


class OwnerLikeForm(forms.Form):
    timezone = TimezoneField()


def test_the_timezone_picker_offers_utc_first_then_regions():
    choices = timezone_choices()

    assert choices[0] == ("UTC", "UTC")
    regions = dict(choices[1:])
    assert ("Europe/London", "Europe/London") in regions["Europe"]
    assert ("America/New_York", "America/New_York") in regions["America"]


def test_the_timezone_picker_refuses_a_made_up_zone():
    form = OwnerLikeForm({"timezone": "Mars/Olympus"})

    assert not form.is_valid()
    assert "timezone" in form.errors


def test_the_timezone_picker_keeps_a_stored_legacy_zone_valid():
    form = OwnerLikeForm({"timezone": "Etc/GMT+3"})

    assert form.is_valid(), form.errors
