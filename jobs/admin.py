"""Schedules and runs in the admin, per owner: triggers in words, next fire times, run now, pause, resume;
cancel and retry of runs (admins of the run's owner only)."""

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

from jobs import (
    queue_admin,  # noqa: F401  (replaces django-q2's admins with locked-down ones)
    services,
)
from jobs.admin_kit import (
    DateDrillDownFilter,
    IndexedRunSearchMixin,
    JobNameFilter,
    ScaledChangeListMixin,
    VisibleOwnerFilter,
)
from jobs.backfill import MAX_BACKFILL_SLOTS, BackfillRefused, backfill
from jobs.forms import BackfillForm, ScheduleForm
from jobs.managed import MANAGED_FIELDS, managed_note
from jobs.models import (
    JITTER_FIELDS,
    POLICY_FIELDS,
    TRIGGER_FIELDS,
    WINDOW_FIELDS,
    JobRun,
    JobSwitch,
    Schedule,
)
from jobs.outcomes import FAILURES
from jobs.registry import GlobalJobError, UnknownJobError
from jobs.triggers import InvalidTrigger, describe_trigger, upcoming
from jobs.views import cron_preview
from tenants.scoping import OwnerScopedAdminMixin, SuperuserOnlyAdminMixin

UPCOMING_COUNT = 5


