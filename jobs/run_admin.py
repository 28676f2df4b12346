"""Runs in the admin, per owner: a list that reads at a glance (coloured statuses, human durations, times to
the second in the viewer's zone) and a run page with its times, outcome, result and traceback laid out;
cancel and retry for admins of the run's owner. Registered by ``jobs.admin``."""

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from jobs import services
from jobs.admin_kit import (
    DateDrillDownFilter,
    IndexedRunSearchMixin,
    JobNameFilter,
    ScaledChangeListMixin,
    VisibleOwnerFilter,
)
from jobs.models import JobRun
from jobs.outcomes import FAILURES
from jobs.registry import UnknownJobError
from tenants.display import NOTHING, breakable, human_duration, status_badge, time_html
from tenants.scoping import OwnerScopedAdminMixin

# The run page, read-only, in the order an operator reads it.
RUN_FIELDSETS = (
    (None, {"fields": ("job_name", "owner", "schedule_link", "status_badge", "trigger", "attempt_text")}),
    (
        "Times (your time zone; UTC on hover)",
        {
            "fields": (
                "slot_time",
                "due_time",
                "queued_time",
                "started_time",
                "finished_time",
                "duration_text",
                "lateness_text",
                "heartbeat_time",
                "cancel_requested_time",
            )
        },
    ),
    ("Outcome", {"fields": ("error_text", "formatted_result", "formatted_traceback")}),
    ("Arguments and execution", {"fields": ("formatted_kwargs", "worker", "engine_process", "task_id")}),
)


def run_url(run_id: int) -> str:
    return reverse("admin:jobs_jobrun_change", args=[run_id])


def run_link(run: JobRun, text: str | None = None) -> SafeString:
    """A link to the run's page, e.g. for a message: "Run 42"."""
    return format_html('<a href="{}">{}</a>', run_url(run.pk), text or f"Run {run.pk}")


