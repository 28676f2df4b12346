from django import forms

from ops.forms import CronExpressionInput, TimezoneField, timezone_choices


class ScheduleLikeForm(forms.Form):
    timezone = TimezoneField()
    cron_expression = forms.CharField(widget=CronExpressionInput())


def test_the_timezone_picker_offers_utc_first_then_regions():
    choices = timezone_choices()

    assert choices[0] == ("UTC", "UTC")
    regions = dict(choices[1:])
    assert ("Europe/London", "Europe/London") in regions["Europe"]
    assert ("America/New_York", "America/New_York") in regions["America"]


def test_the_timezone_picker_refuses_a_made_up_zone():
    form = ScheduleLikeForm({"timezone": "Mars/Olympus", "cron_expression": "0 * * * *"})

    assert not form.is_valid()
    assert "timezone" in form.errors


def test_the_timezone_picker_keeps_a_stored_legacy_zone_valid():
    form = ScheduleLikeForm({"timezone": "Etc/GMT+3", "cron_expression": "0 * * * *"})

    assert form.is_valid(), form.errors


def test_the_cron_input_brings_its_script_and_points_it_at_the_preview_endpoint():
    form = ScheduleLikeForm()

    html = str(form["cron_expression"])
    assert 'data-cron-preview-url="/admin/ops/cron-preview/"' in html
    assert 'data-cron-timezone-field="timezone"' in html
    assert 'id="id_cron_expression_preview"' in html
    assert "ops/cron_preview.js" in str(form.media)
