"""Schedules in the admin, per owner: triggers in words, next fire times, run now, pause, resume, and only
the fields of the chosen trigger kind on the form. Runs are ``jobs.run_admin``'s, registered from here."""

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString

from jobs import (
    queue_admin,  # noqa: F401  (replaces django-q2's admins with locked-down ones)
    services,
)
from jobs.admin_kit import JobNameFilter, ScaledChangeListMixin, VisibleOwnerFilter
from jobs.backfill import MAX_BACKFILL_SLOTS, BackfillRefused, backfill
from jobs.forms import BackfillForm, ScheduleForm
from jobs.managed import MANAGED_FIELDS, managed_note
from jobs.models import JITTER_FIELDS, POLICY_FIELDS, TRIGGER_FIELDS, WINDOW_FIELDS, JobSwitch, Schedule
from jobs.registry import GlobalJobError, UnknownJobError
from jobs.run_admin import run_link
from jobs.triggers import InvalidTrigger, describe_trigger, upcoming
from jobs.views import cron_preview
from tenants.display import NOTHING, breakable, local_time, status_badge, time_html
from tenants.scoping import OwnerScopedAdminMixin, SuperuserOnlyAdminMixin

UPCOMING_COUNT = 5
# The trigger's fields with the time zone next to the kind: the times below it are typed and shown in it.
WHEN_FIELDS = (
    "trigger_kind",
    "timezone",
    *(name for name in TRIGGER_FIELDS if name not in ("trigger_kind", "timezone")),
)


class ManagedFilter(admin.SimpleListFilter):
    title = "kept by"
    parameter_name = "managed"

    def lookups(self, request, model_admin):
        return [("code", "code (derived from settings)"), ("people", "people (edited here)")]

    def queryset(self, request, queryset):
        if self.value() == "code":
            return queryset.exclude(managed_by="")
        if self.value() == "people":
            return queryset.filter(managed_by="")
        return queryset


