"""The schedule form's widgets: the cron input (while typing, the expression in words and its next fire
times) and the trigger kind's select (only the fields of the chosen kind show).

``CronExpressionInput`` is a text input whose script (``jobs/cron_preview.js``) asks the schedule admin's
cron preview (``jobs.views.cron_preview``) and shows the answer below the field, in the form's time zone,
or the reason the expression is invalid.
"""

import json

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


class TriggerKindSelect(forms.Select):
    """The trigger kind's select; its script (``jobs/trigger_fields.js``) shows only the rows of the fields
    the chosen kind uses. ``kind_fields`` maps each kind to its own fields (``TRIGGER_KIND_FIELDS``); rows of
    fields under no kind always show, and without the script every row shows (nothing is hidden by the
    server)."""

    class Media:
        js = ["jobs/trigger_fields.js"]

    def __init__(self, attrs: dict | None = None, *, kind_fields: dict[str, tuple[str, ...]]) -> None:
        mapping = {str(kind): list(fields) for kind, fields in kind_fields.items()}
        super().__init__({"data-trigger-fields": json.dumps(mapping), **(attrs or {})})
