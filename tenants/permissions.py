"""Membership roles are the permissions: what a staff user may do follows from their ``Membership`` rows.

A member with role ``admin`` may view, add, change, delete and run (``run_<model>``: run now, verify,
restore, requeue, cancel …) the owner-scoped models; role ``viewer`` may view them. Which owner's *rows*
those permissions reach is decided row by row in ``tenants.scoping``; this module answers Django's
model-level question ("may this user change schedules at all?") and, given an object, the object-level
one ("this schedule?").

Owner-scoped models declare themselves with ``declare_owner_scoped`` (``OwnerScopedAdminMixin`` does it
for every admin that uses it), so a model nobody scoped grants members nothing: deny by default. Hand-given
user permissions and groups grant nothing either (one source of truth); superusers keep everything, as
Django's ``PermissionsMixin`` answers for them before any backend is asked.
"""

from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Permission
from django.db.models import Model, Q, QuerySet

from tenants.models import Membership

ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Membership.Role.ADMIN: frozenset({"view", "add", "change", "delete", "run"}),
    Membership.Role.VIEWER: frozenset({"view"}),
}


@dataclass(frozen=True)
class OwnerScopedModel:
    """A model whose rows each belong to one owner, and the lookup from it to that owner."""

    model: type[Model]
    owner_lookup: str  # "owner", "schedule__owner"; "" for Owner itself

    def permission(self, action: str) -> str:
        meta = self.model._meta
        return f"{meta.app_label}.{action}_{meta.model_name}"

    def owner_id_of(self, obj: Model) -> int | None:
        """The id of the owner ``obj`` belongs to, following ``owner_lookup``."""
        if not self.owner_lookup:
            return obj.pk
        *path, last = self.owner_lookup.split("__")
        target = obj
        for part in path:
            target = getattr(target, part)
        return getattr(target, f"{last}_id")


_OWNER_SCOPED: dict[str, OwnerScopedModel] = {}


def declare_owner_scoped(model: type[Model], owner_lookup: str) -> None:
    """Make ``model`` one the membership roles grant permissions on, its rows owned via ``owner_lookup``."""
    _OWNER_SCOPED[model._meta.label_lower] = OwnerScopedModel(model, owner_lookup)


def owner_scoped_models() -> list[OwnerScopedModel]:
    return sorted(_OWNER_SCOPED.values(), key=lambda scoped: scoped.model._meta.label_lower)


def owner_scoped(model: type[Model]) -> OwnerScopedModel | None:
    return _OWNER_SCOPED.get(model._meta.label_lower)


def owner_roles(user: AbstractBaseUser) -> dict[int, str]:
    """``{owner_id: role}`` of the user's memberships, read once per user object (that is, per request)."""
    cached = getattr(user, "_owner_roles", None)
    if cached is None:
        cached = dict(Membership.objects.filter(user=user).values_list("owner_id", "role"))
        user._owner_roles = cached
    return cached


def owner_ids_allowing(user: AbstractBaseUser, action: str) -> set[int]:
    """Ids of the owners on whose rows the user's role allows ``action`` ("view", "change", "run"…)."""
    return {owner_id for owner_id, role in owner_roles(user).items() if action in ROLE_ACTIONS.get(role, ())}


def role_permissions(user: AbstractBaseUser, obj: Model | None = None) -> set[str]:
    """The permission strings the user's roles grant: on every owner-scoped model, or on ``obj``.

    Only active staff users hold any: the admin is the only place the permissions mean something.
    """
    if not (user.is_active and user.is_staff) or user.is_anonymous:
        return set()
    if obj is not None:
        scoped = owner_scoped(type(obj))
        if scoped is None:
            return set()
        role = owner_roles(user).get(scoped.owner_id_of(obj))
        return {scoped.permission(action) for action in ROLE_ACTIONS.get(role, ())}
    actions = set().union(*(ROLE_ACTIONS[role] for role in set(owner_roles(user).values())))
    return {scoped.permission(action) for scoped in _OWNER_SCOPED.values() for action in actions}


class MembershipBackend(ModelBackend):
    """Logs in with username and password like ``ModelBackend``; permissions come from memberships only.

    ``user_permissions`` and groups are ignored, so what a member may do is never more than their role
    says, whatever someone ticked on their user page.
    """

    def _get_user_permissions(self, user_obj) -> QuerySet:
        return Permission.objects.none()

    def _get_group_permissions(self, user_obj) -> QuerySet:
        return Permission.objects.none()

    def get_all_permissions(self, user_obj, obj: Model | None = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous:
            return set()
        if obj is not None:
            return role_permissions(user_obj, obj)
        if not hasattr(user_obj, "_perm_cache"):
            # Superusers' stored permissions are all of them (ModelBackend); everyone else's are none.
            stored = self.get_user_permissions(user_obj) | self.get_group_permissions(user_obj)
            user_obj._perm_cache = stored | role_permissions(user_obj)
        return user_obj._perm_cache

    async def aget_all_permissions(self, user_obj, obj: Model | None = None) -> set[str]:
        return await sync_to_async(self.get_all_permissions)(user_obj, obj)

    def with_perm(self, perm, is_active=True, include_superusers=True, obj=None) -> QuerySet:
        """Users holding ``perm`` ("app.action_model") through a role, plus superusers if asked."""
        users = get_user_model()._default_manager
        if isinstance(perm, Permission):
            label, codename = perm.content_type.app_label, perm.codename
        else:
            label, _, codename = str(perm).partition(".")
        action, _, model_name = codename.partition("_")
        scoped = _OWNER_SCOPED.get(f"{label}.{model_name}")
        roles = [role for role, actions in ROLE_ACTIONS.items() if action in actions]
        granted = Q(pk__in=[])
        if scoped is not None and roles:
            memberships = Q(is_staff=True, memberships__role__in=roles)
            if obj is not None:
                memberships &= Q(memberships__owner_id=scoped.owner_id_of(obj))
            granted = memberships
        if include_superusers:
            granted |= Q(is_superuser=True)
        if is_active is not None:
            granted &= Q(is_active=is_active)
        return users.filter(granted).distinct()
