"""The schedule form's cron input: while typing, the expression in words and its next fire times.

``CronExpressionInput`` is a text input whose script (``jobs/cron_preview.js``) asks the schedule admin's
cron preview (``jobs.views.cron_preview``) and shows the answer below the field, in the form's time zone,
or the reason the expression is invalid.
"""

from django import forms
from django.urls import reverse_lazy


class CronExpressionInput(forms.TextInput):
    """A cron text input with a live description and the next fire times below it.

    ``timezone_field`` names the form field whose value is the schedule's time zone (read on each change).
    """

    template_name = "jobs/widgets/cron_expression.html"

    class Media:
        js = ["jobs/cron_preview.js"]

    def __init__(self, attrs: dict | None = None, *, timezone_field: str = "timezone") -> None:
        super().__init__(
            {
                "class": "vTextField",
                "autocomplete": "off",
                "spellcheck": "false",
                "data-cron-preview-url": reverse_lazy("admin:jobs_schedule_cron_preview"),
                "data-cron-timezone-field": timezone_field,
                **(attrs or {}),
            }
        )