def formatted_value(value: object) -> SafeString:
    """A JSON value for people: a flat object as a key/value table, anything else as indented JSON."""
    if value is None or value == {}:
        return format_html("{}", NOTHING)
    if isinstance(value, dict) and all(not isinstance(item, dict | list) for item in value.values()):
        rows = format_html_join(
            "", "<tr><th>{}</th><td>{}</td></tr>", ((key, _scalar(item)) for key, item in value.items())
        )
        return format_html('<table class="key-values">{}</table>', rows)
    text = json.dumps(value, indent=2, ensure_ascii=False, cls=DjangoJSONEncoder)
    return format_html('<pre class="monospace-block">{}</pre>', text)


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
        "job",
        "owner",
        "slot_time",
        "status_and_trigger",
        "attempt_number",
        "duration_text",
    )
    # None of these lists its choices with a DISTINCT over the table (see jobs.admin_kit).
    list_filter = (StatusFilter, JobNameFilter, VisibleOwnerFilter, ("slot", DateDrillDownFilter))
    # Shows the search box; IndexedRunSearchMixin turns a term into indexed lookups (id, job, owner).
    search_fields = ("job_name",)
    list_select_related = ("owner",)
    show_full_result_count = False
    list_per_page = 50
    ordering = ("-slot",)
    fieldsets = RUN_FIELDSETS
    CANCELLABLE = (JobRun.Status.SCHEDULED, *JobRun.IN_FLIGHT)

    def get_readonly_fields(self, request: HttpRequest, obj: JobRun | None = None) -> list[str]:
        return [name for _, options in RUN_FIELDSETS for name in options["fields"]]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # runs are made by the dispatcher and "Run now", never typed in

    def has_change_permission(self, request: HttpRequest, obj: JobRun | None = None) -> bool:
        return False  # history is read-only; cancel and retry are their own POST views

    # --- What the list and the page show ------------------------------------------------------------

    @admin.display(description="job", ordering="job_name")
    def job(self, run: JobRun) -> SafeString:
        return breakable(run.job_name)

    @admin.display(description="slot", ordering="slot")
    def slot_time(self, run: JobRun) -> SafeString:
        return time_html(run.slot)

    @admin.display(description="due")
    def due_time(self, run: JobRun) -> SafeString:
        return time_html(run.due_at)

    @admin.display(description="queued")
    def queued_time(self, run: JobRun) -> SafeString:
        return time_html(run.queued_at)

    @admin.display(description="started", ordering="started_at")
    def started_time(self, run: JobRun) -> SafeString:
        return time_html(run.started_at)

    @admin.display(description="finished")
    def finished_time(self, run: JobRun) -> SafeString:
        return time_html(run.finished_at)

    @admin.display(description="last heartbeat")
    def heartbeat_time(self, run: JobRun) -> SafeString:
        return time_html(run.heartbeat_at)

    @admin.display(description="cancel requested")
    def cancel_requested_time(self, run: JobRun) -> SafeString:
        return time_html(run.cancel_requested_at)

    @admin.display(description="duration", ordering="duration")
    def duration_text(self, run: JobRun) -> str:
        return human_duration(run.duration)

    @admin.display(description="late by (due → started)")
    def lateness_text(self, run: JobRun) -> str:
        return human_duration(run.lateness)

    @admin.display(description="status", ordering="status")
    def status_badge(self, run: JobRun) -> SafeString:
        return status_badge(run.status, run.get_status_display())

    @admin.display(description="status", ordering="status")
    def status_and_trigger(self, run: JobRun) -> SafeString:
        """The status badge, and what made the run when it was not its schedule (manual, retry, start-up)."""
        badge = status_badge(run.status, run.get_status_display())
        if run.trigger == JobRun.Trigger.SCHEDULED:
            return badge
        return format_html(
            '{}<br><span class="quiet-note">{}</span>', badge, run.get_trigger_display().lower()
        )

    @admin.display(description="#", ordering="attempt")
    def attempt_number(self, run: JobRun) -> int:
        return run.attempt

    @admin.display(description="attempt")
    def attempt_text(self, run: JobRun) -> SafeString:
        if run.retry_of_id is None:
            return format_html("{}", run.attempt)
        return format_html(
            '{} (after <a href="{}">run {}</a>)', run.attempt, run_url(run.retry_of_id), run.retry_of_id
        )

    @admin.display(description="schedule")
    def schedule_link(self, run: JobRun) -> SafeString:
        if run.schedule_id is None:
            return format_html("{}", "none (a manual run without a schedule, or its schedule was deleted)")
        url = reverse("admin:jobs_schedule_change", args=[run.schedule_id])
        return format_html('<a href="{}">{}</a>', url, run.schedule)

    @admin.display(description="error")
    def error_text(self, run: JobRun) -> SafeString:
        if not run.error:
            return format_html("{}", NOTHING)
        return format_html('<pre class="monospace-block">{}</pre>', run.error)

    @admin.display(description="result")
    def formatted_result(self, run: JobRun) -> SafeString:
        return formatted_value(run.result)

    @admin.display(description="traceback")
    def formatted_traceback(self, run: JobRun) -> SafeString:
        if not run.traceback:
            return format_html("{}", NOTHING)
        return format_html('<pre class="monospace-block run-traceback">{}</pre>', run.traceback)

    @admin.display(description="keyword arguments")
    def formatted_kwargs(self, run: JobRun) -> SafeString:
        return formatted_value(run.kwargs)

    # --- Cancel and retry ----------------------------------------------------------------------------

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
        return HttpResponseRedirect(run_url(run.pk))

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        run = self._run_to_steer(request, object_id)
        try:
            retry = services.retry_run(run=run, now=timezone.now())
        except (services.RunStateRefused, UnknownJobError) as refused:
            self.message_user(request, str(refused), messages.ERROR)
            return HttpResponseRedirect(run_url(run.pk))
        self.message_user(
            request,
            format_html("{} requested (attempt {}).", run_link(retry), retry.attempt),
            messages.SUCCESS,
        )
        return HttpResponseRedirect(run_url(retry.pk))

    def _run_to_steer(self, request: HttpRequest, object_id: str) -> JobRun:
        run = self.get_object(request, object_id)  # another owner's run: 404 (OwnerScopedAdminMixin)
        if request.method != "POST" or run is None or not self.has_run_permission(request, run):
            raise PermissionDenied
        return run
