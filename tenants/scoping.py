"""Which owners a user may see, and the admin mixin that applies it to any owner-scoped model."""

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest

from tenants.models import Membership, Owner


def visible_owner_ids(user: AbstractBaseUser) -> set[int] | None:
    """Owner ids the user may see; ``None`` means all of them (superusers)."""
    if not user.is_active:
        return set()
    if user.is_superuser:
        return None
    return _memberships(user)["visible"]


def editable_owner_ids(user: AbstractBaseUser) -> set[int] | None:
    """Owner ids whose rows the user may change (admin role); ``None`` means all of them."""
    if not user.is_active:
        return set()
    if user.is_superuser:
        return None
    return _memberships(user)["editable"]


def _memberships(user: AbstractBaseUser) -> dict[str, set[int]]:
    # Read once per request: the user object lives as long as the request, and lists ask per row.
    cached = getattr(user, "_owner_memberships", None)
    if cached is None:
        cached = {"visible": set(), "editable": set()}
        for owner_id, role in Membership.objects.filter(user=user).values_list("owner_id", "role"):
            cached["visible"].add(owner_id)
            if role == Membership.Role.ADMIN:
                cached["editable"].add(owner_id)
        user._owner_memberships = cached
    return cached


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
    the Owner admin itself. Rows of other owners are absent from lists, filters and choices, and opening
    one by URL answers 404, whether or not it exists. Viewers may look but not change.
    """

    owner_lookup = "owner"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scope_queryset(super().get_queryset(request), request.user, self.owner_lookup)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Model | None:
        obj = super().get_object(request, object_id, from_field)
        if obj is None and not request.user.is_superuser:
            raise Http404("No such row among your owners.")
        return obj

    def owner_id_of(self, obj: Model) -> int | None:
        if not self.owner_lookup:
            return obj.pk
        target = obj
        for part in self.owner_lookup.split("__")[:-1]:
            target = getattr(target, part)
        return getattr(target, f"{self.owner_lookup.split('__')[-1]}_id")

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_edit(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_edit(request, obj)

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        editable = editable_owner_ids(request.user)
        return super().has_add_permission(request, *args) and (editable is None or bool(editable))

    def _may_edit(self, request: HttpRequest, obj: Model | None) -> bool:
        editable = editable_owner_ids(request.user)
        if editable is None:
            return True
        if obj is None:
            return bool(editable)
        return self.owner_id_of(obj) in editable
