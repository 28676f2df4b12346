"""Missed-run alerts in the admin: the history of what was reported to whom, read-only and per owner."""

from django.contrib import admin
from django.http import HttpRequest

from ops.models import MissedRunAlert
from tenants.scoping import OwnerScopedAdminMixin


@admin.register(MissedRunAlert)
class MissedRunAlertAdmin(OwnerScopedAdminMixin, admin.ModelAdmin):
    list_display = ["job_name", "owner", "kind", "expected_at", "detected_at", "reported_at", "reported_to"]
    list_filter = ["kind"]
    list_select_related = ["owner"]
    ordering = ["-detected_at"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # alerts are recorded by the ops.missed_runs job, never typed in

    def has_change_permission(self, request: HttpRequest, obj: MissedRunAlert | None = None) -> bool:
        return False
