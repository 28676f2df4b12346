from django.contrib import admin
from django.http import HttpRequest

from inventory.models import LowStockAlert, StockItem
from tenants.scoping import OwnerScopedAdminMixin


@admin.register(StockItem)
class StockItemAdmin(OwnerScopedAdminMixin, admin.ModelAdmin):
    list_display = ["sku", "name", "owner", "quantity", "reorder_level", "is_low", "updated_at"]
    list_select_related = ["owner"]
    search_fields = ["sku", "name"]
    show_full_result_count = False

    @admin.display(boolean=True, description="Low")
    def is_low(self, obj: StockItem) -> bool:
        return obj.is_low


@admin.register(LowStockAlert)
class LowStockAlertAdmin(OwnerScopedAdminMixin, admin.ModelAdmin):
    """Read-only: alerts are opened and resolved by the low-stock check."""

    list_display = ["opened_at", "owner", "item", "status", "quantity", "reorder_level", "resolved_at"]
    list_filter = ["status", "opened_at"]
    list_select_related = ["owner", "item"]
    search_fields = ["item__sku", "item__name"]
    date_hierarchy = "opened_at"
    show_full_result_count = False
    readonly_fields = [
        "owner",
        "item",
        "status",
        "quantity",
        "reorder_level",
        "opened_at",
        "resolved_at",
        "notification",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
