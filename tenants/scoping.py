"""Which owners' rows a user may see, and the two shapes every admin takes: owner-scoped or superuser-only.

``tenants.permissions`` says what a role may do with a model; this module says which rows: a member's
lists, filters, choices and URLs reach only the rows of their own owners, and a viewer changes none.
"""

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest

from tenants.models import Owner
from tenants.permissions import declare_owner_scoped, owner_ids_allowing, owner_scoped


def visible_owner_ids(user: AbstractBaseUser) -> set[int] | None:
    """Owner ids the user may see; ``None`` means all of them (superusers)."""
    return owner_ids_for(user, "view")


def editable_owner_ids(user: AbstractBaseUser) -> set[int] | None:
    """Owner ids whose rows the user may change (admin role); ``None`` means all of them."""
    return owner_ids_for(user, "change")


def owner_ids_for(user: AbstractBaseUser, action: str) -> set[int] | None:
    """Owner ids whose rows the user's roles allow ``action`` on; ``None`` means all of them."""
    if not user.is_active:
        return set()
    if user.is_superuser:
        return None
    return owner_ids_allowing(user, action)


def scope_queryset(queryset: QuerySet, user: AbstractBaseUser, owner_lookup: str) -> QuerySet:
    """Restrict ``queryset`` to rows of the user's owners; ``owner_lookup`` leads from the model to Owner."""
    owner_ids = visible_owner_ids(user)
    if owner_ids is None:
        return queryset
    field = f"{owner_lookup}_id__in" if owner_lookup else "pk__in"
    return queryset.filter(**{field: owner_ids})


class OwnerChoicesMixin:
    """Owner drop-downs offer only the owners the user may edit (admins and inlines alike)."""

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.related_model is Owner:
            editable = editable_owner_ids(request.user)
            if editable is not None:
                kwargs["queryset"] = Owner.objects.filter(pk__in=editable)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class OwnerScopedAdminMixin(OwnerChoicesMixin):
    """Tenant isolation for a ModelAdmin: staff see and change only their own owners' rows.

    Set ``owner_lookup`` to the path from the model to its Owner ("owner", "schedule__owner"), or "" on
    the Owner admin itself. Using the mixin declares the model owner-scoped, so membership roles grant
    permissions on it (``tenants.permissions``). Rows of other owners are absent from lists, filters and
    choices, and opening one by URL answers 404, whether or not it exists. Viewers may look but not
    change; ``has_run_permission`` guards actions such as run now, verify and restore
    (``@admin.action(permissions=["run"])``).
    """

    owner_lookup = "owner"

    def __init__(self, model: type[Model], admin_site) -> None:
        super().__init__(model, admin_site)
        declare_owner_scoped(model, self.owner_lookup)
        for inline in self.inlines:
            if issubclass(inline, OwnerScopedInlineMixin):
                declare_owner_scoped(inline.model, inline.owner_lookup)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scope_queryset(super().get_queryset(request), request.user, self.owner_lookup)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Model | None:
        obj = super().get_object(request, object_id, from_field)
        if obj is None and not request.user.is_superuser:
            raise Http404("No such row among your owners.")
        return obj

    def owner_id_of(self, obj: Model) -> int | None:
        return owner_scoped(self.model).owner_id_of(obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._may(request, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may(request, "delete", obj)

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return super().has_add_permission(request, *args) and self._may(request, "add", None)

    def has_run_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        """May the user run this model's actions (run now, verify, restore, requeue…) on ``obj``?"""
        meta = self.model._meta
        permitted = request.user.has_perm(f"{meta.app_label}.run_{meta.model_name}")
        return permitted and self._may(request, "run", obj)

    def response_action(self, request: HttpRequest, queryset: QuerySet):
        """Run an admin action on the selected rows whose owner's role allows what the action declares.

        Django checks an action's permissions once, not per row: a member who administers one owner and
        only views another would otherwise act on both owners' rows at once.
        """
        action = self.get_actions(request).get(request.POST.get("action", ""))
        for permission in getattr(action[0], "allowed_permissions", ()) if action else ():
            owner_ids = owner_ids_for(request.user, permission)
            if owner_ids is not None:
                field = f"{self.owner_lookup}_id__in" if self.owner_lookup else "pk__in"
                queryset = queryset.filter(**{field: owner_ids})
        return super().response_action(request, queryset)

    def _may(self, request: HttpRequest, action: str, obj: Model | None) -> bool:
        """Does the user's role allow ``action`` on ``obj``'s owner (without ``obj``: on any owner)?"""
        owner_ids = owner_ids_for(request.user, action)
        if owner_ids is None:
            return True
        if obj is None:
            return bool(owner_ids)
        return self.owner_id_of(obj) in owner_ids


class OwnerScopedInlineMixin:
    """An inline whose rows belong to the parent's owner: editable where the parent's owner is.

    ``owner_lookup`` leads from the inline's model to Owner; the parent admin (an
    ``OwnerScopedAdminMixin``) declares the inline's model owner-scoped with it.
    """

    owner_lookup = "owner"

    def _may(self, request: HttpRequest, action: str, parent: Model | None) -> bool:
        owner_ids = owner_ids_for(request.user, action)
        if owner_ids is None:
            return True
        if parent is None:
            return bool(owner_ids)
        return owner_scoped(type(parent)).owner_id_of(parent) in owner_ids

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_add_permission(request, obj) and self._may(request, "add", obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._may(request, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may(request, "delete", obj)


class SuperuserOnlyAdminMixin:
    """For an admin that acts across owners or on accounts: superusers only, whatever others hold.

    Hidden from everyone else's index and app list; its pages answer 403, whether or not the row asked
    for exists. Works on inlines too.
    """

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Model | None:
        if not _is_superuser(request.user):
            raise PermissionDenied  # before the lookup: "no such row" would tell which rows exist
        return super().get_object(request, object_id, from_field)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_superuser(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return _is_superuser(request.user) and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_superuser(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _is_superuser(request.user) and super().has_delete_permission(request, obj)


def _is_superuser(user: AbstractBaseUser) -> bool:
    return user.is_active and user.is_superuser
