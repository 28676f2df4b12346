from django import forms

from jobs.widgets import CronExpressionInput
from tenants.forms import TimezoneField


class ScheduleLikeForm(forms.Form):
    timezone = TimezoneField()
    cron_expression = forms.CharField(widget=CronExpressionInput())


def test_the_cron_input_brings_its_script_and_points_it_at_the_preview_endpoint():
    form = ScheduleLikeForm()

    html = str(form["cron_expression"])
    assert 'data-cron-preview-url="/admin/jobs/schedule/cron-preview/"' in html
    assert 'data-cron-timezone-field="timezone"' in html
    assert 'id="id_cron_expression_preview"' in html
    assert "jobs/cron_preview.js" in str(form.media)
