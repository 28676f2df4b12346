from django.contrib import admin
from django.http import HttpRequest

from billing.models import Invoice, Subscription
from tenants.scoping import OwnerScopedAdminMixin, editable_owner_ids


@admin.register(Subscription)
class SubscriptionAdmin(OwnerScopedAdminMixin, admin.ModelAdmin):
    list_display = ["id", "owner", "plan", "status", "trial_ends_at", "current_period_end", "created_at"]
    list_filter = ["status", "plan"]
    list_select_related = ["owner"]
    search_fields = ["plan"]
    show_full_result_count = False


@admin.register(Invoice)
class InvoiceAdmin(OwnerScopedAdminMixin, admin.ModelAdmin):
    list_display = ["number", "owner", "amount", "currency", "due_date", "paid_at", "dunning"]
    list_filter = ["dunning", "due_date", "currency"]
    list_select_related = ["owner"]
    search_fields = ["number"]
    date_hierarchy = "due_date"
    show_full_result_count = False
    readonly_fields = ["dunning"]

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "subscription":
            # Offer only subscriptions of owners this user may edit; other owners' plans stay unseen.
            editable = editable_owner_ids(request.user)
            subscriptions = Subscription.objects.select_related("owner")
            kwargs["queryset"] = (
                subscriptions if editable is None else subscriptions.filter(owner_id__in=editable)
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
