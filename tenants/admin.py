from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from tenants import owner_settings, setting_keys
from tenants.forms import TimezoneField
from tenants.models import GLOBAL_OWNER_ID, Membership, Owner, OwnerSetting
from tenants.scoping import OwnerScopedAdminMixin, editable_owner_ids


class OwnerForm(forms.ModelForm):
    timezone = TimezoneField()

    class Meta:
        model = Owner
        fields = ["name", "slug", "timezone", "contact_email", "is_active"]


class OwnerSettingForm(forms.ModelForm):
    """One stored value; the model's clean() validates it against the key's registered type."""

    key = forms.ChoiceField(
        choices=lambda: [("", "---------")] + [(d.key, d.key) for d in setting_keys.definitions()]
    )

    class Meta:
        model = OwnerSetting
        fields = ["key", "value"]


class OwnerSettingInline(admin.TabularInline):
    model = OwnerSetting
    form = OwnerSettingForm
    extra = 1
    verbose_name = "own setting value"
    verbose_name_plural = (
        "Own setting values (keys not listed here are inherited; see the effective settings)"
    )

    def _may_edit(self, request: HttpRequest, obj: Owner | None) -> bool:
        editable = editable_owner_ids(request.user)
        return editable is None or (obj is not None and obj.pk in editable)

    def has_add_permission(self, request: HttpRequest, obj: Owner | None = None) -> bool:
        return super().has_add_permission(request, obj) and self._may_edit(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Owner | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_edit(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Owner | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_edit(request, obj)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]

    def has_view_permission(self, request: HttpRequest, obj: Owner | None = None) -> bool:
        # Who may administer an owner is decided by superusers only.
        return request.user.is_superuser


@admin.register(Owner)
class OwnerAdmin(OwnerScopedAdminMixin, admin.ModelAdmin):
    owner_lookup = ""
    form = OwnerForm
    list_display = ["id", "name", "slug", "timezone", "contact_email", "is_active"]
    list_display_links = ["id", "name"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug", "contact_email"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["effective_settings"]
    inlines = [OwnerSettingInline, MembershipInline]
    show_full_result_count = False

    def get_fieldsets(self, request: HttpRequest, obj: Owner | None = None):
        fieldsets = [(None, {"fields": ["name", "slug", "timezone", "contact_email", "is_active"]})]
        if obj is not None:
            fieldsets.append(("Effective settings", {"fields": ["effective_settings"]}))
        return fieldsets

    @admin.display(description="Effective settings")
    def effective_settings(self, obj: Owner) -> str:
        """Every registered key with the value in force and where it comes from."""
        rows = owner_settings.resolve_all(obj.pk).values()
        body = format_html_join(
            "",
            "<tr><td><code>{}</code></td><td><strong>{}</strong></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    item.key,
                    item.display,
                    item.source.label,
                    item.definition.describe_type(),
                    item.definition.help_text,
                )
                for item in rows
            ),
        )
        return format_html(
            '<table class="effective-settings"><thead><tr><th>Key</th><th>Value</th><th>Source</th>'
            "<th>Type</th><th>Meaning</th></tr></thead><tbody>{}</tbody></table>",
            body,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A staff member creating an owner would lock themselves out of it; owners are a superuser's call.
        return request.user.is_superuser and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Owner | None = None) -> bool:
        if obj is not None and obj.pk == GLOBAL_OWNER_ID:
            return False
        return request.user.is_superuser and super().has_delete_permission(request, obj)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "owner", "role"]
    list_filter = ["role"]
    list_select_related = ["user", "owner"]
    autocomplete_fields = ["user", "owner"]
    search_fields = ["user__username", "owner__name"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        return request.user.is_superuser
