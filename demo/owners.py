"""Demo owners, settings and users for `manage.py seed_demo`; safe to run any number of times."""

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from backups.owner_settings import SCHEDULE_FREQUENCY, SCHEDULE_TIME, SCHEDULE_WEEKDAY
from tenants import owner_settings
from tenants.models import Membership, Owner

DEMO_OWNERS = (
    # name, slug, timezone, contact, own settings
    ("Acme Retail", "acme", "Europe/London", "ops@acme.example", {SCHEDULE_TIME.key: "02:00"}),
    (
        "Globex Wholesale",
        "globex",
        "America/New_York",
        "it@globex.example",
        {SCHEDULE_FREQUENCY.key: "weekly", SCHEDULE_WEEKDAY.key: "saturday"},
    ),
    ("Initech Labs", "initech", "Australia/Lord_Howe", "admin@initech.example", {}),
)


@dataclass(frozen=True)
class SeededAdmin:
    username: str
    password: str | None  # None when the user already existed: its password is left alone


@transaction.atomic
def seed_owners() -> list[Owner]:
    owners = []
    for name, slug, timezone, contact, values in DEMO_OWNERS:
        owner, _ = Owner.objects.get_or_create(
            slug=slug, defaults={"name": name, "timezone": timezone, "contact_email": contact}
        )
        for key, value in values.items():
            if not owner.settings.filter(key=key).exists():
                owner_settings.set_value(owner.pk, key, value)
        owners.append(owner)
    return owners


@transaction.atomic
def seed_users(owners: list[Owner], *, admin_password: str = "") -> SeededAdmin:
    """A superuser ``admin`` and, per demo owner, a staff user ``<slug>-ops`` who sees only that owner."""
    user_model = get_user_model()
    admin = user_model.objects.filter(username="admin").first()
    password = None
    if admin is None:
        password = admin_password or secrets.token_urlsafe(12)
        user_model.objects.create_superuser("admin", "admin@localhost", password)
    for owner in owners:
        staff, created = user_model.objects.get_or_create(
            username=f"{owner.slug}-ops", defaults={"is_staff": True}
        )
        if created:
            staff.set_unusable_password()
            staff.save(update_fields=["password"])
        Membership.objects.get_or_create(user=staff, owner=owner, defaults={"role": Membership.Role.ADMIN})
    return SeededAdmin("admin", password)
