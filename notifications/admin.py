from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from notifications import outbox
from notifications.models import Notification
from tenants.scoping import OwnerScopedAdminMixin


@admin.register(Notification)
class NotificationAdmin(OwnerScopedAdminMixin, admin.ModelAdmin):
    """Read-only: every owner e-mail is written here by whoever decided it and sent by the outbox's sender;
    operators may only requeue stuck or failed ones."""

    list_display = [
        "created_at",
        "owner",
        "kind",
        "status",
        "recipient",
        "attempts",
        "retry_after",
        "sent_at",
    ]
    list_filter = ["status", "kind", "created_at"]
    list_select_related = ["owner"]
    search_fields = ["dedup_key", "recipient"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["requeue_selected"]
    readonly_fields = [
        "owner",
        "kind",
        "dedup_key",
        "status",
        "recipient",
        "attempts",
        "retry_after",
        "last_error",
        "payload",
        "created_at",
        "sent_at",
    ]
    exclude = ["claim_token"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Send selected stuck or failed notifications again", permissions=["run"])
    def requeue_selected(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        # Only rows of owners this user administers: viewers of an owner can look, not act.
        rows = [row for row in queryset.select_related("owner") if self.has_run_permission(request, row)]
        count = outbox.requeue(rows)
        self.message_user(request, f"{count} notification(s) will be sent within a minute.", messages.SUCCESS)
