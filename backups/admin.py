"""Backups in the admin, per owner: read-only rows that read at a glance (coloured statuses, human sizes and
durations, times in the viewer's zone), Back up now, verify / restore / delete, short-lived downloads."""

import logging
from collections.abc import Callable, Iterable

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from backups import services
from backups.engines import Database
from backups.errors import BackupError, without_server_details
from backups.models import Backup
from backups.owner_page import owners_to_back_up
from backups.schedules import request_backup_run
from backups.views import download_url
from jobs.run_admin import run_link
from tenants.display import human_duration, human_size, status_badge, time_html
from tenants.models import Owner
from tenants.scoping import OwnerScopedAdminMixin

logger = logging.getLogger(__name__)


class RestoreForm(forms.Form):
    """The restore confirmation; only a superuser's form has a target database field."""

    target_db_url = forms.CharField(
        label="Target database URL",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="postgres://user:password@host:5432/name or sqlite:////absolute/path; leave empty to "
        "restore an owner's export over this site's own database.",
    )
    confirm = forms.BooleanField(
        label="I understand that the target's data is replaced by this backup",
        required=True,
    )

    def __init__(self, *args, may_name_target: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not may_name_target:
            del self.fields["target_db_url"]

    def clean_target_db_url(self) -> str:
        url = self.cleaned_data["target_db_url"].strip()
        if url:
            try:
                Database.from_url(url)
            except ValueError as invalid:
                raise forms.ValidationError(str(invalid)) from None
        return url


class BackUpNowForm(forms.Form):
    """Which owner to back up now: the owners whose backups the user may run."""

    owner = forms.ModelChoiceField(queryset=Owner.objects.none(), empty_label=None)

    def __init__(self, *args, owners, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owners


@admin.register(Backup)
class BackupAdmin(OwnerScopedAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "owner",
        "status_badge",
        "started_time",
        "stored",
        "duration_text",
        "download_link",
    )
    list_filter = ("status", "scope", ("owner", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("owner",)
    search_fields = ("sha256", "storage_key")
    date_hierarchy = "started_at"
    list_per_page = 50
    show_full_result_count = False  # never count a large table just for the pager's "of N"
    actions = ("verify_selected", "restore_selected", "delete_selected_with_objects")
    readonly_fields = [field.name for field in Backup._meta.fields]

    @admin.display(description="status", ordering="status")
    def status_badge(self, backup: Backup) -> str:
        return status_badge(backup.status, backup.get_status_display())

    @admin.display(description="started", ordering="started_at")
    def started_time(self, backup: Backup) -> str:
        return time_html(backup.started_at)

    @admin.display(description="duration", ordering="duration")
    def duration_text(self, backup: Backup) -> str:
        return human_duration(backup.duration)

    @admin.display(description="stored", ordering="size")
    def stored(self, backup: Backup) -> str:
        if not backup.sha256:
            return human_size(backup.size)
        return format_html(
            '{}<br><code title="{}">{}…</code>', human_size(backup.size), backup.sha256, backup.sha256[:8]
        )

    @admin.display(description="file")
    def download_link(self, backup: Backup) -> str:
        if backup.status not in (Backup.Status.SUCCEEDED, Backup.Status.VERIFIED):
            return "—"
        url = reverse("admin:backups_backup_download", args=[backup.pk])
        return format_html('<a href="{}">download</a>', url)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # backups are made by the job or `manage.py backup now`, never typed in

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        # Deleting rows without their stored objects would leave orphans behind: ours deletes both.
        actions.pop("delete_selected", None)
        return actions

    def get_urls(self) -> list:
        return [
            path(
                "back-up-now/",
                self.admin_site.admin_view(self.back_up_now_view),
                name="backups_backup_back_up_now",
            ),
            path(
                "<path:object_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="backups_backup_download",
            ),
            path(
                "<path:object_id>/restore/",
                self.admin_site.admin_view(self.restore_view),
                name="backups_backup_restore",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        may = owners_to_back_up(request.user).exists()
        return super().changelist_view(request, {**(extra_context or {}), "may_back_up": may})

    def back_up_now_view(self, request: HttpRequest) -> HttpResponse:
        """Choose an owner (preselected by ``?owner=``) and start a backup run of it now."""
        owners = owners_to_back_up(request.user)
        if not owners.exists():
            raise PermissionDenied  # viewers, and members who run no owner's backups
        form = BackUpNowForm(request.POST or None, owners=owners, initial={"owner": request.GET.get("owner")})
        if request.method == "POST" and form.is_valid():
            owner = form.cleaned_data["owner"]
            run = request_backup_run(owner_id=owner.pk, now=timezone.now())
            self.message_user(
                request,
                format_html("Backup of {} requested: {}; a worker takes it next.", owner, run_link(run)),
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:backups_backup_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Back up now",
        }
        return TemplateResponse(request, "admin/backups/backup/back_up_now.html", context)

    def download_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        backup = self.get_object(request, object_id)  # 404 for another owner's backup
        if backup is None or not self.has_view_permission(request, backup):
            raise PermissionDenied
        return HttpResponseRedirect(download_url(backup, request.user))

    @admin.action(description="Verify selected backups (re-read and check)", permissions=["run"])
    def verify_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._for_each(request, queryset[:20], services.verify_recorded_backup, "verified")

    @admin.action(description="Restore the selected backup…", permissions=["run"])
    def restore_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one backup to restore.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:backups_backup_restore", args=[queryset.get().pk]))

    def restore_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The confirmation page, then the restore: an owner's admin may restore that owner's export over
        the live database (after a safety backup); naming another target is for superusers only."""
        backup = self.get_object(request, object_id)  # 404 for another owner's backup
        if backup is None or not self.has_run_permission(request, backup):
            raise PermissionDenied
        may_name_target = request.user.is_superuser
        if backup.scope == Backup.Scope.DATABASE and not may_name_target:
            raise PermissionDenied  # a full database restore affects every owner
        if request.POST.get("target_db_url", "").strip() and not may_name_target:
            raise PermissionDenied  # a target database is the server's business, never a tenant's
        form = RestoreForm(request.POST or None, may_name_target=may_name_target)
        if request.method == "POST" and form.is_valid():
            try:
                summary = self._restore(backup, form.cleaned_data.get("target_db_url"))
            except BackupError as error:
                logger.warning("restore failed", extra={"backup_id": backup.pk, "error": str(error)})
                form.add_error(None, without_server_details(str(error)))
            else:
                self.message_user(request, f"Backup #{backup.pk} {summary}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:backups_backup_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "backup": backup,
            "form": form,
            "title": f"Restore backup #{backup.pk}?",
        }
        return TemplateResponse(request, "admin/backups/backup/restore_confirmation.html", context)

    def _restore(self, backup: Backup, target_db_url: str | None) -> str:
        if target_db_url:
            report = services.restore_recorded_backup(backup, target_db_url=target_db_url)
            return services.describe_restore(report)
        outcome = services.restore_over_live_owner(backup, now=timezone.now())
        return (
            f"{services.describe_restore(outcome.report)}; the rows it replaced are in safety backup "
            f"#{outcome.safety_backup.pk}"
        )

    @admin.action(description="Delete selected backups and their stored files", permissions=["delete"])
    def delete_selected_with_objects(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._for_each(request, queryset, services.delete_recorded_backup, "deleted")

    def _for_each(
        self, request: HttpRequest, backups: Iterable[Backup], step: Callable[[Backup], object], done: str
    ) -> None:
        """Apply ``step`` to each backup, with one message each: ``done``, or the BackupError it raised."""
        for backup in backups:
            try:
                step(backup)
            except BackupError as error:
                self._report_error(request, backup, error)
            else:
                self.message_user(request, f"Backup #{backup.pk} {done}.", messages.SUCCESS)

    def _report_error(self, request: HttpRequest, backup: Backup, error: BackupError) -> None:
        logger.warning("backup action failed", extra={"backup_id": backup.pk, "error": str(error)})
        shown = without_server_details(str(error))
        self.message_user(request, f"Backup #{backup.pk}: {shown}", messages.ERROR)

    def delete_model(self, request: HttpRequest, obj: Backup) -> None:
        services.delete_recorded_backup(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for backup in queryset:
            services.delete_recorded_backup(backup)