@admin.register(Schedule)
class ScheduleAdmin(ScaledChangeListMixin, OwnerScopedAdminMixin, admin.ModelAdmin):
    form = ScheduleForm
    list_display = ("schedule_name", "owner", "trigger", "next_run", "last_status_badge", "state", "managed")
    list_filter = ("enabled", JobNameFilter, VisibleOwnerFilter, ManagedFilter)
    list_select_related = ("owner",)
    search_fields = ("job_name", "key", "label")
    show_full_result_count = False
    list_per_page = 50
    actions = ("run_selected_now", "backfill_selected", "pause_selected", "resume_selected")
    readonly_fields = (
        "trigger",
        "upcoming_fire_times",
        "next_run",
        "paused_at",
        "paused_reason",
        "last_run_at",
        "last_status",
        "consecutive_failures",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "job_name",
                    "owner",
                    "key",
                    "label",
                    "kwargs",
                    "enabled",
                    "paused_at",
                    "paused_reason",
                )
            },
        ),
        ("When", {"fields": (*WHEN_FIELDS, "trigger", "upcoming_fire_times", "next_run")}),
        ("Window and jitter", {"fields": (*WINDOW_FIELDS, *JITTER_FIELDS)}),
        ("Policies", {"fields": POLICY_FIELDS}),
        ("Last run", {"fields": ("last_run_at", "last_status", "consecutive_failures")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Schedule | None = None) -> tuple[str, ...]:
        if obj is not None and obj.managed_by:
            return (*self.readonly_fields, *MANAGED_FIELDS)
        return self.readonly_fields

    def get_fieldsets(self, request: HttpRequest, obj: Schedule | None = None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            # Nothing has run or been paused yet: only what a person types.
            (name, options), *rest = fieldsets
            typed = [field for field in options["fields"] if field not in ("paused_at", "paused_reason")]
            return [(name, {**options, "fields": typed}), *(item for item in rest if item[0] != "Last run")]
        notes = []
        if obj.has_ended(timezone.now()):
            ended = local_time(obj.ends_at, ZoneInfo(obj.timezone))
            notes.append(
                f"This schedule ended on {ended} (its window's end): "
                "it makes no more runs and is not reported as missed. Move or clear the end to run it again."
            )
        if obj is not None and obj.paused_reason:
            # Said at the top of the page, not only in its field: the schedule fires no more until resumed.
            notes.append(f"{obj.paused_reason}. Resume it (the Resume action) to run it again.")
        if obj is not None and obj.managed_by:
            notes.append(managed_note(obj))
        if not notes:
            return fieldsets
        (name, options), *rest = fieldsets
        # The admin renders fieldset descriptions as HTML: the notes are escaped text.
        return [(name, {**options, "description": escape(" ".join(notes))}), *rest]

    def has_delete_permission(self, request: HttpRequest, obj: Schedule | None = None) -> bool:
        if obj is not None and obj.managed_by:
            return False  # its keeper would create it again; pause it instead
        return super().has_delete_permission(request, obj)

    @admin.display(description="by code", boolean=True, ordering="managed_by")
    def managed(self, schedule: Schedule) -> bool:
        return bool(schedule.managed_by)

    @admin.display(description="schedule", ordering="job_name")
    def schedule_name(self, schedule: Schedule) -> SafeString:
        if schedule.label:
            return format_html(
                '{}<br><span class="quiet-note">{}</span>', schedule.label, breakable(schedule.job_name)
            )
        return format_html(
            '{} <span class="quiet-note">{}</span>', breakable(schedule.job_name), schedule.key
        )

    @admin.display(description="trigger")
    def trigger(self, schedule: Schedule) -> str:
        if schedule.pk is None:
            return "shown once saved"
        try:
            return breakable(describe_trigger(schedule))
        except (InvalidTrigger, ValueError) as invalid:
            return f"Invalid: {invalid}"

    @admin.display(description="next run", ordering="next_run_at")
    def next_run(self, schedule: Schedule) -> SafeString | str:
        if schedule.pk is None:
            return NOTHING
        if schedule.has_ended(timezone.now()):
            return status_badge("ended")
        if schedule.is_paused:
            return status_badge("paused")
        return time_html(schedule.next_run_at)

    @admin.display(description="last run", ordering="last_status")
    def last_status_badge(self, schedule: Schedule) -> SafeString:
        return status_badge(schedule.last_status)

    @admin.display(description="state")
    def state(self, schedule: Schedule) -> SafeString:
        if not schedule.enabled:
            return status_badge("disabled")
        return status_badge("paused") if schedule.is_paused else status_badge("active")

    @admin.display(description=f"next {UPCOMING_COUNT} fire times (the schedule's time zone)")
    def upcoming_fire_times(self, schedule: Schedule) -> str:
        if schedule.pk is None:
            return NOTHING
        try:
            times = upcoming(schedule, UPCOMING_COUNT, timezone.now())
        except (InvalidTrigger, ValueError) as invalid:
            return f"Invalid: {invalid}"
        if not times:
            return "none (no slot left)"
        zone = ZoneInfo(schedule.timezone)
        return format_html(
            "<ol>{}</ol>", format_html_join("", "<li>{}</li>", ((time_html(t, zone),) for t in times))
        )

    def render_change_form(self, request: HttpRequest, context: dict, *args, obj=None, **kwargs):
        context["has_run_permission"] = obj is not None and self.has_run_permission(request, obj)
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    def get_urls(self):
        preview = path(
            # Before the change view's <path:object_id>/, which would take "cron-preview" for an id.
            "cron-preview/",
            self.admin_site.admin_view(cron_preview),
            name="jobs_schedule_cron_preview",
        )
        run_now = path(
            "<path:object_id>/run-now/",
            self.admin_site.admin_view(self.run_now_view),
            name="jobs_schedule_run_now",
        )
        return [preview, run_now, *super().get_urls()]

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if not request.user.is_superuser:
            form = type(form.__name__, (form,), {"offers_global_jobs": False})
        return form

    def run_now_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        schedule = self.get_object(request, object_id)  # 404 for another owner's schedule
        if request.method != "POST" or not self.has_run_permission(request, schedule):
            raise PermissionDenied
        try:
            run = services.run_now(job_name=schedule.job_name, schedule=schedule, now=timezone.now())
        except (GlobalJobError, UnknownJobError) as refused:
            self.message_user(request, str(refused), messages.ERROR)
        else:
            self.message_user(
                request,
                format_html("{} of {} requested.", run_link(run), schedule.job_name),
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:jobs_schedule_change", args=[schedule.pk]))

    @admin.action(description="Run now", permissions=["run"])
    def run_selected_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._for_each(
            request,
            queryset,
            "Requested {count} runs.",
            lambda schedule, now: services.run_now(job_name=schedule.job_name, schedule=schedule, now=now),
        )

    @admin.action(description="Backfill past slots…", permissions=["run"])
    def backfill_selected(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        """A page asking for the range (like Django's delete confirmation), then one backfill per schedule."""
        schedules = list(queryset.select_related("owner").order_by("pk"))
        if not schedules:
            self.message_user(request, "None of the selected schedules may be run by you.", messages.WARNING)
            return None
        zones = {schedule.timezone for schedule in schedules}
        form = BackfillForm(
            request.POST if "apply" in request.POST else None,
            initial={"timezone": zones.pop() if len(zones) == 1 else "UTC"},
        )
        if form.is_bound and form.is_valid():
            now = timezone.now()
            for schedule in schedules:
                try:
                    report = backfill(schedule=schedule, now=now, **form.cleaned_data_for_backfill())
                except BackfillRefused as refused:
                    self.message_user(request, str(refused), messages.ERROR)
                else:
                    self.message_user(request, str(report), messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Backfill past slots",
            "opts": self.model._meta,
            "schedules": [(schedule, self.trigger(schedule)) for schedule in schedules],
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "max_slots": MAX_BACKFILL_SLOTS,
        }
        return TemplateResponse(request, "admin/jobs/schedule/backfill.html", context)

    @admin.action(description="Pause", permissions=["change"])
    def pause_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._for_each(
            request,
            queryset,
            "Paused {count} schedules.",
            lambda schedule, now: services.pause(schedule=schedule, now=now),
        )

    @admin.action(description="Resume", permissions=["change"])
    def resume_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._for_each(
            request,
            queryset,
            "Resumed {count} schedules.",
            lambda schedule, now: services.resume(schedule=schedule, now=now),
        )

    def _for_each(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        done: str,
        step: Callable[[Schedule, datetime], object],
    ) -> None:
        """Apply ``step`` to each selected schedule at one ``now``, then say ``done`` with its ``{count}``."""
        now = timezone.now()
        schedules = list(queryset)
        for schedule in schedules:
            step(schedule, now)
        self.message_user(request, done.format(count=len(schedules)), messages.SUCCESS)


@admin.register(JobSwitch)
class JobSwitchAdmin(SuperuserOnlyAdminMixin, admin.ModelAdmin):
    """Switching a job off affects every owner, so only superusers see this page."""

    list_display = ("job_name", "enabled", "reason", "updated_at")
