"""The schedule form: job names from the registry, times typed in the schedule's own zone, only the fields
of the chosen trigger kind, and every refusal of ``Schedule.clean`` (``jobs.limits``) on its field."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone

from jobs.models import POLICY_FIELDS, TRIGGER_FIELDS, TRIGGER_KIND_FIELDS, Schedule
from jobs.registry import registered_jobs
from jobs.widgets import CronExpressionInput, TriggerKindSelect
from tenants.forms import TimezoneField
from tenants.timezones import is_time_zone

# The browser's own date and time picker; seconds included, so a stored time shows as it is.
LOCAL_INPUT_FORMAT = "%Y-%m-%dT%H:%M:%S"


class ScheduleTimeField(forms.DateTimeField):
    """A date and time typed, and shown, in the schedule's own time zone (``zone``, set by the form), not
    the viewer's: "09:00" of a schedule in Europe/Berlin means 09:00 in Berlin."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}, format=LOCAL_INPUT_FORMAT)

    def __init__(self, **kwargs) -> None:
        self.zone = ZoneInfo("UTC")
        super().__init__(**kwargs)

    def prepare_value(self, value: object) -> object:
        with timezone.override(self.zone):
            return super().prepare_value(value)

    def to_python(self, value: object) -> datetime | None:
        with timezone.override(self.zone):
            return super().to_python(value)


class ScheduleForm(forms.ModelForm):
    """Editing a schedule; trigger errors appear on the field they concern (``Schedule.clean``)."""

    job_name = forms.ChoiceField(label="Job")
    timezone = TimezoneField()
    interval_anchor = ScheduleTimeField(
        required=False,
        help_text="Slots are counted from this time, in the schedule's time zone (empty: when it is saved).",
    )
    run_at = ScheduleTimeField(
        required=False, label="Run at", help_text="Date and time, in the schedule's time zone."
    )

    class Meta:
        model = Schedule
        fields = ["job_name", "owner", "key", "label", "kwargs", *TRIGGER_FIELDS, "enabled", *POLICY_FIELDS]
        widgets = {
            # The cron expression in words and its next fire times while typing (jobs.views.cron_preview).
            "cron_expression": CronExpressionInput(),
            "trigger_kind": TriggerKindSelect(kind_fields=TRIGGER_KIND_FIELDS),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        zone = ZoneInfo(self._zone_name())
        for field in self.fields.values():
            if isinstance(field, ScheduleTimeField):
                field.zone = zone
        if "job_name" not in self.fields:
            return  # read-only here (a managed schedule)
        choices = [(definition.name, definition.name) for definition in registered_jobs()]
        current = self.instance.job_name
        if current and current not in dict(choices):
            # Keep a row whose job vanished editable (and visibly so) instead of silently changing it.
            choices.append((current, f"{current} (not registered)"))
        self.fields["job_name"].choices = choices

    def _zone_name(self) -> str:
        """The zone the times are typed in: the one submitted with them, else the schedule's."""
        submitted = self.data.get(self.add_prefix("timezone")) if self.is_bound else None
        if submitted and is_time_zone(submitted):
            return submitted
        return self.instance.timezone if is_time_zone(self.instance.timezone or "") else "UTC"
