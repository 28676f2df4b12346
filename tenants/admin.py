"""Owners, their settings and memberships, and the user accounts: who may see which owner.

An owner's page shows what other apps say about the owner (``tenants.owner_page``: its backups, for one)
and, to those who may change it, every setting key as a typed input with the value in force
(``tenants.settings_form``); viewers see the effective settings as a table.

User accounts and memberships are for superusers only. Groups are not offered: permissions come from
membership roles alone (``tenants.permissions``), so a group or a hand-given permission would grant nothing.
"""

from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from tenants import owner_settings
from tenants.models import GLOBAL_OWNER_ID, Membership, Owner
from tenants.owner_page import owner_page_sections
from tenants.scoping import OwnerScopedAdminMixin, SuperuserOnlyAdminMixin
from tenants.settings_form import OwnerForm, owner_settings_form, settings_fieldsets


class MembershipInline(SuperuserOnlyAdminMixin, admin.TabularInline):
    """Who may administer an owner is decided by superusers only."""

    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class UserMembershipInline(SuperuserOnlyAdminMixin, admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["owner"]
    verbose_name_plural = "Memberships (the owners this user sees: admin may change, viewer may look)"


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
    inlines = [MembershipInline]
    show_full_result_count = False

    def get_form(self, request: HttpRequest, obj: Owner | None = None, change: bool = False, **kwargs):
        if obj is not None and self.has_change_permission(request, obj):
            kwargs["form"] = owner_settings_form()
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Owner | None = None):
        fieldsets = [(None, {"fields": ["name", "slug", "timezone", "contact_email", "is_active"]})]
        if obj is None:
            return fieldsets
        if self.has_change_permission(request, obj):
            return [*fieldsets, *settings_fieldsets()]
        return [*fieldsets, ("Effective settings", {"fields": ["effective_settings"]})]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        owner = self.get_object(request, object_id)  # another owner's: 404 (OwnerScopedAdminMixin)
        sections = (
            [(section.title, section.render(request, owner)) for section in owner_page_sections()]
            if owner is not None
            else []
        )
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "owner_sections": sections}
        )

    def save_model(self, request: HttpRequest, obj: Owner, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if hasattr(form, "save_settings"):
            form.save_settings()

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
class MembershipAdmin(SuperuserOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "owner", "role"]
    list_filter = ["role"]
    list_select_related = ["user", "owner"]
    autocomplete_fields = ["user", "owner"]
    search_fields = ["user__username", "owner__name"]


# Importing django.contrib.auth.admin (above) registered its User and Group admins; ours replace them.
# When autodiscovery reaches django.contrib.auth later, the module is already imported and registers nothing.
admin.site.unregister(get_user_model())
admin.site.unregister(Group)


@admin.register(get_user_model())
class UserAdmin(SuperuserOnlyAdminMixin, auth_admin.UserAdmin):
    """Accounts: superusers only, so nobody else can grant themselves staff or superuser status, or see
    other tenants' usernames (the user autocomplete asks this admin too). No groups or permission boxes:
    memberships are what give a staff user access."""

    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        (
            "Access",
            {
                "fields": ("is_active", "is_staff", "is_superuser"),
                "description": "A staff user sees the owners of their memberships below, nothing else; "
                "a superuser sees and may change everything.",
            },
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    list_filter = ("is_staff", "is_superuser", "is_active")
    filter_horizontal = ()
    inlines = [UserMembershipInline]
