"""The schedule form: job names from the registry, trigger fields checked by ``validate_trigger``."""

from django import forms

from jobs.models import POLICY_FIELDS, TRIGGER_FIELDS, Schedule
from jobs.registry import registered_jobs
from jobs.widgets import CronExpressionInput
from tenants.forms import TimezoneField


class ScheduleForm(forms.ModelForm):
    """Editing a schedule; trigger errors appear on the field they concern (``Schedule.clean``)."""

    job_name = forms.ChoiceField(label="Job")
    timezone = TimezoneField()
    # Tenant staff (``ScheduleAdmin.get_form``) are not offered the jobs that work on every owner at once.
    offers_global_jobs = True

    class Meta:
        model = Schedule
        fields = ["job_name", "owner", "key", "label", "kwargs", *TRIGGER_FIELDS, "enabled", *POLICY_FIELDS]
        # The cron expression in words and its next fire times while typing (jobs.views.cron_preview).
        widgets = {"cron_expression": CronExpressionInput()}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
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

    def clean_kwargs(self) -> dict:
        kwargs = self.cleaned_data["kwargs"]
        if not isinstance(kwargs, dict):
            raise forms.ValidationError('Keyword arguments are a JSON object, e.g. {"full": true}.')
        return kwargs
