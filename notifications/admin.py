from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from notifications import outbox
from notifications.models import Notification
from tenants.scoping import OwnerScopedAdminMixin


@admin.register(Notification)
class NotificationAdmin(OwnerScopedAdminMixin, admin.ModelAdmin):
    """Read-only: notifications are written by the jobs; operators may only requeue stuck ones."""

    list_display = ["created_at", "owner", "kind", "status", "recipient", "attempts", "sent_at"]
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
        self.message_user(request, f"{count} notification(s) will be sent by the next run.", messages.SUCCESS)