def local_time(moment, zone_name: str) -> str:
    if moment is None:
        return "—"
    return timezone.localtime(moment, ZoneInfo(zone_name)).strftime("%Y-%m-%d %H:%M:%S %Z")


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
    list_display = (
        "__str__",
        "job_name",
        "owner",
        "trigger",
        "next_run_local",
        "last_status",
        "enabled",
        "paused",
        "managed",
    )
    list_filter = ("enabled", JobNameFilter, VisibleOwnerFilter, ManagedFilter)
    list_select_related = ("owner",)
    search_fields = ("job_name", "key", "label")
    show_full_result_count = False
    list_per_page = 50
    actions = ("run_selected_now", "backfill_selected", "pause_selected", "resume_selected")
    readonly_fields = (
        "trigger",
        "upcoming_fire_times",
        "next_run_local",
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
        (
            "When",
            {
                "fields": (
                    *TRIGGER_FIELDS,
                    *WINDOW_FIELDS,
                    *JITTER_FIELDS,
                    "trigger",
                    "upcoming_fire_times",
                    "next_run_local",
                )
            },
        ),
        ("Policies", {"fields": POLICY_FIELDS}),
        ("Last run", {"fields": ("last_run_at", "last_status", "consecutive_failures")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Schedule | None = None) -> tuple[str, ...]:
        if obj is not None and obj.managed_by:
            return (*self.readonly_fields, *MANAGED_FIELDS)
        return self.readonly_fields

    def get_fieldsets(self, request: HttpRequest, obj: Schedule | None = None):
        fieldsets = super().get_fieldsets(request, obj)
        notes = []
        if obj is not None and obj.has_ended(timezone.now()):
            notes.append(
                f"This schedule ended on {local_time(obj.ends_at, obj.timezone)} (its window's end): it "
                "makes no more runs and is not reported as missed. Move or clear the end to run it again."
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

    @admin.display(description="managed", boolean=True, ordering="managed_by")
    def managed(self, schedule: Schedule) -> bool:
        return bool(schedule.managed_by)

    @admin.display(description="trigger")
    def trigger(self, schedule: Schedule) -> str:
        try:
            return describe_trigger(schedule)
        except (InvalidTrigger, ValueError) as invalid:
            return f"Invalid: {invalid}"

    @admin.display(description="next run (schedule's time zone)", ordering="next_run_at")
    def next_run_local(self, schedule: Schedule) -> str:
        if schedule.has_ended(timezone.now()):
            return "ended"
        if schedule.is_paused:
            return "paused"
        return local_time(schedule.next_run_at, schedule.timezone)

    @admin.display(description=f"next {UPCOMING_COUNT} fire times")
    def upcoming_fire_times(self, schedule: Schedule) -> str:
        if schedule.pk is None:
            return "—"
        try:
            times = upcoming(schedule, UPCOMING_COUNT, timezone.now())
        except (InvalidTrigger, ValueError) as invalid:
            return f"Invalid: {invalid}"
        if not times:
            return "none (no slot left)"
        return format_html(
            "<ol>{}</ol>",
            format_html_join("", "<li>{}</li>", ((local_time(t, schedule.timezone),) for t in times)),
        )

    @admin.display(description="paused", boolean=True)
    def paused(self, schedule: Schedule) -> bool:
        return schedule.is_paused

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
            self.message_user(request, f"Run {run.pk} of {schedule.job_name} requested.", messages.SUCCESS)
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


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return JobRun.Status.choices

    def queryset(self, request, queryset):
        return queryset.filter(status=self.value()) if self.value() else queryset


@admin.register(JobRun)
class JobRunAdmin(ScaledChangeListMixin, IndexedRunSearchMixin, OwnerScopedAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "job_name",
        "owner",
        "slot",
        "status",
        "attempt",
        "trigger",
        "started_at",
        "duration",
    )
    # None of these lists its choices with a DISTINCT over the table (see jobs.admin_kit).
    list_filter = (StatusFilter, JobNameFilter, VisibleOwnerFilter, ("slot", DateDrillDownFilter))
    # Shows the search box; IndexedRunSearchMixin turns a term into indexed lookups (id, job, owner).
    search_fields = ("job_name",)
    list_select_related = ("owner",)
    show_full_result_count = False
    list_per_page = 50
    ordering = ("-slot",)
    readonly_fields = ("formatted_traceback",)
    exclude = ("traceback",)
    CANCELLABLE = (JobRun.Status.SCHEDULED, *JobRun.IN_FLIGHT)

    @admin.display(description="traceback")
    def formatted_traceback(self, run: JobRun) -> str:
        return format_html("<pre>{}</pre>", run.traceback) if run.traceback else "—"

    def get_readonly_fields(self, request: HttpRequest, obj: JobRun | None = None) -> list[str]:
        return [field.name for field in JobRun._meta.fields if field.name != "traceback"] + [
            "formatted_traceback"
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # runs are made by the dispatcher and "Run now", never typed in

    def has_change_permission(self, request: HttpRequest, obj: JobRun | None = None) -> bool:
        return False  # history is read-only; cancel and retry are their own POST views

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        run = self.get_object(request, object_id)
        # Cancel and retry: admins of the run's owner (their role's run right), never viewers.
        steer = run is not None and self.has_run_permission(request, run)
        extra_context = {
            **(extra_context or {}),
            "can_cancel": steer and run.status in self.CANCELLABLE,
            "can_retry": steer and run.status in FAILURES,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        steering = [
            path(
                f"<path:object_id>/{action}/",
                self.admin_site.admin_view(getattr(self, f"{action}_view")),
                name=f"jobs_jobrun_{action}",
            )
            for action in ("cancel", "retry")
        ]
        return [*steering, *super().get_urls()]

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        run = self._run_to_steer(request, object_id)
        who = request.user.get_username()
        try:
            status = services.cancel_run(
                run=run, now=timezone.now(), reason=f"Cancelled by {who} in the admin."
            )
        except services.RunStateRefused as refused:
            self.message_user(request, str(refused), messages.ERROR)
        else:
            if status == JobRun.Status.CANCELLED:
                self.message_user(request, f"Run {run.pk} cancelled.", messages.SUCCESS)
            else:
                self.message_user(
                    request,
                    f"Run {run.pk} is running: its worker stops it at its next heartbeat.",
                    messages.INFO,
                )
        return HttpResponseRedirect(reverse("admin:jobs_jobrun_change", args=[run.pk]))

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        run = self._run_to_steer(request, object_id)
        try:
            retry = services.retry_run(run=run, now=timezone.now())
        except (services.RunStateRefused, UnknownJobError) as refused:
            self.message_user(request, str(refused), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:jobs_jobrun_change", args=[run.pk]))
        self.message_user(request, f"Run {retry.pk} requested (attempt {retry.attempt}).", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:jobs_jobrun_change", args=[retry.pk]))

    def _run_to_steer(self, request: HttpRequest, object_id: str) -> JobRun:
        run = self.get_object(request, object_id)  # another owner's run: 404 (OwnerScopedAdminMixin)
        if request.method != "POST" or run is None or not self.has_run_permission(request, run):
            raise PermissionDenied
        return run


@admin.register(JobSwitch)
class JobSwitchAdmin(SuperuserOnlyAdminMixin, admin.ModelAdmin):
    """Switching a job off affects every owner, so only superusers see this page."""

    list_display = ("job_name", "enabled", "reason", "updated_at")
