"""Small builders for test data: an owner, a member of it, an outsider from another owner."""

import itertools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from tenants.models import Membership, Owner

_numbers = itertools.count(1)


def make_owner(name: str | None = None, *, timezone: str = "UTC", **fields) -> Owner:
    number = next(_numbers)
    name = name or f"Owner {number}"
    slug = fields.pop("slug", f"owner-{number}")
    return Owner.objects.create(name=name, slug=slug, timezone=timezone, **fields)


def make_staff_user(
    owner: Owner | None = None, *, role: str = Membership.Role.ADMIN, username: str | None = None
):
    """A staff user with a membership of ``owner`` and nothing else: the role is all their permissions."""
    user = get_user_model().objects.create_user(
        username=username or f"user{next(_numbers)}", password="pw-for-tests-only", is_staff=True
    )
    if owner is not None:
        Membership.objects.create(user=user, owner=owner, role=role)
    return user


def make_staff_user_with_every_permission(
    owner: Owner | None = None, *, role: str = Membership.Role.ADMIN, username: str | None = None
):
    """A staff member who was also handed every stored permission and a group holding them all: for
    tests that such grants give nothing beyond the role."""
    user = make_staff_user(owner, role=role, username=username)
    everything = Permission.objects.all()
    user.user_permissions.set(everything)
    group = Group.objects.create(name=f"everything-{next(_numbers)}")
    group.permissions.set(everything)
    user.groups.add(group)
    return user


def make_superuser(username: str | None = None):
    return get_user_model().objects.create_superuser(
        username=username or f"admin{next(_numbers)}", password="pw-for-tests-only", email=""
    )
