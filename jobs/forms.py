"""The schedule form: job names from the registry, times typed in the schedule's own zone, only the fields
of the chosen trigger kind, and every refusal of ``Schedule.clean`` (``jobs.limits``) on its field; the
backfill form of the schedule admin's Backfill action."""

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone

from jobs.backfill import BackfillOverlap
from jobs.models import (
    JITTER_FIELDS,
    POLICY_FIELDS,
    TRIGGER_FIELDS,
    TRIGGER_KIND_FIELDS,
    WINDOW_FIELDS,
    Schedule,
)
from jobs.registry import registered_jobs
from jobs.triggers import parse_excluded_dates
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


class ExcludedDatesField(forms.Field):
    """Dates typed one per line (or separated by commas or spaces) as YYYY-MM-DD; stored as a sorted list."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 24, "placeholder": "2026-12-25\n2026-12-26"})

    def prepare_value(self, value: object) -> str:
        if isinstance(value, list | tuple):
            return "\n".join(str(day) for day in value)
        return "" if value is None else str(value)

    def to_python(self, value: object) -> list[str]:
        if isinstance(value, list | tuple):
            entries = [str(entry) for entry in value]
        else:
            entries = [entry for entry in re.split(r"[\s,;]+", str(value or "")) if entry]
        try:
            return [day.isoformat() for day in parse_excluded_dates(entries)]
        except ValueError as invalid:
            raise forms.ValidationError(str(invalid)) from None


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
    starts_at = ScheduleTimeField(
        required=False, help_text="No slot before this time, in the schedule's time zone (empty: no start)."
    )
    ends_at = ScheduleTimeField(
        required=False, help_text="No slot after this time, in the schedule's time zone (empty: no end)."
    )
    excluded_dates = ExcludedDatesField(
        required=False, help_text=Schedule._meta.get_field("excluded_dates").help_text + " One per line."
    )
    # Tenant staff (``ScheduleAdmin.get_form``) are not offered the jobs that work on every owner at once.
    offers_global_jobs = True

    class Meta:
        model = Schedule
        fields = [
            "job_name",
            "owner",
            "key",
            "label",
            "kwargs",
            *TRIGGER_FIELDS,
            *WINDOW_FIELDS,
            *JITTER_FIELDS,
            "enabled",
            *POLICY_FIELDS,
        ]
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
        choices = [
            (definition.name, definition.name)
            for definition in registered_jobs()
            if self.offers_global_jobs or not definition.global_only
        ]
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


class WallClockField(forms.DateTimeField):
    """A date and time as typed, without a time zone: the form it is on says which zone it is read in."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}, format="%Y-%m-%dT%H:%M:%S")

    def to_python(self, value: object) -> datetime | None:
        with timezone.override(UTC):  # no zone of the site's own: UTC keeps the wall time as typed
            moment = super().to_python(value)
        return None if moment is None else moment.replace(tzinfo=None)


class BackfillForm(forms.Form):
    """When to backfill: two past times read in one time zone, and how the runs take turns."""

    start = WallClockField(label="From", help_text="The first slot counted (a slot at this time counts).")
    end = WallClockField(label="To", help_text="The last slot counted; not in the future.")
    timezone = TimezoneField(help_text="The time zone both times are read in.")
    overlap = forms.ChoiceField(
        label="Runs",
        choices=BackfillOverlap.choices,
        initial=BackfillOverlap.ONE_AFTER_ANOTHER,
        widget=forms.RadioSelect,
    )

    def clean(self) -> dict:
        data = super().clean()
        if not {"start", "end", "timezone"} <= data.keys():
            return data
        zone = ZoneInfo(data["timezone"])
        data["start"], data["end"] = data["start"].replace(tzinfo=zone), data["end"].replace(tzinfo=zone)
        if data["end"] < data["start"]:
            self.add_error("end", "The end must not come before the start.")
        return data

    def cleaned_data_for_backfill(self) -> dict:
        """``start``, ``end`` (aware) and ``overlap``, as ``jobs.backfill.backfill`` takes them."""
        return {name: self.cleaned_data[name] for name in ("start", "end", "overlap")}
